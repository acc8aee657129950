package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// apiOrCert is a name pattern for a Filter of one's own.
var apiOrCert = regexp.MustCompile(`^(api|cert)-`)

func TestFetchCredentialsClientSecret(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	v1 := s.SetSecret("vault-one", "db-password", "p@ss-1", akvcredstest.ContentType("text/plain"),
		akvcredstest.Tags(map[string]string{"env": "prod"}), akvcredstest.Expires(exp))
	s.SetSecret("vault-one", "api-key", "k-1")
	s.SetSecret("vault-two", "db-password", "p@ss-2")
	s.SetSecret("vault-two", "api-key", "k-2")

	c := newClient(t, s, secretAuth(),
		akvcreds.WithVaults("vault-one", "https://vault-two.vault.azure.net/"),
		akvcreds.WithSecrets("db-password", "api-key"))
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		t.Fatalf("FetchCredentials: %v", err)
	}
	want := []string{"vault-one/db-password", "vault-one/api-key", "vault-two/db-password", "vault-two/api-key"}
	if got := names(creds); !slices.Equal(got, want) {
		t.Fatalf("names = %v, want %v (vaults as given, then secrets as given)", got, want)
	}
	wantPw := []string{"p@ss-1", "k-1", "p@ss-2", "k-2"}
	for i, cr := range creds {
		if cr.Password.Reveal() != wantPw[i] {
			t.Errorf("%s: wrong password", cr.Name)
		}
		if cr.Username != cr.Secret || cr.Vault+"/"+cr.Secret != cr.Name {
			t.Errorf("%s: username %q secret %q vault %q", cr.Name, cr.Username, cr.Secret, cr.Vault)
		}
		if len(cr.Version) != 32 || !cr.Enabled || cr.Created.IsZero() || cr.Updated.IsZero() || cr.Stale || cr.Managed {
			t.Errorf("%s: metadata missing: %+v", cr.Name, cr)
		}
	}
	first := creds[0]
	if first.Version != v1 || first.ContentType != "text/plain" || first.Tags["env"] != "prod" || !first.Expires.Equal(exp) {
		t.Errorf("metadata of %s = version %s, content type %q, tags %v, expires %v", first.Name, first.Version, first.ContentType, first.Tags, first.Expires)
	}
	if first.ID != "https://vault-one.vault.azure.net/secrets/db-password/"+v1 {
		t.Errorf("ID = %q", first.ID)
	}
}

// One Key Vault client per vault for the Client's life: however many
// fetches run, each vault is challenged once and the app gets one token.
func TestOneChallengeAndTokenPerVault(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	vaults := []string{"alpha", "bravo", "charlie"}
	var secrets []string
	for _, v := range vaults {
		secrets = hardSecrets(s, v, 20)
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults(vaults...), akvcreds.WithSecrets(secrets...))
	for range 3 {
		creds, err := c.FetchCredentials(context.Background())
		hardAccounted(t, creds, err, hardWant(vaults, secrets))
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.FetchCredential(context.Background(), "bravo/s00"); err != nil {
		t.Fatal(err)
	}
	for _, v := range vaults {
		host := v + ".vault.azure.net"
		if n := countKind(s, akvcredstest.KindChallenge, host); n != 1 {
			t.Errorf("%s: %d challenges, want 1", host, n)
		}
		want := 60
		if v == "bravo" {
			want++
		}
		if n := countKind(s, akvcredstest.KindGetSecret, host); n != want {
			t.Errorf("%s: %d gets, want %d", host, n, want)
		}
	}
	// One credential, one tenant: the token is shared by the vaults.
	if n := s.Count(akvcredstest.KindToken); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// A token is renewed when its life ends, yet the challenge is never
// repeated: whether the client sees that the token has expired (its
// lifetime of a second passes), or Key Vault, whose clock runs ahead,
// rejects it first (401) and the client gets a new one.
func TestTokenRefreshedAfterLifetime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		wait     func(*testutil.Clock)
		rejected int // 401s from Key Vault
	}{
		{"client sees expiry", func(*testutil.Clock) { time.Sleep(1100 * time.Millisecond) }, 0},
		{"Key Vault sees expiry", func(c *testutil.Clock) { c.Advance(2 * time.Second) }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := testutil.NewClock(time.Now()) // Key Vault's clock: it stands still unless advanced
			s := newServer(t, akvcredstest.WithTokenLifetime(time.Second), akvcredstest.WithClock(clock.Now))
			s.SetSecret("refresh", "a", "1")
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults("refresh"), akvcreds.WithSecrets("a"))
			for i := range 3 {
				if i > 0 {
					tt.wait(clock)
				}
				if _, err := c.FetchCredentials(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if n := countKind(s, akvcredstest.KindChallenge, ""); n != 1 {
				t.Errorf("%d challenges, want 1", n)
			}
			if n := s.Count(akvcredstest.KindToken); n != 3 {
				t.Errorf("%d token requests, want 3 (one per token lifetime)", n)
			}
			rejected := 0
			for _, r := range s.Requests() {
				if r.Kind == akvcredstest.KindGetSecret && r.Status == http.StatusUnauthorized {
					rejected++
				}
			}
			if rejected != tt.rejected {
				t.Errorf("Key Vault rejected %d tokens, want %d", rejected, tt.rejected)
			}
		})
	}
}

func TestDuplicatesCollapse(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("dupvault", "one", "1")
	s.SetSecret("dupvault", "two", "2")
	c := newClient(t, s, secretAuth(),
		akvcreds.WithVaults("dupvault", "DupVault", "https://dupvault.vault.azure.net"),
		akvcreds.WithSecrets("one", "two", "one", "ONE"))
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := names(creds); !slices.Equal(got, []string{"dupvault/one", "dupvault/two"}) {
		t.Fatalf("names = %v", got)
	}
	if n := s.Count(akvcredstest.KindGetSecret); n != 2 {
		t.Errorf("%d gets, want 2", n)
	}
}

