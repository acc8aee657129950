package akvcreds

// Key Vault certificates as TLS credentials. A Key Vault certificate's
// private key and chain are readable through its backing secret (same name
// as the certificate), whose content type is application/x-pkcs12 (base64
// of a PKCS#12 file without password) or application/x-pem-file (the
// private key and the certificates as PEM). Credential.Certificate turns
// such a credential into a tls.Certificate; the engine checks every
// credential with one of these content types as it reads it (see
// WithCertificateExpiry).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/akvcreds/akvcreds/internal/certs"
	"github.com/akvcreds/akvcreds/internal/telemetry"
)

// The content types of a Key Vault certificate's backing secret.
const (
	contentTypePKCS12 = "application/x-pkcs12"
	contentTypePEM    = "application/x-pem-file"
)

// defaultCertificateExpiry is WithCertificateExpiry's default window: Key
// Vault's own SecretNearExpiry event fires 30 days before expiry.
const defaultCertificateExpiry = 30 * 24 * time.Hour

// isCertificateContentType reports whether a content type is one of a
// certificate's backing secret.
func isCertificateContentType(ct string) bool {
	mt := mediaType(ct)
	return mt == contentTypePKCS12 || mt == contentTypePEM
}

// parsedCert is a credential's certificate, parsed at most once; copies of
// the credential share it.
type parsedCert struct {
	once sync.Once
	cert *tls.Certificate
	err  *failure
}

// newParsedCert returns a holder for a credential of content type ct, or
// nil when ct is not a certificate's.
func newParsedCert(ct string) *parsedCert {
	if !isCertificateContentType(ct) {
		return nil
	}
	return &parsedCert{}
}

// get parses value (of content type ct) on first use.
func (p *parsedCert) get(ct string, value func() string) (*tls.Certificate, *failure) {
	p.once.Do(func() { p.cert, p.err = parseCertificate(ct, value()) })
	return p.cert, p.err
}

// Certificate returns the credential as a TLS certificate, for a
// credential whose secret backs a Key Vault certificate: its content type
// is application/x-pkcs12 (base64 PKCS#12 without password, Key Vault's
// default) or application/x-pem-file (PEM private key and certificates).
// The content type decides; a value is never guessed at, so a certificate
// stored in a plain secret needs one of these content types.
//
// The result's Certificate holds the chain as DER, leaf first, then its
// issuers in order; PrivateKey is the leaf's key (RSA, ECDSA or Ed25519);
// Leaf is the parsed leaf, whose NotBefore and NotAfter are its validity
// (Certificate does not judge it: the fetch does, see
// WithCertificateExpiry). The value is parsed once per credential read
// (copies of a Credential share it); the slices of the result are shared
// too and must not be modified.
//
// A failure is a *FetchError of kind ErrMalformed whose Remedy says what to
// fix: the secret is not a certificate, the PKCS#12 file or the key is
// password-protected (Key Vault stores certificates without password), the
// value holds no private key (the key is not exportable) or no certificate,
// or the key does not belong to the certificate. Neither the error nor
// anything else shows the key or the value.
func (c Credential) Certificate() (*tls.Certificate, error) {
	p := c.cert
	if p == nil {
		p = &parsedCert{} // a Credential not made by a fetch: parse each time
	}
	tc, f := p.get(c.ContentType, c.Password.Reveal)
	if f != nil {
		return nil, &FetchError{Vault: c.Vault, Secret: c.Secret, Version: c.Version, Kind: f.kind, Remedy: f.remedy, Err: f}
	}
	cp := *tc
	return &cp, nil
}

// parseCertificate reads a certificate's backing secret.
func parseCertificate(ct, value string) (*tls.Certificate, *failure) {
	var (
		list []*x509.Certificate
		key  any
		err  error
	)
	switch mediaType(ct) {
	case contentTypePKCS12:
		der, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if derr != nil {
			return nil, fail(kindMalformed, "the value is not base64 though its content type is "+contentTypePKCS12,
				"store the certificate through Key Vault certificates (az keyvault certificate import), or set the content type the value has", nil)
		}
		list, key, err = certs.DecodePKCS12(der, "")
	case contentTypePEM:
		list, key, err = certs.ParsePEM([]byte(value))
		if err == nil && len(list) == 0 && key == nil {
			err = fmt.Errorf("the value holds no PEM certificate or private key: %w", certs.ErrUnreadable)
		}
	default:
		what := "no content type"
		if ct != "" {
			what = fmt.Sprintf("content type %q", ct)
		}
		return nil, fail(kindMalformed, "the secret is not a certificate: it has "+what+", not "+contentTypePKCS12+" or "+contentTypePEM,
			"this secret is not a certificate: fetch the secret that backs a Key Vault certificate (it has the certificate's name), or, for a certificate stored as a plain secret, set its content type to "+contentTypePEM+" or "+contentTypePKCS12, nil)
	}
	if err == nil {
		var chain []*x509.Certificate
		if chain, err = certs.Leaf(list, key); err == nil {
			return newTLSCertificate(certs.IssuerOrder(chain), key), nil
		}
	}
	return nil, certFailure(err)
}

