package akvcredstest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fuzzHosts are the hosts FuzzServeRequest addresses, by index; an index
// past the end uses the fuzzed host string.
var fuzzHosts = []string{
	"fuzzvault.vault.azure.net",
	"fuzzvault.vault.azure.cn",
	"policy.vault.azure.net", // access policy, no permission for the default app
	"walled.vault.azure.net", // firewall on
	"busy.vault.azure.net",   // rate limit of one request per window
	"missing.vault.azure.net",
	"fuzzvault.vault.azure.net:443",
	"login.microsoftonline.com",
	"login.chinacloudapi.cn",
	"login.microsoftonline.us",
	imdsHost,
	imdsHost + ":80",
	"evil.example.com",
}

var challengeRE = regexp.MustCompile(`^Bearer authorization="https://[a-z.]+/[0-9a-f-]+", resource="https://vault\.[a-z.]+"$`)

// resetForFuzz gives every fuzzed request the same starting state: the
// vaults below, no faults, an empty request log.
func (s *Server) resetForFuzz(fault Fault) {
	s.mu.Lock()
	s.vaults = map[string]*vault{}
	s.faults = nil
	s.requests = nil
	s.mu.Unlock()
	s.SetSecret("fuzzvault", "db-password", "fuzz-secret-value", ContentType("text/plain"), Tags(map[string]string{"env": "fuzz"}))
	s.SetSecret("fuzzvault", "api-key", "k1")
	s.SetSecret("fuzzvault", "api-key", "k2")
	s.SetSecret("fuzzvault", "off", "x", Disabled())
	s.SetSecret("fuzzvault", "gone", "deleted-value")
	s.DeleteSecret("fuzzvault", "gone")
	s.AddVault("policy", VaultAccessPolicy())
	s.SetSecret("policy", "db-password", "p")
	s.SetPermissions("policy", DefaultClientID, Permissions{})
	s.SetFirewall("walled", true)
	s.SetSecret("busy", "db-password", "b")
	s.SetRateLimit("busy", 1, time.Hour, true)
	if fault != (Fault{}) {
		s.Inject(fault)
	}
}

