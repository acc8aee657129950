package akvcreds_test

// Token and secret safety, end to end: a bearer token goes to the vault's
// own host and nowhere else — not along a list page's foreign nextLink, not
// along a redirect — vault URLs outside the cloud's Key Vault domain are
// refused before any request, and akvcreds leaves the Azure SDK's
// process-global logging alone. (What a password or token looks like in
// fmt, JSON, slog and errors is observability_test.go's subject.)

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// safetyRequest is a request as the client sent it.
type safetyRequest struct {
	method, host, path string
	query              string // raw
	auth               string // the Authorization header
}

// safetySent records every request the client sends, before it reaches the
// emulator's dialer.
type safetySent struct {
	mu   sync.Mutex
	reqs []safetyRequest
}

// record records r.
func (l *safetySent) record(r *http.Request) {
	l.mu.Lock()
	l.reqs = append(l.reqs, safetyRequest{r.Method, strings.ToLower(r.URL.Hostname()), r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization")})
	l.mu.Unlock()
}

// client is the emulator's client, recording into l.
func (l *safetySent) client(s *akvcredstest.Server) *http.Client {
	return hardHTTPClient(s, l.record, nil)
}

func (l *safetySent) snapshot() []safetyRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]safetyRequest(nil), l.reqs...)
}

// count counts the requests sent that match.
func (l *safetySent) count(match func(safetyRequest) bool) int {
	n := 0
	for _, r := range l.snapshot() {
		if match(r) {
			n++
		}
	}
	return n
}

// safetyTokensStayHome fails if a request with an Authorization header went
// to a host other than the vaults', or to a path other than /secrets..., as
// sent by the client and as received by the emulator; and if any request
// left the emulator's hosts.
func safetyTokensStayHome(t *testing.T, s *akvcredstest.Server, sent []safetyRequest, vaultHosts ...string) {
	t.Helper()
	home := map[string]bool{}
	for _, h := range vaultHosts {
		home[h] = true
	}
	auths := 0
	for _, r := range sent {
		if r.auth == "" {
			continue
		}
		auths++
		if !home[r.host] || !strings.HasPrefix(r.path, "/secrets") {
			t.Errorf("a token was sent to %s %s%s", r.method, r.host, r.path)
		}
	}
	for _, r := range s.Requests() {
		if r.Authorization && !home[r.Host] {
			t.Errorf("the emulator received a token at %s %s%s", r.Method, r.Host, r.Path)
		}
	}
	if d := s.RefusedDials(); len(d) > 0 {
		t.Errorf("requests left the emulator's hosts: %v", d)
	}
	if auths == 0 {
		t.Errorf("no request carried a token: the check proves nothing")
	}
}

