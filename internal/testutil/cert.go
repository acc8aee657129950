package testutil

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// CertSpec describes a certificate for NewCert. The zero value is a
// self-signed, currently valid, non-CA certificate for RSAKey(0) with the
// common name "akvcreds-test".
type CertSpec struct {
	// CommonName is the subject's CN. Default "akvcreds-test".
	CommonName string
	// Key is the certificate's key pair: an *rsa.PrivateKey or an
	// *ecdsa.PrivateKey. Default RSAKey(0).
	Key crypto.Signer
	// NotBefore and NotAfter bound the validity period. A zero NotBefore
	// means an hour ago, a zero NotAfter a day from now.
	NotBefore, NotAfter time.Time
	// Issuer signs the certificate with its key (a CA made with CA: true);
	// nil means self-signed.
	Issuer *Cert
	// CA makes a CA certificate (basic constraints CA:TRUE, certificate
	// signing usage), which can be the Issuer of others.
	CA bool
}

// Cert is a certificate made by NewCert, with its private key.
type Cert struct {
	// X509 is the parsed certificate.
	X509 *x509.Certificate
	// Key is its private key.
	Key crypto.Signer
}

// certSerial numbers the certificates of one process.
var certSerial atomic.Int64

// NewCert makes the certificate spec describes. Making a certificate is
// fast once its keys exist (see RSAKey). It panics if the certificate cannot
// be made (a key of an unsupported type, or an Issuer without a key), which
// is a mistake in the test.
func NewCert(spec CertSpec) *Cert {
	if spec.CommonName == "" {
		spec.CommonName = "akvcreds-test"
	}
	if spec.Key == nil {
		spec.Key = RSAKey(0)
	}
	now := time.Now()
	if spec.NotBefore.IsZero() {
		spec.NotBefore = now.Add(-time.Hour)
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = now.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(certSerial.Add(1)),
		Subject:               pkix.Name{CommonName: spec.CommonName},
		NotBefore:             spec.NotBefore,
		NotAfter:              spec.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  spec.CA,
	}
	if spec.CA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	parent, signer := tmpl, spec.Key
	if spec.Issuer != nil {
		parent, signer = spec.Issuer.X509, spec.Issuer.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, spec.Key.Public(), signer)
	if err != nil {
		panic("testutil: making a certificate: " + err.Error())
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic("testutil: parsing a new certificate: " + err.Error())
	}
	return &Cert{X509: c, Key: spec.Key}
}

// CertPEM returns the certificate as a PEM "CERTIFICATE" block.
func (c *Cert) CertPEM() []byte { return CertPEM(c.X509) }

// KeyPEM returns the private key as a PEM "PRIVATE KEY" block (PKCS#8).
func (c *Cert) KeyPEM() []byte { return PKCS8PEM(c.Key) }

// PKCS1KeyPEM returns the private key as a PEM "RSA PRIVATE KEY" block
// (PKCS#1). It panics if the key is not an RSA key.
func (c *Cert) PKCS1KeyPEM() []byte {
	k, ok := c.Key.(*rsa.PrivateKey)
	if !ok {
		panic("testutil: PKCS1KeyPEM of a non-RSA key")
	}
	return PKCS1PEM(k)
}

// PEM returns the usual content of a certificate file: the certificate, then
// its key in PKCS#8 form.
func (c *Cert) PEM() []byte { return Concat(c.CertPEM(), c.KeyPEM()) }

// Thumbprint returns the certificate's SHA-1 thumbprint (see Thumbprint).
func (c *Cert) Thumbprint() string { return Thumbprint(c.X509) }

// CertPEM returns certs as consecutive PEM "CERTIFICATE" blocks, in order
// (leaf first for a chain, or any order a test wants to try).
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// PKCS8PEM returns key as a PEM "PRIVATE KEY" block (PKCS#8). It panics if
// the key's type is not supported by x509.MarshalPKCS8PrivateKey.
func PKCS8PEM(key crypto.PrivateKey) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic("testutil: encoding a PKCS#8 key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b})
}

// PKCS1PEM returns key as a PEM "RSA PRIVATE KEY" block (PKCS#1, the
// traditional OpenSSL form).
func PKCS1PEM(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// Concat joins byte slices into a new one, e.g. PEM blocks into one file:
// Concat(ca.CertPEM(), leaf.CertPEM(), leaf.KeyPEM()).
func Concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Thumbprint returns a certificate's SHA-1 thumbprint in upper-case hex, as
// the Azure portal shows it and as x5t carries it.
func Thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// PEMBodyLines returns the base64 body lines of the PEM blocks in data: every
// non-empty line that is not a "-----BEGIN/END" line or a header. For a key's
// PEM these are the lines that must never appear in any output.
func PEMBodyLines(data []byte) []string {
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "-----") || strings.Contains(l, ": ") {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// NoKeyMaterial fails tb if msg contains any 16-character run of the base64
// body of keyPEM (checked at every 8th offset of each body line): an error
// message or log about a certificate file must never show its key.
func NoKeyMaterial(tb testing.TB, msg string, keyPEM []byte) {
	tb.Helper()
	for _, line := range PEMBodyLines(keyPEM) {
		for i := 0; i+16 <= len(line); i += 8 {
			if strings.Contains(msg, line[i:i+16]) {
				tb.Fatalf("message shows key material: %s", msg)
			}
		}
	}
}
