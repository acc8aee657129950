package akvcreds_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// The Event Grid receiver's tests call Client.ServeHTTP directly with
// httptest requests (no socket at all); the reads the events cause go to
// the emulator. Entra tokens are minted here with test RSA keys, published
// as the tenant's key set by a transport hook in front of the emulator
// (whose Entra ID serves the OpenID configuration naming that key set).

// egSecret is the shared secret of the tests' receivers.
const egSecret = "eg-SHARED-secret-never-printed-0123"

// egAudience is the webhook application's ID URI in Entra tests.
const egAudience = "api://akvcreds-webhook"

// egKid is the key ID of the published test key.
const egKid = "test-key-1"

// sharedAuth is the Authorization header of the shared-secret mode.
func sharedAuth() http.Header {
	return http.Header{"Authorization": {"Bearer " + egSecret}}
}

// bearer is the Authorization header of a token.
func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// serve sends one request to c's receiver and returns the answer.
func serve(c *akvcreds.Client, method string, h http.Header, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://app.example.com/events", strings.NewReader(body))
	for k, vs := range h {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	return w
}

// kvTopic is the Event Grid topic (CloudEvents source) of a vault.
func kvTopic(vault string) string {
	return "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/" + vault
}

// kvEvent is one Key Vault event for vault/secret in the Event Grid schema
// (cloud false) or CloudEvents 1.0, with data spelt as Azure's
// documentation shows it (PascalCase).
func kvEvent(cloud bool, typ, vault, secret string) map[string]any {
	data := map[string]any{
		"Id":         "https://" + vault + ".vault.azure.net/secrets/" + secret + "/ee059b2bb5bc48398a53b168c6cdcb10",
		"VaultName":  vault,
		"ObjectType": "Secret",
		"ObjectName": secret,
		"Version":    "ee059b2bb5bc48398a53b168c6cdcb10",
		"NBF":        nil,
		"EXP":        nil,
	}
	if secret == "" {
		data = map[string]any{"Id": "https://" + vault + ".vault.azure.net/", "VaultName": vault, "ObjectType": "Vault", "ObjectName": vault}
	}
	id := fmt.Sprintf("%x", sha256.Sum256([]byte(typ+vault+secret+time.Now().String())))[:32]
	if cloud {
		return map[string]any{"id": id, "source": kvTopic(vault), "subject": secret, "type": typ,
			"time": "2026-11-30T01:08:33.1036736Z", "data": data, "specversion": "1.0"}
	}
	return map[string]any{"id": id, "topic": kvTopic(vault), "subject": secret, "eventType": typ,
		"eventTime": "2026-11-30T01:08:33.1036736Z", "data": data, "dataVersion": "1", "metadataVersion": "1"}
}

const newVersion = "Microsoft.KeyVault.SecretNewVersionCreated"

// events encodes events as a delivery body (a JSON array).
func events(evs ...map[string]any) string {
	b, _ := json.Marshal(evs)
	return string(b)
}

// notify delivers events for vault/secret in the Event Grid schema and
// checks the 200.
func notify(t testing.TB, c *akvcreds.Client, evs ...map[string]any) {
	t.Helper()
	h := sharedAuth()
	h.Set("aeg-event-type", "Notification")
	h.Set("Content-Type", "application/json")
	if w := serve(c, http.MethodPost, h, events(evs...)); w.Code != http.StatusOK {
		t.Fatalf("delivery: %d %s", w.Code, w.Body)
	}
}

// egClient is a Client of s watching vault "watched" with a shared-secret
// receiver.
func egClient(t testing.TB, s *akvcredstest.Server, cfg akvcreds.EventGrid, opts ...akvcreds.Option) *akvcreds.Client {
	t.Helper()
	if cfg.SharedSecret == "" && cfg.TenantID == "" {
		cfg.SharedSecret = egSecret
	}
	return newClient(t, s, append([]akvcreds.Option{secretAuth(), akvcreds.WithVaults("watched"), akvcreds.WithEventGrid(cfg)}, opts...)...)
}

func TestEventGridOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  akvcreds.EventGrid
		want []string // parts of the error; none: valid
	}{
		{"shared secret", akvcreds.EventGrid{SharedSecret: egSecret}, nil},
		{"entra", akvcreds.EventGrid{TenantID: akvcredstest.DefaultTenantID, Audience: egAudience, MaxReadsPerSecond: 0.5, MaxPending: 10}, nil},
		{"none", akvcreds.EventGrid{}, []string{"WithEventGrid", "no authentication"}},
		{"both", akvcreds.EventGrid{SharedSecret: egSecret, TenantID: akvcredstest.DefaultTenantID, Audience: egAudience}, []string{"not both"}},
		{"no audience", akvcreds.EventGrid{TenantID: akvcredstest.DefaultTenantID}, []string{"Audience is empty"}},
		{"no tenant", akvcreds.EventGrid{Audience: egAudience}, []string{"TenantID is empty"}},
		{"domain tenant", akvcreds.EventGrid{TenantID: "contoso.onmicrosoft.com", Audience: egAudience}, []string{"TenantID", "GUID"}},
		{"bad audience", akvcreds.EventGrid{TenantID: akvcredstest.DefaultTenantID, Audience: "api://x y"}, []string{"Audience"}},
		{"short secret", akvcreds.EventGrid{SharedSecret: "short"}, []string{"SharedSecret", "16 to 4000"}},
		{"secret with space", akvcreds.EventGrid{SharedSecret: egSecret + " x"}, []string{"SharedSecret"}},
		{"rate", akvcreds.EventGrid{SharedSecret: egSecret, MaxReadsPerSecond: -1}, []string{"MaxReadsPerSecond"}},
		{"rate too high", akvcreds.EventGrid{SharedSecret: egSecret, MaxReadsPerSecond: 1e6}, []string{"MaxReadsPerSecond"}},
		{"pending", akvcreds.EventGrid{SharedSecret: egSecret, MaxPending: -1}, []string{"MaxPending"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := akvcreds.New(secretAuth(), akvcreds.WithEventGrid(tt.cfg))
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, akvcreds.ErrInvalidArgument, tt.want...)
			if strings.Contains(err.Error(), egSecret) || tt.cfg.SharedSecret != "" && strings.Contains(err.Error(), tt.cfg.SharedSecret) {
				t.Errorf("the error shows the shared secret: %v", err)
			}
		})
	}
}

