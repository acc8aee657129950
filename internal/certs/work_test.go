package certs_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/akvcreds/akvcreds/internal/certs"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// A PKCS#12 file whose iteration counts exceed MaxIterations is refused
// before any key derivation runs (a hostile file could ask for billions);
// the files Key Vault, OpenSSL and go-pkcs12 write are read.
func TestDecodePKCS12IterationBound(t *testing.T) {
	t.Parallel()
	c := testutil.NewCert(testutil.CertSpec{Key: testutil.ECDSAKey(0)})
	// 65,537 iterations (DER 02 03 01 00 01) everywhere, then patched.
	der, err := pkcs12.Modern.WithIterations(65537).Encode(c.Key, c.X509, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	count := []byte{2, 3, 1, 0, 1}
	if n := bytes.Count(der, count); n < 2 {
		t.Fatalf("%d iteration counts found, want the MAC's and the encryption's", n)
	}
	if _, _, err := certs.DecodePKCS12(der, ""); err != nil {
		t.Fatalf("65,537 iterations: %v", err)
	}
	for _, tt := range []struct {
		name  string
		patch []byte
	}{
		{"8 million", []byte{2, 3, 0x7f, 0xff, 0xff}},
		{"negative", []byte{2, 3, 0x80, 0, 0}},
	} {
		for i := range bytes.Count(der, count) {
			t.Run(fmt.Sprintf("%s-%d", tt.name, i), func(t *testing.T) {
				t.Parallel()
				patched := bytes.Clone(der)
				at := -1
				for range i + 1 {
					at += 1 + bytes.Index(patched[at+1:], count)
				}
				copy(patched[at:], tt.patch)
				_, _, err := certs.DecodePKCS12(patched, "")
				if !errors.Is(err, certs.ErrUnreadable) || !strings.Contains(err.Error(), "iterations") {
					t.Errorf("count %d patched: %v, want ErrUnreadable naming the iterations", i, err)
				}
			})
		}
	}
}
