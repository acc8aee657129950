package main

// Tests of issue 18 item 15: what the command reads is bounded, and what
// it prints from Azure cannot drive the terminal.

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// zeros is an endless standard input.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestInputBounds checks that client secrets and passwords are read up to
// 64 KiB and certificates and the emulator's CA up to 1 MiB: more is a
// usage error naming the flag or variable, and /dev/zero fails at once.
func TestInputBounds(t *testing.T) {
	t.Parallel()
	big := func(n int) string { return strings.Repeat("a", n) }
	ids := []string{envTenantID, akvcredstest.DefaultTenantID, envClientID, certClientID}
	tests := []struct {
		name  string
		file  string    // written to a file, whose path replaces FILE in args and env
		stdin io.Reader // nil: empty
		env   []string  // pairs, added to the emulator's (and the IDs)
		args  []string
		want  string // in stderr
	}{
		{name: "client-secret-file", file: big(64<<10 + 1), args: []string{"--client-secret-file", "FILE"},
			want: "--client-secret-file FILE is too large: more than 64 KiB"},
		{name: "client-secret-file-dev-zero", args: []string{"--client-secret-file", "/dev/zero"},
			want: "--client-secret-file /dev/zero is too large"},
		{name: "client-secret-stdin", stdin: strings.NewReader(big(64<<10 + 1)), args: []string{"--client-secret-stdin"},
			want: "the client secret on standard input (--client-secret-stdin) is too large"},
		{name: "client-secret-stdin-endless", stdin: zeros{}, args: []string{"--client-secret-stdin"},
			want: "(--client-secret-stdin) is too large"},
		{name: "certificate-password-file", file: big(64<<10 + 1), args: []string{"--auth", "certificate", "--certificate", "FILE", "--certificate-password-file", "FILE"},
			want: "--certificate-password-file FILE is too large: more than 64 KiB"},
		{name: "certificate-password-file-dev-zero", args: []string{"--auth", "certificate", "--certificate", "/dev/zero", "--certificate-password-file", "/dev/zero"},
			want: "--certificate-password-file /dev/zero is too large"},
		{name: "certificate", file: big(1<<20 + 1), args: []string{"--auth", "certificate", "--certificate", "FILE"},
			want: "--certificate FILE is too large: more than 1024 KiB"},
		{name: "certificate-dev-zero", args: []string{"--auth", "certificate", "--certificate", "/dev/zero"},
			want: "--certificate /dev/zero is too large"},
		{name: "certificate-env-dev-zero", env: []string{envCertPath, "/dev/zero"}, args: []string{"--auth", "certificate"},
			want: envCertPath + " /dev/zero is too large"},
		{name: "environment-certificate-dev-zero", env: []string{envCertPath, "/dev/zero"}, args: []string{"--auth", "environment"},
			want: "larger than"},
		{name: "workload-identity-token-dev-zero", args: []string{"--auth", "workload-identity", "--federated-token-file", "/dev/zero"},
			want: "larger than"},
		{name: "emulator-ca", file: big(1<<20 + 1), env: []string{envEmulatorCA, "FILE"}, args: []string{"--auth", "system-identity"},
			want: envEmulatorCA + " FILE is too large: more than 1024 KiB"},
		{name: "emulator-ca-dev-zero", env: []string{envEmulatorCA, "/dev/zero"}, args: []string{"--auth", "system-identity"},
			want: envEmulatorCA + " /dev/zero is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmu(t)
			path := "FILE"
			if tt.file != "" {
				path = testutil.WriteFile(t, "big", []byte(tt.file))
			}
			subst := func(ss []string) []string {
				out := make([]string, len(ss))
				for i, s := range ss {
					out[i] = strings.ReplaceAll(s, "FILE", path)
				}
				return out
			}
			stdin := tt.stdin
			if stdin == nil {
				stdin = strings.NewReader("")
			}
			start := time.Now()
			r := runWith(t, e.with(append(append([]string(nil), ids...), subst(tt.env)...)...), stdin,
				append([]string{"fetch", "--vault", "app-vault"}, subst(tt.args)...)...)
			wantCode(t, r, exitUsage)
			if want := subst([]string{tt.want})[0]; !strings.Contains(r.stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if n := len(e.srv.Requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

// hostile is text with terminal control sequences: clear the screen, set
// the window title, a C1 CSI (U+009B), DEL, a bidirectional override and a
// newline that would start a fake line.
const hostile = "x\x1b[2J\x1b]0;pwned\a\u009b31m\x7f\u202e\nFAKE: ok"

// hostileLine is the first line of hostile as the command prints it
// (akvcreds keeps only the first line of Azure's messages).
const hostileLine = `x\x1b[2J\x1b]0;pwned\a\u009b31m\x7f\u202e`

// noControls fails if out holds a character a terminal would act on, or a
// line that hostile text made.
func noControls(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		if r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 || r == '\u202e' || r == utf8.RuneError {
			t.Errorf("%s: raw control character %U at byte %d:\n%q", what, r, i, out)
			return
		}
	}
	if strings.Contains(out, "\nFAKE") {
		t.Errorf("%s: hostile text started a line:\n%s", what, out)
	}
}

// seedHostile adds secrets whose content type, tags and JSON username hold
// hostile text.
func seedHostile(t *testing.T, e *emu) {
	e.srv.SetSecret("app-vault", "evil-type", "evil-type-value", akvcredstest.ContentType(hostile),
		akvcredstest.Tags(map[string]string{"note": hostile}))
	user, _ := json.Marshal(map[string]string{"username": hostile, "password": "evil-json-value"})
	e.srv.SetSecret("app-vault", "evil-user", string(user), akvcredstest.ContentType("application/json"))
}

// TestFetchEscapesAzureText checks that content types, tags and usernames
// from Azure are printed escaped by every fetch output, and that JSON
// output still decodes to the exact values.
func TestFetchEscapesAzureText(t *testing.T) {
	t.Parallel()
	for _, output := range []string{"table", "json", "env"} {
		t.Run(output, func(t *testing.T) {
			t.Parallel()
			_, r := cmdCase{setup: seedHostile, args: fetchArgs("--secret", "evil-type,evil-user", "--output", output, "--reveal")}.run(t)
			if output == "env" {
				// Values are printed as they are, single-quoted for eval;
				// only the names could reach a terminal, and they are
				// letters, digits and '_'.
				for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
					name, _, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
					if strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
						t.Errorf("env name %q", name)
					}
				}
				return
			}
			noControls(t, "stdout", r.stdout)
			noControls(t, "stderr", r.stderr)
			if output == "table" {
				goldenResult(t, "fetch_hostile_table", r)
				return
			}
			var creds []struct {
				Username    string            `json:"username"`
				ContentType string            `json:"contentType"`
				Tags        map[string]string `json:"tags"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &creds); err != nil {
				t.Fatal(err)
			}
			if len(creds) != 2 || creds[0].ContentType != hostile || creds[0].Tags["note"] != hostile || creds[1].Username != hostile {
				t.Errorf("JSON does not decode to the stored text: %+v", creds)
			}
		})
	}
}

// TestEnvNameEscapes checks that env output names cannot carry control
// characters.
func TestEnvNameEscapes(t *testing.T) {
	t.Parallel()
	if got := envName("v_" + hostile); got != "V_X__2J__0_PWNED___31M_____FAKE__OK" {
		t.Errorf("envName = %q", got)
	}
}

// TestAzureMessagesEscaped checks that Key Vault's and Entra ID's error
// messages are printed escaped by fetch and check (-v), when what answers
// for Azure puts control sequences in them.
func TestAzureMessagesEscaped(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		env  func(e *emu) map[string]string
		args []string
		code int
	}{
		{"fetch-key-vault", nil, fetchArgs("--secret", "old-password,no-such-secret,db-password"), exitPartial},
		{"check-key-vault", nil, checkArgs("-v", "--secret", "old-password,no-such-secret,db-password"), exitPartial},
		{"fetch-entra-id", func(e *emu) map[string]string { return e.withSecret(envClientSecret, "wrong") }, fetchArgs("--secret", "db-password"), exitAuth},
		{"check-entra-id", func(e *emu) map[string]string { return e.withSecret(envClientSecret, "wrong") }, checkArgs("-v", "--secret", "db-password"), exitAuth},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, r := cmdCase{setup: hostileAzure, env: tt.env, args: tt.args, code: tt.code}.run(t)
			noControls(t, "stdout", r.stdout)
			noControls(t, "stderr", r.stderr)
			if !strings.Contains(r.stderr, hostileLine) {
				t.Errorf("stderr does not show the message escaped:\n%s", r.stderr)
			}
		})
	}
}

// hostileAzure puts a proxy between the command and the emulator that
// prefixes hostile text to the message of every Key Vault and Entra ID
// error answer, and points e's environment at it.
func hostileAzure(t *testing.T, e *emu) {
	prefix, _ := json.Marshal(hostile)
	prefix = prefix[:len(prefix)-1] // the opening quote and the escaped text
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "https", pr.In.Host, pr.In.Host
		},
		Transport: e.srv.Client().Transport,
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode < 400 {
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			for _, key := range []string{`"message":`, `"error_description":`} {
				body = bytes.ReplaceAll(body, []byte(key+`"`), append([]byte(key), prefix...))
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Del("Content-Length")
			return nil
		},
	}
	cert, pemCert := proxyCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	e.env = testutil.EnvWith(e.env, envEmulatorAddr, ln.Addr().String(),
		envEmulatorCA, testutil.WriteFile(t, "proxy-ca.pem", pemCert))
}

// proxyCert is a self-signed certificate for the Azure hosts the proxy
// plays, trusted as its own CA.
func proxyCert(t *testing.T) (tls.Certificate, []byte) {
	key := testutil.RSAKey(1)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(18),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"*.vault.azure.net", "login.microsoftonline.com"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, testutil.CertPEM(mustParse(t, der))
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
