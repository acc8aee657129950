package akvcreds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/ident"
)

// maxRetryAfter is the longest Retry-After akvcreds waits for; a longer one
// is reported as ErrThrottled at once.
const maxRetryAfter = 2 * time.Minute

// FetchOption adjusts one FetchCredentials call. Created by the Fetch*
// functions of this package only.
type FetchOption interface {
	applyFetch(*fetchSettings)
}

type fetchOptionFunc func(*fetchSettings)

func (f fetchOptionFunc) applyFetch(s *fetchSettings) { f(s) }

type fetchSettings struct {
	vaults     []string
	vaultsSet  bool
	secrets    []string
	secretsSet bool
	skipCache  bool
	filters    filters
	summary    *Summary
}

// FetchVaults replaces the Client's vaults (WithVaults) for this call.
func FetchVaults(vaults ...string) FetchOption {
	return fetchOptionFunc(func(s *fetchSettings) { s.vaults, s.vaultsSet = append(s.vaults, vaults...), true })
}

// FetchSecrets replaces the Client's secret names (WithSecrets) for this
// call; with no names, the call lists every vault.
func FetchSecrets(names ...string) FetchOption {
	return fetchOptionFunc(func(s *fetchSettings) { s.secrets, s.secretsSet = append(s.secrets, names...), true })
}

// FetchSkipCache reads Key Vault even for credentials in the cache, and
// stores what it reads. A failure is reported, never served stale.
func FetchSkipCache() FetchOption {
	return fetchOptionFunc(func(s *fetchSettings) { s.skipCache = true })
}

// FetchFilters adds filters (see Filter) to the Client's (WithFilters) for
// this call.
func FetchFilters(f ...Filter) FetchOption {
	return fetchOptionFunc(func(s *fetchSettings) { s.filters = append(s.filters, f...) })
}

// FetchSummary fills *dst with the counts of this call when it returns.
func FetchSummary(dst *Summary) FetchOption {
	return fetchOptionFunc(func(s *fetchSettings) { s.summary = dst })
}

// Summary counts what one FetchCredentials call did, for a connector to log
// (it is a slog.LogValuer). Ask for it with FetchSummary.
type Summary struct {
	Vaults             int           // vaults read
	Listed             int           // secrets seen in listings
	Fetched            int           // credentials returned, from Key Vault or the cache
	FromCache          int           // of Fetched, served by WithCache
	Stale              int           // of Fetched, served stale (WithStaleOnError)
	FilteredOut        int           // left out by filters
	SkippedDisabled    int           // listed but disabled
	SkippedExpired     int           // listed but expired
	SkippedNotYetValid int           // listed but not valid yet (not-before in the future)
	Failed             int           // *FetchError values returned
	Duration           time.Duration // wall time of the call
}

// LogValue implements slog.LogValuer.
func (s Summary) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("vaults", s.Vaults), slog.Int("listed", s.Listed), slog.Int("fetched", s.Fetched),
		slog.Int("fromCache", s.FromCache), slog.Int("stale", s.Stale), slog.Int("filteredOut", s.FilteredOut),
		slog.Int("skippedDisabled", s.SkippedDisabled), slog.Int("skippedExpired", s.SkippedExpired),
		slog.Int("skippedNotYetValid", s.SkippedNotYetValid), slog.Int("failed", s.Failed),
		slog.Duration("duration", s.Duration))
}

// plan is what one FetchCredentials call reads.
type plan struct {
	vaults    []vaultRef
	secrets   []secretRef // nil: list each vault
	skipCache bool
	filters   filters
	summary   *Summary
}

