package akvcredstest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// serviceVersion is the x-ms-keyvault-service-version of Azure's
	// recorded answers of May 2026 (testdata/recordings/kv-get-secret.json).
	serviceVersion   = "1.9.3347.1"
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

// kvCall is one Key Vault request being answered: the request, what is
// known about its vault and what the checks have found so far.
type kvCall struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	name   string // vault name, from the host
	c      *cloud
	v      *vault // nil when the vault does not exist
	tenant string // the tenant the challenge names
	body   []byte
	claims tokenClaims // of the accepted token
	query  url.Values
	route  vaultRoute
}

// serveVault answers a Key Vault request, checking in Azure's order:
// authentication challenge, token, vault existence, firewall, throttling,
// request validity, permission, then the secret itself.
func (s *Server) serveVault(w http.ResponseWriter, r *http.Request, name string, c *cloud) {
	body, _ := readBody(r)
	k := &kvCall{s: s, w: w, r: r, name: name, c: c, body: body}
	k.v, k.tenant = s.vaultAndTenant(name)
	for _, pass := range []func() bool{k.authenticate, k.exists, k.admit, k.parse, k.authorize} {
		if !pass() {
			return
		}
	}
	s.mu.Lock()
	k.v.sweepLocked(s.now())
	s.mu.Unlock()
	if h, ok := kvHandlers[k.route.kind]; ok {
		h(k)
	}
}

// kvHandlers answer the requests that passed every check, by kind.
var kvHandlers = map[RequestKind]func(*kvCall){
	KindGetSecret:          (*kvCall).getSecret,
	KindListSecrets:        (*kvCall).listSecrets,
	KindListVersions:       (*kvCall).listVersions,
	KindSetSecret:          (*kvCall).setSecret,
	KindDeleteSecret:       (*kvCall).deleteSecret,
	KindUpdateSecret:       (*kvCall).updateSecret,
	KindBackupSecret:       (*kvCall).backupSecret,
	KindRestoreSecret:      (*kvCall).restoreSecret,
	KindGetDeletedSecret:   (*kvCall).getDeletedSecret,
	KindListDeletedSecrets: (*kvCall).listDeletedSecrets,
	KindRecoverSecret:      (*kvCall).recoverDeletedSecret,
	KindPurgeSecret:        (*kvCall).purgeDeletedSecret,
	KindGetCertificate:     (*kvCall).getCertificate,
}

// vaultAndTenant returns the vault called name (nil if there is none) and
// the tenant its challenge names.
func (s *Server) vaultAndTenant(name string) (*vault, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vaults[name]
	if v == nil {
		return nil, DefaultTenantID
	}
	return v, v.tenant
}

// fail answers with a Key Vault error.
func (k *kvCall) fail(status int, code, msg, inner string) {
	k.s.kvError(k.w, k.r, k.v, status, code, msg, inner)
}

// reply answers 200 with body as JSON.
func (k *kvCall) reply(body any) {
	kvHeaders(k.w, k.r, k.v)
	writeJSON(k.w, http.StatusOK, body)
}

// noContent answers 204 without a body, Content-Type or Content-Length,
// as Key Vault answers a purge.
func (k *kvCall) noContent() {
	kvHeaders(k.w, k.r, k.v)
	k.w.WriteHeader(http.StatusNoContent)
}

// named is what the request names in a not-found message: NAME, or
// NAME/VERSION when it gives a version.
func (k *kvCall) named() string {
	if k.route.version != "" {
		return k.route.secret + "/" + k.route.version
	}
	return k.route.secret
}

// base is the vault's URL, "https://NAME.vault.azure.net" or its cloud's.
func (k *kvCall) base() string { return "https://" + k.v.name + k.c.vaultSuffix }

// caller and vaultDesc describe the caller and the vault in 403 messages.
func (k *kvCall) caller() string {
	return fmt.Sprintf("appid=%s;oid=%s;iss=%s", k.claims.Appid, k.claims.Oid, k.claims.Iss)
}

func (k *kvCall) vaultDesc() string { return fmt.Sprintf("%s;location=%s", k.v.name, k.v.region) }

// authenticate answers a request without a token with the 401 challenge,
// and one whose token is refused with Key Vault's 401 message.
func (k *kvCall) authenticate() bool {
	auth := k.r.Header.Get("Authorization")
	if auth == "" {
		infoFrom(k.r.Context()).Kind = KindChallenge
		k.challenge(missingToken)
		return false
	}
	claims, msg := k.s.checkVaultToken(auth, k.c, k.tenant)
	if msg != "" {
		k.challenge(msg)
		return false
	}
	k.claims = claims
	return true
}

