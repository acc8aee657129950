package akvcredstest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	serviceVersion   = "1.9.2421.1"
	throttledMessage = "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"
	missingToken     = "AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."
)

var (
	secretNameRE = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)
	versionRE    = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)
)

// serveTLS routes requests on the TLS listener by host name.
func (s *Server) serveTLS(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	if c, ok := cloudForLoginHost(host); ok {
		s.serveEntra(w, r, c, host)
		return
	}
	if name, c, ok := parseVaultHost(host); ok {
		s.serveVault(w, r, name, c)
		return
	}
	http.Error(w, "akvcredstest: unknown host "+host, http.StatusNotFound)
}

func challengeHeader(c *cloud, tenantID string) string {
	return fmt.Sprintf(`Bearer authorization="https://%s/%s", resource="%s"`, c.loginHost, tenantID, c.resource)
}

type kvErrorBody struct {
	Error kvError `json:"error"`
}

type kvError struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *kvInnerErr `json:"innererror,omitempty"`
}

type kvInnerErr struct {
	Code string `json:"code"`
}

// kvHeaders sets the headers Key Vault sends on every response.
func kvHeaders(w http.ResponseWriter, r *http.Request, v *vault) {
	h := w.Header()
	region := "eastus"
	if v != nil {
		region = v.region
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "-1")
	h.Set("x-ms-keyvault-region", region)
	h.Set("x-ms-request-id", newGUID())
	h.Set("x-ms-keyvault-service-version", serviceVersion)
	h.Set("x-ms-keyvault-network-info", "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;")
	h.Set("Strict-Transport-Security", "max-age=31536000;includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	if id := r.Header.Get("x-ms-client-request-id"); id != "" {
		h.Set("x-ms-client-request-id", id)
	}
}

func (s *Server) kvError(w http.ResponseWriter, r *http.Request, v *vault, status int, code, msg, inner string) {
	kvHeaders(w, r, v)
	body := kvErrorBody{Error: kvError{Code: code, Message: msg}}
	if inner != "" {
		body.Error.InnerError = &kvInnerErr{Code: inner}
	}
	writeJSON(w, status, body)
}

// writeJSON writes v as a JSON response with Key Vault's content type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"InternalServerError","message":"encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serveVault answers a Key Vault request, checking in Azure's order:
// authentication challenge, token, vault existence, firewall, throttling,
// request validity, permission, then the secret itself.
func (s *Server) serveVault(w http.ResponseWriter, r *http.Request, name string, c *cloud) {
	ri := infoFrom(r.Context())
	body, _ := readBody(r)

	s.mu.Lock()
	v := s.vaults[name]
	tid := DefaultTenantID
	if v != nil {
		tid = v.tenant
	}
	s.mu.Unlock()

	auth := r.Header.Get("Authorization")
	if auth == "" {
		ri.Kind = KindChallenge
		w.Header().Set("WWW-Authenticate", challengeHeader(c, tid))
		s.kvError(w, r, v, http.StatusUnauthorized, "Unauthorized", missingToken, "")
		return
	}
	claims, msg := s.checkVaultToken(auth, c, tid)
	if msg != "" {
		w.Header().Set("WWW-Authenticate", challengeHeader(c, tid))
		s.kvError(w, r, v, http.StatusUnauthorized, "Unauthorized", msg, "")
		return
	}
	if v == nil {
		// Through Client() an unknown vault fails to resolve; this answers
		// direct connections.
		s.kvError(w, r, nil, http.StatusNotFound, "VaultNotFound",
			fmt.Sprintf("The vault '%s' was not found. Make sure the vault name is correct.", name), "")
		return
	}
	caller := fmt.Sprintf("appid=%s;oid=%s;iss=%s", claims.Appid, claims.Oid, claims.Iss)
	vaultDesc := fmt.Sprintf("%s;location=%s", v.name, v.region)

	s.mu.Lock()
	firewall := v.firewall
	var admitted = true
	var retry int
	var retryAfter bool
	if !firewall && v.rate != nil {
		admitted, retry = v.rate.admit(s.now())
		retryAfter = v.rate.retryAfter
	}
	s.mu.Unlock()
	if firewall {
		s.kvError(w, r, v, http.StatusForbidden, "Forbidden", fmt.Sprintf(
			"Client address is not authorized and caller is not a trusted service.\r\nClient address: 127.0.0.1\r\nCaller: %s\r\nVault: %s", caller, vaultDesc),
			"ForbiddenByFirewall")
		return
	}
	if !admitted {
		if retryAfter {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
		}
		s.kvError(w, r, v, http.StatusTooManyRequests, "Throttled", throttledMessage, "")
		return
	}

	q := decodedQuery(r.URL.RawQuery)
	if q.Get("api-version") == "" {
		s.kvError(w, r, v, http.StatusBadRequest, "BadParameter", "The api-version query parameter (?api-version=) is required for all requests.", "")
		return
	}
	route := parseVaultPath(r.Method, r.URL.Path)
	if route.kind == KindOther {
		s.kvError(w, r, v, http.StatusNotFound, "NotFound", "The requested resource was not found.", "")
		return
	}
	if route.kind != KindListSecrets && !secretNameRE.MatchString(route.secret) {
		s.kvError(w, r, v, http.StatusBadRequest, "BadParameter",
			"The request URI contains an invalid name: "+route.secret, "")
		return
	}
	if route.version != "" && !versionRE.MatchString(route.version) {
		s.kvError(w, r, v, http.StatusBadRequest, "BadParameter",
			"The request URI contains an invalid version: "+route.version, "")
		return
	}

	// Permissions.
	op, action := "", ""
	switch route.kind {
	case KindGetSecret:
		op, action = "get", "Microsoft.KeyVault/vaults/secrets/getSecret/action"
	case KindListSecrets, KindListVersions:
		op, action = "list", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
	case KindDeleteSecret:
		op, action = "delete", "Microsoft.KeyVault/vaults/secrets/delete"
	}
	if op != "" && !s.allowed(v, claims, op) {
		if v.accessPolicy {
			s.kvError(w, r, v, http.StatusForbidden, "Forbidden", fmt.Sprintf(
				"The user, group or application '%s' does not have secrets %s permission on key vault '%s'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
				caller, op, vaultDesc), "AccessDenied")
		} else {
			resource := "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/microsoft.keyvault/vaults/" + v.name
			if route.secret != "" {
				resource += "/secrets/" + route.secret
			}
			s.kvError(w, r, v, http.StatusForbidden, "Forbidden", fmt.Sprintf(
				"Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: %s\r\nAction: '%s'\r\nResource: '%s'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: %s\r\n",
				caller, action, strings.ToLower(resource), vaultDesc), "ForbiddenByRbac")
		}
		return
	}

	base := "https://" + v.name + c.vaultSuffix
	switch route.kind {
	case KindGetSecret:
		s.kvGet(w, r, v, base, route)
	case KindListSecrets:
		s.kvList(w, r, v, base, q)
	case KindListVersions:
		s.kvListVersions(w, r, v, base, route.secret, q)
	case KindSetSecret:
		s.kvSet(w, r, v, base, route.secret, body)
	case KindDeleteSecret:
		s.kvDelete(w, r, v, base, route.secret)
	}
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}