// Without WithEventGrid the Client is a handler that answers 404.
func TestEventGridNotConfigured(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("watched"))
	if w := serve(c, http.MethodPost, sharedAuth(), events(kvEvent(false, newVersion, "watched", "a"))); w.Code != http.StatusNotFound {
		t.Errorf("got %d, want 404", w.Code)
	}
}

func TestEventGridHandshakes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := egClient(t, s, akvcreds.EventGrid{})

	// Event Grid schema: the validation event, as Azure's documentation shows it.
	h := sharedAuth()
	h.Set("aeg-event-type", "SubscriptionValidation")
	body := `[{"id":"2d1781af-3a4c-4d7c-bd0c-e34b19da4e66","topic":"/subscriptions/00000000-0000-0000-0000-000000000001","subject":"",
	"data":{"validationCode":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6","validationUrl":"https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/estest/validate?id=512d38b6&t=2018-04-26T20:30:54.4538837Z&apiVersion=2018-05-01-preview&token=1A1A1A1A"},
	"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2018-01-25T22:12:19.4556811Z","metadataVersion":"1","dataVersion":"1"}]`
	w := serve(c, http.MethodPost, h, body)
	if w.Code != http.StatusOK {
		t.Fatalf("validation: %d %s", w.Code, w.Body)
	}
	var got map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got) != 1 || got["validationResponse"] != "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" {
		t.Errorf("validation answer %s (%v)", w.Body, err)
	}

	// CloudEvents 1.0 abuse protection: OPTIONS.
	tests := []struct {
		name, origin, rate string
		code               int
	}{
		{"public", "eventgrid.azure.net", "", http.StatusOK},
		{"with rate", "eventgrid.azure.net", "120", http.StatusOK},
		{"us government", "eventgrid.azure.us", "", http.StatusOK},
		{"no origin", "", "", http.StatusBadRequest},
		{"not a name", "eventgrid.azure.net\r\nX: y", "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		h := sharedAuth()
		if tt.origin != "" {
			h.Set("WebHook-Request-Origin", tt.origin)
		}
		if tt.rate != "" {
			h.Set("WebHook-Request-Rate", tt.rate)
		}
		w := serve(c, http.MethodOptions, h, "")
		if w.Code != tt.code {
			t.Errorf("%s: OPTIONS answered %d, want %d", tt.name, w.Code, tt.code)
			continue
		}
		if tt.code != http.StatusOK {
			continue
		}
		if o, r, a := w.Header().Get("WebHook-Allowed-Origin"), w.Header().Get("WebHook-Allowed-Rate"), w.Header().Get("Allow"); o != tt.origin || r != "*" || a != "POST, OPTIONS" {
			t.Errorf("%s: WebHook-Allowed-Origin %q, WebHook-Allowed-Rate %q, Allow %q", tt.name, o, r, a)
		}
	}
	if w := serve(c, http.MethodGet, sharedAuth(), ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d, want 405", w.Code)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("handshakes sent %d requests to Azure", n)
	}
}

