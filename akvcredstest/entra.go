package akvcredstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	grantClientCredentials = "client_credentials"
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// serveEntra answers requests to a login host (Entra ID).
func (s *Server) serveEntra(w http.ResponseWriter, r *http.Request, c *cloud, host string) {
	ri := infoFrom(r.Context())
	p := r.URL.Path
	switch ri.Kind {
	case KindDiscovery:
		s.instanceDiscovery(w, r, host)
		return
	case KindOpenID:
		s.openIDConfig(w, r, host, p)
		return
	case KindToken:
		s.tokenEndpoint(w, r, c, host, p)
		return
	case KindJWKS:
		s.serveJWKS(w, r, host, p)
		return
	}
	s.entraError(w, r, http.StatusNotFound, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a GET request.")
}

func entraHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "-1")
	h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("x-ms-request-id", newGUID())
	h.Set("x-ms-ests-server", "2.1.19000.0 - EUS ProdSlices")
}

// entraError writes an OAuth error response shaped as Entra ID's.
func (s *Server) entraError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, desc string) {
	entraHeaders(w)
	trace := newGUID()
	corr := correlationID(r)
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	body := struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorCodes       []int  `json:"error_codes"`
		Timestamp        string `json:"timestamp"`
		TraceID          string `json:"trace_id"`
		CorrelationID    string `json:"correlation_id"`
		ErrorURI         string `json:"error_uri,omitempty"`
	}{
		Error:            code,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, desc, trace, corr, ts),
		ErrorCodes:       []int{aadsts},
		Timestamp:        ts,
		TraceID:          trace,
		CorrelationID:    corr,
		ErrorURI:         fmt.Sprintf("https://%s/error?code=%d", hostOnly(r.Host), aadsts),
	}
	writeJSON(w, status, body)
}

// correlationID is the client-request-id the caller sent (header, query or
// form), which Entra ID echoes, or a new one.
func correlationID(r *http.Request) string {
	if id := r.Header.Get("client-request-id"); id != "" {
		return id
	}
	if id := decodedQuery(r.URL.RawQuery).Get("client-request-id"); id != "" {
		return id
	}
	if r.PostForm != nil {
		if id := r.PostForm.Get("client-request-id"); id != "" {
			return id
		}
	}
	return newGUID()
}

var discoveryMetadata = []map[string]any{
	{"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net", "aliases": []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"}},
	{"preferred_network": "login.partner.microsoftonline.cn", "preferred_cache": "login.partner.microsoftonline.cn", "aliases": []string{"login.partner.microsoftonline.cn", "login.chinacloudapi.cn"}},
	{"preferred_network": "login.microsoftonline.de", "preferred_cache": "login.microsoftonline.de", "aliases": []string{"login.microsoftonline.de"}},
	{"preferred_network": "login.microsoftonline.us", "preferred_cache": "login.microsoftonline.us", "aliases": []string{"login.microsoftonline.us", "login.usgovcloudapi.net"}},
	{"preferred_network": "login-us.microsoftonline.com", "preferred_cache": "login-us.microsoftonline.com", "aliases": []string{"login-us.microsoftonline.com"}},
}

// instanceDiscovery answers GET /common/discovery/instance as Entra ID does.
func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request, host string) {
	q := decodedQuery(r.URL.RawQuery)
	ae := q.Get("authorization_endpoint")
	u, err := url.Parse(ae)
	if ae == "" || err != nil || u.Scheme != "https" || !isLoginHost(strings.ToLower(u.Hostname())) {
		s.entraError(w, r, http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance.")
		return
	}
	tenantSeg := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")[0]
	entraHeaders(w)
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": fmt.Sprintf("https://%s/%s/v2.0/.well-known/openid-configuration", u.Host, tenantSeg),
		"api-version":               "1.1",
		"metadata":                  discoveryMetadata,
	})
}

