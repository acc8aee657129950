package certs

import (
	"bytes"
	"crypto/x509"
)

// IssuerOrder returns chain (leaf first, as Leaf returns it) with the
// certificates after the leaf in issuer order: the leaf's issuer, then that
// one's issuer, and so on, as TLS sends a chain; certificates that belong
// to no step of that path follow in the order given. A certificate issues
// another when its subject is the other's issuer and, where both carry key
// identifiers, its subject key ID is the other's authority key ID.
func IssuerOrder(chain []*x509.Certificate) []*x509.Certificate {
	if len(chain) <= 2 {
		return chain
	}
	out := make([]*x509.Certificate, 1, len(chain))
	out[0] = chain[0]
	used := make([]bool, len(chain))
	used[0] = true
	for cur := chain[0]; ; {
		next := -1
		for i, c := range chain {
			if !used[i] && issued(c, cur) {
				next = i
				break
			}
		}
		if next < 0 || bytes.Equal(cur.RawIssuer, cur.RawSubject) {
			break
		}
		used[next] = true
		cur = chain[next]
		out = append(out, cur)
	}
	for i, c := range chain {
		if !used[i] {
			out = append(out, c)
		}
	}
	return out
}

// issued reports whether issuer names itself as child's issuer.
func issued(issuer, child *x509.Certificate) bool {
	if !bytes.Equal(issuer.RawSubject, child.RawIssuer) {
		return false
	}
	if len(issuer.SubjectKeyId) > 0 && len(child.AuthorityKeyId) > 0 {
		return bytes.Equal(issuer.SubjectKeyId, child.AuthorityKeyId)
	}
	return true
}