// A list page whose nextLink points anywhere but the vault itself is not
// followed: the token never leaves, the listing is reported, and what the
// pages before it listed is returned.
func TestSafetyForeignNextLinkNotFollowed(t *testing.T) {
	t.Parallel()
	const vault = "nextlink-vault"
	for _, link := range []string{
		"https://other-vault.vault.azure.net:443/secrets?api-version=7.6&$skiptoken=eyJOZXh0TWFya2VyIjoiMiEyITEifQ",
		"https://evil.example.com/secrets?api-version=7.6",
		"https://login.microsoftonline.com/secrets?api-version=7.6",
		"http://" + vault + ".vault.azure.net/secrets?api-version=7.6",
		"https://" + vault + ".vault.azure.net:8443/secrets?api-version=7.6",
		"https://" + vault + ".vault.azure.net.evil.example.com/secrets?api-version=7.6",
		"https://" + vault + ".vault.azure.net@evil.example.com/secrets?api-version=7.6",
		"https://" + vault + ".vault.azure.cn/secrets?api-version=7.6",
		"https://169.254.169.254/secrets?api-version=7.6",
		"https://127.0.0.1/secrets?api-version=7.6",
	} {
		t.Run(link, func(t *testing.T) {
			t.Parallel()
			s, secrets := hardServer(t, vault, 5, akvcredstest.WithPageSize(2))
			hardSecrets(s, "other-vault", 3)
			var sent safetySent
			c := hardClient(t, sent.client(s), secretAuth(), akvcreds.WithVaults(vault))
			ctx := context.Background()
			if _, err := c.FetchCredential(ctx, vault+"/s00"); err != nil { // authenticate
				t.Fatal(err)
			}
			// The next request is the listing's first page.
			s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Path: "/secrets", NextLink: link})
			creds, err := c.FetchCredentials(ctx)
			reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			fe := reports[vault+"/"]
			if fe == nil || !errors.Is(fe, akvcreds.ErrUnavailable) {
				t.Fatalf("the listing = %v, want an ErrUnavailable report", fe)
			}
			if !strings.Contains(fe.Error(), "outside the vault") {
				t.Errorf("the report does not say the link led outside the vault: %v", fe)
			}
			if got := names(creds); len(got) != 2 || got[0] != vault+"/s00" || got[1] != vault+"/s01" {
				t.Errorf("returned %v, want the first page's s00 and s01", got)
			}
			safetyTokensStayHome(t, s, sent.snapshot(), vault+".vault.azure.net")
			if n := countKind(s, akvcredstest.KindListSecrets, vault+".vault.azure.net"); n != 1 {
				t.Errorf("%d list pages requested, want 1", n)
			}
			for _, r := range s.Requests() {
				if r.Host != vault+".vault.azure.net" && r.Host != "login.microsoftonline.com" {
					t.Errorf("the emulator received %s %s%s", r.Method, r.Host, r.Path)
				}
			}
		})
	}
}

// Across a whole run — challenge, token, listing with pages, gets, a single
// fetch, two vaults, client secret and managed identity — the token goes
// only to the vaults' hosts, and nothing is sent to the identity endpoints
// with a token.
func TestSafetyTokensOnlyReachTheirVaults(t *testing.T) {
	t.Parallel()
	for _, mi := range []bool{false, true} {
		name := "client secret"
		if mi {
			name = "managed identity"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, akvcredstest.WithPageSize(3))
			hardSecrets(s, "home-one", 7)
			hardSecrets(s, "home-two", 4)
			hardSecrets(s, "elsewhere", 2)
			auth := secretAuth()
			if mi {
				id := "00000000-0000-4000-8000-0000000005af"
				s.AddManagedIdentity(akvcredstest.ManagedIdentity{ClientID: id})
				auth = akvcreds.WithUserAssignedIdentity(id)
			}
			var sent safetySent
			c := hardClient(t, sent.client(s), auth, akvcreds.WithVaults("home-one", "home-two"))
			ctx := context.Background()
			if creds, err := c.FetchCredentials(ctx); err != nil || len(creds) != 11 {
				t.Fatalf("listing: %d credentials, %v", len(creds), err)
			}
			if _, err := c.FetchCredentials(ctx, akvcreds.FetchNames("home-one/s00", "home-one/s01", "home-two/s00", "home-two/s01")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.FetchCredential(ctx, "home-two/s03"); err != nil {
				t.Fatal(err)
			}
			safetyTokensStayHome(t, s, sent.snapshot(), "home-one.vault.azure.net", "home-two.vault.azure.net")
			for _, r := range sent.snapshot() {
				if r.host != "home-one.vault.azure.net" && r.host != "home-two.vault.azure.net" && r.auth != "" {
					t.Errorf("an identity endpoint request carried a token: %s %s%s", r.method, r.host, r.path)
				}
				if r.host == "elsewhere.vault.azure.net" {
					t.Errorf("a vault that was not asked for was contacted: %s %s", r.method, r.path)
				}
			}
		})
	}
}

