package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// TestGetMalformed answers a GET with broken bundles (issue 18 #1, #7, #8):
// each is a KindMalformed "get" failure, never a secret and never a panic.
func TestGetMalformed(t *testing.T) {
	t.Parallel()
	const (
		secretValue  = "s3cr3t-value-never-shown"
		secretNumber = "918273645546372819"
	)
	id := func(s string) string { return fmt.Sprintf(`{"value":%q,"id":%q}`, secretValue, s) }
	for _, tt := range []struct {
		name, version, body string
	}{
		{name: "empty body", body: ``},
		{name: "empty object", body: `{}`},
		{name: "value null", body: `{"value":null,"id":"https://myvault.vault.azure.net/secrets/db/` + testVersion + `"}`},
		{name: "value missing", body: `{"id":"https://myvault.vault.azure.net/secrets/db/` + testVersion + `"}`},
		{name: "value not a string", body: `{"value":5,"id":"https://myvault.vault.azure.net/secrets/db/` + testVersion + `"}`},
		{name: "value a number", body: `{"value":` + secretNumber + `,"id":"https://myvault.vault.azure.net/secrets/db/` + testVersion + `"}`},
		{name: "not JSON", body: `<html>` + secretValue + `</html>`},
		{name: "JSON array", body: `[1,2]`},
		{name: "id missing", body: fmt.Sprintf(`{"value":%q}`, secretValue)},
		{name: "id null", body: fmt.Sprintf(`{"value":%q,"id":null}`, secretValue)},
		{name: "id vault root", body: id("https://myvault.vault.azure.net/")},
		{name: "id bad escape", body: id("%zz")},
		{name: "id not a URL", body: id("x")},
		{name: "id empty", body: id("")},
		{name: "id secrets without name", body: id("https://myvault.vault.azure.net/secrets/")},
		{name: "id secrets without name, with version", body: id("https://myvault.vault.azure.net/secrets//" + testVersion)},
		{name: "id foreign host", body: id("https://other.vault.azure.net/secrets/db/" + testVersion)},
		{name: "id look-alike host", body: id("https://myvault.vault.azure.net.evil.example/secrets/db/" + testVersion)},
		{name: "id userinfo", body: id("https://x@myvault.vault.azure.net/secrets/db/" + testVersion)},
		{name: "id other port", body: id("https://myvault.vault.azure.net:8443/secrets/db/" + testVersion)},
		{name: "id http", body: id("http://myvault.vault.azure.net/secrets/db/" + testVersion)},
		{name: "id other secret", body: id("https://myvault.vault.azure.net/secrets/other/" + testVersion)},
		{name: "id without version", body: id("https://myvault.vault.azure.net/secrets/db")},
		{name: "id trailing slash", body: id("https://myvault.vault.azure.net/secrets/db/")},
		{name: "id short version", body: id("https://myvault.vault.azure.net/secrets/db/abc")},
		{name: "id non-hex version", body: id("https://myvault.vault.azure.net/secrets/db/" + strings.Repeat("z", 32))},
		{name: "id extra segment", body: id("https://myvault.vault.azure.net/secrets/db/" + testVersion + "/x")},
		{name: "id keys collection", body: id("https://myvault.vault.azure.net/keys/db/" + testVersion)},
		{name: "id query", body: id("https://myvault.vault.azure.net/secrets/db/" + testVersion + "?x=1")},
		{name: "id fragment", body: id("https://myvault.vault.azure.net/secrets/db/" + testVersion + "#x")},
		{name: "id invalid name", body: id("https://myvault.vault.azure.net/secrets/d_b/" + testVersion)},
		{name: "pinned version differs", version: strings.Repeat("f", 32), body: id("https://myvault.vault.azure.net/secrets/db/" + testVersion)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeKV{serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, tt.body) }}
			s, err := f.vault(t).Get(context.Background(), "db", tt.version)
			ae := wantKind(t, err, KindMalformed, "get")
			if s.Value != "" || s.Name != "" {
				t.Errorf("a secret came with the error: %+v", s.SecretProps)
			}
			if ae.Detail == "" || strings.Contains(ae.Detail, "\n") {
				t.Errorf("Detail %q, want one line", ae.Detail)
			}
			for e := error(ae); e != nil; e = errors.Unwrap(e) {
				for _, form := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
					if strings.Contains(form, secretValue) || strings.Contains(form, secretNumber) {
						t.Fatalf("the error shows the value: %s", form)
					}
				}
			}
		})
	}
}