// entraFixture publishes RSA test key 0 as the tenant's key egKid (through
// a hook in front of the emulator, which serves the OpenID configuration)
// and counts the key set's fetches.
type entraFixture struct {
	key   *rsa.PrivateKey
	hits  atomic.Int32
	down  atomic.Bool // the key set answers 500
	clock *testutil.Clock
}

func (f *entraFixture) RoundTrip(base http.RoundTripper, r *http.Request) (*http.Response, error) {
	if r.URL.Host == "login.microsoftonline.com" && strings.HasSuffix(r.URL.Path, "/discovery/v2.0/keys") {
		f.hits.Add(1)
		if f.down.Load() {
			return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error", Header: http.Header{},
				Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		}
		pub := f.key.PublicKey
		set := map[string]any{"keys": []map[string]any{{
			"kty": "RSA", "use": "sig", "kid": egKid,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}}
		b, _ := json.Marshal(set)
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(b)), Request: r}, nil
	}
	return base.RoundTrip(r)
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// entraClient is a Client of s with an Entra-protected receiver and the
// fixture's key set; its clock is the fixture's.
func entraClient(t testing.TB, s *akvcredstest.Server) (*akvcreds.Client, *entraFixture) {
	t.Helper()
	f := &entraFixture{key: testutil.RSAKey(0), clock: testutil.NewClock(time.Now())}
	hc := s.Client()
	base := hc.Transport
	hc.Transport = rtFunc(func(r *http.Request) (*http.Response, error) { return f.RoundTrip(base, r) })
	c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("watched"), akvcreds.WithClock(f.clock.Now),
		akvcreds.WithEventGrid(akvcreds.EventGrid{TenantID: akvcredstest.DefaultTenantID, Audience: egAudience}))
	return c, f
}

// jwt signs claims with header alg (RS256 with key, HS256 with a MAC key,
// none unsigned).
func jwt(t testing.TB, alg, kid string, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	pl, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(pl)
	var sig []byte
	switch alg {
	case "RS256":
		d := sha256.Sum256([]byte(signing))
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:]); err != nil {
			t.Fatal(err)
		}
	case "HS256":
		m := hmac.New(sha256.New, key.PublicKey.N.Bytes())
		m.Write([]byte(signing))
		sig = m.Sum(nil)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// goodClaims are the claims of a token Event Grid would present (v1.0).
func goodClaims(now time.Time) map[string]any {
	return map[string]any{
		"aud": egAudience, "iss": "https://sts.windows.net/" + akvcredstest.DefaultTenantID + "/",
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		"tid": akvcredstest.DefaultTenantID, "roles": []string{"AzureEventGridSecureWebhookSubscriber"},
		"appid": "4962773b-9cdb-44cf-a8bf-237846a00ab7", "ver": "1.0",
	}
}

