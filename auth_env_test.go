package akvcreds_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// envApp is the app registration the environment names.
const envApp = "00000000-0000-0000-0000-0000000e0a99"

// envIDs are AZURE_TENANT_ID and AZURE_CLIENT_ID for envApp, with kv set.
func envIDs(kv ...string) map[string]string {
	return testutil.EnvWith(map[string]string{"AZURE_TENANT_ID": akvcredstest.DefaultTenantID, "AZURE_CLIENT_ID": envApp}, kv...)
}

// Each mode the environment can choose, end to end, in each cloud it can
// name; one token serves every vault and fetch.
func TestEnvironmentCredentialModes(t *testing.T) {
	t.Parallel()
	cert := testutil.NewCert(testutil.CertSpec{CommonName: "env-app"})
	certFile := testutil.WriteFile(t, "cert.pem", cert.PEM())
	pfxFile := testutil.WriteFile(t, "legacy.pfx", testutil.LegacyPFX())
	workloadMode := func(authority string) func(*testing.T, *akvcredstest.Server) map[string]string {
		return func(t *testing.T, s *akvcredstest.Server) map[string]string {
			s.AddFederatedCredential(akvcredstest.DefaultTenantID, envApp, wiIssuer, wiSubjectA)
			f := testutil.WriteFile(t, "token", []byte(s.IssueFederatedToken(wiIssuer, wiSubjectA, time.Hour)))
			return envIDs("AZURE_FEDERATED_TOKEN_FILE", f, "AZURE_AUTHORITY_HOST", authority)
		}
	}
	tests := []struct {
		name      string
		setup     func(*testing.T, *akvcredstest.Server) map[string]string
		cloud     string // WithCloud, "" for none
		loginHost string
	}{
		{name: "client secret", setup: func(_ *testing.T, s *akvcredstest.Server) map[string]string {
			s.AddApp(akvcredstest.DefaultTenantID, envApp, "env-secret")
			return envIDs("AZURE_CLIENT_SECRET", "env-secret")
		}},
		{name: "certificate PEM", setup: func(_ *testing.T, s *akvcredstest.Server) map[string]string {
			s.AddAppCertificate(akvcredstest.DefaultTenantID, envApp, cert.X509)
			return envIDs("AZURE_CLIENT_CERTIFICATE_PATH", certFile)
		}},
		{name: "certificate PKCS#12 with password and chain", setup: func(_ *testing.T, s *akvcredstest.Server) map[string]string {
			s.AddAppCertificate(akvcredstest.DefaultTenantID, envApp, testutil.PFXCertificate())
			return envIDs("AZURE_CLIENT_CERTIFICATE_PATH", pfxFile, "AZURE_CLIENT_CERTIFICATE_PASSWORD", testutil.PFXPassword, "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true")
		}},
		{name: "workload identity", setup: workloadMode("https://login.microsoftonline.com/")},
		{name: "workload identity in China", cloud: "china", loginHost: "login.chinacloudapi.cn", setup: workloadMode("https://login.chinacloudapi.cn")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetSecret("env-vault", "a", "1")
			s.SetSecret("env-other", "b", "2")
			opts := []akvcreds.Option{akvcreds.WithEnvironmentFrom(testutil.Getenv(tt.setup(t, s))), akvcreds.WithVaults("env-vault", "env-other")}
			if tt.cloud != "" {
				opts = append(opts, akvcreds.WithCloud(tt.cloud))
			}
			c := newClient(t, s, opts...)
			for range 3 {
				creds, err := c.FetchCredentials(context.Background())
				if err != nil || len(creds) != 2 || creds[0].Password.Reveal() != "1" || creds[1].Password.Reveal() != "2" {
					t.Fatalf("%v %v", names(creds), err)
				}
			}
			// One token serves every vault and fetch: within its lifetime,
			// a workload identity's token file is not read again.
			if s.Count(akvcredstest.KindToken) != 1 || s.Count(akvcredstest.KindIMDS) != 0 {
				t.Errorf("%d token, %d IMDS requests", s.Count(akvcredstest.KindToken), s.Count(akvcredstest.KindIMDS))
			}
			if tt.loginHost != "" && countKind(s, akvcredstest.KindToken, tt.loginHost) != 1 {
				t.Errorf("no token request to %s", tt.loginHost)
			}
		})
	}
}

