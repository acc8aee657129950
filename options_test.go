package akvcreds_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// Client secrets used by the validation tests. None of them may ever appear
// in an error message, whatever position it was passed in.
const (
	// optSecret has the shape of a current Entra ID client secret ("~").
	optSecret = "Xq38Q~optSecret.VALUE_do-not-show-98765"
	// legacySecret has the shape of an older, portal-generated client secret:
	// punctuation, but none of "~", "+" or "=".
	legacySecret = "T2m/Hq:?ZpD]r5x@kuT0R6AbG_a.T3Jx"
	// urlPassword is a password embedded in a vault URL's user info.
	urlPassword = "Pa55-userinfo-secret"
)

var neverShown = []string{optSecret, legacySecret, urlPassword}

const (
	tenantID = akvcredstest.DefaultTenantID
	clientID = akvcredstest.DefaultClientID
	version  = "0123456789abcdef0123456789ABCDEF"
)

// validAuth is a well-formed client-secret authentication; New never checks
// it against Entra ID.
func validAuth() akvcreds.Option {
	return akvcreds.WithClientSecret(tenantID, clientID, optSecret)
}

// with is valid authentication and a vault, followed by opts.
func with(opts ...akvcreds.Option) []akvcreds.Option {
	return append([]akvcreds.Option{validAuth(), akvcreds.WithVaults("myvault")}, opts...)
}