func withClaim(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range m {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// Entra-protected delivery: a token Event Grid would send passes, on the
// handshakes too; every other is 401 and has no effect. An unknown key ID
// makes one fetch of the key set per five minutes at most.
func TestEventGridEntra(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("watched", "a", "1")
	c, f := entraClient(t, s)
	now := f.clock.Now()
	good := goodClaims(now)
	other := testutil.RSAKey(1)
	long := withClaim(good, "pad", strings.Repeat("x", 17<<10))
	tests := []struct {
		name string
		tok  string
		code int
	}{
		{"v1 token", jwt(t, "RS256", egKid, f.key, good), http.StatusOK},
		{"v2 token", jwt(t, "RS256", egKid, f.key, withClaim(withClaim(good, "iss", "https://login.microsoftonline.com/"+akvcredstest.DefaultTenantID+"/v2.0"), "ver", "2.0")), http.StatusOK},
		{"audience array", jwt(t, "RS256", egKid, f.key, withClaim(good, "aud", []string{"other", egAudience})), http.StatusOK},
		{"bad signature", jwt(t, "RS256", egKid, other, good), http.StatusUnauthorized},
		{"wrong audience", jwt(t, "RS256", egKid, f.key, withClaim(good, "aud", "api://other")), http.StatusUnauthorized},
		{"no audience", jwt(t, "RS256", egKid, f.key, withClaim(good, "aud", nil)), http.StatusUnauthorized},
		{"wrong issuer", jwt(t, "RS256", egKid, f.key, withClaim(good, "iss", "https://sts.windows.net/00000000-0000-0000-0000-000000000002/")), http.StatusUnauthorized},
		{"issuer of another cloud", jwt(t, "RS256", egKid, f.key, withClaim(good, "iss", "https://sts.chinacloudapi.cn/"+akvcredstest.DefaultTenantID+"/")), http.StatusUnauthorized},
		{"expired", jwt(t, "RS256", egKid, f.key, withClaim(good, "exp", now.Add(-3*time.Minute).Unix())), http.StatusUnauthorized},
		{"no expiry", jwt(t, "RS256", egKid, f.key, withClaim(good, "exp", nil)), http.StatusUnauthorized},
		{"not yet valid", jwt(t, "RS256", egKid, f.key, withClaim(good, "nbf", now.Add(3*time.Minute).Unix())), http.StatusUnauthorized},
		{"no role", jwt(t, "RS256", egKid, f.key, withClaim(good, "roles", nil)), http.StatusUnauthorized},
		{"alg none", jwt(t, "none", egKid, f.key, good), http.StatusUnauthorized},
		{"HS256 with the public key", jwt(t, "HS256", egKid, f.key, good), http.StatusUnauthorized},
		{"unknown kid", jwt(t, "RS256", "other-kid", other, good), http.StatusUnauthorized},
		{"too long", jwt(t, "RS256", egKid, f.key, long), http.StatusUnauthorized},
		{"not a JWT", "abc.def", http.StatusUnauthorized},
		{"empty", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodPost, http.MethodOptions} {
			h := bearer(tt.tok)
			h.Set("aeg-event-type", "SubscriptionValidation")
			h.Set("WebHook-Request-Origin", "eventgrid.azure.net")
			body := `[{"id":"1","topic":"/subscriptions/x","subject":"","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"code-1"},"dataVersion":"1","metadataVersion":"1","eventTime":"2026-01-01T00:00:00Z"}]`
			w := serve(c, method, h, body)
			if w.Code != tt.code {
				t.Errorf("%s %s: %d %s, want %d", tt.name, method, w.Code, strings.TrimSpace(w.Body.String()), tt.code)
			}
			if tt.code == http.StatusUnauthorized && (strings.Contains(w.Body.String(), "code-1") || w.Header().Get("WebHook-Allowed-Origin") != "") {
				t.Errorf("%s %s: a rejected handshake was answered", tt.name, method)
			}
		}
	}
	if n := f.hits.Load(); n != 1 {
		t.Errorf("the key set was fetched %d times, want 1 (an unknown kid refetches at most every 5 minutes)", n)
	}
	f.clock.Advance(6 * time.Minute)
	fresh := goodClaims(f.clock.Now())
	if w := serve(c, http.MethodOptions, with2(bearer(jwt(t, "RS256", "other-kid", other, fresh)), "WebHook-Request-Origin", "eventgrid.azure.net"), ""); w.Code != http.StatusUnauthorized {
		t.Errorf("unknown kid after 6 minutes: %d", w.Code)
	}
	if n := f.hits.Load(); n != 2 {
		t.Errorf("the key set was fetched %d times, want 2 (refetched once for the unknown kid after 5 minutes)", n)
	}
	if n := countKind(s, akvcredstest.KindGetSecret, ""); n != 0 {
		t.Errorf("%d secret reads", n)
	}
}

// While the tenant's keys cannot be fetched, a delivery is 503 (Event Grid
// retries it) and changes nothing; once they can, it is accepted.
func TestEventGridEntraKeysDown(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c, f := entraClient(t, s)
	f.down.Store(true)
	tok := jwt(t, "RS256", egKid, f.key, goodClaims(f.clock.Now()))
	h := with2(bearer(tok), "WebHook-Request-Origin", "eventgrid.azure.net")
	if w := serve(c, http.MethodOptions, h, ""); w.Code != http.StatusServiceUnavailable || w.Header().Get("WebHook-Allowed-Origin") != "" {
		t.Errorf("keys down: %d %v", w.Code, w.Header())
	}
	f.down.Store(false)
	f.clock.Advance(5 * time.Minute)
	if w := serve(c, http.MethodOptions, h, ""); w.Code != http.StatusOK {
		t.Errorf("keys back: %d %s", w.Code, w.Body)
	}
}

func with2(h http.Header, k, v string) http.Header {
	h.Set(k, v)
	return h
}

// A delivery without the shared secret is 401 and changes nothing: no read,
// no batch.
func TestEventGridSharedSecretRejected(t *testing.T) {
	t.Parallel()
	s, _, _ := watchFixture(t, 1)
	var logs testutil.SyncBuffer
	c := egClient(t, s, akvcreds.EventGrid{}, akvcreds.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	body := events(kvEvent(false, newVersion, "watched", "secret-000"))
	tests := []struct {
		name string
		h    http.Header
	}{
		{"none", http.Header{}},
		{"wrong", http.Header{"Authorization": {"Bearer " + egSecret + "x"}}},
		{"prefix", http.Header{"Authorization": {"Bearer " + egSecret[:20]}}},
		{"no scheme", http.Header{"Authorization": {egSecret}}},
		{"basic", http.Header{"Authorization": {"Basic " + egSecret}}},
		{"twice", http.Header{"Authorization": {"Bearer " + egSecret, "Bearer " + egSecret}}},
		{"in another header", http.Header{"X-Secret": {egSecret}}},
	}
	for _, tt := range tests {
		if w := serve(c, http.MethodPost, tt.h, body); w.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tt.name, w.Code)
		}
	}
	// One warning a minute at most; the other rejections are debug records.
	warn, debug := 0, 0
	for _, line := range strings.Split(logs.String(), "\n") {
		switch {
		case !strings.Contains(line, "delivery rejected"):
		case strings.Contains(line, `"level":"WARN"`):
			warn++
		case strings.Contains(line, `"level":"DEBUG"`):
			debug++
		}
	}
	if warn != 1 || debug != len(tests)-1 {
		t.Errorf("%d warnings and %d debug records for %d rejections, want 1 and the rest", warn, debug, len(tests))
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("rejected deliveries caused %d requests", n)
	}
	// The scheme is case-insensitive, as Azure's example writes "BEARER".
	if w := serve(c, http.MethodPost, http.Header{"Authorization": {"BEARER " + egSecret}}, body); w.Code != http.StatusOK {
		t.Errorf("BEARER: %d", w.Code)
	}
}

func TestEventGridMalformed(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := egClient(t, s, akvcreds.EventGrid{})
	good := kvEvent(false, newVersion, "watched", "a")
	validation := map[string]any{"id": "1", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "topic": "/x", "data": map[string]any{"validationCode": "c"}}
	tests := []struct {
		name, aeg, body string
		code            int
	}{
		{"empty", "", "", http.StatusBadRequest},
		{"not JSON", "", "hello", http.StatusBadRequest},
		{"truncated", "", `[{"id":"1"`, http.StatusBadRequest},
		{"no events", "", "[]", http.StatusBadRequest},
		{"empty event", "", "[{}]", http.StatusBadRequest},
		{"a number", "", "[1]", http.StatusBadRequest},
		{"wrong specversion", "", `{"id":"1","specversion":"0.3","type":"t","source":"s"}`, http.StatusBadRequest},
		{"cloud event without source", "", `{"id":"1","specversion":"1.0","type":"t"}`, http.StatusBadRequest},
		{"validation with others", "SubscriptionValidation", events(validation, good), http.StatusBadRequest},
		{"validation without code", "SubscriptionValidation", events(withClaim(validation, "data", map[string]any{})), http.StatusBadRequest},
		{"validation code too long", "SubscriptionValidation", events(withClaim(validation, "data", map[string]any{"validationCode": strings.Repeat("c", 600)})), http.StatusBadRequest},
		{"header says validation", "SubscriptionValidation", events(good), http.StatusBadRequest},
		{"header says notification", "Notification", events(validation), http.StatusBadRequest},
		{"unknown header", "Other", events(good), http.StatusBadRequest},
		{"too large", "", "[" + strings.Repeat(" ", 1<<20) + "]", http.StatusRequestEntityTooLarge},
		{"ok", "Notification", events(good), http.StatusOK},
		{"ok, padded to the limit", "", "[" + strings.Repeat(" ", 1<<20-len(events(good))) + events(good)[1:], http.StatusOK},
	}
	for _, tt := range tests {
		h := sharedAuth()
		if tt.aeg != "" {
			h.Set("aeg-event-type", tt.aeg)
		}
		if w := serve(c, http.MethodPost, h, tt.body); w.Code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, strings.TrimSpace(w.Body.String()), tt.code)
		}
	}
}