// challenge answers 401 with the WWW-Authenticate challenge and msg.
func (k *kvCall) challenge(msg string) {
	k.w.Header().Set("WWW-Authenticate", challengeHeader(k.c, k.tenant))
	k.fail(http.StatusUnauthorized, "Unauthorized", msg, "")
}

// exists answers 404 for a vault that does not exist. Through Client() an
// unknown vault fails to resolve; this answers direct connections.
func (k *kvCall) exists() bool {
	if k.v != nil {
		return true
	}
	k.fail(http.StatusNotFound, "VaultNotFound",
		fmt.Sprintf("The vault '%s' was not found. Make sure the vault name is correct.", k.name), "")
	return false
}

// admit applies the vault's firewall, then its rate limit (a request the
// firewall stops does not count against the limit).
func (k *kvCall) admit() bool {
	k.s.mu.Lock()
	firewall, rate := k.v.firewall, k.v.rate
	admitted, retry := true, 0
	if !firewall && rate != nil {
		admitted, retry = rate.admit(k.s.now())
	}
	k.s.mu.Unlock()
	switch {
	case firewall:
		k.fail(http.StatusForbidden, "Forbidden", fmt.Sprintf(
			"Client address is not authorized and caller is not a trusted service.\r\nClient address: 127.0.0.1\r\nCaller: %s\r\nVault: %s", k.caller(), k.vaultDesc()),
			"ForbiddenByFirewall")
	case !admitted:
		if rate.retryAfter {
			k.w.Header().Set("Retry-After", strconv.Itoa(retry))
		}
		k.fail(http.StatusTooManyRequests, "Throttled", throttledMessage, "")
	default:
		return true
	}
	return false
}

// parse checks the api-version, the path and the names in it.
func (k *kvCall) parse() bool {
	k.query = decodedQuery(k.r.URL.RawQuery)
	k.route = parseVaultPath(k.r.Method, k.r.URL.Path)
	switch {
	case k.query.Get("api-version") == "":
		k.fail(http.StatusBadRequest, "BadParameter", "The api-version query parameter (?api-version=) is required for all requests.", "")
	case k.route.kind == KindOther:
		k.fail(http.StatusNotFound, "NotFound", "The requested resource was not found.", "")
	case !unnamedKinds[k.route.kind] && !secretNameRE.MatchString(k.route.secret):
		k.fail(http.StatusBadRequest, "BadParameter", "The request URI contains an invalid name: "+k.route.secret, "")
	case k.route.version != "" && !versionRE.MatchString(k.route.version):
		k.fail(http.StatusBadRequest, "BadParameter", "The request URI contains an invalid version: "+k.route.version, "")
	default:
		return true
	}
	return false
}

// kvPermission is what a request kind needs: the secret permission of an
// access policy and the action of an RBAC role.
type kvPermission struct {
	op, action string
	// objects is "certificates" for a certificate request, "" for secrets.
	objects string
}