// New refuses an environment that fits no mode, or a mode with a bad
// value, naming the variable and never showing a client secret; it makes
// no request.
func TestEnvironmentCredentialRejected(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const secret = "s3cr3t-Value"
	pfx := testutil.WriteFile(t, "legacy.pfx", testutil.LegacyPFX())
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"empty", nil, []string{"no authentication mode fits the environment", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
			"one of AZURE_CLIENT_SECRET (client secret), AZURE_CLIENT_CERTIFICATE_PATH (certificate) or AZURE_FEDERATED_TOKEN_FILE (workload identity)",
			"never falls back to a managed identity"}},
		{"IDs only", envIDs(), []string{"it lacks one of AZURE_CLIENT_SECRET"}},
		{"managed identity host", map[string]string{"MSI_ENDPOINT": "http://127.0.0.1:41234/"}, []string{"MSI_ENDPOINT is set", "WithSystemAssignedIdentity"}},
		{"username and password", envIDs("AZURE_USERNAME", "someone@contoso.com", "AZURE_PASSWORD", secret), []string{"AZURE_USERNAME) is not supported"}},
		{"bad tenant", envIDs("AZURE_TENANT_ID", "common", "AZURE_CLIENT_SECRET", secret), []string{`AZURE_TENANT_ID: tenant ID: tenant ID "common"`}},
		{"client secret with newline", envIDs("AZURE_CLIENT_SECRET", secret+"\n"), []string{"AZURE_CLIENT_SECRET: client secret has leading or trailing white space"}},
		{"certificate file missing", envIDs("AZURE_CLIENT_CERTIFICATE_PATH", filepath.Join(dir, "c.pem")), []string{"AZURE_CLIENT_CERTIFICATE_PATH", "c.pem", "does not exist"}},
		{"certificate path a directory", envIDs("AZURE_CLIENT_CERTIFICATE_PATH", dir), []string{"AZURE_CLIENT_CERTIFICATE_PATH", "is a directory"}},
		{"certificate password wrong", envIDs("AZURE_CLIENT_CERTIFICATE_PATH", pfx, "AZURE_CLIENT_CERTIFICATE_PASSWORD", secret),
			[]string{"AZURE_CLIENT_CERTIFICATE_PATH", "legacy.pfx", "password is wrong"}},
		{"token file missing", envIDs("AZURE_FEDERATED_TOKEN_FILE", filepath.Join(dir, "t")), []string{"AZURE_FEDERATED_TOKEN_FILE", "does not exist"}},
		{"authority of another cloud", envIDs("AZURE_CLIENT_SECRET", secret, "AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"),
			[]string{"AZURE_AUTHORITY_HOST", "AzureUSGovernment", "WithCloud"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			_, err := akvcreds.New(akvcreds.WithEnvironmentFrom(testutil.Getenv(tt.env)), akvcreds.WithVaults("myvault"), akvcreds.WithHTTPClient(s.Client()))
			wantErr(t, err, akvcreds.ErrInvalidArgument, append([]string{"akvcreds: WithEnvironmentCredential: "}, tt.want...)...)
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows a secret: %v", err)
			}
			if n := len(s.Requests()); n != 0 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

// Exactly one authentication option: New reports a second one together
// with every other problem.
func TestEnvironmentCredentialWithAnotherAuth(t *testing.T) {
	t.Parallel()
	_, err := akvcreds.New(akvcreds.WithEnvironmentFrom(testutil.Getenv(nil)), akvcreds.WithSystemAssignedIdentity(), akvcreds.WithVaults("x"))
	wantErr(t, err, akvcreds.ErrInvalidArgument,
		"akvcreds: WithEnvironmentCredential: no authentication mode fits the environment",
		"more than one authentication option", "WithEnvironmentCredential, WithSystemAssignedIdentity",
		`akvcreds: WithVaults: `)
}

// WithEnvironmentCredential reads the process environment, each time New
// runs. Not parallel: it sets environment variables.
func TestEnvironmentCredentialProcessEnv(t *testing.T) {
	s, tokenFile := workloadServer(t)
	s.SetSecret("env-proc", "a", "1")
	opt := akvcreds.WithEnvironmentCredential()
	_, err := akvcreds.New(opt, akvcreds.WithVaults("env-proc"), akvcreds.WithHTTPClient(s.Client()))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "akvcreds: WithEnvironmentCredential: ", "AZURE_TENANT_ID")
	for k, v := range workloadEnv(tokenFile) {
		t.Setenv(k, v)
	}
	c := newClient(t, s, opt, akvcreds.WithVaults("env-proc")) // the same Option, read anew
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Count(akvcredstest.KindToken) != 1 || s.Count(akvcredstest.KindIMDS) != 0 {
		t.Errorf("%d token, %d IMDS requests", s.Count(akvcredstest.KindToken), s.Count(akvcredstest.KindIMDS))
	}
}

