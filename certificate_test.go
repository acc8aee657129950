package akvcreds_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// pfxValue is c (with chain) as Key Vault stores a certificate in its
// backing secret of content type application/x-pkcs12: base64 PKCS#12
// without password.
func pfxValue(c *testutil.Cert, chain ...*x509.Certificate) string {
	return base64.StdEncoding.EncodeToString(c.PKCS12("", false, chain...))
}

// pemValue is c as Key Vault stores it with content type
// application/x-pem-file: the private key, then the certificates.
func pemValue(c *testutil.Cert, chain ...*x509.Certificate) string {
	return string(testutil.Concat(c.KeyPEM(), c.CertPEM(), testutil.CertPEM(chain...)))
}

// setCertificate stores c as the backing secret of a Key Vault certificate,
// as Key Vault does: managed, with the certificate's validity.
func setCertificate(s *akvcredstest.Server, vault, name, contentType, value string, c *testutil.Cert) string {
	return s.SetSecret(vault, name, value, akvcredstest.ContentType(contentType), akvcredstest.Managed(),
		akvcredstest.NotBefore(c.X509.NotBefore), akvcredstest.Expires(c.X509.NotAfter))
}

// certPKI is a CA, an intermediate it signed, and the server certificate
// of the loopback TLS server.
type certPKI struct {
	ca, mid, server *testutil.Cert
}

func newPKI() certPKI {
	ca := testutil.NewCert(testutil.CertSpec{CommonName: "test-ca", Key: testutil.ECDSAKey(10), CA: true})
	return certPKI{
		ca:     ca,
		mid:    testutil.NewCert(testutil.CertSpec{CommonName: "test-mid", Key: testutil.ECDSAKey(11), CA: true, Issuer: ca}),
		server: testutil.NewCert(testutil.CertSpec{CommonName: "server", Key: testutil.ECDSAKey(12)}),
	}
}

// mtlsServer is a loopback TLS server that requires a client certificate
// chaining to pki's CA, and reports the common name of each client's leaf.
func mtlsServer(t *testing.T, pki certPKI) (addr string, clients <-chan string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca.X509)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{pki.server.X509.Raw}, PrivateKey: pki.server.Key, Leaf: pki.server.X509}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		MinVersion:   tls.VersionTLS12,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan string, 8)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(conn, cfg)
			if err := tc.Handshake(); err != nil {
				out <- "handshake failed: " + err.Error()
			} else {
				out <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			tc.Close()
		}
	}()
	return ln.Addr().String(), out
}

// handshake connects to addr with cfg (which trusts exactly pki's server
// certificate) and returns the client common name the server saw.
func handshake(t *testing.T, addr string, clients <-chan string, pki certPKI, cfg *tls.Config) string {
	t.Helper()
	cfg.InsecureSkipVerify = true // the server certificate has no SAN: checked below instead
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if !cs.PeerCertificates[0].Equal(pki.server.X509) {
			return errors.New("not the test server")
		}
		return nil
	}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	// TLS 1.3: the client's certificate is checked after the client's
	// handshake ends; reading waits for the server's verdict.
	_, _ = conn.Read(make([]byte, 1))
	conn.Close()
	select {
	case cn := <-clients:
		return cn
	case <-time.After(time.Minute):
		t.Fatal("the server saw no handshake within a minute")
	}
	return ""
}

