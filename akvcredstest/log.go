package akvcredstest

import (
	"context"
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
	// KindToken is a request to the Entra ID token endpoint.
	KindToken RequestKind = "token"
	// KindIMDS is a request to the managed-identity (IMDS) token endpoint.
	KindIMDS RequestKind = "imds"
	// KindOpenID is a request for Entra ID's OpenID configuration.
	KindOpenID RequestKind = "openid"
	// KindDiscovery is a request to Entra ID's instance discovery endpoint.
	KindDiscovery RequestKind = "instance-discovery"
	// KindOther is any other request.
	KindOther RequestKind = "other"
)

// Request is one logged request.
type Request struct {
	// Time is when the request arrived, by the server's clock.
	Time time.Time
	// Method, Host (without port, lower case) and Path (decoded) of the request.
	Method, Host, Path string
	// Query is the decoded query (percent-encoded keys are decoded).
	Query url.Values
	// Authorization reports whether an Authorization header was sent.
	Authorization bool
	// Status is the response status, or 0 if the connection was dropped.
	Status int
	// Kind is one of the Kind* constants.
	Kind RequestKind
	// Vault and Secret name the vault and secret of a Key Vault request.
	Vault, Secret string
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

// secretMethods are the request kinds of /secrets/{name}, by method.
var secretMethods = map[string]RequestKind{
	http.MethodGet:    KindGetSecret,
	http.MethodPut:    KindSetSecret,
	http.MethodDelete: KindDeleteSecret,
}

// parseVaultPath parses a Key Vault path: /secrets (list), /secrets/{name}
// (get, set, delete), /secrets/{name}/versions (list versions) and
// /secrets/{name}/{version} (get). Anything else is KindOther, with the
// secret name when the path has one.
func parseVaultPath(method, p string) vaultRoute {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if parts[0] != "secrets" {
		return vaultRoute{kind: KindOther}
	}
	// Drop one trailing empty segment: "/secrets/name/" means the latest version.
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	route := vaultRoute{kind: KindOther}
	if len(parts) > 1 {
		route.secret = parts[1]
	}
	get := method == http.MethodGet
	switch {
	case len(parts) == 1 && get:
		route.kind = KindListSecrets
	case len(parts) == 2 && secretMethods[method] != "":
		route.kind = secretMethods[method]
	case len(parts) == 3 && get && parts[2] == "versions":
		route.kind = KindListVersions
	case len(parts) == 3 && get:
		route.kind, route.version = KindGetSecret, parts[2]
	}
	return route
}
