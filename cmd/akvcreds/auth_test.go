package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

// Identities of the certificate and workload identity tests, registered on
// each test's emulator.
const (
	certClientID     = "6f1d8e2a-0000-4000-8000-0000000ce271"
	workloadClientID = "6f1d8e2a-0000-4000-8000-00000000f1d0"
	workloadIssuer   = "https://oidc.cluster.example.test/6f1d8e2a"
	workloadSubject  = "system:serviceaccount:payments:api"

	// The test-only PKCS#12 file of the library's tests (see
	// internal/azure/testdata/README.md) and its password.
	pfxPath     = "../../internal/azure/testdata/legacy.pfx"
	pfxPassword = "pfx-password"
)

// testCert is a self-signed RSA-2048 certificate with its key, made once per
// test binary: cert, the PEM file contents (certificate and PKCS#8 key) and
// the lines of the key's PEM body, which must never be printed.
type testCert struct {
	cert     *x509.Certificate
	pem      []byte
	keyLines []string
}

var pemCert = sync.OnceValue(func() testCert {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "akvcreds-cli-test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	var lines []string
	for _, l := range strings.Split(string(keyPEM), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			lines = append(lines, l)
		}
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return testCert{cert: cert, pem: append(certPEM, keyPEM...), keyLines: lines}
})

// pfxCert is the certificate in pfxPath.
func pfxCert(t *testing.T) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(pfxPath)
	if err != nil {
		t.Fatal(err)
	}
	certs, _, err := azidentity.ParseCertificates(data, []byte(pfxPassword))
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// authCase is the emulator, environment and arguments of one run with a new
// authentication mode, and what must not appear in its output.
type authCase struct {
	env     map[string]string
	args    []string
	secrets []string
}

// writeFile writes content to name in a new temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// certSetup registers the PEM test certificate for certClientID and writes
// it to a file.
func certSetup(t *testing.T, e *emu) (path string, secrets []string) {
	t.Helper()
	tc := pemCert()
	e.srv.AddAppCertificate(akvcredstest.DefaultTenantID, certClientID, tc.cert)
	return writeFile(t, "cert.pem", string(tc.pem)), tc.keyLines
}

// workloadSetup registers a federated credential for workloadClientID and
// writes a service account token for it to a file.
func workloadSetup(t *testing.T, e *emu) (path string, secrets []string) {
	t.Helper()
	e.srv.AddFederatedCredential(akvcredstest.DefaultTenantID, workloadClientID, workloadIssuer, workloadSubject)
	tok := e.srv.IssueFederatedToken(workloadIssuer, workloadSubject, time.Hour)
	parts := strings.Split(tok, ".")
	return writeFile(t, "token", tok+"\n"), []string{tok, parts[len(parts)-1]}
}

// newAuthCases are the successful runs with the certificate, workload
// identity and environment modes; each returns the case for its emulator.
var newAuthCases = []struct {
	name  string
	setup func(t *testing.T, e *emu) authCase
}{
	{"certificate-flags", func(t *testing.T, e *emu) authCase {
		path, secrets := certSetup(t, e)
		return authCase{env: e.env, secrets: secrets, args: []string{"--auth", "certificate",
			"--tenant-id", akvcredstest.DefaultTenantID, "--client-id", certClientID, "--certificate", path}}
	}},
	{"certificate-env", func(t *testing.T, e *emu) authCase {
		path, secrets := certSetup(t, e)
		// A client secret in the environment is not used: --auth says certificate.
		return authCase{env: e.with(map[string]string{envTenantID: akvcredstest.DefaultTenantID,
			envClientID: certClientID, envCertPath: path, envClientSecret: "not-the-client-secret"}),
			secrets: append(secrets, "not-the-client-secret"), args: []string{"--auth", "certificate"}}
	}},
	{"certificate-chain", func(t *testing.T, e *emu) authCase {
		path, secrets := certSetup(t, e)
		return authCase{env: e.with(map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: certClientID}),
			secrets: secrets, args: []string{"--auth", "certificate", "--certificate", path, "--send-certificate-chain"}}
	}},
	{"certificate-pkcs12-password-file", func(t *testing.T, e *emu) authCase {
		e.srv.AddAppCertificate(akvcredstest.DefaultTenantID, certClientID, pfxCert(t))
		return authCase{env: e.with(map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: certClientID}),
			secrets: []string{pfxPassword}, args: []string{"--auth", "certificate", "--certificate", pfxPath,
				"--certificate-password-file", writeFile(t, "password", pfxPassword+"\n")}}
	}},
	{"certificate-pkcs12-password-env", func(t *testing.T, e *emu) authCase {
		e.srv.AddAppCertificate(akvcredstest.DefaultTenantID, certClientID, pfxCert(t))
		return authCase{env: e.with(map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: certClientID,
			envCertPath: pfxPath, envCertPassword: pfxPassword}),
			secrets: []string{pfxPassword}, args: []string{"--auth", "certificate"}}
	}},
	{"workload-identity-flags", func(t *testing.T, e *emu) authCase {
		path, secrets := workloadSetup(t, e)
		return authCase{env: e.env, secrets: secrets, args: []string{"--auth", "workload-identity",
			"--tenant-id", akvcredstest.DefaultTenantID, "--client-id", workloadClientID, "--federated-token-file", path}}
	}},
	{"workload-identity-env", func(t *testing.T, e *emu) authCase {
		path, secrets := workloadSetup(t, e)
		return authCase{env: e.with(map[string]string{envTenantID: akvcredstest.DefaultTenantID,
			envClientID: workloadClientID, envTokenFile: path}),
			secrets: secrets, args: []string{"--auth", "workload-identity"}}
	}},
	{"environment-client-secret", func(t *testing.T, e *emu) authCase {
		return authCase{env: e.withSecret(), args: []string{"--auth", "environment"}}
	}},
	{"environment-certificate", func(t *testing.T, e *emu) authCase {
		path, secrets := certSetup(t, e)
		return authCase{env: e.with(map[string]string{envTenantID: akvcredstest.DefaultTenantID,
			envClientID: certClientID, envCertPath: path, "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN": "true"}),
			secrets: secrets, args: []string{"--auth", "environment"}}
	}},
	{"environment-workload-identity", func(t *testing.T, e *emu) authCase {
		path, secrets := workloadSetup(t, e)
		return authCase{env: e.with(map[string]string{envTenantID: akvcredstest.DefaultTenantID,
			envClientID: workloadClientID, envTokenFile: path}),
			secrets: secrets, args: []string{"--auth", "environment"}}
	}},
}