// kvPermissions lists the permission each request kind needs; a kind not
// listed (set, update) needs none. The access-policy names are those the
// REST reference gives per operation ("requires the secrets/recover
// permission"); the RBAC actions are the secrets data actions of Key Vault's
// built-in roles.
var kvPermissions = map[RequestKind]kvPermission{
	KindGetSecret:          {"get", "Microsoft.KeyVault/vaults/secrets/getSecret/action", ""},
	KindListSecrets:        {"list", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", ""},
	KindListVersions:       {"list", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", ""},
	KindDeleteSecret:       {"delete", "Microsoft.KeyVault/vaults/secrets/delete", ""},
	KindGetDeletedSecret:   {"get", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", ""},
	KindListDeletedSecrets: {"list", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", ""},
	KindRecoverSecret:      {"recover", "Microsoft.KeyVault/vaults/secrets/recover/action", ""},
	KindPurgeSecret:        {"purge", "Microsoft.KeyVault/vaults/secrets/purge/action", ""},
	KindBackupSecret:       {"backup", "Microsoft.KeyVault/vaults/secrets/backup/action", ""},
	KindRestoreSecret:      {"restore", "Microsoft.KeyVault/vaults/secrets/restore/action", ""},
	KindGetCertificate:     {"get", "Microsoft.KeyVault/vaults/certificates/read", "certificates"},
}

// authorize answers 403 when the caller lacks the permission the request
// needs, in the shape of the vault's permission model.
func (k *kvCall) authorize() bool {
	p, needed := kvPermissions[k.route.kind]
	if !needed || k.s.allowed(k.v, k.claims, p.op) {
		return true
	}
	objects := p.objects
	if objects == "" {
		objects = "secrets"
	}
	if k.v.accessPolicy {
		k.fail(http.StatusForbidden, "Forbidden", fmt.Sprintf(
			"The user, group or application '%s' does not have %s %s permission on key vault '%s'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
			k.caller(), objects, p.op, k.vaultDesc()), "AccessDenied")
		return false
	}
	resource := "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/microsoft.keyvault/vaults/" + k.v.name
	if k.route.secret != "" {
		resource += "/" + objects + "/" + k.route.secret
	}
	k.fail(http.StatusForbidden, "Forbidden", fmt.Sprintf(
		"Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: %s\r\nAction: '%s'\r\nResource: '%s'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: %s\r\n",
		k.caller(), p.action, strings.ToLower(resource), k.vaultDesc()), "ForbiddenByRbac")
	return false
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
// ("get", "list", or one of the others, which either grants) on v.
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

// secretBundle is a secret version with its value. The embedded item's
// fields stand between value and kid in the JSON, as in Azure's answers.
type secretBundle struct {
	Value string `json:"value"`
	secretItem
	Kid string `json:"kid,omitempty"`
	// PreviousVersion is a renewed certificate's previous version (Azure
	// sets it on certificates created since June 2025).
	PreviousVersion string `json:"previousVersion,omitempty"`
}

// secretItem is a secret's (or secret version's) listed properties.
type secretItem struct {
	ContentType string            `json:"contentType,omitempty"`
	ID          string            `json:"id"`
	Managed     bool              `json:"managed,omitempty"`
	Attributes  secretAttributes  `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// listPage is one page of a list answer; the last page has
// "nextLink":null.
type listPage[T any] struct {
	Value    []T     `json:"value"`
	NextLink *string `json:"nextLink"`
}

func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	u := t.Unix()
	return &u
}

// attrsOf returns the attributes of sv in vault v, whose soft-delete
// settings give recoveryLevel and recoverableDays.
func attrsOf(v *vault, sv *secretVersion) secretAttributes {
	return secretAttributes{
		Enabled:         sv.enabled,
		Nbf:             unixPtr(sv.nbf),
		Exp:             unixPtr(sv.exp),
		Created:         sv.created.Unix(),
		Updated:         sv.updated.Unix(),
		RecoveryLevel:   v.recoveryLevel(),
		RecoverableDays: v.retentionDays,
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

// itemOf returns the listed properties of sv in vault v under the
// identifier id.
func itemOf(v *vault, id string, sv *secretVersion) secretItem {
	return secretItem{
		ContentType: sv.contentType,
		ID:          id,
		Managed:     sv.managed,
		Attributes:  attrsOf(v, sv),
		Tags:        copyTags(sv.tags),
	}
}

// versionItem is itemOf with the version's identifier,
// base/secrets/NAME/VERSION.
func versionItem(v *vault, base string, sec *secret, sv *secretVersion) secretItem {
	return itemOf(v, base+"/secrets/"+sec.name+"/"+sv.version, sv)
}

// bundleOf returns sv with its value; a certificate's backing secret
// (managed) names its key, base/keys/NAME/VERSION, in kid, and a renewed
// one its previous version in previousVersion, as in Azure.
func bundleOf(v *vault, base string, sec *secret, sv *secretVersion) secretBundle {
	b := secretBundle{Value: sv.value, secretItem: versionItem(v, base, sec, sv), PreviousVersion: sv.previous}
	if sv.managed {
		b.Kid = base + "/keys/" + sec.name + "/" + sv.version
	}
	return b
}

func notFoundMessage(what string) string {
	return fmt.Sprintf("A secret with (name/id) %s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", what)
}

// getSecret answers a get of a secret's latest version or of a given version.
func (k *kvCall) getSecret() {
	k.s.mu.Lock()
	var b secretBundle
	sec := k.v.secrets[strings.ToLower(k.route.secret)]
	sv := sec.find(k.route.version)
	if sv != nil {
		b = bundleOf(k.v, k.base(), sec, sv)
	}
	k.s.mu.Unlock()
	switch {
	case sv == nil:
		k.fail(http.StatusNotFound, "SecretNotFound", notFoundMessage(k.named()), "")
	case !b.Attributes.Enabled:
		k.fail(http.StatusForbidden, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
	case k.query.Get("outContentType") != "":
		k.transform(b)
	default:
		k.reply(b)
	}
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

// listSecrets answers a page of the vault's secrets (latest versions, by name).
func (k *kvCall) listSecrets() {
	k.s.mu.Lock()
	secs := k.v.sortedSecrets()
	items := make([]secretItem, 0, len(secs))
	for _, sec := range secs {
		items = append(items, itemOf(k.v, k.base()+"/secrets/"+sec.name, sec.latest()))
	}
	k.s.mu.Unlock()
	writePage(k, items, "/secrets")
}

// listVersions answers a page of a secret's versions ordered by version
// identifier, as Azure lists them (TestListSecretVersions recording: the
// three versions come back sorted by id, not in creation order). An unknown
// (or deleted) secret has no versions: Azure answers 200 with an empty
// page, not 404 (azure-sdk-for-js recording "can list secret versions (non
// existing)", whose test still expects no error).
func (k *kvCall) listVersions() {
	name := k.route.secret
	k.s.mu.Lock()
	items := []secretItem{}
	if sec := k.v.secrets[strings.ToLower(name)]; sec != nil {
		versions := append([]*secretVersion(nil), sec.versions...)
		sort.Slice(versions, func(i, j int) bool {
			return strings.ToLower(versions[i].version) < strings.ToLower(versions[j].version)
		})
		for _, sv := range versions {
			items = append(items, versionItem(k.v, k.base(), sec, sv))
		}
	}
	k.s.mu.Unlock()
	writePage(k, items, "/secrets/"+name+"/versions")
}

// writePage answers a list request with the page of items its $skiptoken
// and maxresults select, and a nextLink to path on port 443 when more follow
// (or the Fault's NextLink).
func writePage[T any](k *kvCall, items []T, path string) {
	lo, hi, next, ok := k.s.page(len(items), k.query, k.base()+":443"+path)
	if !ok {
		k.fail(http.StatusBadRequest, "BadParameter", "Invalid $skiptoken or maxresults.", "")
		return
	}
	k.reply(listPage[T]{Value: items[lo:hi], NextLink: overrideNextLink(k.r, next)})
}

type setRequest struct {
	Value       *string           `json:"value"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  *attrsRequest     `json:"attributes"`
}

// attrsRequest is the attributes object of a set or update request.
type attrsRequest struct {
	Enabled *bool  `json:"enabled"`
	Nbf     *int64 `json:"nbf"`
	Exp     *int64 `json:"exp"`
}

// apply sets the attributes the request gives on sv.
func (a *attrsRequest) apply(sv *secretVersion) {
	if a == nil {
		return
	}
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

// newVersion returns the secret version the request describes, created now.
func (req *setRequest) newVersion(now time.Time) *secretVersion {
	sv := &secretVersion{
		version:     newID(),
		value:       *req.Value,
		contentType: req.ContentType,
		tags:        copyTags(req.Tags),
		enabled:     true,
		created:     now,
		updated:     now,
	}
	req.Attributes.apply(sv)
	return sv
}

// setSecret answers a PUT of a secret: a new version, which becomes the latest.
func (k *kvCall) setSecret() {
	var req setRequest
	if len(k.body) == 0 || json.Unmarshal(k.body, &req) != nil {
		k.fail(http.StatusBadRequest, "BadParameter", "The request body is not valid JSON.", "")
		return
	}
	if req.Value == nil {
		k.fail(http.StatusBadRequest, "BadParameter", "Property value is required.", "")
		return
	}
	name := k.route.secret
	sv := req.newVersion(k.s.now())
	k.s.mu.Lock()
	if _, deleted := k.v.deleted[strings.ToLower(name)]; deleted {
		k.s.mu.Unlock()
		k.deletedConflict(name)
		return
	}
	k.s.putVersionLocked(k.v, name, sv)
	sec := k.v.secrets[strings.ToLower(name)]
	b := bundleOf(k.v, k.base(), sec, sv)
	stored, created := sec.name, *sv
	k.s.mu.Unlock()
	k.s.newVersionCreated(k.v.name, stored, created)
	k.reply(b)
}
