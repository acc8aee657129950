package certs

import (
	"encoding/asn1"
	"math/big"
)

// MaxIterations is the most key-derivation iterations a PKCS#12 file may
// ask for (of its MAC, its encrypted bags or its shrouded key): OpenSSL 3
// and Key Vault use 2,048, and a million costs well under a second. The
// count is the file's to choose, and reading it cannot be interrupted: a
// file asking for billions would hold a CPU for minutes.
const MaxIterations = 1 << 20

// maxDepth bounds the nesting walked by iterationsWithin.
const maxDepth = 24

// iterationsWithin reports whether every iteration count visible in der —
// the INTEGER after the salt OCTET STRING of PKCS#12's MacData, of its
// PBE parameters and of PBKDF2's — is at most MaxIterations. It descends
// into every SEQUENCE, SET and explicit tag, and into OCTET STRINGs that
// hold DER (PKCS#12 wraps its contents in them); what is encrypted is not
// visible, so a file can still hide a count inside an encrypted bag, which
// neither Key Vault nor OpenSSL writes. Data that is not DER passes: the
// decoder rejects it.
func iterationsWithin(der []byte, depth int) bool {
	if depth > maxDepth {
		return false
	}
	for rest := der; len(rest) > 0; {
		var v asn1.RawValue
		r, err := asn1.Unmarshal(rest, &v)
		if err != nil {
			return true
		}
		rest = r
		if !valueWithin(v, depth) {
			return false
		}
	}
	return true
}

// valueWithin checks one DER value for iterationsWithin.
func valueWithin(v asn1.RawValue, depth int) bool {
	switch {
	case v.IsCompound:
		if v.Class == asn1.ClassUniversal && v.Tag == asn1.TagSequence && !countsWithin(v.Bytes) {
			return false
		}
		return iterationsWithin(v.Bytes, depth+1)
	case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString:
		return iterationsWithin(v.Bytes, depth+1)
	}
	return true
}

// countsWithin checks the elements of a SEQUENCE: an INTEGER right after
// an OCTET STRING is an iteration count.
func countsWithin(body []byte) bool {
	afterOctets := false
	for rest := body; len(rest) > 0; {
		var v asn1.RawValue
		r, err := asn1.Unmarshal(rest, &v)
		if err != nil {
			return true
		}
		rest = r
		universal := v.Class == asn1.ClassUniversal && !v.IsCompound
		if afterOctets && universal && v.Tag == asn1.TagInteger {
			n := new(big.Int).SetBytes(v.Bytes)
			if len(v.Bytes) > 0 && v.Bytes[0]&0x80 != 0 || n.Cmp(big.NewInt(MaxIterations)) > 0 {
				return false // negative, or too many
			}
		}
		afterOctets = universal && v.Tag == asn1.TagOctetString
	}
	return true
}
