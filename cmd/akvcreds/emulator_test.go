package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// TestEmulator runs "akvcreds emulator" on random ports, then fetches from
// it with "akvcreds fetch" through the AKVCREDS_EMULATOR_* variables it
// prints, and stops it by cancelling its context.
func TestEmulator(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	seed := filepath.Join(dir, "seed.json")
	const value = "seeded-value-from-json"
	if err := os.WriteFile(seed, []byte(`{"vaults":[{"name":"seeded-vault","secrets":[{"name":"token","value":"`+value+`"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr, stop := startEmulator(t, "--addr", "127.0.0.1:0", "--imds-addr", "127.0.0.1:0", "--seed", seed, "--ca-out", ca)
	started := regexp.MustCompile(`on https://(127\.0\.0\.1:\d+), managed identity \(IMDS\) on http://(127\.0\.0\.1:\d+)`)
	m := started.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no addresses in:\n%s", stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{"AKVCREDS_EMULATOR_CA=" + ca, "127.0.0.1 contoso-prod.vault.azure.net login.microsoftonline.com",
		"--cacert " + ca, "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"} {
		if !strings.Contains(out, want) {
			t.Errorf("instructions lack %q", want)
		}
	}
	golden(t, "emulator_start", strings.ReplaceAll(out, ca, "<ca>"))

	env := map[string]string{
		envEmulatorCA: ca, envEmulatorAddr: m[1], envEmulatorIMDS: m[2],
		envTenantID: akvcredstest.DefaultTenantID, envClientID: akvcredstest.DefaultClientID,
		envClientSecret: akvcredstest.DefaultClientSecret,
	}
	r := runCmd(t, env, "", "fetch", "--vault", "seeded-vault", "--output", "env", "--reveal")
	wantCode(t, r, exitOK)
	if want := "export SEEDED_VAULT_TOKEN='" + value + "'\n"; r.stdout != want {
		t.Errorf("fetch: got %q, want %q", r.stdout, want)
	}
	r = runCmd(t, env, "", "fetch", "--vault", "seeded-vault", "--auth", "user-identity", "--client-id", akvcredstest.DefaultUserAssignedClientID)
	wantCode(t, r, exitOK)
	noSecrets(t, r, value)

	if code := stop(); code != exitOK {
		t.Errorf("emulator exit %d", code)
	}
	if !strings.HasSuffix(stderr.String(), "akvcreds emulator: stopped\n") {
		t.Errorf("no stop message:\n%s", stderr.String())
	}
}

func TestEmulatorBadSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seed, []byte(`{"vaults":[{"nme":"typo"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, nil, "", "emulator", "--addr", "127.0.0.1:0", "--imds-addr", "127.0.0.1:0", "--seed", seed, "--ca-out", filepath.Join(dir, "ca.pem"))
	wantCode(t, r, exitUsage)
	r = runCmd(t, nil, "", "emulator", "--seed", filepath.Join(dir, "missing.json"))
	wantCode(t, r, exitUsage)
}

// startEmulator runs "akvcreds emulator" with args and returns its standard
// error once it serves, and stop, which cancels it (as Ctrl-C does) and
// returns its exit code; the test's cleanup stops it too. The emulator must
// stop within ten seconds.
func startEmulator(t *testing.T, args ...string) (stderr *testutil.SyncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &testutil.SyncBuffer{}
	ch := make(chan int, 1)
	go func() {
		ch <- run(ctx, append([]string{"emulator"}, args...), strings.NewReader(""), &bytes.Buffer{}, stderr, func(string) string { return "" })
	}()
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-ch:
			case <-time.After(10 * time.Second):
				t.Error("emulator did not stop")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	deadline := time.After(10 * time.Second)
	for !strings.Contains(stderr.String(), "Serving until interrupted") {
		select {
		case code := <-ch:
			t.Fatalf("emulator exited with %d:\n%s", code, stderr.String())
		case <-deadline:
			t.Fatalf("emulator did not start:\n%s", stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return stderr, stop
}

// TestEmulatorRequestLog runs the emulator with --log and --admin-addr,
// sends it a token request the way any client would (the real host name,
// trusting the printed CA), and reads the request back from the log file
// and the admin listener.
func TestEmulatorRequestLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, logFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "requests.jsonl")
	stderr, _ := startEmulator(t, "--addr", "127.0.0.1:0", "--imds-addr", "127.0.0.1:0", "--ca-out", ca,
		"--log", logFile, "--admin-addr", "127.0.0.1:0")
	out := stderr.String()
	addr := regexp.MustCompile(`on https://(127\.0\.0\.1:\d+),`).FindStringSubmatch(out)
	admin := regexp.MustCompile(`Request log, read-only: (http://127\.0\.0\.1:\d+/requests) `).FindStringSubmatch(out)
	if addr == nil || admin == nil || !strings.Contains(out, "Request log: "+logFile+" (one JSON line per request)") {
		t.Fatalf("start message lacks the addresses or the log:\n%s", out)
	}

	hc := standaloneClient(t, ca, addr[1])
	emulatorToken(t, hc)

	resp, err := http.Get(admin[1] + "?kind=token")
	if err != nil {
		t.Fatal(err)
	}
	var reqs []akvcredstest.Request
	err = json.NewDecoder(resp.Body).Decode(&reqs)
	resp.Body.Close()
	if err != nil || len(reqs) != 1 || reqs[0].Status != 200 || reqs[0].Host != "login.microsoftonline.com" {
		t.Errorf("admin /requests?kind=token: %v %+v", err, reqs)
	}
	if resp, err := http.Post(admin[1], "text/plain", strings.NewReader("")); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("admin listener accepts POST: %v", err)
	} else {
		resp.Body.Close()
	}

	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), akvcredstest.DefaultClientSecret) || strings.Count(string(b), "\n") != 1 ||
		!strings.Contains(string(b), `"kind":"token"`) || !strings.Contains(string(b), `"status":200`) {
		t.Errorf("log file:\n%s", b)
	}
}

func TestEmulatorRequestLogBadFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runCmd(t, nil, "", "emulator", "--addr", "127.0.0.1:0", "--imds-addr", "127.0.0.1:0", "--ca-out", filepath.Join(dir, "ca.pem"),
		"--log", filepath.Join(dir, "no", "such", "dir", "log.jsonl"))
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, "opening --log") {
		t.Errorf("stderr: %s", r.stderr)
	}
	r = runCmd(t, nil, "", "emulator", "--addr", "127.0.0.1:0", "--imds-addr", "127.0.0.1:0", "--ca-out", filepath.Join(dir, "ca.pem"),
		"--admin-addr", "256.0.0.1:0")
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "--admin-addr") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// TestEmulatorSeedCertificate: a seed's certificate is generated at start,
// fetched as its backing secret (PEM: key, then leaf and CA), and the
// --ca-out file verifies its leaf, as a test in another language would.
func TestEmulatorSeedCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	seed := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seed, []byte(`{"vaults":[{"name":"cert-vault","certificates":[
		{"name":"client-tls","key":"ec-p256","contentType":"application/x-pem-file","issuer":"ca","validDays":30}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr, stop := startEmulator(t, "--addr", "127.0.0.1:0", "--imds-addr", "127.0.0.1:0", "--seed", seed, "--ca-out", ca)
	defer stop()
	m := regexp.MustCompile(`on https://(127\.0\.0\.1:\d+), managed identity \(IMDS\) on http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no addresses in:\n%s", stderr.String())
	}
	env := map[string]string{
		envEmulatorCA: ca, envEmulatorAddr: m[1], envEmulatorIMDS: m[2],
		envTenantID: akvcredstest.DefaultTenantID, envClientID: akvcredstest.DefaultClientID,
		envClientSecret: akvcredstest.DefaultClientSecret,
	}
	r := runCmd(t, env, "", "fetch", "--vault", "cert-vault", "--secret", "client-tls", "--output", "json", "--reveal")
	wantCode(t, r, exitOK)
	var creds []struct {
		Password string `json:"password"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &creds); err != nil || len(creds) != 1 {
		t.Fatalf("fetch output %v: %s", err, r.stdout)
	}
	var blocks []*pem.Block
	for rest := []byte(creds[0].Password); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) != 3 || blocks[0].Type != "PRIVATE KEY" || blocks[1].Type != "CERTIFICATE" || blocks[2].Type != "CERTIFICATE" {
		t.Fatalf("%d PEM blocks, want the key, the leaf and the CA", len(blocks))
	}
	leaf, err := x509.ParseCertificate(blocks[1].Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the --ca-out file holds no certificate")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the --ca-out CA does not verify the seeded certificate: %v", err)
	}
}

// standaloneClient is a client of a standalone emulator, as any program
// would make one: the real host names, dialled to addr, trusting the CA
// file.
func standaloneClient(t *testing.T, caFile, addr string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// emulatorToken gets a Key Vault token for the default app.
func emulatorToken(t *testing.T, hc *http.Client) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {akvcredstest.DefaultClientID},
		"client_secret": {akvcredstest.DefaultClientSecret}, "scope": {"https://vault.azure.net/.default"}}
	resp, err := hc.PostForm("https://login.microsoftonline.com/"+akvcredstest.DefaultTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&tok) != nil {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	return tok.AccessToken
}

// TestEmulatorEvents adds an event subscription through the admin
// listener, sets a secret through the Key Vault API and finds the
// SecretNewVersionCreated event at the webhook.
func TestEmulatorEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	stderr, _ := startEmulator(t, "--addr", "127.0.0.1:0", "--imds-addr", "127.0.0.1:0", "--ca-out", ca, "--admin-addr", "127.0.0.1:0")
	out := stderr.String()
	addr := regexp.MustCompile(`on https://(127\.0\.0\.1:\d+),`).FindStringSubmatch(out)
	admin := regexp.MustCompile(`Event Grid subscriptions: POST (http://127\.0\.0\.1:\d+)/eventSubscriptions`).FindStringSubmatch(out)
	if addr == nil || admin == nil {
		t.Fatalf("start message lacks the addresses:\n%s", out)
	}
	events := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("aeg-event-type") == "SubscriptionValidation" {
			var evs []struct {
				Data struct{ ValidationCode string } `json:"data"`
			}
			_ = json.Unmarshal(b, &evs)
			_ = json.NewEncoder(w).Encode(map[string]string{"validationResponse": evs[0].Data.ValidationCode})
			return
		}
		events <- string(b)
	}))
	defer hook.Close()
	resp, err := http.Post(admin[1]+"/eventSubscriptions", "application/json",
		strings.NewReader(`{"vault":"`+demoProd+`","name":"rotation","endpointUrl":"`+hook.URL+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /eventSubscriptions: %d", resp.StatusCode)
	}

	hc := standaloneClient(t, ca, addr[1])
	req, _ := http.NewRequest(http.MethodPut, "https://"+demoProd+".vault.azure.net/secrets/rotated?api-version=7.5", strings.NewReader(`{"value":"new-value"}`))
	req.Header.Set("Authorization", "Bearer "+emulatorToken(t, hc))
	req.Header.Set("Content-Type", "application/json")
	if resp, err = hc.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, err = http.Post(admin[1]+"/flushEvents", "", nil); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case ev := <-events:
		if !strings.Contains(ev, `"eventType":"Microsoft.KeyVault.SecretNewVersionCreated"`) || !strings.Contains(ev, `"subject":"rotated"`) || strings.Contains(ev, "new-value") {
			t.Errorf("event %s", ev)
		}
	default:
		t.Fatal("no event delivered")
	}
}
