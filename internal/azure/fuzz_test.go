package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// fuzzToken is the bearer token of the request every fuzzed response
// answers; no classification may show it.
const fuzzToken = "eyJ0eXAiOiJKV1QifQ.FUZZ-BEARER-TOKEN-never-shown.c2ln"

// maxDetail is the longest Detail firstLine produces: 300 bytes and "...".
const maxDetail = 303

// headerValue makes s a value net/http could have delivered: no CR, LF or
// NUL (the transport rejects responses with them).
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return -1
		}
		return r
	}, s)
}

// singleLine reports whether s holds no line break of any kind a terminal
// or a line-oriented log would honour.
func singleLine(s string) bool {
	return !strings.ContainsAny(s, "\r\n")
}

// fuzzResponse builds the HTTP response a vault request could get.
func fuzzResponse(status int, retryAfter, retryAfterMs, xmsRetryAfterMs, requestID, errorCode string, body []byte) *http.Response {
	req, _ := http.NewRequest(http.MethodGet, "https://fuzz.vault.azure.net/secrets/s/?api-version=7.6", nil)
	req.Header.Set("Authorization", "Bearer "+fuzzToken)
	h := http.Header{}
	set := func(k, v string) {
		if v = headerValue(v); v != "" {
			h.Set(k, v)
		}
	}
	set("Retry-After", retryAfter)
	set("Retry-After-Ms", retryAfterMs)
	set("X-Ms-Retry-After-Ms", xmsRetryAfterMs)
	set("X-Ms-Request-Id", requestID)
	set("X-Ms-Error-Code", errorCode)
	h.Set("Content-Type", "application/json; charset=utf-8")
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// FuzzClassifyBody feeds arbitrary Key Vault error responses — status,
// throttling and request-ID headers, x-ms-error-code, body — through
// runtime.NewResponseError and Classify, as the vault client sees them.
// Invariants: no panic; Detail is one short line (valid UTF-8 when the body
// is); RetryAfter is never negative; a 429 is KindThrottled; the kept cause
// holds no HTTP exchange and nothing shows the request's bearer token.
func FuzzClassifyBody(f *testing.F) {
	seeds := []struct {
		status                               int
		retryAfter, retryAfterMs, xmsRetryMs string
		requestID, errorCode                 string
		body                                 string
	}{
		{404, "", "", "", "7f7d3c2a-0000-4000-8000-000000000001", "", `{"error":{"code":"SecretNotFound","message":"A secret with (name/id) db was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"}}`},
		{403, "", "", "", "r", "", "{\"error\":{\"code\":\"Forbidden\",\"message\":\"Caller is not authorized to perform action on resource.\\r\\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\\r\\nCaller: appid=x\",\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}"},
		{403, "", "", "", "", "", `{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}`},
		{401, "", "", "", "", "", `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."}}`},
		{429, "10", "", "", "", "", `{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"}}`},
		{429, "", "1500", "", "", "", `{"error":{"code":"Throttled","message":"x"}}`},
		{429, "", "", "250", "", "", ``},
		{429, "Wed, 21 Oct 2065 07:28:00 GMT", "", "", "", "", `{}`},
		{429, "99999999999999", "", "", "", "", `{"error":{"code":"Throttled"}}`},
		{429, "", "9999999999999999", "", "", "", `{"error":{"code":"Throttled"}}`},
		{503, "-5", "-1", "0", "", "ServiceUnavailable", `<html><body>Service Unavailable</body></html>`},
		{500, "", "", "", "", "", `{"error":{"code":"InternalServerError","message":"first line\nsecond line"}}`},
		{400, "", "", "", "", "", `{"error":{"code":"BadParameter","message":"` + strings.Repeat("é", 200) + `"}}`},
		{400, "", "", "", "", "", `{"error":"not an object"}`},
		{299, "", "", "", "", "", ``},
		{302, "", "", "", "", "", `{"odata.error":{"code":"Moved","message":{"lang":"en","value":"x"}}}`},
		{404, "", "", "", "", "", `<?xml version="1.0"?><Error><Code>NotFound</Code><Message>gone</Message></Error>`},
		{408, "", "", "", "", "", "{\"error\":{\"code\":\"RequestTimeout\",\"message\":\"\\u2028spoofed line\\rcarriage\"}}"},
	}
	for _, s := range seeds {
		f.Add(s.status, s.retryAfter, s.retryAfterMs, s.xmsRetryMs, s.requestID, s.errorCode, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter, retryAfterMs, xmsRetryAfterMs, requestID, errorCode string, body []byte) {
		if status < 100 || status > 999 {
			status = 100 + (status%900+900)%900
		}
		resp := fuzzResponse(status, retryAfter, retryAfterMs, xmsRetryAfterMs, requestID, errorCode, body)
		rerr := runtime.NewResponseError(resp)
		ae := Classify(rerr, "get")
		if ae == nil {
			t.Fatalf("Classify(%v) = nil", rerr)
		}
		var re *azcore.ResponseError
		if !errors.As(rerr, &re) {
			// NewResponseError could not read the body: still classified.
			return
		}
		if ae.Status != status {
			t.Errorf("Status = %d, want %d", ae.Status, status)
		}
		if !singleLine(ae.Detail) {
			t.Errorf("Detail has more than one line: %q", ae.Detail)
		}
		if len(ae.Detail) > maxDetail {
			t.Errorf("Detail is %d bytes long, want at most %d", len(ae.Detail), maxDetail)
		}
		if utf8.Valid(body) && !utf8.ValidString(ae.Detail) {
			t.Errorf("Detail is not valid UTF-8 though the body is: %q", ae.Detail)
		}
		if ae.RetryAfter < 0 {
			t.Errorf("RetryAfter = %v, want >= 0 (Retry-After %q, Retry-After-Ms %q, x-ms-retry-after-ms %q)",
				ae.RetryAfter, retryAfter, retryAfterMs, xmsRetryAfterMs)
		}
		if status == http.StatusTooManyRequests && ae.Kind != KindThrottled {
			t.Errorf("a 429 is %v, want KindThrottled", ae.Kind)
		}
		if ae.Kind == KindCanceled {
			t.Errorf("a response was classified as a cancellation")
		}
		// The cause keeps no HTTP exchange (the request holds the token).
		for e := error(ae); e != nil; e = errors.Unwrap(e) {
			if r, ok := e.(*azcore.ResponseError); ok && r.RawResponse != nil {
				t.Fatalf("the classified error keeps the raw response")
			}
		}
		for _, form := range []string{ae.Error(), fmt.Sprintf("%+v", ae), fmt.Sprintf("%#v", ae)} {
			if strings.Contains(form, fuzzToken) {
				t.Fatalf("the classified error shows the bearer token: %s", form)
			}
		}
	})
}

// FuzzClassifyTokenTransportError fails the client-secret credential's
// token requests in the transport — no HTTP answer at all, with an
// arbitrary error text, as a dropped connection, a proxy or a TLS failure
// gives — and classifies the result as a token failure is. Invariants: it
// is KindUnavailable (a network problem, whose remedy is the network path,
// not the credentials), and Detail carries the transport's reason rather
// than only MSAL's "server response error:".
func FuzzClassifyTokenTransportError(f *testing.F) {
	for _, msg := range []string{
		"EOF",
		"use of closed network connection",
		"read tcp 10.0.0.4:51234->20.190.151.68:443: read: connection reset by peer",
		"dial tcp: lookup login.microsoftonline.com on 10.0.0.2:53: server misbehaving",
		"proxyconnect tcp: dial tcp 10.1.1.1:3128: connect: connection refused",
		"net/http: TLS handshake timeout",
		"tls: failed to verify certificate: x509: certificate signed by unknown authority",
		"http2: server sent GOAWAY and closed the connection",
		"akvcredstest: refusing to dial login.example:443",
		"Service Unavailable",
	} {
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		if msg == "" || strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
			return // a transport's error text is one non-empty line
		}
		transportErr := errors.New(msg)
		copts := azcore.ClientOptions{
			Retry: policy.RetryOptions{MaxRetries: -1},
			Transport: policyFunc(func(*http.Request) (*http.Response, error) {
				return nil, transportErr
			}),
		}
		inner, err := azidentity.NewClientSecretCredential("72f988bf-86f1-41af-91ab-2d7cd011db47", "00000000-0000-0000-0000-00000000c11e",
			"fuzz-client-secret-value", &azidentity.ClientSecretCredentialOptions{ClientOptions: copts})
		if err != nil {
			t.Fatal(err)
		}
		g := &guardedCredential{inner: inner, tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", who: "client ID x"}
		_, err = g.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
		ae := Classify(err, "token")
		if ae == nil {
			t.Fatal("a failed transport gave a token")
		}
		if ae.Kind != KindUnavailable {
			t.Errorf("transport failure %q is %v, want KindUnavailable: %s", msg, ae.Kind, ae.Detail)
		}
		if !singleLine(ae.Detail) {
			t.Errorf("Detail has more than one line: %q", ae.Detail)
		}
		if reason := strings.TrimSpace(msg); len(reason) < 100 && strings.Trim(reason, ". ") != "" && !strings.Contains(ae.Detail, strings.TrimRight(reason, ". ")) {
			t.Errorf("Detail %q does not give the transport's reason %q", ae.Detail, reason)
		}
		if strings.Contains(fmt.Sprintf("%v %+v %#v", ae, ae, ae), "fuzz-client-secret-value") {
			t.Fatalf("the classified error shows the client secret")
		}
	})
}

