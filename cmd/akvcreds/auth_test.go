package main

import (
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// Identities of the certificate and workload identity tests, registered on
// each test's emulator.
const (
	certClientID     = "6f1d8e2a-0000-4000-8000-0000000ce271"
	workloadClientID = "6f1d8e2a-0000-4000-8000-00000000f1d0"
	workloadIssuer   = "https://oidc.cluster.example.test/6f1d8e2a"
	workloadSubject  = "system:serviceaccount:payments:api"
)

// authCase is the environment and arguments of one run with the
// certificate, workload identity or environment mode, and what must not
// appear in its output.
type authCase struct {
	env     map[string]string
	args    []string
	secrets []string
}

// certSetup registers a PEM test certificate for certClientID and writes
// it (certificate and key) to a file.
func certSetup(t *testing.T, e *emu) (path string, secrets []string) {
	t.Helper()
	c := testutil.NewCert(testutil.CertSpec{CommonName: "akvcreds-cli-test"})
	e.srv.AddAppCertificate(akvcredstest.DefaultTenantID, certClientID, c.X509)
	return testutil.WriteFile(t, "cert.pem", c.PEM()), testutil.PEMBodyLines(c.KeyPEM())
}

// pfxSetup registers the PKCS#12 fixture's certificate for certClientID and
// writes the fixture to a file.
func pfxSetup(t *testing.T, e *emu) string {
	t.Helper()
	e.srv.AddAppCertificate(akvcredstest.DefaultTenantID, certClientID, testutil.PFXCertificate())
	return testutil.WriteFile(t, "legacy.pfx", testutil.LegacyPFX())
}

// workloadSetup registers a federated credential for workloadClientID and
// writes a service account token for it to a file.
func workloadSetup(t *testing.T, e *emu) (path string, secrets []string) {
	t.Helper()
	e.srv.AddFederatedCredential(akvcredstest.DefaultTenantID, workloadClientID, workloadIssuer, workloadSubject)
	tok := e.srv.IssueFederatedToken(workloadIssuer, workloadSubject, time.Hour)
	parts := strings.Split(tok, ".")
	return testutil.WriteFile(t, "token", []byte(tok+"\n")), []string{tok, parts[len(parts)-1]}
}

// pfxEnvCase is the PKCS#12 fixture and its password named by the
// environment, run with --auth auth.
func pfxEnvCase(auth string) func(*testing.T, *emu) authCase {
	return func(t *testing.T, e *emu) authCase {
		path := pfxSetup(t, e)
		return authCase{env: e.with(envTenantID, akvcredstest.DefaultTenantID, envClientID, certClientID,
			envCertPath, path, envCertPassword, testutil.PFXPassword),
			secrets: []string{testutil.PFXPassword}, args: []string{"--auth", auth}}
	}
}

// workloadEnvCase is a workload identity named by the environment, run
// with --auth auth.
func workloadEnvCase(auth string) func(*testing.T, *emu) authCase {
	return func(t *testing.T, e *emu) authCase {
		path, secrets := workloadSetup(t, e)
		return authCase{env: e.with(envTenantID, akvcredstest.DefaultTenantID, envClientID, workloadClientID, envTokenFile, path),
			secrets: secrets, args: []string{"--auth", auth}}
	}
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
		return authCase{env: e.with(envTenantID, akvcredstest.DefaultTenantID, envClientID, certClientID,
			envCertPath, path, envClientSecret, "not-the-client-secret"),
			secrets: append(secrets, "not-the-client-secret"), args: []string{"--auth", "certificate"}}
	}},
	{"certificate-pkcs12-password-file", func(t *testing.T, e *emu) authCase {
		path := pfxSetup(t, e)
		return authCase{env: e.with(envTenantID, akvcredstest.DefaultTenantID, envClientID, certClientID),
			secrets: []string{testutil.PFXPassword}, args: []string{"--auth", "certificate", "--certificate", path,
				"--certificate-password-file", testutil.WriteFile(t, "password", []byte(testutil.PFXPassword+"\n"))}}
	}},
	{"certificate-pkcs12-password-env", pfxEnvCase("certificate")},
	{"workload-identity-flags", func(t *testing.T, e *emu) authCase {
		path, secrets := workloadSetup(t, e)
		return authCase{env: e.env, secrets: secrets, args: []string{"--auth", "workload-identity",
			"--tenant-id", akvcredstest.DefaultTenantID, "--client-id", workloadClientID, "--federated-token-file", path}}
	}},
	{"workload-identity-env", workloadEnvCase("workload-identity")},
	{"environment-client-secret", func(t *testing.T, e *emu) authCase {
		return authCase{env: e.withSecret(), args: []string{"--auth", "environment"}}
	}},
	{"environment-certificate", func(t *testing.T, e *emu) authCase {
		path, secrets := certSetup(t, e)
		return authCase{env: e.with(envTenantID, akvcredstest.DefaultTenantID, envClientID, certClientID, envCertPath, path),
			secrets: secrets, args: []string{"--auth", "environment"}}
	}},
	{"environment-certificate-pkcs12", pfxEnvCase("environment")},
	{"environment-workload-identity", workloadEnvCase("environment")},
}

