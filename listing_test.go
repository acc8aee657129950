package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// getsOf lists the secrets read (GET) from the vault host.
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

// Filters run on the list's metadata: a filtered-out secret is never read.
func TestFiltersInListingMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		filters []akvcreds.Filter
		want    []string
	}{
		{"prefix", []akvcreds.Filter{akvcreds.NamePrefix("db-")}, []string{"db-dev", "db-prod"}},
		{"two prefixes", []akvcreds.Filter{akvcreds.NamePrefix("DB-", "api")}, []string{"api-prod", "db-dev", "db-prod"}},
		{"glob", []akvcreds.Filter{akvcreds.NameGlob("*-prod")}, []string{"api-prod", "cert-prod", "db-prod"}},
		{"regexp", []akvcreds.Filter{akvcreds.NameRegexp(`^(api|cert)-`)}, []string{"api-prod", "cert-prod"}},
		{"tag value", []akvcreds.Filter{akvcreds.TagEquals("env", "dev")}, []string{"db-dev"}},
		{"tag present", []akvcreds.Filter{akvcreds.TagPresent("owner")}, []string{"db-prod"}},
		{"content type", []akvcreds.Filter{akvcreds.ContentTypeIs("application/json", "text/plain")}, []string{"api-prod", "db-prod"}},
		{"no content type", []akvcreds.Filter{akvcreds.ContentTypeIs("")}, []string{"db-dev"}},
		{"all must match", []akvcreds.Filter{akvcreds.TagEquals("env", "prod"), akvcreds.NamePrefix("db", "cert")}, []string{"cert-prod", "db-prod"}},
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
			var got []string
			for _, cr := range creds {
				got = append(got, cr.Secret)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("credentials %v, want %v", got, tt.want)
			}
			if g := getsOf(s); !slices.Equal(g, tt.want) {
				t.Errorf("read %v: filtered-out secrets must not be read", g)
			}
			if sum.Listed != 4 || sum.Fetched != len(tt.want) || sum.FilteredOut != 4-len(tt.want) {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

func TestFiltersPerCallAndOnNamedSecrets(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	seedFilterVault(s)
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("filters"), akvcreds.WithSecrets("db-prod", "db-dev", "api-prod"))
	// A name filter runs before the read.
	creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchFilters(akvcreds.NamePrefix("db-")))
	if err != nil || !slices.Equal(names(creds), []string{"filters/db-prod", "filters/db-dev"}) {
		t.Fatalf("%v %v", names(creds), err)
	}
	if g := getsOf(s); !slices.Equal(g, []string{"db-dev", "db-prod"}) {
		t.Errorf("read %v", g)
	}
	// A tag filter on named secrets needs the metadata, which comes with the value.
	var sum akvcreds.Summary
	creds, err = c.FetchCredentials(context.Background(), akvcreds.FetchFilters(akvcreds.TagEquals("env", "prod")), akvcreds.FetchSummary(&sum))
	if err != nil || !slices.Equal(names(creds), []string{"filters/db-prod", "filters/api-prod"}) {
		t.Fatalf("%v %v", names(creds), err)
	}
	if sum.FilteredOut != 1 || sum.Fetched != 2 {
		t.Errorf("summary %+v", sum)
	}
	// Bad filters are bad input, reported before any request.
	s.ResetRequests()
	_, err = c.FetchCredentials(context.Background(), akvcreds.FetchFilters(akvcreds.NameRegexp("(")))
	if !errors.Is(err, akvcreds.ErrInvalidArgument) || !strings.Contains(err.Error(), "FetchFilters") || len(s.Requests()) != 0 {
		t.Errorf("bad regexp: %v", err)
	}
}

func TestBadFiltersInNew(t *testing.T) {
	t.Parallel()
	for _, f := range []akvcreds.Filter{akvcreds.NameRegexp("a(b"), akvcreds.NameGlob("[a-"), akvcreds.NamePrefix(),
		akvcreds.NamePrefix(""), akvcreds.TagEquals("", "x"), akvcreds.TagPresent(""), akvcreds.ContentTypeIs(), {}} {
		_, err := akvcreds.New(akvcreds.WithSystemAssignedIdentity(), akvcreds.WithFilters(f))
		if !errors.Is(err, akvcreds.ErrInvalidArgument) || !strings.Contains(err.Error(), "WithFilters") {
			t.Errorf("%v: %v", f, err)
		}
	}
}