// akvcreds never follows a redirect, from Key Vault, Entra ID or IMDS, even
// when the caller's http.Client would: a redirect could carry the bearer
// token (or, for a 307/308 from Entra ID, the client secret in the form)
// to another host.
func TestSafetyRedirectsNotFollowed(t *testing.T) {
	t.Parallel()
	tokenPath := "/" + akvcredstest.DefaultTenantID + "/oauth2/v2.0/token"
	tests := []struct {
		name     string
		mi       bool   // authenticate with a managed identity
		primed   bool   // authenticate before the redirect, so it answers a request with a token
		host     string // where the redirect is injected
		path     string
		status   int
		location string
		want     error
	}{
		{"Key Vault 307 to a foreign host", false, true, "redir-vault.vault.azure.net", "/secrets/s01/", 307, "https://evil.example.com/steal", akvcreds.ErrUnavailable},
		{"Key Vault 308 to another vault", false, true, "redir-vault.vault.azure.net", "/secrets/s01/", 308, "https://other-vault.vault.azure.net/secrets/s00/?api-version=7.6", akvcreds.ErrUnavailable},
		{"Key Vault 302 to the same vault", false, true, "redir-vault.vault.azure.net", "/secrets/s01/", 302, "https://redir-vault.vault.azure.net/secrets/not-asked-for/?api-version=7.6", akvcreds.ErrUnavailable},
		{"Key Vault 301 to plain http", false, true, "redir-vault.vault.azure.net", "/secrets/s01/", 301, "http://redir-vault.vault.azure.net/secrets/s01/", akvcreds.ErrUnavailable},
		{"Key Vault challenge 307", false, false, "redir-vault.vault.azure.net", "/secrets/", 307, "https://evil.example.com/", akvcreds.ErrUnavailable},
		{"Entra ID token 307 to a foreign host", false, false, "login.microsoftonline.com", tokenPath, 307, "https://evil.example.com/token", nil},
		{"Entra ID token 308 to another tenant", false, false, "login.microsoftonline.com", tokenPath, 308, "https://login.microsoftonline.com/00000000-0000-4000-8000-00000000e411/oauth2/v2.0/token", nil},
		{"IMDS 307", true, false, "169.254.169.254", "/metadata/identity/oauth2/token", 307, "http://evil.example.com/metadata/identity/oauth2/token", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, secrets := hardServer(t, "redir-vault", 3)
			hardSecrets(s, "other-vault", 1)
			auth := secretAuth()
			if tt.mi {
				id := "00000000-0000-4000-8000-00000000d1d1"
				s.AddManagedIdentity(akvcredstest.ManagedIdentity{ClientID: id})
				auth = akvcreds.WithUserAssignedIdentity(id)
			}
			var sent safetySent
			hc := sent.client(s)
			followed := false
			hc.CheckRedirect = func(*http.Request, []*http.Request) error {
				followed = true
				return nil // the caller's client would follow
			}
			c := hardClient(t, hc, auth, akvcreds.WithVaults("redir-vault"), akvcreds.WithSecrets(secrets...), akvcreds.WithMaxRetries(1))
			ctx := context.Background()
			if tt.primed {
				if _, err := c.FetchCredential(ctx, "redir-vault/s00"); err != nil {
					t.Fatal(err)
				}
			}
			s.Inject(akvcredstest.Fault{Host: tt.host, Path: tt.path, Status: tt.status, Location: tt.location, Count: 100})
			creds, err := c.FetchCredentials(ctx)
			reports := hardAccounted(t, creds, err, hardWant([]string{"redir-vault"}, secrets))
			if len(reports) == 0 {
				t.Fatalf("a %d redirect did not fail anything: %v", tt.status, names(creds))
			}
			for key, fe := range reports {
				if tt.want != nil && !errors.Is(fe, tt.want) {
					t.Errorf("%s: %v, want %v", key, fe, tt.want)
				}
				if !strings.Contains(fe.Error(), strconv.Itoa(tt.status)) {
					t.Errorf("%s: the report does not give the status %d: %v", key, tt.status, fe)
				}
			}
			if followed {
				t.Errorf("the caller's CheckRedirect was consulted: akvcreds let the client follow a redirect")
			}
			// The Location was never requested, by the client or anywhere.
			target := strings.ToLower(tt.location)
			for _, r := range sent.snapshot() {
				if u := "://" + r.host + r.path; strings.Contains(target, u) && tt.location != "" && r.path != tt.path {
					t.Errorf("the redirect was followed: %s %s%s", r.method, r.host, r.path)
				}
				if r.host == "evil.example.com" || r.host == "other-vault.vault.azure.net" {
					t.Errorf("the redirect was followed: %s %s%s", r.method, r.host, r.path)
				}
			}
			if d := s.RefusedDials(); len(d) > 0 {
				t.Errorf("requests left the emulator's hosts: %v", d)
			}
			if tt.host == "login.microsoftonline.com" {
				if n := s.Count(akvcredstest.KindToken); n != 1 {
					t.Errorf("%d token requests: the client secret was sent again", n)
				}
			}
			if tt.primed {
				safetyTokensStayHome(t, s, sent.snapshot(), "redir-vault.vault.azure.net")
			}
		})
	}

	t.Run("the caller's client is not modified", func(t *testing.T) {
		t.Parallel()
		s := newServer(t)
		hc := s.Client()
		called := false
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { called = true; return nil }
		hardClient(t, hc, secretAuth(), akvcreds.WithVaults("some-vault"))
		if hc.CheckRedirect == nil {
			t.Fatal("New cleared the caller's CheckRedirect")
		}
		_ = hc.CheckRedirect(nil, nil)
		if !called {
			t.Error("New replaced the caller's CheckRedirect")
		}
	})
}