// tenantKnown reports whether t is a registered tenant or a multi-tenant alias.
func (s *Server) tenantKnown(t string) (string, bool) {
	lt := strings.ToLower(t)
	switch lt {
	case "common", "organizations", "consumers":
		return "{tenantid}", true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tn, ok := s.tenants[lt]; ok {
		return tn.id, true
	}
	return "", false
}

func tenantNotFound(t string) string {
	return fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", t)
}

// openIDConfig answers /{tenant}/v2.0/.well-known/openid-configuration and
// the v1 form /{tenant}/.well-known/openid-configuration.
func (s *Server) openIDConfig(w http.ResponseWriter, r *http.Request, host, p string) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	t := segs[0]
	v2 := len(segs) > 1 && segs[1] == "v2.0"
	tid, ok := s.tenantKnown(t)
	if !ok {
		s.entraError(w, r, http.StatusBadRequest, "invalid_tenant", 90002, tenantNotFound(t))
		return
	}
	c, _ := cloudForLoginHost(host)
	base := "https://" + host + "/" + tid
	doc := map[string]any{
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
		"scopes_supported":                      []string{"openid"},
		"request_uri_parameter_supported":       false,
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   strings.TrimPrefix(c.loginHost, "login."),
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
		"rbac_url":                              "https://pas.windows.net",
		"kerberos_endpoint":                     base + "/kerberos",
	}
	if v2 {
		doc["token_endpoint"] = base + "/oauth2/v2.0/token"
		doc["jwks_uri"] = "https://" + host + "/" + tid + "/discovery/v2.0/keys"
		doc["issuer"] = "https://" + host + "/" + tid + "/v2.0"
		doc["authorization_endpoint"] = base + "/oauth2/v2.0/authorize"
		doc["device_authorization_endpoint"] = base + "/oauth2/v2.0/devicecode"
		doc["end_session_endpoint"] = base + "/oauth2/v2.0/logout"
		doc["userinfo_endpoint"] = "https://graph.microsoft.com/oidc/userinfo"
		doc["scopes_supported"] = []string{"openid", "profile", "email", "offline_access"}
		doc["claims_supported"] = []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"}
	} else {
		doc["token_endpoint"] = base + "/oauth2/token"
		doc["jwks_uri"] = "https://" + host + "/common/discovery/keys"
		doc["issuer"] = fmt.Sprintf(c.issuerFmt, tid)
		doc["authorization_endpoint"] = base + "/oauth2/authorize"
		doc["device_authorization_endpoint"] = base + "/oauth2/devicecode"
		doc["end_session_endpoint"] = base + "/oauth2/logout"
		doc["userinfo_endpoint"] = base + "/openid/userinfo"
		doc["claims_supported"] = []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"}
	}
	entraHeaders(w)
	writeJSON(w, http.StatusOK, doc)
}

// entraFailure is an Entra ID error answer.
type entraFailure struct {
	status int
	code   string // OAuth error: invalid_request, invalid_client, ...
	aadsts int
	desc   string
}

// entraFail answers with f.
func (s *Server) entraFail(w http.ResponseWriter, r *http.Request, f *entraFailure) {
	s.entraError(w, r, f.status, f.code, f.aadsts, f.desc)
}

// missingParameter is Entra ID's answer to a request without a required
// parameter.
func missingParameter(name string) *entraFailure {
	return &entraFailure{http.StatusBadRequest, "invalid_request", 900144,
		fmt.Sprintf("The request body must contain the following parameter: '%s'.", name)}
}

// tokenRequest is a client-credentials token request, filled in by the
// checks of tokenEndpoint.
type tokenRequest struct {
	r        *http.Request
	form     url.Values
	cloud    *cloud
	tenant   string // the path's tenant segment, then the registered tenant ID
	endpoint string // "https://HOST/PATH": a client assertion's audience
	v1       bool   // /oauth2/token with resource=, not /oauth2/v2.0/token with scope=

	clientID, clientSecret string
	resource               string
	app                    app // a copy of the registered app
	certs                  []*x509.Certificate
}

// tokenEndpoint answers POST /{tenant}/oauth2/v2.0/token (and the v1
// /{tenant}/oauth2/token with resource=) for the client-credentials grant.
// Its checks run in Entra ID's order.
func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request, c *cloud, host, p string) {
	if r.Method != http.MethodPost {
		s.entraError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	_ = r.ParseForm() // unknown fields are ignored, as Entra ID does
	t := &tokenRequest{
		r:        r,
		form:     r.PostForm,
		cloud:    c,
		tenant:   strings.Split(strings.TrimPrefix(p, "/"), "/")[0],
		endpoint: "https://" + host + p,
		v1:       strings.HasSuffix(p, "/oauth2/token"),
	}
	checks := []func(*tokenRequest) *entraFailure{
		s.tokenTenant, checkGrant, readClient, readResource, checkResourceCloud, s.findApp, s.authenticateClient,
	}
	for _, check := range checks {
		if f := check(t); f != nil {
			s.entraFail(w, r, f)
			return
		}
	}
	s.writeToken(w, t)
}

// tokenTenant resolves the tenant of the path: it must be registered, not
// a multi-tenant alias.
func (s *Server) tokenTenant(t *tokenRequest) *entraFailure {
	tid, ok := s.tenantKnown(t.tenant)
	if !ok {
		return &entraFailure{http.StatusBadRequest, "invalid_request", 90002, tenantNotFound(t.tenant)}
	}
	if tid == "{tenantid}" {
		return &entraFailure{http.StatusBadRequest, "invalid_request", 90133, "No such tenant-independent grant is supported: client_credentials requires a tenant-specific authority."}
	}
	t.tenant = tid
	return nil
}

// checkGrant accepts only the client-credentials grant.
func checkGrant(t *tokenRequest) *entraFailure {
	switch grant := t.form.Get("grant_type"); grant {
	case grantClientCredentials:
		return nil
	case "":
		return missingParameter("grant_type")
	default:
		return &entraFailure{http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant)}
	}
}