func TestListingFetchesEnabledValidSecretsByName(t *testing.T) {
	t.Parallel()
	s := newServer(t, akvcredstest.WithPageSize(3))
	s.SetSecret("listing", "zeta", "z")
	s.SetSecret("listing", "alpha", "a")
	s.SetSecret("listing", "Mid", "m")
	s.SetSecret("listing", "off", "x", akvcredstest.Disabled())
	s.SetSecret("listing", "old", "x", akvcredstest.Expires(time.Now().Add(-time.Hour)))
	s.SetSecret("listing", "later", "x", akvcredstest.NotBefore(time.Now().Add(time.Hour)))
	for i := range 5 {
		s.SetSecret("listing", "bulk"+string(rune('a'+i)), "b")
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("listing"))
	var sum akvcreds.Batch
	creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"listing/alpha", "listing/bulka", "listing/bulkb", "listing/bulkc", "listing/bulkd", "listing/bulke", "listing/Mid", "listing/zeta"}
	if got := names(creds); !slices.Equal(got, want) {
		t.Fatalf("names = %v, want %v", got, want)
	}
	if n := s.Count(akvcredstest.KindListSecrets); n != 4 || sum.ListPages != 4 {
		t.Errorf("%d list pages (summary %d), want 4 (11 secrets, 3 a page)", n, sum.ListPages)
	}
	if sum.Reads != 8 || sum.Listed != 11 || sum.SkippedDisabled != 1 || sum.SkippedExpired != 1 || sum.SkippedNotYetValid != 1 {
		t.Errorf("summary %+v", sum)
	}
	for _, r := range s.Requests() {
		if r.Kind == akvcredstest.KindGetSecret && (r.Secret == "off" || r.Secret == "old" || r.Secret == "later") {
			t.Errorf("read %s, which listing should have skipped", r.Secret)
		}
	}
}

func TestFetchCredential(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	v1 := s.SetSecret("single", "pw", "first")
	s.SetSecret("single", "pw", "second")
	c := newClient(t, s, secretAuth())
	for _, tt := range []struct{ name, want, version string }{
		{"single/pw", "second", ""},
		{"single/pw/" + v1, "first", v1},
		{"https://single.vault.azure.net/secrets/pw", "second", ""},
		{"https://single.vault.azure.net/secrets/pw/" + v1, "first", v1},
	} {
		cred, err := c.FetchCredential(context.Background(), tt.name)
		if err != nil || cred.Password.Reveal() != tt.want || cred.Name != "single/pw" || (tt.version != "" && cred.Version != tt.version) {
			t.Errorf("%s: %s version %s, %v", tt.name, cred.Name, cred.Version, err)
		}
	}
	_, err := c.FetchCredential(context.Background(), "single/missing")
	var fe *akvcreds.FetchError
	if !errors.As(err, &fe) || fe.Vault != "single" || fe.Secret != "missing" || fe.Kind != akvcreds.ErrNotFound || !errors.Is(err, akvcreds.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	_, err = c.FetchCredential(context.Background(), "single")
	if !errors.Is(err, akvcreds.ErrInvalidArgument) || !strings.Contains(err.Error(), "FetchCredential") {
		t.Fatalf("bad identifier: %v", err)
	}
}

// FetchNames replaces the Client's vaults and secrets for one call: a
// vault name lists it, "vault/secret[/version]" or a secret ID reads one
// secret; vaults come in the order of their first name, secrets as given,
// and duplicates collapse.
func TestFetchNames(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	old := s.SetSecret("names-a", "x", "x-old")
	s.SetSecret("names-a", "x", "x-new")
	s.SetSecret("names-a", "y", "y-a")
	s.SetSecret("names-a", "z", "z-a")
	s.SetSecret("names-b", "x", "x-b")
	s.SetSecret("names-b", "y", "y-b")
	// The Client's own vaults and secrets are replaced, not added to.
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("names-b"), akvcreds.WithSecrets("y"))
	tests := []struct {
		name      string
		names     []string
		want      []string // names, then passwords
		passwords []string
		lists     int // list requests
	}{
		{"vault and secrets", []string{"names-b", "names-a/y", "names-a/x"},
			[]string{"names-b/x", "names-b/y", "names-a/y", "names-a/x"}, []string{"x-b", "y-b", "y-a", "x-new"}, 1},
		{"vaults by first name", []string{"names-a/z", "names-b/x", "names-a/y"},
			[]string{"names-a/z", "names-a/y", "names-b/x"}, []string{"z-a", "y-a", "x-b"}, 0},
		{"version", []string{"names-a/x/" + old}, []string{"names-a/x"}, []string{"x-old"}, 0},
		{"secret IDs", []string{"https://names-a.vault.azure.net/secrets/z", "https://names-a.vault.azure.net/secrets/x/" + old},
			[]string{"names-a/z", "names-a/x"}, []string{"z-a", "x-old"}, 0},
		{"vault URL", []string{"https://names-b.vault.azure.net/"}, []string{"names-b/x", "names-b/y"}, []string{"x-b", "y-b"}, 1},
		{"duplicates collapse", []string{"names-b", "NAMES-B", "names-a/y", "names-a/Y", "Names-A/y"},
			[]string{"names-b/x", "names-b/y", "names-a/y"}, []string{"x-b", "y-b", "y-a"}, 1},
		{"latest and a version are two reads", []string{"names-a/x", "names-a/x/" + old},
			[]string{"names-a/x", "names-a/x"}, []string{"x-new", "x-old"}, 0},
	}
	for _, tt := range tests {
		s.ResetRequests()
		creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchNames(tt.names...))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		got := names(creds)
		var pw []string
		for _, cr := range creds {
			pw = append(pw, cr.Password.Reveal())
		}
		if !slices.Equal(got, tt.want) || !slices.Equal(pw, tt.passwords) {
			t.Errorf("%s: got %v (values %d wrong), want %v", tt.name, got, len(pw), tt.want)
		}
		if n := s.Count(akvcredstest.KindListSecrets); n != tt.lists {
			t.Errorf("%s: %d list requests, want %d", tt.name, n, tt.lists)
		}
		if n := s.Count(akvcredstest.KindGetSecret); n != len(tt.want) {
			t.Errorf("%s: %d gets for %d credentials", tt.name, n, len(tt.want))
		}
	}
}

