package testutil_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func TestClearAzureEnv(t *testing.T) {
	for _, k := range []string{"AZURE_CLIENT_ID", "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"} {
		t.Setenv(k, "x")
	}
	t.Setenv("AKVCREDS_KEEP", "y")
	testutil.ClearAzureEnv()
	for _, k := range []string{"AZURE_CLIENT_ID", "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s=%q survived", k, v)
		}
	}
	if os.Getenv("AKVCREDS_KEEP") != "y" {
		t.Error("an unrelated variable was cleared")
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	if first, again := testutil.RSAKey(0), testutil.RSAKey(0); first != again {
		t.Error("RSAKey(0) is made twice")
	}
	if testutil.RSAKey(0).Equal(testutil.RSAKey(1)) {
		t.Error("RSAKey(0) and RSAKey(1) are the same key")
	}
	if n := testutil.RSAKey(1).N.BitLen(); n != 2048 {
		t.Errorf("RSAKey: %d bits", n)
	}
	if n := testutil.WeakRSAKey().N.BitLen(); n != 1024 {
		t.Errorf("WeakRSAKey: %d bits", n)
	}
	if first, again := testutil.ECDSAKey(0), testutil.ECDSAKey(0); first != again || first.Equal(testutil.ECDSAKey(1)) {
		t.Error("ECDSAKey is not cached per number")
	}
	if testutil.ECDSAKey(0).Curve != elliptic.P256() {
		t.Error("ECDSAKey is not P-256")
	}
}

func TestNewCert(t *testing.T) {
	t.Parallel()
	def := testutil.NewCert(testutil.CertSpec{})
	now := time.Now()
	if def.X509.Subject.CommonName != "akvcreds-test" || def.X509.IsCA || def.Key != crypto.Signer(testutil.RSAKey(0)) ||
		!def.X509.NotBefore.Before(now) || !def.X509.NotAfter.After(now.Add(23*time.Hour)) {
		t.Errorf("defaults: %+v", def.X509)
	}
	if other := testutil.NewCert(testutil.CertSpec{}); other.X509.SerialNumber.Cmp(def.X509.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}

	ca := testutil.NewCert(testutil.CertSpec{CommonName: "ca", Key: testutil.RSAKey(1), CA: true})
	leaf := testutil.NewCert(testutil.CertSpec{CommonName: "leaf", Issuer: ca})
	if !ca.X509.IsCA || ca.X509.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("CA: not a CA certificate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.X509)
	if _, err := leaf.X509.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("leaf does not chain to its issuer: %v", err)
	}
	if leaf.X509.Issuer.CommonName != "ca" {
		t.Errorf("issuer %s", leaf.X509.Issuer)
	}

	nb, na := now.Add(-48*time.Hour).Truncate(time.Second), now.Add(-24*time.Hour).Truncate(time.Second)
	expired := testutil.NewCert(testutil.CertSpec{NotBefore: nb, NotAfter: na})
	if !expired.X509.NotBefore.Equal(nb) || !expired.X509.NotAfter.Equal(na) {
		t.Errorf("validity %v - %v", expired.X509.NotBefore, expired.X509.NotAfter)
	}

	ec := testutil.NewCert(testutil.CertSpec{Key: testutil.ECDSAKey(0)})
	if _, ok := ec.X509.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("ECDSA certificate has a %T key", ec.X509.PublicKey)
	}
	for _, c := range []*testutil.Cert{def, ec} {
		if _, err := tls.X509KeyPair(c.CertPEM(), c.KeyPEM()); err != nil {
			t.Errorf("CertPEM and KeyPEM do not pair: %v", err)
		}
	}
	pair, err := tls.X509KeyPair(def.PEM(), def.PEM())
	if err != nil || !bytes.Equal(pair.Certificate[0], def.X509.Raw) {
		t.Errorf("PEM: %v", err)
	}
	if b, _ := pem.Decode(def.PKCS1KeyPEM()); b == nil || b.Type != "RSA PRIVATE KEY" {
		t.Error("PKCS1KeyPEM is not an RSA PRIVATE KEY block")
	} else if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err != nil || !k.Equal(testutil.RSAKey(0)) {
		t.Errorf("PKCS1KeyPEM: %v", err)
	}
	if !bytes.Equal(testutil.PKCS1PEM(testutil.RSAKey(0)), def.PKCS1KeyPEM()) {
		t.Error("PKCS1PEM differs from Cert.PKCS1KeyPEM")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("PKCS1KeyPEM of an ECDSA key did not panic")
			}
		}()
		ec.PKCS1KeyPEM()
	}()

	chain := testutil.Concat(testutil.CertPEM(ca.X509, leaf.X509), leaf.KeyPEM())
	if got := strings.Count(string(chain), "-----BEGIN "); got != 3 {
		t.Errorf("Concat of a 2-certificate chain and a key has %d blocks", got)
	}
	if def.Thumbprint() != testutil.Thumbprint(def.X509) || len(def.Thumbprint()) != 40 || strings.ToUpper(def.Thumbprint()) != def.Thumbprint() {
		t.Errorf("thumbprint %q", def.Thumbprint())
	}
}

