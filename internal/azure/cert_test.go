package azure

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/internal/testutil"
)

func TestLoadCertificate(t *testing.T) {
	t.Parallel()
	k0, k1 := testutil.RSAKey(0), testutil.RSAKey(1)
	now := time.Now()
	cert := func(cn string, k crypto.Signer, notBefore, notAfter time.Time, issuer *testutil.Cert) *testutil.Cert {
		return testutil.NewCert(testutil.CertSpec{CommonName: cn, Key: k, NotBefore: notBefore, NotAfter: notAfter, Issuer: issuer, CA: issuer == nil})
	}
	valid := func(cn string, k crypto.Signer) *testutil.Cert {
		return cert(cn, k, now.Add(-time.Hour), now.Add(24*time.Hour), nil)
	}
	leaf := valid("app", k0).X509
	other := valid("other", k1).X509
	caCert := valid("ca", k1)
	ca := caCert.X509
	chained := cert("chained", k0, now.Add(-time.Hour), now.Add(24*time.Hour), caCert).X509
	expired := cert("old", k0, now.Add(-48*time.Hour), now.Add(-24*time.Hour), nil).X509
	future := cert("future", k0, now.Add(24*time.Hour), now.Add(48*time.Hour), nil).X509
	ec := testutil.ECDSAKey(0)
	ecCert := valid("ec", ec).X509
	small := testutil.WeakRSAKey()
	smallCert := valid("small", small).X509
	key0 := testutil.PKCS8PEM(k0)
	pkcs1 := testutil.PKCS1PEM(k0)
	legacy, modern := testutil.LegacyPFX(), testutil.ModernPFX()
	certPEM := func(c *x509.Certificate) []byte { return testutil.CertPEM(c) }
	pkcs8PEM := func(_ *testing.T, k crypto.PrivateKey) []byte { return testutil.PKCS8PEM(k) }
	join := testutil.Concat
	pfxPassword, pfxThumbprint := testutil.PFXPassword, testutil.PFXThumbprint

	tests := []struct {
		name     string
		data     []byte
		password string
		leafCN   string // want success with this leaf first
		chainLen int
		thumb    string
		want     []string // want an error containing these
	}{
		{name: "PEM cert and PKCS#8 key", data: join(certPEM(leaf), key0), leafCN: "app", chainLen: 1, thumb: Thumbprint(leaf)},
		{name: "PEM key first, PKCS#1", data: join(pkcs1, certPEM(leaf)), leafCN: "app", chainLen: 1},
		{name: "PEM password ignored for an unencrypted key", data: join(certPEM(leaf), key0), password: "x", leafCN: "app", chainLen: 1},
		{name: "PEM chain, CA first", data: join(certPEM(ca), certPEM(chained), key0), leafCN: "chained", chainLen: 2},
		{name: "PKCS#12 legacy", data: legacy, password: pfxPassword, leafCN: "akvcreds-test-pkcs12", chainLen: 1, thumb: pfxThumbprint},

		{name: "empty", data: nil, want: []string{"empty"}},
		{name: "garbage", data: []byte("not a certificate at all"), want: []string{"neither PEM nor PKCS#12"}},
		{name: "no key", data: certPEM(leaf), want: []string{"no private key"}},
		{name: "no certificate", data: key0, want: []string{"no certificate"}},
		{name: "key of another certificate", data: join(certPEM(other), key0), want: []string{"does not belong to the certificate", `"CN=other"`, Thumbprint(other)}},
		{name: "key of none of two", data: join(certPEM(other), certPEM(ca), key0), want: []string{"none of the 2 certificates"}},
		{name: "expired", data: join(certPEM(expired), key0), want: []string{"expired on", "CN=old", Thumbprint(expired)}},
		{name: "not yet valid", data: join(certPEM(future), key0), want: []string{"not valid before", "clock"}},
		{name: "ECDSA", data: join(certPEM(ecCert), pkcs8PEM(t, ec)), want: []string{"ECDSA", "need an RSA key"}},
		{name: "RSA 1024", data: join(certPEM(smallCert), pkcs8PEM(t, small)), want: []string{"1024 bits", "at least 2048"}},
		{name: "two keys", data: join(certPEM(leaf), key0, pkcs8PEM(t, k1)), want: []string{"2 private keys"}},
		{name: "encrypted PKCS#8", data: join(certPEM(leaf), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})), want: []string{"encrypted", "openssl pkey"}},
		{name: "encrypted legacy PEM", data: join(certPEM(leaf), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1}})), want: []string{"encrypted"}},
		{name: "bad certificate block", data: join(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), key0), want: []string{"PEM block 1 (CERTIFICATE) is not a valid certificate"}},
		{name: "bad key block", data: join(certPEM(leaf), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})), want: []string{"PEM block 2 (PRIVATE KEY) is not a valid private key"}},
		{name: "PKCS#12 wrong password", data: legacy, password: "wrong", want: []string{"PKCS#12 password is wrong"}},
		{name: "PKCS#12 without its password", data: legacy, want: []string{"password-protected", "give its password"}},
		{name: "PKCS#12 OpenSSL 3 default", data: modern, password: pfxPassword, want: []string{"cannot read", "OpenSSL 3", "-legacy", "openssl pkcs12 -in cert.pfx -nodes -out cert.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadCertificate(tt.data, tt.password, now)
			if tt.want != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				testutil.NoKeyMaterial(t, err.Error(), key0)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Chain[0].Subject.CommonName != tt.leafCN || len(c.Chain) != tt.chainLen {
				t.Errorf("chain %d, leaf %q", len(c.Chain), c.Chain[0].Subject.CommonName)
			}
			if !c.Key.PublicKey.Equal(c.Chain[0].PublicKey) {
				t.Error("key does not match the first certificate")
			}
			if tt.thumb != "" && c.Thumbprint() != tt.thumb {
				t.Errorf("thumbprint %s, want %s", c.Thumbprint(), tt.thumb)
			}
		})
	}
}

func TestReadCredentialFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxCredentialFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{"", "path is empty"},
		{filepath.Join(dir, "missing"), "does not exist"},
		{dir, "is a directory"},
		{big, "larger than"},
	} {
		_, err := ReadCredentialFile("certificate file", tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "certificate file") {
			t.Errorf("%q: %v, want %q", tt.path, err, tt.want)
		}
	}
	if b, err := ReadCredentialFile("x", ok); err != nil || string(b) != "content" {
		t.Errorf("%q %v", b, err)
	}
}