func (c *Client) plan(opts []FetchOption) (plan, error) {
	var fs fetchSettings
	for _, o := range opts {
		if o == nil {
			return plan{}, invalid("FetchCredentials", errors.New("a FetchOption is nil"))
		}
		o.applyFetch(&fs)
	}
	p := plan{vaults: c.vaults, secrets: c.secrets, skipCache: fs.skipCache, filters: c.filters, summary: fs.summary}
	errs := fs.filters.validate("FetchFilters")
	if len(fs.filters) > 0 {
		p.filters = append(slices.Clip(c.filters), fs.filters...)
	}
	if fs.vaultsSet {
		var verrs []error
		p.vaults, verrs = parseVaults(fs.vaults, c.cloud)
		for _, err := range verrs {
			errs = append(errs, invalid("FetchVaults", err))
		}
	}
	if fs.secretsSet {
		var serrs []error
		p.secrets, serrs = parseSecrets(fs.secrets)
		for _, err := range serrs {
			errs = append(errs, invalid("FetchSecrets", err))
		}
	}
	if len(errs) == 0 && len(p.vaults) == 0 {
		errs = append(errs, invalid("FetchCredentials", errors.New("no vaults: give WithVaults to New or FetchVaults to this call")))
	}
	return p, errors.Join(errs...)
}

// FetchCredentials fetches a credential for every vault × secret (or, with
// no secret names, for every enabled secret within its validity period in
// each vault, listed). Results come in a stable order: vaults as given, then
// secrets as given (or by name when listed).
//
// It returns every credential it got, and, when some failed, errors.Join of
// one *FetchError per failed secret (or failed vault listing) — nothing is
// left out silently. Each wraps a sentinel (errors.Is(err, ErrForbidden))
// and says what to do. A malformed FetchOption returns no credentials and an
// error wrapping ErrInvalidArgument. Cancelling ctx stops the work promptly;
// the unfinished secrets are reported with ctx.Err() in their chain.
func (c *Client) FetchCredentials(ctx context.Context, opts ...FetchOption) ([]Credential, error) {
	p, err := c.plan(opts)
	if err != nil {
		return nil, err
	}
	r := &run{c: c, skipCache: p.skipCache, filters: p.filters, summary: p.summary, start: time.Now()}
	r.vaults = make([]*vaultRun, len(p.vaults))
	for i, ref := range p.vaults {
		vr := &vaultRun{ref: ref, listing: p.secrets == nil}
		vr.conn, vr.connErr = c.conn(ref)
		if !vr.listing {
			backing := make([]slot, len(p.secrets)) // one allocation, not one per secret
			vr.slots = make([]*slot, len(p.secrets))
			for j, s := range p.secrets {
				backing[j] = slot{secret: s.name, version: s.version}
				vr.slots[j] = &backing[j]
			}
		}
		r.vaults[i] = vr
	}
	r.execute(ctx)
	return r.results(ctx)
}

// FetchCredential fetches one credential named "vault/secret" (or
// "vault/secret/version", or a secret ID URL). The vault need not be one of
// WithVaults. A failure is a *FetchError wrapping a sentinel.
func (c *Client) FetchCredential(ctx context.Context, name string) (Credential, error) {
	id, err := ident.ParseIdentifier(name, c.cloud)
	if err != nil {
		return Credential{}, invalid("FetchCredential", err)
	}
	ref := vaultRef{name: id.Vault, url: "https://" + id.Vault + c.cloud.VaultSuffix + "/"}
	vc, err := c.conn(ref)
	if err != nil {
		return Credential{}, newFetchError(id.Vault, id.Secret, id.Version, invalid("FetchCredential", err))
	}
	start := time.Now()
	cred, attempts, _, err := c.fetchOne(ctx, vc, id.Secret, id.Version, false, nil)
	c.logFetch(ctx, id.Vault, id.Secret, id.Version, attempts, time.Since(start), err)
	if err != nil {
		return Credential{}, newFetchError(id.Vault, id.Secret, id.Version, err)
	}
	return cred, nil
}

// run is one FetchCredentials call.
type run struct {
	c         *Client
	skipCache bool
	filters   filters
	summary   *Summary
	start     time.Time
	vaults    []*vaultRun
}