// checkVaultToken validates a bearer token for a vault of cloud c owned by
// tenant tid; it returns Key Vault's 401 message when the token is refused.
func (s *Server) checkVaultToken(auth string, c *cloud, tid string) (tokenClaims, string) {
	scheme, tok, _ := strings.Cut(auth, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return tokenClaims{}, missingToken
	}
	claims, err := s.parseToken(tok)
	if err != nil {
		hdr, _, _ := strings.Cut(tok, ".")
		return claims, fmt.Sprintf("AKV10046: Unable to resolve the key used for signature validation. EncodedJwtHeader: '%s'.", hdr)
	}
	now := s.now().Unix()
	if claims.Exp <= now {
		return claims, "[TokenExpired] Error validating token: 'S2S12086'."
	}
	if claims.Nbf > now+300 {
		return claims, "[TokenNotYetValid] Error validating token: 'S2S12085'."
	}
	aud := strings.TrimSuffix(claims.Aud, "/")
	if !strings.EqualFold(aud, c.resource) && claims.Aud != keyVaultAppID {
		return claims, fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", c.resource, claims.Aud)
	}
	want := fmt.Sprintf(c.issuerFmt, tid)
	if !strings.EqualFold(claims.Iss, want) {
		return claims, fmt.Sprintf("AKV10032: Invalid issuer. Expected one of %s, found %s.", want, claims.Iss)
	}
	return claims, ""
}

// allowed reports whether the token's principal has the permission op
// ("get", "list" or "delete") on v.
func (s *Server) allowed(v *vault, claims tokenClaims, op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := v.perms[strings.ToLower(claims.Principal)]
	if !ok {
		p, ok = v.perms[strings.ToLower(claims.Appid)]
	}
	if !ok {
		return true
	}
	switch op {
	case "get":
		return p.Get
	case "list":
		return p.List
	}
	return p.Get || p.List
}

type secretAttributes struct {
	Enabled         bool   `json:"enabled"`
	Nbf             *int64 `json:"nbf,omitempty"`
	Exp             *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoveryLevel   string `json:"recoveryLevel"`
	RecoverableDays int    `json:"recoverableDays"`
}