// TestNewAuthModes fetches and checks with every certificate, workload
// identity and environment case: one token request each, nothing secret
// printed.
func TestNewAuthModes(t *testing.T) {
	t.Parallel()
	for _, tt := range newAuthCases {
		for cmd, secrets := range map[string]string{"fetch": "db-password", "check": "db-password,api-key"} {
			t.Run(cmd+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				e := newEmu(t)
				values := seedFetch(e)
				c := tt.setup(t, e)
				args := append([]string{cmd, "--vault", "app-vault", "--secret", secrets}, c.args...)
				r := runCmd(t, c.env, "", args...)
				wantCode(t, r, exitOK)
				noSecrets(t, r, append(values, c.secrets...)...)
				if cmd == "fetch" {
					golden(t, "fetch_auth_ok", r.stdout)
					if r.stderr != "" {
						t.Errorf("stderr: %s", r.stderr)
					}
				} else {
					goldenResult(t, "check_ok", r)
				}
				if n := e.srv.Count(akvcredstest.KindToken); n != 1 {
					t.Errorf("%d token requests, want 1", n)
				}
			})
		}
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
			i := authCaseIndex(tt.name)
			e := newEmu(t)
			values := seedFetch(e)
			c := newAuthCases[i].setup(t, e)
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

// authCaseIndex is the index of the named case of newAuthCases.
func authCaseIndex(name string) int {
	for i, c := range newAuthCases {
		if c.name == name {
			return i
		}
	}
	panic("no auth case " + name)
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
	path := testutil.WriteFile(t, "token", []byte(tok))
	r := runCmd(t, e.env, "", "fetch", "--vault", "app-vault", "--secret", "db-password", "--auth", "workload-identity",
		"--tenant-id", akvcredstest.DefaultTenantID, "--client-id", workloadClientID, "--federated-token-file", path)
	wantCode(t, r, exitAuth)
	noSecrets(t, r, append(values, tok, strings.Split(tok, ".")[2])...)
	r.stderr = strings.ReplaceAll(r.stderr, path, "<token file>")
	goldenResult(t, "fetch_workload_identity_rejected", r)
}

// TestNewAuthModesBadInput checks the usage errors (exit 2, before any
// request) of the certificate, workload identity and environment modes, for
// fetch and check. "PFX" in args stands for a readable PKCS#12 file.
func TestNewAuthModesBadInput(t *testing.T) {
	t.Parallel()
	ids := []string{envTenantID, akvcredstest.DefaultTenantID, envClientID, certClientID}
	with := func(kv ...string) []string { return append(append([]string(nil), ids...), kv...) }
	tests := []struct {
		name string
		env  []string // added to the emulator's, in pairs
		args []string
		want string // in stderr
	}{
		{"certificate-missing-file", ids,
			[]string{"--auth", "certificate", "--certificate", "no-such-dir/cert.pem"}, "does not exist"},
		{"certificate-missing-file-env", with(envCertPath, "no-such-dir/cert.pem"),
			[]string{"--auth", "certificate"}, "does not exist"},
		{"certificate-not-a-certificate", ids,
			[]string{"--auth", "certificate", "--certificate", "testdata/fetch_help.golden"}, "certificate"},
		{"certificate-no-file", ids, []string{"--auth", "certificate"}, "needs a certificate file"},
		{"certificate-no-client-id", []string{envTenantID, akvcredstest.DefaultTenantID},
			[]string{"--auth", "certificate", "--certificate", "no-such-dir/cert.pem"}, "needs a client ID"},
		{"certificate-password-flag", ids,
			[]string{"--auth", "certificate", "--certificate", "no-such-dir/cert.pem", "--certificate-password", "pw-S3cret"}, "not defined"},
		{"certificate-missing-password-file", ids,
			[]string{"--auth", "certificate", "--certificate", "PFX", "--certificate-password-file", "no-such-dir/password"}, "--certificate-password-file"},
		{"certificate-wrong-password", ids,
			[]string{"--auth", "certificate", "--certificate", "PFX", "--certificate-password-file", "testdata/fetch_help.golden"}, "password"},
		{"certificate-without-auth-with-secret", []string{envTenantID, akvcredstest.DefaultTenantID, envClientID, certClientID, envClientSecret, "pw-S3cret"},
			[]string{"--certificate", "no-such-dir/cert.pem"}, "is for --auth certificate"},
		{"certificate-without-auth", ids, []string{"--certificate", "no-such-dir/cert.pem"}, "need --auth certificate"},
		{"token-file-without-auth", ids, []string{"--federated-token-file", "no-such-dir/token"}, "needs --auth workload-identity"},
		{"certificate-with-client-secret", ids,
			[]string{"--auth", "certificate", "--certificate", "PFX", "--client-secret-stdin"}, "two authentication modes"},
		{"workload-identity-missing-token-file", ids,
			[]string{"--auth", "workload-identity", "--federated-token-file", "no-such-dir/token"}, "does not exist"},
		{"workload-identity-missing-token-file-env", []string{envTenantID, akvcredstest.DefaultTenantID, envClientID, workloadClientID, envTokenFile, "no-such-dir/token"},
			[]string{"--auth", "workload-identity"}, "does not exist"},
		{"workload-identity-not-a-token", ids,
			[]string{"--auth", "workload-identity", "--federated-token-file", "testdata/fetch_help.golden"}, "does not hold a JWT"},
		{"workload-identity-no-token-file", ids, []string{"--auth", "workload-identity"}, "needs the service account token file"},
		{"workload-identity-no-tenant-id", []string{envClientID, workloadClientID},
			[]string{"--auth", "workload-identity", "--federated-token-file", "no-such-dir/token"}, "needs a tenant ID"},
		{"workload-identity-bad-client-id", ids,
			[]string{"--auth", "workload-identity", "--client-id", "not-a-client-id", "--federated-token-file", "no-such-dir/token"}, "--client-id: client ID"},
		{"workload-identity-with-certificate", ids,
			[]string{"--auth", "workload-identity", "--federated-token-file", "no-such-dir/token", "--certificate-password-file", "no-such-dir/password"}, "is for --auth certificate"},
		{"token-file-without-workload-identity", ids,
			[]string{"--auth", "certificate", "--certificate", "PFX", "--federated-token-file", "no-such-dir/token"}, "is for --auth workload-identity"},
		{"environment-nothing-set", nil, []string{"--auth", "environment"}, "no authentication mode fits the environment"},
		{"environment-no-client-id", []string{envTenantID, akvcredstest.DefaultTenantID, envClientSecret, "pw-S3cret"},
			[]string{"--auth", "environment"}, "lacks AZURE_CLIENT_ID"},
		{"environment-bad-tenant-id", []string{envTenantID, "not a tenant", envClientID, certClientID, envClientSecret, "pw-S3cret"},
			[]string{"--auth", "environment"}, "AZURE_TENANT_ID: tenant ID"},
		{"environment-secret-with-space", with(envClientSecret, "pw-S3cret "),
			[]string{"--auth", "environment"}, "white space"},
		{"environment-missing-certificate-file", with(envCertPath, "no-such-dir/cert.pem"),
			[]string{"--auth", "environment"}, "does not exist"},
		{"environment-missing-token-file", []string{envTenantID, akvcredstest.DefaultTenantID, envClientID, workloadClientID, envTokenFile, "no-such-dir/token"},
			[]string{"--auth", "environment"}, "does not exist"},
		{"environment-other-cloud", with(envClientSecret, "pw-S3cret", "AZURE_AUTHORITY_HOST", "https://login.chinacloudapi.cn/"),
			[]string{"--auth", "environment"}, "AZURE_AUTHORITY_HOST"},
		{"environment-with-tenant-id", ids,
			[]string{"--auth", "environment", "--tenant-id", akvcredstest.DefaultTenantID}, "drop --tenant-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmu(t)
			pfx := testutil.WriteFile(t, "legacy.pfx", testutil.LegacyPFX())
			for _, cmd := range []string{"fetch", "check"} {
				args := []string{cmd, "--vault", "app-vault", "--secret", "db-password"}
				for _, a := range tt.args {
					if a == "PFX" {
						a = pfx
					}
					args = append(args, a)
				}
				r := runCmd(t, e.with(tt.env...), "", args...)
				wantCode(t, r, exitUsage)
				noSecrets(t, r, akvcredstest.DefaultClientSecret, "pw-S3cret", testutil.PFXPassword)
				if r.stdout != "" {
					t.Errorf("%s: stdout: %q", cmd, r.stdout)
				}
				if !strings.Contains(r.stderr, tt.want) {
					t.Errorf("%s: stderr does not say %q:\n%s", cmd, tt.want, r.stderr)
				}
				// A flag error is followed by the whole usage, recorded in
				// fetch_help.golden.
				if cmd == "fetch" && !strings.Contains(r.stderr, "\nUsage:") {
					golden(t, "fetch_bad_"+tt.name, strings.ReplaceAll(r.stderr, pfx, "<pfx>"))
				}
			}
			if n := len(e.srv.Requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

// TestClouds checks that --cloud, or without it the cloud of a --vault URL,
// chooses the vault host and the Entra ID host, for the options the library
// builds and for the credentials the command builds (workload identity).
func TestClouds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, vault, cloud, auth string
		wantVaultHost, wantLogin string
	}{
		{"url-china", "https://app-vault.vault.azure.cn/", "", "certificate-flags", "app-vault.vault.azure.cn", "login.chinacloudapi.cn"},
		{"url-china-workload", "https://app-vault.vault.azure.cn/", "", "workload-identity-flags", "app-vault.vault.azure.cn", "login.chinacloudapi.cn"},
		{"flag-usgovernment-workload", "app-vault", "usgovernment", "workload-identity-flags", "app-vault.vault.usgovcloudapi.net", "login.microsoftonline.us"},
		{"default-public", "app-vault", "", "environment-workload-identity", "app-vault.vault.azure.net", "login.microsoftonline.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmu(t)
			seedFetch(e)
			c := newAuthCases[authCaseIndex(tt.auth)].setup(t, e)
			args := append([]string{"fetch", "--vault", tt.vault, "--secret", "db-password"}, c.args...)
			if tt.cloud != "" {
				args = append(args, "--cloud", tt.cloud)
			}
			r := runCmd(t, c.env, "", args...)
			wantCode(t, r, exitOK)
			if e.srv.Count(akvcredstest.KindToken) != 1 || e.srv.Count(akvcredstest.KindGetSecret) != 1 {
				t.Errorf("%d token requests and %d reads, want 1 each", e.srv.Count(akvcredstest.KindToken), e.srv.Count(akvcredstest.KindGetSecret))
			}
			for _, q := range e.srv.Requests() {
				if want := tt.wantVaultHost; q.Kind == akvcredstest.KindGetSecret && q.Host != want {
					t.Errorf("secret read from %s, want %s", q.Host, want)
				}
				if want := tt.wantLogin; q.Kind == akvcredstest.KindToken && q.Host != want {
					t.Errorf("token from %s, want %s", q.Host, want)
				}
			}
		})
	}
}