type vaultRun struct {
	ref     vaultRef
	conn    *vaultConn
	connErr error
	listing bool

	mu       sync.Mutex
	slots    []*slot
	listErr  error // the listing failed or was cut short
	poison   error // a failure that every further secret of the vault would hit
	listed   int
	disabled int // listed but disabled
	expired  int // listed but expired
	early    int // listed but not valid yet
	filtered int // listed but filtered out
}

type slot struct {
	secret, version string
	cred            Credential
	err             error
	done            bool
	filtered        bool // left out by a filter: neither a credential nor an error
	fromCache       bool
}

type job struct {
	vr *vaultRun
	s  *slot
}

func (r *run) execute(ctx context.Context) {
	jobs := make(chan job)
	var producers sync.WaitGroup
	var pending []job
	for _, vr := range r.vaults {
		switch {
		case vr.connErr != nil:
			vr.listErr = invalid("WithVaults", vr.connErr)
			for _, s := range vr.slots {
				s.err, s.done = vr.listErr, true
			}
		case vr.listing:
			producers.Add(1)
			go func() {
				defer producers.Done()
				r.list(ctx, vr, jobs)
			}()
		}
	}
	// Named secrets: serve what the cache has, then interleave the rest
	// across vaults so that every vault makes progress together.
	for j := 0; ; j++ {
		more := false
		for _, vr := range r.vaults {
			if vr.listing || vr.connErr != nil || j >= len(vr.slots) {
				continue
			}
			more = true
			s := vr.slots[j]
			if !r.filters.keep(azure.SecretProps{Name: s.secret}, true) {
				s.filtered, s.done = true, true
				continue
			}
			if r.fromCache(ctx, vr, s) {
				continue
			}
			pending = append(pending, job{vr, s})
		}
		if !more {
			break
		}
	}
	if len(pending) == 0 && !r.anyListing() {
		return // all served from the cache (or failed up front): no goroutine needed
	}
	producers.Add(1)
	go func() {
		defer producers.Done()
		for _, jb := range pending {
			select {
			case jobs <- jb:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		producers.Wait()
		close(jobs)
	}()

	workers := r.c.conc
	if !r.anyListing() {
		workers = min(workers, len(pending))
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for jb := range jobs {
				r.fetchSlot(ctx, jb)
			}
		}()
	}
	wg.Wait()
	producers.Wait()
	// Whatever was never started (the context ended) is reported, not lost.
	for _, vr := range r.vaults {
		for _, s := range vr.slots {
			if !s.done {
				s.err, s.done = notStarted(ctx), true
			}
		}
	}
}

func notStarted(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not fetched: %w", err)
	}
	return fmt.Errorf("not fetched: %w", ErrUnavailable)
}

func (r *run) anyListing() bool {
	for _, vr := range r.vaults {
		if vr.listing && vr.connErr == nil {
			return true
		}
	}
	return false
}

// list pages through one vault and queues a job per secret worth reading.
func (r *run) list(ctx context.Context, vr *vaultRun, jobs chan<- job) {
	now := time.Now()
	lister := vr.conn.kv.Lister()
	for lister.More() {
		var items []azure.SecretProps
		_, err := r.c.call(ctx, vr.conn, vr, func(ctx context.Context) error {
			var err error
			items, err = lister.Next(ctx)
			return err
		})
		if err != nil {
			vr.mu.Lock()
			vr.listErr = r.c.explain(err, vr.ref.name, "", "", "list")
			vr.mu.Unlock()
			return
		}
		for _, it := range items {
			var s *slot
			vr.mu.Lock()
			vr.listed++
			switch v := validity(it, now); {
			case v == disabled:
				vr.disabled++
			case v == notYetValid:
				vr.early++
			case v == expired:
				vr.expired++
			case !r.filters.keep(it, false):
				vr.filtered++
			default:
				s = &slot{secret: it.Name}
				vr.slots = append(vr.slots, s)
			}
			vr.mu.Unlock()
			if s == nil {
				r.c.log.DebugContext(ctx, "akvcreds: listed secret skipped", slog.String("vault", vr.ref.name), slog.String("secret", it.Name),
					slog.Bool("enabled", it.Enabled), slog.Time("notBefore", it.NotBefore), slog.Time("expires", it.Expires))
				continue
			}
			if r.fromCache(ctx, vr, s) {
				continue
			}
			select {
			case jobs <- job{vr, s}:
			case <-ctx.Done():
				vr.mu.Lock()
				vr.listErr = fmt.Errorf("listing stopped: %w", ctx.Err())
				vr.mu.Unlock()
				return
			}
		}
	}
}

