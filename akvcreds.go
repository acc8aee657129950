// Package akvcreds fetches credentials from Azure Key Vault.
//
// Given vault names and secret names, every pair becomes a [Credential]
// named "VAULT/SECRET" whose Username is the secret name and whose Password
// is the secret's value — the mapping the well-known SOAR Key Vault
// integrations use — fetched concurrently, paced per vault below Key Vault's
// service limit, with one typed error per failure that says what to fix, and
// without ever printing a secret.
//
// A Client authenticates in exactly one way: as an app registration with a
// client secret ([WithClientSecret]) or a certificate
// ([WithClientCertificate]), with Kubernetes workload identity
// ([WithWorkloadIdentity]), from the standard AZURE_* variables
// ([WithEnvironmentCredential]), as the host's system-assigned managed
// identity ([WithSystemAssignedIdentity]), as a user-assigned managed identity
// ([WithUserAssignedIdentity]), or with a credential the caller already holds
// ([WithTokenCredential]). The identity needs the "Key Vault Secrets User"
// role on the vault (Azure RBAC) or, under the access-policy model, the
// secret "Get" permission ("List" too when no secret names are given).
//
//	c, err := akvcreds.New(
//		akvcreds.WithClientSecret(tenantID, clientID, clientSecret),
//		akvcreds.WithVaults("myvault"),
//		akvcreds.WithSecrets("db-password", "api-key"),
//	)
//	if err != nil { ... }                      // bad input: wraps ErrInvalidArgument
//	creds, err := c.FetchCredentials(ctx)      // every credential it got ...
//	for _, e := range akvcreds.FetchErrors(err) { ... } // ... and one *FetchError per failure
//
// Failures wrap one of the sentinel errors ([ErrInvalidArgument],
// [ErrUnauthenticated], [ErrForbidden], [ErrNotFound], [ErrDisabled],
// [ErrThrottled], [ErrUnavailable], [ErrMalformed], [ErrExpired]); test them
// with errors.Is.
//
// The package akvcredstest is an in-process Key Vault, Entra ID and
// managed-identity emulator for testing code that uses akvcreds without Azure.
package akvcreds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"golang.org/x/sync/singleflight"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/cache"
	"github.com/akvcreds/akvcreds/internal/cloud"
	"github.com/akvcreds/akvcreds/internal/ident"
	"github.com/akvcreds/akvcreds/internal/throttle"
)

// The kinds of failure. Every error from New and every *FetchError wraps
// exactly one of them (a cancelled fetch wraps the context's error instead).
var (
	// ErrInvalidArgument: an option, vault, secret name or identifier is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnauthenticated: no token could be had (wrong tenant or client ID,
	// wrong or expired client secret, no managed identity), or Key Vault rejected it.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the identity lacks permission (RBAC role or access policy),
	// or the vault's firewall blocks the caller.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: no such secret (or version) in the vault.
	ErrNotFound = errors.New("not found")
	// ErrDisabled: the secret is disabled.
	ErrDisabled = errors.New("secret disabled")
	// ErrThrottled: Key Vault kept answering 429 after akvcreds backed off and retried.
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: the network or Key Vault failed (connection errors, 5xx)
	// after retries, or Azure answered in a way akvcreds does not recognise.
	ErrUnavailable = errors.New("unavailable")
	// ErrMalformed: the secret's value cannot be made into a credential (not
	// the JSON the mapping expects, or the Mapper failed).
	ErrMalformed = errors.New("malformed value")
	// ErrExpired: a named secret is expired or not yet valid, and
	// WithExpiredPolicy(ExpiredReject) is set.
	ErrExpired = errors.New("secret expired or not yet valid")
)

// FetchError is one failed secret (or, with Secret empty, a failed listing of
// a vault). Err wraps one of the sentinel errors and the underlying cause;
// Error says what went wrong and what to do about it.
type FetchError struct {
	Vault   string // vault name
	Secret  string // secret name; "" when listing the vault failed
	Version string // the pinned version, if any
	Err     error

	// What Azure answered, when it answered: the HTTP status, Key Vault's
	// error code ("Forbidden", "SecretNotFound", "Throttled", ...) or Entra
	// ID's ("invalid_client"), the inner code ("ForbiddenByRbac",
	// "AccessDenied", "ForbiddenByFirewall", "SecretDisabled"), the AADSTS
	// code of a token failure ("AADSTS7000215") and Key Vault's request ID
	// (x-ms-request-id), for support cases.
	Status    int
	Code      string
	InnerCode string
	AADSTS    string
	RequestID string
}

// newFetchError fills in what Azure answered from err's chain.
func newFetchError(vault, secret, version string, err error) *FetchError {
	fe := &FetchError{Vault: vault, Secret: secret, Version: version, Err: err}
	var ae *azure.Error
	if errors.As(err, &ae) {
		fe.Status, fe.Code, fe.InnerCode, fe.AADSTS, fe.RequestID = ae.Status, ae.Code, ae.InnerCode, ae.AADSTS, ae.RequestID
	}
	return fe
}