// readClient reads the client ID and secret from the form, or else from
// HTTP basic authentication (client_secret_basic).
func readClient(t *tokenRequest) *entraFailure {
	t.clientID, t.clientSecret = t.form.Get("client_id"), t.form.Get("client_secret")
	if u, pw, ok := t.r.BasicAuth(); ok {
		if t.clientID == "" {
			t.clientID, _ = url.QueryUnescape(u)
		}
		if t.clientSecret == "" {
			t.clientSecret, _ = url.QueryUnescape(pw)
		}
	}
	if t.clientID == "" {
		return missingParameter("client_id")
	}
	return nil
}

// readResource reads the resource: v1 sends it as resource=, v2 as a scope
// RESOURCE/.default.
func readResource(t *tokenRequest) *entraFailure {
	if t.v1 {
		t.resource = t.form.Get("resource")
		if t.resource == "" {
			return missingParameter("resource")
		}
		return nil
	}
	scope := strings.TrimSpace(t.form.Get("scope"))
	if scope == "" {
		return missingParameter("scope")
	}
	res, f := scopeResource(scope)
	t.resource = res
	return f
}

// oidcScopes are the OpenID Connect scopes MSAL adds; Entra ID ignores them
// in a client-credentials request.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// scopeResource returns the one resource of a client-credentials scope:
// every other scope must be RESOURCE/.default.
func scopeResource(scope string) (string, *entraFailure) {
	var res []string
	for _, f := range strings.Fields(scope) {
		if oidcScopes[f] {
			continue
		}
		r, ok := strings.CutSuffix(f, "/.default")
		if !ok {
			return "", &entraFailure{http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)}
		}
		res = append(res, r)
	}
	if len(res) != 1 {
		return "", &entraFailure{http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope)}
	}
	return res[0], nil
}

