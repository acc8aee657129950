package akvcreds_test

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// A managed identity asks IMDS for one token per Client, with the identity's
// client ID when user-assigned, and never Entra ID. A missing identity is an
// authentication failure with IMDS's message and a remedy about the
// resource's identity, after one request: IMDS's 400 is not retried.
func TestManagedIdentity(t *testing.T) {
	t.Parallel()
	const uaClientID = "0f0f0f0f-1111-2222-3333-444444444444"
	tests := []struct {
		name     string
		auth     akvcreds.Option
		setup    func(*akvcredstest.Server)
		clientID string // expected client_id query, "" for none
		fail     string // the failure's message, "" for success
	}{
		{name: "system-assigned", auth: akvcreds.WithSystemAssignedIdentity()},
		// The same identity again, on another emulator: akvcreds keeps no
		// process-global token cache, so this Client asks its own IMDS.
		{name: "system-assigned again", auth: akvcreds.WithSystemAssignedIdentity()},
		{name: "user-assigned", auth: akvcreds.WithUserAssignedIdentity(akvcredstest.DefaultUserAssignedClientID), clientID: akvcredstest.DefaultUserAssignedClientID},
		{
			name:     "another user-assigned",
			auth:     akvcreds.WithUserAssignedIdentity(uaClientID),
			setup:    func(s *akvcredstest.Server) { s.AddManagedIdentity(akvcredstest.ManagedIdentity{ClientID: uaClientID}) },
			clientID: uaClientID,
		},
		{
			name:     "user-assigned identity not assigned",
			auth:     akvcreds.WithUserAssignedIdentity("99999999-9999-9999-9999-999999999999"),
			clientID: "99999999-9999-9999-9999-999999999999",
			fail:     "isn't assigned to this Azure resource",
		},
		{
			name:  "no system-assigned identity",
			auth:  akvcreds.WithSystemAssignedIdentity(),
			setup: func(s *akvcredstest.Server) { s.RemoveSystemAssignedIdentity() },
			fail:  "no system-assigned managed identity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			if tt.setup != nil {
				tt.setup(s)
			}
			s.SetSecret("mi-vault", "a", "1")
			s.SetSecret("mi-vault", "b", "2")
			s.SetSecret("mi-other", "a", "3")
			c := newClient(t, s, tt.auth, akvcreds.WithVaults("mi-vault", "mi-other"), akvcreds.WithSecrets("a", "b"))
			for range 2 {
				if tt.fail != "" {
					// One vault: vaults failing together could share one token request.
					_, err := c.FetchCredential(context.Background(), "mi-vault/a")
					wantErr(t, err, akvcreds.ErrUnauthenticated, tt.fail, "To fix: check that the managed identity is enabled on (or assigned to) this Azure resource")
					break
				}
				creds, err := c.FetchCredentials(context.Background())
				if len(creds) != 3 || creds[2].Password.Reveal() != "3" {
					t.Fatalf("creds %v", names(creds))
				}
				if !errors.Is(err, akvcreds.ErrNotFound) || len(akvcreds.FetchErrors(err)) != 1 {
					t.Fatalf("want one not-found (mi-other/b), got %v", err)
				}
			}
			if n := countKind(s, akvcredstest.KindIMDS, ""); n != 1 {
				t.Fatalf("%d IMDS requests, want 1 (cached per Client across vaults and fetches; a 400 is not retried)", n)
			}
			reqs := s.Requests()
			q := reqs[slices.IndexFunc(reqs, func(r akvcredstest.Request) bool { return r.Kind == akvcredstest.KindIMDS })].Query
			if got := q.Get("client_id"); got != tt.clientID || (tt.clientID == "" && q.Has("client_id")) {
				t.Errorf("client_id = %q, want %q", got, tt.clientID)
			}
			if q.Get("resource") != "https://vault.azure.net" || q.Get("api-version") == "" {
				t.Errorf("IMDS query %v", q)
			}
			if n := s.Count(akvcredstest.KindToken); n != 0 {
				t.Errorf("%d Entra ID token requests for a managed identity", n)
			}
		})
	}
}

