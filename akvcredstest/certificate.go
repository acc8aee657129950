package akvcredstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// CertificateSpec describes a Key Vault certificate for SetCertificate. The
// zero value is Key Vault's default policy: a self-signed certificate for an
// RSA 2048 key, stored as PKCS#12, with the subject "CN=NAME", valid for 12
// months from now by the server's clock (and from 10 minutes before). The JSON names are those of a
// seed's certificates entries (see LoadSeed).
type CertificateSpec struct {
	// Key is the key type and size: "rsa-2048", "rsa-3072", "rsa-4096",
	// "ec-p256", "ec-p384" or "ec-p521" (Key Vault's kty RSA with key_size,
	// or EC with crv P-256, P-384, P-521). Default: "rsa-2048".
	Key string `json:"key"`
	// ContentType is the backing secret's content type, the policy's
	// secret_props.contentType: "application/x-pkcs12" (the base64 of a
	// PKCS#12 file without a password) or "application/x-pem-file" (the
	// PKCS#8 private key, then the certificates, leaf first).
	// Default: "application/x-pkcs12".
	ContentType string `json:"contentType"`
	// Subject is the X.500 subject, e.g. "CN=api.contoso.com, O=Contoso":
	// comma-separated CN, O, OU, L, ST and C attributes (no escaped commas).
	// Default: "CN=" and the certificate's name.
	Subject string `json:"subject"`
	// DNSNames are the subject alternative names (the policy's
	// subject_alternative_names.dns_names). Default: none.
	DNSNames []string `json:"dnsNames"`
	// NotBefore and NotAfter bound the validity, which may lie in the past
	// (an expired certificate) or end soon. Default: as Key Vault sets
	// them, 10 minutes before the server's now, and 12 months after now
	// (or after NotBefore when it is given; Key Vault's default
	// validity_months).
	NotBefore time.Time `json:"-"`
	NotAfter  time.Time `json:"-"`
	// SignedByCA has the server's CA (CertificateCA) issue the certificate,
	// and the backing secret's chain then holds the leaf and the CA, in
	// that order. Default: false, a self-signed certificate (Key Vault's
	// issuer "Self").
	SignedByCA bool `json:"-"`
}

// Certificate is a certificate version SetCertificate created.
type Certificate struct {
	// Version is the version ID of the certificate, which its backing
	// secret (GET /secrets/NAME/VERSION) and its key (the secret's kid)
	// share.
	Version string
	// Leaf is the certificate.
	Leaf *x509.Certificate
	// Chain is the chain in the backing secret, leaf first: the leaf alone
	// for a self-signed certificate, the leaf and CertificateCA otherwise.
	Chain []*x509.Certificate
}

// The content types of a certificate's backing secret.
const (
	contentTypePFX = "application/x-pkcs12"
	contentTypePEM = "application/x-pem-file"
)

// backdate is how long before its creation a certificate Key Vault makes
// becomes valid: 10 minutes (recorded: nbf = created - 600 s, exp = created
// + 12 months; testdata/recordings/kv-get-certificate-secret-pem.json).
const backdate = 10 * time.Minute

// certKeys are the key types SetCertificate makes, by CertificateSpec.Key.
var certKeys = map[string]func() (crypto.Signer, error){
	"rsa-2048": rsaKey(2048),
	"rsa-3072": rsaKey(3072),
	"rsa-4096": rsaKey(4096),
	"ec-p256":  ecKey(elliptic.P256()),
	"ec-p384":  ecKey(elliptic.P384()),
	"ec-p521":  ecKey(elliptic.P521()),
}

func rsaKey(bits int) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) }
}

func ecKey(c elliptic.Curve) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) }
}

// CertificateCA returns the server's CA certificate (the one CACertPEM
// encodes): the issuer of the certificates SetCertificate makes with
// SignedByCA, e.g. for a test's TLS server to verify client certificates
// with.
func (s *Server) CertificateCA() *x509.Certificate { return s.caCert }

// SetCertificate creates a Key Vault certificate called name in a vault
// (created if missing) as spec describes, or, if the certificate exists, a
// new version of it, as a renewal does. Like Key Vault it stores the
// certificate's private key and chain in the certificate's backing secret:
// the secret of the same name and version, with the spec's content type,
// "managed": true, the "kid" https://VAULT/keys/NAME/VERSION, the attributes
// nbf and exp set to the certificate's validity and, on a renewal, the
// "previousVersion". A deleted
// secret of that name is purged first, as with SetSecret. It returns the
// new version, or an error if spec is invalid.
func (s *Server) SetCertificate(vaultName, name string, spec CertificateSpec) (*Certificate, error) {
	cert, err := s.setCertificate(vaultName, name, spec)
	if err != nil {
		return nil, fmt.Errorf("akvcredstest: %w", err)
	}
	return cert, nil
}