// WithCache serves repeat fetches, FetchCredential's too, without a
// request; Invalidate drops what the cache holds: one secret (every
// version), or everything; a malformed name drops nothing. Without a cache
// it does nothing.
func TestCacheAndInvalidate(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	v1 := s.SetSecret("inv", "a", "a1")
	s.SetSecret("inv", "b", "b1")
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("inv"), akvcreds.WithSecrets("a", "b"), akvcreds.WithCache(time.Hour))
	pinned := akvcreds.FetchNames("inv/a/" + v1)
	// fetch fetches a and b, then a's first version, then b alone, and
	// reports the values, the gets sent so far and how many of the three
	// calls' credentials came from the cache.
	fetch := func() (values string, gets, fromCache int) {
		t.Helper()
		var all []akvcreds.Credential
		for _, opts := range [][]akvcreds.FetchOption{nil, {pinned}} {
			var sum akvcreds.Batch
			creds, err := c.FetchCredentials(context.Background(), append(opts, akvcreds.FetchSummary(&sum))...)
			if err != nil {
				t.Fatal(err)
			}
			if sum.FromCache+sum.Reads != len(creds) {
				t.Errorf("%d credentials: %d from the cache, %d read", len(creds), sum.FromCache, sum.Reads)
			}
			all, fromCache = append(all, creds...), fromCache+sum.FromCache
		}
		before := s.Count(akvcredstest.KindGetSecret)
		cred, err := c.FetchCredential(context.Background(), "inv/b")
		if err != nil {
			t.Fatal(err)
		}
		if s.Count(akvcredstest.KindGetSecret) == before {
			fromCache++ // FetchCredential shares the cache
		}
		for _, cr := range append(all, cred) {
			values += cr.Password.Reveal() + " "
		}
		return strings.TrimSpace(values), s.Count(akvcredstest.KindGetSecret), fromCache
	}
	check := func(step, wantValues string, wantGets, wantCached int) {
		t.Helper()
		if v, n, fc := fetch(); v != wantValues || n != wantGets || fc != wantCached {
			t.Errorf("%s: values %q, %d gets, %d from the cache; want %q, %d, %d", step, v, n, fc, wantValues, wantGets, wantCached)
		}
	}
	check("first", "a1 b1 a1 b1", 3, 1)
	s.SetSecret("inv", "a", "a2")
	s.SetSecret("inv", "b", "b2")
	check("cached", "a1 b1 a1 b1", 3, 4)

	err := c.Invalidate("inv/a", "inv/bad_name")
	if !errors.Is(err, akvcreds.ErrInvalidArgument) || !strings.Contains(err.Error(), "akvcreds: Invalidate: ") || !strings.Contains(err.Error(), "bad_name") {
		t.Errorf("malformed name: %v", err)
	}
	check("nothing dropped", "a1 b1 a1 b1", 3, 4)

	if err := c.Invalidate("inv/A"); err != nil { // names are case-insensitive
		t.Fatal(err)
	}
	check("a dropped, every version", "a2 b1 a1 b1", 5, 2)

	if err := c.Invalidate("https://inv.vault.azure.net/secrets/b"); err != nil {
		t.Fatal(err)
	}
	check("b dropped by its ID", "a2 b2 a1 b2", 6, 3)

	s.SetSecret("inv", "a", "a3")
	s.SetSecret("inv", "b", "b3")
	if err := c.Invalidate(); err != nil {
		t.Fatal(err)
	}
	check("all dropped", "a3 b3 a1 b3", 9, 1)

	// Without WithCache there is nothing to drop; malformed names are
	// still reported.
	plain := newClient(t, s, secretAuth())
	if err := plain.Invalidate(); err != nil {
		t.Errorf("Invalidate(): %v", err)
	}
	if err := plain.Invalidate("inv/a"); err != nil {
		t.Errorf("Invalidate(inv/a): %v", err)
	}
	if err := plain.Invalidate("inv"); !errors.Is(err, akvcreds.ErrInvalidArgument) {
		t.Errorf("Invalidate(inv): %v", err)
	}
}

// Concurrent identical reads share one request: ten callers arrive while
// the first read is held in flight.
func TestConcurrentIdenticalFetchesShareOneRequest(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("shared", "a", "1")
	release := make(chan struct{})
	var hold atomic.Bool
	hc := hardHTTPClient(s, func(r *http.Request) {
		if hold.Load() && strings.HasPrefix(r.URL.Path, "/secrets/a") {
			<-release
		}
	}, nil)
	c := hardClient(t, hc, secretAuth())
	if _, err := c.FetchCredential(context.Background(), "shared/a"); err != nil { // authenticate first
		t.Fatal(err)
	}
	s.ResetRequests()
	hold.Store(true)
	var started, done sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		started.Add(1)
		done.Go(func() {
			started.Done()
			_, err := c.FetchCredential(context.Background(), "shared/a")
			errs <- err
		})
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let the callers reach the shared read
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Count(akvcredstest.KindGetSecret); n > 5 {
		t.Errorf("%d gets for 10 concurrent identical fetches", n)
	}
}

