package akvcreds_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Each mode the environment can choose, end to end.
func TestEnvironmentCredentialModes(t *testing.T) {
	t.Parallel()
	keys := testRSAKeys()
	cert, pemData := validCert(keys[0], "env-app")
	certFile := writeTemp(t, "cert.pem", pemData)
	const envApp = "00000000-0000-0000-0000-0000000e0a99"
	ids := func(kv ...string) map[string]string {
		m := map[string]string{"AZURE_TENANT_ID": akvcredstest.DefaultTenantID, "AZURE_CLIENT_ID": envApp}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name  string
		setup func(s *akvcredstest.Server) map[string]string
	}{
		{"client secret", func(s *akvcredstest.Server) map[string]string {
			s.AddApp(akvcredstest.DefaultTenantID, envApp, "env-secret")
			return ids("AZURE_CLIENT_SECRET", "env-secret")
		}},
		{"certificate PEM", func(s *akvcredstest.Server) map[string]string {
			s.AddAppCertificate(akvcredstest.DefaultTenantID, envApp, cert)
			return ids("AZURE_CLIENT_CERTIFICATE_PATH", certFile)
		}},
		{"certificate PKCS#12 with password and chain", func(s *akvcredstest.Server) map[string]string {
			s.AddAppCertificate(akvcredstest.DefaultTenantID, envApp, pfxCertificate(t))
			abs, _ := filepath.Abs(pfxPath)
			return ids("AZURE_CLIENT_CERTIFICATE_PATH", abs, "AZURE_CLIENT_CERTIFICATE_PASSWORD", pfxPassword, "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true")
		}},
		{"workload identity", func(s *akvcredstest.Server) map[string]string {
			s.AddFederatedCredential(akvcredstest.DefaultTenantID, envApp, wiIssuer, wiSubjectA)
			f := writeTemp(t, "token", []byte(s.IssueFederatedToken(wiIssuer, wiSubjectA, time.Hour)))
			return ids("AZURE_FEDERATED_TOKEN_FILE", f, "AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetSecret("env-vault", "a", "1")
			env := tt.setup(s)
			c := newClient(t, s, akvcreds.WithEnvironmentCredentialFrom(envFrom(env)), akvcreds.WithVaults("env-vault"))
			creds, err := c.FetchCredentials(context.Background())
			if err != nil || len(creds) != 1 || creds[0].Password.Reveal() != "1" {
				t.Fatalf("%v %v", names(creds), err)
			}
			if s.Count(akvcredstest.KindToken) != 1 || s.Count(akvcredstest.KindIMDS) != 0 {
				t.Errorf("%d token, %d IMDS requests", s.Count(akvcredstest.KindToken), s.Count(akvcredstest.KindIMDS))
			}
		})
	}
}

func TestEnvironmentCredentialRejected(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ids := map[string]string{"AZURE_TENANT_ID": akvcredstest.DefaultTenantID, "AZURE_CLIENT_ID": akvcredstest.DefaultClientID}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range ids {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"empty", nil, []string{"no authentication mode fits the environment", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
			"one of AZURE_CLIENT_SECRET (client secret), AZURE_CLIENT_CERTIFICATE_PATH (certificate) or AZURE_FEDERATED_TOKEN_FILE (workload identity)",
			"never falls back to a managed identity"}},
		{"IDs only", with(), []string{"it lacks one of AZURE_CLIENT_SECRET"}},
		{"managed identity host", map[string]string{"MSI_ENDPOINT": "http://127.0.0.1:41234/"}, []string{"MSI_ENDPOINT is set", "WithSystemAssignedIdentity"}},
		{"bad tenant", with("AZURE_TENANT_ID", "common", "AZURE_CLIENT_SECRET", "x"), []string{`AZURE_TENANT_ID: tenant ID: tenant ID "common"`}},
		{"client secret with newline", with("AZURE_CLIENT_SECRET", "s3cr3t\n"), []string{"AZURE_CLIENT_SECRET: client secret has leading or trailing white space"}},
		{"certificate file missing", with("AZURE_CLIENT_CERTIFICATE_PATH", filepath.Join(dir, "c.pem")), []string{"AZURE_CLIENT_CERTIFICATE_PATH", "does not exist"}},
		{"certificate password wrong", with("AZURE_CLIENT_CERTIFICATE_PATH", pfxPath, "AZURE_CLIENT_CERTIFICATE_PASSWORD", "nope"), []string{"AZURE_CLIENT_CERTIFICATE_PATH", "password is wrong"}},
		{"token file missing", with("AZURE_FEDERATED_TOKEN_FILE", filepath.Join(dir, "t")), []string{"AZURE_FEDERATED_TOKEN_FILE", "does not exist"}},
		{"authority of another cloud", with("AZURE_CLIENT_SECRET", "x", "AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"), []string{"AZURE_AUTHORITY_HOST", "AzureUSGovernment", "WithCloud"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			_, err := akvcreds.New(akvcreds.WithEnvironmentCredentialFrom(envFrom(tt.env)), akvcreds.WithVaults("myvault"), akvcreds.WithHTTPClient(s.Client()))
			wantErr(t, err, akvcreds.ErrInvalidArgument, append([]string{"akvcreds: WithEnvironmentCredentialFrom: "}, tt.want...)...)
			if n := len(s.Requests()); n != 0 {
				t.Errorf("%d requests", n)
			}
		})
	}
	_, err := akvcreds.New(akvcreds.WithEnvironmentCredentialFrom(nil), akvcreds.WithVaults("myvault"))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "getenv function is nil")
	_, err = akvcreds.New(akvcreds.WithEnvironmentCredentialFrom(envFrom(nil)), akvcreds.WithSystemAssignedIdentity(), akvcreds.WithVaults("myvault"))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "more than one authentication option", "WithEnvironmentCredentialFrom", "WithSystemAssignedIdentity")
}

// WithEnvironmentCredential reads the process environment, at New. Not
// parallel: it sets environment variables.
func TestEnvironmentCredentialProcessEnv(t *testing.T) {
	s := newServer(t)
	s.SetSecret("env-proc", "a", "1")
	opt := akvcreds.WithEnvironmentCredential()
	_, err := akvcreds.New(opt, akvcreds.WithVaults("env-proc"), akvcreds.WithHTTPClient(s.Client()))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "akvcreds: WithEnvironmentCredential: ", "AZURE_TENANT_ID")
	t.Setenv("AZURE_TENANT_ID", akvcredstest.DefaultTenantID)
	t.Setenv("AZURE_CLIENT_ID", akvcredstest.DefaultClientID)
	t.Setenv("AZURE_CLIENT_SECRET", akvcredstest.DefaultClientSecret)
	c := newClient(t, s, opt, akvcreds.WithVaults("env-proc")) // the same Option, read anew
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(akvcredstest.KindIMDS); n != 0 {
		t.Errorf("%d IMDS requests", n)
	}
}
