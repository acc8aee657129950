package akvcreds_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

const certAppID = "00000000-0000-0000-0000-0000000ce271"

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	keys := testRSAKeys()
	cert, pemData := validCert(keys[0], "akvcreds-app")
	pemFile := writeTemp(t, "cert.pem", pemData)
	pfxData, err := os.ReadFile(pfxPath)
	if err != nil {
		t.Fatal(err)
	}
	pfxCerts, _, err := azidentity.ParseCertificates(pfxData, []byte(pfxPassword))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cert      *x509.Certificate
		source    akvcreds.CertificateSource
		opts      []akvcreds.CertOption
		wantChain bool
	}{
		{name: "PEM data", cert: cert, source: akvcreds.CertificateData(pemData)},
		{name: "PEM file", cert: cert, source: akvcreds.CertificateFile(pemFile)},
		{name: "PKCS#12 file", cert: pfxCerts[0], source: akvcreds.CertificateFile(pfxPath), opts: []akvcreds.CertOption{akvcreds.CertificatePassword(pfxPassword)}},
		{name: "PKCS#12 data with chain", cert: pfxCerts[0], source: akvcreds.CertificateData(pfxData),
			opts: []akvcreds.CertOption{akvcreds.CertificatePassword(pfxPassword), akvcreds.SendCertificateChain()}, wantChain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.AddAppCertificate(akvcredstest.DefaultTenantID, certAppID, tt.cert)
			s.SetSecret("cert-vault", "a", "1")
			s.SetSecret("cert-other", "b", "2")
			rec := &assertionRecorder{next: s.Client().Transport}
			c, err := akvcreds.New(
				akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, tt.source, tt.opts...),
				akvcreds.WithHTTPClient(&http.Client{Transport: rec}),
				akvcreds.WithVaults("cert-vault", "cert-other"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for range 2 {
				creds, err := c.FetchCredentials(context.Background())
				if err != nil || len(creds) != 2 || creds[0].Password.Reveal() != "1" || creds[1].Password.Reveal() != "2" {
					t.Fatalf("creds %v, err %v", names(creds), err)
				}
			}
			if n := s.Count(akvcredstest.KindToken); n != 1 {
				t.Errorf("%d token requests, want 1 (cached across vaults and fetches)", n)
			}
			hdrs := rec.recorded()
			if len(hdrs) != 1 {
				t.Fatalf("%d assertions", len(hdrs))
			}
			if _, has := hdrs[0]["x5c"]; has != tt.wantChain {
				t.Errorf("x5c sent: %v, want %v (header %v)", has, tt.wantChain, hdrs[0])
			}
		})
	}
}

// The certificate is read and checked at New only: the file may go away
// afterwards, and each New reads it again.
func TestClientCertificateReadOnceAtNew(t *testing.T) {
	t.Parallel()
	keys := testRSAKeys()
	cert, pemData := validCert(keys[0], "read-once")
	path := writeTemp(t, "cert.pem", pemData)
	s := newServer(t)
	s.AddAppCertificate(akvcredstest.DefaultTenantID, certAppID, cert)
	s.SetSecret("cert-once", "a", "1")
	opt := akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateFile(path))
	c := newClient(t, s, opt, akvcreds.WithVaults("cert-once"), akvcreds.WithSecrets("a"))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatalf("after the file was removed: %v", err)
	}
	_, err := akvcreds.New(opt, akvcreds.WithVaults("cert-once"))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "WithClientCertificate", "does not exist")
}

func TestClientCertificateRejected(t *testing.T) {
	t.Parallel()
	keys := testRSAKeys()
	now := time.Now()
	_, goodPEM, keyPEM := testCert(keys[0], "good", now.Add(-time.Hour), now.Add(time.Hour))
	_, expiredPEM, _ := testCert(keys[0], "expired", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	other, otherPEM, _ := testCert(keys[1], "other", now.Add(-time.Hour), now.Add(time.Hour))
	dir := t.TempDir()
	tests := []struct {
		name string
		opt  akvcreds.Option
		want []string
	}{
		{"expired", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateData(append(expiredPEM, keyPEM...))),
			[]string{"expired on", `"CN=expired"`, "thumbprint"}},
		{"key of another certificate", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateData(append(otherPEM, keyPEM...))),
			[]string{"does not belong to the certificate", thumbprint(other), "CN=other"}},
		{"no key", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateData(goodPEM)), []string{"no private key"}},
		{"garbage", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateData([]byte("hello"))), []string{"neither PEM nor PKCS#12"}},
		{"missing file", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateFile(dir+"/nope.pem")), []string{"certificate file", "nope.pem", "does not exist"}},
		{"directory", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateFile(dir)), []string{"is a directory"}},
		{"PKCS#12 wrong password", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateFile(pfxPath), akvcreds.CertificatePassword("nope")),
			[]string{"legacy.pfx", "PKCS#12 password is wrong"}},
		{"PKCS#12 no password", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateFile(pfxPath)), []string{"password-protected"}},
		{"PKCS#12 OpenSSL 3", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateFile(modernPFXPath), akvcreds.CertificatePassword(pfxPassword)),
			[]string{"cannot read", "openssl pkcs12 -in cert.pfx -nodes -out cert.pem"}},
		{"no source", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateSource{}), []string{"no certificate: use CertificateFile or CertificateData"}},
		{"nil CertOption", akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateData(append(goodPEM, keyPEM...)), nil), []string{"CertOption 1 of 1 is nil"}},
		{"bad IDs and bad certificate together", akvcreds.WithClientCertificate("common", "my-app", akvcreds.CertificateData(append(expiredPEM, keyPEM...))),
			[]string{"tenant ID", "client ID", "expired on"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := akvcreds.New(tt.opt, akvcreds.WithVaults("myvault"))
			wantErr(t, err, akvcreds.ErrInvalidArgument, append([]string{"akvcreds: WithClientCertificate: "}, tt.want...)...)
			noKeyMaterial(t, err.Error(), keyPEM)
		})
	}
}

