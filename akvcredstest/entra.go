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

// tokenEndpoint answers POST /{tenant}/oauth2/v2.0/token (and the v1
// /{tenant}/oauth2/token with resource=) for the client-credentials grant.
func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request, c *cloud, host, p string) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	t := segs[0]
	v1 := strings.HasSuffix(p, "/oauth2/token")
	if r.Method != http.MethodPost {
		s.entraError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	_ = r.ParseForm() // unknown fields are ignored, as Entra ID does
	form := r.PostForm
	tid, ok := s.tenantKnown(t)
	if !ok {
		s.entraError(w, r, http.StatusBadRequest, "invalid_request", 90002, tenantNotFound(t))
		return
	}
	if tid == "{tenantid}" {
		s.entraError(w, r, http.StatusBadRequest, "invalid_request", 90133, "No such tenant-independent grant is supported: client_credentials requires a tenant-specific authority.")
		return
	}
	grant := form.Get("grant_type")
	if grant == "" {
		s.entraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if grant != grantClientCredentials {
		s.entraError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant))
		return
	}
	clientID := form.Get("client_id")
	clientSecret := form.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok {
		if clientID == "" {
			clientID, _ = url.QueryUnescape(u)
		}
		if clientSecret == "" {
			clientSecret, _ = url.QueryUnescape(pw)
		}
	}
	if clientID == "" {
		s.entraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	var resource string
	if v1 {
		resource = form.Get("resource")
		if resource == "" {
			s.entraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'resource'.")
			return
		}
	} else {
		scope := strings.TrimSpace(form.Get("scope"))
		if scope == "" {
			s.entraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
			return
		}
		fields := strings.Fields(scope)
		var res []string
		for _, f := range fields {
			switch f {
			case "openid", "profile", "offline_access", "email":
				continue // OpenID Connect scopes MSAL adds; Entra ID ignores them here
			}
			if !strings.HasSuffix(f, "/.default") {
				s.entraError(w, r, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
				return
			}
			res = append(res, strings.TrimSuffix(f, "/.default"))
		}
		if len(res) != 1 {
			s.entraError(w, r, http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope))
			return
		}
		resource = res[0]
	}
	// A resource of another cloud's Key Vault is unknown in this cloud.
	if rc, ok := cloudForResource(resource); ok && rc != c {
		s.entraError(w, r, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, tid))
		return
	}

	s.mu.Lock()
	a := s.apps[strings.ToLower(tid)+"/"+strings.ToLower(clientID)]
	var secrets []string
	var certs []*x509.Certificate
	if a != nil {
		secrets = append(secrets, a.secrets...)
		certs = append(certs, s.appCerts[strings.ToLower(tid)+"/"+strings.ToLower(clientID)]...)
	}
	s.mu.Unlock()
	if a == nil {
		s.entraError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tid))
		return
	}
	assertion := form.Get("client_assertion")
	switch {
	case clientSecret != "":
		match := false
		for _, sec := range secrets {
			if sec == clientSecret {
				match = true
			}
		}
		if !match {
			s.entraError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
			return
		}
	case assertion != "":
		if at := form.Get("client_assertion_type"); at != assertionTypeJWTBearer {
			s.entraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion_type'.")
			return
		}
		if fed, fail := s.checkFederatedAssertion(tid, clientID, assertion); fed {
			if fail != nil {
				s.entraError(w, r, fail.status, fail.code, fail.aadsts, fail.desc)
				return
			}
		} else if code, desc := s.checkAssertion(assertion, clientID, certs, "https://"+host+p); code != 0 {
			s.entraError(w, r, http.StatusUnauthorized, "invalid_client", code, desc)
			return
		}
	default:
		s.entraError(w, r, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}

	now := s.now()
	tok, _ := s.issueToken(resource, tid, a.clientID, a.objectID, a.clientID, "", now)
	life := int64(s.cfg.tokenLifetime / time.Second)
	entraHeaders(w)
	if v1 {
		writeJSON(w, http.StatusOK, map[string]string{
			"token_type":     "Bearer",
			"expires_in":     strconv.FormatInt(life, 10),
			"ext_expires_in": strconv.FormatInt(life, 10),
			"expires_on":     strconv.FormatInt(now.Unix()+life, 10),
			"not_before":     strconv.FormatInt(now.Unix(), 10),
			"resource":       resource,
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
// registered certificates. It returns 0 when the assertion is valid, else the
// AADSTS code and description.
func (s *Server) checkAssertion(assertion, clientID string, certs []*x509.Certificate, endpoint string) (int, string) {
	j, ok := parseAssertion(assertion)
	if !ok {
		return 50027, "JWT token is invalid or malformed."
	}
	hdr, cl, sig := j.hdr, j.claims, j.sig
	if !strings.EqualFold(cl.Iss, clientID) || !strings.EqualFold(cl.Sub, clientID) {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	if !cl.audience(func(a string) bool { return audMatches(a, endpoint) }) {
		return 700212, fmt.Sprintf("No matching federated identity record found for presented assertion audience '%v'.", cl.Aud)
	}
	now := s.now().Unix()
	if cl.Exp != 0 && cl.Exp < now {
		return 700024, "Client assertion is not within its valid time range."
	}
	digest := sha256.Sum256([]byte(j.signed))
	for _, c := range certs {
		switch pk := c.PublicKey.(type) {
		case *rsa.PublicKey:
			if hdr.Alg == "RS256" && rsa.VerifyPKCS1v15(pk, crypto.SHA256, digest[:], sig) == nil {
				return 0, ""
			}
			if hdr.Alg == "PS256" && rsa.VerifyPSS(pk, crypto.SHA256, digest[:], sig, nil) == nil {
				return 0, ""
			}
		case *ecdsa.PublicKey:
			if hdr.Alg == "ES256" && len(sig) == 64 {
				rr, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				if ecdsa.Verify(pk, digest[:], rr, ss) {
					return 0, ""
				}
			}
		}
	}
	return 700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: 'unknown']"
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
