package akvcredstest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

// TestJSStyleClient replays what the JS clients send: no discovery or OpenID
// call, a token form with extra fields, percent-encoded query keys, and
// nextLinks followed verbatim.
func TestJSStyleClient(t *testing.T) {
	s := akvcredstest.NewTestServer(t, akvcredstest.WithPageSize(2))
	s.SetSecret("jsvault", "a", "va")
	s.SetSecret("jsvault", "b", "vb")
	s.SetSecret("jsvault", "c", "vc")
	hc := s.Client()

	// 1. First request: no Authorization, no body -> challenge.
	resp, body := do(t, s, http.MethodGet, "https://jsvault.vault.azure.net/secrets/a/?api%2Dversion=2026-04-01", "", nil)
	if resp.StatusCode != 401 {
		t.Fatalf("challenge status %d", resp.StatusCode)
	}
	want := `Bearer authorization="https://login.microsoftonline.com/` + akvcredstest.DefaultTenantID + `", resource="https://vault.azure.net"`
	if got := resp.Header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate %q", got)
	}
	if string(body) != `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."}}` {
		t.Errorf("challenge body %s", body)
	}

	// 2. Token request with the JS client's extra fields.
	form := url.Values{
		"client_id":                  {akvcredstest.DefaultClientID},
		"client_secret":              {akvcredstest.DefaultClientSecret},
		"scope":                      {"https://vault.azure.net/.default"},
		"grant_type":                 {"client_credentials"},
		"claims":                     {`{"access_token":{"xms_cc":{"values":["CP1"]}}}`},
		"client-request-id":          {"5d6e7f80-0000-4000-8000-000000000001"},
		"x-client-SKU":               {"msal.js.node"},
		"x-client-VER":               {"3.8.0"},
		"x-client-OS":                {"linux"},
		"x-client-CPU":               {"x64"},
		"x-ms-lib-capability":        {"retry-after, h429"},
		"x-client-current-telemetry": {"5|771,2,,,|,"},
	}
	treq, _ := http.NewRequest(http.MethodPost,
		"https://login.microsoftonline.com/"+akvcredstest.DefaultTenantID+"/oauth2/v2.0/token?client-request-id=5d6e7f80-0000-4000-8000-000000000001",
		strings.NewReader(form.Encode()))
	treq.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	var tok struct {
		TokenType   string `json:"token_type"`
		ExpiresIn   *int   `json:"expires_in"`
		AccessToken string `json:"access_token"`
	}
	tresp := doJSON(t, hc, treq, &tok)
	if tresp.StatusCode != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn == nil || *tok.ExpiresIn != 3599 || tok.AccessToken == "" {
		t.Fatalf("token response %d %+v", tresp.StatusCode, tok)
	}

	// 3. Authenticated get with the encoded key.
	resp, body = do(t, s, http.MethodGet, "https://jsvault.vault.azure.net/secrets/a/?api%2Dversion=2026-04-01", tok.AccessToken, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"value":"va"`) {
		t.Fatalf("get: %d %s", resp.StatusCode, body)
	}

	// 4. List, following nextLink exactly as given.
	next := "https://jsvault.vault.azure.net/secrets?api%2Dversion=2026-04-01"
	var names []string
	for next != "" {
		resp, body = do(t, s, http.MethodGet, next, tok.AccessToken, nil)
		var page struct {
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
			NextLink *string `json:"nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != 200 {
			t.Fatalf("list: %d %s", resp.StatusCode, body)
		}
		for _, v := range page.Value {
			names = append(names, v.ID[strings.LastIndex(v.ID, "/")+1:])
		}
		next = ""
		if page.NextLink != nil {
			next = *page.NextLink
			if !strings.HasPrefix(next, "https://jsvault.vault.azure.net:443/secrets?api-version=2026-04-01&$skiptoken=") {
				t.Errorf("nextLink %q", next)
			}
		}
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("listed %v", names)
	}
	if s.Count(akvcredstest.KindOpenID) != 0 || s.Count(akvcredstest.KindDiscovery) != 0 || s.Count(akvcredstest.KindToken) != 1 {
		t.Errorf("requests: %+v", s.Requests())
	}
	for _, r := range s.Requests() {
		if r.Kind == akvcredstest.KindGetSecret && r.Query.Get("api-version") != "2026-04-01" {
			t.Errorf("query not decoded: %v", r.Query)
		}
	}
	assertNoRefusedDials(t, s)
}