// A certificate fetched from the emulator, as PKCS#12 and as PEM, with an
// RSA and an ECDSA key, completes a mutual-TLS handshake with its chain
// (leaf, intermediate) and is usable as is.
func TestCertificateMutualTLS(t *testing.T) {
	t.Parallel()
	pki := newPKI()
	addr, clients := mtlsServer(t, pki)
	s := newServer(t)
	year := time.Now().Add(365 * 24 * time.Hour)
	tests := []struct {
		name, contentType string
		key               crypto.Signer
	}{
		{"pkcs12-rsa", "application/x-pkcs12", testutil.RSAKey(0)},
		{"pkcs12-ecdsa", "application/x-pkcs12", testutil.ECDSAKey(20)},
		{"pem-rsa", "application/x-pem-file", testutil.RSAKey(0)},
		{"pem-ecdsa", "application/x-pem-file", testutil.ECDSAKey(21)},
	}
	for _, tt := range tests {
		leaf := testutil.NewCert(testutil.CertSpec{CommonName: tt.name, Key: tt.key, Issuer: pki.mid, NotAfter: year})
		value := pemValue(leaf, pki.mid.X509)
		if tt.contentType == "application/x-pkcs12" {
			value = pfxValue(leaf, pki.mid.X509)
		}
		setCertificate(s, "certs", tt.name, tt.contentType, value, leaf)
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("certs"))
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != len(tests) {
		t.Fatalf("%d credentials, want %d", len(creds), len(tests))
	}
	for _, cred := range creds {
		t.Run(cred.Secret, func(t *testing.T) {
			tc, err := cred.Certificate()
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.Certificate) != 2 || !tc.Leaf.Equal(mustParse(t, tc.Certificate[0])) || tc.Leaf.Subject.CommonName != cred.Secret {
				t.Fatalf("chain of %d, leaf %q: want the leaf %q, then the intermediate", len(tc.Certificate), tc.Leaf.Subject.CommonName, cred.Secret)
			}
			if !bytes.Equal(tc.Certificate[1], pki.mid.X509.Raw) {
				t.Error("the second certificate is not the intermediate")
			}
			if cn := handshake(t, addr, clients, pki, &tls.Config{Certificates: []tls.Certificate{*tc}}); cn != cred.Secret {
				t.Errorf("the server saw %q, want %q", cn, cred.Secret)
			}
		})
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every way a certificate credential can be unusable fails its read with
// ErrMalformed and a remedy that says what to fix; a secret of another
// content type is fetched, and only Certificate refuses it. No error shows
// the key.
func TestCertificateFailures(t *testing.T) {
	t.Parallel()
	leaf := testutil.NewCert(testutil.CertSpec{CommonName: "leaf", Key: testutil.ECDSAKey(30)})
	other := testutil.NewCert(testutil.CertSpec{CommonName: "other", Key: testutil.ECDSAKey(31)})
	encrypted := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
	const pfx, pemFile = "application/x-pkcs12", "application/x-pem-file"
	tests := []struct {
		name, contentType, value string
		remedy                   string // a part of the remedy
		fetched                  bool   // the fetch succeeds; Certificate fails
	}{
		{"wrong-content-type", "text/plain", pemValue(leaf), "this secret is not a certificate", true},
		{"no-content-type", "", pemValue(leaf), "this secret is not a certificate", true},
		{"pkcs12-password", pfx, base64.StdEncoding.EncodeToString(leaf.PKCS12("hunter2", false)), "Key Vault stores certificates without password", false},
		{"pem-encrypted-key", pemFile, string(leaf.CertPEM()) + encrypted, "Key Vault stores certificates without password", false},
		{"key-mismatch", pemFile, string(testutil.Concat(other.CertPEM(), leaf.KeyPEM())), "private key it was issued for", false},
		{"no-key", pemFile, string(leaf.CertPEM()), "not exportable", false},
		{"no-certificate", pemFile, string(leaf.KeyPEM()), "holds no certificate", false},
		{"pkcs12-not-base64", pfx, "not base64!", "az keyvault certificate import", false},
		{"pkcs12-garbage", pfx, base64.StdEncoding.EncodeToString([]byte("hello, world")), "az keyvault certificate import", false},
		{"pem-garbage", pemFile, "hello, world", "az keyvault certificate import", false},
	}
	s := newServer(t)
	for _, tt := range tests {
		s.SetSecret("bad-certs", tt.name, tt.value, akvcredstest.ContentType(tt.contentType))
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("bad-certs"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cred, err := c.FetchCredential(context.Background(), "bad-certs/"+tt.name)
			if tt.fetched {
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				var tc *tls.Certificate
				tc, err = cred.Certificate()
				if tc != nil {
					t.Error("Certificate returned a certificate with its error")
				}
			}
			var fe *akvcreds.FetchError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *FetchError", err)
			}
			if fe.Kind != akvcreds.ErrMalformed || !errors.Is(err, akvcreds.ErrMalformed) || fe.Vault != "bad-certs" || fe.Secret != tt.name {
				t.Errorf("kind %v, vault %q, secret %q: want malformed, bad-certs, %s", fe.Kind, fe.Vault, fe.Secret, tt.name)
			}
			if !strings.Contains(fe.Remedy, tt.remedy) {
				t.Errorf("remedy %q, want it to contain %q", fe.Remedy, tt.remedy)
			}
			for _, k := range [][]byte{leaf.KeyPEM(), other.KeyPEM()} {
				testutil.NoKeyMaterial(t, fmt.Sprintf("%v %+v %#v", err, fe, fe), k)
			}
			if strings.Contains(err.Error(), tt.value) {
				t.Errorf("the error shows the value: %v", err)
			}
		})
	}
}