// FuzzEventGridBody: no body makes the receiver panic or answer anything
// but 200, 400 or 413.
func FuzzEventGridBody(f *testing.F) {
	f.Add(events(kvEvent(false, newVersion, "watched", "a")))
	f.Add(events(kvEvent(true, newVersion, "watched", "a")))
	b, _ := json.Marshal(kvEvent(true, "Microsoft.KeyVault.VaultAccessPolicyChanged", "watched", ""))
	f.Add(string(b))
	f.Add(`[{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"x"}}]`)
	f.Add(`[{"id":"1","eventType":"Microsoft.KeyVault.SecretNewVersionCreated","topic":"/subscriptions/a/providers/Microsoft.KeyVault/vaults/watched","data":{"Id":"https://watched.vault.azure.net/secrets/a/b/c"}}]`)
	c, err := akvcreds.New(secretAuth(), akvcreds.WithVaults("watched"), akvcreds.WithEventGrid(akvcreds.EventGrid{SharedSecret: egSecret}),
		akvcreds.WithHTTPClient(&http.Client{Transport: rtFunc(func(*http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("no network in the fuzz test")
		})}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		w := serve(c, http.MethodPost, sharedAuth(), body)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Errorf("answered %d", w.Code)
		}
	})
}

// Watch reacts to an event at once (the interval is an hour and no
// trigger is sent): the cycle reads only the named secret, lists nothing,
// and says it was an event. Events for secrets or vaults not watched, of
// other types or from another cloud or vault are ignored, in both schemas.
func TestEventGridWatch(t *testing.T) {
	t.Parallel()
	for _, cloudEvents := range []bool{false, true} {
		t.Run(fmt.Sprintf("cloudevents=%v", cloudEvents), func(t *testing.T) {
			t.Parallel()
			s, clock, _ := watchFixture(t, 3)
			s.SetSecret("other", "secret-000", "x")
			c := egClient(t, s, akvcreds.EventGrid{}, akvcreds.WithSecrets("secret-000", "secret-001"))
			w := startWatch(t, s, c)
			b := w.next(t)
			if b.Trigger != "start" || len(b.Added) != 2 {
				t.Fatalf("cycle 0: trigger %q, added %q", b.Trigger, names(b.Added))
			}
			w.answer(t, nil)
			clock.Advance(time.Minute)
			s.SetSecret("watched", "secret-001", "rotated")
			s.ResetRequests()

			ev := func(typ, vault, secret string) map[string]any { return kvEvent(cloudEvents, typ, vault, secret) }
			otherCloud := ev(newVersion, "watched", "secret-001")
			otherCloud["data"].(map[string]any)["Id"] = "https://watched.vault.azure.cn/secrets/secret-001"
			otherVault := ev(newVersion, "watched", "secret-001")
			otherVault["data"].(map[string]any)["VaultName"] = "other"
			wrongName := ev(newVersion, "watched", "secret-001")
			wrongName["data"].(map[string]any)["ObjectName"] = "secret-000"
			ignored := []map[string]any{
				ev(newVersion, "watched", "secret-002"),                                // not among the named secrets
				ev(newVersion, "other", "secret-000"),                                  // another vault
				ev("Microsoft.KeyVault.KeyNewVersionCreated", "watched", "secret-001"), // a key
				ev("Microsoft.Storage.BlobCreated", "watched", "secret-001"),
				otherCloud, otherVault, wrongName,
			}
			body := ""
			h := sharedAuth()
			if cloudEvents {
				h.Set("Content-Type", "application/cloudevents-batch+json; charset=utf-8")
				body = events(ignored...)
			} else {
				h.Set("aeg-event-type", "Notification")
				body = events(ignored...)
			}
			if r := serve(c, http.MethodPost, h, body); r.Code != http.StatusOK {
				t.Fatalf("ignored events: %d %s", r.Code, r.Body)
			}
			// One CloudEvent alone (structured mode) or an array of one.
			one, _ := json.Marshal(ev(newVersion, "watched", "secret-001"))
			if !cloudEvents {
				one = []byte(events(ev(newVersion, "watched", "secret-001")))
			} else {
				h.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
			}
			if r := serve(c, http.MethodPost, h, string(one)); r.Code != http.StatusOK {
				t.Fatalf("event: %d %s", r.Code, r.Body)
			}
			b = w.next(t)
			if b.Trigger != "event" || b.Events != 1 {
				t.Errorf("cycle %d: trigger %q, events %d; want event, 1", b.Cycle, b.Trigger, b.Events)
			}
			wantChanges(t, b, nil, []string{"watched/secret-001"}, nil)
			wantCost(t, s, b, 0, 1)
			if cr, _ := findCred(b.Current, "watched/secret-001"); cr.Password.Reveal() != "rotated" {
				t.Error("the rotated value is not current")
			}
			if b.Next < 50*time.Minute {
				t.Errorf("Next = %v: the event postponed or advanced the hourly reconcile", b.Next)
			}
		})
	}
}

