package akvcreds_test

import (
	"context"
	"errors"
	"strings"
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

// checkInvalid asserts that err is an ErrInvalidArgument naming option and
// every string of want, and showing no secret.
func checkInvalid(t *testing.T, err error, option string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one from %s mentioning %q", option, want)
	}
	if !errors.Is(err, akvcreds.ErrInvalidArgument) {
		t.Errorf("errors.Is(err, ErrInvalidArgument) = false for %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "akvcreds: "+option+": ") {
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
		{"vault URL other cloud", with(akvcreds.WithVaults("https://myvault.vault.azure.cn/")), "WithVaults", []string{"belongs to AzureChina", "configured for AzurePublic"}},
		{"vault URL public in China", with(akvcreds.WithCloud(akvcreds.AzureChina), akvcreds.WithVaults("https://other.vault.azure.net/")), "WithVaults", []string{"belongs to AzurePublic", "configured for AzureChina"}},
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
		{"concurrency above max", with(akvcreds.WithConcurrency(akvcreds.MaxConcurrency + 1)), "WithConcurrency", []string{"1025 is out of range"}},
		{"cache 0", with(akvcreds.WithCache(0)), "WithCache", []string{"must be positive"}},
		{"cache negative", with(akvcreds.WithCache(-time.Minute)), "WithCache", []string{"-1m0s must be positive"}},
		{"HTTP client nil", with(akvcreds.WithHTTPClient(nil)), "WithHTTPClient", []string{"*http.Client is nil"}},
		{"logger nil", with(akvcreds.WithLogger(nil)), "WithLogger", []string{"*slog.Logger is nil"}},
		{"max retries -1", with(akvcreds.WithMaxRetries(-1)), "WithMaxRetries", []string{"-1 is out of range", "0 to 10"}},
		{"max retries 11", with(akvcreds.WithMaxRetries(11)), "WithMaxRetries", []string{"11 is out of range"}},
		{"throttle retries 0", with(akvcreds.WithThrottleRetries(0)), "WithThrottleRetries", []string{"0 is out of range", "1 to 100"}},
		{"throttle retries 101", with(akvcreds.WithThrottleRetries(101)), "WithThrottleRetries", []string{"101 is out of range"}},
		{"unknown cloud", with(akvcreds.WithCloud(akvcreds.Cloud(99))), "WithCloud", []string{"unknown cloud 99"}},
		{"nil option", with(nil), "New", []string{"Option is nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := akvcreds.New(tt.opts...)
			if c != nil {
				t.Errorf("New returned a Client with an error")
				_ = c.Close()
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
		opts []akvcreds.Option // validAuth is added unless they authenticate
	}{
		{"vault name", []akvcreds.Option{akvcreds.WithVaults("myvault")}},
		{"vault name 3 and 24 characters", []akvcreds.Option{akvcreds.WithVaults("abc", "a"+strings.Repeat("b-", 11)+"c")}},
		{"vault name upper case", []akvcreds.Option{akvcreds.WithVaults("MyVault")}},
		{"vault URL with slash", []akvcreds.Option{akvcreds.WithVaults("https://myvault.vault.azure.net/")}},
		{"vault URL without slash", []akvcreds.Option{akvcreds.WithVaults("https://myvault.vault.azure.net")}},
		{"vault URL port 443", []akvcreds.Option{akvcreds.WithVaults("https://myvault.vault.azure.net:443/")}},
		{"vault URL China", []akvcreds.Option{akvcreds.WithCloud(akvcreds.AzureChina), akvcreds.WithVaults("https://myvault.vault.azure.cn/")}},
		{"vault URL US Government", []akvcreds.Option{akvcreds.WithCloud(akvcreds.AzureUSGovernment), akvcreds.WithVaults("https://myvault.vault.usgovcloudapi.net/")}},
		{"no vaults", nil},
		{"secret names", []akvcreds.Option{akvcreds.WithVaults("myvault"), akvcreds.WithSecrets("a", strings.Repeat("s", 127), "db-password")}},
		{"secret with version", []akvcreds.Option{akvcreds.WithVaults("myvault"), akvcreds.WithSecrets("db/" + version)}},
		{"concurrency bounds", []akvcreds.Option{akvcreds.WithConcurrency(1), akvcreds.WithConcurrency(akvcreds.MaxConcurrency)}},
		{"cache", []akvcreds.Option{akvcreds.WithCache(time.Nanosecond)}},
		{"retries bounds", []akvcreds.Option{akvcreds.WithMaxRetries(0), akvcreds.WithMaxRetries(10), akvcreds.WithThrottleRetries(1), akvcreds.WithThrottleRetries(100)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := akvcreds.New(append([]akvcreds.Option{validAuth()}, tt.opts...)...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			_ = c.Close()
		})
	}
}

func TestNewAcceptsEveryAuthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		auth akvcreds.Option
	}{
		{"client secret", validAuth()},
		{"legacy client secret", akvcreds.WithClientSecret(tenantID, clientID, legacySecret)},
		{"domain tenant", akvcreds.WithClientSecret("contoso.onmicrosoft.com", clientID, optSecret)},
		{"upper-case GUIDs", akvcreds.WithClientSecret(strings.ToUpper(tenantID), strings.ToUpper(clientID), optSecret)},
		{"system-assigned identity", akvcreds.WithSystemAssignedIdentity()},
		{"user-assigned identity", akvcreds.WithUserAssignedIdentity(akvcredstest.DefaultUserAssignedClientID)},
		{"token credential", akvcreds.WithTokenCredential(&countingCredential{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := akvcreds.New(tt.auth, akvcreds.WithVaults("myvault"))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			_ = c.Close()
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
				akvcreds.WithMaxRetries(11),
				akvcreds.WithThrottleRetries(0),
				akvcreds.WithCloud(akvcreds.Cloud(7)),
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
				"akvcreds: WithMaxRetries: ",
				"akvcreds: WithThrottleRetries: ",
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
			if err == nil {
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, akvcreds.ErrInvalidArgument) {
				t.Errorf("errors.Is(err, ErrInvalidArgument) = false")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not report %q:\n%s", w, msg)
				}
			}
			for _, s := range neverShown {
				if strings.Contains(msg, s) {
					t.Errorf("error shows the secret %q:\n%s", s, msg)
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
		})
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
			if cred.Name != "" || !cred.Password.IsEmpty() {
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
		{"bad FetchVaults", withVaults, []akvcreds.FetchOption{akvcreds.FetchVaults("bad_")}, "FetchVaults", []string{`vault name "bad_"`}},
		{"bad FetchVaults among good", withVaults, []akvcreds.FetchOption{akvcreds.FetchVaults("goodvault", "bad_")}, "FetchVaults", []string{`"bad_"`}},
		{"bad FetchSecrets", withVaults, []akvcreds.FetchOption{akvcreds.FetchSecrets("db", "a.b")}, "FetchSecrets", []string{`secret name "a.b"`}},
		{"nil FetchOption", withVaults, []akvcreds.FetchOption{nil}, "FetchCredentials", []string{"FetchOption is nil"}},
		{"no vaults at all", noVaults, nil, "FetchCredentials", []string{"no vaults"}},
		{"empty FetchVaults", withVaults, []akvcreds.FetchOption{akvcreds.FetchVaults()}, "FetchCredentials", []string{"no vaults"}},
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

func TestParseCloud(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    akvcreds.Cloud
		wantErr bool
	}{
		{"public", akvcreds.AzurePublic, false},
		{"AzurePublic", akvcreds.AzurePublic, false},
		{"AZURECLOUD", akvcreds.AzurePublic, false},
		{"china", akvcreds.AzureChina, false},
		{"AzureChina", akvcreds.AzureChina, false},
		{"AzureChinaCloud", akvcreds.AzureChina, false},
		{"usgov", akvcreds.AzureUSGovernment, false},
		{"USGovernment", akvcreds.AzureUSGovernment, false},
		{"AzureUSGovernment", akvcreds.AzureUSGovernment, false},
		{"azureusgovernmentcloud", akvcreds.AzureUSGovernment, false},
		{"", 0, true},
		{" public", 0, true},
		{"public ", 0, true},
		{"germany", 0, true},
		{"azure", 0, true},
		{"AzureStack", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := akvcreds.ParseCloud(tt.in)
			if tt.wantErr {
				checkInvalid(t, err, "ParseCloud", "unknown cloud", "public, china or usgovernment")
				return
			}
			if err != nil {
				t.Fatalf("ParseCloud(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseCloud(%q) = %v, want %v", tt.in, got, tt.want)
			}
			// The canonical name parses back to the same cloud.
			if back, err := akvcreds.ParseCloud(got.String()); err != nil || back != got {
				t.Errorf("ParseCloud(%q) = %v, %v", got.String(), back, err)
			}
		})
	}
}

func TestCloudString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c    akvcreds.Cloud
		want string
	}{
		{akvcreds.AzurePublic, "AzurePublic"},
		{akvcreds.AzureChina, "AzureChina"},
		{akvcreds.AzureUSGovernment, "AzureUSGovernment"},
		{akvcreds.Cloud(99), "Cloud(99)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Cloud(%d).String() = %q, want %q", int(tt.c), got, tt.want)
		}
	}
}

// countingCredential is a caller-held token credential that counts its use.
type countingCredential struct{ calls int }

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls++
	return azcore.AccessToken{Token: "counting-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// New validates and builds, but sends nothing: the first fetch authenticates.
func TestNewMakesNoRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		auth func() akvcreds.Option
	}{
		{"client secret", secretAuth},
		{"system-assigned identity", akvcreds.WithSystemAssignedIdentity},
		{"user-assigned identity", func() akvcreds.Option {
			return akvcreds.WithUserAssignedIdentity(akvcredstest.DefaultUserAssignedClientID)
		}},
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
	t.Run("token credential", func(t *testing.T) {
		t.Parallel()
		s := newServer(t)
		cred := &countingCredential{}
		newClient(t, s, akvcreds.WithTokenCredential(cred), akvcreds.WithVaults("myvault"))
		time.Sleep(50 * time.Millisecond)
		if reqs := s.Requests(); len(reqs) != 0 {
			t.Errorf("New sent %d requests, want none", len(reqs))
		}
		if cred.calls != 0 {
			t.Errorf("New asked the token credential for %d tokens, want none", cred.calls)
		}
	})
}
