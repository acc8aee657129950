package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

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
	s.SetSecret("filters", "cert-prod", "4", akvcredstest.Tags(map[string]string{"env": "prod"}), akvcredstest.ContentType("application/x-pkcs12"))
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
		{"prefix", []akvcreds.Filter{akvcreds.NamePrefix("db-")}, []string{"db-dev", "db-prod"}},
		{"two prefixes", []akvcreds.Filter{akvcreds.NamePrefix("DB-", "api")}, []string{"api-prod", "db-dev", "db-prod"}},
		{"glob", []akvcreds.Filter{akvcreds.NameGlob("*-PROD")}, []string{"api-prod", "cert-prod", "db-prod"}},
		{"regexp", []akvcreds.Filter{akvcreds.NameRegexp(`^(api|cert)-`)}, []string{"api-prod", "cert-prod"}},
		{"tag value", []akvcreds.Filter{akvcreds.Tag("env", "dev")}, []string{"db-dev"}},
		{"tag values", []akvcreds.Filter{akvcreds.Tag("env", "dev", "test")}, []string{"db-dev"}},
		{"tag present", []akvcreds.Filter{akvcreds.Tag("owner")}, []string{"db-prod"}},
		{"content type", []akvcreds.Filter{akvcreds.ContentTypeIs("application/json", "TEXT/plain")}, []string{"api-prod", "db-prod"}},
		{"no content type", []akvcreds.Filter{akvcreds.ContentTypeIs("")}, []string{"db-dev"}},
		{"all must match", []akvcreds.Filter{akvcreds.Tag("env", "prod"), akvcreds.NamePrefix("db", "cert")}, []string{"cert-prod", "db-prod"}},
		{"a filter of one's own", []akvcreds.Filter{noOwner}, []string{"api-prod", "cert-prod", "db-dev"}},
		{"not", []akvcreds.Filter{akvcreds.Not(akvcreds.Tag("env", "prod"))}, []string{"db-dev"}},
		{"all", []akvcreds.Filter{akvcreds.All(akvcreds.Tag("env", "prod"), akvcreds.NameGlob("*-prod"), noOwner)}, []string{"api-prod", "cert-prod"}},
		{"all of none keeps every secret", []akvcreds.Filter{akvcreds.All()}, []string{"api-prod", "cert-prod", "db-dev", "db-prod"}},
		{"any", []akvcreds.Filter{akvcreds.Any(akvcreds.Tag("owner"), akvcreds.ContentTypeIs("application/x-pkcs12"))}, []string{"cert-prod", "db-prod"}},
		{"any of none keeps no secret", []akvcreds.Filter{akvcreds.Any()}, nil},
		{"not all", []akvcreds.Filter{akvcreds.Not(akvcreds.All(akvcreds.Tag("env", "prod"), akvcreds.NamePrefix("db")))}, []string{"api-prod", "cert-prod", "db-dev"}},
		{"not any", []akvcreds.Filter{akvcreds.Not(akvcreds.Any(akvcreds.NamePrefix("api"), akvcreds.Tag("env", "dev")))}, []string{"cert-prod", "db-prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			seedFilterVault(s)
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults("filters"), akvcreds.WithFilters(tt.filters...))
			var sum akvcreds.Summary
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
		{"name", akvcreds.NamePrefix("db-"), []string{"db-prod", "db-dev"}, "api-prod"},
		{"tag", akvcreds.Tag("env", "prod"), []string{"db-prod", "api-prod"}, "db-dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			seedFilterVault(s)
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults("filters"), akvcreds.WithSecrets("db-prod", "db-dev", "api-prod"),
				akvcreds.WithFilters(tt.filter))
			var sum akvcreds.Summary
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
		{akvcreds.NameRegexp("a(b"), "NameRegexp: error parsing regexp"},
		{akvcreds.NameGlob("[a-"), `NameGlob: pattern "[a-" is malformed`},
		{akvcreds.NamePrefix(), "NamePrefix: no prefix given"},
		{akvcreds.NamePrefix("db", ""), "NamePrefix: an empty prefix"},
		{akvcreds.Tag("", "x"), "Tag: the tag key is empty"},
		{akvcreds.Tag(""), "Tag: the tag key is empty"},
		{akvcreds.ContentTypeIs(), "ContentTypeIs: no content type given"},
		{akvcreds.Filter{}, "a Filter has no Keep function"},
		{akvcreds.Not(akvcreds.NameGlob("[")), `NameGlob: pattern "["`},
		{akvcreds.Not(akvcreds.Filter{}), "a Filter has no Keep function"},
		{akvcreds.All(akvcreds.NamePrefix("ok"), akvcreds.NameRegexp("*")), "NameRegexp: error parsing regexp: missing argument"},
		{akvcreds.Any(akvcreds.Tag("k"), akvcreds.ContentTypeIs()), "ContentTypeIs: no content type given"},
		{akvcreds.Not(akvcreds.All(akvcreds.Any(akvcreds.Tag("")))), "Tag: the tag key is empty"},
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
	if _, err := akvcreds.New(akvcreds.WithSystemAssignedIdentity(), akvcreds.WithFilters(akvcreds.Not(akvcreds.Any()), akvcreds.All(),
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

	var sum akvcreds.Summary
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
	var sum akvcreds.Summary
	if _, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum)); err != nil {
		t.Fatal(err)
	}
	want := akvcreds.Summary{Vaults: 1, Listed: 3, Fetched: 2, SkippedDisabled: 1, ListPages: 1, Reads: 2}
	if sum.Duration <= 0 {
		t.Errorf("first: duration %v", sum.Duration)
	}
	if sum.Duration = 0; sum != want {
		t.Errorf("first: %+v, want %+v", sum, want)
	}
	_, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum), akvcreds.FetchNames("summary/a", "summary/b", "summary/nope"))
	want = akvcreds.Summary{Vaults: 1, Fetched: 2, FromCache: 2, Failed: 1, Reads: 1}
	if sum.Duration = 0; sum != want || !errors.Is(err, akvcreds.ErrNotFound) {
		t.Errorf("second: %+v, want %+v; %v", sum, want, err)
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
