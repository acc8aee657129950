package testutil

import (
	"bytes"
	"crypto/x509"
	_ "embed"
	"encoding/pem"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// The PKCS#12 fixtures' password, their certificate's SHA-1 thumbprint (see
// Thumbprint) and its common name. See testdata/README.md for how the files
// were made.
const (
	PFXPassword   = "pfx-password"
	PFXThumbprint = "8A157FE61AFD0E9E3653055D2298DF6E1F7BBD0B"
	PFXCommonName = "akvcreds-test-pkcs12"
)

var (
	//go:embed testdata/legacy.pfx
	legacyPFX []byte
	//go:embed testdata/modern.pfx
	modernPFX []byte
	//go:embed testdata/pfx-cert.pem
	pfxCertPEM []byte
)

// LegacyPFX returns a PKCS#12 file (password PFXPassword) holding a
// self-signed RSA-2048 certificate (PFXCertificate, valid from 2000 to 2125)
// and its key, encrypted the legacy way (RC2/3DES, SHA-1 MAC) that Go's
// PKCS#12 decoder reads. Each call returns a new copy.
func LegacyPFX() []byte { return bytes.Clone(legacyPFX) }

// ModernPFX returns the same certificate and key as LegacyPFX in the form
// OpenSSL 3 exports by default (AES-256, SHA-256 MAC), which Go's PKCS#12
// decoder cannot read: for tests of the refusal and its advice. Each call
// returns a new copy.
func ModernPFX() []byte { return bytes.Clone(modernPFX) }

// PFXCertificate returns the certificate inside LegacyPFX and ModernPFX
// (common name PFXCommonName, thumbprint PFXThumbprint), e.g. to register it
// on the emulator's app. It panics if the embedded fixture is damaged.
func PFXCertificate() *x509.Certificate {
	b, _ := pem.Decode(pfxCertPEM)
	if b == nil {
		panic("testutil: testdata/pfx-cert.pem is not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		panic("testutil: testdata/pfx-cert.pem: " + err.Error())
	}
	return c
}

// PKCS12 encodes c's certificate and key, followed by chain, as a PKCS#12
// file protected with password ("" for none, as Key Vault stores a
// certificate's): with the modern algorithms (AES-256, PBKDF2, SHA-256 MAC)
// or, when legacy, the 3DES and SHA-1 ones older software writes. It
// panics if the key cannot be encoded.
func (c *Cert) PKCS12(password string, legacy bool, chain ...*x509.Certificate) []byte {
	enc := pkcs12.Modern
	if legacy {
		enc = pkcs12.LegacyDES
	}
	b, err := enc.Encode(c.Key, c.X509, chain, password)
	if err != nil {
		panic("testutil: encoding PKCS#12: " + err.Error())
	}
	return b
}