// checkInvalid asserts that err is an ErrInvalidArgument naming option
// (unless "") and every string of want, and showing no secret.
func checkInvalid(t *testing.T, err error, option string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one from %s mentioning %q", option, want)
	}
	if !errors.Is(err, akvcreds.ErrInvalidArgument) {
		t.Errorf("errors.Is(err, ErrInvalidArgument) = false for %v", err)
	}
	msg := err.Error()
	if option != "" && !strings.Contains(msg, "akvcreds: "+option+": ") {
		t.Errorf("error does not name the option %s: %s", option, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not mention %q: %s", w, msg)
		}
	}
	for _, s := range neverShown {
		if strings.Contains(msg, s) {
			t.Errorf("error shows the secret %q: %s", s, msg)
		}
	}
	// errors.Join: every reported problem matches on its own too.
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !errors.Is(e, akvcreds.ErrInvalidArgument) {
				t.Errorf("joined error %q does not wrap ErrInvalidArgument", e)
			}
		}
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 25)
	tests := []struct {
		name   string
		opts   []akvcreds.Option
		option string   // the option the message names
		want   []string // distinctive parts of the problem
	}{
		// Authentication.
		{"no authentication", []akvcreds.Option{akvcreds.WithVaults("myvault")}, "New", []string{"no authentication", "WithClientSecret", "WithSystemAssignedIdentity"}},
		{"two authentications", []akvcreds.Option{validAuth(), akvcreds.WithSystemAssignedIdentity(), akvcreds.WithVaults("myvault")},
			"New", []string{"more than one authentication option", "WithClientSecret", "WithSystemAssignedIdentity"}},
		{"tenant empty", []akvcreds.Option{akvcreds.WithClientSecret("", clientID, optSecret)}, "WithClientSecret", []string{"tenant ID is empty"}},
		{"tenant common", []akvcreds.Option{akvcreds.WithClientSecret("common", clientID, optSecret)}, "WithClientSecret", []string{`tenant ID "common"`, "not a specific tenant"}},
		{"tenant neither GUID nor domain", []akvcreds.Option{akvcreds.WithClientSecret("my_tenant", clientID, optSecret)}, "WithClientSecret", []string{"tenant ID", "neither a GUID nor a domain"}},
		{"tenant short GUID", []akvcreds.Option{akvcreds.WithClientSecret(tenantID[:35], clientID, optSecret)}, "WithClientSecret", []string{"tenant ID", "is not a GUID", "35 characters"}},
		{"client ID empty", []akvcreds.Option{akvcreds.WithClientSecret(tenantID, "", optSecret)}, "WithClientSecret", []string{"client ID is empty"}},
		{"client ID not a GUID", []akvcreds.Option{akvcreds.WithClientSecret(tenantID, "my-app", optSecret)}, "WithClientSecret", []string{"client ID", "is not a GUID"}},
		{"client secret empty", []akvcreds.Option{akvcreds.WithClientSecret(tenantID, clientID, "")}, "WithClientSecret", []string{"client secret is empty"}},
		{"client secret leading space", []akvcreds.Option{akvcreds.WithClientSecret(tenantID, clientID, " "+optSecret)}, "WithClientSecret", []string{"client secret has leading or trailing white space"}},
		{"client secret trailing newline", []akvcreds.Option{akvcreds.WithClientSecret(tenantID, clientID, optSecret+"\n")}, "WithClientSecret", []string{"client secret has leading or trailing white space"}},
		{"client secret in client ID position", []akvcreds.Option{akvcreds.WithClientSecret(tenantID, optSecret, clientID)}, "WithClientSecret", []string{"client ID", "swapped"}},
		{"legacy client secret in client ID position", []akvcreds.Option{akvcreds.WithClientSecret(tenantID, legacySecret, clientID)}, "WithClientSecret", []string{"client ID"}},
		{"user-assigned client ID empty", []akvcreds.Option{akvcreds.WithUserAssignedIdentity("")}, "WithUserAssignedIdentity", []string{"client ID is empty"}},
		{"user-assigned client ID not a GUID", []akvcreds.Option{akvcreds.WithUserAssignedIdentity("my-identity")}, "WithUserAssignedIdentity", []string{"client ID", "is not a GUID"}},
		{"token credential nil", []akvcreds.Option{akvcreds.WithTokenCredential(nil)}, "WithTokenCredential", []string{"credential is nil"}},

		// Vault names.
		{"vault name too short", with(akvcreds.WithVaults("ab")), "WithVaults", []string{`"ab"`, "too short"}},
		{"vault name too long", with(akvcreds.WithVaults(long)), "WithVaults", []string{"too long (25 characters)"}},
		{"vault name leading digit", with(akvcreds.WithVaults("1vault")), "WithVaults", []string{`"1vault"`, "must start with a letter"}},
		{"vault name trailing hyphen", with(akvcreds.WithVaults("vault-")), "WithVaults", []string{`"vault-"`, "ends with a hyphen"}},
		{"vault name double hyphen", with(akvcreds.WithVaults("my--vault")), "WithVaults", []string{"consecutive hyphens"}},
		{"vault name underscore", with(akvcreds.WithVaults("my_vault")), "WithVaults", []string{`contains "_"`, "only ASCII letters, digits and hyphens"}},
		{"vault name space", with(akvcreds.WithVaults("my vault")), "WithVaults", []string{`contains " "`}},
		{"vault name unicode", with(akvcreds.WithVaults("v\u0430ult")), "WithVaults", []string{"\u0430", "only ASCII letters"}},
		{"vault name empty", with(akvcreds.WithVaults("")), "WithVaults", []string{"vault is empty"}},

		// Vault URLs.
		{"vault URL http", with(akvcreds.WithVaults("http://myvault.vault.azure.net/")), "WithVaults", []string{"uses http", "requires https"}},
		{"vault URL user info", with(akvcreds.WithVaults("https://admin:" + urlPassword + "@myvault.vault.azure.net/")), "WithVaults", []string{"user info"}},
		{"vault URL query", with(akvcreds.WithVaults("https://myvault.vault.azure.net/?api-version=7.4")), "WithVaults", []string{"has a query"}},
		{"vault URL fragment", with(akvcreds.WithVaults("https://myvault.vault.azure.net/#top")), "WithVaults", []string{"has a fragment"}},
		{"vault URL path", with(akvcreds.WithVaults("https://myvault.vault.azure.net/secrets/db")), "WithVaults", []string{"has a path", "/secrets/db"}},
		{"vault URL port 8443", with(akvcreds.WithVaults("https://myvault.vault.azure.net:8443/")), "WithVaults", []string{"port 8443", "443 only"}},
		// The cloud comes from the vault URLs (there is no Cloud type any
		// more): URLs of two clouds, or of another cloud than WithCloud's,
		// conflict.
		{"vault URLs of two clouds", with(akvcreds.WithVaults("https://myvault.vault.azure.net/", "https://other.vault.azure.cn/")), "WithVaults", []string{`vault "other" is in AzureChina, but the client uses AzurePublic`}},
		{"vault URL public in China", with(akvcreds.WithCloud("china"), akvcreds.WithVaults("https://other.vault.azure.net/")), "WithVaults", []string{`vault "other" is in AzurePublic, but the client uses AzureChina`}},
		{"vault URL managed HSM", with(akvcreds.WithVaults("https://myhsm.managedhsm.azure.net/")), "WithVaults", []string{"Managed HSM"}},
		{"vault URL IPv4 host", with(akvcreds.WithVaults("https://10.1.2.3/")), "WithVaults", []string{"IP address"}},
		{"vault URL IPv6 host", with(akvcreds.WithVaults("https://[::1]/")), "WithVaults", []string{"IP address"}},
		{"vault URL bad name", with(akvcreds.WithVaults("https://my_vault.vault.azure.net/")), "WithVaults", []string{`contains "_"`}},
		{"vault host without scheme", with(akvcreds.WithVaults("myvault.vault.azure.net")), "WithVaults", []string{"neither a vault name nor a URL"}},

		// Secret names.
		{"secret empty", with(akvcreds.WithSecrets("")), "WithSecrets", []string{"secret name is empty"}},
		{"secret 128 characters", with(akvcreds.WithSecrets(strings.Repeat("s", 128))), "WithSecrets", []string{"too long (128 characters)"}},
		{"secret bad character", with(akvcreds.WithSecrets("db.password")), "WithSecrets", []string{`contains "."`}},
		{"secret bad version", with(akvcreds.WithSecrets("db/notaversion")), "WithSecrets", []string{`secret "db"`, `version "notaversion"`, "hexadecimal"}},
		{"secret short version", with(akvcreds.WithSecrets("db/abc")), "WithSecrets", []string{`version "abc"`, "3 characters long"}},
		{"secret empty version", with(akvcreds.WithSecrets("db/")), "WithSecrets", []string{"version is empty"}},

		// Everything else.
		{"concurrency 0", with(akvcreds.WithConcurrency(0)), "WithConcurrency", []string{"0 is out of range", "1 to 1024"}},
		{"concurrency -1", with(akvcreds.WithConcurrency(-1)), "WithConcurrency", []string{"-1 is out of range"}},
		{"concurrency above max", with(akvcreds.WithConcurrency(1025)), "WithConcurrency", []string{"1025 is out of range"}},
		{"cache 0", with(akvcreds.WithCache(0)), "WithCache", []string{"must be positive"}},
		{"cache negative", with(akvcreds.WithCache(-time.Minute)), "WithCache", []string{"-1m0s must be positive"}},
		{"HTTP client nil", with(akvcreds.WithHTTPClient(nil)), "WithHTTPClient", []string{"*http.Client is nil"}},
		{"logger nil", with(akvcreds.WithLogger(nil)), "WithLogger", []string{"*slog.Logger is nil"}},
		{"mapper nil", with(akvcreds.WithMapper(nil)), "WithMapper", []string{"mapping function is nil"}},
		{"filter malformed", with(akvcreds.WithFilters(akvcreds.NameGlob("["))), "WithFilters", []string{"NameGlob"}},
		{"unknown cloud", with(akvcreds.WithCloud("mars")), "WithCloud", []string{`unknown cloud "mars"`, "public, china or usgovernment"}},
		{"nil option", with(nil), "New", []string{"Option is nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := akvcreds.New(tt.opts...)
			if c != nil {
				t.Errorf("New returned a Client with an error")
			}
			checkInvalid(t, err, tt.option, tt.want...)
			// One rule broken: one problem reported, naming that option only.
			if n := strings.Count(err.Error(), "akvcreds: "); n != 1 {
				t.Errorf("%d problems reported, want 1: %v", n, err)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		auth akvcreds.Option // nil: validAuth
		opts []akvcreds.Option
	}{
		{"vault name", nil, []akvcreds.Option{akvcreds.WithVaults("myvault")}},
		{"vault name 3 and 24 characters", nil, []akvcreds.Option{akvcreds.WithVaults("abc", "a"+strings.Repeat("b-", 11)+"c")}},
		{"vault name upper case", nil, []akvcreds.Option{akvcreds.WithVaults("MyVault")}},
		{"vault URL with slash", nil, []akvcreds.Option{akvcreds.WithVaults("https://myvault.vault.azure.net/")}},
		{"vault URL without slash", nil, []akvcreds.Option{akvcreds.WithVaults("https://myvault.vault.azure.net")}},
		{"vault URL port 443", nil, []akvcreds.Option{akvcreds.WithVaults("https://myvault.vault.azure.net:443/")}},
		{"vault URL China", nil, []akvcreds.Option{akvcreds.WithCloud("china"), akvcreds.WithVaults("https://myvault.vault.azure.cn/")}},
		{"vault URL China, names in China too", nil, []akvcreds.Option{akvcreds.WithVaults("https://myvault.vault.azure.cn/", "other")}},
		{"vault URL US Government", nil, []akvcreds.Option{akvcreds.WithCloud("USGovernment"), akvcreds.WithVaults("https://myvault.vault.usgovcloudapi.net/")}},
		{"no vaults", nil, nil},
		{"secret names", nil, []akvcreds.Option{akvcreds.WithVaults("myvault"), akvcreds.WithSecrets("a", strings.Repeat("s", 127), "db-password")}},
		{"secret with version", nil, []akvcreds.Option{akvcreds.WithVaults("myvault"), akvcreds.WithSecrets("db/" + version)}},
		{"concurrency bounds", nil, []akvcreds.Option{akvcreds.WithConcurrency(1), akvcreds.WithConcurrency(1024)}},
		{"cache", nil, []akvcreds.Option{akvcreds.WithCache(time.Nanosecond)}},
		{"mapper and filters", nil, []akvcreds.Option{akvcreds.WithMapper(usernameFromTag), akvcreds.WithFilters(), akvcreds.WithFilters(akvcreds.Tag("k"))}},

		// Every authentication.
		{"legacy client secret", akvcreds.WithClientSecret(tenantID, clientID, legacySecret), nil},
		{"domain tenant", akvcreds.WithClientSecret("contoso.onmicrosoft.com", clientID, optSecret), nil},
		{"upper-case GUIDs", akvcreds.WithClientSecret(strings.ToUpper(tenantID), strings.ToUpper(clientID), optSecret), nil},
		{"system-assigned identity", akvcreds.WithSystemAssignedIdentity(), nil},
		{"user-assigned identity", akvcreds.WithUserAssignedIdentity(akvcredstest.DefaultUserAssignedClientID), nil},
		{"token credential", akvcreds.WithTokenCredential(&countingCredential{}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			auth := tt.auth
			if auth == nil {
				auth = validAuth()
			}
			if _, err := akvcreds.New(append([]akvcreds.Option{auth}, tt.opts...)...); err != nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

// All problems are reported together, each naming its option.
func TestNewReportsEveryProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []akvcreds.Option
		want []string
	}{
		{
			name: "options of every kind",
			opts: []akvcreds.Option{
				akvcreds.WithVaults("ab", "myvault", "https://x.vault.azure.cn/"),
				akvcreds.WithSecrets("a_b", "ok", "c/zz"),
				akvcreds.WithConcurrency(0),
				akvcreds.WithCache(-time.Second),
				akvcreds.WithHTTPClient(nil),
				akvcreds.WithLogger(nil),
				akvcreds.WithMapper(nil),
				akvcreds.WithFilters(akvcreds.Tag(""), akvcreds.NameGlob("[")),
				akvcreds.WithCloud("germany"),
			},
			want: []string{
				"akvcreds: New: no authentication",
				`akvcreds: WithVaults: vault name "ab" is too short`,
				"akvcreds: WithVaults: vault URL",
				`akvcreds: WithSecrets: secret name "a_b"`,
				`akvcreds: WithSecrets: secret "c"`,
				"akvcreds: WithConcurrency: ",
				"akvcreds: WithCache: ",
				"akvcreds: WithHTTPClient: ",
				"akvcreds: WithLogger: ",
				"akvcreds: WithMapper: ",
				"akvcreds: WithFilters: Tag: ",
				"akvcreds: WithFilters: NameGlob: ",
				"akvcreds: WithCloud: ",
			},
		},
		{
			name: "every field of the client secret",
			opts: []akvcreds.Option{akvcreds.WithClientSecret("common", "my-app", " "+optSecret), akvcreds.WithVaults("myvault")},
			want: []string{"akvcreds: WithClientSecret: ", "tenant ID", "client ID", "client secret has leading or trailing white space"},
		},
		{
			name: "nil option among bad ones",
			opts: []akvcreds.Option{validAuth(), nil, akvcreds.WithVaults("ab"), akvcreds.WithConcurrency(0)},
			want: []string{"akvcreds: New: ", "Option is nil", "akvcreds: WithVaults: ", "akvcreds: WithConcurrency: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := akvcreds.New(tt.opts...)
			checkInvalid(t, err, "", tt.want...)
		})
	}
}

// WithCloud takes a cloud's name, case-insensitively; the vaults and the
// Entra ID authority are then that cloud's. Without it, the cloud of the
// vault URLs is used, else the public cloud. (ParseCloud and the Cloud type
// are gone: the names are all there is.)
func TestWithCloud(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		opt              akvcreds.Option
		vaultHost, login string
	}{
		{"default", nil, "cloudvault.vault.azure.net", "login.microsoftonline.com"},
		{"public", akvcreds.WithCloud("public"), "cloudvault.vault.azure.net", "login.microsoftonline.com"},
		{"China", akvcreds.WithCloud("China"), "cloudvault.vault.azure.cn", "login.chinacloudapi.cn"},
		{"US Government", akvcreds.WithCloud("USGOVERNMENT"), "cloudvault.vault.usgovcloudapi.net", "login.microsoftonline.us"},
		{"from a vault URL", akvcreds.WithVaults("https://othervault.vault.azure.cn/"), "cloudvault.vault.azure.cn", "login.chinacloudapi.cn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetSecret("cloudvault", "s", "v")
			opts := []akvcreds.Option{secretAuth()}
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			c := newClient(t, s, opts...)
			if _, err := c.FetchCredential(context.Background(), "cloudvault/s"); err != nil {
				t.Fatal(err)
			}
			if countKind(s, akvcredstest.KindGetSecret, tt.vaultHost) != 1 || countKind(s, akvcredstest.KindToken, tt.login) != 1 {
				for _, r := range s.Requests() {
					t.Logf("%s %s%s", r.Kind, r.Host, r.Path)
				}
				t.Errorf("want a read on %s with a token from %s", tt.vaultHost, tt.login)
			}
		})
	}
	for _, bad := range []string{"", " public", "public ", "germany", "azure", "AzureStack"} {
		_, err := akvcreds.New(validAuth(), akvcreds.WithCloud(bad))
		checkInvalid(t, err, "WithCloud", "unknown cloud", "public, china or usgovernment")
	}
}

func TestFetchCredentialRejectsIdentifier(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := newClient(t, s, secretAuth())
	tests := []struct {
		id   string
		want []string
	}{
		{"", []string{"identifier is empty"}},
		{"vault", []string{`identifier "vault" has no "/"`}},
		{"vault/bad_name", []string{`secret name "bad_name" contains "_"`}},
		{"vault/s/notaversion", []string{`version "notaversion"`, "hexadecimal"}},
		{"a/b/c/d", []string{"has 4 parts"}},
		{"ab/secret", []string{`vault name "ab" is too short`}},
		{" vault/s", []string{"leading space"}},
		{"https://vault.vault.azure.net/keys/k", []string{`has path "/keys/k"`}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			cred, err := c.FetchCredential(context.Background(), tt.id)
			checkInvalid(t, err, "FetchCredential", tt.want...)
			if cred.Name != "" || cred.Password.Reveal() != "" {
				t.Errorf("a credential came back with the error: %q", cred.Name)
			}
		})
	}
	t.Cleanup(func() {
		if n := len(s.Requests()); n != 0 {
			t.Errorf("%d requests were sent for malformed identifiers, want 0", n)
		}
	})
}

// Malformed FetchOptions, FetchNames' names included, fail the call before
// any request, each problem naming the option.
func TestFetchCredentialsRejects(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("goodvault", "db", "value")
	withVaults := newClient(t, s, secretAuth(), akvcreds.WithVaults("goodvault"))
	noVaults := newClient(t, s, secretAuth())
	tests := []struct {
		name   string
		c      *akvcreds.Client
		opts   []akvcreds.FetchOption
		option string
		want   []string
	}{
		{"bad vault", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("bad_")}, "FetchNames", []string{`vault name "bad_"`}},
		{"bad vault among good", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("goodvault", "bad_")}, "FetchNames", []string{`"bad_"`}},
		{"empty name", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("")}, "FetchNames", []string{"vault is empty"}},
		{"bad secret", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("goodvault/db", "goodvault/a.b")}, "FetchNames", []string{`secret name "a.b"`}},
		{"bad version", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("goodvault/db/notaversion")}, "FetchNames", []string{`version "notaversion"`}},
		{"too many parts", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("goodvault/db/" + version + "/x")}, "FetchNames", []string{"has 4 parts"}},
		{"not a secret ID", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("https://goodvault.vault.azure.net/keys/k")}, "FetchNames", []string{`has path "/keys/k"`}},
		{"vault whole, then with a secret", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("goodvault", "goodvault/db")}, "FetchNames",
			[]string{`vault "goodvault" is given both whole and with secret names`}},
		{"vault with a secret, then whole", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("GoodVault/db", "https://goodvault.vault.azure.net/")}, "FetchNames",
			[]string{`vault "goodvault" is given both whole and with secret names`}},
		{"nil FetchOption", withVaults, []akvcreds.FetchOption{nil}, "FetchCredentials", []string{"FetchOption is nil"}},
		{"nil summary", withVaults, []akvcreds.FetchOption{akvcreds.FetchSummary(nil)}, "FetchCredentials", []string{"FetchSummary", "*Batch is nil"}},
		{"nil trigger", withVaults, []akvcreds.FetchOption{akvcreds.WatchTrigger(nil)}, "FetchCredentials", []string{"WatchTrigger", "channel is nil"}},
		{"no vaults at all", noVaults, nil, "FetchCredentials", []string{"no vaults"}},
		{"no names", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames()}, "FetchCredentials", []string{"no vaults"}},
		{"every problem", withVaults, []akvcreds.FetchOption{akvcreds.FetchNames("bad_", "goodvault/a.b"), nil}, "FetchNames",
			[]string{`"bad_"`, `"a.b"`, "akvcreds: FetchCredentials: a FetchOption is nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			creds, err := tt.c.FetchCredentials(context.Background(), tt.opts...)
			checkInvalid(t, err, tt.option, tt.want...)
			if creds != nil {
				t.Errorf("got %d credentials with an invalid argument, want none", len(creds))
			}
			if fe := akvcreds.FetchErrors(err); len(fe) != 0 {
				t.Errorf("invalid arguments reported as %d *FetchError", len(fe))
			}
		})
	}
	t.Cleanup(func() {
		if n := len(s.Requests()); n != 0 {
			t.Errorf("%d requests were sent for invalid arguments, want 0", n)
		}
	})
}