func TestTokenValidation(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := akvcredstest.NewTestServer(t, akvcredstest.WithClock(clock), akvcredstest.WithTokenLifetime(time.Hour))
	s.SetSecret("tv", "s", "v")
	url := "https://tv.vault.azure.net/secrets/s?api-version=7.5"

	good := rawToken(t, s, "https://vault.azure.net/.default")
	if resp, body := do(t, s, http.MethodGet, url, good, nil); resp.StatusCode != 200 {
		t.Fatalf("good token: %d %s", resp.StatusCode, body)
	}
	// Trailing-slash audience is accepted too.
	slash := rawToken(t, s, "https://vault.azure.net//.default")
	if resp, body := do(t, s, http.MethodGet, url, slash, nil); resp.StatusCode != 200 {
		t.Errorf("trailing-slash audience: %d %s", resp.StatusCode, body)
	}

	check := func(name, tok, wantMsg string) {
		t.Helper()
		resp, body := do(t, s, http.MethodGet, url, tok, nil)
		if resp.StatusCode != 401 || !strings.Contains(string(body), wantMsg) || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s (%q)", name, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
	mgmt := rawToken(t, s, "https://management.azure.com/.default")
	check("wrong audience", mgmt, "AKV10022: Invalid audience. Expected https://vault.azure.net, found: https://management.azure.com.")

	const other = "22222222-3333-4444-5555-666666666666"
	s.AddApp(other, "33333333-3333-3333-3333-333333333333", "other-secret")
	oc, err := azidentity.NewClientSecretCredential(other, "33333333-3333-3333-3333-333333333333", "other-secret",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts(s, -1), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	otok, err := oc.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	check("wrong tenant", otok.Token, "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/"+akvcredstest.DefaultTenantID+"/, found https://sts.windows.net/"+other+"/.")

	parts := strings.Split(good, ".")
	check("foreign signature", parts[0]+"."+parts[1]+".AAAA", "AKV10046")
	check("not a JWT", "garbage", "AKV10046")

	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	check("expired", good, "[TokenExpired]")
}

func TestSovereignClouds(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("sov", "s", "v")
	for _, tc := range []struct {
		cfg     cloud.Configuration
		vault   string
		login   string
		resouce string
	}{
		{cloud.AzureChina, "https://sov.vault.azure.cn", "login.chinacloudapi.cn", "https://vault.azure.cn"},
		{cloud.AzureGovernment, "https://sov.vault.usgovcloudapi.net", "login.microsoftonline.us", "https://vault.usgovcloudapi.net"},
	} {
		s.ResetRequests()
		opts := clientOpts(s, -1)
		opts.Cloud = tc.cfg
		cred, err := azidentity.NewClientSecretCredential(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		c, err := azsecrets.NewClient(tc.vault, cred, &azsecrets.ClientOptions{ClientOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.GetSecret(ctx, "s", "", nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.vault, err)
		}
		if !strings.HasPrefix(string(*got.ID), tc.vault+"/secrets/s/") {
			t.Errorf("id %s", *got.ID)
		}
		for _, r := range s.Requests() {
			if r.Kind == akvcredstest.KindToken && r.Host != tc.login {
				t.Errorf("token from %s, want %s", r.Host, tc.login)
			}
		}
		resp, _ := do(t, s, http.MethodGet, tc.vault+"/secrets/s?api-version=7.5", "", nil)
		if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, "https://"+tc.login+"/") || !strings.HasSuffix(h, `resource="`+tc.resouce+`"`) {
			t.Errorf("challenge %q", h)
		}
	}
	assertNoRefusedDials(t, s)
}

func TestDialRefusal(t *testing.T) {
	// NewServer, not NewTestServer: this test means to dial elsewhere.
	s, err := akvcredstest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	_, err = s.Client().Get("https://example.com/")
	if err == nil || !strings.Contains(err.Error(), "akvcredstest: refusing to dial example.com:443") {
		t.Errorf("example.com: %v", err)
	}
	_, err = s.Client().Get("http://169.254.169.254:8080/")
	if err == nil {
		t.Error("IMDS on another port was dialled")
	}
	if got := s.RefusedDials(); len(got) != 2 || got[0] != "example.com:443" || got[1] != "169.254.169.254:8080" {
		t.Errorf("RefusedDials %v", got)
	}
	// An unknown vault does not resolve, as in Azure; that is not a refusal.
	_, err = s.Client().Get("https://nosuchvault.vault.azure.net/secrets?api-version=7.5")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("unknown vault: %v", err)
	}
	if len(s.RefusedDials()) != 2 {
		t.Errorf("RefusedDials %v", s.RefusedDials())
	}
}

func TestIMDSRaw(t *testing.T) {
	s := akvcredstest.NewTestServer(t)
	get := func(q string, meta bool) (*http.Response, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://169.254.169.254/metadata/identity/oauth2/token?"+q, nil)
		if meta {
			req.Header.Set("Metadata", "true")
		}
		var m map[string]string
		return doJSON(t, s.Client(), req, &m), m
	}
	base := "api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"
	resp, m := get(base, false)
	if resp.StatusCode != 400 || m["error"] != "invalid_request" || m["error_description"] != "Required metadata header not specified" {
		t.Errorf("no metadata header: %d %v", resp.StatusCode, m)
	}
	resp, m = get(base+"&client_id=00000000-0000-0000-0000-00000000beef", true)
	if resp.StatusCode != 400 || m["error_description"] != "Identity not found" {
		t.Errorf("unknown identity: %d %v", resp.StatusCode, m)
	}
	resp, m = get(base+"&client_id="+akvcredstest.DefaultUserAssignedClientID, true)
	if resp.StatusCode != 200 || m["token_type"] != "Bearer" || m["expires_in"] != "3599" || m["resource"] != "https://vault.azure.net" ||
		m["client_id"] != akvcredstest.DefaultUserAssignedClientID || m["expires_on"] == "" || m["not_before"] == "" || m["ext_expires_in"] == "" {
		t.Errorf("user-assigned: %d %v", resp.StatusCode, m)
	}
	resp, m = get(base, true)
	if resp.StatusCode != 200 || m["access_token"] == "" {
		t.Errorf("system-assigned: %d %v", resp.StatusCode, m)
	}
	s.RemoveSystemAssignedIdentity()
	resp, m = get(base, true)
	if resp.StatusCode != 400 || m["error_description"] != "Identity not found" {
		t.Errorf("removed system identity: %d %v", resp.StatusCode, m)
	}
	if s.Count(akvcredstest.KindIMDS) != 5 {
		t.Errorf("IMDS count %d", s.Count(akvcredstest.KindIMDS))
	}
}

func TestEntraRawErrors(t *testing.T) {
	s := akvcredstest.NewTestServer(t)
	post := func(tenant string, form url.Values) (int, map[string]any) {
		t.Helper()
		return postForm(t, s.Client(), "https://login.microsoftonline.com/"+tenant+"/oauth2/v2.0/token", form)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {akvcredstest.DefaultClientID},
		"client_secret": {"nope"}, "scope": {"https://vault.azure.net/.default"}}
	st, m := post(akvcredstest.DefaultTenantID, form)
	desc, _ := m["error_description"].(string)
	if st != 401 || m["error"] != "invalid_client" || !strings.HasPrefix(desc, "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+akvcredstest.DefaultClientID+"'.\r\nTrace ID: ") ||
		!strings.Contains(desc, "\r\nCorrelation ID: ") || !strings.Contains(desc, "\r\nTimestamp: ") {
		t.Errorf("bad secret: %d %v", st, m)
	}
	for _, k := range []string{"error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %s in %v", k, m)
		}
	}
	st, m = post("44444444-4444-4444-4444-444444444444", form)
	if st != 400 || m["error"] != "invalid_request" || !strings.HasPrefix(m["error_description"].(string), "AADSTS90002: Tenant '44444444-4444-4444-4444-444444444444' not found.") {
		t.Errorf("unknown tenant: %d %v", st, m)
	}
	form.Set("client_id", "55555555-5555-5555-5555-555555555555")
	st, m = post(akvcredstest.DefaultTenantID, form)
	if st != 400 || m["error"] != "unauthorized_client" || !strings.HasPrefix(m["error_description"].(string), "AADSTS700016: ") {
		t.Errorf("unknown app: %d %v", st, m)
	}
	resp, body := do(t, s, http.MethodGet, "https://login.microsoftonline.com/44444444-4444-4444-4444-444444444444/v2.0/.well-known/openid-configuration", "", nil)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"error":"invalid_tenant"`) || !strings.Contains(string(body), "AADSTS90002") {
		t.Errorf("openid unknown tenant: %d %s", resp.StatusCode, body)
	}
}