func TestFetchNewAuthModes(t *testing.T) {
	t.Parallel()
	for _, tt := range newAuthCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmu(t)
			values := seedFetch(e)
			c := tt.setup(t, e)
			args := append([]string{"fetch", "--vault", "app-vault", "--secret", "db-password"}, c.args...)
			r := runCmd(t, c.env, "", args...)
			wantCode(t, r, exitOK)
			noSecrets(t, r, append(values, c.secrets...)...)
			golden(t, "fetch_auth_ok", r.stdout)
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
			if n := e.srv.Count(akvcredstest.KindToken); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
		})
	}
}

func TestCheckNewAuthModes(t *testing.T) {
	t.Parallel()
	for _, tt := range newAuthCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmu(t)
			values := seedFetch(e)
			c := tt.setup(t, e)
			args := append([]string{"check", "--vault", "app-vault", "--secret", "db-password,api-key"}, c.args...)
			r := runCmd(t, c.env, "", args...)
			wantCode(t, r, exitOK)
			noSecrets(t, r, append(values, c.secrets...)...)
			goldenResult(t, "check_ok", r)
		})
	}
}

// TestCheckForbiddenNewAuthModes checks that the fix commands name the
// certificate's and the workload identity's client ID.
func TestCheckForbiddenNewAuthModes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, clientID string }{
		{"certificate-flags", certClientID},
		{"workload-identity-env", workloadClientID},
		{"environment-workload-identity", workloadClientID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var setup func(t *testing.T, e *emu) authCase
			for _, c := range newAuthCases {
				if c.name == tt.name {
					setup = c.setup
				}
			}
			e := newEmu(t)
			values := seedFetch(e)
			c := setup(t, e)
			e.srv.SetPermissions("app-vault", tt.clientID, akvcredstest.Permissions{})
			args := append([]string{"check", "--vault", "app-vault", "--secret", "db-password"}, c.args...)
			r := runCmd(t, c.env, "", args...)
			wantCode(t, r, exitFailure)
			noSecrets(t, r, append(values, c.secrets...)...)
			if !strings.Contains(r.stdout, "--assignee "+tt.clientID+" ") {
				t.Errorf("the fix command does not name %s:\n%s", tt.clientID, r.stdout)
			}
			golden(t, "check_rbac-forbidden-"+strings.SplitN(tt.name, "-", 2)[0], r.stdout)
		})
	}
}

// TestFetchWorkloadIdentityRejected checks that a token Entra ID does not
// accept (no federated credential for its subject) is an authentication
// failure, exit 3, without the token in the output.
func TestFetchWorkloadIdentityRejected(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	values := seedFetch(e)
	e.srv.AddFederatedCredential(akvcredstest.DefaultTenantID, workloadClientID, workloadIssuer, workloadSubject)
	tok := e.srv.IssueFederatedToken(workloadIssuer, "system:serviceaccount:payments:other", time.Hour)
	path := writeFile(t, "token", tok)
	r := runCmd(t, e.env, "", "fetch", "--vault", "app-vault", "--secret", "db-password", "--auth", "workload-identity",
		"--tenant-id", akvcredstest.DefaultTenantID, "--client-id", workloadClientID, "--federated-token-file", path)
	wantCode(t, r, exitAuth)
	noSecrets(t, r, append(values, tok, strings.Split(tok, ".")[2])...)
	r.stderr = strings.ReplaceAll(r.stderr, path, "<token file>")
	goldenResult(t, "fetch_workload_identity_rejected", r)
}