// A flood of 10,000 events for one secret (replayed, say) costs at most
// the bucket's burst of reads while the clock stands still, and one more
// when a second has passed; every event is accounted in Batch.Events.
func TestEventGridFlood(t *testing.T) {
	t.Parallel()
	s, _, _ := watchFixture(t, 2)
	clock := testutil.NewClock(time.Now())
	c := egClient(t, s, akvcreds.EventGrid{MaxReadsPerSecond: 5}, akvcreds.WithClock(clock.Now))
	batches := make(chan akvcreds.Batch, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, time.Hour, func(b akvcreds.Batch) error { batches <- b; return nil })
	}()
	defer func() { cancel(); <-done }()
	<-batches // cycle 0
	s.ResetRequests()
	const n, per = 10000, 500
	ev := kvEvent(false, newVersion, "watched", "secret-000")
	for range n / per {
		evs := make([]map[string]any, per)
		for i := range evs {
			evs[i] = ev
		}
		notify(t, c, evs...)
	}
	seen, reads, cycles := 0, 0, 0
	advanced := false
	for seen < n {
		select {
		case b := <-batches:
			if b.Trigger != "event" || b.ListPages != 0 {
				t.Errorf("cycle %d: trigger %q, %d list pages", b.Cycle, b.Trigger, b.ListPages)
			}
			seen += b.Events
			reads += b.Reads
			cycles++
		case <-time.After(100 * time.Millisecond):
			if !advanced {
				clock.Advance(time.Second) // the bucket earns 5 more reads
				advanced = true
			}
		case <-time.After(time.Minute):
			t.Fatalf("only %d of %d events answered", seen, n)
		}
	}
	if reads > 6 || cycles > 6 {
		t.Errorf("%d events cost %d reads in %d cycles, want at most 6 (a burst of 5, then 5 a second)", n, reads, cycles)
	}
	if g := countKind(s, akvcredstest.KindGetSecret, ""); g != reads {
		t.Errorf("the emulator saw %d reads, the batches %d", g, reads)
	}
	t.Logf("%d events: %d reads in %d cycles", n, reads, cycles)
}