// With WithCache, a credential whose TTL has passed is served, marked Stale
// and logged as a warning, for up to another TTL while Key Vault cannot be
// reached, but never when Key Vault answers that the secret is gone.
func TestStaleOnError(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("stale", "a", "good")
	s.SetSecret("stale", "b", "good-b")
	clock := testutil.NewClock(time.Now())
	var logs testutil.SyncBuffer
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("stale"), akvcreds.WithSecrets("a", "b"),
		akvcreds.WithCache(time.Hour), akvcreds.WithClock(clock.Now), akvcreds.WithMaxRetries(0),
		akvcreds.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Inject(akvcredstest.Fault{Host: "stale.vault.azure.net", Path: "/secrets/a", Status: 503, Count: 100})
	s.DeleteSecret("stale", "b")    // Azure says it is gone: never served stale
	clock.Advance(90 * time.Minute) // the TTL has passed, less than another TTL ago
	var sum akvcreds.Batch
	creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum))
	if len(creds) != 1 || !creds[0].Stale || creds[0].Password.Reveal() != "good" {
		t.Fatalf("want the stale a, got %v", names(creds))
	}
	if fes := akvcreds.FetchErrors(err); len(fes) != 1 || fes[0].Secret != "b" || fes[0].Kind != akvcreds.ErrNotFound || sum.Stale != 1 || sum.Fetched != 1 {
		t.Fatalf("err %v, summary %+v", err, countsOf(sum))
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "serving a stale credential") || !strings.Contains(l, "secret=a") {
		t.Errorf("no warning about the stale credential in the log:\n%s", l)
	}
	// Two TTLs after it was read, the value is too old to serve.
	clock.Advance(time.Hour)
	creds, err = c.FetchCredentials(context.Background(), akvcreds.FetchNames("stale/a"))
	if fes := akvcreds.FetchErrors(err); len(creds) != 0 || len(fes) != 1 || fes[0].Kind != akvcreds.ErrUnavailable {
		t.Fatalf("past two TTLs: %v, %v; want a's failure", names(creds), err)
	}
}

// The per-secret log record counts every request sent with a token,
// transient retries included.
func TestAttemptsCountRetries(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, c := primedClient(t, "attempts", akvcreds.WithLogger(logger))
	s.Inject(akvcredstest.Fault{Host: "attempts.vault.azure.net", Path: "/secrets/a", Status: 503, Count: 2})
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, `"msg":"akvcreds: secret fetched"`) {
			got = append(got, l)
		}
	}
	if len(got) != 2 || !strings.Contains(got[0], `"attempts":1`) || !strings.Contains(got[1], `"attempts":3`) {
		t.Errorf("fetch records:\n%s", strings.Join(got, "\n"))
	}
}

// A named secret's credential carries the spelling asked for (names are
// case-insensitive in Key Vault); a listed one, Key Vault's.
func TestNamedSecretSpelling(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("spelling", "Db-Password", "v")
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("spelling"))
	for _, tc := range []struct {
		opt  []akvcreds.FetchOption
		want string
	}{
		{[]akvcreds.FetchOption{akvcreds.FetchNames("spelling/DB-PASSWORD")}, "spelling/DB-PASSWORD"},
		{nil, "spelling/Db-Password"},
	} {
		creds, err := c.FetchCredentials(context.Background(), tc.opt...)
		if err != nil || len(creds) != 1 {
			t.Fatalf("%d credentials, err %v", len(creds), err)
		}
		if cr := creds[0]; cr.Name != tc.want || cr.Username != cr.Secret || cr.Vault+"/"+cr.Secret != cr.Name {
			t.Errorf("credential %q secret %q username %q, want name %q", cr.Name, cr.Secret, cr.Username, tc.want)
		}
	}
}

// getsOf lists the secrets read (GET), sorted.
func getsOf(s *akvcredstest.Server) []string {
	var out []string
	for _, r := range s.Requests() {
		if r.Kind == akvcredstest.KindGetSecret {
			out = append(out, r.Secret)
		}
	}
	slices.Sort(out)
	return out
}

func seedFilterVault(s *akvcredstest.Server) {
	s.SetSecret("filters", "db-prod", "1", akvcredstest.Tags(map[string]string{"env": "prod", "owner": "data"}), akvcredstest.ContentType("text/plain"))
	s.SetSecret("filters", "db-dev", "2", akvcredstest.Tags(map[string]string{"env": "dev"}))
	s.SetSecret("filters", "api-prod", "3", akvcredstest.Tags(map[string]string{"env": "prod"}), akvcredstest.ContentType("application/json; charset=utf-8"))
	s.SetSecret("filters", "cert-prod", pfxValue(testutil.NewCert(testutil.CertSpec{Key: testutil.ECDSAKey(0), NotAfter: time.Now().Add(365 * 24 * time.Hour)})), akvcredstest.Tags(map[string]string{"env": "prod"}), akvcredstest.ContentType("application/x-pkcs12"))
}