// usable reports whether a listed secret is fetched: enabled, and within its
// not-before and expiry times.
func usable(p azure.SecretProps, now time.Time) bool {
	return validity(p, now) == valid
}

// validityState is why a listed secret is (not) fetched.
type validityState int

const (
	valid validityState = iota
	disabled
	notYetValid
	expired
)

// validity classifies a listed secret by its enabled flag and its
// not-before and expiry times.
func validity(p azure.SecretProps, now time.Time) validityState {
	switch {
	case !p.Enabled:
		return disabled
	case !p.NotBefore.IsZero() && now.Before(p.NotBefore):
		return notYetValid
	case !p.Expires.IsZero() && !now.Before(p.Expires):
		return expired
	}
	return valid
}

func (r *run) fetchSlot(ctx context.Context, jb job) {
	vr, s := jb.vr, jb.s
	defer func() { s.done = true }()
	if err := ctx.Err(); err != nil {
		s.err = notStarted(ctx)
		return
	}
	start := time.Now()
	cred, attempts, props, err := r.c.fetchOne(ctx, vr.conn, s.secret, s.version, r.skipCache, vr)
	r.c.logFetch(ctx, vr.ref.name, s.secret, s.version, attempts, time.Since(start), err)
	if err != nil {
		s.err = err
		return
	}
	if !vr.listing && r.filters.hasMetadataFilters() && !r.filters.keep(props, false) {
		s.filtered = true
		return
	}
	s.cred = cred
}

// poisoned returns the vault-wide failure of this call, if any. A nil
// *vaultRun (FetchCredential) has none.
func (vr *vaultRun) poisoned() error {
	if vr == nil {
		return nil
	}
	vr.mu.Lock()
	defer vr.mu.Unlock()
	return vr.poison
}

// markWide records the first vault-wide failure.
func (vr *vaultRun) markWide(err error) {
	if vr == nil {
		return
	}
	vr.mu.Lock()
	if vr.poison == nil {
		vr.poison = err
	}
	vr.mu.Unlock()
}

// vaultWide reports whether err would hit every further request to the
// vault in this call (no token, a rejected token, the firewall, a vault
// host that does not resolve), so the
// remaining secrets are reported without more requests.
func vaultWide(err error) bool {
	var ae *azure.Error
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Op == "token" || ae.Kind == azure.KindUnauthenticated || ae.InnerCode == "ForbiddenByFirewall" || ae.Code == "NoSuchHost"
}

