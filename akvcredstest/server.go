package akvcredstest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Server is an in-process emulator of Azure Key Vault (secrets data plane),
// Microsoft Entra ID (client-credentials token endpoint) and the Azure
// managed-identity endpoint (IMDS). All its methods are safe for concurrent
// use. Create one with NewServer or NewTestServer and stop it with Close.
type Server struct {
	cfg config

	caCert    *x509.Certificate
	caKey     *ecdsa.PrivateKey // signs the TLS certificate and CA-issued Key Vault certificates
	caPEM     []byte
	signKey   []byte
	backupKey []byte // A256CBC-HS512 key of backup blobs (backup.go)
	backupKID string // the kid backup blobs name

	tlsLn, imdsLn   net.Listener
	tlsSrv, imdsSrv *http.Server
	transport       *http.Transport
	done            chan struct{}
	closeOnce       sync.Once
	serveWG         sync.WaitGroup

	mu       sync.Mutex
	tenants  map[string]*tenant
	apps     map[string]*app // key: tenant + "/" + clientID
	mis      []*managedIdentity
	systemMI *managedIdentity // nil when removed
	vaults   map[string]*vault
	faults   []*faultState
	requests []Request
	refused  []string
	appCerts map[string][]*x509.Certificate // key: tenant + "/" + clientID
	fed      federation                     // federated credentials and issuer keys (federated.go)

	logMu sync.Mutex // serializes WithRequestLog writes, in log order

	events        eventHub           // Event Grid subscriptions and deliveries (events.go)
	jwtKey        signingKey         // RS256 key of Event Grid's delivery tokens (eventtoken.go)
	closing       context.Context    // cancelled by Close
	cancelClosing context.CancelFunc // cancels closing
}

// NewServer starts a server on 127.0.0.1 (random ports unless WithAddr is
// given): a TLS listener that plays Key Vault and Entra ID for every Azure
// host name, and a plain-HTTP listener that plays IMDS. It registers
// DefaultTenantID, the app DefaultClientID with DefaultClientSecret, the
// user-assigned managed identity DefaultUserAssignedClientID and a
// system-assigned managed identity.
func NewServer(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.applyServer(&cfg)
		}
	}
	s := &Server{
		cfg:      cfg,
		done:     make(chan struct{}),
		tenants:  map[string]*tenant{},
		apps:     map[string]*app{},
		vaults:   map[string]*vault{},
		appCerts: map[string][]*x509.Certificate{},
	}
	s.closing, s.cancelClosing = context.WithCancel(context.Background())
	s.signKey = make([]byte, 32)
	s.backupKey = make([]byte, 64)
	if _, err := rand.Read(s.signKey); err != nil {
		return nil, err
	}
	if _, err := rand.Read(s.backupKey); err != nil {
		return nil, err
	}
	s.backupKID = newGUID()
	leaf, err := s.makeCerts()
	if err != nil {
		return nil, fmt.Errorf("akvcredstest: generating certificates: %w", err)
	}

	s.AddTenant(DefaultTenantID)
	s.AddApp(DefaultTenantID, DefaultClientID, DefaultClientSecret)
	s.AddManagedIdentity(ManagedIdentity{
		ClientID:   DefaultUserAssignedClientID,
		ObjectID:   "00000000-0000-0000-0000-0000000000b1",
		ResourceID: "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/default",
	})
	s.systemMI = &managedIdentity{
		ManagedIdentity: ManagedIdentity{
			ClientID: DefaultSystemAssignedClientID,
			ObjectID: "00000000-0000-0000-0000-0000000005b1",
			TenantID: DefaultTenantID,
		},
		system: true,
	}

	tlsLn, err := net.Listen("tcp", cfg.tlsAddr)
	if err != nil {
		return nil, fmt.Errorf("akvcredstest: listen %s: %w", cfg.tlsAddr, err)
	}
	imdsLn, err := net.Listen("tcp", cfg.imdsAddr)
	if err != nil {
		tlsLn.Close()
		return nil, fmt.Errorf("akvcredstest: listen %s: %w", cfg.imdsAddr, err)
	}
	s.tlsLn = tls.NewListener(tlsLn, &tls.Config{
		Certificates: []tls.Certificate{leaf},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	})
	s.imdsLn = imdsLn
	s.tlsSrv = &http.Server{
		Handler:           s.middleware(http.HandlerFunc(s.serveTLS), false),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          discardLogger(),
	}
	s.imdsSrv = &http.Server{
		Handler:           s.middleware(http.HandlerFunc(s.serveIMDS), true),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          discardLogger(),
	}

	pool := x509.NewCertPool()
	pool.AddCert(s.caCert)
	s.transport = &http.Transport{
		DialContext:           s.dial,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}

	s.serveWG.Add(2)
	go func() { defer s.serveWG.Done(); _ = s.tlsSrv.Serve(s.tlsLn) }()
	go func() { defer s.serveWG.Done(); _ = s.imdsSrv.Serve(s.imdsLn) }()
	return s, nil
}

