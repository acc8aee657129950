package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/akvcreds/akvcreds/internal/cloud"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// vaultScope is what the vault's challenge asks a token for.
var vaultScope = policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}

// fakeEntra plays Entra ID (instance discovery, OpenID configuration, the
// token endpoint) and IMDS behind an *http.Client; token answers token
// requests, imds answers IMDS.
type fakeEntra struct {
	token  func(r *http.Request) *http.Response
	imds   func(r *http.Request) *http.Response
	tokens atomic.Int32 // token and IMDS requests
}

// testIMDS is the IMDS endpoint the tests configure: never 169.254.169.254.
const testIMDS = "http://imds.test/metadata/identity/oauth2/token"

func (f *fakeEntra) client() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		switch {
		case r.URL.Host == "imds.test":
			f.tokens.Add(1)
			return f.imds(r), nil
		case r.URL.Host != "login.microsoftonline.com":
			return nil, fmt.Errorf("fakeEntra: refusing to dial %s", r.URL.Host)
		case strings.HasSuffix(r.URL.Path, "/discovery/instance"):
			return reply(r, http.StatusOK, `{"tenant_discovery_endpoint":"https://login.microsoftonline.com/`+testTenant+`/v2.0/.well-known/openid-configuration","api-version":"1.1",`+
				`"metadata":[{"preferred_network":"login.microsoftonline.com","preferred_cache":"login.windows.net","aliases":["login.microsoftonline.com","login.windows.net"]}]}`), nil
		case strings.HasSuffix(r.URL.Path, "/openid-configuration"):
			base := "https://login.microsoftonline.com/" + testTenant
			return reply(r, http.StatusOK, `{"token_endpoint":"`+base+`/oauth2/v2.0/token","authorization_endpoint":"`+base+`/oauth2/v2.0/authorize","issuer":"`+base+`/v2.0"}`), nil
		case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
			f.tokens.Add(1)
			return f.token(r), nil
		}
		return reply(r, http.StatusNotFound, `{}`), nil
	})}
}

// entraToken is a token response with expires_in in.
func entraToken(token string, in int) string {
	return fmt.Sprintf(`{"token_type":"Bearer","expires_in":%d,"ext_expires_in":%d,"access_token":%q}`, in, in, token)
}

