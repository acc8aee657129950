package akvcreds_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// testRSAKeys are made once per test binary: RSA key generation is slow.
var testRSAKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
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

var certSerial atomic.Int64

// testCert makes a self-signed certificate for key, valid in [notBefore,
// notAfter], and returns it with the PEM of the certificate and of the key
// (PKCS#8).
func testCert(key *rsa.PrivateKey, cn string, notBefore, notAfter time.Time) (*x509.Certificate, []byte, []byte) {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(certSerial.Add(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}

// validCert is testCert valid from an hour ago for a day.
func validCert(key *rsa.PrivateKey, cn string) (*x509.Certificate, []byte) {
	c, cp, kp := testCert(key, cn, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	return c, append(cp, kp...)
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceFile replaces a file's content atomically, as the kubelet does.
func replaceFile(t *testing.T, path string, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// pfxPath is a test-only PKCS#12 file (password pfxPassword, thumbprint
// pfxThumbprint); see internal/azure/testdata/README.md.
const (
	pfxPath       = "internal/azure/testdata/legacy.pfx"
	modernPFXPath = "internal/azure/testdata/modern.pfx"
	pfxPassword   = "pfx-password"
	pfxThumbprint = "8A157FE61AFD0E9E3653055D2298DF6E1F7BBD0B"
)

// assertionRecorder is a transport that records the header of each client
// assertion sent to a token endpoint.
type assertionRecorder struct {
	next http.RoundTripper

	mu      sync.Mutex
	headers []map[string]any
}

func (a *assertionRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/token") && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			if as := form.Get("client_assertion"); as != "" {
				var hdr map[string]any
				if b, err := base64.RawURLEncoding.DecodeString(strings.Split(as, ".")[0]); err == nil && json.Unmarshal(b, &hdr) == nil {
					a.mu.Lock()
					a.headers = append(a.headers, hdr)
					a.mu.Unlock()
				}
			}
		}
	}
	return a.next.RoundTrip(req)
}

func (a *assertionRecorder) recorded() []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string]any(nil), a.headers...)
}

// wantErr checks that err matches target and contains every part.
func wantErr(t *testing.T, err, target error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", target)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("error %q does not match %v", err, target)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}

// noKeyMaterial fails if msg contains any 16-character run of the base64
// body of keyPEM.
func noKeyMaterial(t *testing.T, msg string, keyPEM []byte) {
	t.Helper()
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if strings.HasPrefix(line, "-----") || len(line) < 16 {
			continue
		}
		for i := 0; i+16 <= len(line); i += 8 {
			if strings.Contains(msg, line[i:i+16]) {
				t.Fatalf("message shows key material: %s", msg)
			}
		}
	}
}

// thumbprint is a certificate's SHA-1 thumbprint as the portal shows it.
func thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// pfxCertificate is the certificate of the PKCS#12 test file.
func pfxCertificate(t *testing.T) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(pfxPath)
	if err != nil {
		t.Fatal(err)
	}
	certs, _, err := azidentity.ParseCertificates(data, []byte(pfxPassword))
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}