// TB is the part of testing.TB that NewTestServer uses. *testing.T,
// *testing.B and *testing.F satisfy it. It is an interface of this package,
// not testing.TB itself, so that the emulator does not import package
// testing: a program (such as the akvcreds command's demo and standalone
// emulator) can embed it without linking the test framework.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// NewTestServer is NewServer for tests. It fails tb at once (Fatalf) if the
// server cannot start, and registers a cleanup that closes the server and
// then fails tb (Errorf) if Client refused to dial any address during the
// test, naming the refused addresses: the code under test tried to reach the
// network beyond the emulator. A test that means to dial elsewhere uses
// NewServer and Close instead.
func NewTestServer(tb TB, opts ...Option) *Server {
	tb.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		tb.Fatalf("%v", err)
		return nil // for a TB whose Fatalf returns
	}
	tb.Cleanup(func() {
		s.Close()
		if refused := s.RefusedDials(); len(refused) > 0 {
			tb.Errorf("akvcredstest: the emulator's client refused to dial %d address(es) outside it: %s (the code under test reached for the network; use NewServer if a test means to)",
				len(refused), strings.Join(refused, ", "))
		}
	})
	return s
}

// Close stops the listeners, closes every connection (idle or active) and
// waits for the server's goroutines to end. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancelClosing()
		s.stopEvents()
		s.transport.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.tlsSrv.Shutdown(ctx)
		_ = s.imdsSrv.Shutdown(ctx)
		// Shutdown does not close hijacked or still-active connections once its
		// context expires; Close does.
		_ = s.tlsSrv.Close()
		_ = s.imdsSrv.Close()
		s.serveWG.Wait()
		s.transport.CloseIdleConnections()
	})
}

// Client returns an *http.Client for the emulator. Its transport trusts only
// the server's CA and connects every Azure host name the server plays
// (NAME.vault.azure.net, .vault.azure.cn, .vault.usgovcloudapi.net on port 443,
// the Entra ID login hosts on port 443, and 169.254.169.254:80 for IMDS) to the
// server. A vault host whose vault does not exist fails to dial with a "no
// such host" DNS error, as in Azure. Any other address is refused with an
// error and recorded in RefusedDials. Every call returns a new *http.Client
// sharing one transport, whose idle connections Close closes.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: s.transport}
}

// CACertPEM returns the PEM encoding of the server's CA certificate, which
// signs the certificate the TLS listener presents for every Azure host name
// and the Key Vault certificates SetCertificate issues with SignedByCA (see
// CertificateCA).
func (s *Server) CACertPEM() []byte {
	return append([]byte(nil), s.caPEM...)
}

// Addr returns the TLS listener's address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.tlsLn.Addr().String() }

// IMDSAddr returns the plain-HTTP managed-identity listener's address.
func (s *Server) IMDSAddr() string { return s.imdsLn.Addr().String() }

// RefusedDials returns the addresses Client() refused to dial, in order.
// NewTestServer fails its test at cleanup when the list is not empty.
func (s *Server) RefusedDials() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

func (s *Server) now() time.Time { return s.cfg.now() }

// dial routes Azure host names to the server's listeners.
func (s *Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, s.refuse(addr)
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	var target string
	switch {
	case addr == s.Addr() || addr == s.IMDSAddr():
		target = addr
	case host == imdsHost && port == "80":
		target = s.IMDSAddr()
	case port == "443" && isLoginHost(host):
		target = s.Addr()
	case port == "443":
		name, _, ok := parseVaultHost(host)
		if !ok {
			return nil, s.refuse(addr)
		}
		s.mu.Lock()
		_, exists := s.vaults[name]
		s.mu.Unlock()
		if !exists {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{
				Err: "no such host", Name: host, IsNotFound: true,
			}}
		}
		target = s.Addr()
	default:
		return nil, s.refuse(addr)
	}
	select {
	case <-s.done:
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("akvcredstest: server closed")}
	default:
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", target)
}

func (s *Server) refuse(addr string) error {
	s.mu.Lock()
	s.refused = append(s.refused, addr)
	s.mu.Unlock()
	return fmt.Errorf("akvcredstest: refusing to dial %s", addr)
}

// makeCerts creates the in-memory CA and the leaf certificate for every host.
func (s *Server) makeCerts() (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: "akvcredstest emulator CA", Organization: []string{"akvcredstest"}},
		// Valid from 2000 for a century, so that it verifies the
		// certificates SetCertificate issues at any time of their validity.
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              now.AddDate(100, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	s.caCert, err = x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, err
	}
	s.caKey = caKey
	s.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	dns := []string{"localhost"}
	for _, c := range clouds {
		dns = append(dns, "*"+c.vaultSuffix)
	}
	dns = append(dns, loginHosts...)
	leafTmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: "*.vault.azure.net"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, s.caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}, nil
}

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