// Vault URLs and secret IDs that lead outside the cloud's Key Vault domain
// are refused before any request: the token (and the challenge that would
// ask for it) never goes there.
func TestSafetyForeignVaultURLsRefused(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	hardSecrets(s, "myvault", 1)
	vaults := []string{
		"https://evil.example.com/",
		"https://myvault.vault.azure.net.evil.example.com/",
		"https://myvault.vault.azure.net@evil.example.com/",
		"https://evil.example.com@myvault.vault.azure.net/",
		"https://myvault.vault.azure.net:443@evil.example.com/",
		"https://evil.example.com/?myvault.vault.azure.net",
		"https://evil.example.com#myvault.vault.azure.net",
		"https://evil.example.com\\myvault.vault.azure.net/",
		"https://evil.example.com\\@myvault.vault.azure.net/",
		"https://myvault%2evault.azure.net/",
		"https://a.myvault.vault.azure.net/",
		"https://myvault.vault.azure.net.cn/",
		"https://myvault.vault.usgovcloudapi.net/",
		"https://myvault.managedhsm.azure.net/",
		"https://169.254.169.254/",
		"https://127.0.0.1/",
		"https://localhost/",
		"https://login.microsoftonline.com/",
		"//myvault.vault.azure.net/",
		"ftp://myvault.vault.azure.net/",
		"file:///etc/passwd",
		"javascript:alert(1)",
		"HTTPS://EVIL.EXAMPLE.COM/",
	}
	for _, v := range vaults {
		if v == "https://myvault.vault.usgovcloudapi.net/" {
			continue // without WithCloud, New takes the cloud of the vault URLs (checked below)
		}
		if _, err := akvcreds.New(secretAuth(), akvcreds.WithHTTPClient(s.Client()), akvcreds.WithVaults(v)); !errors.Is(err, akvcreds.ErrInvalidArgument) {
			t.Errorf("New(WithVaults(%q)) = %v, want ErrInvalidArgument", v, err)
		}
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("myvault"), akvcreds.WithSecrets("s00"))
	ctx := context.Background()
	for _, v := range vaults {
		if _, err := c.FetchCredentials(ctx, akvcreds.FetchNames(v)); !errors.Is(err, akvcreds.ErrInvalidArgument) {
			t.Errorf("FetchNames(%q) = %v, want ErrInvalidArgument", v, err)
		}
	}
	for _, id := range []string{
		"https://evil.example.com/secrets/s00",
		"https://myvault.vault.azure.net.evil.example.com/secrets/s00",
		"https://myvault.vault.azure.net@evil.example.com/secrets/s00",
		"https://myvault.vault.azure.cn/secrets/s00",
		"http://myvault.vault.azure.net/secrets/s00",
		"https://myvault.vault.azure.net:8443/secrets/s00",
		"https://169.254.169.254/secrets/s00",
	} {
		if _, err := c.FetchCredential(ctx, id); !errors.Is(err, akvcreds.ErrInvalidArgument) {
			t.Errorf("FetchCredential(%q) = %v, want ErrInvalidArgument", id, err)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests were made for refused vaults", n)
	}
	// The China cloud refuses the public cloud's hosts, and the reverse.
	for _, tc := range []struct {
		cloud string
		url   string
	}{
		{"china", "https://myvault.vault.azure.net/"},
		{"usgovernment", "https://myvault.vault.azure.cn/"},
		{"public", "https://myvault.vault.usgovcloudapi.net/"},
	} {
		if _, err := akvcreds.New(secretAuth(), akvcreds.WithCloud(tc.cloud), akvcreds.WithVaults(tc.url)); !errors.Is(err, akvcreds.ErrInvalidArgument) {
			t.Errorf("New(WithCloud(%q), WithVaults(%q)) = %v, want ErrInvalidArgument", tc.cloud, tc.url, err)
		}
	}
	// Without WithCloud, the vaults' URLs choose it: all of one cloud.
	if _, err := akvcreds.New(secretAuth(), akvcreds.WithVaults("https://myvault.vault.azure.net/", "https://other.vault.usgovcloudapi.net/")); !errors.Is(err, akvcreds.ErrInvalidArgument) {
		t.Errorf("New(WithVaults(a public and a US Government vault)) = %v, want ErrInvalidArgument", err)
	}
}

// akvcreds installs no listener for the Azure SDK's logging, which is
// process-global (azcore/log.SetListener): a listener the program set
// stays in place and keeps receiving the SDK's events through New and
// fetches, and those events show no secret value, client secret or token.
// Not parallel: it sets the process-global listener.
func TestSafetySDKLogListenerLeftAlone(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
	)
	azlog.SetListener(func(ev azlog.Event, msg string) {
		mu.Lock()
		events = append(events, string(ev)+": "+msg)
		mu.Unlock()
	})
	t.Cleanup(func() { azlog.SetListener(nil) })

	s := newServer(t)
	const value = "sdk-log-SECRET-value-never-logged"
	s.SetSecret("sdklog-vault", "db-password", value)
	s.Inject(akvcredstest.Fault{Host: "sdklog-vault.vault.azure.net", Path: "/secrets/db-password/", Status: 503}) // a retry event
	var sent safetySent
	c := hardClient(t, sent.client(s), secretAuth(), akvcreds.WithVaults("sdklog-vault"), akvcreds.WithSecrets("db-password"))
	creds, err := c.FetchCredentials(context.Background())
	if err != nil || len(creds) != 1 {
		t.Fatalf("FetchCredentials: %d credentials, %v", len(creds), err)
	}

	mu.Lock()
	got := append([]string(nil), events...)
	mu.Unlock()
	seen := 0
	for _, e := range got {
		if strings.Contains(e, "sdklog-vault.vault.azure.net") {
			seen++
		}
	}
	if seen == 0 {
		t.Fatalf("the program's listener received no event for the fetch (%d events in all): akvcreds replaced or removed it", len(got))
	}
	var tokens []string
	for _, r := range sent.snapshot() {
		if _, tok, ok := strings.Cut(r.auth, " "); ok && tok != "" {
			tokens = append(tokens, tok)
		}
	}
	if len(tokens) == 0 {
		t.Fatal("no token was issued: the check proves nothing")
	}
	all := strings.Join(got, "\n")
	for _, secret := range append([]string{value, akvcredstest.DefaultClientSecret}, tokens...) {
		if strings.Contains(all, secret) {
			t.Errorf("the SDK's log shows a secret (%.12s...)", secret)
		}
	}
}

// No package of the module imports azcore/log (outside tests): nothing in
// akvcreds can install or change the SDK's process-global log listener.
func TestSafetyNoPackageImportsSDKLog(t *testing.T) {
	t.Parallel()
	const banned = "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == banned {
				t.Errorf("%s imports %s", path, banned)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("only %d Go files checked: wrong directory?", checked)
	}
}
