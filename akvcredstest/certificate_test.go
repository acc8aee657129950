package akvcredstest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

const (
	pfxType = "application/x-pkcs12"
	pemType = "application/x-pem-file"
)

// parseBacking reads a certificate's backing secret value of contentType:
// the base64 of a PKCS#12 file without a password, or a PEM private key
// (PKCS#8) followed by the certificates.
func parseBacking(t *testing.T, contentType, value string) (crypto.PrivateKey, []*x509.Certificate) {
	t.Helper()
	if contentType == pfxType {
		der, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			t.Fatal(err)
		}
		key, leaf, cas, err := pkcs12.DecodeChain(der, "")
		if err != nil {
			t.Fatal(err)
		}
		return key, append([]*x509.Certificate{leaf}, cas...)
	}
	rest := []byte(value)
	block, rest := pem.Decode(rest)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("PEM secret does not start with a PKCS#8 PRIVATE KEY block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			t.Fatalf("PEM block %q after the key", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	return key, chain
}

// keyDescription names a key's type and size, "RSA-2048" or "EC-P-256".
func keyDescription(k any) string {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "EC-" + k.Curve.Params().Name
	case *ecdsa.PublicKey:
		return "EC-" + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", k)
}

// selfSigned checks that c is signed by its own key.
func selfSigned(c *x509.Certificate) error {
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
}

func sameChain(t *testing.T, got, want []*x509.Certificate) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("chain of %d certificates, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			t.Errorf("chain[%d] is %q, want %q", i, got[i].Subject, want[i].Subject)
		}
	}
}

// TestSetCertificate creates certificates of each key type and content
// type, self-signed and CA-signed, and reads their backing secrets with the
// Azure SDK: the value holds the key and the chain, leaf first; managed,
// kid, contentType, nbf and exp are as Azure sets them.
func TestSetCertificate(t *testing.T) {
	t.Parallel()
	s := akvcredstest.NewTestServer(t)
	nbf := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name, key, contentType string
		ca                     bool
		want                   string
	}{
		{"rsa-pfx-self", "", "", false, "RSA-2048"},
		{"rsa-pem-ca", "rsa-3072", pemType, true, "RSA-3072"},
		{"ec-pfx-ca", "ec-p256", pfxType, true, "EC-P-256"},
		{"ec-pem-self", "ec-p384", pemType, false, "EC-P-384"},
		{"ec521-pem-ca", "EC-P521", pemType, true, "EC-P-521"},
	}
	client := defaultClient(t, s, "certvault")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := akvcredstest.CertificateSpec{Key: tc.key, ContentType: tc.contentType, SignedByCA: tc.ca,
				Subject: "CN=" + tc.name + ", O=Contoso", DNSNames: []string{tc.name + ".contoso.com"},
				NotBefore: nbf, NotAfter: nbf.AddDate(0, 0, 30)}
			cert, err := s.SetCertificate("certvault", tc.name, spec)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.GetSecret(context.Background(), tc.name, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			wantType := tc.contentType
			if wantType == "" {
				wantType = pfxType
			}
			if resp.ContentType == nil || *resp.ContentType != wantType {
				t.Errorf("contentType %v, want %s", resp.ContentType, wantType)
			}
			if resp.Managed == nil || !*resp.Managed {
				t.Errorf("managed %v, want true", resp.Managed)
			}
			wantKid := "https://certvault.vault.azure.net/keys/" + tc.name + "/" + cert.Version
			if resp.KID == nil || string(*resp.KID) != wantKid {
				t.Errorf("kid %v, want %s", resp.KID, wantKid)
			}
			if resp.ID.Version() != cert.Version {
				t.Errorf("secret version %s, certificate version %s", resp.ID.Version(), cert.Version)
			}
			a := resp.Attributes
			if a.NotBefore == nil || !a.NotBefore.Equal(nbf) || a.Expires == nil || !a.Expires.Equal(nbf.AddDate(0, 0, 30)) {
				t.Errorf("nbf %v exp %v, want the certificate's validity", a.NotBefore, a.Expires)
			}

			key, chain := parseBacking(t, wantType, *resp.Value)
			sameChain(t, chain, cert.Chain)
			if got := keyDescription(key); got != tc.want {
				t.Errorf("key %s, want %s", got, tc.want)
			}
			if !key.(interface{ Public() crypto.PublicKey }).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.Leaf.PublicKey) {
				t.Error("the private key does not match the leaf")
			}
			leaf := cert.Leaf
			if leaf.Subject.CommonName != tc.name || len(leaf.Subject.Organization) != 1 || leaf.Subject.Organization[0] != "Contoso" {
				t.Errorf("subject %q", leaf.Subject)
			}
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != tc.name+".contoso.com" {
				t.Errorf("DNS names %v", leaf.DNSNames)
			}
			if tc.ca {
				if len(chain) != 2 || !chain[1].Equal(s.CertificateCA()) {
					t.Fatal("a CA-signed certificate's chain is not leaf, CA")
				}
				pool := x509.NewCertPool()
				pool.AddCert(s.CertificateCA())
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: nbf.Add(time.Hour),
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
					t.Errorf("the CA does not verify the leaf: %v", err)
				}
			} else if err := selfSigned(leaf); err != nil || len(chain) != 1 {
				t.Errorf("not self-signed: %v, chain of %d", err, len(chain))
			}
		})
	}

	// The listing shows certificates' secrets as managed, with their
	// content type.
	pager := client.NewListSecretPropertiesPager(nil)
	n := 0
	for _, page := range allPages(t, pager) {
		for _, p := range page.Value {
			n++
			if p.Managed == nil || !*p.Managed || p.ContentType == nil || !strings.HasPrefix(*p.ContentType, "application/x-") {
				t.Errorf("listed %s: managed %v contentType %v", p.ID.Name(), p.Managed, p.ContentType)
			}
		}
	}
	if n != len(cases) {
		t.Errorf("listed %d secrets, want %d", n, len(cases))
	}
}