func TestNewAuthModesBadInput(t *testing.T) {
	t.Parallel()
	ids := map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: certClientID}
	tests := []struct {
		name string
		env  map[string]string // added to the emulator's
		args []string
		want string // in stderr
	}{
		{"certificate-missing-file", ids,
			[]string{"--auth", "certificate", "--certificate", "no-such-dir/cert.pem"}, "does not exist"},
		{"certificate-missing-file-env", map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: certClientID, envCertPath: "no-such-dir/cert.pem"},
			[]string{"--auth", "certificate"}, "does not exist"},
		{"certificate-not-a-certificate", ids,
			[]string{"--auth", "certificate", "--certificate", "testdata/fetch_help.golden"}, "certificate"},
		{"certificate-no-file", ids, []string{"--auth", "certificate"}, "needs a certificate file"},
		{"certificate-no-client-id", map[string]string{envTenantID: akvcredstest.DefaultTenantID},
			[]string{"--auth", "certificate", "--certificate", "no-such-dir/cert.pem"}, "needs a client ID"},
		{"certificate-password-flag", ids,
			[]string{"--auth", "certificate", "--certificate", "no-such-dir/cert.pem", "--certificate-password", "pw-S3cret"}, "not defined"},
		{"certificate-missing-password-file", ids,
			[]string{"--auth", "certificate", "--certificate", pfxPath, "--certificate-password-file", "no-such-dir/password"}, "--certificate-password-file"},
		{"certificate-without-auth-with-secret", map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: certClientID, envClientSecret: "pw-S3cret"},
			[]string{"--certificate", "no-such-dir/cert.pem"}, "is for --auth certificate"},
		{"certificate-without-auth", ids, []string{"--certificate", "no-such-dir/cert.pem"}, "need --auth certificate"},
		{"token-file-without-auth", ids, []string{"--federated-token-file", "no-such-dir/token"}, "needs --auth workload-identity"},
		{"certificate-with-client-secret", ids,
			[]string{"--auth", "certificate", "--certificate", pfxPath, "--client-secret-stdin"}, "two authentication modes"},
		{"workload-identity-missing-token-file", ids,
			[]string{"--auth", "workload-identity", "--federated-token-file", "no-such-dir/token"}, "does not exist"},
		{"workload-identity-missing-token-file-env", map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: workloadClientID, envTokenFile: "no-such-dir/token"},
			[]string{"--auth", "workload-identity"}, "does not exist"},
		{"workload-identity-no-token-file", ids, []string{"--auth", "workload-identity"}, "needs the service account token file"},
		{"workload-identity-no-tenant-id", map[string]string{envClientID: workloadClientID},
			[]string{"--auth", "workload-identity", "--federated-token-file", "no-such-dir/token"}, "needs a tenant ID"},
		{"workload-identity-with-certificate", ids,
			[]string{"--auth", "workload-identity", "--federated-token-file", "no-such-dir/token", "--send-certificate-chain"}, "is for --auth certificate"},
		{"token-file-without-workload-identity", ids,
			[]string{"--auth", "certificate", "--certificate", pfxPath, "--federated-token-file", "no-such-dir/token"}, "is for --auth workload-identity"},
		{"environment-nothing-set", nil, []string{"--auth", "environment"}, "no authentication mode fits the environment"},
		{"environment-no-client-id", map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientSecret: "pw-S3cret"},
			[]string{"--auth", "environment"}, "lacks AZURE_CLIENT_ID"},
		{"environment-missing-certificate-file", map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: certClientID, envCertPath: "no-such-dir/cert.pem"},
			[]string{"--auth", "environment"}, "does not exist"},
		{"environment-missing-token-file", map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: workloadClientID, envTokenFile: "no-such-dir/token"},
			[]string{"--auth", "environment"}, "does not exist"},
		{"environment-with-tenant-id", ids,
			[]string{"--auth", "environment", "--tenant-id", akvcredstest.DefaultTenantID}, "drop --tenant-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmu(t)
			for _, cmd := range []string{"fetch", "check"} {
				args := append([]string{cmd, "--vault", "app-vault", "--secret", "db-password"}, tt.args...)
				r := runCmd(t, e.with(tt.env), "", args...)
				wantCode(t, r, exitUsage)
				noSecrets(t, r, akvcredstest.DefaultClientSecret, "pw-S3cret", pfxPassword)
				if r.stdout != "" {
					t.Errorf("%s: stdout: %q", cmd, r.stdout)
				}
				if !strings.Contains(r.stderr, tt.want) {
					t.Errorf("%s: stderr does not say %q:\n%s", cmd, tt.want, r.stderr)
				}
				// A flag error is followed by the whole usage, recorded in
				// fetch_help.golden.
				if cmd == "fetch" && !strings.Contains(r.stderr, "\nUsage:") {
					golden(t, "fetch_bad_"+tt.name, r.stderr)
				}
			}
			if n := len(e.srv.Requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}