// TestGetValid checks what a well-formed bundle gives, including the
// legitimate empty value and the id's accepted spellings.
func TestGetValid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, req, version, body string
		wantName, wantValue      string
	}{
		{name: "plain", req: "db", body: bundle("db", "pw"), wantName: "db", wantValue: "pw"},
		{name: "empty value", req: "db", body: bundle("db", ""), wantName: "db", wantValue: ""},
		{name: "case differs", req: "DB", body: bundle("db", "pw"), wantName: "db", wantValue: "pw"},
		{name: "pinned", req: "db", version: testVersion, body: bundle("db", "pw"), wantName: "db", wantValue: "pw"},
		{name: "pinned upper-case", req: "db", version: strings.ToUpper(testVersion), body: bundle("db", "pw"), wantName: "db", wantValue: "pw"},
		{name: "port 443 and upper-case host", req: "db",
			body:     `{"value":"pw","id":"https://MYVAULT.vault.azure.net:443/secrets/db/` + testVersion + `"}`,
			wantName: "db", wantValue: "pw"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeKV{serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, tt.body) }}
			s, err := f.vault(t).Get(context.Background(), tt.req, tt.version)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != tt.wantName || s.Value != tt.wantValue || s.Version != testVersion || !s.Enabled {
				t.Errorf("got %+v value %q", s.SecretProps, s.Value)
			}
		})
	}
	// Metadata is copied.
	f := &fakeKV{serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, bundle("db", "pw")) }}
	s, err := f.vault(t).Get(context.Background(), "db", "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Tags["env"] != "prod" || s.Created != time.Unix(1700000000, 0).UTC() || s.Updated != time.Unix(1700000001, 0).UTC() ||
		s.ID != "https://myvault.vault.azure.net/secrets/db/"+testVersion {
		t.Errorf("metadata %+v", s.SecretProps)
	}
}

// listPage is a list page with items named names and nextLink next ("" for
// none).
func listPage(next string, names ...string) string {
	var items []string
	for _, n := range names {
		items = append(items, fmt.Sprintf(`{"id":"https://myvault.vault.azure.net/secrets/%s","attributes":{"enabled":true,"updated":1700000000}}`, n))
	}
	nl := "null"
	if next != "" {
		nl = fmt.Sprintf("%q", next)
	}
	return fmt.Sprintf(`{"value":[%s],"nextLink":%s}`, strings.Join(items, ","), nl)
}

// listAll drains l, returning the names listed and the first error.
func listAll(ctx context.Context, l *Lister) ([]string, error) {
	var names []string
	for l.More() {
		items, err := l.Next(ctx)
		if err != nil {
			return names, err
		}
		for _, it := range items {
			names = append(names, it.Name)
		}
	}
	return names, nil
}

