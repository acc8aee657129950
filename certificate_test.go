package akvcreds_test

import (
	"bytes"
	"context"
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

// tlsServer is a loopback TLS server that requires a client certificate
// chaining to its CAs, and reports the common name of each client's leaf.
type tlsServer struct {
	addr    string
	clients chan string
	cert    *testutil.Cert // the server's own, self-signed
}

func mtlsServer(t *testing.T, cas ...*x509.Certificate) *tlsServer {
	t.Helper()
	roots := x509.NewCertPool()
	for _, ca := range cas {
		roots.AddCert(ca)
	}
	srv := &tlsServer{clients: make(chan string, 8), cert: testutil.NewCert(testutil.CertSpec{CommonName: "server", Key: testutil.ECDSAKey(12)})}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srv.cert.X509.Raw}, PrivateKey: srv.cert.Key, Leaf: srv.cert.X509}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		MinVersion:   tls.VersionTLS12,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv.addr = ln.Addr().String()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(conn, cfg)
			if err := tc.Handshake(); err != nil {
				srv.clients <- "handshake failed: " + err.Error()
			} else {
				srv.clients <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			tc.Close()
		}
	}()
	return srv
}

// handshake connects with cfg (which then trusts exactly the server's
// certificate) and returns the client common name the server saw.
func (srv *tlsServer) handshake(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	cfg.InsecureSkipVerify = true // the server certificate has no SAN: checked below instead
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if !cs.PeerCertificates[0].Equal(srv.cert.X509) {
			return errors.New("not the test server")
		}
		return nil
	}
	conn, err := tls.Dial("tcp", srv.addr, cfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	// TLS 1.3: the server checks the client's certificate after the
	// client's side of the handshake ends; reading waits for its verdict.
	_, _ = conn.Read(make([]byte, 1))
	conn.Close()
	select {
	case cn := <-srv.clients:
		return cn
	case <-time.After(time.Minute):
		t.Fatal("the server saw no handshake within a minute")
	}
	return ""
}

// Certificates made by the emulator as Key Vault makes them (PKCS#12 and
// PEM, RSA and ECDSA, signed by its CA), and one imported with an
// intermediate stored before the root, complete a mutual-TLS handshake
// with their chain, leaf first in issuer order.
func TestCertificateMutualTLS(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	root := testutil.NewCert(testutil.CertSpec{CommonName: "root", Key: testutil.ECDSAKey(10), CA: true})
	mid := testutil.NewCert(testutil.CertSpec{CommonName: "mid", Key: testutil.ECDSAKey(11), CA: true, Issuer: root})
	srv := mtlsServer(t, s.CertificateCA(), root.X509)
	tests := []struct{ name, key, contentType string }{
		{"pkcs12-rsa", "rsa-2048", "application/x-pkcs12"},
		{"pkcs12-ecdsa", "ec-p256", "application/x-pkcs12"},
		{"pem-rsa", "rsa-2048", "application/x-pem-file"},
		{"pem-ecdsa", "ec-p384", "application/x-pem-file"},
	}
	want := map[string][]*x509.Certificate{}
	for _, tt := range tests {
		kc, err := s.SetCertificate("certs", tt.name, akvcredstest.CertificateSpec{Key: tt.key, ContentType: tt.contentType,
			Subject: "CN=" + tt.name, SignedByCA: true})
		if err != nil {
			t.Fatal(err)
		}
		want[tt.name] = kc.Chain
	}
	imported := testutil.NewCert(testutil.CertSpec{CommonName: "imported", Key: testutil.ECDSAKey(13), Issuer: mid, NotAfter: time.Now().Add(365 * 24 * time.Hour)})
	setCertificate(s, "certs", "imported", "application/x-pem-file", pemValue(imported, root.X509, mid.X509), imported)
	want["imported"] = []*x509.Certificate{imported.X509, mid.X509, root.X509}

	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("certs"))
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != len(want) {
		t.Fatalf("%d credentials, want %d", len(creds), len(want))
	}
	for _, cred := range creds {
		t.Run(cred.Secret, func(t *testing.T) {
			tc, err := cred.Certificate()
			if err != nil {
				t.Fatal(err)
			}
			chain := want[cred.Secret]
			if len(tc.Certificate) != len(chain) || !tc.Leaf.Equal(chain[0]) {
				t.Fatalf("chain of %d, leaf %q: want %d, leaf %q", len(tc.Certificate), tc.Leaf.Subject.CommonName, len(chain), chain[0].Subject.CommonName)
			}
			for i, c := range chain {
				if !bytes.Equal(tc.Certificate[i], c.Raw) {
					t.Errorf("certificate %d is not %q", i, c.Subject.CommonName)
				}
			}
			if cn := srv.handshake(t, &tls.Config{Certificates: []tls.Certificate{*tc}}); cn != cred.Secret {
				t.Errorf("the server saw %q, want %q", cn, cred.Secret)
			}
		})
	}
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
			js, _ := json.Marshal(fe)
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Error("fetch", "err", err, "fe", fe)
			shown := fmt.Sprintf("%v %+v %#v %s", err, fe, fe, js) + logged.String()
			for _, k := range [][]byte{leaf.KeyPEM(), other.KeyPEM()} {
				testutil.NoKeyMaterial(t, shown, k)
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
// one. A cycle without a change reads nothing.
func TestCertificateWatchRenewal(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Now().Add(-time.Hour)) // the vault's: reads settle at once
	s := newServer(t, akvcredstest.WithClock(clock.Now))
	srv := mtlsServer(t, s.CertificateCA())
	spec := akvcredstest.CertificateSpec{Key: "ec-p256", Subject: "CN=v1", SignedByCA: true}
	if _, err := s.SetCertificate("renewed", "client-cert", spec); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("renewed"))

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
	if cn := srv.handshake(t, cfg()); cn != "v1" {
		t.Fatalf("the server saw %q, want v1", cn)
	}

	clock.Advance(time.Second)
	spec.Subject, spec.NotAfter = "CN=v2", clock.Now().Add(10*24*time.Hour)
	renewed, err := s.SetCertificate("renewed", "client-cert", spec)
	if err != nil {
		t.Fatal(err)
	}
	b := w.step(t, nil)
	wantChanges(t, b, nil, []string{"renewed/client-cert"}, nil)
	if len(b.Changed) == 1 && b.Changed[0].Version != renewed.Version {
		t.Errorf("changed to version %s, want %s", b.Changed[0].Version, renewed.Version)
	}
	if b.CertificatesExpiring != 1 {
		t.Errorf("CertificatesExpiring = %d, want 1 (v2 expires within 30 days)", b.CertificatesExpiring)
	}
	use(t, b)
	if cn := srv.handshake(t, cfg()); cn != "v2" {
		t.Fatalf("after the renewal the server saw %q, want v2", cn)
	}

	b = w.step(t, nil)
	wantChanges(t, b, nil, nil, nil)
	wantCost(t, s, b, 1, 0)
}