func TestPFX(t *testing.T) {
	t.Parallel()
	want := testutil.PFXCertificate()
	if want.Subject.CommonName != testutil.PFXCommonName || testutil.Thumbprint(want) != testutil.PFXThumbprint {
		t.Errorf("PFXCertificate: %s, %s", want.Subject, testutil.Thumbprint(want))
	}
	certs, key, err := azidentity.ParseCertificates(testutil.LegacyPFX(), []byte(testutil.PFXPassword))
	if err != nil || len(certs) != 1 || key == nil {
		t.Fatalf("LegacyPFX: %d certificates, %v", len(certs), err)
	}
	if !certs[0].Equal(want) {
		t.Error("LegacyPFX does not hold PFXCertificate")
	}
	if _, _, err := azidentity.ParseCertificates(testutil.ModernPFX(), []byte(testutil.PFXPassword)); err == nil {
		t.Error("ModernPFX is readable: it is meant to be refused")
	}
	a := testutil.LegacyPFX()
	a[0] ^= 0xff
	if bytes.Equal(a, testutil.LegacyPFX()) {
		t.Error("LegacyPFX does not return a copy")
	}
}

// recordingTB records Fatalf instead of stopping the test.
type recordingTB struct {
	testing.TB
	failures []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestKeyMaterial(t *testing.T) {
	t.Parallel()
	keyPEM := testutil.NewCert(testutil.CertSpec{}).KeyPEM()
	lines := testutil.PEMBodyLines(keyPEM)
	if len(lines) < 10 {
		t.Fatalf("%d body lines", len(lines))
	}
	for _, l := range lines {
		if strings.Contains(l, "-----") || l == "" {
			t.Errorf("body line %q", l)
		}
	}
	if got := testutil.PEMBodyLines([]byte("-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n\nQUJD\n-----END X-----\n")); len(got) != 1 || got[0] != "QUJD" {
		t.Errorf("PEMBodyLines with headers: %q", got)
	}

	rec := &recordingTB{TB: t}
	testutil.NoKeyMaterial(rec, "cannot read cert.pem: no certificate", keyPEM)
	if len(rec.failures) != 0 {
		t.Errorf("clean message failed: %v", rec.failures)
	}
	testutil.NoKeyMaterial(rec, "bad key "+lines[3][5:30]+" here", keyPEM)
	if len(rec.failures) == 0 || !strings.Contains(rec.failures[0], "shows key material") {
		t.Errorf("leaking message passed: %v", rec.failures)
	}
}

func TestFiles(t *testing.T) {
	t.Parallel()
	p := testutil.WriteFile(t, "cert.pem", []byte("one"))
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 || !strings.HasSuffix(p, "/cert.pem") {
		t.Fatalf("WriteFile: %v %v", fi, err)
	}
	testutil.ReplaceFile(t, p, []byte("two"))
	if b, err := os.ReadFile(p); err != nil || string(b) != "two" {
		t.Errorf("ReplaceFile: %q %v", b, err)
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	fresh := strings.TrimSuffix(p, "cert.pem") + "token"
	testutil.ReplaceFile(t, fresh, []byte("t"))
	if b, _ := os.ReadFile(fresh); string(b) != "t" {
		t.Errorf("ReplaceFile of a new path: %q", b)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	base := map[string]string{"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"}
	env := testutil.EnvWith(base, "AZURE_CLIENT_SECRET", "s", "AZURE_CLIENT_ID", "c2")
	if len(base) != 2 || base["AZURE_CLIENT_ID"] != "c" {
		t.Errorf("EnvWith modified its base: %v", base)
	}
	getenv := testutil.Getenv(env)
	if getenv("AZURE_TENANT_ID") != "t" || getenv("AZURE_CLIENT_ID") != "c2" || getenv("AZURE_CLIENT_SECRET") != "s" || getenv("HOME") != "" {
		t.Errorf("Getenv(EnvWith(...)): %v", env)
	}
	if testutil.Getenv(nil)("AZURE_TENANT_ID") != "" || len(testutil.EnvWith(nil)) != 0 {
		t.Error("nil environment is not empty")
	}
	defer func() {
		if recover() == nil {
			t.Error("EnvWith with an odd number of arguments did not panic")
		}
	}()
	odd := strings.Fields("AZURE_TENANT_ID") // not a literal: staticcheck would flag the odd length
	testutil.EnvWith(nil, odd...)
}

func TestSyncBuffer(t *testing.T) {
	t.Parallel()
	var b testutil.SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := b.String(); len(got) != 800 || strings.Trim(got, "x") != "" {
		t.Errorf("%d bytes", len(got))
	}
	c := b.Bytes()
	c[0] = 'y'
	if b.String()[0] != 'x' {
		t.Error("Bytes does not return a copy")
	}
	b.Reset()
	if b.String() != "" {
		t.Error("Reset left content")
	}
}