// Each cloud has its vault and Entra ID hosts, chosen by WithCloud or, by
// default, by the vault URLs.
func TestClouds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cloud     string // for WithCloud
		vaultHost string
		loginHost string
	}{
		{"public", "cloudy.vault.azure.net", "login.microsoftonline.com"},
		{"china", "cloudy.vault.azure.cn", "login.chinacloudapi.cn"},
		{"usgovernment", "cloudy.vault.usgovcloudapi.net", "login.microsoftonline.us"},
	}
	for _, tt := range tests {
		for _, explicit := range []bool{true, false} {
			name := tt.cloud
			opts := []akvcreds.Option{secretAuth(), akvcreds.WithVaults("https://" + tt.vaultHost + "/"), akvcreds.WithSecrets("a")}
			if explicit {
				name += " by WithCloud"
				opts = append(opts, akvcreds.WithCloud(tt.cloud))
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := newServer(t)
				s.SetSecret("cloudy", "a", "1")
				c := newClient(t, s, opts...)
				creds, err := c.FetchCredentials(context.Background())
				if err != nil || len(creds) != 1 {
					t.Fatalf("creds %v err %v", names(creds), err)
				}
				for _, r := range s.Requests() {
					switch r.Kind {
					case akvcredstest.KindGetSecret, akvcredstest.KindChallenge:
						if r.Host != tt.vaultHost {
							t.Errorf("vault request to %s", r.Host)
						}
					case akvcredstest.KindToken:
						if r.Host != tt.loginHost {
							t.Errorf("token request to %s", r.Host)
						}
					}
				}
				if countKind(s, akvcredstest.KindToken, tt.loginHost) != 1 {
					t.Errorf("no token request to %s", tt.loginHost)
				}
			})
		}
	}
}

// certAppID is the app registration that authenticates with a certificate.
const certAppID = "00000000-0000-0000-0000-0000000ce271"

// certServer is an emulator whose app certAppID has cert registered, with
// one secret "a" = "1" in vault.
func certServer(t *testing.T, cert *x509.Certificate, vault string, opts ...akvcredstest.VaultOption) *akvcredstest.Server {
	t.Helper()
	s := newServer(t)
	s.AddAppCertificate(akvcredstest.DefaultTenantID, certAppID, cert)
	s.AddVault(vault, opts...)
	s.SetSecret(vault, "a", "1")
	return s
}

// certAuth authenticates as certAppID with the certificate data.
func certAuth(data []byte, password string) akvcreds.Option {
	return akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, data, password)
}

// Each form of certificate authenticates, and one token serves every vault
// and fetch.
func TestClientCertificate(t *testing.T) {
	t.Parallel()
	leaf := testutil.NewCert(testutil.CertSpec{CommonName: "akvcreds-app"})
	ca := testutil.NewCert(testutil.CertSpec{CommonName: "akvcreds-ca", Key: testutil.RSAKey(1), CA: true})
	issued := testutil.NewCert(testutil.CertSpec{CommonName: "akvcreds-issued", Key: testutil.RSAKey(2), Issuer: ca})
	tests := []struct {
		name     string
		cert     *x509.Certificate
		data     []byte
		password string
	}{
		{name: "PEM, PKCS#8 key", cert: leaf.X509, data: leaf.PEM()},
		{name: "PEM, PKCS#1 key first", cert: leaf.X509, data: testutil.Concat(leaf.PKCS1KeyPEM(), leaf.CertPEM())},
		{name: "PEM chain, CA first", cert: issued.X509, data: testutil.Concat(ca.CertPEM(), issued.CertPEM(), issued.KeyPEM())},
		{name: "PKCS#12", cert: testutil.PFXCertificate(), data: testutil.LegacyPFX(), password: testutil.PFXPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := certServer(t, tt.cert, "cert-vault")
			s.SetSecret("cert-other", "b", "2")
			c := newClient(t, s, certAuth(tt.data, tt.password), akvcreds.WithVaults("cert-vault", "cert-other"))
			for range 2 {
				creds, err := c.FetchCredentials(context.Background())
				if err != nil || len(creds) != 2 || creds[0].Password.Reveal() != "1" || creds[1].Password.Reveal() != "2" {
					t.Fatalf("creds %v, err %v", names(creds), err)
				}
			}
			if n := s.Count(akvcredstest.KindToken); n != 1 {
				t.Errorf("%d token requests, want 1 (cached across vaults and fetches)", n)
			}
		})
	}
}