// secretCredential is the client-secret credential of credentialConfigs,
// asking f for its tokens.
func secretCredential(t *testing.T, f *fakeEntra) azcore.TokenCredential {
	t.Helper()
	cred, err := NewCredential(credentialConfigs(t)[AuthClientSecret], CredentialOptions{Cloud: cloud.Public(), HTTPClient: f.client()})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// customCredential is the credential NewCredential builds over a caller's fn.
func customCredential(t testing.TB, fn credentialFunc) azcore.TokenCredential {
	t.Helper()
	cred, err := NewCredential(AuthConfig{Kind: AuthCustom, Credential: fn}, CredentialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// wantTokenError asks cred for a vault token and fails t unless that fails
// as kind k, from auth, with detail in the error's Detail.
func wantTokenError(t *testing.T, cred azcore.TokenCredential, k Kind, auth AuthKind, detail string) {
	t.Helper()
	_, err := cred.GetToken(context.Background(), vaultScope)
	if ae := wantKind(t, err, k, "token"); ae.Auth != auth || !strings.Contains(ae.Detail, detail) {
		t.Errorf("Auth %v Detail %q, want %v and %q", ae.Auth, ae.Detail, auth, detail)
	}
}

// credentialConfigs returns one configuration of each mode that talks to
// fakeEntra (the certificate, workload and environment ones included).
func credentialConfigs(t *testing.T) map[AuthKind]AuthConfig {
	t.Helper()
	cert, err := LoadCertificate(testutil.LegacyPFX(), testutil.PFXPassword, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	testutil.ReplaceFile(t, tokenFile, []byte(jwtA))
	return map[AuthKind]AuthConfig{
		AuthClientSecret:     {Kind: AuthClientSecret, TenantID: testTenant, ClientID: envClient, ClientSecret: "client-secret-never-shown"},
		AuthCertificate:      {Kind: AuthCertificate, TenantID: testTenant, ClientID: envClient, Certificate: cert},
		AuthWorkloadIdentity: {Kind: AuthWorkloadIdentity, TenantID: testTenant, ClientID: envClient, TokenFile: tokenFile},
		AuthSystemIdentity:   {Kind: AuthSystemIdentity},
		AuthUserIdentity:     {Kind: AuthUserIdentity, ClientID: envClient},
		AuthEnvironment: {Kind: AuthEnvironment, Prepare: func() (AuthConfig, error) {
			return FromEnvironment(testutil.Getenv(map[string]string{EnvTenantID: testTenant, EnvClientID: envClient, EnvClientSecret: "client-secret-never-shown"}), time.Now())
		}},
	}
}

// TestErrorAuth: a token failure carries the mode of the credential that
// produced it as a field (issue 13 item 3), the environment's resolved mode
// included; the human Detail stays.
func TestErrorAuth(t *testing.T) {
	t.Parallel()
	want := map[AuthKind]struct {
		auth   AuthKind
		detail string
	}{
		AuthClientSecret:     {AuthClientSecret, "getting a token for client ID " + envClient + " in tenant " + testTenant + ": "},
		AuthCertificate:      {AuthCertificate, "with certificate " + testutil.PFXThumbprint},
		AuthWorkloadIdentity: {AuthWorkloadIdentity, "with the federated token in "},
		AuthSystemIdentity:   {AuthSystemIdentity, "system-assigned managed identity"},
		AuthUserIdentity:     {AuthUserIdentity, "user-assigned managed identity with client ID " + envClient},
		AuthEnvironment:      {AuthClientSecret, "getting a token for client ID " + envClient},
	}
	for kind, cfg := range credentialConfigs(t) {
		t.Run(fmt.Sprint(kind), func(t *testing.T) {
			t.Parallel()
			f := &fakeEntra{
				token: func(r *http.Request) *http.Response {
					return reply(r, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}`)
				},
				imds: func(r *http.Request) *http.Response {
					return reply(r, http.StatusBadRequest, `{"error":"invalid_request","error_description":"Identity not found"}`)
				},
			}
			cred, err := NewCredential(cfg, CredentialOptions{Cloud: cloud.Public(), HTTPClient: f.client(), IMDSEndpoint: testIMDS})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(context.Background(), vaultScope)
			ae := wantKind(t, err, KindUnauthenticated, "token")
			w := want[kind]
			if ae.Auth != w.auth {
				t.Errorf("Auth %v, want %v", ae.Auth, w.auth)
			}
			if !strings.Contains(ae.Detail, w.detail) {
				t.Errorf("Detail %q lacks %q", ae.Detail, w.detail)
			}
			if strings.Contains(fmt.Sprintf("%v %+v %#v", ae, ae, ae), "client-secret-never-shown") {
				t.Fatal("the error shows the client secret")
			}
		})
	}
	t.Run("wrong tenant", func(t *testing.T) {
		t.Parallel()
		cred := secretCredential(t, &fakeEntra{})
		_, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: vaultScope.Scopes, TenantID: "11111111-1111-1111-1111-111111111111"})
		if ae := wantKind(t, err, KindUnauthenticated, "token"); ae.Code != "WrongTenant" || ae.Auth != AuthClientSecret {
			t.Errorf("Code %q Auth %v", ae.Code, ae.Auth)
		}
	})
	t.Run("custom", func(t *testing.T) {
		t.Parallel()
		cred := customCredential(t, func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
			return azcore.AccessToken{}, fmt.Errorf("no token today")
		})
		wantTokenError(t, cred, KindUnauthenticated, AuthCustom, "the supplied token credential")
	})
}

// TestTokenRefused: tokens that are already expired, empty or longer than
// MaxTokenLength are refused as KindUnauthenticated, from a caller's
// credential (issue 18 #13, #14).
func TestTokenRefused(t *testing.T) {
	t.Parallel()
	if MaxTokenLength != 64<<10 {
		t.Errorf("MaxTokenLength = %d", MaxTokenLength)
	}
	hour := time.Now().Add(time.Hour)
	for _, tt := range []struct {
		name   string
		tk     azcore.AccessToken
		detail string // "" means accepted
	}{
		{"valid", azcore.AccessToken{Token: testToken, ExpiresOn: hour}, ""},
		{"at the length limit", azcore.AccessToken{Token: strings.Repeat("t", MaxTokenLength), ExpiresOn: hour}, ""},
		{"expired", azcore.AccessToken{Token: testToken, ExpiresOn: time.Now().Add(-time.Minute)}, "already expired"},
		{"no expiry", azcore.AccessToken{Token: testToken}, "already expired"},
		{"empty", azcore.AccessToken{ExpiresOn: hour}, "empty"},
		{"too long", azcore.AccessToken{Token: strings.Repeat("t", MaxTokenLength+1), ExpiresOn: hour}, "longer than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cred := customCredential(t, func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
				return tt.tk, nil
			})
			tk, err := cred.GetToken(context.Background(), vaultScope)
			if tt.detail == "" {
				if err != nil || tk.Token != tt.tk.Token {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			ae := wantKind(t, err, KindUnauthenticated, "token")
			if !strings.Contains(ae.Detail, tt.detail) || ae.Auth != AuthCustom {
				t.Errorf("Detail %q (want %q), Auth %v", ae.Detail, tt.detail, ae.Auth)
			}
			if tk.Token != "" {
				t.Error("a refused token was returned")
			}
			if tt.tk.Token != "" && strings.Contains(ae.Error(), tt.tk.Token[:20]) {
				t.Error("the error shows the token")
			}
		})
	}
}

// TestEntraExpiredToken: Entra ID answering expires_in <= 0 is refused
// (issue 18 #14).
func TestEntraExpiredToken(t *testing.T) {
	t.Parallel()
	for _, in := range []int{0, -5, -3600} {
		t.Run(fmt.Sprint(in), func(t *testing.T) {
			t.Parallel()
			f := &fakeEntra{token: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, entraToken(testToken, in)) }}
			wantTokenError(t, secretCredential(t, f), KindUnauthenticated, AuthClientSecret, "already expired")
		})
	}
}

// TestEntraLongToken: a token over MaxTokenLength in an answer under the
// body limit is refused, never sent as a header (issue 18 #13).
func TestEntraLongToken(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("A", 100<<10)
	f := &fakeEntra{token: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, entraToken(long, 3599)) }}
	wantTokenError(t, secretCredential(t, f), KindUnauthenticated, AuthClientSecret, "longer than")
}

// TestBodyLimit: answers over MaxBodySize from Key Vault, Entra ID and IMDS,
// endless ones included, fail as KindMalformed once the limit is read,
// without waiting for a timeout (issue 18 #13).
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	if MaxBodySize != 1<<20 {
		t.Errorf("MaxBodySize = %d", MaxBodySize)
	}
	endlessReply := func(e *endless, status int) func(r *http.Request) *http.Response {
		return func(r *http.Request) *http.Response {
			res := reply(r, status, "")
			res.Body, res.ContentLength = e, -1
			return res
		}
	}
	checkRead := func(t *testing.T, e *endless) {
		t.Helper()
		if n := e.n.Load(); n > MaxBodySize+64<<10 {
			t.Errorf("read %d bytes of an endless body", n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)

	for _, tt := range []struct {
		name   string
		status int
		list   bool
	}{{"get 200", 200, false}, {"get 404", 404, false}, {"get 503", 503, false}, {"list 200", 200, true}} {
		t.Run("vault "+tt.name, func(t *testing.T) {
			t.Parallel()
			e := &endless{}
			f := &fakeKV{serve: endlessReply(e, tt.status)}
			v := f.vaultWith(t, staticCredential{}, VaultOptions{MaxRetries: 3, RetryDelay: time.Millisecond, TryTimeout: time.Hour})
			op := "get"
			var err error
			if tt.list {
				op = "list"
				_, err = v.Lister().Next(ctx)
			} else {
				_, err = v.Get(ctx, "db", "")
			}
			ae := wantKind(t, err, KindMalformed, op)
			if ae.Detail != "the answer is larger than 1 MiB" || ae.Code != "BodyTooLarge" {
				t.Errorf("Code %q Detail %q", ae.Code, ae.Detail)
			}
			checkRead(t, e)
			if n := f.requests.Load(); n != 1 {
				t.Errorf("%d requests: an oversized answer was retried", n)
			}
		})
	}
	t.Run("vault at and over the limit", func(t *testing.T) {
		t.Parallel()
		for _, size := range []int{MaxBodySize, MaxBodySize + 1} {
			b := bundle("db", "pw")
			body := b + strings.Repeat(" ", size-len(b))
			f := &fakeKV{serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, body) }}
			_, err := f.vault(t).Get(ctx, "db", "")
			if size == MaxBodySize && err != nil {
				t.Errorf("a %d-byte answer: %v", size, err)
			}
			if size > MaxBodySize {
				wantKind(t, err, KindMalformed, "get")
			}
		}
	})
	t.Run("vault content length over the limit", func(t *testing.T) {
		t.Parallel()
		e := &endless{}
		f := &fakeKV{serve: func(r *http.Request) *http.Response {
			res := endlessReply(e, 200)(r)
			res.ContentLength = 1 << 30
			return res
		}}
		_, err := f.vault(t).Get(ctx, "db", "")
		wantKind(t, err, KindMalformed, "get")
		checkRead(t, e)
	})
	for _, kind := range []AuthKind{AuthClientSecret, AuthSystemIdentity} {
		t.Run(fmt.Sprint("token ", kind), func(t *testing.T) {
			t.Parallel()
			e := &endless{}
			f := &fakeEntra{token: endlessReply(e, 200), imds: endlessReply(e, 200)}
			cred, err := NewCredential(credentialConfigs(t)[kind], CredentialOptions{Cloud: cloud.Public(), HTTPClient: f.client(), IMDSEndpoint: testIMDS, MaxRetries: 3})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(ctx, vaultScope)
			ae := wantKind(t, err, KindMalformed, "token")
			if !strings.Contains(ae.Detail, "larger than 1 MiB") || ae.Auth != kind {
				t.Errorf("Detail %q Auth %v", ae.Detail, ae.Auth)
			}
			checkRead(t, e)
			if n := f.tokens.Load(); n != 1 {
				t.Errorf("%d token requests: an oversized answer was retried", n)
			}
		})
	}
}

// imdsFor returns an IMDS credential on answer, with short timings.
func imdsFor(answer func(r *http.Request) (*http.Response, error)) *imdsCredential {
	c := newIMDSCredential(&http.Client{Transport: roundTripFunc(answer)}, testIMDS, "")
	c.tryTimeout = 30 * time.Millisecond
	c.firstBackoff = time.Millisecond
	return c
}

// TestIMDSExpiredToken: IMDS handing out a token whose expires_on is past is
// refused, not cached and fetched again for every request (issue 18 #14).
func TestIMDSExpiredToken(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		fmt.Sprintf(`{"access_token":"tok","expires_in":"3599","expires_on":"%d","resource":"https://vault.azure.net","token_type":"Bearer"}`, time.Now().Add(-time.Hour).Unix()),
		`{"access_token":"tok","expires_in":"-5","token_type":"Bearer"}`,
		`{"access_token":"tok","expires_in":"0","token_type":"Bearer"}`,
	} {
		var n atomic.Int32
		c := imdsFor(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return reply(r, http.StatusOK, body), nil
		})
		_, err := c.GetToken(context.Background(), vaultScope)
		ae := wantKind(t, err, KindUnauthenticated, "token")
		if !strings.Contains(ae.Detail, "expired") {
			t.Errorf("%s: Detail %q", body, ae.Detail)
		}
		if n.Load() != 1 {
			t.Errorf("%s: %d requests, want 1 (not retried)", body, n.Load())
		}
	}
}

// TestIMDSHangs: an IMDS that accepts the connection and never answers is
// KindUnavailable after the documented tries, each bounded by the per-try
// timeout; a context error only when the caller's context ended (issue 18
// #3).
func TestIMDSHangs(t *testing.T) {
	t.Parallel()
	if worst := imdsWorstCase(); worst > 45*time.Second {
		t.Errorf("IMDS worst case %v does not fit well inside the vault's 60 s try", worst)
	}
	if imdsTryTimeout != 10*time.Second {
		t.Errorf("imdsTryTimeout = %v", imdsTryTimeout)
	}
	var n atomic.Int32
	hang := func(r *http.Request) (*http.Response, error) {
		n.Add(1)
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	c := imdsFor(hang)
	_, err := c.GetToken(context.Background(), vaultScope)
	ae := wantKind(t, err, KindUnavailable, "token")
	if !strings.Contains(ae.Detail, "did not answer within 30ms") {
		t.Errorf("Detail %q", ae.Detail)
	}
	if n.Load() != imdsAttempts {
		t.Errorf("%d tries, want %d", n.Load(), imdsAttempts)
	}
	if d := newIMDSCredential(nil, "", "").tryTimeout; d != imdsTryTimeout {
		t.Errorf("default per-try timeout %v", d)
	}
	// The Detail of the real timeout.
	if got := imdsTimeoutDetail(imdsTryTimeout); got != "the managed identity endpoint did not answer within 10 s" {
		t.Errorf("detail %q", got)
	}

	// The caller's own deadline: its context error, promptly.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	c = imdsFor(hang)
	c.tryTimeout = time.Hour
	start := time.Now()
	_, err = c.GetToken(ctx, vaultScope)
	if err != context.DeadlineExceeded {
		t.Errorf("%v, want the caller's context.DeadlineExceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}

	// A body that stops mid-way is the same per-try timeout.
	c = imdsFor(func(r *http.Request) (*http.Response, error) {
		res := reply(r, http.StatusOK, "")
		res.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"access_token":`), ctxReader{r.Context()}))
		res.ContentLength = -1
		return res, nil
	})
	_, err = c.GetToken(context.Background(), vaultScope)
	wantKind(t, err, KindUnavailable, "token")
}

// ctxReader blocks until ctx ends.
type ctxReader struct{ ctx context.Context }

func (r ctxReader) Read([]byte) (int, error) {
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

// TestTokenTimeout: a credential that never answers is bounded by the
// guard's token timeout, as KindUnavailable (issue 18 #3).
func TestTokenTimeout(t *testing.T) {
	t.Parallel()
	if tokenTimeout >= 60*time.Second || tokenTimeout <= imdsWorstCase() {
		t.Errorf("tokenTimeout %v must lie between the IMDS worst case %v and the vault's 60 s try", tokenTimeout, imdsWorstCase())
	}
	cred := customCredential(t, func(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
		<-ctx.Done()
		return azcore.AccessToken{}, ctx.Err()
	})
	g := cred.(*guardedCredential)
	g.timeout = 20 * time.Millisecond
	wantTokenError(t, g, KindUnavailable, AuthCustom, "did not return a token within")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.timeout = time.Hour
	_, err := g.GetToken(ctx, vaultScope)
	wantKind(t, err, KindCanceled, "token")
}

// TestCredentialPanics: a credential that panics fails the token request
// instead of crashing (and of wedging the SDK's token cache).
func TestCredentialPanics(t *testing.T) {
	t.Parallel()
	cred := customCredential(t, func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
		var a []int
		_ = a[3]
		return azcore.AccessToken{}, nil
	})
	wantTokenError(t, cred, KindMalformed, AuthCustom, "panic")
}

// TestEntraHangsInsideTry: Entra ID never answering within the vault's
// per-try timeout is KindUnavailable for the vault call, although azidentity
// keeps only the text of the context's error (issue 18 #3).
func TestEntraHangsInsideTry(t *testing.T) {
	t.Parallel()
	f := &fakeEntra{token: func(r *http.Request) *http.Response {
		<-r.Context().Done()
		res := reply(r, http.StatusOK, "")
		res.Body = io.NopCloser(ctxReader{r.Context()})
		return res
	}}
	cred := secretCredential(t, f)
	kv := &fakeKV{serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, bundle("db", "pw")) }}
	v := kv.vaultWith(t, cred, VaultOptions{TryTimeout: 200 * time.Millisecond})
	_, err := v.Get(context.Background(), "db", "")
	ae := wantKind(t, err, KindUnavailable, "token")
	if ae.Auth != AuthClientSecret || !strings.Contains(ae.Detail, "per-try timeout") || !strings.Contains(ae.Detail, "client ID "+envClient) {
		t.Errorf("Auth %v Detail %q", ae.Auth, ae.Detail)
	}

	// The caller's own cancellation stays a cancellation.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	v = kv.vaultWith(t, cred, VaultOptions{TryTimeout: time.Hour})
	_, err = v.Get(ctx, "db", "")
	wantKind(t, err, KindCanceled, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap the caller's context error", err)
	}
}
