package akvcreds

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds/internal/testutil"
)

// Whatever a certificate secret's value is, parsing it never panics, and
// a failure is ErrMalformed with a remedy that never quotes the value.
func FuzzParseCertificate(f *testing.F) {
	c := testutil.NewCert(testutil.CertSpec{Key: testutil.ECDSAKey(0)})
	f.Add(true, base64.StdEncoding.EncodeToString(c.PKCS12("", false)))
	f.Add(true, base64.StdEncoding.EncodeToString(c.PKCS12("", true)))
	f.Add(false, string(c.PEM()))
	f.Add(false, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	f.Fuzz(func(t *testing.T, pfx bool, value string) {
		ct := contentTypePEM
		if pfx {
			ct = contentTypePKCS12 + "; charset=binary"
		}
		cred := Credential{Vault: "v", Secret: "s", ContentType: ct, Password: newPassword(value)}
		tc, err := cred.Certificate()
		if err == nil {
			if tc.Leaf == nil || tc.PrivateKey == nil || len(tc.Certificate) == 0 {
				t.Fatalf("a certificate without leaf, key or chain: %+v", tc)
			}
			return
		}
		fe, ok := err.(*FetchError)
		if !ok || fe.Kind != kindMalformed || fe.Remedy == "" || fe.Vault != "v" || fe.Secret != "s" {
			t.Fatalf("error %#v: want a *FetchError of kind malformed with a remedy", err)
		}
		if len(value) >= 12 && strings.Contains(err.Error(), value) {
			t.Errorf("the error quotes the value: %v", err)
		}
	})
}

// A credential made without a fetch (no parsed holder) is parsed on each
// call; a mapping function that keeps the value keeps the parsed
// certificate, one that changes it gets the new value parsed.
func TestCertificateHolder(t *testing.T) {
	t.Parallel()
	a := testutil.NewCert(testutil.CertSpec{CommonName: "a", Key: testutil.ECDSAKey(0)})
	b := testutil.NewCert(testutil.CertSpec{CommonName: "b", Key: testutil.ECDSAKey(1)})
	raw := newCredential(SecretInfo{Vault: "v", Secret: "s", ContentType: contentTypePEM}, "", string(a.PEM()))
	first, err := raw.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	kept := raw
	if f := mapCredential(func(_ SecretInfo, p Password) (string, string, error) { return "user", p.Reveal(), nil }, &kept); f != nil {
		t.Fatal(f)
	}
	if tc, _ := kept.Certificate(); tc.Leaf != first.Leaf || kept.Username != "user" {
		t.Error("mapping to the same value parsed the certificate again")
	}
	changed := raw
	if f := mapCredential(func(SecretInfo, Password) (string, string, error) { return "s", string(b.PEM()), nil }, &changed); f != nil {
		t.Fatal(f)
	}
	if tc, err := changed.Certificate(); err != nil || tc.Leaf.Subject.CommonName != "b" {
		t.Errorf("after mapping to another certificate: %v, %v", tc, err)
	}
	bare := Credential{ContentType: contentTypePEM, Password: newPassword(string(a.PEM()))}
	if tc, err := bare.Certificate(); err != nil || tc.Leaf.Subject.CommonName != "a" {
		t.Errorf("a credential made without a fetch: %v, %v", tc, err)
	}
}

// BenchmarkCertificate: the cost of a certificate credential's first
// Certificate call (the parse, once per version read) by form and key, and
// of every later call (the shared parse).
func BenchmarkCertificate(b *testing.B) {
	ec := testutil.NewCert(testutil.CertSpec{Key: testutil.ECDSAKey(0)})
	rsa := testutil.NewCert(testutil.CertSpec{Key: testutil.RSAKey(0)})
	for _, bc := range []struct {
		name, ct, value string
	}{
		{"pkcs12-rsa", contentTypePKCS12, base64.StdEncoding.EncodeToString(rsa.PKCS12("", false))},
		{"pkcs12-ecdsa", contentTypePKCS12, base64.StdEncoding.EncodeToString(ec.PKCS12("", false))},
		{"pem-rsa", contentTypePEM, string(rsa.PEM())},
		{"pem-ecdsa", contentTypePEM, string(ec.PEM())},
	} {
		info := SecretInfo{Vault: "v", Secret: "s", ContentType: bc.ct}
		b.Run(bc.name+"/first", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := newCredential(info, "", bc.value).Certificate(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/later", func(b *testing.B) {
			cred := newCredential(info, "", bc.value)
			if _, err := cred.Certificate(); err != nil { // the parse, before the timer
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cred.Certificate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