type secretBundle struct {
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	ID          string            `json:"id"`
	Managed     bool              `json:"managed,omitempty"`
	Attributes  secretAttributes  `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
	Kid         string            `json:"kid,omitempty"`
}

type secretItem struct {
	ContentType string            `json:"contentType,omitempty"`
	ID          string            `json:"id"`
	Managed     bool              `json:"managed,omitempty"`
	Attributes  secretAttributes  `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
}

type secretPage struct {
	Value    []secretItem `json:"value"`
	NextLink *string      `json:"nextLink"`
}

func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	u := t.Unix()
	return &u
}

func attrsOf(sv *secretVersion) secretAttributes {
	return secretAttributes{
		Enabled:         sv.enabled,
		Nbf:             unixPtr(sv.nbf),
		Exp:             unixPtr(sv.exp),
		Created:         sv.created.Unix(),
		Updated:         sv.updated.Unix(),
		RecoveryLevel:   "Recoverable+Purgeable",
		RecoverableDays: 90,
	}
}

func copyTags(t map[string]string) map[string]string {
	if len(t) == 0 {
		return nil
	}
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

func bundleOf(base string, sec *secret, sv *secretVersion) secretBundle {
	return secretBundle{
		Value:       sv.value,
		ContentType: sv.contentType,
		ID:          base + "/secrets/" + sec.name + "/" + sv.version,
		Managed:     sv.managed,
		Attributes:  attrsOf(sv),
		Tags:        copyTags(sv.tags),
	}
}

func notFoundMessage(what string) string {
	return fmt.Sprintf("A secret with (name/id) %s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", what)
}

func (s *Server) kvGet(w http.ResponseWriter, r *http.Request, v *vault, base string, route vaultRoute) {
	s.mu.Lock()
	sec := v.secrets[strings.ToLower(route.secret)]
	var sv *secretVersion
	if sec != nil {
		if route.version == "" {
			sv = sec.latest()
		} else {
			for _, cand := range sec.versions {
				if strings.EqualFold(cand.version, route.version) {
					sv = cand
				}
			}
		}
	}
	var b secretBundle
	if sv != nil {
		b = bundleOf(base, sec, sv)
	}
	s.mu.Unlock()
	if sv == nil {
		what := route.secret
		if route.version != "" {
			what += "/" + route.version
		}
		s.kvError(w, r, v, http.StatusNotFound, "SecretNotFound", notFoundMessage(what), "")
		return
	}
	if !b.Attributes.Enabled {
		s.kvError(w, r, v, http.StatusForbidden, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
		return
	}
	kvHeaders(w, r, v)
	writeJSON(w, http.StatusOK, b)
}

// skipToken encodes a list offset the way Key Vault's $skiptoken looks:
// base64 of {"NextMarker":...,"TargetLocation":0}.
func skipToken(offset int) string {
	j := fmt.Sprintf(`{"NextMarker":"2!%d!%s","TargetLocation":0}`, offset, base64.RawStdEncoding.EncodeToString([]byte(strconv.Itoa(offset))))
	return base64.RawStdEncoding.EncodeToString([]byte(j))
}

func parseSkipToken(tok string) int {
	if tok == "" {
		return 0
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(tok, "="))
	if err != nil {
		return -1
	}
	var st struct{ NextMarker string }
	if json.Unmarshal(raw, &st) != nil {
		return -1
	}
	parts := strings.Split(st.NextMarker, "!")
	if len(parts) < 2 {
		return -1
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// page slices items by the request's $skiptoken and maxresults and builds
// the nextLink (on port 443, as Azure writes it).
func (s *Server) page(n int, q map[string][]string, linkBase string) (lo, hi int, next *string, ok bool) {
	get := func(k string) string {
		if vs := q[k]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	size := s.cfg.pageSize
	if mr := get("maxresults"); mr != "" {
		m, err := strconv.Atoi(mr)
		if err != nil || m < 1 || m > 25 {
			return 0, 0, nil, false
		}
		if m < size {
			size = m
		}
	}
	lo = parseSkipToken(get("$skiptoken"))
	if lo < 0 {
		return 0, 0, nil, false
	}
	if lo > n {
		lo = n
	}
	hi = lo + size
	if hi >= n {
		return lo, n, nil, true
	}
	link := linkBase + "?api-version=" + url.QueryEscape(get("api-version")) + "&$skiptoken=" + skipToken(hi)
	if mr := get("maxresults"); mr != "" {
		link += "&maxresults=" + url.QueryEscape(mr)
	}
	return lo, hi, &link, true
}

func (s *Server) kvList(w http.ResponseWriter, r *http.Request, v *vault, base string, q map[string][]string) {
	s.mu.Lock()
	secs := v.sortedSecrets()
	items := make([]secretItem, 0, len(secs))
	for _, sec := range secs {
		l := sec.latest()
		items = append(items, secretItem{
			ContentType: l.contentType,
			ID:          base + "/secrets/" + sec.name,
			Managed:     l.managed,
			Attributes:  attrsOf(l),
			Tags:        copyTags(l.tags),
		})
	}
	s.mu.Unlock()
	host := strings.TrimPrefix(base, "https://")
	lo, hi, next, ok := s.page(len(items), q, "https://"+host+":443/secrets")
	if !ok {
		s.kvError(w, r, v, http.StatusBadRequest, "BadParameter", "Invalid $skiptoken or maxresults.", "")
		return
	}
	next = overrideNextLink(r, next)
	kvHeaders(w, r, v)
	writeJSON(w, http.StatusOK, secretPage{Value: items[lo:hi], NextLink: next})
}

func (s *Server) kvListVersions(w http.ResponseWriter, r *http.Request, v *vault, base, name string, q map[string][]string) {
	s.mu.Lock()
	sec := v.secrets[strings.ToLower(name)]
	var items []secretItem
	if sec != nil {
		for _, sv := range sec.versions {
			items = append(items, secretItem{
				ContentType: sv.contentType,
				ID:          base + "/secrets/" + sec.name + "/" + sv.version,
				Managed:     sv.managed,
				Attributes:  attrsOf(sv),
				Tags:        copyTags(sv.tags),
			})
		}
	}
	s.mu.Unlock()
	if items == nil {
		items = []secretItem{}
	}
	host := strings.TrimPrefix(base, "https://")
	lo, hi, next, ok := s.page(len(items), q, "https://"+host+":443/secrets/"+name+"/versions")
	if !ok {
		s.kvError(w, r, v, http.StatusBadRequest, "BadParameter", "Invalid $skiptoken or maxresults.", "")
		return
	}
	next = overrideNextLink(r, next)
	kvHeaders(w, r, v)
	writeJSON(w, http.StatusOK, secretPage{Value: items[lo:hi], NextLink: next})
}

type setRequest struct {
	Value       *string           `json:"value"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  *struct {
		Enabled *bool  `json:"enabled"`
		Nbf     *int64 `json:"nbf"`
		Exp     *int64 `json:"exp"`
	} `json:"attributes"`
}

func (s *Server) kvSet(w http.ResponseWriter, r *http.Request, v *vault, base, name string, body []byte) {
	var req setRequest
	if len(body) == 0 || json.Unmarshal(body, &req) != nil {
		s.kvError(w, r, v, http.StatusBadRequest, "BadParameter", "The request body is not valid JSON.", "")
		return
	}
	if req.Value == nil {
		s.kvError(w, r, v, http.StatusBadRequest, "BadParameter", "Property value is required.", "")
		return
	}
	now := s.now()
	sv := &secretVersion{
		version:     newID(),
		value:       *req.Value,
		contentType: req.ContentType,
		tags:        copyTags(req.Tags),
		enabled:     true,
		created:     now,
		updated:     now,
	}
	if a := req.Attributes; a != nil {
		if a.Enabled != nil {
			sv.enabled = *a.Enabled
		}
		if a.Nbf != nil {
			t := time.Unix(*a.Nbf, 0)
			sv.nbf = &t
		}
		if a.Exp != nil {
			t := time.Unix(*a.Exp, 0)
			sv.exp = &t
		}
	}
	s.mu.Lock()
	s.putVersionLocked(v, name, sv)
	b := bundleOf(base, v.secrets[strings.ToLower(name)], sv)
	s.mu.Unlock()
	kvHeaders(w, r, v)
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) kvDelete(w http.ResponseWriter, r *http.Request, v *vault, base, name string) {
	s.mu.Lock()
	sec := v.secrets[strings.ToLower(name)]
	var b secretBundle
	if sec != nil {
		b = bundleOf(base, sec, sec.latest())
		delete(v.secrets, strings.ToLower(name))
	}
	s.mu.Unlock()
	if sec == nil {
		s.kvError(w, r, v, http.StatusNotFound, "SecretNotFound", notFoundMessage(name), "")
		return
	}
	now := s.now()
	out := struct {
		RecoveryID         string            `json:"recoveryId"`
		DeletedDate        int64             `json:"deletedDate"`
		ScheduledPurgeDate int64             `json:"scheduledPurgeDate"`
		ContentType        string            `json:"contentType,omitempty"`
		ID                 string            `json:"id"`
		Attributes         secretAttributes  `json:"attributes"`
		Tags               map[string]string `json:"tags,omitempty"`
	}{
		RecoveryID:         base + "/deletedsecrets/" + sec.name,
		DeletedDate:        now.Unix(),
		ScheduledPurgeDate: now.Add(90 * 24 * time.Hour).Unix(),
		ContentType:        b.ContentType,
		ID:                 b.ID,
		Attributes:         b.Attributes,
		Tags:               b.Tags,
	}
	kvHeaders(w, r, v)
	writeJSON(w, http.StatusOK, out)
}