// TestListMalformed answers the first list page with broken pages (issue 18
// #1, #6, #9): the listing fails with KindMalformed "list"; it never ends
// quietly and never panics.
func TestListMalformed(t *testing.T) {
	t.Parallel()
	item := func(id string) string { return `{"value":[{"id":` + id + `,"attributes":{"enabled":true}}]}` }
	for _, tt := range []struct{ name, body string }{
		{"empty body", ``},
		{"empty object", `{}`},
		{"value null", `{"value":null}`},
		{"value missing, nextLink only", `{"nextLink":null}`},
		{"value not an array", `{"value":{}}`},
		{"not JSON", `<html></html>`},
		{"null item", `{"value":[null]}`},
		{"item without id", `{"value":[{"attributes":{"enabled":true}}]}`},
		{"item id null", item(`null`)},
		{"item id vault root", item(`"https://myvault.vault.azure.net/"`)},
		{"item id bad escape", item(`"%zz"`)},
		{"item id not a URL", item(`"x"`)},
		{"item id empty", item(`""`)},
		{"item id empty name", item(`"https://myvault.vault.azure.net/secrets/"`)},
		{"item id foreign host", item(`"https://other.vault.azure.net/secrets/db"`)},
		{"item id with version", item(`"https://myvault.vault.azure.net/secrets/db/` + testVersion + `"`)},
		{"item id invalid name", item(`"https://myvault.vault.azure.net/secrets/a.b"`)},
		{"item id name too long", item(`"https://myvault.vault.azure.net/secrets/` + strings.Repeat("a", 128) + `"`)},
		{"good item then bad", `{"value":[{"id":"https://myvault.vault.azure.net/secrets/ok"},{"id":"x"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeKV{serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, tt.body) }}
			l := f.vault(t).Lister()
			names, err := listAll(context.Background(), l)
			wantKind(t, err, KindMalformed, "list")
			if len(names) != 0 {
				t.Errorf("listed %v from a malformed page", names)
			}
			if l.More() {
				t.Error("More() after a failed Next")
			}
			if _, again := l.Next(context.Background()); again == nil {
				t.Error("Next after a failure succeeded")
			}
			if n := f.requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestListMalformedSecondPage: a broken second page fails the listing after
// the first page's items were returned (issue 18 #6).
func TestListMalformedSecondPage(t *testing.T) {
	t.Parallel()
	f := &fakeKV{serve: func(r *http.Request) *http.Response {
		if strings.Contains(r.URL.RawQuery, "page=2") {
			return reply(r, http.StatusOK, `{}`)
		}
		return reply(r, http.StatusOK, listPage("https://myvault.vault.azure.net:443/secrets?api-version=2025-07-01&page=2", "a", "b"))
	}}
	names, err := listAll(context.Background(), f.vault(t).Lister())
	wantKind(t, err, KindMalformed, "list")
	if strings.Join(names, ",") != "a,b" {
		t.Errorf("listed %v before the failure, want a,b", names)
	}
}

// TestListEmpty: {"value":[]} is a legitimate empty vault.
func TestListEmpty(t *testing.T) {
	t.Parallel()
	f := &fakeKV{serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, `{"value":[],"nextLink":null}`) }}
	names, err := listAll(context.Background(), f.vault(t).Lister())
	if err != nil || len(names) != 0 {
		t.Errorf("%v %v", names, err)
	}
}

// TestListDuplicates: names repeated within the listing, in any case and
// across pages, give one item each, the first (issue 18 #5).
func TestListDuplicates(t *testing.T) {
	t.Parallel()
	f := &fakeKV{serve: func(r *http.Request) *http.Response {
		if strings.Contains(r.URL.RawQuery, "page=2") {
			return reply(r, http.StatusOK, listPage("", "dup", "c", "B"))
		}
		return reply(r, http.StatusOK, listPage("https://myvault.vault.azure.net:443/secrets?page=2", "dup", "DUP", "b"))
	}}
	names, err := listAll(context.Background(), f.vault(t).Lister())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, ","); got != "dup,b,c" {
		t.Errorf("listed %s, want dup,b,c", got)
	}
}

// TestListNextLinkLoop: a nextLink that repeats one already followed ends the
// listing with KindMalformed without requesting it again; a listing that
// never ends stops at the page cap (issue 18 #5).
func TestListNextLinkLoop(t *testing.T) {
	t.Parallel()
	const (
		linkA = "https://myvault.vault.azure.net:443/secrets?api-version=2025-07-01&$skiptoken=A"
		linkB = "https://myvault.vault.azure.net:443/secrets?api-version=2025-07-01&$skiptoken=B"
	)
	for _, tt := range []struct {
		name      string
		pages     map[string]string // by skiptoken ("" for the first page)
		wantNames string
		wantReqs  int32
	}{
		{name: "A to A", pages: map[string]string{"": listPage(linkA, "a"), "A": listPage(linkA, "b")}, wantNames: "a,b", wantReqs: 2},
		{name: "A to B to A", pages: map[string]string{"": listPage(linkA, "a"), "A": listPage(linkB, "b"), "B": listPage(linkA, "c")}, wantNames: "a,b,c", wantReqs: 3},
		{name: "A to A spelled differently", pages: map[string]string{
			"": listPage(linkA, "a"), "A": listPage(strings.Replace(strings.Replace(linkA, ":443", "", 1), "myvault", "MyVault", 1), "b")},
			wantNames: "a,b", wantReqs: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeKV{serve: func(r *http.Request) *http.Response {
				return reply(r, http.StatusOK, tt.pages[r.URL.Query().Get("$skiptoken")])
			}}
			l := f.vault(t).Lister()
			names, err := listAll(context.Background(), l)
			ae := wantKind(t, err, KindMalformed, "list")
			if !strings.Contains(ae.Detail, "nextLink") {
				t.Errorf("Detail %q does not say what is wrong", ae.Detail)
			}
			if got := strings.Join(names, ","); got != tt.wantNames {
				t.Errorf("listed %s, want %s", got, tt.wantNames)
			}
			if n := f.requests.Load(); n != tt.wantReqs {
				t.Errorf("%d requests, want %d", n, tt.wantReqs)
			}
			if l.More() {
				t.Error("More() after a failed Next")
			}
		})
	}
	t.Run("page cap", func(t *testing.T) {
		t.Parallel()
		if MaxListPages != 100_000 {
			t.Errorf("MaxListPages = %d", MaxListPages)
		}
		f := &fakeKV{}
		f.serve = func(r *http.Request) *http.Response {
			n := f.requests.Load()
			return reply(r, http.StatusOK, listPage(fmt.Sprintf("https://myvault.vault.azure.net/secrets?page=%d", n), fmt.Sprintf("s%d", n)))
		}
		l := f.vault(t).Lister()
		l.maxPages = 5
		names, err := listAll(context.Background(), l)
		ae := wantKind(t, err, KindMalformed, "list")
		if !strings.Contains(ae.Detail, "5 pages") {
			t.Errorf("Detail %q", ae.Detail)
		}
		if len(names) != 5 || f.requests.Load() != 5 {
			t.Errorf("%d names, %d requests, want 5 and 5", len(names), f.requests.Load())
		}
	})
}

// TestListFailedNextStays: after a failed Next (a 429 here: re-requesting is
// the pacer's job), More is false and Next keeps the error.
func TestListFailedNextStays(t *testing.T) {
	t.Parallel()
	f := &fakeKV{serve: func(r *http.Request) *http.Response {
		return reply(r, http.StatusTooManyRequests, `{"error":{"code":"Throttled","message":"slow down"}}`, "Retry-After", "3")
	}}
	l := f.vault(t).Lister()
	_, err := l.Next(context.Background())
	ae := wantKind(t, err, KindThrottled, "list")
	if ae.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter %v", ae.RetryAfter)
	}
	if l.More() {
		t.Error("More() after a failed Next")
	}
	_, err = l.Next(context.Background())
	wantKind(t, err, KindThrottled, "list")
	if n := f.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestMalformedChallenge answers the first request with broken 401
// challenges (issue 18 #2): the SDK must not see them (it panics on some);
// the call fails at once with KindUnauthenticated "MalformedChallenge".
func TestMalformedChallenge(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, challenge string }{
		{"authorization without tenant", `Bearer authorization="https://x", resource="https://vault.azure.net"`},
		{"authorization host only", `Bearer authorization="https://login.microsoftonline.com", resource="https://vault.azure.net"`},
		{"authorization empty tenant", `Bearer authorization="https://login.microsoftonline.com/", resource="https://vault.azure.net"`},
		{"authorization http", `Bearer authorization="http://login.microsoftonline.com/` + testTenant + `", resource="https://vault.azure.net"`},
		{"authorization not a URL", `Bearer authorization="login", resource="https://vault.azure.net"`},
		{"authorization missing", `Bearer resource="https://vault.azure.net"`},
		{"authorization_uri without tenant", `Bearer authorization_uri="https://x", resource="https://vault.azure.net"`},
		{"tenant with odd characters", `Bearer authorization="https://login.microsoftonline.com/a%2Fb", resource="https://vault.azure.net"`},
		{"resource missing", `Bearer authorization="https://login.microsoftonline.com/` + testTenant + `"`},
		{"resource not https", `Bearer authorization="https://login.microsoftonline.com/` + testTenant + `", resource="http://vault.azure.net"`},
		{"resource not a URL", `Bearer authorization="https://login.microsoftonline.com/` + testTenant + `", resource="vault"`},
		{"scope not a URL", `Bearer authorization="https://login.microsoftonline.com/` + testTenant + `", scope="x"`},
		{"not Bearer", `Basic realm="vault"`},
		{"PoP", `PoP authorization="https://login.microsoftonline.com/` + testTenant + `", resource="https://vault.azure.net"`},
		{"garbage", `!!!`},
		{"SDK keeps the last authorization", `Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net" authorization="https://x"`},
		{"resource of another service", `Bearer authorization="https://login.microsoftonline.com/` + testTenant + `", resource="https://management.azure.com"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeKV{challenge: tt.challenge, serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, bundle("db", "pw")) }}
			v := f.vault(t)
			_, err := v.Get(context.Background(), "db", "")
			ae := wantKind(t, err, KindUnauthenticated, "get")
			if ae.Code != "MalformedChallenge" || ae.Status != http.StatusUnauthorized {
				t.Errorf("Code %q Status %d, want MalformedChallenge 401", ae.Code, ae.Status)
			}
			_, err = listAll(context.Background(), v.Lister())
			ae = wantKind(t, err, KindUnauthenticated, "list")
			if ae.Code != "MalformedChallenge" {
				t.Errorf("Code %q", ae.Code)
			}
		})
	}
}

// TestGoodChallenges: the challenges Key Vault sends pass.
func TestGoodChallenges(t *testing.T) {
	t.Parallel()
	for _, c := range []string{
		goodChallenge,
		`Bearer authorization="https://login.microsoftonline.com/` + testTenant + `", resource="https://vault.azure.net", error="invalid_token"`,
		`Bearer authorization="https://login.microsoftonline.com/` + testTenant + `" scope="https://vault.azure.net/.default"`,
		`Bearer authorization=https://login.microsoftonline.com/` + testTenant + `, resource=https://vault.azure.net`,
	} {
		f := &fakeKV{challenge: c, serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, bundle("db", "pw")) }}
		if _, err := f.vault(t).Get(context.Background(), "db", ""); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

// TestPanicRecovered: a panic inside the SDK call (here the transport's)
// is a KindMalformed failure of the call, not a crash.
func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	f := &fakeKV{serve: func(r *http.Request) *http.Response {
		var items []int
		_ = items[3] // a runtime panic
		return nil
	}}
	v := f.vault(t)
	_, err := v.Get(context.Background(), "db", "")
	ae := wantKind(t, err, KindMalformed, "get")
	if !strings.Contains(ae.Detail, "panic") {
		t.Errorf("Detail %q", ae.Detail)
	}
	l := v.Lister()
	_, err = l.Next(context.Background())
	wantKind(t, err, KindMalformed, "list")
	if l.More() {
		t.Error("More() after a panic")
	}
}

// TestSDKPanicsOnShortAuthorization documents why the challenge guard
// exists: a bare azsecrets client panics on authorization="https://x"
// (index out of range in its challenge parsing); the Vault's client, with
// the guard, does not.
func TestSDKPanicsOnShortAuthorization(t *testing.T) {
	t.Parallel()
	f := &fakeKV{challenge: `Bearer authorization="https://x", resource="https://vault.azure.net"`,
		serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, bundle("db", "pw")) }}
	panics := func(c *azsecrets.Client) (p bool) {
		defer func() { p = recover() != nil }()
		_, _ = c.GetSecret(context.Background(), "db", "", nil)
		return false
	}
	bare, err := azsecrets.NewClient(testVaultURL, staticCredential{}, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: f.client(), Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	if !panics(bare) {
		t.Log("the SDK no longer panics on a short authorization URL; the guard stays as defence in depth")
	}
	if panics(f.vault(t).client) {
		t.Fatal("the SDK panicked behind the challenge guard")
	}
}