// Error implements error.
func (e *FetchError) Error() string {
	var b strings.Builder
	b.WriteString("akvcreds: ")
	fmt.Fprintf(&b, "vault %q", e.Vault)
	if e.Secret != "" {
		fmt.Fprintf(&b, " secret %q", e.Secret)
	}
	if e.Version != "" {
		fmt.Fprintf(&b, " version %s", e.Version)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Err.
func (e *FetchError) Unwrap() error { return e.Err }

// FetchErrors returns the *FetchError values joined in err (as returned by
// FetchCredentials), in order. It returns nil for nil.
func FetchErrors(err error) []*FetchError {
	var out []*FetchError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *FetchError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		default:
			var fe *FetchError
			if errors.As(err, &fe) {
				out = append(out, fe)
			}
		}
	}
	walk(err)
	return out
}

// Client fetches credentials. It is safe for concurrent use, and keeps one
// Key Vault client (with its token and authentication challenge) per vault
// for its whole life. Create one with New and share it.
type Client struct {
	cloud    cloud.Cloud
	cred     azcore.TokenCredential
	hc       *http.Client
	ownedTr  *http.Transport // closed by Close when akvcreds created it
	vaults   []vaultRef
	secrets  []secretRef // nil: list every enabled secret
	log      *slog.Logger
	sem      chan struct{} // bounds in-flight Key Vault requests across all calls
	conc     int
	cache    *cache.Cache[Credential] // nil when caching is off
	flight   singleflight.Group
	retry    retryPolicy
	filters  filters
	mapping  mapping
	staleMax time.Duration // WithStaleOnError; 0: off

	mu    sync.Mutex
	conns map[string]*vaultConn // by vault name
}

type vaultRef struct{ name, url string }

type secretRef struct{ name, version string }

// vaultConn is the per-vault state shared by every fetch.
type vaultConn struct {
	ref vaultRef
	kv  *azure.Vault
	lim *throttle.Limiter

	mu     sync.Mutex
	primed bool          // a request has been authenticated: the challenge is done
	primer chan struct{} // closed when the request priming the vault finishes
}

// New validates every option once and returns a Client. It makes no network
// request: the first fetch authenticates. A bad option is an error wrapping
// ErrInvalidArgument that names the option and the problem (never a secret);
// all problems are reported together.
func New(opts ...Option) (*Client, error) {
	s := defaultSettings()
	for i, o := range opts {
		if o == nil {
			s.problems = append(s.problems, invalid("New", fmt.Errorf("an Option is nil (option %d of %d)", i+1, len(opts))))
			continue
		}
		o.apply(&s)
	}
	c, err := s.build()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Close releases the Client's idle connections when akvcreds created the
// HTTP transport (no WithHTTPClient). The Client must not be used afterwards.
func (c *Client) Close() error {
	if c.ownedTr != nil {
		c.ownedTr.CloseIdleConnections()
	}
	return nil
}

// Invalidate drops every cached credential, so the next fetch reads Key
// Vault again. It does nothing without WithCache.
func (c *Client) Invalidate() {
	if c.cache != nil {
		c.cache.Clear()
	}
}

// InvalidateCredential drops the cached values of one "vault/secret" (every
// version). It does nothing without WithCache.
func (c *Client) InvalidateCredential(name string) error {
	id, err := ident.ParseIdentifier(name, c.cloud)
	if err != nil {
		return invalid("InvalidateCredential", err)
	}
	if c.cache != nil {
		c.cache.DeletePrefix(cacheKeyPrefix(id.Vault, id.Secret))
	}
	return nil
}

// conn returns the vault's shared state, creating its Key Vault client on
// first use.
func (c *Client) conn(ref vaultRef) (*vaultConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if vc, ok := c.conns[ref.name]; ok {
		return vc, nil
	}
	kv, err := azure.NewVault(ref.url, c.cred, azure.VaultOptions{
		HTTPClient:    c.hc,
		MaxRetries:    c.retry.maxRetries,
		RetryDelay:    c.retry.delay,
		MaxRetryDelay: c.retry.maxDelay,
		TryTimeout:    c.retry.tryTimeout,
	})
	if err != nil {
		return nil, err
	}
	vc := &vaultConn{ref: ref, kv: kv, lim: throttle.New(throttle.DefaultRate, throttle.DefaultBurst)}
	c.conns[ref.name] = vc
	return vc, nil
}

// enter admits a request to the vault. Until one request has been
// authenticated, requests go one at a time, so that a burst of concurrent
// first requests costs one authentication challenge and one token, not one
// each. first reports whether the caller is priming the vault and must call
// leave.
func (vc *vaultConn) enter(ctx context.Context) (first bool, err error) {
	for {
		vc.mu.Lock()
		if vc.primed {
			vc.mu.Unlock()
			return false, nil
		}
		if vc.primer == nil {
			vc.primer = make(chan struct{})
			vc.mu.Unlock()
			return true, nil
		}
		wait := vc.primer
		vc.mu.Unlock()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-wait:
		}
	}
}

// leave ends a priming request; authenticated says whether the vault
// accepted the token (any answer but an authentication failure).
func (vc *vaultConn) leave(authenticated bool) {
	vc.mu.Lock()
	if authenticated {
		vc.primed = true
	}
	close(vc.primer)
	vc.primer = nil
	vc.mu.Unlock()
}