// The certificate is read and checked at New only: WithClientCertificate
// keeps its own copy of the data, and AZURE_CLIENT_CERTIFICATE_PATH is read
// by New, so the file may go away afterwards while each New reads it again.
func TestClientCertificateReadOnceAtNew(t *testing.T) {
	t.Parallel()
	cert := testutil.NewCert(testutil.CertSpec{CommonName: "read-once"})
	s := certServer(t, cert.X509, "cert-once")

	data := cert.PEM()
	byData := certAuth(data, "")
	clear(data) // the caller reuses its buffer
	c := newClient(t, s, byData, akvcreds.WithVaults("cert-once"), akvcreds.WithSecrets("a"))
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatalf("after the caller's buffer was cleared: %v", err)
	}

	path := testutil.WriteFile(t, "cert.pem", cert.PEM())
	byEnv := akvcreds.WithEnvironmentFrom(testutil.Getenv(map[string]string{
		"AZURE_TENANT_ID": akvcredstest.DefaultTenantID, "AZURE_CLIENT_ID": certAppID, "AZURE_CLIENT_CERTIFICATE_PATH": path}))
	c = newClient(t, s, byEnv, akvcreds.WithVaults("cert-once"), akvcreds.WithSecrets("a"))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatalf("after the file was removed: %v", err)
	}
	_, err := akvcreds.New(byEnv, akvcreds.WithVaults("cert-once"))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "WithEnvironmentCredential", "AZURE_CLIENT_CERTIFICATE_PATH", "does not exist")
}