// countingCredential is a caller-held token credential that counts its use.
type countingCredential struct{ calls atomic.Int32 }

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	return azcore.AccessToken{Token: "counting-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// New validates and builds, but sends nothing: the first fetch authenticates.
func TestNewMakesNoRequest(t *testing.T) {
	t.Parallel()
	cred := &countingCredential{}
	tests := []struct {
		name string
		auth func() akvcreds.Option
	}{
		{"client secret", secretAuth},
		{"system-assigned identity", akvcreds.WithSystemAssignedIdentity},
		{"user-assigned identity", func() akvcreds.Option {
			return akvcreds.WithUserAssignedIdentity(akvcredstest.DefaultUserAssignedClientID)
		}},
		{"token credential", func() akvcreds.Option { return akvcreds.WithTokenCredential(cred) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetSecret("myvault", "db", "value")
			newClient(t, s, tt.auth(), akvcreds.WithVaults("myvault", "https://other.vault.azure.net/"),
				akvcreds.WithSecrets("db"), akvcreds.WithCache(time.Minute))
			// Give any background work New might have started time to show.
			time.Sleep(50 * time.Millisecond)
			if reqs := s.Requests(); len(reqs) != 0 {
				t.Errorf("New sent %d requests, want none; first: %s %s%s", len(reqs), reqs[0].Method, reqs[0].Host, reqs[0].Path)
			}
		})
	}
	t.Cleanup(func() {
		if n := cred.calls.Load(); n != 0 {
			t.Errorf("New asked the token credential for %d tokens, want none", n)
		}
	})
}