// Filters run on the listing's metadata: a filtered-out secret is never
// read.
func TestFiltersInListingMode(t *testing.T) {
	t.Parallel()
	noOwner := akvcreds.Filter{Keep: func(s akvcreds.SecretInfo) bool { return s.Tags["owner"] == "" }}
	tests := []struct {
		name    string
		filters []akvcreds.Filter
		want    []string
	}{
		{"prefix", []akvcreds.Filter{akvcreds.NameGlob("db-*")}, []string{"db-dev", "db-prod"}},
		{"two prefixes", []akvcreds.Filter{akvcreds.NameGlob("DB-*", "api*")}, []string{"api-prod", "db-dev", "db-prod"}},
		{"glob", []akvcreds.Filter{akvcreds.NameGlob("*-PROD")}, []string{"api-prod", "cert-prod", "db-prod"}},
		{"two globs", []akvcreds.Filter{akvcreds.NameGlob("*-DEV", "c?rt-*")}, []string{"cert-prod", "db-dev"}},
		{"exact names", []akvcreds.Filter{akvcreds.NameGlob("API-PROD", "db-dev", "no-such")}, []string{"api-prod", "db-dev"}},
		{"regexp of one's own", []akvcreds.Filter{{Keep: func(s akvcreds.SecretInfo) bool { return apiOrCert.MatchString(s.Secret) }}}, []string{"api-prod", "cert-prod"}},
		{"tag value", []akvcreds.Filter{akvcreds.Tag("env", "dev")}, []string{"db-dev"}},
		{"tag values", []akvcreds.Filter{akvcreds.Tag("env", "dev", "test")}, []string{"db-dev"}},
		{"tag present", []akvcreds.Filter{akvcreds.Tag("owner")}, []string{"db-prod"}},
		{"content type", []akvcreds.Filter{akvcreds.ContentTypeIs("application/json", "TEXT/plain")}, []string{"api-prod", "db-prod"}},
		{"no content type", []akvcreds.Filter{akvcreds.ContentTypeIs("")}, []string{"db-dev"}},
		{"all must match", []akvcreds.Filter{akvcreds.Tag("env", "prod"), akvcreds.NameGlob("db*", "cert*")}, []string{"cert-prod", "db-prod"}},
		{"a filter of one's own", []akvcreds.Filter{noOwner}, []string{"api-prod", "cert-prod", "db-dev"}},
		{"not", []akvcreds.Filter{akvcreds.Not(akvcreds.Tag("env", "prod"))}, []string{"db-dev"}},
		{"all", []akvcreds.Filter{akvcreds.Tag("env", "prod"), akvcreds.NameGlob("*-prod"), noOwner}, []string{"api-prod", "cert-prod"}},
		{"none keeps every secret", nil, []string{"api-prod", "cert-prod", "db-dev", "db-prod"}},
		{"any", []akvcreds.Filter{akvcreds.Any(akvcreds.Tag("owner"), akvcreds.ContentTypeIs("application/x-pkcs12"))}, []string{"cert-prod", "db-prod"}},
		{"any of none keeps no secret", []akvcreds.Filter{akvcreds.Any()}, nil},
		{"not all (De Morgan)", []akvcreds.Filter{akvcreds.Any(akvcreds.Not(akvcreds.Tag("env", "prod")), akvcreds.Not(akvcreds.NameGlob("db*")))}, []string{"api-prod", "cert-prod", "db-dev"}},
		{"all inside any (De Morgan)", []akvcreds.Filter{akvcreds.Any(akvcreds.Tag("owner"), akvcreds.Not(akvcreds.Any(akvcreds.Not(akvcreds.Tag("env", "prod")), akvcreds.Not(akvcreds.NameGlob("api*")))))}, []string{"api-prod", "db-prod"}},
		{"not any", []akvcreds.Filter{akvcreds.Not(akvcreds.Any(akvcreds.NameGlob("api*"), akvcreds.Tag("env", "dev")))}, []string{"cert-prod", "db-prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			seedFilterVault(s)
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults("filters"), akvcreds.WithFilters(tt.filters...))
			var sum akvcreds.Batch
			creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum))
			if err != nil {
				t.Fatal(err)
			}
			if got := names(creds); !slices.Equal(got, hardWant([]string{"filters"}, tt.want)) {
				t.Errorf("credentials %v, want %v", got, tt.want)
			}
			if g := getsOf(s); !slices.Equal(g, tt.want) {
				t.Errorf("read %v: filtered-out secrets must not be read", g)
			}
			if sum.Listed != 4 || sum.Fetched != len(tt.want) || sum.FilteredOut != 4-len(tt.want) || sum.Reads != len(tt.want) {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

// A filter sees what the listing tells about each secret, and, for a named
// secret, what its read told.
func TestFilterSeesSecretInfo(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	version := s.SetSecret("info", "one", "1", akvcredstest.ContentType("text/plain"), akvcredstest.Tags(map[string]string{"k": "v"}),
		akvcredstest.Expires(exp), akvcredstest.Managed())
	var mu sync.Mutex
	var seen []akvcreds.SecretInfo
	record := akvcreds.Filter{Keep: func(si akvcreds.SecretInfo) bool {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, si)
		return true
	}}
	c := newClient(t, s, secretAuth(), akvcreds.WithFilters(record))
	for _, names := range [][]string{{"info"}, {"info/one"}} {
		if _, err := c.FetchCredentials(context.Background(), akvcreds.FetchNames(names...)); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("the filter ran %d times, want 2 (listed, then named)", len(seen))
	}
	for i, si := range seen {
		wantVersion := []string{"", version}[i] // a listing shows no version
		if si.Vault != "info" || si.Secret != "one" || si.Version != wantVersion || si.ContentType != "text/plain" || si.Tags["k"] != "v" ||
			!si.Enabled || !si.Expires.Equal(exp) || !si.NotBefore.IsZero() || si.Created.IsZero() || si.Updated.IsZero() || !si.Managed {
			t.Errorf("SecretInfo %d: %+v", i, si)
		}
	}
}

// Behaviour change (issue 13): a named secret (WithSecrets, FetchNames,
// FetchCredential) is read first and filtered on the metadata read with it,
// name filters included; before, name filters skipped the read. Listed
// secrets are still filtered before any read.
func TestFiltersOnNamedSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter akvcreds.Filter
		want   []string
		left   string // a secret the filter leaves out
	}{
		{"name", akvcreds.NameGlob("db-*"), []string{"db-prod", "db-dev"}, "api-prod"},
		{"tag", akvcreds.Tag("env", "prod"), []string{"db-prod", "api-prod"}, "db-dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			seedFilterVault(s)
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults("filters"), akvcreds.WithSecrets("db-prod", "db-dev", "api-prod"),
				akvcreds.WithFilters(tt.filter))
			var sum akvcreds.Batch
			creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum))
			if err != nil || !slices.Equal(names(creds), hardWant([]string{"filters"}, tt.want)) {
				t.Fatalf("%v %v", names(creds), err)
			}
			if g := getsOf(s); !slices.Equal(g, []string{"api-prod", "db-dev", "db-prod"}) {
				t.Errorf("read %v, want every named secret read", g)
			}
			if sum.FilteredOut != 1 || sum.Fetched != 2 || sum.Reads != 3 {
				t.Errorf("summary %+v", sum)
			}
			// FetchCredential of a secret the filters leave out: not found,
			// with a remedy.
			_, err = c.FetchCredential(context.Background(), "filters/"+tt.left)
			var fe *akvcreds.FetchError
			if !errors.As(err, &fe) || fe.Kind != akvcreds.ErrNotFound || !strings.Contains(err.Error(), "left out by the filters") {
				t.Fatalf("filtered FetchCredential: %v", err)
			}
			checkFetchError(t, fe, "filters", akvcreds.ErrNotFound)
		})
	}
}