// roundTripFunc is an http.RoundTripper from a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzIMDSResponse feeds arbitrary answers of the managed-identity endpoint
// through one attempt of the IMDS credential. Invariants: no panic; a token
// is returned only with a value and an expiry, and is never refreshed after
// it expires; a failure is an *Error of Op "token" with a one-line Detail.
func FuzzIMDSResponse(f *testing.F) {
	f.Add(200, []byte(`{"access_token":"tok","client_id":"c","expires_in":"3599","expires_on":"1900000000","ext_expires_in":"3599","not_before":"1800000000","resource":"https://vault.azure.net","token_type":"Bearer"}`))
	f.Add(200, []byte(`{"access_token":"tok","expires_in":"3599","token_type":"Bearer"}`))
	f.Add(200, []byte(`{"access_token":"tok","expires_in":60,"refresh_in":30,"token_type":"Bearer"}`))
	f.Add(200, []byte(`{"access_token":"tok","expires_in":"60","refresh_in":"86400"}`))
	f.Add(200, []byte(`{"access_token":"tok","expires_in":"99999999999999999"}`))
	f.Add(200, []byte(`{"access_token":"","expires_in":"3599"}`))
	f.Add(200, []byte(`<html>captive portal</html>`))
	f.Add(400, []byte(`{"error":"invalid_request","error_description":"Identity not found"}`))
	f.Add(400, []byte("{\"error\":\"invalid_request\",\"error_description\":\"line one\\r\\nline two\\rthree\"}"))
	f.Add(404, []byte(`{"error":"not_found","error_description":"`+strings.Repeat("€", 150)+`"}`))
	f.Add(429, []byte(`{"error":"too_many_requests","error_description":"Too many requests"}`))
	f.Add(500, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 100 + (status%900+900)%900
		}
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{
				StatusCode:    status,
				Header:        http.Header{"Content-Type": {"application/json"}},
				Body:          io.NopCloser(bytes.NewReader(body)),
				ContentLength: int64(len(body)),
				Request:       r,
			}, nil
		})}
		c := newIMDSCredential(hc, "http://169.254.169.254/metadata/identity/oauth2/token", "")
		c.now = func() time.Time { return now }
		tk, _, err := c.try(context.Background(), "https://vault.azure.net")
		if err == nil {
			if tk.Token == "" || tk.ExpiresOn.IsZero() {
				t.Fatalf("a token without a value or expiry: %+v", tk)
			}
			// The cached token is served until refreshAt: never past its
			// expiry (unless both are already past: refreshed at once).
			if r := refreshAt(tk); r.After(tk.ExpiresOn) && r.After(now) {
				t.Errorf("the token is served until %v, after it expires at %v", r, tk.ExpiresOn)
			}
			return
		}
		var ae *Error
		if !errors.As(err, &ae) {
			t.Fatalf("the failure is a %T, not an *Error: %v", err, err)
		}
		if ae.Op != "token" || ae.Kind == KindCanceled || ae.Kind == KindUnknown {
			t.Errorf("Op %q Kind %v: %v", ae.Op, ae.Kind, ae)
		}
		if !singleLine(ae.Detail) {
			t.Errorf("Detail has more than one line: %q", ae.Detail)
		}
	})
}