// checkResourceCloud refuses another cloud's Key Vault, which is unknown in
// this cloud.
func checkResourceCloud(t *tokenRequest) *entraFailure {
	if rc, ok := cloudForResource(t.resource); ok && rc != t.cloud {
		return &entraFailure{http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", t.resource, t.tenant)}
	}
	return nil
}

// findApp looks the client up in the tenant and copies its credentials.
func (s *Server) findApp(t *tokenRequest) *entraFailure {
	key := strings.ToLower(t.tenant) + "/" + strings.ToLower(t.clientID)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[key]
	if a == nil {
		return &entraFailure{http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", t.clientID, t.tenant)}
	}
	t.app = *a
	t.app.secrets = slices.Clone(a.secrets)
	t.certs = slices.Clone(s.appCerts[key])
	return nil
}

// authenticateClient checks the client's secret or its client assertion (a
// certificate assertion, or a federated token).
func (s *Server) authenticateClient(t *tokenRequest) *entraFailure {
	assertion := t.form.Get("client_assertion")
	switch {
	case t.clientSecret != "":
		if !slices.Contains(t.app.secrets, t.clientSecret) {
			return &entraFailure{http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", t.clientID)}
		}
		return nil
	case assertion != "":
		if t.form.Get("client_assertion_type") != assertionTypeJWTBearer {
			return missingParameter("client_assertion_type")
		}
		if fed, f := s.checkFederatedAssertion(t.tenant, t.clientID, assertion); fed {
			return f
		}
		return s.checkAssertion(assertion, t.clientID, t.certs, t.endpoint)
	default:
		return &entraFailure{http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
	}
}

// writeToken answers with an access token for the request's resource, in
// the v1 (strings) or v2 shape.
func (s *Server) writeToken(w http.ResponseWriter, t *tokenRequest) {
	now := s.now()
	tok, _ := s.issueToken(t.resource, t.tenant, t.app.clientID, t.app.objectID, t.app.clientID, "", now)
	life := int64(s.cfg.tokenLifetime / time.Second)
	entraHeaders(w)
	if t.v1 {
		writeJSON(w, http.StatusOK, map[string]string{
			"token_type":     "Bearer",
			"expires_in":     strconv.FormatInt(life, 10),
			"ext_expires_in": strconv.FormatInt(life, 10),
			"expires_on":     strconv.FormatInt(now.Unix()+life, 10),
			"not_before":     strconv.FormatInt(now.Unix(), 10),
			"resource":       t.resource,
			"access_token":   tok,
		})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		ExtExpiresIn int64  `json:"ext_expires_in"`
		AccessToken  string `json:"access_token"`
	}{"Bearer", life, life, tok})
}

// checkAssertion verifies a client assertion JWT against the app's
// registered certificates. It returns nil when the assertion is valid.
func (s *Server) checkAssertion(assertion, clientID string, certs []*x509.Certificate, endpoint string) *entraFailure {
	j, ok := parseAssertion(assertion)
	if !ok {
		return invalidClient(50027, "JWT token is invalid or malformed.")
	}
	cl := j.claims
	switch {
	case !strings.EqualFold(cl.Iss, clientID) || !strings.EqualFold(cl.Sub, clientID):
		return invalidClient(700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
	case !cl.audience(func(a string) bool { return audMatches(a, endpoint) }):
		return invalidClient(700212, fmt.Sprintf("No matching federated identity record found for presented assertion audience '%v'.", cl.Aud))
	case cl.Exp != 0 && cl.Exp < s.now().Unix():
		return invalidClient(700024, "Client assertion is not within its valid time range.")
	case !j.signedByAny(certs):
		return invalidClient(700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: 'unknown']")
	}
	return nil
}

// invalidClient is a 401 invalid_client answer.
func invalidClient(aadsts int, desc string) *entraFailure {
	return &entraFailure{http.StatusUnauthorized, "invalid_client", aadsts, desc}
}

// jwsVerifiers check a signature over a SHA-256 digest with a public key, by
// JWS algorithm; a key of the wrong type fails.
var jwsVerifiers = map[string]func(pub any, digest, sig []byte) bool{
	"RS256": func(pub any, digest, sig []byte) bool {
		pk, ok := pub.(*rsa.PublicKey)
		return ok && rsa.VerifyPKCS1v15(pk, crypto.SHA256, digest, sig) == nil
	},
	"PS256": func(pub any, digest, sig []byte) bool {
		pk, ok := pub.(*rsa.PublicKey)
		return ok && rsa.VerifyPSS(pk, crypto.SHA256, digest, sig, nil) == nil
	},
	"ES256": func(pub any, digest, sig []byte) bool {
		pk, ok := pub.(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 {
			return false
		}
		return ecdsa.Verify(pk, digest, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	},
}

// verifies reports whether the JWT's signature verifies with pub by the
// algorithm its header names.
func (j assertionJWT) verifies(pub any) bool {
	verify, ok := jwsVerifiers[j.hdr.Alg]
	if !ok {
		return false
	}
	digest := sha256.Sum256([]byte(j.signed))
	return verify(pub, digest[:], j.sig)
}

// signedByAny reports whether one of certs' keys made the JWT's signature.
func (j assertionJWT) signedByAny(certs []*x509.Certificate) bool {
	for _, c := range certs {
		if j.verifies(c.PublicKey) {
			return true
		}
	}
	return false
}

// assertionJWT is a client assertion or federated token, split and decoded
// but not verified.
type assertionJWT struct {
	hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	claims assertionClaims
	signed string // header.payload, the signed input
	sig    []byte
}

type assertionClaims struct {
	Aud any    `json:"aud"`
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
	Nbf int64  `json:"nbf"`
}

// audience reports whether the aud claim (a string or a list) has a value
// accepted by ok.
func (c assertionClaims) audience(ok func(string) bool) bool {
	switch a := c.Aud.(type) {
	case string:
		return ok(a)
	case []any:
		for _, x := range a {
			if s, isStr := x.(string); isStr && ok(s) {
				return true
			}
		}
	}
	return false
}

// parseAssertion splits and decodes a compact JWT.
func parseAssertion(assertion string) (assertionJWT, bool) {
	var j assertionJWT
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return j, false
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &j.hdr) != nil || json.Unmarshal(pb, &j.claims) != nil {
		return j, false
	}
	j.signed, j.sig = parts[0]+"."+parts[1], sig
	return j, true
}

func audMatches(aud, endpoint string) bool {
	aud = strings.TrimSuffix(aud, "/")
	if strings.EqualFold(aud, endpoint) {
		return true
	}
	// Entra ID also accepts the v1 token endpoint and the issuer as audience.
	return strings.HasSuffix(strings.ToLower(aud), "/oauth2/token") || strings.HasSuffix(strings.ToLower(aud), "/v2.0")
}