// The workload identity of the tests: an app registration that trusts a
// cluster's issuer for service accounts.
const (
	wiClientID = "00000000-0000-0000-0000-00000000f0ed"
	wiIssuer   = "https://oidc.prod-aks.azure.com/11111111-2222-3333-4444-555555555555/"
	wiSubjectA = "system:serviceaccount:payments:api"
	wiSubjectB = "system:serviceaccount:payments:worker"
)

// workloadEnv is the environment the workload identity webhook sets in a
// pod: the default tenant, wiClientID and the federated token file.
func workloadEnv(tokenFile string) map[string]string {
	return map[string]string{
		"AZURE_TENANT_ID":            akvcredstest.DefaultTenantID,
		"AZURE_CLIENT_ID":            wiClientID,
		"AZURE_FEDERATED_TOKEN_FILE": tokenFile,
	}
}

// workloadAuth authenticates with workload identity, through the
// environment (the way WithEnvironmentCredential reads it), with the token
// in tokenFile.
func workloadAuth(tokenFile string) akvcreds.Option {
	return akvcreds.WithEnvironmentFrom(testutil.Getenv(workloadEnv(tokenFile)))
}

// workloadServer is an emulator whose wiClientID trusts wiIssuer for
// wiSubjectA, with a token file holding a valid token for it.
func workloadServer(t *testing.T, opts ...akvcredstest.Option) (*akvcredstest.Server, string) {
	t.Helper()
	s := newServer(t, opts...)
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, wiClientID, wiIssuer, wiSubjectA)
	return s, testutil.WriteFile(t, "azure-identity-token", []byte(s.IssueFederatedToken(wiIssuer, wiSubjectA, time.Hour)))
}

// Kubernetes workload identity comes from the environment the webhook sets
// (WithEnvironmentCredential; WithEnvironmentFrom in tests).

