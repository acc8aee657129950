package certs_test

import (
	"crypto/x509"
	"slices"
	"testing"

	"github.com/akvcreds/akvcreds/internal/certs"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// After the leaf, a chain comes in issuer order whatever order it was
// stored in; certificates off the leaf's path follow as given.
func TestIssuerOrder(t *testing.T) {
	t.Parallel()
	root := testutil.NewCert(testutil.CertSpec{CommonName: "root", Key: testutil.ECDSAKey(1), CA: true})
	mid := testutil.NewCert(testutil.CertSpec{CommonName: "mid", Key: testutil.ECDSAKey(2), CA: true, Issuer: root})
	leaf := testutil.NewCert(testutil.CertSpec{CommonName: "leaf", Key: testutil.ECDSAKey(0), Issuer: mid})
	stray := testutil.NewCert(testutil.CertSpec{CommonName: "stray", Key: testutil.ECDSAKey(3), CA: true})
	tests := []struct {
		name string
		in   []*testutil.Cert
		want []string
	}{
		{"in order", []*testutil.Cert{leaf, mid, root}, []string{"leaf", "mid", "root"}},
		{"root before intermediate", []*testutil.Cert{leaf, root, mid}, []string{"leaf", "mid", "root"}},
		{"stray certificate last", []*testutil.Cert{leaf, stray, root, mid}, []string{"leaf", "mid", "root", "stray"}},
		{"no issuer present", []*testutil.Cert{leaf, stray, root}, []string{"leaf", "stray", "root"}},
		{"self-signed leaf", []*testutil.Cert{stray, leaf}, []string{"stray", "leaf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var in []*x509.Certificate
			for _, c := range tt.in {
				in = append(in, c.X509)
			}
			var got []string
			for _, c := range certs.IssuerOrder(in) {
				got = append(got, c.Subject.CommonName)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("IssuerOrder = %v, want %v", got, tt.want)
			}
		})
	}
}
