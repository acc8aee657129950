package entra

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/internal/testutil"
)

const (
	tenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	audience = "api://webhook"
	login    = "https://login.microsoftonline.com/"
)

// fakeEntra answers the OpenID configuration and the key set from memory;
// no request leaves the process.
type fakeEntra struct {
	mu      sync.Mutex
	jwksURI string
	keys    []map[string]any
	status  int
	body    []byte // when set, the key set's raw body
	gets    map[string]int
}

func (f *fakeEntra) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets[r.URL.Path]++
	var b []byte
	status := http.StatusOK
	switch {
	case r.URL.Host != "login.microsoftonline.com":
		return nil, errors.New("unexpected host " + r.URL.Host)
	case strings.HasSuffix(r.URL.Path, "/v2.0/.well-known/openid-configuration"):
		b, _ = json.Marshal(map[string]string{"jwks_uri": f.jwksURI, "issuer": login + tenant + "/v2.0"})
	default:
		b, _ = json.Marshal(map[string]any{"keys": f.keys})
		if f.body != nil {
			b = f.body
		}
		if f.status != 0 {
			status = f.status
		}
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Body: io.NopCloser(bytes.NewReader(b)), Header: http.Header{}, Request: r}, nil
}

func jwkOf(kid string, k *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "use": "sig", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
}

func newFake(keys ...map[string]any) *fakeEntra {
	return &fakeEntra{jwksURI: login + tenant + "/discovery/v2.0/keys", keys: keys, gets: map[string]int{}}
}

func validator(f *fakeEntra, clock *testutil.Clock) *Validator {
	return New(Config{HTTPClient: &http.Client{Transport: f}, LoginHost: login, STSHost: "https://sts.windows.net/",
		TenantID: tenant, Audience: audience, Now: clock.Now})
}

func sign(t *testing.T, kid string, k *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func claimsAt(now time.Time) map[string]any {
	return map[string]any{"iss": "https://sts.windows.net/" + tenant + "/", "aud": audience,
		"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix(), "roles": []string{Role}}
}

// A key Entra rolls over to is picked up on its first token, once the
// refetch window allows; until then the old keys stay in use.
func TestKeyRollover(t *testing.T) {
	t.Parallel()
	k1, k2 := testutil.RSAKey(0), testutil.RSAKey(1)
	f := newFake(jwkOf("k1", &k1.PublicKey))
	clock := testutil.NewClock(time.Now())
	v := validator(f, clock)
	ctx := context.Background()
	if err := v.Validate(ctx, sign(t, "k1", k1, claimsAt(clock.Now()))); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.keys = append(f.keys, jwkOf("k2", &k2.PublicKey))
	f.mu.Unlock()
	if err := v.Validate(ctx, sign(t, "k2", k2, claimsAt(clock.Now()))); !errors.Is(err, ErrInvalid) {
		t.Errorf("k2 before the refetch window: %v", err)
	}
	clock.Advance(RefreshEvery)
	if err := v.Validate(ctx, sign(t, "k2", k2, claimsAt(clock.Now()))); err != nil {
		t.Errorf("k2 after the window: %v", err)
	}
	if err := v.Validate(ctx, sign(t, "k1", k1, claimsAt(clock.Now()))); err != nil {
		t.Errorf("k1 still published: %v", err)
	}
	if n := f.gets["/"+tenant+"/discovery/v2.0/keys"]; n != 2 {
		t.Errorf("the key set was fetched %d times, want 2", n)
	}
}

// The key set is fetched only from the login host, bounded, and must hold
// an RSA signing key; every failure is ErrKeys and never a panic.
func TestKeySetFailures(t *testing.T) {
	t.Parallel()
	k := testutil.RSAKey(0)
	tests := []struct {
		name  string
		setup func(f *fakeEntra)
	}{
		{"jwks_uri on another host", func(f *fakeEntra) { f.jwksURI = "https://evil.example.com/keys" }},
		{"jwks_uri over http", func(f *fakeEntra) { f.jwksURI = "http://login.microsoftonline.com/" + tenant + "/discovery/v2.0/keys" }},
		{"500", func(f *fakeEntra) { f.status = http.StatusInternalServerError }},
		{"not JSON", func(f *fakeEntra) { f.body = []byte("<html>") }},
		{"too large", func(f *fakeEntra) { f.body = bytes.Repeat([]byte(" "), maxDocument+1) }},
		{"no keys", func(f *fakeEntra) { f.keys = nil }},
		{"weak key", func(f *fakeEntra) { f.keys = []map[string]any{jwkOf("k1", &testutil.WeakRSAKey().PublicKey)} }},
		{"even exponent", func(f *fakeEntra) {
			j := jwkOf("k1", &k.PublicKey)
			j["e"] = base64.RawURLEncoding.EncodeToString([]byte{2})
			f.keys = []map[string]any{j}
		}},
		{"EC key", func(f *fakeEntra) {
			f.keys = []map[string]any{{"kty": "EC", "kid": "k1", "crv": "P-256", "x": "AA", "y": "AA"}}
		}},
		{"encryption key", func(f *fakeEntra) { j := jwkOf("k1", &k.PublicKey); j["use"] = "enc"; f.keys = []map[string]any{j} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(jwkOf("k1", &k.PublicKey))
			tt.setup(f)
			clock := testutil.NewClock(time.Now())
			err := validator(f, clock).Validate(context.Background(), sign(t, "k1", k, claimsAt(clock.Now())))
			if !errors.Is(err, ErrKeys) {
				t.Errorf("got %v, want ErrKeys", err)
			}
		})
	}
}

func TestCheckTenantID(t *testing.T) {
	t.Parallel()
	for s, ok := range map[string]bool{
		tenant: true, strings.ToUpper(tenant): true, "contoso.onmicrosoft.com": false, "": false,
		"72f988bf-86f1-41af-91ab-2d7cd011db4": false, "72f988bf-86f1-41af-91ab-2d7cd011db4g": false, "72f988bf086f1-41af-91ab-2d7cd011db47": false,
	} {
		if err := CheckTenantID(s); (err == nil) != ok {
			t.Errorf("CheckTenantID(%q) = %v", s, err)
		}
	}
}

// FuzzValidate: no token makes Validate panic or succeed without the key.
func FuzzValidate(f *testing.F) {
	k := testutil.RSAKey(0)
	fe := newFake(jwkOf("k1", &k.PublicKey))
	clock := testutil.NewClock(time.Now())
	v := validator(fe, clock)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.AAAA")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		if err := v.Validate(context.Background(), tok); err == nil {
			t.Errorf("a fuzzed token validated: %q", tok)
		}
	})
}
