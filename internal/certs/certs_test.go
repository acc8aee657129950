package certs_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/internal/certs"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// read parses data as PEM when it looks like PEM, else as PKCS#12, and puts
// the leaf first: what a certificate credential's reader does.
func read(data []byte, password string) ([]*x509.Certificate, any, error) {
	list, key, err := certs.DecodePKCS12(data, password)
	if strings.Contains(string(data), "-----BEGIN ") {
		list, key, err = certs.ParsePEM(data)
	}
	if err != nil {
		return nil, nil, err
	}
	chain, err := certs.Leaf(list, key)
	return chain, key, err
}

// Every form a Key Vault certificate's secret can take, and every way it
// can be wrong: the chain comes leaf first, in the order given otherwise,
// and a failure has its kind and never shows the key.
func TestRead(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := testutil.NewCert(testutil.CertSpec{CommonName: "ca", Key: testutil.ECDSAKey(1), CA: true})
	mid := testutil.NewCert(testutil.CertSpec{CommonName: "mid", Key: testutil.ECDSAKey(2), CA: true, Issuer: ca})
	rsaLeaf := testutil.NewCert(testutil.CertSpec{CommonName: "rsa", Key: testutil.RSAKey(0), Issuer: mid, NotAfter: now.Add(time.Hour)})
	ecLeaf := testutil.NewCert(testutil.CertSpec{CommonName: "ec", Key: testutil.ECDSAKey(0)})
	other := testutil.NewCert(testutil.CertSpec{CommonName: "other", Key: testutil.ECDSAKey(3)})
	cat := testutil.Concat
	garbledKey := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})

	tests := []struct {
		name     string
		data     []byte
		password string
		chain    []string // common names, leaf first; nil: want an error of kind
		kind     error
	}{
		{"PEM key first (Key Vault's order), RSA with its chain", cat(rsaLeaf.KeyPEM(), rsaLeaf.CertPEM(), mid.CertPEM(), ca.CertPEM()), "", []string{"rsa", "mid", "ca"}, nil},
		{"PEM CA first", cat(ca.CertPEM(), ecLeaf.CertPEM(), testutil.PKCS8PEM(ecLeaf.Key)), "", []string{"ec", "ca"}, nil},
		{"PEM SEC 1 key", cat(ecLeaf.CertPEM(), pemSEC1(t, ecLeaf)), "", []string{"ec"}, nil},
		{"PKCS#12 modern, no password, chain", rsaLeaf.PKCS12("", false, mid.X509, ca.X509), "", []string{"rsa", "mid", "ca"}, nil},
		{"PKCS#12 legacy, no password, ECDSA", ecLeaf.PKCS12("", true), "", []string{"ec"}, nil},
		{"PKCS#12 OpenSSL 3 fixture with its password", testutil.ModernPFX(), testutil.PFXPassword, []string{testutil.PFXCommonName}, nil},
		{"PKCS#12 legacy fixture with its password", testutil.LegacyPFX(), testutil.PFXPassword, []string{testutil.PFXCommonName}, nil},

		{"PKCS#12 password-protected", ecLeaf.PKCS12("hunter2", false), "", nil, certs.ErrEncrypted},
		{"PKCS#12 wrong password", testutil.LegacyPFX(), "wrong", nil, certs.ErrEncrypted},
		{"PEM encrypted key", cat(ecLeaf.CertPEM(), encrypted), "", nil, certs.ErrEncrypted},
		{"PEM no certificate", ecLeaf.KeyPEM(), "", nil, certs.ErrNoCertificate},
		{"PEM no key", ecLeaf.CertPEM(), "", nil, certs.ErrNoKey},
		{"PEM key of another certificate", cat(other.CertPEM(), ecLeaf.KeyPEM()), "", nil, certs.ErrKeyMismatch},
		{"PEM key of none of two", cat(other.CertPEM(), ca.CertPEM(), ecLeaf.KeyPEM()), "", nil, certs.ErrKeyMismatch},
		{"PEM two keys", cat(ecLeaf.PEM(), other.KeyPEM()), "", nil, certs.ErrKeyMismatch},
		{"PEM damaged key", cat(ecLeaf.CertPEM(), garbledKey), "", nil, certs.ErrUnreadable},
		{"PEM damaged certificate", cat(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{9}}), ecLeaf.KeyPEM()), "", nil, certs.ErrUnreadable},
		{"not PKCS#12", []byte("hello, world"), "", nil, certs.ErrUnreadable},
		{"empty", nil, "", nil, certs.ErrUnreadable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			chain, key, err := read(tt.data, tt.password)
			if tt.chain == nil {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("error %v, want kind %v", err, tt.kind)
				}
				for _, k := range [][]byte{ecLeaf.KeyPEM(), rsaLeaf.KeyPEM(), other.KeyPEM()} {
					testutil.NoKeyMaterial(t, err.Error(), k)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range chain {
				got = append(got, c.Subject.CommonName)
			}
			if strings.Join(got, ",") != strings.Join(tt.chain, ",") {
				t.Errorf("chain %v, want %v", got, tt.chain)
			}
			if _, err := certs.Leaf(chain[:1], key); err != nil {
				t.Errorf("the key does not belong to the first certificate: %v", err)
			}
		})
	}
}

// pemSEC1 is c's ECDSA key as an "EC PRIVATE KEY" block (SEC 1).
func pemSEC1(t *testing.T, c *testutil.Cert) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(c.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	c := testutil.NewCert(testutil.CertSpec{CommonName: "connector", Key: testutil.ECDSAKey(0)})
	if d := certs.Describe(c.X509); !strings.Contains(d, `"CN=connector"`) || !strings.Contains(d, c.Thumbprint()) {
		t.Errorf("Describe = %q", d)
	}
	if k := certs.KeyKind(testutil.ECDSAKey(0)); k != "an ECDSA key (P-256)" {
		t.Errorf("KeyKind = %q", k)
	}
	if k := certs.KeyKind(testutil.RSAKey(0)); k != "an RSA key (2048 bits)" {
		t.Errorf("KeyKind = %q", k)
	}
}

// Whatever the input, reading it neither panics nor echoes it in an error.
func FuzzRead(f *testing.F) {
	c := testutil.NewCert(testutil.CertSpec{Key: testutil.ECDSAKey(0)})
	f.Add(c.PEM())
	f.Add(c.PKCS12("", false))
	f.Add(c.PKCS12("", true))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, err := read(data, "")
		if err == nil {
			return
		}
		msg := err.Error()
		if len(data) >= 12 && strings.Contains(msg, string(data)) {
			t.Errorf("the error quotes the input: %s", msg)
		}
		for _, k := range []error{certs.ErrUnreadable, certs.ErrEncrypted, certs.ErrNoCertificate, certs.ErrNoKey, certs.ErrKeyMismatch} {
			if errors.Is(err, k) {
				return
			}
		}
		t.Errorf("error %q has no kind", msg)
	})
}