// TestTryTimeoutIsNotCancellation: a vault that never answers within the
// per-try timeout is KindUnavailable, not a cancellation, while the caller's
// context is alive (issue 18 #3, #4); it is KindCanceled when the caller's
// own context ended.
func TestTryTimeoutIsNotCancellation(t *testing.T) {
	t.Parallel()
	hang := func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("Authorization") == "" {
			return reply(r, http.StatusUnauthorized, `{}`, "WWW-Authenticate", goodChallenge), nil
		}
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	v, err := NewVault(testVaultURL, staticCredential{}, VaultOptions{
		HTTPClient: &http.Client{Transport: roundTripFunc(hang)},
		TryTimeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Get(context.Background(), "db", "")
	ae := wantKind(t, err, KindUnavailable, "get")
	if !strings.Contains(ae.Detail, "did not answer") {
		t.Errorf("Detail %q", ae.Detail)
	}
	_, err = v.Lister().Next(context.Background())
	wantKind(t, err, KindUnavailable, "list")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	v2, _ := NewVault(testVaultURL, staticCredential{}, VaultOptions{HTTPClient: &http.Client{Transport: roundTripFunc(hang)}, TryTimeout: time.Hour})
	_, err = v2.Get(ctx, "db", "")
	wantKind(t, err, KindCanceled, "get")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap the context's error", err)
	}
}

// TestTokenTimeoutInsideTry: a credential that hangs past the vault's try
// timeout is KindUnavailable for the vault call, not a cancellation (issue
// 18 #3).
func TestTokenTimeoutInsideTry(t *testing.T) {
	t.Parallel()
	cred := customCredential(t, func(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
		<-ctx.Done()
		return azcore.AccessToken{}, ctx.Err()
	})
	f := &fakeKV{serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, bundle("db", "pw")) }}
	v := f.vaultWith(t, cred, VaultOptions{TryTimeout: 50 * time.Millisecond})
	_, err := v.Get(context.Background(), "db", "")
	ae := wantKind(t, err, KindUnavailable, "")
	if ae.Auth != AuthCustom {
		t.Errorf("Auth %v, want AuthCustom", ae.Auth)
	}
}