// setCertificate is SetCertificate without the package's prefix on errors.
func (s *Server) setCertificate(vaultName, name string, spec CertificateSpec) (*Certificate, error) {
	if !secretNameRE.MatchString(name) {
		return nil, fmt.Errorf("invalid certificate name %q", name)
	}
	now := s.now()
	cert, value, err := s.issue(name, spec, now)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", name, err)
	}
	nbf, exp := cert.Leaf.NotBefore, cert.Leaf.NotAfter
	sv := &secretVersion{
		version:     newID(),
		value:       value,
		contentType: spec.ContentType,
		enabled:     true,
		nbf:         &nbf,
		exp:         &exp,
		created:     now,
		updated:     now,
		managed:     true,
	}
	if sv.contentType == "" {
		sv.contentType = contentTypePFX
	}
	cert.Version = sv.version
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vaultLocked(vaultName)
	delete(v.deleted, strings.ToLower(name))
	if prev := v.secrets[strings.ToLower(name)]; prev != nil && prev.latest().managed {
		sv.previous = prev.latest().version
	}
	s.putVersionLocked(v, name, sv)
	return cert, nil
}

// issue makes the certificate spec describes, created at now, and the
// value of its backing secret.
func (s *Server) issue(name string, spec CertificateSpec, now time.Time) (*Certificate, string, error) {
	tmpl, newKey, err := certTemplate(name, spec, now)
	if err != nil {
		return nil, "", err
	}
	key, err := newKey()
	if err != nil {
		return nil, "", err
	}
	parent, signer := tmpl, key
	if spec.SignedByCA {
		parent, signer = s.caCert, s.caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, "", err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, "", err
	}
	cert := &Certificate{Leaf: leaf, Chain: []*x509.Certificate{leaf}}
	if spec.SignedByCA {
		cert.Chain = append(cert.Chain, s.caCert)
	}
	value, err := secretValue(spec.ContentType, key, cert.Chain)
	if err != nil {
		return nil, "", err
	}
	return cert, value, nil
}

// certTemplate checks spec and returns the template of the certificate
// created at now and the maker of its key. The key usages and extended key usages are those of
// Key Vault's default policy (digitalSignature and keyEncipherment;
// serverAuth and clientAuth).
func certTemplate(name string, spec CertificateSpec, now time.Time) (*x509.Certificate, func() (crypto.Signer, error), error) {
	kind := strings.ToLower(spec.Key)
	if kind == "" {
		kind = "rsa-2048"
	}
	newKey, ok := certKeys[kind]
	if !ok {
		return nil, nil, fmt.Errorf("key %q is not one of rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384, ec-p521", spec.Key)
	}
	subject := spec.Subject
	if subject == "" {
		subject = "CN=" + name
	}
	subj, err := parseSubject(subject)
	if err != nil {
		return nil, nil, err
	}
	nbf, exp := spec.NotBefore, spec.NotAfter
	if exp.IsZero() {
		start := nbf
		if start.IsZero() {
			start = now
		}
		exp = start.AddDate(0, 12, 0)
	}
	if nbf.IsZero() {
		nbf = now.Add(-backdate)
	}
	if !exp.After(nbf) {
		return nil, nil, errors.New("NotAfter is not after NotBefore")
	}
	usage := x509.KeyUsageDigitalSignature
	if strings.HasPrefix(kind, "rsa") {
		usage |= x509.KeyUsageKeyEncipherment
	}
	return &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               subj,
		DNSNames:              append([]string(nil), spec.DNSNames...),
		NotBefore:             nbf.Truncate(time.Second),
		NotAfter:              exp.Truncate(time.Second),
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}, newKey, nil
}

// parseSubject parses a subject of comma-separated attributes.
func parseSubject(s string) (pkix.Name, error) {
	var n pkix.Name
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			return n, fmt.Errorf("subject %q: %q is not ATTRIBUTE=VALUE", s, part)
		}
		switch strings.ToUpper(strings.TrimSpace(k)) {
		case "CN":
			n.CommonName = v
		case "O":
			n.Organization = append(n.Organization, v)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, v)
		case "L":
			n.Locality = append(n.Locality, v)
		case "ST", "S":
			n.Province = append(n.Province, v)
		case "C":
			n.Country = append(n.Country, v)
		default:
			return n, fmt.Errorf("subject %q: attribute %q is not CN, O, OU, L, ST or C", s, k)
		}
	}
	return n, nil
}

// secretValue encodes a certificate's key and chain (leaf first) as Key
// Vault stores them in the backing secret of contentType.
func secretValue(contentType string, key crypto.Signer, chain []*x509.Certificate) (string, error) {
	switch contentType {
	case "", contentTypePFX:
		pfx, err := pkcs12.Modern.Encode(key, chain[0], chain[1:], "")
		if err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(pfx), nil
	case contentTypePEM:
		return encodePEM(key, chain)
	}
	return "", fmt.Errorf("content type %q is not %s or %s", contentType, contentTypePFX, contentTypePEM)
}

// encodePEM writes the key (PKCS#8) and then the certificates, as Key Vault
// writes a PEM certificate's secret.
func encodePEM(key crypto.PrivateKey, chain []*x509.Certificate) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	for _, c := range chain {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return b.String(), nil
}

// errNotCertificate: a secret that is not a certificate's is not converted.
var errNotCertificate = errors.New("not a certificate's secret")

// pfxToPEM converts a PKCS#12 secret value (base64, no password) to PEM, as
// Key Vault's outContentType=application/x-pem-file does.
func pfxToPEM(value string) (string, error) {
	der, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return "", err
	}
	key, leaf, cas, err := pkcs12.DecodeChain(der, "")
	if err != nil {
		return "", err
	}
	return encodePEM(key, append([]*x509.Certificate{leaf}, cas...))
}
