package akvcredstest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// signingKey is the RSA key Entra ID signs Event Grid's delivery tokens
// with, published in the tenant's JWKS. It is made on first use: most
// servers never need it.
type signingKey struct {
	once sync.Once
	key  *rsa.PrivateKey
	cert []byte // self-signed certificate of the key (x5c)
	kid  string // x5t: base64url SHA-1 of the certificate, as Entra ID's kid
	err  error
}

func (s *Server) rsaKey() (*signingKey, error) {
	k := &s.jwtKey
	k.once.Do(func() {
		k.key, k.err = rsa.GenerateKey(rand.Reader, 2048)
		if k.err != nil {
			return
		}
		now := time.Now()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		}
		k.cert, k.err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.key.PublicKey, k.key)
		sum := sha1.Sum(k.cert) // x5t is SHA-1 by definition (RFC 7517)
		k.kid = b64.EncodeToString(sum[:])
	})
	return k, k.err
}

// deliveryClaims are the claims of an Entra-protected delivery's access
// token: a v1 app token for the webhook's app, obtained by Event Grid.
type deliveryClaims struct {
	tokenClaims
	Roles []string `json:"roles"`
}

// eventGridObjectID is the object ID of Event Grid's service principal in
// the emulator's tenants.
const eventGridObjectID = "00000000-0000-0000-0000-0000000e9e1d"

// deliveryClaimsV2 are the claims of a v2 access token for the webhook's
// app.
type deliveryClaimsV2 struct {
	Aud    string   `json:"aud"`
	Iss    string   `json:"iss"`
	Iat    int64    `json:"iat"`
	Nbf    int64    `json:"nbf"`
	Exp    int64    `json:"exp"`
	Aio    string   `json:"aio"`
	Azp    string   `json:"azp"`
	Azpacr string   `json:"azpacr"`
	Idtyp  string   `json:"idtyp"`
	Oid    string   `json:"oid"`
	Rh     string   `json:"rh"`
	Roles  []string `json:"roles"`
	Sub    string   `json:"sub"`
	Tid    string   `json:"tid"`
	Uti    string   `json:"uti"`
	Ver    string   `json:"ver"`
}

// deliveryToken is the bearer token Event Grid sends to an Entra-protected
// webhook: RS256, signed with the key of the tenant's JWKS; v1 unless the
// subscription says the app takes v2 tokens.
func (s *Server) deliveryToken(cfg EventSubscription) string {
	k, err := s.rsaKey()
	if err != nil {
		return ""
	}
	now := s.now()
	tid := cfg.EntraTenantID
	var claims any
	if cfg.EntraTokenV2 {
		claims = deliveryClaimsV2{
			Aud: cfg.EntraAudience, Iss: "https://" + clouds[0].loginHost + "/" + tid + "/v2.0",
			Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(s.cfg.tokenLifetime).Unix(),
			Aio: "E2ZgYJi/akvcredstest=", Azp: EventGridAppID, Azpacr: "2", Idtyp: "app",
			Oid: eventGridObjectID, Rh: "0.AAAA.akvcredstest.", Roles: []string{EventGridWebhookRole},
			Sub: eventGridObjectID, Tid: tid, Uti: b64.EncodeToString([]byte(newID()[:16])), Ver: "2.0",
		}
	} else {
		iss := fmt.Sprintf(clouds[0].issuerFmt, tid)
		claims = deliveryClaims{tokenClaims: tokenClaims{
			Aud: cfg.EntraAudience, Iss: iss, Iat: now.Unix(), Nbf: now.Unix(),
			Exp:   now.Add(s.cfg.tokenLifetime).Unix(),
			Aio:   "E2ZgYJi/akvcredstest=",
			Appid: EventGridAppID, Appidacr: "2", Idp: iss, Idtyp: "app",
			Oid: eventGridObjectID, Rh: "0.AAAA.akvcredstest.", Sub: eventGridObjectID,
			Tid: tid, Uti: b64.EncodeToString([]byte(newID()[:16])), Ver: "1.0",
		}, Roles: []string{EventGridWebhookRole}}
	}
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "x5t": k.kid, "kid": k.kid})
	payload, _ := json.Marshal(claims)
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, digest[:])
	if err != nil {
		return ""
	}
	return signing + "." + b64.EncodeToString(sig)
}

// jwk is one key of a JWKS document, as Entra ID publishes it.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer,omitempty"`
}

// serveJWKS answers GET /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys
// and the /common/... forms: the signing keys of the tenant's tokens (the
// v2 form names the issuer of each key).
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request, host, p string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.entraError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts GET requests. Received a "+r.Method+" request.")
		return
	}
	t := strings.Split(strings.TrimPrefix(p, "/"), "/")[0]
	tid, ok := s.tenantKnown(t)
	if !ok {
		s.entraError(w, r, http.StatusBadRequest, "invalid_tenant", 90002, tenantNotFound(t))
		return
	}
	k, err := s.rsaKey()
	if err != nil {
		s.entraError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token or an authorization code.")
		return
	}
	key := jwk{
		Kty: "RSA", Use: "sig", Kid: k.kid, X5t: k.kid,
		N:   b64.EncodeToString(k.key.N.Bytes()),
		E:   b64.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
		X5c: []string{base64.StdEncoding.EncodeToString(k.cert)},
	}
	if strings.Contains(p, "/v2.0/") {
		key.Issuer = "https://" + host + "/" + tid + "/v2.0"
	}
	entraHeaders(w)
	w.Header().Set("Cache-Control", "max-age=86400, private")
	w.Header().Del("Pragma")
	w.Header().Del("Expires")
	writeJSON(w, http.StatusOK, map[string][]jwk{"keys": {key}})
}

// isJWKSPath reports whether p is a tenant's signing-keys path.
func isJWKSPath(p string) bool {
	return strings.HasSuffix(p, "/discovery/v2.0/keys") || strings.HasSuffix(p, "/discovery/keys")
}