// Malformed filters, however deeply nested, are all reported by New at
// once, each naming WithFilters and what is wrong.
func TestBadFiltersInNew(t *testing.T) {
	t.Parallel()
	bad := []struct {
		f    akvcreds.Filter
		want string
	}{
		{akvcreds.NameGlob("[a-"), `NameGlob: pattern "[a-" is malformed`},
		{akvcreds.NameGlob("ok*", "[a-"), `NameGlob: pattern "[a-" is malformed`},
		{akvcreds.NameGlob(), "NameGlob: no pattern given"},
		{akvcreds.NameGlob("db*", ""), "NameGlob: an empty pattern"},
		{akvcreds.Tag("", "x"), "Tag: the tag key is empty"},
		{akvcreds.Tag(""), "Tag: the tag key is empty"},
		{akvcreds.ContentTypeIs(), "ContentTypeIs: no content type given"},
		{akvcreds.Filter{}, "a Filter has no Keep function"},
		{akvcreds.Not(akvcreds.NameGlob("[")), `NameGlob: pattern "["`},
		{akvcreds.Not(akvcreds.Filter{}), "a Filter has no Keep function"},
		{akvcreds.Any(akvcreds.NameGlob("ok*"), akvcreds.NameGlob("[b-")), `NameGlob: pattern "[b-" is malformed`},
		{akvcreds.Any(akvcreds.Tag("k"), akvcreds.ContentTypeIs()), "ContentTypeIs: no content type given"},
		{akvcreds.Not(akvcreds.Any(akvcreds.Not(akvcreds.Tag("")))), "Tag: the tag key is empty"},
	}
	for _, b := range bad {
		_, err := akvcreds.New(akvcreds.WithSystemAssignedIdentity(), akvcreds.WithFilters(b.f))
		checkInvalid(t, err, "WithFilters", b.want)
	}
	// All at once: one problem each, every one reported.
	var fs []akvcreds.Filter
	for _, b := range bad {
		fs = append(fs, b.f)
	}
	_, err := akvcreds.New(akvcreds.WithSystemAssignedIdentity(), akvcreds.WithFilters(fs[:7]...), akvcreds.WithFilters(fs[7:]...))
	checkInvalid(t, err, "WithFilters")
	for _, b := range bad {
		if !strings.Contains(err.Error(), b.want) {
			t.Errorf("not reported: %q", b.want)
		}
	}
	if n := strings.Count(err.Error(), "akvcreds: WithFilters: "); n != len(bad) {
		t.Errorf("%d problems reported, want %d:\n%v", n, len(bad), err)
	}
	// Good filters are accepted, combined or not.
	if _, err := akvcreds.New(akvcreds.WithSystemAssignedIdentity(), akvcreds.WithFilters(akvcreds.Not(akvcreds.Any()), akvcreds.Any(akvcreds.Tag("k")),
		akvcreds.Filter{Keep: func(akvcreds.SecretInfo) bool { return true }}, akvcreds.Tag("k"))); err != nil {
		t.Errorf("good filters: %v", err)
	}
}

// usernameFromTag is the old WithUsernameTag("username"): the tag, else
// the secret's name.
func usernameFromTag(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
	if u := info.Tags["username"]; u != "" {
		return u, value.Reveal(), nil
	}
	return info.Secret, value.Reveal(), nil
}