func TestUsernameMapping(t *testing.T) {
	t.Parallel()
	const jsonCT = "application/json"
	tests := []struct {
		name         string
		opts         []akvcreds.Option
		value        string
		sopts        []akvcredstest.SecretOption
		wantUser     string
		wantPassword string
		wantErr      error
	}{
		{name: "default: the secret name", value: "pw", wantUser: "svc-login", wantPassword: "pw"},
		{name: "from a tag", opts: []akvcreds.Option{akvcreds.WithUsernameTag("username")}, value: "pw",
			sopts: []akvcredstest.SecretOption{akvcredstest.Tags(map[string]string{"username": "alice"})}, wantUser: "alice", wantPassword: "pw"},
		{name: "tag absent: the name", opts: []akvcreds.Option{akvcreds.WithUsernameTag("username")}, value: "pw", wantUser: "svc-login", wantPassword: "pw"},
		{name: "JSON by content type", value: `{"username":"bob","password":"p@ss"}`,
			sopts: []akvcredstest.SecretOption{akvcredstest.ContentType(jsonCT)}, wantUser: "bob", wantPassword: "p@ss"},
		{name: "JSON without username keeps the name", value: `{"password":"p@ss"}`,
			sopts: []akvcredstest.SecretOption{akvcredstest.ContentType(jsonCT + "; charset=utf-8")}, wantUser: "svc-login", wantPassword: "p@ss"},
		{name: "JSON that is no credential stays whole", value: `{"type":"service_account"}`,
			sopts: []akvcredstest.SecretOption{akvcredstest.ContentType(jsonCT)}, wantUser: "svc-login", wantPassword: `{"type":"service_account"}`},
		{name: "JSON content type but not JSON", value: `user=bob;pw=hunter2-not-json`,
			sopts: []akvcredstest.SecretOption{akvcredstest.ContentType(jsonCT)}, wantErr: akvcreds.ErrMalformed},
		{name: "JSON without content type is a value", value: `{"username":"bob","password":"p@ss"}`,
			wantUser: "svc-login", wantPassword: `{"username":"bob","password":"p@ss"}`},
		{name: "JSONAlways", opts: []akvcreds.Option{akvcreds.WithJSONValues(akvcreds.JSONAlways)}, value: `{"username":"bob","password":"p@ss"}`,
			wantUser: "bob", wantPassword: "p@ss"},
		{name: "JSONAlways, no password field", opts: []akvcreds.Option{akvcreds.WithJSONValues(akvcreds.JSONAlways)}, value: `{"user":"bob","pw":"hunter2-not-json"}`,
			wantErr: akvcreds.ErrMalformed},
		{name: "JSONNever", opts: []akvcreds.Option{akvcreds.WithJSONValues(akvcreds.JSONNever)}, value: `{"username":"bob","password":"p@ss"}`,
			sopts: []akvcredstest.SecretOption{akvcredstest.ContentType(jsonCT)}, wantUser: "svc-login", wantPassword: `{"username":"bob","password":"p@ss"}`},
		{name: "JSON username beats the tag", opts: []akvcreds.Option{akvcreds.WithUsernameTag("username")}, value: `{"username":"bob","password":"p@ss"}`,
			sopts: []akvcredstest.SecretOption{akvcredstest.ContentType(jsonCT), akvcredstest.Tags(map[string]string{"username": "alice"})}, wantUser: "bob", wantPassword: "p@ss"},
		{name: "mapper", opts: []akvcreds.Option{akvcreds.WithMapper(func(in akvcreds.MapInput) (string, string, error) {
			u, p, _ := strings.Cut(in.Value.Reveal(), ":")
			return in.Tags["realm"] + `\` + u, p, nil
		})}, value: "carol:pw", sopts: []akvcredstest.SecretOption{akvcredstest.Tags(map[string]string{"realm": "CORP"})}, wantUser: `CORP\carol`, wantPassword: "pw"},
		{name: "mapper error", opts: []akvcreds.Option{akvcreds.WithMapper(func(in akvcreds.MapInput) (string, string, error) {
			return "", "", errors.New("no colon")
		})}, value: "hunter2-not-json", wantErr: akvcreds.ErrMalformed},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			vault := fmt.Sprintf("mapping%d", i)
			s.SetSecret(vault, "svc-login", tt.value, tt.sopts...)
			opts := append([]akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithSecrets("svc-login")}, tt.opts...)
			c := newClient(t, s, opts...)
			creds, err := c.FetchCredentials(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || len(creds) != 0 {
					t.Fatalf("want %v, got %v (%d credentials)", tt.wantErr, err, len(creds))
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

func TestNaming(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("naming", "db", "1")
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("naming"), akvcreds.WithSecrets("db"),
		akvcreds.WithNaming(func(vault, secret string) string { return strings.ToUpper(vault + "_" + secret) }))
	creds, err := c.FetchCredentials(context.Background())
	if err != nil || creds[0].Name != "NAMING_DB" || creds[0].Username != "db" {
		t.Fatalf("%v %v", names(creds), err)
	}
}

// Key Vault returns an expired secret; the documented default returns it
// too (Credential.Expired tells), ExpiredReject reports it. Listing skips it.
func TestExpiredPolicy(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	s.SetSecret("expiry", "old", "o", akvcredstest.Expires(past))
	s.SetSecret("expiry", "future", "f", akvcredstest.NotBefore(time.Now().Add(time.Hour)))
	s.SetSecret("expiry", "fine", "x")

	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("expiry"), akvcreds.WithSecrets("old", "future", "fine"))
	creds, err := c.FetchCredentials(context.Background())
	if err != nil || len(creds) != 3 || !creds[0].Expired(time.Now()) || !creds[0].Expires.Equal(past) {
		t.Fatalf("default policy: %v %v", names(creds), err)
	}

	strict := newClient(t, s, secretAuth(), akvcreds.WithVaults("expiry"), akvcreds.WithSecrets("old", "future", "fine"),
		akvcreds.WithExpiredPolicy(akvcreds.ExpiredReject))
	creds, err = strict.FetchCredentials(context.Background())
	if !slices.Equal(names(creds), []string{"expiry/fine"}) || len(akvcreds.FetchErrors(err)) != 2 || !errors.Is(err, akvcreds.ErrExpired) {
		t.Fatalf("ExpiredReject: %v %v", names(creds), err)
	}
	if !strings.Contains(err.Error(), "expired at") || !strings.Contains(err.Error(), "not valid before") {
		t.Errorf("message: %v", err)
	}

	var sum akvcreds.Summary
	creds, err = c.FetchCredentials(context.Background(), akvcreds.FetchSecrets(), akvcreds.FetchSummary(&sum))
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
	if sum.Vaults != 1 || sum.Listed != 3 || sum.Fetched != 2 || sum.SkippedDisabled != 1 || sum.FromCache != 0 || sum.Failed != 0 || sum.Duration <= 0 {
		t.Errorf("first: %+v", sum)
	}
	_, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum), akvcreds.FetchSecrets("a", "b", "nope"))
	if sum.Fetched != 2 || sum.FromCache != 2 || sum.Failed != 1 || !errors.Is(err, akvcreds.ErrNotFound) {
		t.Errorf("second: %+v %v", sum, err)
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
	want := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("secret-%05d", i)
		want[i] = "big/" + name
		s.SetSecret("big", name, "v"+name)
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("big"))
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(creds), want) {
		t.Fatalf("got %d credentials, not the %d expected in order", len(creds), n)
	}
	for _, cr := range creds {
		if cr.Password.Reveal() != "v"+cr.Secret {
			t.Fatalf("%s: wrong value", cr.Name)
		}
	}
	if got := s.Count(akvcredstest.KindListSecrets); got != n/25 {
		t.Errorf("%d list pages, want %d", got, n/25)
	}
	if got := s.Count(akvcredstest.KindGetSecret); got != n {
		t.Errorf("%d gets, want %d", got, n)
	}
}
