package akvcredstest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// FederatedTokenAudience is the audience Entra ID expects in a federated
// token: the default audience of a federated identity credential, which
// Kubernetes workload identity requests for its service account tokens.
const FederatedTokenAudience = "api://AzureADTokenExchange"

// federation holds the federated identity credentials and the keys of the
// external issuers the server trusts. Guarded by Server.mu.
type federation struct {
	creds map[string][]federatedCredential // key: tenant + "/" + clientID, lower case
	keys  map[string]*issuerKey            // by issuer, exact
}

type federatedCredential struct {
	issuer, subject string
}

type issuerKey struct {
	kid string
	key *rsa.PrivateKey
}

// AddFederatedCredential registers a federated identity credential on an
// app (or on a user-assigned managed identity, by its client ID) in tenantID;
// the app and tenant are added if missing. The token endpoint then accepts,
// as client_assertion, a JWT whose iss is issuer, sub is subject and aud is
// FederatedTokenAudience, signed with the key the server holds for issuer
// (IssueFederatedToken makes such tokens), and valid by the server's clock.
// Issuer and subject are compared exactly, as Entra ID does. A Kubernetes
// workload identity's issuer is the cluster's OIDC issuer URL and its
// subject "system:serviceaccount:NAMESPACE:NAME".
//
// Failures answer as Entra ID does: AADSTS700211 (no federated credential
// with the token's issuer), AADSTS700213 (none with its subject),
// AADSTS700212 (wrong audience), AADSTS700027 (signature not made with the
// issuer's key), AADSTS700024 (token expired or not yet valid).
func (s *Server) AddFederatedCredential(tenantID, clientID, issuer, subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appLocked(tenantID, clientID)
	if s.fed.creds == nil {
		s.fed.creds = map[string][]federatedCredential{}
	}
	key := strings.ToLower(tenantID) + "/" + strings.ToLower(clientID)
	fc := federatedCredential{issuer: issuer, subject: subject}
	for _, c := range s.fed.creds[key] {
		if c == fc {
			return
		}
	}
	s.fed.creds[key] = append(s.fed.creds[key], fc)
}

// IssueFederatedToken returns a token as the external identity provider
// issuer would issue it for subject — for workload identity, the Kubernetes
// service account token the kubelet writes to AZURE_FEDERATED_TOKEN_FILE: an
// RS256 JWT with iss, sub, aud [FederatedTokenAudience], iat, nbf and exp =
// now + lifetime by the server's clock, signed with a key the server creates
// for issuer on first use and trusts. A lifetime of zero or less gives a token
// that has already expired. It panics only if the system's random source
// fails.
func (s *Server) IssueFederatedToken(issuer, subject string, lifetime time.Duration) string {
	ik := s.issuerKey(issuer)
	now := s.now()
	exp := now.Add(lifetime)
	iat := now
	if lifetime <= 0 {
		iat = exp.Add(-time.Hour)
	}
	claims := map[string]any{
		"aud": []string{FederatedTokenAudience},
		"iss": issuer,
		"sub": subject,
		"iat": iat.Unix(),
		"nbf": iat.Unix(),
		"exp": exp.Unix(),
	}
	tok, err := ik.sign(claims)
	if err != nil {
		panic("akvcredstest: signing a federated token: " + err.Error())
	}
	return tok
}

// sign returns an RS256 JWT of claims signed with the issuer's key.
func (ik *issuerKey) sign(claims map[string]any) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": ik.kid, "typ": "JWT"})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, ik.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64.EncodeToString(sig), nil
}

// issuerKey returns the signing key of issuer, creating it on first use.
func (s *Server) issuerKey(issuer string) *issuerKey {
	s.mu.Lock()
	ik := s.fed.keys[issuer]
	s.mu.Unlock()
	if ik != nil {
		return ik
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("akvcredstest: generating an issuer key: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fed.keys == nil {
		s.fed.keys = map[string]*issuerKey{}
	}
	if ik := s.fed.keys[issuer]; ik != nil {
		return ik // another goroutine was first
	}
	ik = &issuerKey{kid: newID()[:20], key: k}
	s.fed.keys[issuer] = ik
	return ik
}

const ficHelp = "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"

// checkFederatedAssertion verifies a client assertion that is a federated
// token: one whose issuer is not the app itself (a certificate assertion has
// iss = sub = client ID). federated is false for anything else, which
// checkAssertion then handles; fail is nil for a valid federated token.
func (s *Server) checkFederatedAssertion(tid, clientID, assertion string) (federated bool, fail *entraFailure) {
	j, ok := parseAssertion(assertion)
	if !ok || j.claims.Iss == "" || strings.EqualFold(j.claims.Iss, clientID) {
		return false, nil
	}
	subjects, ik := s.federatedSubjects(tid, clientID, j.claims.Iss)
	return true, s.verifyFederated(j, subjects, ik)
}

// federatedSubjects returns the subjects the app's federated credentials
// accept from issuer, and the issuer's key (nil if the server has none).
func (s *Server) federatedSubjects(tid, clientID, issuer string) ([]string, *issuerKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var subjects []string
	for _, f := range s.fed.creds[strings.ToLower(tid)+"/"+strings.ToLower(clientID)] {
		if f.issuer == issuer {
			subjects = append(subjects, f.subject)
		}
	}
	return subjects, s.fed.keys[issuer]
}

// verifyFederated checks a federated token, in Entra ID's order: a
// credential for its issuer, the issuer's signature, the validity period,
// the audience, then the subject.
func (s *Server) verifyFederated(j assertionJWT, subjects []string, ik *issuerKey) *entraFailure {
	cl := j.claims
	if len(subjects) == 0 {
		return &entraFailure{http.StatusBadRequest, "invalid_request", 700211,
			fmt.Sprintf("No matching federated identity record found for presented assertion issuer '%s'. %s", cl.Iss, ficHelp)}
	}
	if ik == nil || j.hdr.Alg != "RS256" || j.hdr.Kid != ik.kid || !j.verifies(&ik.key.PublicKey) {
		return invalidClient(700027,
			fmt.Sprintf("Client assertion failed signature validation. [Reason - The key was not found., Key ID in the assertion: '%s', issuer: '%s']", j.hdr.Kid, cl.Iss))
	}
	if f := checkValidity(s.now(), cl); f != nil {
		return f
	}
	if !cl.audience(func(a string) bool { return a == FederatedTokenAudience }) {
		return &entraFailure{http.StatusBadRequest, "invalid_request", 700212,
			fmt.Sprintf("No matching federated identity record found for presented assertion audience '%v'. %s", audString(cl.Aud), ficHelp)}
	}
	if !slices.Contains(subjects, cl.Sub) {
		return &entraFailure{http.StatusBadRequest, "invalid_request", 700213,
			fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'. %s", cl.Sub, ficHelp)}
	}
	return nil
}

// checkValidity refuses a federated token that has expired, or is not valid
// yet with five minutes of clock skew allowed, at now.
func checkValidity(now time.Time, cl assertionClaims) *entraFailure {
	if cl.Exp > now.Unix() && cl.Nbf <= now.Add(5*time.Minute).Unix() {
		return nil
	}
	const f = "2006-01-02T15:04:05.0000000Z"
	return invalidClient(700024,
		fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
			now.UTC().Format(f), time.Unix(cl.Nbf, 0).UTC().Format(f), time.Unix(cl.Exp, 0).UTC().Format(f)))
}

func audString(aud any) string {
	switch a := aud.(type) {
	case string:
		return a
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, fmt.Sprint(x))
		}
		return strings.Join(out, ",")
	}
	return ""
}