// A Watch holding a certificate stored as a plain secret (no expiry of
// its own) re-reads it when its leaf expires and removes it, as it removes
// an expired secret; one that enters the expiry window is read again and
// warned about once.
func TestCertificateWatchLeafExpiry(t *testing.T) {
	t.Parallel()
	vaultClock := testutil.NewClock(time.Now().Add(-time.Hour)) // reads settle at once
	local := testutil.NewClock(time.Now())
	s := newServer(t, akvcredstest.WithClock(vaultClock.Now))
	cert := testutil.NewCert(testutil.CertSpec{CommonName: "plain", Key: testutil.ECDSAKey(52), NotAfter: local.Now().Add(40 * 24 * time.Hour)})
	s.SetSecret("plain", "client-cert", pemValue(cert), akvcredstest.ContentType("application/x-pem-file"))
	h := newObsHandler()
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("plain"), akvcreds.WithClock(local.Now), akvcreds.WithLogger(slog.New(h)))
	warnings := func() int {
		n := 0
		for _, r := range h.take() {
			if r.msg == "akvcreds: certificate expires soon" {
				n++
			}
		}
		return n
	}
	w := startWatch(t, s, c)
	if b := w.next(t); b.CertificatesExpiring != 0 || len(b.Current) != 1 || warnings() != 0 {
		t.Fatalf("cycle 0: %d expiring, %d current: want 0 and 1, no warning", b.CertificatesExpiring, len(b.Current))
	}

	local.Advance(20 * 24 * time.Hour) // 20 days left: within the window
	b := w.step(t, nil)
	wantCost(t, s, b, 1, 1)
	wantChanges(t, b, nil, nil, nil)
	if b.CertificatesExpiring != 1 || warnings() != 1 {
		t.Errorf("entering the window: %d expiring: want 1 and one warning", b.CertificatesExpiring)
	}
	b = w.step(t, nil)
	wantCost(t, s, b, 1, 0)
	if b.CertificatesExpiring != 1 || warnings() != 0 {
		t.Errorf("within the window: %d expiring: want it still counted, and no new warning", b.CertificatesExpiring)
	}

	local.Advance(21 * 24 * time.Hour) // the leaf expires; the secret itself has no expiry
	b = w.step(t, nil)
	wantChanges(t, b, nil, nil, []string{"plain/client-cert"})
	wantCost(t, s, b, 1, 1)
	if len(b.Errors) != 0 || len(b.Current) != 0 || b.CertificatesExpiring != 0 {
		t.Errorf("errors %v, current %d, expiring %d: an expired certificate is removed, not failed", b.Errors, len(b.Current), b.CertificatesExpiring)
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

// With WithOpenTelemetry, a certificate expiring within the window adds
// the event akvcreds.certificate.expiring to its read span, with the
// secret, the leaf's expiry and thumbprint; a certificate outside the
// window adds none.
func TestCertificateExpiringSpanEvent(t *testing.T) {
	t.Parallel()
	rig := newOtelRig(t)
	s := newServer(t)
	soon, err := s.SetCertificate("otel-certs", "soon", akvcredstest.CertificateSpec{Key: "ec-p256", NotAfter: time.Now().Add(5 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetCertificate("otel-certs", "later", akvcredstest.CertificateSpec{Key: "ec-p256"}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("otel-certs"), rig.option())
	if _, err := c.FetchCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	events := map[string][]string{} // by the read span's secret
	for _, span := range rig.spans.GetSpans() {
		for _, e := range span.Events {
			if e.Name != "akvcreds.certificate.expiring" {
				continue
			}
			var attrs []string
			for _, a := range e.Attributes {
				attrs = append(attrs, string(a.Key)+"="+a.Value.String())
			}
			events[attrOf(span, "akvcreds.secret")] = append(events[attrOf(span, "akvcreds.secret")], strings.Join(attrs, " "))
		}
	}
	want := "akvcreds.secret=soon akvcreds.certificate.not_after=" + soon.Leaf.NotAfter.UTC().Format(time.RFC3339) +
		" akvcreds.certificate.thumbprint=" + testutil.Thumbprint(soon.Leaf)
	if len(events) != 1 || len(events["soon"]) != 1 || events["soon"][0] != want {
		t.Errorf("events %v, want one on the read of soon: %s", events, want)
	}
}