// TestMapping covers the default mapping of JSON values and WithMapper.
func TestMapping(t *testing.T) {
	t.Parallel()
	const jsonCT = "application/json"
	ct := func(ct string) []akvcredstest.SecretOption {
		return []akvcredstest.SecretOption{akvcredstest.ContentType(ct)}
	}
	whole := akvcreds.WithMapper(func(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
		return info.Secret, value.Reveal(), nil // the old JSONNever
	})
	tests := []struct {
		name         string
		opts         []akvcreds.Option
		value        string
		sopts        []akvcredstest.SecretOption
		wantUser     string
		wantPassword string
		wantErr      error
		wantMsg      []string
	}{
		{name: "default: the secret name", value: "pw", wantUser: "svc-login", wantPassword: "pw"},
		{name: "username from a tag", opts: []akvcreds.Option{akvcreds.WithMapper(usernameFromTag)}, value: "pw",
			sopts: []akvcredstest.SecretOption{akvcredstest.Tags(map[string]string{"username": "alice"})}, wantUser: "alice", wantPassword: "pw"},
		{name: "tag absent: the name", opts: []akvcreds.Option{akvcreds.WithMapper(usernameFromTag)}, value: "pw", wantUser: "svc-login", wantPassword: "pw"},
		{name: "JSON by content type", value: `{"username":"bob","password":"p@ss"}`, sopts: ct(jsonCT), wantUser: "bob", wantPassword: "p@ss"},
		{name: "JSON, +json content type", value: `{"username":"bob","password":"p@ss"}`, sopts: ct("application/vnd.contoso.login+json"), wantUser: "bob", wantPassword: "p@ss"},
		{name: "JSON, content type with charset", value: `{"password":"p@ss"}`, sopts: ct("Application/JSON; charset=utf-8"), wantUser: "svc-login", wantPassword: "p@ss"},
		{name: "JSON, empty username keeps the name", value: `{"username":"","password":"p@ss"}`, sopts: ct(jsonCT), wantUser: "svc-login", wantPassword: "p@ss"},
		{name: "JSON that is no credential stays whole", value: `{"type":"service_account"}`, sopts: ct(jsonCT), wantUser: "svc-login", wantPassword: `{"type":"service_account"}`},
		{name: "JSON with a password that is no string stays whole", value: `{"password":42}`, sopts: ct(jsonCT), wantUser: "svc-login", wantPassword: `{"password":42}`},
		{name: "JSON that is no object stays whole", value: `["bob","p@ss"]`, sopts: ct(jsonCT), wantUser: "svc-login", wantPassword: `["bob","p@ss"]`},
		{name: "JSON string stays whole", value: `"p@ss"`, sopts: ct(jsonCT), wantUser: "svc-login", wantPassword: `"p@ss"`},
		{name: "JSON content type but not JSON", value: `user=bob;pw=hunter2-not-json`, sopts: ct(jsonCT),
			wantErr: akvcreds.ErrMalformed, wantMsg: []string{`content type is "application/json"`, "syntax error at byte 1"}},
		{name: "JSON content type, JSON cut short", value: `{"password":"hunter2-cut`, sopts: ct(jsonCT),
			wantErr: akvcreds.ErrMalformed, wantMsg: []string{"not valid JSON", "at byte 24"}},
		{name: "JSON without content type is a value", value: `{"username":"bob","password":"p@ss"}`,
			wantUser: "svc-login", wantPassword: `{"username":"bob","password":"p@ss"}`},
		{name: "JSON with another content type is a value", value: `{"username":"bob","password":"p@ss"}`, sopts: ct("text/plain"),
			wantUser: "svc-login", wantPassword: `{"username":"bob","password":"p@ss"}`},
		{name: "a mapper replaces the JSON mapping", opts: []akvcreds.Option{whole}, value: `{"username":"bob","password":"p@ss"}`, sopts: ct(jsonCT),
			wantUser: "svc-login", wantPassword: `{"username":"bob","password":"p@ss"}`},
		{name: "mapper", opts: []akvcreds.Option{akvcreds.WithMapper(func(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
			u, p, _ := strings.Cut(value.Reveal(), ":")
			return info.Tags["realm"] + `\` + u, p, nil
		})}, value: "carol:pw", sopts: []akvcredstest.SecretOption{akvcredstest.Tags(map[string]string{"realm": "CORP"})}, wantUser: `CORP\carol`, wantPassword: "pw"},
		{name: "mapper error", opts: []akvcreds.Option{akvcreds.WithMapper(func(akvcreds.SecretInfo, akvcreds.Password) (string, string, error) {
			return "", "", errors.New("no colon in the value")
		})}, value: "hunter2-not-json", wantErr: akvcreds.ErrMalformed, wantMsg: []string{"no colon in the value"}},
		{name: "mapper returning ErrExpired", opts: []akvcreds.Option{akvcreds.WithMapper(func(akvcreds.SecretInfo, akvcreds.Password) (string, string, error) {
			return "", "", akvcreds.ErrExpired
		})}, value: "hunter2-expired", wantErr: akvcreds.ErrExpired},
		{name: "mapper wrapping a sentinel", opts: []akvcreds.Option{akvcreds.WithMapper(func(akvcreds.SecretInfo, akvcreds.Password) (string, string, error) {
			return "", "", fmt.Errorf("not for this program: %w", akvcreds.ErrForbidden)
		})}, value: "hunter2-forbidden", wantErr: akvcreds.ErrForbidden, wantMsg: []string{"not for this program"}},
		{name: "mapper returning a context error", opts: []akvcreds.Option{akvcreds.WithMapper(func(akvcreds.SecretInfo, akvcreds.Password) (string, string, error) {
			return "", "", context.Canceled
		})}, value: "hunter2-ctx", wantErr: akvcreds.ErrMalformed},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			vault := fmt.Sprintf("mapping%02d", i)
			s.SetSecret(vault, "svc-login", tt.value, tt.sopts...)
			opts := append([]akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithSecrets("svc-login")}, tt.opts...)
			c := newClient(t, s, opts...)
			creds, err := c.FetchCredentials(context.Background())
			if tt.wantErr != nil {
				fes := akvcreds.FetchErrors(err)
				if len(fes) != 1 || len(creds) != 0 {
					t.Fatalf("want %v, got %v (%d credentials)", tt.wantErr, err, len(creds))
				}
				checkFetchError(t, fes[0], vault, tt.wantErr)
				for _, w := range tt.wantMsg {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("the error lacks %q: %v", w, err)
					}
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the value: %v", err)
				}
				return
			}
			if err != nil || len(creds) != 1 {
				t.Fatalf("%v %v", names(creds), err)
			}
			if creds[0].Username != tt.wantUser || creds[0].Password.Reveal() != tt.wantPassword || creds[0].Name != vault+"/svc-login" {
				t.Errorf("got %s user %q password %q", creds[0].Name, creds[0].Username, creds[0].Password.Reveal())
			}
		})
	}
}

// Key Vault returns an expired (or not yet valid) secret that is asked for
// by name, and so does akvcreds by default (Expires tells); a mapper
// refusing it makes it an ErrExpired failure. Listing skips such secrets.
func TestExpiredSecrets(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	s.SetSecret("expiry", "old", "o", akvcredstest.Expires(past))
	s.SetSecret("expiry", "future", "f", akvcredstest.NotBefore(time.Now().Add(time.Hour)))
	s.SetSecret("expiry", "fine", "x")
	named := []akvcreds.Option{secretAuth(), akvcreds.WithVaults("expiry"), akvcreds.WithSecrets("old", "future", "fine")}

	c := newClient(t, s, named...)
	creds, err := c.FetchCredentials(context.Background())
	if err != nil || len(creds) != 3 || !creds[0].Expires.Equal(past) || creds[0].Password.Reveal() != "o" {
		t.Fatalf("default: %v %v", names(creds), err)
	}

	// The old ExpiredReject, as a mapper.
	strict := newClient(t, s, append(named, akvcreds.WithMapper(func(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
		now := time.Now()
		switch {
		case !info.Expires.IsZero() && !now.Before(info.Expires):
			return "", "", fmt.Errorf("expired at %s: %w", info.Expires.Format(time.RFC3339), akvcreds.ErrExpired)
		case now.Before(info.NotBefore):
			return "", "", fmt.Errorf("not valid before %s: %w", info.NotBefore.Format(time.RFC3339), akvcreds.ErrExpired)
		}
		return info.Secret, value.Reveal(), nil
	}))...)
	creds, err = strict.FetchCredentials(context.Background())
	fes := akvcreds.FetchErrors(err)
	if !slices.Equal(names(creds), []string{"expiry/fine"}) || len(fes) != 2 || !errors.Is(err, akvcreds.ErrExpired) {
		t.Fatalf("refused: %v %v", names(creds), err)
	}
	for _, fe := range fes {
		checkFetchError(t, fe, "expiry", akvcreds.ErrExpired)
	}
	if !strings.Contains(err.Error(), "expired at") || !strings.Contains(err.Error(), "not valid before") {
		t.Errorf("message: %v", err)
	}

	var sum akvcreds.Batch
	creds, err = c.FetchCredentials(context.Background(), akvcreds.FetchNames("expiry"), akvcreds.FetchSummary(&sum))
	if err != nil || !slices.Equal(names(creds), []string{"expiry/fine"}) || sum.SkippedExpired != 1 || sum.SkippedNotYetValid != 1 {
		t.Fatalf("listing: %v %v %+v", names(creds), err, sum)
	}
}

func TestSummaryCountsEverything(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("summary", "a", "1")
	s.SetSecret("summary", "b", "2")
	s.SetSecret("summary", "off", "3", akvcredstest.Disabled())
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("summary"), akvcreds.WithCache(time.Hour))
	var sum akvcreds.Batch
	start := time.Now()
	creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum))
	if err != nil {
		t.Fatal(err)
	}
	want := counts{Vaults: 1, Listed: 3, Fetched: 2, SkippedDisabled: 1, ListPages: 1, Reads: 2}
	if sum.Duration <= 0 {
		t.Errorf("first: duration %v", sum.Duration)
	}
	if got := countsOf(sum); got != want {
		t.Errorf("first: %+v, want %+v", got, want)
	}
	// The Batch a Watch's cycle 0 would deliver: the credentials returned
	// are Added and Current, no error.
	if sum.Cycle != 0 || sum.Time.Before(start.Add(-time.Second)) || !slices.Equal(names(sum.Added), names(creds)) ||
		!slices.Equal(names(sum.Current), names(creds)) || len(sum.Changed)+len(sum.Removed)+len(sum.Errors) != 0 || sum.Next != 0 {
		t.Errorf("first: batch %+v for %v", sum, names(creds))
	}
	_, err = c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum), akvcreds.FetchNames("summary/a", "summary/b", "summary/nope"))
	want = counts{Vaults: 1, Fetched: 2, FromCache: 2, Failed: 1, Reads: 1}
	if got := countsOf(sum); got != want || !errors.Is(err, akvcreds.ErrNotFound) {
		t.Errorf("second: %+v, want %+v; %v", got, want, err)
	}
	if fes := akvcreds.FetchErrors(err); len(sum.Errors) != 1 || len(fes) != 1 || sum.Errors[0] != fes[0] || len(sum.Added) != 2 {
		t.Errorf("second: batch errors %v, added %v; want the call's error and 2 credentials", sum.Errors, names(sum.Added))
	}
}

// A vault of 5,000 secrets over 200 pages: every secret fetched once, in
// name order, following nextLink on the vault's own host.
func TestListLargeVault(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("5,000 secrets: skipped with -short")
	}
	s := newServer(t)
	const n = 5000
	secrets := make([]string, n)
	for i := range n {
		secrets[i] = fmt.Sprintf("secret-%05d", i)
		s.SetSecret("big", secrets[i], hardSecretValue("big", secrets[i]))
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("big"))
	creds, err := c.FetchCredentials(context.Background())
	want := hardWant([]string{"big"}, secrets)
	hardAccounted(t, creds, err, want)
	if err != nil || !slices.Equal(names(creds), want) {
		t.Fatalf("got %d credentials, not the %d expected in order: %v", len(creds), n, err)
	}
	if got := s.Count(akvcredstest.KindListSecrets); got != n/25 {
		t.Errorf("%d list pages, want %d", got, n/25)
	}
	if got := s.Count(akvcredstest.KindGetSecret); got != n {
		t.Errorf("%d gets, want %d", got, n)
	}
}