// FuzzHostGuard checks the policy that keeps the vault's token on the
// vault's host, for arbitrary next links: a request passes only to
// https://HOST or https://HOST:443 (any letter case), never elsewhere.
func FuzzHostGuard(f *testing.F) {
	for _, u := range []string{
		"https://myvault.vault.azure.net:443/secrets?api-version=7.6&$skiptoken=abc",
		"https://MYVAULT.vault.azure.net/secrets",
		"http://myvault.vault.azure.net/secrets",
		"https://myvault.vault.azure.net:8443/secrets",
		"https://myvault.vault.azure.net.evil.example/secrets",
		"https://evil.example/https://myvault.vault.azure.net/",
		"https://evil.example\\@myvault.vault.azure.net/",
		"https://myvault.vault.azure.net@evil.example/",
		"https://user:pw@myvault.vault.azure.net/secrets",
		"https://myvault.vault.azure.net./secrets",
		"https://[::1]:443/secrets",
		"//myvault.vault.azure.net/secrets",
		"https://myvault%2evault.azure.net/",
	} {
		f.Add(u)
	}
	const host = "myvault.vault.azure.net"
	f.Fuzz(func(t *testing.T, link string) {
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, link)
		if err != nil {
			return // the pager could not follow it either
		}
		reached := false
		pl := runtime.NewPipeline("fuzz", "v0", runtime.PipelineOptions{}, &policy.ClientOptions{
			PerCallPolicies: []policy.Policy{callPolicy{host: host}},
			Retry:           policy.RetryOptions{MaxRetries: -1},
			Transport: policyFunc(func(r *http.Request) (*http.Response, error) {
				reached = true
				return &http.Response{StatusCode: 204, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
			}),
		})
		_, err = pl.Do(req)
		u := req.Raw().URL
		allowed := u.Scheme == "https" && strings.EqualFold(u.Hostname(), host) && (u.Port() == "" || u.Port() == "443")
		if reached != allowed {
			t.Fatalf("%q (scheme %q host %q port %q): sent=%v, want %v (err %v)", link, u.Scheme, u.Hostname(), u.Port(), reached, allowed, err)
		}
		if !reached {
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != "ForeignHost" {
				t.Fatalf("%q refused with %v, want a ForeignHost *Error", link, err)
			}
		}
	})
}

// policyFunc is a transporter from a function.
type policyFunc func(*http.Request) (*http.Response, error)

func (f policyFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