// newTLSCertificate assembles a tls.Certificate from a chain, leaf first.
func newTLSCertificate(chain []*x509.Certificate, key any) *tls.Certificate {
	tc := &tls.Certificate{PrivateKey: key, Leaf: chain[0], Certificate: make([][]byte, len(chain))}
	for i, c := range chain {
		tc.Certificate[i] = c.Raw
	}
	return tc
}

// certFailure explains a problem of the certs package.
func certFailure(err error) *failure {
	remedy := "store the certificate through Key Vault certificates (az keyvault certificate import), which keeps it in a form akvcreds reads, or fix the secret's content type"
	switch {
	case errors.Is(err, certs.ErrEncrypted):
		remedy = "Key Vault stores certificates without password: import it through Key Vault certificates (az keyvault certificate import --password ...), or re-export it without a password"
	case errors.Is(err, certs.ErrNoKey):
		remedy = "the value holds no private key, which is what Key Vault returns for a certificate whose key is not exportable: create a new version with an exportable key (policy keyProperties.exportable true), or store the key with the certificate"
	case errors.Is(err, certs.ErrNoCertificate):
		remedy = "the value holds no certificate: import the certificate with its chain through Key Vault certificates"
	case errors.Is(err, certs.ErrKeyMismatch):
		remedy = "store the certificate with the private key it was issued for (a single key): import them together through Key Vault certificates"
	}
	return fail(kindMalformed, "the certificate cannot be used: "+err.Error(), remedy, err)
}

// certState is where a certificate's leaf stands against its validity
// period and the expiry window.
type certState uint8

const (
	certNone     certState = iota // not a certificate, or not readable
	certValid                     // valid, expiring after the window
	certExpiring                  // valid, expiring within the window
	certExpired                   // expired
	certNotYet                    // not valid yet
)

// leafState judges a leaf at now with the expiry window (0: none).
func leafState(leaf *x509.Certificate, now time.Time, window time.Duration) certState {
	switch {
	case now.Before(leaf.NotBefore):
		return certNotYet
	case now.After(leaf.NotAfter):
		return certExpired
	case window > 0 && leaf.NotAfter.Sub(now) <= window:
		return certExpiring
	}
	return certValid
}

// certStateOf judges a held credential's certificate at now.
func (c *Client) certStateOf(cred *Credential, now time.Time) certState {
	if cred.cert == nil || !isCertificateContentType(cred.ContentType) {
		return certNone
	}
	tc, f := cred.cert.get(cred.ContentType, cred.Password.Reveal)
	if f != nil {
		return certNone
	}
	return leafState(tc.Leaf, now, c.certExpiry)
}

// checkCertificate checks a credential read from Key Vault (before
// mapping) whose content type is a certificate's: it must parse, and its
// leaf must be valid at now; one expiring within the window is kept, and
// logged. Other credentials pass.
func (c *Client) checkCertificate(ctx context.Context, cred *Credential, now time.Time) *failure {
	if cred.cert == nil {
		return nil
	}
	tc, f := cred.cert.get(cred.ContentType, cred.Password.Reveal)
	if f != nil {
		return f
	}
	leaf := tc.Leaf
	switch leafState(leaf, now, c.certExpiry) {
	case certExpired:
		return fail(kindExpired, fmt.Sprintf("the certificate expired at %s (%s)", leaf.NotAfter.UTC().Format(time.RFC3339), certs.Describe(leaf)),
			fmt.Sprintf("renew the certificate in vault %q (a new version: az keyvault certificate create, or an auto-renew lifetime action in its policy) or import a renewed one", cred.Vault), nil)
	case certNotYet:
		return fail(kindExpired, fmt.Sprintf("the certificate is not valid before %s (%s)", leaf.NotBefore.UTC().Format(time.RFC3339), certs.Describe(leaf)),
			fmt.Sprintf("wait until it becomes valid, check this machine's clock, or make a currently valid version the latest in vault %q", cred.Vault), nil)
	case certExpiring:
		c.logExpiring(ctx, cred, leaf)
	}
	return nil
}

// logExpiring reports a certificate expiring within the window: a warning
// and, with tracing, an event on the current span.
func (c *Client) logExpiring(ctx context.Context, cred *Credential, leaf *x509.Certificate) {
	thumb := certs.Thumbprint(leaf)
	c.log.LogAttrs(ctx, slog.LevelWarn, "akvcreds: certificate expires soon", slog.String("vault", cred.Vault),
		slog.String("secret", cred.Secret), slog.Time("notAfter", leaf.NotAfter.UTC()), slog.String("thumbprint", thumb))
	if c.tel.Tracing() {
		trace.SpanFromContext(ctx).AddEvent(telemetry.EventCertificateExpiring, trace.WithAttributes(
			telemetry.KeySecret.String(cred.Secret), telemetry.KeyCertNotAfter.String(leaf.NotAfter.UTC().Format(time.RFC3339)),
			telemetry.KeyCertThumbprint.String(thumb)))
	}
}

// countExpiring counts the certificates of creds that expire within the
// window at now.
func (c *Client) countExpiring(creds []Credential, now time.Time) int {
	if c.certExpiry <= 0 {
		return 0
	}
	n := 0
	for i := range creds {
		if c.certStateOf(&creds[i], now) == certExpiring {
			n++
		}
	}
	return n
}
