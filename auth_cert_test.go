package akvcreds_test

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

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
