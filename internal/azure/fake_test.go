package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// The fake vault every Key Vault test talks to.
const (
	testVaultURL  = "https://myvault.vault.azure.net/"
	testVaultHost = "myvault.vault.azure.net"
	testTenant    = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testVersion   = "0123456789abcdef0123456789abcdef"
	testToken     = "eyJ0eXAiOiJKV1QifQ.TEST-BEARER-TOKEN.c2ln"
	// goodChallenge is Key Vault's authentication challenge.
	goodChallenge = `Bearer authorization="https://login.microsoftonline.com/` + testTenant + `", resource="https://vault.azure.net"`
)

// staticCredential hands out testToken, valid for an hour.
type staticCredential struct{}

func (staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: testToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// credentialFunc is a token credential from a function.
type credentialFunc func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)

func (f credentialFunc) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return f(ctx, o)
}

// reply builds the response to r.
func reply(r *http.Request, status int, body string, kv ...string) *http.Response {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// fakeKV plays Key Vault behind an *http.Client: a request without a token
// gets the challenge, an authenticated one serve's answer. It counts the
// authenticated requests.
type fakeKV struct {
	challenge string // "" means goodChallenge
	serve     func(r *http.Request) *http.Response
	requests  atomic.Int32

	mu   sync.Mutex
	urls []string // authenticated requests, in order
}

// client returns the *http.Client that reaches the fake.
func (f *fakeKV) client() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Hostname() != testVaultHost && !strings.HasSuffix(r.URL.Hostname(), ".vault.azure.net") {
			return nil, fmt.Errorf("fakeKV: refusing to dial %s", r.URL.Host)
		}
		if r.Header.Get("Authorization") == "" {
			c := f.challenge
			if c == "" {
				c = goodChallenge
			}
			return reply(r, http.StatusUnauthorized, `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."}}`,
				"WWW-Authenticate", c), nil
		}
		f.requests.Add(1)
		f.mu.Lock()
		f.urls = append(f.urls, r.URL.String())
		f.mu.Unlock()
		return f.serve(r), nil
	})}
}

// vault returns a Vault on the fake, without retries.
func (f *fakeKV) vault(t testing.TB) *Vault {
	t.Helper()
	return f.vaultWith(t, staticCredential{}, VaultOptions{})
}

// vaultWith returns a Vault on the fake that authenticates with cred, with
// o's settings (its HTTPClient is the fake's).
func (f *fakeKV) vaultWith(t testing.TB, cred azcore.TokenCredential, o VaultOptions) *Vault {
	t.Helper()
	o.HTTPClient = f.client()
	v, err := NewVault(testVaultURL, cred, o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// bundle is a secret bundle answering a GET of name.
func bundle(name, value string) string {
	return fmt.Sprintf(`{"value":%q,"id":"https://myvault.vault.azure.net/secrets/%s/%s","attributes":{"enabled":true,"created":1700000000,"updated":1700000001,"recoveryLevel":"Recoverable+Purgeable"},"tags":{"env":"prod"}}`,
		value, name, testVersion)
}

// wantKind fails t unless err is an *Error of kind k (and, when op is not
// "", of that Op).
func wantKind(t testing.TB, err error, k Kind, op string) *Error {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want an *Error of %v", err, err, k)
	}
	if ae.Kind != k {
		t.Fatalf("kind %v (%s), want %v", ae.Kind, ae.Detail, k)
	}
	if op != "" && ae.Op != op {
		t.Errorf("Op %q, want %q", ae.Op, op)
	}
	return ae
}

// endless is a body that never ends, counting what was read of it.
type endless struct{ n atomic.Int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n.Add(int64(len(p)))
	return len(p), nil
}

func (e *endless) Close() error { return nil }