// More secrets pending than MaxPending, or VaultAccessPolicyChanged, make
// one full reconcile cycle (a listing) instead.
func TestEventGridReconcile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		events []map[string]any
	}{
		{"policy changed", []map[string]any{kvEvent(false, "Microsoft.KeyVault.VaultAccessPolicyChanged", "watched", "")}},
		{"overflow", []map[string]any{kvEvent(false, newVersion, "watched", "a"), kvEvent(false, newVersion, "watched", "b"), kvEvent(false, newVersion, "watched", "c")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _, _ := watchFixture(t, 3)
			clock := testutil.NewClock(time.Now())
			c := egClient(t, s, akvcreds.EventGrid{MaxPending: 2, MaxReadsPerSecond: 1}, akvcreds.WithClock(clock.Now))
			w := startWatch(t, s, c)
			w.next(t)
			s.ResetRequests()
			notify(t, c, tt.events...) // while the handler holds cycle 0: all pending together
			w.answer(t, nil)
			b := w.next(t)
			if b.Trigger != "reconcile" || b.Events != len(tt.events) || b.ListPages != 1 {
				t.Errorf("trigger %q, events %d, list pages %d; want reconcile, %d, 1", b.Trigger, b.Events, b.ListPages, len(tt.events))
			}
		})
	}
}

