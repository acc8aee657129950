// Package certs reads certificates with their private keys, as PEM or
// PKCS#12, for the two places akvcreds needs them: client-certificate
// authentication (internal/azure, which adds Entra ID's own checks) and Key
// Vault certificates used as TLS credentials (the root package's
// Credential.Certificate). It finds the certificate a key belongs to and
// puts it first. Errors say what is wrong and name certificates by subject
// and thumbprint; they never show key material or the data they were given.
// Each wraps one of the problem kinds below, for callers that explain them.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// The kinds of problem; every error of this package wraps one.
var (
	// ErrUnreadable: the data is not what it claims to be (not PEM, not
	// PKCS#12, a damaged block, an algorithm this package cannot read).
	ErrUnreadable = errors.New("unreadable")
	// ErrEncrypted: the private key or the PKCS#12 file needs a password.
	ErrEncrypted = errors.New("encrypted")
	// ErrNoCertificate: no certificate in the data.
	ErrNoCertificate = errors.New("no certificate")
	// ErrNoKey: no private key in the data.
	ErrNoKey = errors.New("no private key")
	// ErrKeyMismatch: the private key belongs to none of the certificates,
	// or there are several keys.
	ErrKeyMismatch = errors.New("key mismatch")
)

// problem is an error of one kind with its own message.
type problem struct {
	kind error
	msg  string
}

func (p *problem) Error() string { return p.msg }
func (p *problem) Unwrap() error { return p.kind }

func fail(kind error, format string, args ...any) error {
	return &problem{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Thumbprint is the SHA-1 thumbprint of c in upper-case hex, as the Azure
// portal shows it.
func Thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Describe names a certificate in messages: its subject and thumbprint.
func Describe(c *x509.Certificate) string {
	subj := c.Subject.String()
	if subj == "" {
		subj = "no subject"
	}
	return fmt.Sprintf("subject %q, thumbprint %s", subj, Thumbprint(c))
}

// KeyKind describes a private key's type for messages ("an ECDSA key
// (P-256)").
func KeyKind(k crypto.PrivateKey) string {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("an RSA key (%d bits)", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "an ECDSA key (" + k.Curve.Params().Name + ")"
	case ed25519.PrivateKey:
		return "an Ed25519 key"
	}
	return fmt.Sprintf("a %T", k)
}

// ParsePEM reads the CERTIFICATE and private key blocks (PRIVATE KEY,
// RSA PRIVATE KEY, EC PRIVATE KEY) of PEM data, in any order; other blocks
// are skipped. It returns the certificates in the order given and the key
// (nil when there is none). An encrypted key, a damaged block or more than
// one key is an error.
func ParsePEM(data []byte) ([]*x509.Certificate, crypto.PrivateKey, error) {
	var (
		certs []*x509.Certificate
		key   crypto.PrivateKey
		keys  int
	)
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, nil, fail(ErrEncrypted, "the PEM private key is encrypted, which is not supported")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fail(ErrUnreadable, "PEM block %d (CERTIFICATE) is not a valid certificate: %v", n, err)
			}
			certs = append(certs, c)
			continue
		}
		k, isKey, err := parseKeyBlock(b)
		switch {
		case !isKey:
			continue // CERTIFICATE REQUEST, parameters, ...: not ours
		case err != nil:
			return nil, nil, fail(ErrUnreadable, "PEM block %d (%s) is not a valid private key", n, b.Type)
		}
		keys++
		key = k
	}
	if keys > 1 {
		return nil, nil, fail(ErrKeyMismatch, "the PEM data holds %d private keys: keep only the certificate's", keys)
	}
	return certs, key, nil
}

// parseKeyBlock parses a private key block; isKey reports whether b is one.
func parseKeyBlock(b *pem.Block) (k crypto.PrivateKey, isKey bool, err error) {
	switch b.Type {
	case "PRIVATE KEY":
		if k, err = x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		}
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, false, nil
	}
	return k, true, err
}

// DecodePKCS12 reads a PKCS#12 (PFX) file protected with password ("" for
// none, as Key Vault stores a certificate's): its certificates in the order
// of the file and its private key. It reads the legacy algorithms
// (RC2/3DES with a SHA-1 MAC) and the modern ones (AES-256 with PBKDF2 and
// a SHA-256 MAC, OpenSSL 3's default).
//
// A file asking for more than MaxIterations key-derivation iterations is
// refused (ErrUnreadable) before any is run.
func DecodePKCS12(der []byte, password string) ([]*x509.Certificate, crypto.PrivateKey, error) {
	if !iterationsWithin(der, 0) {
		return nil, nil, fail(ErrUnreadable, "the PKCS#12 data asks for more than %d key-derivation iterations, which akvcreds refuses (Key Vault and OpenSSL use 2,048): re-export it with the defaults", MaxIterations)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(der, password)
	if err == nil {
		return append([]*x509.Certificate{leaf}, cas...), key, nil
	}
	var ni pkcs12.NotImplementedError
	msg := err.Error()
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption):
		if password == "" {
			return nil, nil, fail(ErrEncrypted, "the PKCS#12 data is password-protected")
		}
		return nil, nil, fail(ErrEncrypted, "the PKCS#12 password is wrong")
	case msg == "pkcs12: certificate missing":
		return nil, nil, fail(ErrNoCertificate, "no certificate found in the PKCS#12 data")
	case msg == "pkcs12: private key missing":
		return nil, nil, fail(ErrNoKey, "no private key found in the PKCS#12 data")
	case msg == "pkcs12: expected exactly one key bag":
		return nil, nil, fail(ErrKeyMismatch, "the PKCS#12 data holds more than one private key: keep only the certificate's")
	case errors.As(err, &ni):
		return nil, nil, fail(ErrUnreadable, "the PKCS#12 data uses a feature akvcreds cannot read (%s)", strings.TrimPrefix(msg, "pkcs12: "))
	}
	return nil, nil, fail(ErrUnreadable, "the data is not a PKCS#12 (PFX) file")
}

// Leaf returns certs with the certificate key belongs to first, then the
// others in the order given. It fails when there is no certificate, no
// key, or the key belongs to none of them.
func Leaf(certs []*x509.Certificate, key crypto.PrivateKey) ([]*x509.Certificate, error) {
	switch {
	case len(certs) == 0:
		return nil, fail(ErrNoCertificate, "no certificate found")
	case key == nil:
		return nil, fail(ErrNoKey, "no private key found")
	}
	pub, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return nil, fail(ErrKeyMismatch, "the private key is %s, which has no public key to match", KeyKind(key))
	}
	p, ok := pub.Public().(interface{ Equal(crypto.PublicKey) bool })
	leaf := -1
	for i, c := range certs {
		if ok && p.Equal(c.PublicKey) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		if len(certs) == 1 {
			return nil, fail(ErrKeyMismatch, "the private key does not belong to the certificate (%s): use the key the certificate was issued for", Describe(certs[0]))
		}
		return nil, fail(ErrKeyMismatch, "the private key belongs to none of the %d certificates (the first: %s): use the key the certificate was issued for", len(certs), Describe(certs[0]))
	}
	chain := append([]*x509.Certificate{certs[leaf]}, certs[:leaf]...)
	return append(chain, certs[leaf+1:]...), nil
}