// expiryFixture is an emulator and a Client on one settable clock, and a
// vault "expiry" holding certificates valid from an hour ago to notAfter.
func expiryFixture(t *testing.T, h *obsHandler, opts ...akvcreds.Option) (*akvcredstest.Server, *testutil.Clock, *akvcreds.Client) {
	t.Helper()
	clock := testutil.NewClock(time.Now())
	s := newServer(t, akvcredstest.WithClock(clock.Now))
	opts = append([]akvcreds.Option{secretAuth(), akvcreds.WithVaults("expiry"), akvcreds.WithClock(clock.Now),
		akvcreds.WithLogger(slog.New(h))}, opts...)
	return s, clock, newClient(t, s, opts...)
}

// expiryCert is a certificate valid from notBefore to notAfter.
func expiryCert(cn string, notBefore, notAfter time.Time) *testutil.Cert {
	return testutil.NewCert(testutil.CertSpec{CommonName: cn, Key: testutil.ECDSAKey(40), NotBefore: notBefore, NotAfter: notAfter})
}

// A leaf that expired or is not valid yet fails with ErrExpired and a
// remedy naming the renewal; one expiring within the window is returned,
// logged as a warning with its expiry and thumbprint and counted; with the
// window 0 it is neither logged nor counted.
func TestCertificateExpiry(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name     string
		opts     []akvcreds.Option
		from, to time.Time
		kind     error  // nil: fetched
		remedy   string // a part of the remedy
		expiring int
	}{
		{"valid", nil, now.Add(-time.Hour), now.Add(60 * 24 * time.Hour), nil, "", 0},
		{"expiring", nil, now.Add(-time.Hour), now.Add(10 * 24 * time.Hour), nil, "", 1},
		{"expiring-short-window", []akvcreds.Option{akvcreds.WithCertificateExpiry(24 * time.Hour)}, now.Add(-time.Hour), now.Add(10 * 24 * time.Hour), nil, "", 0},
		{"expiring-long-window", []akvcreds.Option{akvcreds.WithCertificateExpiry(90 * 24 * time.Hour)}, now.Add(-time.Hour), now.Add(60 * 24 * time.Hour), nil, "", 1},
		{"expiring-window-off", []akvcreds.Option{akvcreds.WithCertificateExpiry(0)}, now.Add(-time.Hour), now.Add(time.Hour), nil, "", 0},
		{"expired", nil, now.Add(-48 * time.Hour), now.Add(-time.Hour), akvcreds.ErrExpired, "renew the certificate", 0},
		{"not-yet-valid", nil, now.Add(time.Hour), now.Add(48 * time.Hour), akvcreds.ErrExpired, "not valid before", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newObsHandler()
			s, _, c := expiryFixture(t, h, tt.opts...)
			cert := expiryCert(tt.name, tt.from, tt.to)
			// A plain secret holding a certificate: no secret expiry of its
			// own, so only the leaf's validity decides.
			s.SetSecret("expiry", "cert", pfxValue(cert), akvcredstest.ContentType("application/x-pkcs12"))
			var sum akvcreds.Batch
			creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchNames("expiry/cert"), akvcreds.FetchSummary(&sum))
			if tt.kind != nil {
				fes := akvcreds.FetchErrors(err)
				if len(creds) != 0 || len(fes) != 1 || fes[0].Kind != tt.kind || !strings.Contains(fes[0].Remedy+fes[0].Error(), tt.remedy) {
					t.Fatalf("%d credentials, error %v: want none and one %v error mentioning %q", len(creds), err, tt.kind, tt.remedy)
				}
				if !strings.Contains(fes[0].Error(), cert.Thumbprint()) {
					t.Errorf("the error does not name the certificate's thumbprint: %v", fes[0])
				}
				return
			}
			if err != nil || len(creds) != 1 {
				t.Fatalf("%d credentials, error %v", len(creds), err)
			}
			if sum.CertificatesExpiring != tt.expiring {
				t.Errorf("Batch.CertificatesExpiring = %d, want %d", sum.CertificatesExpiring, tt.expiring)
			}
			var warned []obsRecord
			for _, r := range h.take() {
				if r.msg == "akvcreds: certificate expires soon" {
					warned = append(warned, r)
				}
			}
			if len(warned) != tt.expiring {
				t.Fatalf("%d 'certificate expires soon' records, want %d", len(warned), tt.expiring)
			}
			for _, r := range warned {
				if r.level != slog.LevelWarn || r.str("secret") != "cert" || r.str("thumbprint") != cert.Thumbprint() ||
					!r.attrs["notAfter"].Time().Equal(cert.X509.NotAfter) {
					t.Errorf("record %v %v: want a warning naming the secret, thumbprint and expiry", r.level, r.attrs)
				}
			}
		})
	}
}

