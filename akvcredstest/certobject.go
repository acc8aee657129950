package akvcredstest

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
)

// certificateBundle is a certificate as GET /certificates/{name} answers
// it: the fields of Azure's recorded certificate bundle (keyvault-certificates
// recordings, api-version 7.2): id, kid, sid, x5t, cer, attributes, policy.
type certificateBundle struct {
	ID         string            `json:"id"`
	Kid        string            `json:"kid"`
	Sid        string            `json:"sid"`
	X5t        string            `json:"x5t"`
	Cer        string            `json:"cer"`
	Attributes secretAttributes  `json:"attributes"`
	Policy     certificatePolicy `json:"policy"`
}

type certificatePolicy struct {
	ID              string           `json:"id"`
	KeyProps        keyProps         `json:"key_props"`
	SecretProps     secretProps      `json:"secret_props"`
	X509Props       x509Props        `json:"x509_props"`
	LifetimeActions []lifetimeAction `json:"lifetime_actions"`
	Issuer          issuerRef        `json:"issuer"`
	Attributes      policyAttributes `json:"attributes"`
}

type keyProps struct {
	Exportable bool   `json:"exportable"`
	Kty        string `json:"kty"`
	KeySize    int    `json:"key_size,omitempty"`
	Crv        string `json:"crv,omitempty"`
	ReuseKey   bool   `json:"reuse_key"`
}

type secretProps struct {
	ContentType string `json:"contentType"`
}

type x509Props struct {
	Subject          string           `json:"subject"`
	Sans             sans             `json:"sans"`
	Ekus             []string         `json:"ekus"`
	KeyUsage         []string         `json:"key_usage"`
	ValidityMonths   int              `json:"validity_months"`
	BasicConstraints basicConstraints `json:"basic_constraints"`
}

type sans struct {
	DNSNames []string `json:"dns_names,omitempty"`
}

type basicConstraints struct {
	CA bool `json:"ca"`
}

type lifetimeAction struct {
	Trigger struct {
		LifetimePercentage int `json:"lifetime_percentage"`
	} `json:"trigger"`
	Action struct {
		ActionType string `json:"action_type"`
	} `json:"action"`
}

type issuerRef struct {
	Name string `json:"name"`
}

type policyAttributes struct {
	Enabled bool  `json:"enabled"`
	Created int64 `json:"created"`
	Updated int64 `json:"updated"`
}

// certificateNotFound is Key Vault's 404 message for a certificate
// (recorded: keyvault-certificates "can get a certificate (non existing)").
func certificateNotFound(what string) string {
	return fmt.Sprintf("A certificate with (name/id) %s was not found in this key vault. If you recently deleted this certificate you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", what)
}

// getCertificate answers GET /certificates/{name}[/{version}] for the
// certificates SetCertificate made: a version exists where the secret's
// version is a certificate's (managed) backing secret. As in Key Vault, a
// disabled certificate is still returned (with enabled false).
func (k *kvCall) getCertificate() {
	k.s.mu.Lock()
	var b *certificateBundle
	sec := k.v.secrets[strings.ToLower(k.route.secret)]
	sv := sec.find(k.route.version)
	if sv != nil && sv.managed {
		b = certificateOf(k.v, k.base(), sec, sv)
	}
	k.s.mu.Unlock()
	if b == nil {
		k.fail(http.StatusNotFound, "CertificateNotFound", certificateNotFound(k.named()), "")
		return
	}
	k.reply(b)
}

// certificateOf returns the certificate bundle of a certificate's backing
// secret version, or nil if its value holds no certificate. The policy is
// the one SetCertificate applied, as read back from the certificate.
func certificateOf(v *vault, base string, sec *secret, sv *secretVersion) *certificateBundle {
	leaf, err := leafOf(sv)
	if err != nil {
		return nil
	}
	sum := sha1.Sum(leaf.Raw)
	path := "/" + sec.name + "/" + sv.version
	attrs := attrsOf(v, sv)
	return &certificateBundle{
		ID:         base + "/certificates" + path,
		Kid:        base + "/keys" + path,
		Sid:        base + "/secrets" + path,
		X5t:        base64.RawURLEncoding.EncodeToString(sum[:]),
		Cer:        base64.StdEncoding.EncodeToString(leaf.Raw),
		Attributes: attrs,
		Policy:     policyOf(base+"/certificates/"+sec.name+"/policy", leaf, sv),
	}
}

// leafOf reads the leaf certificate of a certificate's backing secret.
func leafOf(sv *secretVersion) (*x509.Certificate, error) {
	value := sv.value
	if strings.EqualFold(sv.contentType, contentTypePFX) {
		converted, err := pfxToPEM(value)
		if err != nil {
			return nil, err
		}
		value = converted
	}
	rest := []byte(value)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no certificate")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// policyOf describes the policy a certificate was made with.
func policyOf(id string, leaf *x509.Certificate, sv *secretVersion) certificatePolicy {
	p := certificatePolicy{
		ID:          id,
		KeyProps:    keyPropsOf(leaf),
		SecretProps: secretProps{ContentType: sv.contentType},
		X509Props: x509Props{
			Subject:        leaf.Subject.String(),
			Sans:           sans{DNSNames: leaf.DNSNames},
			Ekus:           []string{"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"},
			KeyUsage:       []string{"digitalSignature"},
			ValidityMonths: validityMonths(leaf),
		},
		Issuer:     issuerRef{Name: "Self"},
		Attributes: policyAttributes{Enabled: true, Created: sv.created.Unix(), Updated: sv.updated.Unix()},
	}
	if leaf.KeyUsage&x509.KeyUsageKeyEncipherment != 0 {
		p.X509Props.KeyUsage = append(p.X509Props.KeyUsage, "keyEncipherment")
	}
	action := "AutoRenew"
	if leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
		// Issued by a CA Key Vault does not know: issuer "Unknown", whose
		// default lifetime action is to e-mail the contacts.
		p.Issuer.Name, action = "Unknown", "EmailContacts"
	}
	la := lifetimeAction{}
	la.Trigger.LifetimePercentage = 80
	la.Action.ActionType = action
	p.LifetimeActions = []lifetimeAction{la}
	return p
}

// keyPropsOf describes the certificate's key as the policy's key_props.
func keyPropsOf(leaf *x509.Certificate) keyProps {
	kp := keyProps{Exportable: true}
	switch pub := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		kp.Kty, kp.KeySize = "RSA", pub.N.BitLen()
	case *ecdsa.PublicKey:
		kp.Kty, kp.Crv = "EC", pub.Curve.Params().Name
	}
	return kp
}

// validityMonths is the certificate's validity in whole months (at least
// one), counted from 10 minutes after its start, as Key Vault backdates.
func validityMonths(leaf *x509.Certificate) int {
	days := leaf.NotAfter.Sub(leaf.NotBefore.Add(backdate)).Hours() / 24
	return max(1, int(math.Round(days/(365.25/12))))
}
