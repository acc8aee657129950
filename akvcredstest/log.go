package akvcredstest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RequestKind is what a logged request asked for: one of the Kind*
// constants, set from the request's host, method and path (see
// Request.Kind and Server.Count).
type RequestKind string

// Request kinds recorded in Request.Kind.
const (
	// KindChallenge is a Key Vault request without an Authorization header,
	// answered with the 401 authentication challenge.
	KindChallenge RequestKind = "challenge"
	// KindGetSecret is a Key Vault get of a secret (latest or a version).
	KindGetSecret RequestKind = "get-secret"
	// KindListSecrets is a Key Vault list of secret properties (one page).
	KindListSecrets RequestKind = "list-secrets"
	// KindListVersions is a Key Vault list of a secret's versions (one page).
	KindListVersions RequestKind = "list-versions"
	// KindSetSecret is a Key Vault set (PUT) of a secret.
	KindSetSecret RequestKind = "set-secret"
	// KindDeleteSecret is a Key Vault delete of a secret.
	KindDeleteSecret RequestKind = "delete-secret"
	// KindUpdateSecret is a Key Vault update (PATCH) of a secret version's
	// properties.
	KindUpdateSecret RequestKind = "update-secret"
	// KindBackupSecret is a Key Vault backup of a secret.
	KindBackupSecret RequestKind = "backup-secret"
	// KindRestoreSecret is a Key Vault restore of a secret from a backup.
	KindRestoreSecret RequestKind = "restore-secret"
	// KindGetDeletedSecret is a Key Vault get of a deleted secret.
	KindGetDeletedSecret RequestKind = "get-deleted-secret"
	// KindListDeletedSecrets is a Key Vault list of deleted secrets (one page).
	KindListDeletedSecrets RequestKind = "list-deleted-secrets"
	// KindRecoverSecret is a Key Vault recover of a deleted secret.
	KindRecoverSecret RequestKind = "recover-secret"
	// KindPurgeSecret is a Key Vault purge of a deleted secret.
	KindPurgeSecret RequestKind = "purge-secret"
	// KindGetCertificate is a Key Vault get of a certificate (latest or a
	// version), GET /certificates/{name}[/{version}].
	KindGetCertificate RequestKind = "get-certificate"
	// KindToken is a request to the Entra ID token endpoint.
	KindToken RequestKind = "token"
	// KindIMDS is a request to the managed-identity (IMDS) token endpoint.
	KindIMDS RequestKind = "imds"
	// KindOpenID is a request for Entra ID's OpenID configuration.
	KindOpenID RequestKind = "openid"
	// KindJWKS is a request for Entra ID's token signing keys
	// (/{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys).
	KindJWKS RequestKind = "jwks"
	// KindDiscovery is a request to Entra ID's instance discovery endpoint.
	KindDiscovery RequestKind = "instance-discovery"
	// KindOther is any other request.
	KindOther RequestKind = "other"
)

// Request is one logged request. Its JSON form (the lines WithRequestLog
// writes and RequestLogHandler serves) leaves out the query.
type Request struct {
	// Time is when the request arrived, by the server's clock.
	Time time.Time `json:"time"`
	// Method, Host (without port, lower case) and Path (decoded) of the request.
	Method string `json:"method"`
	Host   string `json:"host"`
	Path   string `json:"path"`
	// Query is the decoded query (percent-encoded keys are decoded).
	Query url.Values `json:"-"`
	// Authorization reports whether an Authorization header was sent.
	Authorization bool `json:"authorization"`
	// Status is the response status, or 0 if the connection was dropped.
	Status int `json:"status"`
	// Kind is one of the Kind* constants.
	Kind RequestKind `json:"kind"`
	// Vault and Secret name the vault and secret of a Key Vault request.
	Vault  string `json:"vault,omitempty"`
	Secret string `json:"secret,omitempty"`
}

// Requests returns a copy of the request log, in arrival order. A request is
// logged when its response has been sent (or its connection dropped).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Query = cloneValues(r.Query)
		out[i] = r
	}
	return out
}

// Count returns how many logged requests are of the given kind.
func (s *Server) Count(kind RequestKind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// reqInfo is the per-request record filled in while a request is served.
type reqInfo struct {
	Request
	imds bool
}

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// decodedQuery parses the raw query, decoding percent-encoded keys and values.
// Malformed pairs are skipped rather than rejected.
func decodedQuery(raw string) url.Values {
	out := url.Values{}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			dk = k
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			dv = v
		}
		out[dk] = append(out[dk], dv)
	}
	return out
}