func TestCertificateExpiryOption(t *testing.T) {
	t.Parallel()
	_, err := akvcreds.New(secretAuth(), akvcreds.WithCertificateExpiry(-time.Second))
	wantErr(t, err, akvcreds.ErrInvalidArgument, "WithCertificateExpiry", "negative")
}

// A Watch picks up a renewed certificate (a new version) without a
// restart: its handler swaps the certificate a tls.Config's
// GetClientCertificate serves, and the next handshake presents the new
// one. When the held certificate's leaf expires, the Watch re-reads it
// and removes it, as it removes an expired secret.
func TestCertificateWatchRenewal(t *testing.T) {
	t.Parallel()
	pki := newPKI()
	addr, clients := mtlsServer(t, pki)
	vaultClock := testutil.NewClock(time.Now().Add(-time.Hour)) // reads settle at once
	local := testutil.NewClock(time.Now())
	s := newServer(t, akvcredstest.WithClock(vaultClock.Now))
	first := testutil.NewCert(testutil.CertSpec{CommonName: "v1", Key: testutil.ECDSAKey(50), Issuer: pki.ca, NotAfter: local.Now().Add(365 * 24 * time.Hour)})
	s.SetSecret("renewed", "client-cert", pemValue(first), akvcredstest.ContentType("application/x-pem-file"), akvcredstest.Managed())
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("renewed"), akvcreds.WithClock(local.Now))

	var current atomic.Pointer[tls.Certificate]
	cfg := func() *tls.Config {
		return &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return current.Load(), nil }}
	}
	use := func(t *testing.T, b akvcreds.Batch) {
		t.Helper()
		for _, cred := range append(b.Added, b.Changed...) {
			tc, err := cred.Certificate()
			if err != nil {
				t.Fatal(err)
			}
			current.Store(tc)
		}
	}
	w := startWatch(t, s, c)
	use(t, w.next(t))
	if cn := handshake(t, addr, clients, pki, cfg()); cn != "v1" {
		t.Fatalf("the server saw %q, want v1", cn)
	}

	vaultClock.Advance(time.Second)
	second := testutil.NewCert(testutil.CertSpec{CommonName: "v2", Key: testutil.ECDSAKey(51), Issuer: pki.ca, NotAfter: local.Now().Add(2 * time.Hour)})
	s.SetSecret("renewed", "client-cert", pemValue(second), akvcredstest.ContentType("application/x-pem-file"), akvcredstest.Managed())
	b := w.step(t, nil)
	wantChanges(t, b, nil, []string{"renewed/client-cert"}, nil)
	if b.CertificatesExpiring != 1 {
		t.Errorf("CertificatesExpiring = %d, want 1 (v2 expires within 30 days)", b.CertificatesExpiring)
	}
	use(t, b)
	if cn := handshake(t, addr, clients, pki, cfg()); cn != "v2" {
		t.Fatalf("after the renewal the server saw %q, want v2", cn)
	}

	b = w.step(t, nil)
	wantChanges(t, b, nil, nil, nil)
	wantCost(t, s, b, 1, 0)

	local.Advance(3 * time.Hour) // v2's leaf expires; the secret itself has no expiry
	b = w.step(t, nil)
	wantChanges(t, b, nil, nil, []string{"renewed/client-cert"})
	wantCost(t, s, b, 1, 1)
	if len(b.Errors) != 0 || len(b.Current) != 0 {
		t.Errorf("errors %v, current %d: an expired certificate is removed, not failed", b.Errors, len(b.Current))
	}
}