// The federated token file is read for every token request: after the
// kubelet replaces it, the next token request presents the new content.
// Each step reads a new vault, whose Key Vault client has no token yet, and
// the emulator's one-minute tokens are too short for azidentity to cache
// (it renews tokens five minutes before expiry), so every step makes exactly
// one token request, and what Entra ID answers shows which token it was
// sent — except when the file was emptied after New: then the request fails
// as an authentication problem naming the file, before Entra ID is asked.
func TestWorkloadIdentityTokenRotation(t *testing.T) {
	t.Parallel()
	s, tokenFile := workloadServer(t, akvcredstest.WithTokenLifetime(time.Minute))
	s.AddFederatedCredential(akvcredstest.DefaultTenantID, wiClientID, wiIssuer, wiSubjectB)
	// Another emulator holds another key for the same issuer: its tokens
	// are signed with a key s does not know.
	stranger := newServer(t)
	c := newClient(t, s, workloadAuth(tokenFile), akvcreds.WithVaults("wi-one"))
	ctx := context.Background()

	steps := []struct {
		token  string   // the file's new content; "" empties it
		aadsts string   // Entra ID's answer, "" for none
		want   []string // in the error; nil for success
		remedy string
	}{
		{token: s.IssueFederatedToken(wiIssuer, wiSubjectA, time.Hour)},
		{token: s.IssueFederatedToken(wiIssuer, "system:serviceaccount:payments:intruder", time.Hour),
			aadsts: "AADSTS700213", want: []string{"system:serviceaccount:payments:intruder", "(workload identity)", tokenFile},
			remedy: "subject = system:serviceaccount:NAMESPACE:SERVICE-ACCOUNT and audience api://AzureADTokenExchange"},
		{token: s.IssueFederatedToken(wiIssuer, wiSubjectA, -time.Minute),
			aadsts: "AADSTS700024", want: []string{}, remedy: "the federated token has expired"},
		{token: s.IssueFederatedToken(wiIssuer, wiSubjectB, time.Hour)},
		{token: s.IssueFederatedToken("https://another-cluster.example/", wiSubjectB, time.Hour),
			aadsts: "AADSTS700211", want: []string{"https://another-cluster.example/"}, remedy: "no federated identity credential"},
		{token: stranger.IssueFederatedToken(wiIssuer, wiSubjectB, time.Hour),
			aadsts: "AADSTS700027", want: []string{}, remedy: "could not verify the federated token's signature"},
		{token: "not-a.service-account.token", aadsts: "AADSTS50027", want: []string{}, remedy: "AZURE_FEDERATED_TOKEN_FILE"},
		// An emptied file fails the token request before Entra ID is asked.
		{token: "", want: []string{tokenFile, "is empty", "(workload identity)"}, remedy: "the federated token file"},
		{token: s.IssueFederatedToken(wiIssuer, wiSubjectA, time.Hour)},
	}
	tokens := 0
	for i, st := range steps {
		vault := "wi-step" + string(rune('a'+i))
		s.SetSecret(vault, "s", vault+"-value")
		testutil.ReplaceFile(t, tokenFile, []byte(st.token+"\n"))
		cred, err := c.FetchCredential(ctx, vault+"/s")
		if st.want == nil {
			if err != nil || cred.Password.Reveal() != vault+"-value" {
				t.Fatalf("step %d (%s): %v", i+1, vault, err)
			}
		} else {
			wantErr(t, err, akvcreds.ErrUnauthenticated, append(st.want, st.aadsts)...)
			fes := akvcreds.FetchErrors(err)
			if len(fes) != 1 || fes[0].AADSTS != st.aadsts || !strings.Contains(fes[0].Remedy, st.remedy) {
				t.Errorf("step %d: fetch errors %+v, want %q with remedy %q", i+1, fes, st.aadsts, st.remedy)
			}
		}
		if st.token != "" {
			tokens++
		}
		if n := s.Count(akvcredstest.KindToken); n != tokens {
			t.Fatalf("after step %d: %d token requests, want %d", i+1, n, tokens)
		}
	}
}

// New checks the workload identity the environment describes: the token
// file must be a readable JWT and the IDs well formed; IDs that may be
// secrets are not shown.
func TestWorkloadIdentityRejected(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := testutil.WriteFile(t, "ok", []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"))
	const secretShaped = "Xy8Q~abcdefghijklmnopqrstuvwxyz0123456"
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"missing file", workloadEnv(filepath.Join(dir, "nope")), []string{"AZURE_FEDERATED_TOKEN_FILE: ", "federated token file", "does not exist"}},
		{"empty file", workloadEnv(testutil.WriteFile(t, "empty", nil)), []string{"AZURE_FEDERATED_TOKEN_FILE: ", "is empty"}},
		{"not a JWT", workloadEnv(testutil.WriteFile(t, "ca.crt", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))),
			[]string{"does not hold a JWT"}},
		{"directory", workloadEnv(dir), []string{"is a directory"}},
		{"bad IDs", testutil.EnvWith(workloadEnv(ok), "AZURE_TENANT_ID", "common", "AZURE_CLIENT_ID", "not-a-guid"),
			[]string{"AZURE_TENANT_ID: tenant ID", "AZURE_CLIENT_ID: client ID"}},
		{"client ID looks like a secret", testutil.EnvWith(workloadEnv(ok), "AZURE_CLIENT_ID", secretShaped),
			[]string{"AZURE_CLIENT_ID: client ID", "not shown", "looks like a client secret"}},
		{"authority of another cloud", testutil.EnvWith(workloadEnv(ok), "AZURE_AUTHORITY_HOST", "https://login.chinacloudapi.cn/"),
			[]string{"AZURE_AUTHORITY_HOST", "AzureChina", "WithCloud"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := akvcreds.New(akvcreds.WithEnvironmentFrom(testutil.Getenv(tt.env)), akvcreds.WithVaults("myvault"))
			wantErr(t, err, akvcreds.ErrInvalidArgument, append([]string{"akvcreds: WithEnvironmentCredential: "}, tt.want...)...)
			if strings.Contains(err.Error(), secretShaped) {
				t.Errorf("error shows the secret-shaped ID: %v", err)
			}
		})
	}
}
