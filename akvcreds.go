// Package akvcreds fetches credentials from Azure Key Vault.
//
// Given vault names and secret names, every pair becomes a [Credential]
// named "VAULT/SECRET" whose Username is the secret name and whose Password
// is the secret's value — the mapping the well-known SOAR Key Vault
// integrations use — fetched concurrently, paced per vault below Key Vault's
// service limit, with one typed error per failure that says what to fix, and
// without ever printing a secret.
//
// # Authentication
//
// A Client authenticates in exactly one way: as an app registration with a
// client secret ([WithClientSecret]) or a certificate
// ([WithClientCertificate]), from the standard AZURE_* variables, Kubernetes
// workload identity included ([WithEnvironmentCredential]), as the host's
// system-assigned managed identity ([WithSystemAssignedIdentity]), as a
// user-assigned managed identity ([WithUserAssignedIdentity]), or with a
// credential the caller already holds ([WithTokenCredential]). The identity
// needs the "Key Vault Secrets User" role on the vault (Azure RBAC) or, under
// the access-policy model, the secret "Get" permission ("List" too when a
// vault is listed).
//
// # Fetching
//
//	c, err := akvcreds.New(
//		akvcreds.WithClientSecret(tenantID, clientID, clientSecret),
//		akvcreds.WithVaults("myvault"),
//		akvcreds.WithSecrets("db-password", "api-key"), // none: list the vault
//	)
//	if err != nil { ... }                 // bad input: wraps ErrInvalidArgument
//	creds, err := c.FetchCredentials(ctx) // every credential it got ...
//	for _, fe := range akvcreds.FetchErrors(err) {
//		log.Printf("%s: %s", fe.Kind, fe.Remedy) // ... and one *FetchError per failure
//	}
//
// [Client.FetchCredential] reads one "vault/secret". Per call,
// [FetchNames] chooses other vaults and secrets and [FetchSummary] reports
// what the call did, as a [Batch] with its counts. Without secret names, each vault is listed and every
// enabled secret within its validity period is read; [WithFilters] (with
// [NameGlob] — NameGlob("db-*", "api-*") for prefixes — [Tag],
// [ContentTypeIs], [Not], [Any], or a [Filter] of your own)
// decides on the listing, before any value is read. [WithMapper] turns
// secrets into usernames and passwords another way.
//
// # Errors
//
// Every failure is a [*FetchError] with a [Kind] — one of the sentinels
// [ErrInvalidArgument], [ErrUnauthenticated], [ErrForbidden], [ErrNotFound],
// [ErrDisabled], [ErrThrottled], [ErrUnavailable], [ErrMalformed],
// [ErrExpired], tested with errors.Is or by comparing Kind — and a Remedy
// that says what to fix in Azure. One bad secret never hides the good ones.
//
// # Watching and caching
//
// [Client.Watch] keeps credentials current: it lists the vaults every
// interval, re-reads only what changed, and hands a [Batch] of what was
// added, changed and removed to a handler; a handler that fails sees the
// same changes again. With [WithEventGrid] the Client is also the webhook
// of an Azure Event Grid subscription on the vaults ([Client.ServeHTTP]):
// a running Watch reads a rotated secret as soon as Key Vault's event
// arrives, and its interval becomes a safety reconcile.
// [WithCache] serves repeat fetches from memory, and
// keeps serving them for up to another time to live, marked Stale, while
// Key Vault cannot be reached.
//
// # Observability
//
// [WithLogger] logs every read, call and Watch cycle with slog;
// [WithOpenTelemetry] records OpenTelemetry spans (a call, its vaults,
// listings and reads, with the Azure SDK's HTTP spans beneath) and
// metrics (credentials by source, failures by kind, throttling, request
// latency, the cache, Watch changes). Neither ever records a secret.
//
// # Testing
//
// The package akvcredstest is an in-process Key Vault, Entra ID and
// managed-identity emulator for testing code that uses akvcreds without
// Azure: give its Client to [WithHTTPClient].
package akvcreds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/cache"
	"github.com/akvcreds/akvcreds/internal/cloud"
	"github.com/akvcreds/akvcreds/internal/flight"
	"github.com/akvcreds/akvcreds/internal/ident"
	"github.com/akvcreds/akvcreds/internal/telemetry"
	"github.com/akvcreds/akvcreds/internal/throttle"
)

// Client fetches credentials. It is safe for concurrent use, and keeps one
// Key Vault client (with its token and authentication challenge) and one
// pacer per vault for its whole life. Create one with New and share it.
type Client struct {
	cloud   cloud.Cloud
	cred    azcore.TokenCredential
	hc      *http.Client
	vaults  []vaultRef
	secrets []secretRef // nil: list every vault
	log     *slog.Logger
	sem     chan struct{} // bounds the Key Vault requests in flight
	conc    int
	cache   *cache.Cache[Credential] // nil without WithCache; holds credentials before mapping
	flight  flight.Group[flightResult]
	filters filters
	mapper  mapper
	retry   retryPolicy
	now     func() time.Time
	// certExpiry is the window of WithCertificateExpiry (0: none).
	certExpiry time.Duration
	tel        *telemetry.T // nil: nothing recorded (WithOpenTelemetry)
	events     *receiver    // nil without WithEventGrid

	mu    sync.Mutex
	conns map[string]*vaultConn // by vault name
}

type vaultRef struct{ name, url string }

type retryPolicy struct {
	maxRetries     int
	delay          time.Duration
	maxDelay       time.Duration
	tryTimeout     time.Duration
	throttleBudget time.Duration // 0: throttle.Budget
}