// A certificate credential's key never shows: not in fmt's verbs, JSON,
// slog, nor in the errors about it; with WithCache, the second fetch is
// served from memory and its certificate is the one already parsed.
func TestCertificateRedactionAndCache(t *testing.T) {
	t.Parallel()
	cert := testutil.NewCert(testutil.CertSpec{CommonName: "cached", Key: testutil.RSAKey(0), NotAfter: time.Now().Add(365 * 24 * time.Hour)})
	s := newServer(t)
	value := pemValue(cert)
	s.SetSecret("cached", "tls", value, akvcredstest.ContentType("application/x-pem-file"), akvcredstest.Managed())
	s.SetSecret("cached", "pfx", pfxValue(cert), akvcredstest.ContentType("application/x-pkcs12"), akvcredstest.Managed())
	var logs bytes.Buffer
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("cached"), akvcreds.WithCache(time.Hour),
		akvcreds.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	var sums [2]akvcreds.Batch
	var creds [2][]akvcreds.Credential
	for i := range sums {
		var err error
		if creds[i], err = c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sums[i])); err != nil || len(creds[i]) != 2 {
			t.Fatalf("fetch %d: %d credentials, %v", i, len(creds[i]), err)
		}
	}
	if sums[1].FromCache != 2 || sums[1].Reads != 0 {
		t.Errorf("second fetch: %d from cache, %d reads: want 2 and 0", sums[1].FromCache, sums[1].Reads)
	}
	a, err := creds[0][0].Certificate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := creds[1][0].Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if a.Leaf != b.Leaf {
		t.Error("the cached credential's certificate was parsed again")
	}
	pfxBody := base64.StdEncoding.EncodeToString(cert.PKCS12("", false))
	for _, cred := range creds[1] {
		js, err := json.Marshal(cred)
		if err != nil {
			t.Fatal(err)
		}
		tc, _ := cred.Certificate()
		out := fmt.Sprintf("%v %+v %#v %s %v", cred, cred, cred, cred.Password, js) + logs.String()
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("cred", "cred", cred)
		out += logs.String()
		testutil.NoKeyMaterial(t, out, cert.KeyPEM())
		testutil.NoKeyMaterial(t, out, []byte(value))
		if strings.Contains(out, pfxBody[:32]) || strings.Contains(out, pfxBody[len(pfxBody)/2:len(pfxBody)/2+32]) {
			t.Error("the PKCS#12 value shows")
		}
		if tc == nil || tc.PrivateKey == nil {
			t.Error("no key in the certificate")
		}
	}
}
