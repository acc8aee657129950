package akvcreds_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

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
		if len(cr.Version) != 32 || !cr.Enabled || cr.Created.IsZero() || cr.Updated.IsZero() {
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

// One SDK client per vault for the Client's life: however many fetches run,
// each vault is challenged once and the app gets one token.
func TestOneChallengeAndTokenPerVault(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	var secrets []string
	for _, v := range []string{"alpha", "bravo", "charlie"} {
		for i := range 20 {
			name := "s" + string(rune('a'+i))
			s.SetSecret(v, name, "value")
			if v == "alpha" {
				secrets = append(secrets, name)
			}
		}
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("alpha", "bravo", "charlie"), akvcreds.WithSecrets(secrets...))
	for range 3 {
		creds, err := c.FetchCredentials(context.Background())
		if err != nil || len(creds) != 60 {
			t.Fatalf("got %d credentials, err %v", len(creds), err)
		}
	}
	if _, err := c.FetchCredential(context.Background(), "bravo/sa"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"alpha", "bravo", "charlie"} {
		host := v + ".vault.azure.net"
		if n := countKind(s, akvcredstest.KindChallenge, host); n != 1 {
			t.Errorf("%s: %d challenges, want 1", host, n)
		}
		if n := countKind(s, akvcredstest.KindGetSecret, host); n != 61 && v == "bravo" || n != 60 && v != "bravo" {
			t.Errorf("%s: %d gets", host, n)
		}
	}
	// One credential, one tenant: the token is shared by the vaults.
	if n := s.Count(akvcredstest.KindToken); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestTokenRefreshedAfterLifetime(t *testing.T) {
	t.Parallel()
	s := newServer(t, akvcredstest.WithTokenLifetime(time.Second))
	s.SetSecret("refresh", "a", "1")
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("refresh"), akvcreds.WithSecrets("a"))
	for i := range 3 {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond) // let the token expire
		}
		if _, err := c.FetchCredentials(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// An expired token is renewed, yet the challenge is never repeated.
	if n := countKind(s, akvcredstest.KindChallenge, ""); n != 1 {
		t.Errorf("%d challenges, want 1", n)
	}
	if n := s.Count(akvcredstest.KindToken); n != 3 {
		t.Errorf("%d token requests, want 3 (one per token lifetime)", n)
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
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"listing/alpha", "listing/bulka", "listing/bulkb", "listing/bulkc", "listing/bulkd", "listing/bulke", "listing/Mid", "listing/zeta"}
	if got := names(creds); !slices.Equal(got, want) {
		t.Fatalf("names = %v, want %v", got, want)
	}
	if n := s.Count(akvcredstest.KindListSecrets); n != 4 {
		t.Errorf("%d list pages, want 4 (11 secrets, 3 a page)", n)
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
	cred, err := c.FetchCredential(context.Background(), "single/pw")
	if err != nil || cred.Password.Reveal() != "second" || cred.Name != "single/pw" {
		t.Fatalf("latest: %v %v", cred.Name, err)
	}
	cred, err = c.FetchCredential(context.Background(), "single/pw/"+v1)
	if err != nil || cred.Password.Reveal() != "first" || cred.Version != v1 {
		t.Fatalf("pinned: %v %v", cred.Version, err)
	}
	_, err = c.FetchCredential(context.Background(), "single/missing")
	var fe *akvcreds.FetchError
	if !errors.As(err, &fe) || fe.Vault != "single" || fe.Secret != "missing" || !errors.Is(err, akvcreds.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	_, err = c.FetchCredential(context.Background(), "single")
	if !errors.Is(err, akvcreds.ErrInvalidArgument) || !strings.Contains(err.Error(), "FetchCredential") {
		t.Fatalf("bad identifier: %v", err)
	}
}

func TestCacheServesRepeatFetches(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("cached", "a", "1")
	s.SetSecret("cached", "b", "2")
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("cached"), akvcreds.WithSecrets("a", "b"), akvcreds.WithCache(time.Hour))
	for range 5 {
		creds, err := c.FetchCredentials(context.Background())
		if err != nil || len(creds) != 2 || creds[1].Password.Reveal() != "2" {
			t.Fatalf("%d %v", len(creds), err)
		}
	}
	if n := s.Count(akvcredstest.KindGetSecret); n != 2 {
		t.Errorf("%d gets, want 2 (cached)", n)
	}
	if _, err := c.FetchCredentials(context.Background(), akvcreds.FetchSkipCache()); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(akvcredstest.KindGetSecret); n != 4 {
		t.Errorf("%d gets after FetchSkipCache, want 4", n)
	}
	s.SetSecret("cached", "a", "new")
	if err := c.InvalidateCredential("cached/a"); err != nil {
		t.Fatal(err)
	}
	cred, err := c.FetchCredential(context.Background(), "cached/a")
	if err != nil || cred.Password.Reveal() != "new" {
		t.Fatalf("after invalidate: %v", err)
	}
}

func TestConcurrentIdenticalFetchesShareOneRequest(t *testing.T) {
	t.Parallel()
	s := newServer(t, akvcredstest.WithLatency(50*time.Millisecond, 50*time.Millisecond))
	s.SetSecret("shared", "a", "1")
	c := newClient(t, s, secretAuth())
	if _, err := c.FetchCredential(context.Background(), "shared/a"); err != nil { // authenticate first
		t.Fatal(err)
	}
	s.ResetRequests()
	done := make(chan error)
	for range 10 {
		go func() {
			_, err := c.FetchCredential(context.Background(), "shared/a")
			done <- err
		}()
	}
	for range 10 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// Ten callers within one 50 ms request: far fewer than ten requests.
	if n := s.Count(akvcredstest.KindGetSecret); n > 5 {
		t.Errorf("%d gets for 10 concurrent identical fetches", n)
	}
}

func TestStaleOnError(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("stale", "a", "good")
	s.SetSecret("stale", "b", "good-b")
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("stale"), akvcreds.WithSecrets("a", "b"),
		akvcreds.WithCache(20*time.Millisecond), akvcreds.WithStaleOnError(time.Hour), akvcreds.WithMaxRetries(0))
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // past the TTL
	s.Inject(akvcredstest.Fault{Host: "stale.vault.azure.net", Path: "/secrets/a", Status: 503, Count: 100})
	s.DeleteSecret("stale", "b") // Azure says it is gone: never served stale
	var sum akvcreds.Summary
	creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum))
	if len(creds) != 1 || !creds[0].Stale || creds[0].Password.Reveal() != "good" {
		t.Fatalf("want the stale a, got %v", names(creds))
	}
	if !errors.Is(err, akvcreds.ErrNotFound) || len(akvcreds.FetchErrors(err)) != 1 || sum.Stale != 1 {
		t.Fatalf("err %v, summary %+v", err, sum)
	}
	if _, err := akvcreds.New(secretAuth(), akvcreds.WithStaleOnError(time.Hour)); !errors.Is(err, akvcreds.ErrInvalidArgument) {
		t.Errorf("WithStaleOnError without WithCache: %v", err)
	}
}

// The per-secret log record counts every request sent with a token,
// transient retries included.
func TestAttemptsCountRetries(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("attempts", "a", "1")
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("attempts"), akvcreds.WithSecrets("a"), akvcreds.WithLogger(logger))
	if _, err := c.FetchCredentials(context.Background()); err != nil { // authenticate
		t.Fatal(err)
	}
	s.Inject(akvcredstest.Fault{Host: "attempts.vault.azure.net", Path: "/secrets/a", Status: 503, Count: 2})
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var got []string
	for _, l := range lines {
		if strings.Contains(l, `"msg":"akvcreds: secret fetched"`) {
			got = append(got, l)
		}
	}
	if len(got) != 2 || !strings.Contains(got[0], `"attempts":1`) || !strings.Contains(got[1], `"attempts":3`) {
		t.Errorf("fetch records:\n%s", strings.Join(got, "\n"))
	}
}