// TestCertificateDefaults checks the zero CertificateSpec: Key Vault's
// default policy (RSA 2048, PKCS#12, CN=NAME, 12 months from now by the
// server's clock, valid from 10 minutes before now).
func TestCertificateDefaults(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	s := akvcredstest.NewTestServer(t, akvcredstest.WithClock(func() time.Time { return now }))
	cert, err := s.SetCertificate("defaults", "web", akvcredstest.CertificateSpec{})
	if err != nil {
		t.Fatal(err)
	}
	l := cert.Leaf
	if l.Subject.String() != "CN=web" || !l.NotBefore.Equal(now.Add(-10*time.Minute)) || !l.NotAfter.Equal(now.AddDate(1, 0, 0)) || keyDescription(l.PublicKey) != "RSA-2048" {
		t.Errorf("subject %q, validity %v to %v, key %s", l.Subject, l.NotBefore, l.NotAfter, keyDescription(l.PublicKey))
	}
	if len(cert.Chain) != 1 || selfSigned(l) != nil {
		t.Error("not self-signed")
	}
}

// TestCertificateRenewal: generating a certificate again is a new version
// (a renewal); the older version stays readable and the new one names it
// in previousVersion.
func TestCertificateRenewal(t *testing.T) {
	t.Parallel()
	s := akvcredstest.NewTestServer(t)
	first, err := s.SetCertificate("renewvault", "tls", akvcredstest.CertificateSpec{Key: "ec-p256"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.SetCertificate("renewvault", "tls", akvcredstest.CertificateSpec{Key: "ec-p256", ContentType: pemType})
	if err != nil {
		t.Fatal(err)
	}
	if first.Version == second.Version || first.Leaf.Equal(second.Leaf) {
		t.Fatal("the renewal did not make a new version and certificate")
	}
	client := defaultClient(t, s, "renewvault")
	latest, err := client.GetSecret(context.Background(), "tls", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if latest.ID.Version() != second.Version || latest.PreviousVersion == nil || *latest.PreviousVersion != first.Version {
		t.Errorf("latest %s (previous %v), want %s (previous %s)", latest.ID.Version(), latest.PreviousVersion, second.Version, first.Version)
	}
	_, chain := parseBacking(t, pemType, *latest.Value)
	sameChain(t, chain, second.Chain)
	old, err := client.GetSecret(context.Background(), "tls", first.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, chain = parseBacking(t, pfxType, *old.Value)
	sameChain(t, chain, first.Chain)
	if old.PreviousVersion != nil {
		t.Errorf("the first version has previousVersion %q", *old.PreviousVersion)
	}
	versions := 0
	for _, page := range allPages(t, client.NewListSecretPropertiesVersionsPager("tls", nil)) {
		versions += len(page.Value)
	}
	if versions != 2 {
		t.Errorf("%d versions, want 2", versions)
	}
}

// TestCertificateOutContentType: a PKCS#12 certificate secret asked for as
// PEM comes back converted (key, then chain leaf first); Azure's other
// transformations are 400 BadParameter, whose message never holds the
// value.
func TestCertificateOutContentType(t *testing.T) {
	t.Parallel()
	s := akvcredstest.NewTestServer(t)
	pfx, err := s.SetCertificate("convvault", "pfx", akvcredstest.CertificateSpec{Key: "ec-p256", SignedByCA: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetCertificate("convvault", "pem", akvcredstest.CertificateSpec{Key: "ec-p256", ContentType: pemType}); err != nil {
		t.Fatal(err)
	}
	client := defaultClient(t, s, "convvault")
	resp, err := client.GetSecret(context.Background(), "pfx", "", &azsecrets.GetSecretOptions{OutContentType: to.Ptr(azsecrets.ContentTypePEM)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentType == nil || *resp.ContentType != pemType || resp.Managed == nil || !*resp.Managed || resp.KID == nil {
		t.Errorf("converted: contentType %v managed %v kid %v", resp.ContentType, resp.Managed, resp.KID)
	}
	key, chain := parseBacking(t, pemType, *resp.Value)
	sameChain(t, chain, pfx.Chain)
	if keyDescription(key) != "EC-P-256" {
		t.Errorf("converted key %s", keyDescription(key))
	}
	// The same version asked by its ID converts the same way.
	if _, err := client.GetSecret(context.Background(), "pfx", pfx.Version, &azsecrets.GetSecretOptions{OutContentType: to.Ptr(azsecrets.ContentTypePEM)}); err != nil {
		t.Error(err)
	}

	// Not supported, as in Azure: PEM to PFX, PFX to PFX, PEM to PEM.
	plain, err := client.GetSecret(context.Background(), "pem", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, out, msg string }{
		{"pem", pfxType, "The 'PEM' to 'PFX' transformation is not supported. Only PFX to PEM transformation is supported."},
		{"pem", pemType, "The 'PEM' to 'PEM' transformation is not supported. Only PFX to PEM transformation is supported."},
		{"pfx", pfxType, "The 'PFX' to 'PFX' transformation is not supported. Only PFX to PEM transformation is supported."},
	} {
		_, err := client.GetSecret(context.Background(), tc.name, "", &azsecrets.GetSecretOptions{OutContentType: to.Ptr(azsecrets.ContentType(tc.out))})
		re := responseError(t, err)
		if re.StatusCode != http.StatusBadRequest || re.ErrorCode != "BadParameter" {
			t.Errorf("%s as %s: %d %s", tc.name, tc.out, re.StatusCode, re.ErrorCode)
		}
		assertMessageContains(t, err, tc.msg)
		if strings.Contains(err.Error(), (*plain.Value)[40:80]) {
			t.Errorf("%s as %s: the error shows the secret's value", tc.name, tc.out)
		}
	}
}

// TestCertificateMutualTLS completes a mutual-TLS handshake (over an
// in-memory pipe) with the key and chain read from the backing secret of a
// CA-signed certificate, the server trusting CertificateCA.
func TestCertificateMutualTLS(t *testing.T) {
	t.Parallel()
	s := akvcredstest.NewTestServer(t)
	if _, err := s.SetCertificate("mtls", "client", akvcredstest.CertificateSpec{Key: "ec-p256", ContentType: pemType, SignedByCA: true}); err != nil {
		t.Fatal(err)
	}
	server, err := s.SetCertificate("mtls", "server", akvcredstest.CertificateSpec{Key: "ec-p256", SignedByCA: true, DNSNames: []string{"svc.test"}})
	if err != nil {
		t.Fatal(err)
	}
	client := defaultClient(t, s, "mtls")
	load := func(name string) tls.Certificate {
		resp, err := client.GetSecret(context.Background(), name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		key, chain := parseBacking(t, *resp.ContentType, *resp.Value)
		tc := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
		for _, c := range chain {
			tc.Certificate = append(tc.Certificate, c.Raw)
		}
		return tc
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.CertificateCA())
	a, b := net.Pipe()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{load("server")}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13})
	cli := tls.Client(b, &tls.Config{Certificates: []tls.Certificate{load("client")}, RootCAs: pool,
		ServerName: "svc.test", MinVersion: tls.VersionTLS13})
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	peer := srv.ConnectionState().PeerCertificates
	if len(peer) == 0 || peer[0].Subject.CommonName != "client" {
		t.Errorf("the server saw %v", peer)
	}
	if got := cli.ConnectionState().PeerCertificates[0]; !got.Equal(server.Leaf) {
		t.Errorf("the client saw %q", got.Subject)
	}
	_ = cli.Close()
	_ = srv.Close()
}

// TestSetCertificateErrors: invalid specs are refused with errors that say
// what is wrong, and nothing is stored.
func TestSetCertificateErrors(t *testing.T) {
	t.Parallel()
	s := akvcredstest.NewTestServer(t)
	s.AddVault("errvault")
	nbf := time.Now()
	cases := []struct {
		name string
		spec akvcredstest.CertificateSpec
		want string
	}{
		{"bad_name", akvcredstest.CertificateSpec{}, `invalid certificate name "bad_name"`},
		{"c", akvcredstest.CertificateSpec{Key: "rsa-1024"}, `key "rsa-1024" is not one of`},
		{"c", akvcredstest.CertificateSpec{Key: "ec-p256", ContentType: "text/plain"}, `content type "text/plain" is not application/x-pkcs12 or application/x-pem-file`},
		{"c", akvcredstest.CertificateSpec{Key: "ec-p256", Subject: "api.contoso.com"}, `is not ATTRIBUTE=VALUE`},
		{"c", akvcredstest.CertificateSpec{Key: "ec-p256", Subject: "CN=a, DC=b"}, `attribute "DC" is not CN, O, OU, L, ST or C`},
		{"c", akvcredstest.CertificateSpec{Key: "ec-p256", NotBefore: nbf, NotAfter: nbf.Add(-time.Hour)}, "NotAfter is not after NotBefore"},
	}
	for _, tc := range cases {
		cert, err := s.SetCertificate("errvault", tc.name, tc.spec)
		if err == nil || cert != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
	for _, page := range allPages(t, defaultClient(t, s, "errvault").NewListSecretPropertiesPager(nil)) {
		if len(page.Value) != 0 {
			t.Errorf("%d secrets stored", len(page.Value))
		}
	}
}

// TestCertificateNoKeyMaterialPrinted: what SetCertificate returns prints
// no key material, and the certificate's value never reaches the request
// log.
func TestCertificateNoKeyMaterialPrinted(t *testing.T) {
	t.Parallel()
	var log testutil.SyncBuffer
	s := akvcredstest.NewTestServer(t, akvcredstest.WithRequestLog(&log))
	cert, err := s.SetCertificate("quiet", "c", akvcredstest.CertificateSpec{Key: "ec-p256", ContentType: pemType})
	if err != nil {
		t.Fatal(err)
	}
	client := defaultClient(t, s, "quiet")
	resp, err := client.GetSecret(context.Background(), "c", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(*resp.Value))
	keyB64 := base64.StdEncoding.EncodeToString(block.Bytes)[20:60]
	for what, text := range map[string]string{
		"%+v of the Certificate": fmt.Sprintf("%+v %#v", cert, cert),
		"the request log":        log.String(),
	} {
		if strings.Contains(text, keyB64) || strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s shows the private key", what)
		}
	}
}

// TestCertificateCAIsTLSRoot: the CA that issues certificates is the one
// CACertPEM encodes (the standalone emulator's --ca-out file).
func TestCertificateCAIsTLSRoot(t *testing.T) {
	t.Parallel()
	s := akvcredstest.NewTestServer(t)
	block, _ := pem.Decode(s.CACertPEM())
	if block == nil {
		t.Fatal("CACertPEM is not PEM")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Equal(s.CertificateCA()) || !ca.IsCA {
		t.Error("CertificateCA is not the CA of CACertPEM")
	}
}

// TestGoldenCertificateSecret compares a PEM certificate's backing secret
// with Azure's recorded answer: the same JSON shape and headers, the PEM
// blocks in the same order (PKCS#8 key, certificate), managed and kid, and
// the validity Key Vault gives (nbf = created - 10 min, exp = created + 12
// months).
func TestGoldenCertificateSecret(t *testing.T) {
	t.Parallel()
	s, tok := goldenServer(t)
	const name = "CRUDCertificateName-cangetacertificatessecretinPEMformat-"
	cert, err := s.SetCertificate("golden", name, akvcredstest.CertificateSpec{ContentType: pemType, Subject: "CN=MyCert"})
	if err != nil {
		t.Fatal(err)
	}
	rec := loadRecording(t, "kv-get-certificate-secret-pem.json")
	resp, body := do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/"+name+"/?api-version=7.2", tok, nil)
	compareResponse(t, rec, resp, body)

	type bundle struct {
		Value      string `json:"value"`
		Kid        string `json:"kid"`
		Managed    bool   `json:"managed"`
		Attributes struct {
			Nbf, Exp, Created int64
		} `json:"attributes"`
	}
	var got, want bundle
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rec.ResponseBody, &want); err != nil {
		t.Fatal(err)
	}
	if b := pemTypes(got.Value); b != pemTypes(want.Value) {
		t.Errorf("PEM blocks %s, recorded %s", b, pemTypes(want.Value))
	}
	if !got.Managed || got.Kid != "https://golden.vault.azure.net/keys/"+name+"/"+cert.Version {
		t.Errorf("managed %v kid %s", got.Managed, got.Kid)
	}
	a, w := got.Attributes, want.Attributes
	created := time.Unix(a.Created, 0).UTC()
	if a.Created-a.Nbf != w.Created-w.Nbf || a.Exp != created.AddDate(0, 12, 0).Unix() || w.Exp != time.Unix(w.Created, 0).UTC().AddDate(0, 12, 0).Unix() {
		t.Errorf("nbf/exp %d/%d around created %d, recorded %d/%d around %d", a.Nbf, a.Exp, a.Created, w.Nbf, w.Exp, w.Created)
	}
}

// pemTypes lists the types of the PEM blocks in s, "PRIVATE KEY,CERTIFICATE".
func pemTypes(s string) string {
	var types []string
	for _, line := range strings.Split(s, "\n") {
		if t, ok := strings.CutPrefix(line, "-----BEGIN "); ok {
			types = append(types, strings.TrimSuffix(t, "-----"))
		}
	}
	return strings.Join(types, ",")
}

// TestGetCertificate reads certificates through GET /certificates/{name}
// [/{version}]: id, kid and sid share the version; cer is the leaf, x5t its
// SHA-1 thumbprint; the policy reflects the spec; an unknown certificate,
// or a secret that backs none, is Azure's recorded 404 CertificateNotFound.
func TestGetCertificate(t *testing.T) {
	t.Parallel()
	s, tok := goldenServer(t)
	first, err := s.SetCertificate("golden", "web", akvcredstest.CertificateSpec{Key: "ec-p384", DNSNames: []string{"web.contoso.com"}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.SetCertificate("golden", "web", akvcredstest.CertificateSpec{Key: "ec-p256", ContentType: pemType, SignedByCA: true})
	if err != nil {
		t.Fatal(err)
	}
	s.SetSecret("golden", "plain", "v")
	type bundle struct {
		ID, Kid, Sid, X5t, Cer string
		Attributes             struct {
			Enabled  bool
			Nbf, Exp int64
		}
		Policy struct {
			KeyProps struct {
				Kty string
				Crv string
			} `json:"key_props"`
			SecretProps struct {
				ContentType string
			} `json:"secret_props"`
			X509Props struct {
				Subject string
				Sans    struct {
					DNSNames []string `json:"dns_names"`
				} `json:"sans"`
				ValidityMonths int `json:"validity_months"`
			} `json:"x509_props"`
			Issuer struct{ Name string }
		}
	}
	for _, tc := range []struct {
		path                     string
		want                     *akvcredstest.Certificate
		crv, contentType, issuer string
		dnsNames                 int
	}{
		{"web", second, "P-256", pemType, "Unknown", 0},
		{"web/" + first.Version, first, "P-384", pfxType, "Self", 1},
	} {
		resp, body := do(t, s, http.MethodGet, "https://golden.vault.azure.net/certificates/"+tc.path+"?api-version=7.5", tok, nil)
		var b bundle
		if err := json.Unmarshal(body, &b); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v %s", tc.path, resp.StatusCode, err, body)
		}
		v := tc.want.Version
		if b.ID != "https://golden.vault.azure.net/certificates/web/"+v || b.Kid != "https://golden.vault.azure.net/keys/web/"+v ||
			b.Sid != "https://golden.vault.azure.net/secrets/web/"+v {
			t.Errorf("%s: id %s kid %s sid %s", tc.path, b.ID, b.Kid, b.Sid)
		}
		der, _ := base64.StdEncoding.DecodeString(b.Cer)
		sum := sha1.Sum(tc.want.Leaf.Raw)
		if !bytes.Equal(der, tc.want.Leaf.Raw) || b.X5t != base64.RawURLEncoding.EncodeToString(sum[:]) {
			t.Errorf("%s: cer or x5t is not the leaf's", tc.path)
		}
		p := b.Policy
		if p.KeyProps.Kty != "EC" || p.KeyProps.Crv != tc.crv || p.SecretProps.ContentType != tc.contentType ||
			p.Issuer.Name != tc.issuer || p.X509Props.Subject != "CN=web" || len(p.X509Props.Sans.DNSNames) != tc.dnsNames ||
			p.X509Props.ValidityMonths != 12 {
			t.Errorf("%s: policy %+v", tc.path, p)
		}
		if !b.Attributes.Enabled || b.Attributes.Exp != tc.want.Leaf.NotAfter.Unix() {
			t.Errorf("%s: attributes %+v", tc.path, b.Attributes)
		}
	}

	for _, name := range []string{"nosuch", "plain"} {
		resp, body := do(t, s, http.MethodGet, "https://golden.vault.azure.net/certificates/"+name+"/?api-version=7.3", tok, nil)
		want := `{"error":{"code":"CertificateNotFound","message":"A certificate with (name/id) ` + name +
			` was not found in this key vault. If you recently deleted this certificate you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"}}`
		if resp.StatusCode != http.StatusNotFound || string(body) != want {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	if n := s.Count(akvcredstest.KindGetCertificate); n != 4 {
		t.Errorf("%d get-certificate requests logged, want 4", n)
	}
}

// TestGetCertificateForbidden: without Get, a certificate get is refused in
// the vault's permission model, naming certificates, not secrets.
func TestGetCertificateForbidden(t *testing.T) {
	t.Parallel()
	s, tok := goldenServer(t)
	if _, err := s.SetCertificate("golden", "web", akvcredstest.CertificateSpec{Key: "ec-p256"}); err != nil {
		t.Fatal(err)
	}
	s.SetPermissions("golden", akvcredstest.DefaultClientID, akvcredstest.Permissions{List: true})
	resp, body := do(t, s, http.MethodGet, "https://golden.vault.azure.net/certificates/web?api-version=7.5", tok, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Microsoft.KeyVault/vaults/certificates/read") ||
		!strings.Contains(string(body), "/certificates/web") {
		t.Errorf("RBAC: %d %s", resp.StatusCode, body)
	}
	s.AddVault("golden", akvcredstest.VaultAccessPolicy())
	resp, body = do(t, s, http.MethodGet, "https://golden.vault.azure.net/certificates/web?api-version=7.5", tok, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "does not have certificates get permission") {
		t.Errorf("access policy: %d %s", resp.StatusCode, body)
	}
}
