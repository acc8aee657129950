package azure

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// tryPolicy is the vault pipeline's one per-retry policy. Per-retry
// policies run below the SDK's challenge (bearer token) policy, so it sees
// every attempt with its Authorization header and every 401 before the SDK
// parses it. For each attempt it:
//
//   - counts it when it carries a token (CountAttempts), and reports a
//     retry (VaultOptions.Retrying);
//   - makes a vault host that does not resolve final for azcore's retry
//     policy: no such vault exists (or its private DNS zone is missing), and
//     retrying only delays the report;
//   - checks Key Vault's authentication challenge. The SDK's parser indexes
//     the authorization URL's path segments without checking them
//     (authorization="https://x" panics with an index out of range) and
//     takes any resource; a challenge it could misread fails the request
//     with KindUnauthenticated, Code "MalformedChallenge", not retried.
//
// One policy rather than three: each policy costs a copy of the request.
type tryPolicy struct {
	host     string
	retrying func(ctx context.Context, attempt int) // VaultOptions.Retrying
}

// Do implements policy.Policy.
func (g tryPolicy) Do(req *policy.Request) (*http.Response, error) {
	if n, ok := req.Raw().Context().Value(attemptsKey{}).(*atomic.Int32); ok && req.Raw().Header.Get("Authorization") != "" {
		if a := n.Add(1); a > 1 && g.retrying != nil {
			g.retrying(req.Raw().Context(), int(a))
		}
	}
	res, err := req.Next()
	if err != nil {
		if isDNSNotFound(err) {
			return nil, nonRetriable{err}
		}
		return res, err
	}
	if res.StatusCode != http.StatusUnauthorized {
		return res, nil
	}
	h := res.Header.Get("WWW-Authenticate")
	if h == "" {
		return res, nil // the SDK does not parse it: an ordinary 401
	}
	problem := checkChallenge(h, g.host)
	if problem == "" {
		return res, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, MaxBodySize))
	_ = res.Body.Close()
	d := "Key Vault's authentication challenge (WWW-Authenticate) " + problem
	return nil, nonRetriable{&Error{
		Kind:      KindUnauthenticated,
		Status:    http.StatusUnauthorized,
		Code:      "MalformedChallenge",
		RequestID: res.Header.Get("x-ms-request-id"),
		Detail:    d,
		Err:       &causeError{msg: d},
	}}
}

// checkChallenge returns what is wrong with the challenge h of the vault at
// vaultHost, "" when the SDK can use it safely. It reads the parameters as
// the SDK does (sdkChallengeParams) and requires: the Bearer scheme; an
// authorization (or authorization_uri) that is an https URL whose first
// path segment is a tenant, which the SDK's own split finds too; and, unless
// it is a claims challenge, a scope or resource that is an https URL of
// which the vault's host is a subdomain.
func checkChallenge(h, vaultHost string) string {
	scheme, _, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "is not a Bearer challenge"
	}
	vals := sdkChallengeParams(h)
	authz := vals["authorization"]
	if authz == "" {
		authz = vals["authorization_uri"]
	}
	if p := checkAuthority(authz); p != "" {
		return p
	}
	scope := vals["scope"]
	if scope == "" {
		scope = vals["resource"]
	}
	if scope == "" && strings.EqualFold(vals["error"], "insufficient_claims") {
		return "" // a claims challenge: the SDK reads no resource from it
	}
	return checkResource(scope, vaultHost)
}

// sdkChallengeParams reads a challenge's parameters exactly as the SDK's
// Key Vault challenge policy does (keyvault/internal
// updateTokenRequestOptions), so that the guard checks what the SDK will
// use: "Bearer " removed, split on spaces, key=value pairs with exactly one
// "=", quotes and a trailing comma removed, the last of a repeated key kept.
func sdkChallengeParams(h string) map[string]string {
	vals := map[string]string{}
	for _, part := range strings.Split(strings.ReplaceAll(h, "Bearer ", ""), " ") {
		kv := strings.Split(part, "=")
		if len(kv) == 2 {
			vals[kv[0]] = strings.TrimSuffix(strings.ReplaceAll(kv[1], `"`, ""), ",")
		}
	}
	return vals
}

// checkAuthority checks the challenge's authorization URL.
func checkAuthority(a string) string {
	if a == "" {
		return "names no authorization server (authorization)"
	}
	u, err := url.Parse(a)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "names an authorization server that is not an https URL: " + quoteShort(a)
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if tenant == "" {
		return "names an authorization server without a tenant: " + quoteShort(a)
	}
	if !validTenant(tenant) {
		return "names an invalid tenant: " + quoteShort(tenant)
	}
	// The SDK takes the tenant as the fourth "/"-separated part, commas
	// removed: it must be the same.
	if parts := strings.Split(a, "/"); len(parts) < 4 || strings.ReplaceAll(parts[3], ",", "") != tenant {
		return "names an authorization server the SDK would misread: " + quoteShort(a)
	}
	return ""
}

// validTenant reports whether t can be a tenant: a GUID or a domain name
// (letters, digits, dots and hyphens), as azidentity requires.
func validTenant(t string) bool {
	if len(t) > 256 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !isAlnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// checkResource checks the challenge's scope or resource.
func checkResource(r, vaultHost string) string {
	if r == "" {
		return "names no resource or scope"
	}
	u, err := url.Parse(r)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Opaque != "" {
		return "names a resource that is not an https URL: " + quoteShort(r)
	}
	if !strings.HasSuffix(strings.ToLower(vaultHost), "."+strings.ToLower(u.Hostname())) {
		return "names the resource " + quoteShort(r) + ", which is not the vault's (" + vaultHost + ")"
	}
	return ""
}