// Without a Watch, with WithCache, an event refreshes the secret into the
// cache in the background, so the next fetch gets the new version without
// waiting for the time to live.
func TestEventGridCache(t *testing.T) {
	t.Parallel()
	s, clock, _ := watchFixture(t, 1)
	c := egClient(t, s, akvcreds.EventGrid{}, akvcreds.WithCache(time.Hour), akvcreds.WithSecrets("secret-000"))
	ctx := context.Background()
	if cr, err := c.FetchCredential(ctx, "watched/secret-000"); err != nil || cr.Password.Reveal() != "value-000" {
		t.Fatalf("first fetch: %v", err)
	}
	clock.Advance(time.Minute)
	s.SetSecret("watched", "secret-000", "rotated")
	s.ResetRequests()
	notify(t, c, kvEvent(true, newVersion, "watched", "secret-000"))
	deadline := time.Now().Add(time.Minute)
	for {
		var sum akvcreds.Batch
		creds, err := c.FetchCredentials(ctx, akvcreds.FetchSummary(&sum))
		if err != nil {
			t.Fatal(err)
		}
		if sum.FromCache != 1 {
			t.Fatalf("a fetch read Key Vault: %+v", countsOf(sum))
		}
		if creds[0].Password.Reveal() == "rotated" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache was not refreshed within a minute")
		}
		time.Sleep(time.Millisecond) // waiting for the background refresh, not timing it
	}
	if g := countKind(s, akvcredstest.KindGetSecret, ""); g != 1 {
		t.Errorf("%d reads, want the one refresh", g)
	}
}

// Without a Watch or a cache, events are accepted and cause nothing.
func TestEventGridNothingWatching(t *testing.T) {
	t.Parallel()
	s, _, _ := watchFixture(t, 1)
	c := egClient(t, s, akvcreds.EventGrid{})
	notify(t, c, kvEvent(false, newVersion, "watched", "secret-000"))
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

// Neither the shared secret nor a token appears in the log, in an answer or
// in an error.
func TestEventGridRedaction(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("watched", "a", "1")
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	shared := egClient(t, s, akvcreds.EventGrid{}, akvcreds.WithLogger(logger))
	ec, f := entraClient(t, s)
	_ = ec
	c := hardClient(t, s.Client(), secretAuth(), akvcreds.WithVaults("watched"), akvcreds.WithLogger(logger),
		akvcreds.WithEventGrid(akvcreds.EventGrid{TenantID: akvcredstest.DefaultTenantID, Audience: egAudience}))
	tok := jwt(t, "RS256", egKid, f.key, withClaim(goodClaims(time.Now()), "aud", "api://wrong"))
	var answers strings.Builder
	for _, r := range []struct {
		c *akvcreds.Client
		h http.Header
	}{
		{shared, http.Header{"Authorization": {"Bearer " + egSecret + "-wrong"}}},
		{shared, http.Header{"Authorization": {egSecret}}},
		{shared, sharedAuth()},
		{c, bearer(tok)},
		{ec, bearer(tok)},
	} {
		w := serve(r.c, http.MethodPost, r.h, events(kvEvent(false, newVersion, "watched", "a")))
		fmt.Fprintf(&answers, "%d %v %s\n", w.Code, w.Header(), w.Body)
	}
	_, err := akvcreds.New(secretAuth(), akvcreds.WithEventGrid(akvcreds.EventGrid{SharedSecret: egSecret + " with space"}))
	text := logs.String() + answers.String() + fmt.Sprint(err)
	if !strings.Contains(logs.String(), "delivery rejected") {
		t.Errorf("no rejection logged: %s", logs.String())
	}
	for _, secret := range []string{egSecret, tok} {
		for _, form := range leakForms(secret) {
			if strings.Contains(text, form) {
				t.Errorf("%q leaked:\n%s", form[:min(len(form), 20)], text)
			}
		}
	}
}

// Events still pending (the bucket is empty) when a full cycle starts are
// answered by it, counted in its Batch.Events, and cost no read of their
// own afterwards.
func TestEventGridFullCycleTakesPending(t *testing.T) {
	t.Parallel()
	s, _, _ := watchFixture(t, 2)
	clock := testutil.NewClock(time.Now()) // stands still: the bucket never refills
	c := egClient(t, s, akvcreds.EventGrid{MaxReadsPerSecond: 1}, akvcreds.WithClock(clock.Now))
	w := startWatch(t, s, c)
	w.next(t)
	notify(t, c, kvEvent(false, newVersion, "watched", "secret-000"))
	w.answer(t, nil)
	if b := w.next(t); b.Trigger != "event" || b.Events != 1 || b.Reads != 1 {
		t.Errorf("event cycle: trigger %q, events %d, reads %d", b.Trigger, b.Events, b.Reads)
	}
	notify(t, c, kvEvent(false, newVersion, "watched", "secret-001"), kvEvent(true, newVersion, "watched", "secret-001"))
	b := w.step(t, nil) // no token for secret-001: the trigger's full cycle comes first
	if b.Trigger != "trigger" || b.Events != 2 || b.ListPages != 1 {
		t.Errorf("full cycle: trigger %q, events %d, list pages %d", b.Trigger, b.Events, b.ListPages)
	}
}