// New checks every option and returns a Client. It makes no network
// request: the first fetch authenticates. A bad option is an error wrapping
// ErrInvalidArgument that names the option and the problem (never a
// secret); all problems are reported together.
func New(opts ...Option) (*Client, error) {
	s := defaultSettings()
	var errs []error
	for i, o := range opts {
		if o == nil {
			errs = append(errs, invalid("New", fmt.Errorf("an Option is nil (option %d of %d)", i+1, len(opts))))
			continue
		}
		if err := o.apply(&s); err != nil {
			errs = append(errs, err)
		}
	}
	cc, vaults, auth, more := s.resolve()
	errs = append(errs, more...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := &Client{
		cloud:      cc,
		vaults:     vaults,
		secrets:    dedupSecrets(s.secrets),
		log:        s.logger,
		conc:       s.concurrency,
		sem:        make(chan struct{}, s.concurrency),
		filters:    s.filters,
		mapper:     s.mapper,
		now:        s.now,
		certExpiry: s.certExpiry,
		conns:      map[string]*vaultConn{},
		retry: retryPolicy{
			maxRetries:     s.maxRetries,
			delay:          400 * time.Millisecond,
			maxDelay:       10 * time.Second,
			tryTimeout:     time.Minute,
			throttleBudget: s.throttleBudget,
		},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.hc = noRedirectClient(s.httpClient)
	if s.cacheTTL > 0 {
		c.cache = cache.New[Credential](s.cacheTTL, s.now)
	}
	tel, err := telemetry.New(s.tracers, s.meters)
	if err != nil {
		return nil, invalid("WithOpenTelemetry", err)
	}
	c.tel = tel
	cred, err := azure.NewCredential(auth, azure.CredentialOptions{Cloud: cc, HTTPClient: c.hc, MaxRetries: s.maxRetries,
		IMDSEndpoint: s.imdsEndpoint, Tracing: tel.Azure()})
	if err != nil {
		return nil, invalid(s.auths[0].option, err)
	}
	c.cred = cred
	if s.eventGrid != nil {
		c.events = newReceiver(c, *s.eventGrid)
	}
	return c, nil
}

// sharedTransport is the transport of every Client made without
// WithHTTPClient: one pool of connections per process, as with
// http.DefaultTransport, with room for the default concurrency.
var sharedTransport = sync.OnceValue(func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
})

// noRedirectClient returns a copy of hc (or a client on the shared
// transport) that never follows redirects.
func noRedirectClient(hc *http.Client) *http.Client {
	if hc == nil {
		hc = &http.Client{Transport: sharedTransport()}
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// Invalidate drops cached credentials, so the next fetch reads Key Vault
// again: those of the named secrets ("vault/secret", every version), or,
// with no names, all of them. It does nothing without WithCache. A
// malformed name is an error wrapping ErrInvalidArgument, and nothing is
// dropped.
func (c *Client) Invalidate(names ...string) error {
	prefixes := make([]string, 0, len(names))
	var errs []error
	for _, n := range names {
		id, err := ident.ParseIdentifier(n, c.cloud)
		if err != nil {
			errs = append(errs, invalid("Invalidate", err))
			continue
		}
		prefixes = append(prefixes, cacheKeyPrefix(id.Vault, id.Secret))
	}
	if len(errs) > 0 || c.cache == nil {
		return errors.Join(errs...)
	}
	if len(names) == 0 {
		c.cache.Clear()
	}
	for _, p := range prefixes {
		c.cache.DeletePrefix(p)
	}
	return nil
}

// vaultConn is a vault's state for the Client's life.
type vaultConn struct {
	ref  vaultRef
	kv   *azure.Vault
	lim  *throttle.Limiter
	gate gate
}

// conn returns the vault's state, creating its Key Vault client on first
// use.
func (c *Client) conn(ref vaultRef) (*vaultConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if vc, ok := c.conns[ref.name]; ok {
		return vc, nil
	}
	vc := &vaultConn{ref: ref, lim: throttle.New(throttle.DefaultRate, throttle.DefaultBurst)}
	if c.retry.throttleBudget > 0 {
		vc.lim.SetBudget(c.retry.throttleBudget)
	}
	o := azure.VaultOptions{
		HTTPClient:    c.hc,
		MaxRetries:    c.retry.maxRetries,
		RetryDelay:    c.retry.delay,
		MaxRetryDelay: c.retry.maxDelay,
		TryTimeout:    c.retry.tryTimeout,
		Pacer:         &pacer{lim: vc.lim, sem: c.sem, log: c.log, vault: ref.name, tel: c.tel},
		Tracing:       c.tel.Azure(),
	}
	if c.tel.Tracing() {
		o.Retrying = c.tel.Retry
	}
	kv, err := azure.NewVault(ref.url, c.cred, o)
	if err != nil {
		return nil, err
	}
	vc.kv = kv
	c.conns[ref.name] = vc
	return vc, nil
}

// gate sends a vault's first request alone: until the vault has answered a
// request that carried a token, the others wait, so that a burst of first
// requests costs one authentication challenge and one token, not one each.
type gate struct {
	mu     sync.Mutex
	primed bool
	primer chan struct{} // closed when the request priming the vault finishes
}

// enter admits a request. first reports whether the caller primes the
// vault and must call leave.
func (g *gate) enter(ctx context.Context) (first bool, err error) {
	for {
		g.mu.Lock()
		if g.primed {
			g.mu.Unlock()
			return false, nil
		}
		if g.primer == nil {
			g.primer = make(chan struct{})
			g.mu.Unlock()
			return true, nil
		}
		wait := g.primer
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-wait:
		}
	}
}

// leave ends a priming request; primed says whether the vault answered it
// with a token attached (any answer but an authentication failure).
func (g *gate) leave(primed bool) {
	g.mu.Lock()
	if primed {
		g.primed = true
	}
	close(g.primer)
	g.primer = nil
	g.mu.Unlock()
}