// FuzzServeRequest sends arbitrary requests — method, host, path, query,
// Authorization, Metadata and Content-Type headers, body — through the
// emulator's handlers, as the TLS and IMDS listeners would, optionally with
// an injected status fault. Invariants: no panic; a valid status; every
// request logged once with that status; JSON bodies are valid JSON; error
// answers have the shape of the host they imitate (Key Vault, Entra ID,
// IMDS) and a Key Vault 401 carries the challenge.
func FuzzServeRequest(f *testing.F) {
	t0 := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	s := NewTestServer(f, WithClock(func() time.Time { return t0 }), WithPageSize(1))
	tokens := []string{
		// 0: none; 1: valid for the public cloud; 2: valid for China; 3: expired;
		// 4: the fuzzed value as is; 5: "Bearer " + the fuzzed value.
		"",
		func() string {
			tk, _ := s.issueToken("https://vault.azure.net", DefaultTenantID, DefaultClientID, "oid", DefaultClientID, "", t0)
			return "Bearer " + tk
		}(),
		func() string {
			tk, _ := s.issueToken("https://vault.azure.cn", DefaultTenantID, DefaultClientID, "oid", DefaultClientID, "", t0)
			return "Bearer " + tk
		}(),
		func() string {
			tk, _ := s.issueToken("https://vault.azure.net", DefaultTenantID, DefaultClientID, "oid", DefaultClientID, "", t0.Add(-24*time.Hour))
			return "Bearer " + tk
		}(),
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID},
		"client_secret": {DefaultClientSecret}, "scope": {"https://vault.azure.net/.default"}}.Encode()
	seeds := []struct {
		host         uint8
		method, path string
		query        string
		auth         uint8
		authValue    string
		headers      uint8 // bit 0: Metadata: true; bit 1: form; bit 2: JSON
		fault        uint16
		hostValue    string
		body         string
	}{
		{0, "GET", "/secrets/db-password/", "api-version=7.6", 0, "", 0, 0, "", ""},
		{0, "GET", "/secrets/db-password/", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "GET", "/secrets/api-key/00000000000000000000000000000000", "api%2Dversion=2026-04-01", 1, "", 0, 0, "", ""},
		{0, "GET", "/secrets", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "GET", "/secrets", "api-version=7.6&$skiptoken=eyJOZXh0TWFya2VyIjoiMiExITEiLCJUYXJnZXRMb2NhdGlvbiI6MH0&maxresults=1", 1, "", 0, 0, "", ""},
		{0, "GET", "/secrets", "api-version=7.6&$skiptoken=%%%&maxresults=99", 1, "", 0, 0, "", ""},
		{0, "GET", "/secrets/api-key/versions", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "GET", "/secrets/off", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "GET", "/secrets/no_such", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "GET", "/secrets/db-password", "", 1, "", 0, 0, "", ""},
		{0, "PUT", "/secrets/new", "api-version=7.6", 1, "", 4, 0, "", `{"value":"v","contentType":"c","tags":{"a":"b"},"attributes":{"enabled":false,"nbf":1,"exp":99999999999}}`},
		{0, "PUT", "/secrets/new", "api-version=7.6", 1, "", 4, 0, "", `{"value":`},
		{0, "DELETE", "/secrets/api-key", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "POST", "/keys/k/sign", "api-version=7.6", 1, "", 4, 0, "", `{}`},
		{0, "PATCH", "/secrets/api-key/", "api-version=7.6", 1, "", 4, 0, "", `{"contentType":"x","tags":{},"attributes":{"enabled":false,"exp":1}}`},
		{0, "PATCH", "/secrets/api-key/00000000000000000000000000000000", "api-version=7.6", 1, "", 4, 0, "", `{}`},
		{0, "GET", "/deletedsecrets", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "GET", "/deletedsecrets/gone", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "POST", "/deletedsecrets/gone/recover", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "DELETE", "/deletedsecrets/gone", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "PUT", "/secrets/gone", "api-version=7.6", 1, "", 4, 0, "", `{"value":"v"}`},
		{0, "POST", "/secrets/db-password/backup", "api-version=7.6", 1, "", 0, 0, "", ""},
		{0, "POST", "/secrets/restore", "api-version=7.6", 1, "", 4, 0, "", `{"value":"KUF6dXJlS2V5VmF1bHRTZWNyZXRCYWNrdXBWMS5taWNyb3NvZnQuY29tZXlK"}`},
		{0, "GET", "/secrets/db-password/", "api-version=7.6&outContentType=application%2Fx-pem-file", 1, "", 0, 0, "", ""},
		{0, "GET", "/secrets/db-password", "api-version=7.6", 4, "Basic dXNlcjpwYXNz", 0, 0, "", ""},
		{0, "GET", "/secrets/db-password", "api-version=7.6", 5, "not.a.jwt", 0, 0, "", ""},
		{0, "GET", "/secrets/db-password", "api-version=7.6", 3, "", 0, 0, "", ""},
		{1, "GET", "/secrets/db-password", "api-version=7.6", 1, "", 0, 0, "", ""},
		{1, "GET", "/secrets/db-password", "api-version=7.6", 2, "", 0, 0, "", ""},
		{2, "GET", "/secrets/db-password", "api-version=7.6", 1, "", 0, 0, "", ""},
		{2, "GET", "/secrets", "api-version=7.6", 1, "", 0, 0, "", ""},
		{3, "GET", "/secrets/db-password", "api-version=7.6", 1, "", 0, 0, "", ""},
		{4, "GET", "/secrets/db-password", "api-version=7.6", 1, "", 0, 0, "", ""},
		{5, "GET", "/secrets/db-password", "api-version=7.6", 1, "", 0, 0, "", ""},
		{6, "GET", "/secrets/db-password", "api-version=7.6", 0, "", 0, 0, "", ""},
		{0, "GET", "/secrets/db-password", "api-version=7.6", 1, "", 0, 429, "", ""},
		{0, "GET", "/secrets/db-password", "api-version=7.6", 0, "", 0, 401, "", ""},
		{0, "GET", "/secrets/db-password", "api-version=7.6", 1, "", 0, 0x4000 | 7, "", ""},
		{0, "GET", "/secrets", "api-version=7.6", 1, "", 0, 0x2000, "", ""},
		{0, "GET", "/secrets/api-key/versions", "api-version=7.6", 1, "", 0, 0x2000, "", ""},
		{0, "GET", "/secrets/db-password", "api-version=7.6", 1, "", 0, 130, "", ""},
		{7, "GET", "/common/discovery/instance", "api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/common/oauth2/v2.0/authorize", 0, "", 0, 0, "", ""},
		{7, "GET", "/common/discovery/instance", "authorization_endpoint=http://evil/x", 0, "", 0, 0, "", ""},
		{7, "GET", "/" + DefaultTenantID + "/v2.0/.well-known/openid-configuration", "", 0, "", 0, 0, "", ""},
		{8, "GET", "/organizations/.well-known/openid-configuration", "", 0, "", 0, 0, "", ""},
		{7, "POST", "/" + DefaultTenantID + "/oauth2/v2.0/token", "", 0, "", 2, 0, "", form},
		{7, "POST", "/" + DefaultTenantID + "/oauth2/v2.0/token", "", 0, "", 2, 0, "", form + "&client_secret=wrong"},
		{7, "POST", "/" + DefaultTenantID + "/oauth2/token", "", 0, "", 2, 0, "", "grant_type=client_credentials&client_id=x&resource=https://vault.azure.net"},
		{7, "POST", "/" + DefaultTenantID + "/oauth2/v2.0/token", "", 0, "", 2, 0, "", "grant_type=client_credentials&client_id=" + DefaultClientID + "&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c&scope=https://vault.azure.net/.default"},
		{9, "POST", "/common/oauth2/v2.0/token", "", 0, "", 2, 0, "", form},
		{7, "POST", "/" + DefaultTenantID + "/oauth2/v2.0/token", "", 0, "", 2, 503, "", form},
		{10, "GET", "/metadata/identity/oauth2/token", "api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net", 0, "", 1, 0, "", ""},
		{10, "GET", "/metadata/identity/oauth2/token", "api-version=2018-02-01&resource=https://vault.azure.net&client_id=" + DefaultUserAssignedClientID, 0, "", 1, 0, "", ""},
		{10, "GET", "/metadata/identity/oauth2/token", "api-version=2018-02-01&resource=r&client_id=a&object_id=b", 0, "", 1, 0, "", ""},
		{11, "GET", "/metadata/identity/oauth2/token", "resource=r", 0, "", 0, 410, "", ""},
		{10, "GET", "/metadata/instance", "", 0, "", 1, 0, "", ""},
		{12, "GET", "/", "", 0, "", 0, 0, "", ""},
		{255, "GET", "/secrets/db-password", "api-version=7.6", 1, "", 0, 0, "FUZZVAULT.vault.azure.net.", ""},
		{255, "GET", "/secrets", "api-version=7.6", 1, "", 0, 0, "[::1]:443", ""},
		{255, "GET", "/", "", 0, "", 0, 0, "a.b.vault.azure.net", ""},
	}
	for _, sd := range seeds {
		f.Add(sd.host, sd.method, sd.path, sd.query, sd.auth, sd.authValue, sd.headers, sd.fault, sd.hostValue, []byte(sd.body))
	}
	f.Fuzz(func(t *testing.T, hostSel uint8, method, path, rawQuery string, authSel uint8, authValue string, headers uint8, faultSel uint16, hostValue string, body []byte) {
		host := hostValue
		if int(hostSel) < len(fuzzHosts) {
			host = fuzzHosts[hostSel]
		}
		var fault Fault
		if st := int(faultSel & 0x0fff); st != 0 {
			fault.Status = 300 + st%300
		}
		if faultSel&0x8000 != 0 {
			fault.RetryAfter = "7"
		}
		if faultSel&0x4000 != 0 {
			fault.Location = "https://evil.example/steal"
		}
		if faultSel&0x2000 != 0 {
			fault.NextLink = "https://evil.example/secrets?api-version=7.6"
		}
		s.resetForFuzz(fault)

		r := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		r.Method = method
		r.URL = &url.URL{Path: path, RawQuery: rawQuery}
		r.RequestURI = r.URL.RequestURI()
		r.Host = host
		switch {
		case int(authSel)%6 == 4:
			r.Header.Set("Authorization", authValue)
		case int(authSel)%6 == 5:
			r.Header.Set("Authorization", "Bearer "+authValue)
		case tokens[int(authSel)%6] != "":
			r.Header.Set("Authorization", tokens[int(authSel)%6])
		}
		if headers&1 != 0 {
			r.Header.Set("Metadata", "true")
		}
		switch {
		case headers&2 != 0:
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		case headers&4 != 0:
			r.Header.Set("Content-Type", "application/json")
		}
		imds := hostOnly(host) == imdsHost
		h := s.tlsSrv.Handler
		if imds {
			h = s.imdsSrv.Handler
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)

		res := rec.Result()
		code := res.StatusCode
		out := rec.Body.Bytes()
		if code < 200 || code > 599 {
			t.Fatalf("status %d", code)
		}
		if fault.Status != 0 && code != fault.Status {
			t.Errorf("status %d, want the injected %d", code, fault.Status)
		}
		if fault.Status != 0 && res.Header.Get("Location") != fault.Location {
			t.Errorf("Location %q, want %q", res.Header.Get("Location"), fault.Location)
		}
		reqs := s.Requests()
		if len(reqs) != 1 {
			t.Fatalf("%d requests logged, want 1", len(reqs))
		}
		if got := reqs[0]; got.Status != code || got.Method != method || got.Kind == "" {
			t.Errorf("logged %+v for a %d answer", got, code)
		}
		ct := res.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "application/json") && !json.Valid(out) {
			t.Fatalf("%d answer with Content-Type %s is not JSON: %q", code, ct, out)
		}
		_, c, isVault := parseVaultHost(hostOnly(host))
		switch {
		case imds:
			if code >= 400 && strings.HasPrefix(ct, "application/json") {
				var e struct {
					Error       string `json:"error"`
					Description string `json:"error_description"`
				}
				if json.Unmarshal(out, &e) != nil || e.Error == "" || e.Description == "" {
					t.Errorf("IMDS %d answer is not an IMDS error: %s", code, out)
				}
			}
		case isLoginHost(hostOnly(host)):
			if code >= 400 {
				var e struct {
					Error       string `json:"error"`
					Description string `json:"error_description"`
					Codes       []int  `json:"error_codes"`
				}
				if json.Unmarshal(out, &e) != nil || e.Error == "" || !strings.HasPrefix(e.Description, "AADSTS") || len(e.Codes) != 1 {
					t.Errorf("Entra ID %d answer is not an Entra ID error: %s", code, out)
				}
			}
		case isVault:
			if code >= 400 {
				var e kvErrorBody
				if json.Unmarshal(out, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Errorf("Key Vault %d answer is not a Key Vault error: %s", code, out)
				}
				if res.Header.Get("x-ms-request-id") == "" {
					t.Errorf("Key Vault %d answer without x-ms-request-id", code)
				}
			}
			if code == http.StatusUnauthorized && !challengeRE.MatchString(res.Header.Get("WWW-Authenticate")) {
				t.Errorf("Key Vault 401 without the challenge: WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
			}
			if r.Header.Get("Authorization") == "" && fault.Status == 0 && code != http.StatusUnauthorized {
				t.Errorf("a request without a token got %d, not the challenge", code)
			}
			if code == http.StatusOK && (reqs[0].Kind == KindListSecrets || reqs[0].Kind == KindListVersions || reqs[0].Kind == KindListDeletedSecrets) {
				var p struct {
					Value    []secretItem `json:"value"`
					NextLink *string      `json:"nextLink"`
				}
				if json.Unmarshal(out, &p) != nil || p.Value == nil {
					t.Errorf("list page %s has no value array", out)
				}
				if fault.NextLink != "" && (p.NextLink == nil || *p.NextLink != fault.NextLink) {
					t.Errorf("list page %s: nextLink not replaced by %s", out, fault.NextLink)
				}
			}
			if strings.Contains(string(out), "deleted-value") {
				t.Errorf("%s answer shows a deleted secret's value: %s", reqs[0].Kind, out)
			}
			if code == http.StatusOK && reqs[0].Kind == KindGetSecret {
				var b secretBundle
				prefix := "https://" + reqs[0].Vault + c.vaultSuffix + "/secrets/"
				if json.Unmarshal(out, &b) != nil || !strings.HasPrefix(b.ID, prefix) || !versionRE.MatchString(b.ID[strings.LastIndex(b.ID, "/")+1:]) {
					t.Errorf("secret bundle %s: id not under %s with a version", out, prefix)
				}
			}
		}
	})
}