// results assembles the credentials in order and the joined errors.
func (r *run) results(ctx context.Context) ([]Credential, error) {
	n := 0
	for _, vr := range r.vaults {
		n += len(vr.slots)
	}
	creds := make([]Credential, 0, n)
	var errs []error
	sum := Summary{Vaults: len(r.vaults)}
	for _, vr := range r.vaults {
		if vr.listing {
			slices.SortStableFunc(vr.slots, func(a, b *slot) int {
				return cmp.Or(cmp.Compare(strings.ToLower(a.secret), strings.ToLower(b.secret)), cmp.Compare(a.secret, b.secret))
			})
			if vr.listErr != nil {
				errs = append(errs, newFetchError(vr.ref.name, "", "", vr.listErr))
			}
		}
		sum.Listed += vr.listed
		sum.SkippedDisabled += vr.disabled
		sum.SkippedExpired += vr.expired
		sum.SkippedNotYetValid += vr.early
		sum.FilteredOut += vr.filtered
		for _, s := range vr.slots {
			switch {
			case s.filtered:
				sum.FilteredOut++
			case s.err != nil:
				errs = append(errs, newFetchError(vr.ref.name, s.secret, s.version, s.err))
			default:
				creds = append(creds, s.cred)
				if s.fromCache {
					sum.FromCache++
				}
				if s.cred.Stale {
					sum.Stale++
				}
			}
		}
	}
	sum.Fetched, sum.Failed, sum.Duration = len(creds), len(errs), time.Since(r.start)
	if r.summary != nil {
		*r.summary = sum
	}
	if r.c.log.Enabled(ctx, slog.LevelInfo) {
		r.c.log.LogAttrs(ctx, slog.LevelInfo, "akvcreds: fetch finished", slog.Any("summary", sum))
	}
	return creds, errors.Join(errs...)
}

// fromCache serves a slot from the cache, if it can.
func (r *run) fromCache(ctx context.Context, vr *vaultRun, s *slot) bool {
	raw, ok := r.c.cached(vr.ref.name, s.secret, s.version, r.skipCache)
	if !ok {
		return false
	}
	if r.filters.hasMetadataFilters() && !vr.listing && !r.filters.keep(propsOf(raw), false) {
		s.filtered, s.done = true, true
		return true
	}
	s.cred, s.err = r.c.finish(ctx, raw, vr.ref.name, s.secret)
	s.fromCache, s.done = s.err == nil, true
	return true
}

func cacheKeyPrefix(vault, secret string) string {
	return vault + "/" + strings.ToLower(secret) + "/"
}

func cacheKey(vault, secret, version string) string {
	return string(appendCacheKey(nil, vault, secret, version))
}

