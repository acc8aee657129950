package akvcredstest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// logLine is one line of WithRequestLog, decoded loosely so that unknown
// fields show up.
type logLine map[string]any

func readLog(t *testing.T, text string) []logLine {
	t.Helper()
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestWithRequestLog(t *testing.T) {
	ctx := context.Background()
	var buf testutil.SyncBuffer
	s := akvcredstest.NewTestServer(t, akvcredstest.WithRequestLog(&buf))
	const value = "logged-secret-value-7c1e"
	s.SetSecret("logvault", "db", value)
	c := defaultClient(t, s, "logvault")
	if _, err := c.GetSecret(ctx, "db", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecret(ctx, "db", "", nil); err != nil {
		t.Fatal(err)
	}
	s.Close() // every answered request is logged by now

	text := buf.String()
	for _, leak := range []string{value, akvcredstest.DefaultClientSecret, "Bearer", "eyJ", "api-version", "client_secret"} {
		if strings.Contains(text, leak) {
			t.Errorf("request log contains %q:\n%s", leak, text)
		}
	}
	lines := readLog(t, text)
	reqs := s.Requests()
	if len(lines) != len(reqs) || len(lines) != 5 {
		t.Fatalf("%d log lines, %d logged requests, want 5 (challenge, openid, token, 2 gets):\n%s", len(lines), len(reqs), text)
	}
	wantKinds := []string{"challenge", "openid", "token", "get-secret", "get-secret"}
	for i, l := range lines {
		if l["kind"] != wantKinds[i] || l["kind"] != string(reqs[i].Kind) {
			t.Errorf("line %d kind %v, want %s", i, l["kind"], wantKinds[i])
		}
		for _, k := range []string{"time", "method", "host", "path", "status", "authorization", "kind"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d lacks %q: %v", i, k, l)
			}
		}
		if _, ok := l["query"]; ok {
			t.Errorf("line %d has a query: %v", i, l)
		}
	}
	first, last := lines[0], lines[4]
	if first["status"] != float64(401) || first["authorization"] != false || first["vault"] != "logvault" || first["secret"] != "db" {
		t.Errorf("challenge line: %v", first)
	}
	if last["status"] != float64(200) || last["authorization"] != true || last["method"] != "GET" ||
		last["host"] != "logvault.vault.azure.net" || last["path"] != "/secrets/db/" {
		t.Errorf("get line: %v", last)
	}
	if _, ok := lines[2]["vault"]; ok {
		t.Errorf("token line names a vault: %v", lines[2])
	}
}

func TestRequestLogHandler(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	s.SetSecret("adminvault", "db", "admin-secret-value")
	if _, err := defaultClient(t, s, "adminvault").GetSecret(ctx, "db", "", nil); err != nil {
		t.Fatal(err)
	}
	h := s.RequestLogHandler()
	get := func(target string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/requests")
	var all []akvcredstest.Request
	if code != 200 || json.Unmarshal([]byte(body), &all) != nil || len(all) != 4 {
		t.Fatalf("GET /requests: %d %s", code, body)
	}
	if strings.Contains(body, "admin-secret-value") || strings.Contains(body, akvcredstest.DefaultClientSecret) {
		t.Errorf("the log shows a secret: %s", body)
	}
	code, body = get("/requests?kind=token")
	var tokens []akvcredstest.Request
	if code != 200 || json.Unmarshal([]byte(body), &tokens) != nil || len(tokens) != 1 || tokens[0].Kind != akvcredstest.KindToken {
		t.Errorf("GET /requests?kind=token: %d %s", code, body)
	}
	if code, body = get("/requests?kind=purge-secret"); code != 200 || body != "[]" {
		t.Errorf("no requests of a kind: %d %s", code, body)
	}
	if code, _ = get("/other"); code != 404 {
		t.Errorf("GET /other: %d", code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/requests", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /requests: %d %v", rec.Code, rec.Header())
	}
}

func TestLoadSeedSoftDelete(t *testing.T) {
	ctx := context.Background()
	s := akvcredstest.NewTestServer(t)
	err := s.LoadSeed(strings.NewReader(`{"vaults":[
		{"name":"kept-vault","softDeleteRetentionInDays":30,"enablePurgeProtection":true,"secrets":[{"name":"a","value":"x"}]},
		{"name":"plain-vault","secrets":[{"name":"a","value":"x"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for vault, want := range map[string]string{"kept-vault": "CustomizedRecoverable/30", "plain-vault": "Recoverable+Purgeable/90"} {
		got, err := defaultClient(t, s, vault).GetSecret(ctx, "a", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if g := fmt.Sprintf("%s/%d", *got.Attributes.RecoveryLevel, *got.Attributes.RecoverableDays); g != want {
			t.Errorf("%s: %s, want %s", vault, g, want)
		}
	}
	for _, bad := range []string{
		`{"vaults":[{"name":"v1","softDeleteRetentionInDays":6}]}`,
		`{"vaults":[{"name":"v2","softDeleteRetentionInDays":91}]}`,
		`{"vaults":[{"name":"v3","enablePurgeProtection":"yes"}]}`,
	} {
		if err := s.LoadSeed(strings.NewReader(bad)); err == nil {
			t.Errorf("LoadSeed(%s): no error", bad)
		}
	}
}