// New refuses a certificate Entra ID would refuse, saying why, naming the
// certificate by subject and thumbprint, never showing key material, and
// together with every other problem of the option.
func TestClientCertificateRejected(t *testing.T) {
	t.Parallel()
	now := time.Now()
	keyPEM := testutil.PKCS8PEM(testutil.RSAKey(0))
	good := testutil.NewCert(testutil.CertSpec{CommonName: "good"})
	expired := testutil.NewCert(testutil.CertSpec{CommonName: "expired", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future := testutil.NewCert(testutil.CertSpec{CommonName: "future", NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	other := testutil.NewCert(testutil.CertSpec{CommonName: "other", Key: testutil.RSAKey(1)})
	ecdsa := testutil.NewCert(testutil.CertSpec{CommonName: "ecdsa", Key: testutil.ECDSAKey(0)})
	weak := testutil.NewCert(testutil.CertSpec{CommonName: "weak", Key: testutil.WeakRSAKey()})
	tests := []struct {
		name     string
		tenant   string
		client   string
		data     []byte
		password string
		want     []string
	}{
		{name: "expired", data: testutil.Concat(expired.CertPEM(), keyPEM), want: []string{"expired on", `"CN=expired"`, "thumbprint " + expired.Thumbprint()}},
		{name: "not yet valid", data: testutil.Concat(future.CertPEM(), keyPEM), want: []string{"is not valid before", "clock"}},
		{name: "key of another certificate", data: testutil.Concat(other.CertPEM(), keyPEM),
			want: []string{"does not belong to the certificate", other.Thumbprint(), "CN=other"}},
		{name: "no key", data: good.CertPEM(), want: []string{"no private key"}},
		{name: "ECDSA key", data: ecdsa.PEM(), want: []string{"need an RSA key"}},
		{name: "RSA-1024 key", data: weak.PEM(), want: []string{"1024 bits", "at least 2048"}},
		{name: "garbage", data: []byte("hello"), want: []string{"neither PEM nor PKCS#12"}},
		{name: "empty", want: []string{"the certificate data is empty"}},
		{name: "PKCS#12 wrong password", data: testutil.LegacyPFX(), password: "nope", want: []string{"PKCS#12 password is wrong"}},
		{name: "PKCS#12 no password", data: testutil.LegacyPFX(), want: []string{"password-protected"}},
		{name: "PKCS#12 OpenSSL 3", data: testutil.ModernPFX(), password: testutil.PFXPassword,
			want: []string{"cannot read", "openssl pkcs12 -in cert.pfx -nodes -out cert.pem"}},
		{name: "bad IDs and bad certificate together", tenant: "common", client: "my-app", data: testutil.Concat(expired.CertPEM(), keyPEM),
			want: []string{"tenant ID", "client ID", "expired on"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tenant, client := tt.tenant, tt.client
			if tenant == "" {
				tenant, client = akvcredstest.DefaultTenantID, certAppID
			}
			_, err := akvcreds.New(akvcreds.WithClientCertificate(tenant, client, tt.data, tt.password), akvcreds.WithVaults("myvault"))
			wantErr(t, err, akvcreds.ErrInvalidArgument, append([]string{"akvcreds: WithClientCertificate: "}, tt.want...)...)
			testutil.NoKeyMaterial(t, err.Error(), keyPEM)
			if tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// A certificate the app registration does not know is refused by Entra ID
// with AADSTS700027, reported as ErrUnauthenticated with the remedy.
func TestClientCertificateNotRegistered(t *testing.T) {
	t.Parallel()
	registered := testutil.NewCert(testutil.CertSpec{CommonName: "registered"})
	unregistered := testutil.NewCert(testutil.CertSpec{CommonName: "unregistered", Key: testutil.RSAKey(1)})
	s := certServer(t, registered.X509, "cert-unreg")
	c := newClient(t, s, certAuth(unregistered.PEM(), ""), akvcreds.WithVaults("cert-unreg"), akvcreds.WithSecrets("a"))
	_, err := c.FetchCredentials(context.Background())
	wantErr(t, err, akvcreds.ErrUnauthenticated, "AADSTS700027", "with certificate "+unregistered.Thumbprint())
	fes := akvcreds.FetchErrors(err)
	if len(fes) != 1 || fes[0].AADSTS != "AADSTS700027" || fes[0].Kind != akvcreds.ErrUnauthenticated ||
		!strings.Contains(fes[0].Remedy, "the certificate is not registered on the app registration") || !strings.Contains(fes[0].Remedy, "Certificates & secrets") {
		t.Errorf("fetch errors %+v", fes)
	}
}

// The wrong-tenant guard applies to certificate credentials too: no token
// is requested for a vault of another tenant.
func TestClientCertificateWrongTenant(t *testing.T) {
	t.Parallel()
	cert := testutil.NewCert(testutil.CertSpec{CommonName: "tenant"})
	const otherTenant = "11111111-2222-3333-4444-555555555555"
	s := certServer(t, cert.X509, "cert-foreign", akvcredstest.VaultTenant(otherTenant))
	c := newClient(t, s, certAuth(cert.PEM(), ""), akvcreds.WithVaults("cert-foreign"), akvcreds.WithSecrets("a"))
	_, err := c.FetchCredentials(context.Background())
	wantErr(t, err, akvcreds.ErrUnauthenticated, otherTenant, akvcredstest.DefaultTenantID, "use the vault's tenant ID")
	if n := s.Count(akvcredstest.KindToken); n != 0 {
		t.Errorf("%d token requests for a foreign tenant", n)
	}
}

// An authentication option never prints what it holds: certificate data,
// its password, a client secret.
func TestAuthOptionsDoNotPrintSecrets(t *testing.T) {
	t.Parallel()
	cert := testutil.NewCert(testutil.CertSpec{CommonName: "print"})
	const password, secret = "hunter2-pfx", "Wr0n8Q~client-secret.VALUE"
	opts := []akvcreds.Option{
		certAuth(cert.PEM(), password),
		certAuth(testutil.LegacyPFX(), password),
		akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, secret),
	}
	for _, o := range opts {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, o)
			if strings.Contains(out, "PRIVATE") || strings.Contains(out, "MII") || strings.Contains(strings.ToLower(out), "2d2d2d2d2d") ||
				strings.Contains(out, password) || strings.Contains(out, secret) ||
				strings.Contains(out, hex.EncodeToString([]byte(password))) || strings.Contains(out, hex.EncodeToString([]byte(secret))) {
				t.Errorf("%s shows what the option holds: %s", verb, out)
			}
			testutil.NoKeyMaterial(t, out, cert.KeyPEM())
		}
	}
}

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
