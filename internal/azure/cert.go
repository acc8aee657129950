package azure

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds/internal/certs"
)

// MaxCredentialFileSize bounds the certificate and federated token files
// akvcreds reads: anything larger is not a credential.
const MaxCredentialFileSize = 1 << 20

// MinRSABits is the smallest RSA key Entra ID accepts for a certificate
// credential.
const MinRSABits = 2048

// certClockSkew is how far in the future a certificate's NotBefore may lie
// (the clocks of the machine that made it and of this one may differ).
const certClockSkew = 5 * time.Minute

// Certificate is a client certificate ready for use: the certificate whose
// public key matches Key first, then the rest of the chain as given.
type Certificate struct {
	Chain []*x509.Certificate
	Key   *rsa.PrivateKey
}

// Thumbprint is the SHA-1 thumbprint of the certificate, in upper-case hex,
// as the Azure portal shows it under "Certificates & secrets".
func (c *Certificate) Thumbprint() string {
	return Thumbprint(c.Chain[0])
}

// Thumbprint is the SHA-1 thumbprint of cert in upper-case hex.
func Thumbprint(cert *x509.Certificate) string { return certs.Thumbprint(cert) }

// ReadCredentialFile reads a certificate or token file (what names it in
// errors). Errors name the path and the problem, never the content.
func ReadCredentialFile(what, path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("the %s path is empty", what)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fileProblem(what, path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("the %s %q is a directory, not a file", what, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxCredentialFileSize+1))
	if err != nil {
		return nil, fileProblem(what, path, err)
	}
	if len(data) > MaxCredentialFileSize {
		return nil, fmt.Errorf("the %s %q is larger than %d bytes: it is not a credential file", what, path, MaxCredentialFileSize)
	}
	return data, nil
}

func fileProblem(what, path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the %s %q does not exist", what, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("the %s %q is not readable by this process (permission denied)", what, path)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("the %s %q cannot be read: %v", what, path, err)
}

// LoadCertificate parses a certificate with its private key, PEM or PKCS#12
// (password: "" when the file has none), and checks what Entra ID will check:
// an RSA key of at least MinRSABits that belongs to one of the certificates,
// and that certificate valid at now. Errors say what is wrong without showing
// key material.
func LoadCertificate(data []byte, password string, now time.Time) (*Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the certificate data is empty")
	}
	var (
		list []*x509.Certificate
		key  crypto.PrivateKey
		err  error
	)
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		list, key, err = certs.ParsePEM(data)
		if errors.Is(err, certs.ErrEncrypted) {
			err = fmt.Errorf("%w: decrypt it (openssl pkey -in key.pem -out key-plain.pem) or use a password-protected PKCS#12 file", err)
		}
	} else {
		list, key, err = parsePKCS12(data, password)
	}
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, errors.New("no certificate found: the data must hold the certificate (a CERTIFICATE block in PEM) besides its private key")
	}
	if key == nil {
		return nil, errors.New("no private key found: the data must hold the certificate's private key too (a PRIVATE KEY or RSA PRIVATE KEY block in PEM)")
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the private key is %s: Entra ID certificate credentials need an RSA key", certs.KeyKind(key))
	}
	if bits := rk.N.BitLen(); bits < MinRSABits {
		return nil, fmt.Errorf("the RSA key has %d bits: Entra ID needs at least %d", bits, MinRSABits)
	}
	chain, err := certs.Leaf(list, rk)
	if err != nil {
		return nil, err
	}
	lc := chain[0]
	if now.After(lc.NotAfter) {
		return nil, fmt.Errorf("the certificate (%s) expired on %s: create a new certificate, upload its public part to the app registration and use it",
			certs.Describe(lc), lc.NotAfter.UTC().Format(time.RFC3339))
	}
	if lc.NotBefore.After(now.Add(certClockSkew)) {
		return nil, fmt.Errorf("the certificate (%s) is not valid before %s: check this machine's clock, or wait",
			certs.Describe(lc), lc.NotBefore.UTC().Format(time.RFC3339))
	}
	return &Certificate{Chain: chain, Key: rk}, nil
}

// parsePKCS12 reads PKCS#12 data through azidentity (golang.org/x/crypto/pkcs12).
func parsePKCS12(data []byte, password string) ([]*x509.Certificate, crypto.PrivateKey, error) {
	certs, key, err := azidentity.ParseCertificates(data, []byte(password))
	if err == nil {
		return certs, key, nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "password incorrect") || strings.Contains(msg, "incorrect padding"):
		if password == "" {
			return nil, nil, errors.New("the PKCS#12 data is password-protected: give its password")
		}
		return nil, nil, errors.New("the PKCS#12 password is wrong")
	case strings.Contains(msg, "not supported") || strings.Contains(msg, "unknown digest algorithm") || strings.Contains(msg, "is implemented") || strings.Contains(msg, "only "):
		return nil, nil, fmt.Errorf("the PKCS#12 data uses algorithms akvcreds cannot read (%s; OpenSSL 3 encrypts with AES-256 and a SHA-256 MAC by default): "+
			"convert it to PEM (openssl pkcs12 -in cert.pfx -nodes -out cert.pem) or re-export it with openssl pkcs12 -export -legacy", strings.TrimPrefix(msg, "pkcs12: "))
	case msg == "found no private key":
		return nil, nil, errors.New("no RSA private key found in the PKCS#12 data: export the certificate with its private key")
	case msg == "found no certificate":
		return nil, nil, errors.New("no certificate found in the PKCS#12 data")
	}
	return nil, nil, errors.New("the data is neither PEM nor PKCS#12 (.pfx/.p12): give the certificate with its private key in one of those formats")
}