// classify sets the kind, vault and secret of a request from its host, method
// and path. Handlers may refine the kind (for example to KindChallenge).
func classify(r *http.Request, imds bool) (kind RequestKind, vaultName, secretName string) {
	if imds {
		if r.URL.Path == imdsTokenPath {
			return KindIMDS, "", ""
		}
		return KindOther, "", ""
	}
	host := hostOnly(r.Host)
	if isLoginHost(host) {
		p := r.URL.Path
		switch {
		case p == "/common/discovery/instance":
			return KindDiscovery, "", ""
		case strings.HasSuffix(p, "/.well-known/openid-configuration"):
			return KindOpenID, "", ""
		case isJWKSPath(p):
			return KindJWKS, "", ""
		case strings.HasSuffix(p, "/oauth2/v2.0/token") || strings.HasSuffix(p, "/oauth2/token"):
			return KindToken, "", ""
		}
		return KindOther, "", ""
	}
	name, _, ok := parseVaultHost(host)
	if !ok {
		return KindOther, "", ""
	}
	route := parseVaultPath(r.Method, r.URL.Path)
	return route.kind, name, route.secret
}

// vaultRoute is a parsed Key Vault path.
type vaultRoute struct {
	kind    RequestKind
	secret  string
	version string
}

// vaultRoutes are the Key Vault secrets operations (REST API reference,
// "Secrets"), by method and path shape: "*" stands for a secret name
// (second segment) or version (third).
var vaultRoutes = map[string]RequestKind{
	"GET secrets":                   KindListSecrets,
	"GET secrets/*":                 KindGetSecret,
	"PUT secrets/*":                 KindSetSecret,
	"DELETE secrets/*":              KindDeleteSecret,
	"PATCH secrets/*":               KindUpdateSecret,
	"POST secrets/restore":          KindRestoreSecret,
	"GET secrets/*/versions":        KindListVersions,
	"POST secrets/*/backup":         KindBackupSecret,
	"GET secrets/*/*":               KindGetSecret,
	"PATCH secrets/*/*":             KindUpdateSecret,
	"GET deletedsecrets":            KindListDeletedSecrets,
	"GET deletedsecrets/*":          KindGetDeletedSecret,
	"DELETE deletedsecrets/*":       KindPurgeSecret,
	"POST deletedsecrets/*/recover": KindRecoverSecret,
	"GET certificates/*":            KindGetCertificate,
	"GET certificates/*/*":          KindGetCertificate,
}

// unnamedKinds are the request kinds whose path names no secret.
var unnamedKinds = map[RequestKind]bool{
	KindListSecrets: true, KindListDeletedSecrets: true, KindRestoreSecret: true,
}

// parseVaultPath parses a Key Vault path against vaultRoutes. A trailing
// slash is dropped ("/secrets/name/" is the latest version). The most
// literal shape wins: POST /secrets/restore is a restore, GET
// /secrets/restore a get of the secret "restore". Anything else is
// KindOther, with the secret name when the path has one.
func parseVaultPath(method, p string) vaultRoute {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	route := vaultRoute{kind: KindOther}
	if len(parts) > 1 {
		route.secret = parts[1]
	}
	if len(parts) > 3 {
		return route
	}
	for _, shape := range routeShapes(parts) {
		if kind, ok := vaultRoutes[method+" "+shape]; ok {
			route.kind = kind
			break
		}
	}
	switch {
	case unnamedKinds[route.kind]:
		route.secret = ""
	case len(parts) == 3 && (route.kind == KindGetSecret || route.kind == KindUpdateSecret || route.kind == KindGetCertificate):
		route.version = parts[2]
	}
	return route
}

// routeShapes lists the shapes a path may match, most literal first.
func routeShapes(parts []string) []string {
	switch len(parts) {
	case 1:
		return []string{parts[0]}
	case 2:
		return []string{parts[0] + "/" + parts[1], parts[0] + "/*"}
	}
	return []string{parts[0] + "/*/" + parts[2], parts[0] + "/*/*"}
}

// logRequest appends a finished request to the log and, with
// WithRequestLog, writes it as a JSON line.
func (s *Server) logRequest(r Request) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
	if s.cfg.requestLog == nil {
		return
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	_, _ = s.cfg.requestLog.Write(append(b, '\n'))
}

// RequestLogHandler returns a read-only http.Handler over the request log,
// for a separate admin listener (the akvcreds command's "emulator
// --admin-addr"): GET /requests answers the log as a JSON array of
// requests in arrival order (the same objects as WithRequestLog's lines),
// and GET /requests?kind=token only those of one kind. Any other path is
// 404 and any other method 405. Nothing in the log is a token, client
// secret or secret value.
func (s *Server) RequestLogHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/requests":
			http.NotFound(w, r)
			return
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		kind := RequestKind(r.URL.Query().Get("kind"))
		out := []Request{}
		for _, req := range s.Requests() {
			if kind == "" || req.Kind == kind {
				out = append(out, req)
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
}
