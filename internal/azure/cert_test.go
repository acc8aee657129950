package azure

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
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
)

const (
	pfxPassword   = "pfx-password"
	pfxThumbprint = "8A157FE61AFD0E9E3653055D2298DF6E1F7BBD0B"
)

var testKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

// makeCert returns a certificate for key's public key, signed by signer
// (self-signed when nil).
func makeCert(t *testing.T, cn string, key crypto.Signer, notBefore, notAfter time.Time, parent *x509.Certificate, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: parent == nil, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	if parent == nil {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pkcs8PEM(t *testing.T, k crypto.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b})
}

func join(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// noKeyMaterial fails if msg contains any 16-character run of keyPEM's
// base64 body.
func noKeyMaterial(t *testing.T, msg string, keyPEM []byte) {
	t.Helper()
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if strings.HasPrefix(line, "-----") || len(line) < 16 {
			continue
		}
		for i := 0; i+16 <= len(line); i += 8 {
			if strings.Contains(msg, line[i:i+16]) {
				t.Fatalf("error shows key material: %s", msg)
			}
		}
	}
}

func TestLoadCertificate(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	now := time.Now()
	valid := func(cn string, k *rsa.PrivateKey) *x509.Certificate {
		return makeCert(t, cn, k, now.Add(-time.Hour), now.Add(24*time.Hour), nil, nil)
	}
	leaf := valid("app", keys[0])
	other := valid("other", keys[1])
	ca := valid("ca", keys[1])
	chained := makeCert(t, "chained", keys[0], now.Add(-time.Hour), now.Add(24*time.Hour), ca, keys[1])
	expired := makeCert(t, "old", keys[0], now.Add(-48*time.Hour), now.Add(-24*time.Hour), nil, nil)
	future := makeCert(t, "future", keys[0], now.Add(24*time.Hour), now.Add(48*time.Hour), nil, nil)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCert := makeCert(t, "ec", ec, now.Add(-time.Hour), now.Add(time.Hour), nil, nil)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallCert := makeCert(t, "small", small, now.Add(-time.Hour), now.Add(time.Hour), nil, nil)
	key0 := pkcs8PEM(t, keys[0])
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(keys[0])})
	legacy, err := os.ReadFile("testdata/legacy.pfx")
	if err != nil {
		t.Fatal(err)
	}
	modern, err := os.ReadFile("testdata/modern.pfx")
	if err != nil {
		t.Fatal(err)
	}

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
		{name: "two keys", data: join(certPEM(leaf), key0, pkcs8PEM(t, keys[1])), want: []string{"2 private keys"}},
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
				noKeyMaterial(t, err.Error(), key0)
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