// A certificate the app registration does not know is refused by Entra ID
// with AADSTS700027, reported as ErrUnauthenticated with the remedy.
func TestClientCertificateNotRegistered(t *testing.T) {
	t.Parallel()
	keys := testRSAKeys()
	registered, _ := validCert(keys[0], "registered")
	unregistered, pemData := validCert(keys[1], "unregistered")
	s := newServer(t)
	s.AddAppCertificate(akvcredstest.DefaultTenantID, certAppID, registered)
	s.SetSecret("cert-unreg", "a", "1")
	c := newClient(t, s, akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateData(pemData)),
		akvcreds.WithVaults("cert-unreg"), akvcreds.WithSecrets("a"))
	_, err := c.FetchCredentials(context.Background())
	wantErr(t, err, akvcreds.ErrUnauthenticated, "AADSTS700027", "with certificate "+thumbprint(unregistered),
		"the certificate is not registered on the app registration", "Certificates & secrets")
	fes := akvcreds.FetchErrors(err)
	if len(fes) != 1 || fes[0].AADSTS != "AADSTS700027" {
		t.Errorf("fetch errors %v", fes)
	}
}

// The wrong-tenant guard applies to certificate credentials too.
func TestClientCertificateWrongTenant(t *testing.T) {
	t.Parallel()
	keys := testRSAKeys()
	cert, pemData := validCert(keys[0], "tenant")
	const otherTenant = "11111111-2222-3333-4444-555555555555"
	s := newServer(t)
	s.AddAppCertificate(akvcredstest.DefaultTenantID, certAppID, cert)
	s.AddVault("cert-foreign", akvcredstest.VaultTenant(otherTenant))
	s.SetSecret("cert-foreign", "a", "1")
	c := newClient(t, s, akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, certAppID, akvcreds.CertificateData(pemData)),
		akvcreds.WithVaults("cert-foreign"), akvcreds.WithSecrets("a"))
	_, err := c.FetchCredentials(context.Background())
	wantErr(t, err, akvcreds.ErrUnauthenticated, otherTenant, akvcredstest.DefaultTenantID)
	if n := s.Count(akvcredstest.KindToken); n != 0 {
		t.Errorf("%d token requests for a foreign tenant", n)
	}
}

// A CertificateSource never prints its data.
func TestCertificateSourceRedacted(t *testing.T) {
	t.Parallel()
	_, pemData := validCert(testRSAKeys()[0], "print")
	for _, src := range []akvcreds.CertificateSource{akvcreds.CertificateData(pemData), akvcreds.CertificateFile("/etc/app/cert.pem"), {}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, src)
			if strings.Contains(out, "PRIVATE") || strings.Contains(out, "MII") || strings.Contains(strings.ToLower(out), "2d2d2d2d2d") {
				t.Errorf("%s shows the data: %s", verb, out)
			}
		}
	}
	if got := akvcreds.CertificateData(pemData).String(); got != fmt.Sprintf("CertificateData(%d bytes)", len(pemData)) {
		t.Errorf("String() = %q", got)
	}
	if got := akvcreds.CertificateFile("/etc/app/cert.pem").String(); got != `CertificateFile("/etc/app/cert.pem")` {
		t.Errorf("String() = %q", got)
	}
	pw := fmt.Sprintf("%v %+v %#v", akvcreds.CertificatePassword("hunter2"), akvcreds.CertificatePassword("hunter2"), akvcreds.CertificatePassword("hunter2"))
	if strings.Contains(pw, "hunter2") {
		t.Errorf("password shown: %s", pw)
	}
}