// appendCacheKey appends cacheKey's result to b, so a lookup can build the
// key on the stack.
func appendCacheKey(b []byte, vault, secret, version string) []byte {
	b = append(b, vault...)
	b = append(b, '/')
	b = appendLower(b, secret)
	b = append(b, '/')
	return appendLower(b, version)
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// cached returns a fresh cached credential.
func (c *Client) cached(vault, secret, version string, skip bool) (Credential, bool) {
	if c.cache == nil || skip {
		return Credential{}, false
	}
	var buf [192]byte
	cred, fresh, ok := c.cache.GetBytes(appendCacheKey(buf[:0], vault, secret, version))
	if !ok || !fresh {
		return Credential{}, false
	}
	return cred, true
}

// stale returns the cached credential for key, marked Stale, when err is a
// failure to reach Key Vault (not an answer about the secret) and the entry
// expired less than WithStaleOnError's duration ago.
func (c *Client) stale(key string, err error) (Credential, bool) {
	if c.staleMax <= 0 || c.cache == nil {
		return Credential{}, false
	}
	var ae *azure.Error
	if !errors.As(err, &ae) {
		return Credential{}, false
	}
	switch {
	case ae.Kind == azure.KindUnavailable, ae.Kind == azure.KindThrottled:
	default:
		return Credential{}, false
	}
	cred, expiredFor, ok := c.cache.Stale(key)
	if !ok || expiredFor > c.staleMax {
		return Credential{}, false
	}
	cred.Stale = true
	return cred, true
}

// propsOf is the metadata filters look at.
func propsOf(c Credential) azure.SecretProps {
	return azure.SecretProps{Name: c.Secret, ContentType: c.ContentType, Tags: c.Tags, Enabled: c.Enabled,
		NotBefore: c.NotBefore, Expires: c.Expires, Updated: c.Updated, Version: c.Version}
}

// finish turns a secret as read (or cached) into the credential the caller
// asked for: named with the spelling asked for (or WithNaming), the username
// and password mapped, the expiry policy applied.
func (c *Client) finish(ctx context.Context, raw Credential, vault, secret string) (Credential, error) {
	cred := raw
	if cred.Secret != secret || c.mapping.naming != nil {
		cred.Secret, cred.Username = secret, secret
		if c.mapping.naming != nil {
			cred.Name = c.mapping.naming(vault, secret)
		} else {
			cred.Name = vault + "/" + secret
		}
	}
	if c.mapping.custom() {
		if err := c.mapping.apply(&cred); err != nil {
			return Credential{}, &problem{kind: ErrMalformed, cause: err,
				msg: ErrMalformed.Error() + ": " + err.Error() + ". To fix: store the value in the expected form, or change WithJSONValues / WithMapper"}
		}
	}
	if cred.Expires.IsZero() && cred.NotBefore.IsZero() {
		return cred, nil
	}
	now := time.Now()
	if cred.Expired(now) || (!cred.NotBefore.IsZero() && now.Before(cred.NotBefore)) {
		when := "expired at " + cred.Expires.Format(time.RFC3339)
		if !cred.NotBefore.IsZero() && now.Before(cred.NotBefore) {
			when = "not valid before " + cred.NotBefore.Format(time.RFC3339)
		}
		if c.mapping.expired == ExpiredReject {
			return Credential{}, &problem{kind: ErrExpired, cause: ErrExpired,
				msg: fmt.Sprintf("%s: the secret %s. To fix: set a new version with a later expiry in vault %q, or accept it with WithExpiredPolicy(ExpiredReturn)", ErrExpired, when, vault)}
		}
		c.log.WarnContext(ctx, "akvcreds: returning a secret outside its validity period", slog.String("vault", vault),
			slog.String("secret", secret), slog.String("validity", when))
	}
	return cred, nil
}

// fetchOne reads one secret through the cache (concurrent identical reads
// share one request) and finishes it into a credential. It also returns the
// secret's metadata, for filters.
func (c *Client) fetchOne(ctx context.Context, vc *vaultConn, secret, version string, skipCache bool, g *vaultRun) (Credential, int, azure.SecretProps, error) {
	raw, attempts, err := c.fetchRaw(ctx, vc, secret, version, skipCache, g)
	if err != nil {
		return Credential{}, attempts, azure.SecretProps{}, err
	}
	cred, err := c.finish(ctx, raw, vc.ref.name, secret)
	return cred, attempts, propsOf(raw), err
}

// fetchRaw reads one secret through the cache; concurrent identical reads
// share one request.
func (c *Client) fetchRaw(ctx context.Context, vc *vaultConn, secret, version string, skipCache bool, g *vaultRun) (Credential, int, error) {
	vault := vc.ref.name
	if cred, ok := c.cached(vault, secret, version, skipCache); ok {
		return cred, 0, nil
	}
	key := cacheKey(vault, secret, version)
	type result struct {
		cred     Credential
		attempts int
	}
	for {
		ch := c.flight.DoChan(key, func() (any, error) {
			var s azure.Secret
			attempts, err := c.call(ctx, vc, g, func(ctx context.Context) error {
				var err error
				s, err = vc.kv.Get(ctx, secret, version)
				return err
			})
			if err != nil {
				return result{attempts: attempts}, c.explain(err, vault, secret, version, "get")
			}
			cred := toCredential(vault, secret, s)
			if c.cache != nil {
				c.cache.Set(key, cred)
			}
			return result{cred, attempts}, nil
		})
		select {
		case <-ctx.Done():
			return Credential{}, 0, fmt.Errorf("not fetched: %w", ctx.Err())
		case res := <-ch:
			out, _ := res.Val.(result)
			if res.Err != nil && ctx.Err() == nil && isCanceled(res.Err) {
				continue // the shared request ran under another caller's context, which ended
			}
			if res.Err != nil {
				if cred, ok := c.stale(key, res.Err); ok && !skipCache {
					c.log.WarnContext(ctx, "akvcreds: serving a stale credential", slog.String("vault", vault),
						slog.String("secret", secret), slog.String("error", res.Err.Error()))
					return cred, out.attempts, nil
				}
				return Credential{}, out.attempts, res.Err
			}
			return out.cred, out.attempts, nil
		}
	}
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// call runs one Key Vault operation: after the vault's first authenticated
// request (one at a time until then), paced by the vault's limiter, within
// the Client's concurrency ceiling, and retried while the vault throttles.
//
// g, when not nil, carries a failure that already decided the outcome for
// the whole vault in this FetchCredentials call (a token that cannot be had,
// a rejected token, the firewall): it is returned without a request. call
// records such a failure in g before the vault's gate opens, so the requests
// waiting behind it do not repeat it.
//
// attempts counts the requests sent with a token, transient-failure retries
// included.
func (c *Client) call(ctx context.Context, vc *vaultConn, g *vaultRun, fn func(context.Context) error) (attempts int, err error) {
	ctx, sent := azure.CountAttempts(ctx)
	defer func() {
		if n := int(sent.Load()); n > attempts {
			attempts = n
		}
	}()
	first, err := vc.enter(ctx)
	if err != nil {
		return 0, err
	}
	authenticated := false
	if first {
		defer func() { vc.leave(authenticated) }()
	}
	for attempts = 1; ; attempts++ {
		if err := g.poisoned(); err != nil {
			return attempts - 1, err
		}
		if err := vc.lim.Wait(ctx); err != nil {
			return attempts - 1, err
		}
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return attempts - 1, ctx.Err()
		}
		err := fn(ctx)
		<-c.sem
		if err == nil {
			vc.lim.Succeeded()
			authenticated = true
			return attempts, nil
		}
		ae := azure.Classify(err, "")
		if ae.Op != "token" && ae.Status >= 400 && ae.Status < 500 && ae.Kind != azure.KindThrottled {
			vc.lim.Succeeded() // the vault answered (403, 404, ...): it is not throttling
		}
		authenticated = ae.Op != "token" && ae.Kind != azure.KindUnauthenticated && ae.Kind != azure.KindUnavailable && ae.Kind != azure.KindCanceled
		if ae.Kind != azure.KindThrottled || ae.Op == "token" || attempts >= c.retry.throttleRetries || ae.RetryAfter > maxRetryAfter {
			if vaultWide(ae) {
				g.markWide(ae)
			}
			return attempts, ae
		}
		pause := vc.lim.Throttled(ae.RetryAfter)
		c.log.DebugContext(ctx, "akvcreds: vault throttled; pausing",
			slog.String("vault", vc.ref.name), slog.Duration("pause", pause), slog.Int("attempt", attempts))
	}
}

func toCredential(vault, secret string, s azure.Secret) Credential {
	return Credential{
		Name:        vault + "/" + secret,
		Vault:       vault,
		Secret:      secret,
		Username:    secret,
		Password:    newPassword(s.Value),
		Version:     s.Version,
		ID:          s.ID,
		ContentType: s.ContentType,
		Tags:        s.Tags,
		Enabled:     s.Enabled,
		NotBefore:   s.NotBefore,
		Expires:     s.Expires,
		Created:     s.Created,
		Updated:     s.Updated,
	}
}

func (c *Client) logFetch(ctx context.Context, vault, secret, version string, attempts int, d time.Duration, err error) {
	attrs := []slog.Attr{
		slog.String("vault", vault), slog.String("secret", secret),
		slog.Int("attempts", attempts), slog.Duration("duration", d),
	}
	if version != "" {
		attrs = append(attrs, slog.String("version", version))
	}
	if err == nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "akvcreds: secret fetched", attrs...)
		return
	}
	attrs = append(attrs, slog.String("error", err.Error()))
	c.log.LogAttrs(ctx, slog.LevelWarn, "akvcreds: secret not fetched", attrs...)
}
