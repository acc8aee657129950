package akvcreds

// The read engine. FetchCredentials, FetchCredential and every Watch cycle
// are each one scan: it lists the vaults that are listed, decides what to
// read, reads through a pool of workers (each read through the cache, one
// request for concurrent identical reads, paced by the vault's pacer within
// the Client's concurrency) and returns what it saw. The callers only shape
// the result: a fetch returns it, a Watch compares it with what it knew.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/akvcreds/akvcreds/internal/azure"
)

// scan is one pass of the engine over some vaults.
type scan struct {
	c        *Client
	useCache bool    // serve fresh cached values (and stale ones on failure)
	filters  filters // the Client's
	// need decides whether a listed secret (enabled, kept by the filters)
	// is read; nil reads every one.
	need   func(vs *vaultScan, info SecretInfo) bool
	start  time.Time
	vaults []*vaultScan
}

// vaultScan is one vault's part of a scan. Its producer and the workers
// write it; the caller reads it after the scan.
type vaultScan struct {
	idx     int
	ref     vaultRef
	conn    *vaultConn
	connErr error
	named   []secretRef // the secrets to read, or to look for in the listing
	list    bool        // list the vault (for named secrets: to see which changed)

	mu       sync.Mutex
	poison   *failure // a failure every further request to the vault would hit
	accepted bool     // the vault answered a request of this scan
	down     int      // requests of this scan that failed (network, 5xx, no answer) while none was answered
	reads    []*read

	// Written by the producer only.
	listErr  *failure
	complete bool // the listing ran to its end
	pages    int
	seen     map[string]listed // by lower-case name
	skipped  [stateCount]int

	// Tracing only (WithOpenTelemetry): the vault's span, a context holding
	// it for the spans under it, and (under mu) when the last of those ended.
	span    trace.Span
	spanCtx context.Context
	lastEnd time.Time
}

// listed is a secret seen in a listing, and what the listing decided.
type listed struct {
	info  SecretInfo
	state listState
}

// listState is why a listed secret is (not) read.
type listState int

const (
	stateKeep        listState = iota // usable and kept by the filters
	stateDisabled                     // disabled
	stateNotYetValid                  // not-before in the future
	stateExpired                      // expiry passed
	stateFiltered                     // left out by a filter
	stateCount
)

// read is one secret read of a scan.
type read struct {
	vs              *vaultScan
	secret, version string
	order           int // position among the named secrets; -1 when listed
	start, done     time.Time
	attempts        int
	cred            Credential
	err             *failure
	filtered        bool // read, but left out by a filter
	fromCache       bool
	event           bool // a Watch's read for Event Grid events
}

// newScan prepares a scan of plans.
func (c *Client) newScan(plans []vaultPlan, useCache bool) *scan {
	sc := &scan{c: c, useCache: useCache, filters: c.filters, start: c.now()}
	for i, p := range plans {
		vs := &vaultScan{idx: i, ref: p.ref, named: p.named, list: p.named == nil}
		vs.conn, vs.connErr = c.conn(p.ref)
		sc.vaults = append(sc.vaults, vs)
	}
	return sc
}

// run carries the scan out. It returns when every request it started has
// finished.
func (sc *scan) run(ctx context.Context) {
	if sc.c.tel.Tracing() {
		sc.startVaults(ctx)
		defer sc.endVaults()
	}
	pending := sc.fromCache(ctx)
	if len(pending) == 0 && !sc.listing() {
		return // everything served from the cache: no goroutine needed
	}
	// Buffered: a listing runs up to a few pages ahead of the workers, so
	// that its next page is not held back until the last page's reads have
	// all been taken (they wait for the vault's pacer).
	jobs := make(chan *read, 2*sc.c.conc)
	var producers, workers sync.WaitGroup
	producers.Go(func() {
		defer sc.recoverTo(nil)
		for _, r := range pending {
			if !sc.queue(ctx, r, jobs) {
				return
			}
		}
	})
	for _, vs := range sc.vaults {
		if vs.list && vs.connErr == nil {
			producers.Go(func() {
				defer sc.recoverTo(vs)
				sc.produce(vs.context(ctx), vs, jobs)
			})
		}
	}
	n := sc.c.conc
	if !sc.listing() {
		n = min(n, len(pending))
	}
	for range n {
		workers.Go(func() {
			for r := range jobs {
				sc.read(ctx, r)
			}
		})
	}
	producers.Wait()
	close(jobs)
	workers.Wait()
}

// listing reports whether some vault is listed.
func (sc *scan) listing() bool {
	for _, vs := range sc.vaults {
		if vs.list && vs.connErr == nil {
			return true
		}
	}
	return false
}

// fromCache creates the reads of the named secrets of vaults read directly,
// interleaved across vaults so that every vault makes progress together,
// serves what it can from the cache, and returns the rest.
func (sc *scan) fromCache(ctx context.Context) []*read {
	var pending []*read
	for _, vs := range sc.vaults {
		if !vs.list && vs.connErr == nil {
			// One allocation for the vault's reads, not one per secret.
			backing := make([]read, len(vs.named))
			vs.reads = make([]*read, len(vs.named))
			for j, s := range vs.named {
				backing[j] = read{vs: vs, secret: s.name, version: s.version, order: j}
				vs.reads[j] = &backing[j]
			}
		}
	}
	for j := 0; ; j++ {
		more := false
		for _, vs := range sc.vaults {
			if vs.list || vs.connErr != nil || j >= len(vs.named) {
				continue
			}
			more = true
			r := vs.reads[j]
			if !sc.cached(ctx, r) {
				pending = append(pending, r)
			}
		}
		if !more {
			return pending
		}
	}
}

// add records a read of the vault.
func (vs *vaultScan) add(r *read) *read {
	r.vs = vs
	vs.mu.Lock()
	vs.reads = append(vs.reads, r)
	vs.mu.Unlock()
	return r
}

// queue serves r from the cache or hands it to a worker; false means ctx
// ended.
func (sc *scan) queue(ctx context.Context, r *read, jobs chan<- *read) bool {
	if sc.cached(ctx, r) {
		return true
	}
	select {
	case jobs <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// produce lists a vault and queues the reads it calls for.
func (sc *scan) produce(ctx context.Context, vs *vaultScan, jobs chan<- *read) {
	ok := sc.list(ctx, vs, func(l listed) bool {
		if vs.named != nil || l.state != stateKeep || (sc.need != nil && !sc.need(vs, l.info)) {
			return true // named secrets are looked up once the listing is complete
		}
		return sc.queue(ctx, vs.add(&read{secret: l.info.Secret, order: -1}), jobs)
	}, sc.c.now())
	switch {
	case vs.named == nil:
	case ok:
		sc.queueNamed(ctx, vs, jobs, false)
	case listRefused(vs.listErr):
		// Listing is refused, but reading may not be: read every named secret.
		sc.queueNamed(ctx, vs, jobs, true)
	}
	// Any other failure: keep everything, read nothing.
}

// queueNamed queues the reads of a vault's named secrets: all, or those a
// complete listing shows enabled, kept by the filters and needed.
func (sc *scan) queueNamed(ctx context.Context, vs *vaultScan, jobs chan<- *read, all bool) {
	for i, s := range vs.named {
		if !all {
			l, found := vs.seen[strings.ToLower(s.name)]
			if !found || !l.info.Enabled || l.state == stateFiltered {
				continue
			}
			info := l.info
			info.Version = s.version
			if sc.need != nil && !sc.need(vs, info) {
				continue
			}
		}
		if !sc.queue(ctx, vs.add(&read{secret: s.name, version: s.version, order: i}), jobs) {
			return
		}
	}
}

// list pages through a vault, recording every listed secret in vs.seen
// and calling each for each new one (false stops). It reports whether the
// listing ran to its end.
func (sc *scan) list(ctx context.Context, vs *vaultScan, each func(listed) bool, now time.Time) bool {
	if sc.c.tel.Tracing() {
		var end func()
		ctx, end = sc.startList(ctx, vs)
		defer end()
	}
	vs.seen = map[string]listed{}
	lister := vs.conn.kv.Lister()
	for lister.More() {
		var items []azure.SecretProps
		vs.pages++
		_, err := sc.c.call(ctx, vs, "list", func(ctx context.Context) error {
			var err error
			items, err = lister.Next(ctx)
			return err
		})
		for _, it := range items {
			key := strings.ToLower(it.Name)
			if _, dup := vs.seen[key]; dup {
				continue
			}
			l := listed{info: infoOf(vs.ref.name, it), state: sc.judge(vs.ref.name, it, now)}
			vs.seen[key] = l
			vs.skipped[l.state]++
			if l.state != stateKeep {
				sc.c.logSkipped(ctx, l)
			}
			if !each(l) {
				vs.listErr = fail(kindCanceled, "listing stopped: "+ctx.Err().Error(), "", ctx.Err())
				return false
			}
		}
		if err != nil {
			vs.listErr = sc.c.explain(ctx, err, vs.ref.name, "", "", "list")
			return false
		}
	}
	vs.complete = true
	return true
}

// listRefused reports whether a listing failed for lack of permission (not
// the firewall, which refuses reads too).
func listRefused(f *failure) bool {
	var ae *azure.Error
	return f != nil && f.kind == kindForbidden && errors.As(f, &ae) && ae.InnerCode != "ForbiddenByFirewall"
}

// judge decides what becomes of a listed secret.
func (sc *scan) judge(vault string, it azure.SecretProps, now time.Time) listState {
	switch {
	case !it.Enabled:
		return stateDisabled
	case !it.NotBefore.IsZero() && now.Before(it.NotBefore):
		return stateNotYetValid
	case !it.Expires.IsZero() && !now.Before(it.Expires):
		return stateExpired
	case !sc.filters.keep(infoOf(vault, it)):
		return stateFiltered
	}
	return stateKeep
}

// infoOf is the public form of a secret's metadata.
func infoOf(vault string, p azure.SecretProps) SecretInfo {
	return SecretInfo{Vault: vault, Secret: p.Name, Version: p.Version, ContentType: p.ContentType, Tags: p.Tags,
		Enabled: p.Enabled, NotBefore: p.NotBefore, Expires: p.Expires, Created: p.Created, Updated: p.Updated, Managed: p.Managed}
}

// cached serves a read from the cache, when the scan uses it and the
// cache holds a fresh value.
func (sc *scan) cached(ctx context.Context, r *read) bool {
	if !sc.useCache {
		return false
	}
	raw, ok := sc.c.cached(r.vs.ref.name, r.secret, r.version, sc.start)
	if !ok {
		return false
	}
	sc.finishGuarded(ctx, r, raw)
	r.fromCache = r.err == nil && !r.filtered
	return true
}

// finishGuarded is finish for a value from the cache, which is served on
// the caller's goroutine or a producer's: a panic of the filters or the
// mapping function becomes the read's failure, as it does on a worker.
func (sc *scan) finishGuarded(ctx context.Context, r *read, raw Credential) {
	defer func() {
		if v := recover(); v != nil {
			r.err = panicFailure(v)
		}
	}()
	sc.finish(ctx, r, raw, r.order >= 0)
}

// read reads one secret; it runs on a worker. Its start and end are taken
// by the Client's clock, which Watch judges settling by.
func (sc *scan) read(ctx context.Context, r *read) {
	if sc.c.tel.Tracing() {
		var span trace.Span
		ctx, span = sc.startRead(ctx, r)
		defer endRead(r, span) // after the deferred recover below
	}
	r.start = sc.c.now()
	defer func() {
		if v := recover(); v != nil {
			r.err = panicFailure(v)
		}
		r.done = sc.c.now()
	}()
	if ctx.Err() != nil {
		r.err = notStarted(ctx)
		return
	}
	raw, attempts, err := sc.c.get(ctx, r.vs, r.secret, r.version, sc.useCache)
	r.attempts = attempts
	if err != nil {
		r.err = sc.c.explain(ctx, err, r.vs.ref.name, r.secret, r.version, "get")
	} else {
		sc.finish(ctx, r, raw, r.order >= 0)
	}
	sc.c.logRead(ctx, r)
}

// finish turns a secret as read (or cached) into the read's credential:
// filtered (a named secret, on the metadata read with it), mapped, and
// named as asked for.
func (sc *scan) finish(ctx context.Context, r *read, raw Credential, filter bool) {
	if filter && len(sc.filters) > 0 && !sc.filters.keep(raw.info()) {
		r.filtered = true
		return
	}
	if f := sc.c.checkCertificate(ctx, &raw, sc.start); f != nil {
		r.err = f
		return
	}
	cred := raw
	if cred.Secret != r.secret { // named with the spelling asked for
		cred.Secret = r.secret
		cred.Name, cred.Username = cred.Vault+"/"+cred.Secret, cred.Secret
	}
	if f := mapCredential(sc.c.mapper, &cred); f != nil {
		r.err = f
		return
	}
	if why := outsideValidity(cred.NotBefore, cred.Expires, sc.start); why != "" {
		sc.c.log.LogAttrs(ctx, slog.LevelWarn, "akvcreds: returning a secret outside its validity period",
			slog.String("vault", cred.Vault), slog.String("secret", cred.Secret), slog.String("validity", why))
	}
	r.cred = cred
}

// get reads one secret from Key Vault, or, when useCache, from the cache;
// concurrent identical reads share one request. It returns the credential
// before mapping and the number of requests sent with a token.
func (c *Client) get(ctx context.Context, vs *vaultScan, secret, version string, useCache bool) (Credential, int, error) {
	vault := vs.ref.name
	key := cacheKey(vault, secret, version)
	for {
		out, err, _ := c.flight.Do(ctx, key, func() (res flightResult, err error) {
			defer func() {
				if p := recover(); p != nil {
					err = panicFailure(p)
				}
				res.ownerDone = ctx.Err() != nil
			}()
			var s azure.Secret
			res.attempts, err = c.call(ctx, vs, "get", func(ctx context.Context) error {
				var err error
				s, err = vs.conn.kv.Get(ctx, secret, version)
				return err
			})
			if err != nil {
				return res, err
			}
			res.cred = newCredential(infoOf(vault, s.SecretProps), s.ID, s.Value)
			if c.cache != nil {
				c.cache.Set(key, res.cred)
			}
			return res, nil
		})
		switch {
		case ctx.Err() != nil:
			return Credential{}, out.attempts, notStarted(ctx)
		case err != nil && out.ownerDone:
			continue // the shared request ran under another caller's context, which ended
		case err != nil && useCache:
			if cred, ok := c.stale(ctx, key, err); ok {
				return cred, out.attempts, nil
			}
		}
		return out.cred, out.attempts, err
	}
}

// flightResult is what a shared read returns to every caller.
type flightResult struct {
	cred      Credential
	attempts  int
	ownerDone bool // the context of the caller that ran it had ended
}

// call runs one Key Vault operation of a scan: after the vault's first
// request (one at a time until the vault has answered one with a token),
// unless the scan already knows the vault fails as a whole. The vault
// client paces it and retries 429s and transient failures. attempts counts
// the requests sent with a token.
func (c *Client) call(ctx context.Context, vs *vaultScan, op string, fn func(context.Context) error) (attempts int, err error) {
	if f := vs.poisoned(); f != nil {
		return 0, f
	}
	first, err := vs.conn.gate.enter(ctx)
	if err != nil {
		return 0, err
	}
	primed := false
	if first {
		defer func() { vs.conn.gate.leave(primed) }()
	}
	if f := vs.poisoned(); f != nil {
		return 0, f
	}
	cctx, sent := azure.CountAttempts(ctx)
	err = c.send(ctx, cctx, vs, op, fn)
	attempts = int(sent.Load())
	if err == nil {
		primed = true
		vs.markAccepted()
		return attempts, nil
	}
	ae := azure.Classify(err, op)
	if attempts > 0 && ae.Status != 0 && ae.Op != "token" && ae.Kind != azure.KindUnauthenticated {
		primed = true // the vault answered a request with a token
		if ae.Status < 500 && ae.Kind != azure.KindThrottled {
			vs.markAccepted()
		}
	}
	if ctx.Err() == nil && vs.vaultWide(ae) {
		vs.markWide(c.explain(ctx, ae, vs.ref.name, "", "", op))
	}
	return attempts, ae
}

// vaultWide reports whether a failure would hit every further request to
// the vault in this scan, so the remaining secrets are reported without
// more requests: no token, a rejected token or a malformed challenge, the
// firewall, a vault host that does not resolve, a vault that kept
// throttling past the pacer's budget, or a vault that is down: two requests
// (for different secrets, after their retries) failed — network, 5xx, no
// answer in time — before it answered anything in this scan. One such
// failure is not enough: a secret of its own can fail that way (say, a
// broken proxy rule for its path) while the vault serves the others; the
// second request is sent alone when the first was the vault's first (the
// gate), so a vault that is down from the start costs two requests' retries.
func (vs *vaultScan) vaultWide(ae *azure.Error) bool {
	switch {
	case ae.Op == "token", ae.Kind == azure.KindUnauthenticated, ae.Kind == azure.KindThrottled,
		ae.InnerCode == "ForbiddenByFirewall", ae.Code == "NoSuchHost":
		return true
	case ae.Kind == azure.KindUnavailable, ae.Kind == azure.KindCanceled:
		vs.mu.Lock()
		defer vs.mu.Unlock()
		if vs.accepted {
			return false
		}
		vs.down++
		return vs.down >= 2
	}
	return false
}

func (vs *vaultScan) poisoned() *failure {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.poison
}

func (vs *vaultScan) markWide(f *failure) {
	vs.mu.Lock()
	if vs.poison == nil {
		vs.poison = f
	}
	vs.mu.Unlock()
}

func (vs *vaultScan) markAccepted() {
	vs.mu.Lock()
	vs.accepted = true
	vs.mu.Unlock()
}

// recoverTo turns a panic on a producer goroutine into a failed listing of
// vs (or, for nil, of nothing: the reads not queued are reported unread).
func (sc *scan) recoverTo(vs *vaultScan) {
	if v := recover(); v != nil && vs != nil {
		vs.listErr = panicFailure(v)
	}
}

// panicFailure reports a panic recovered on one of akvcreds' goroutines,
// without the panic's value unless it is a runtime error (which cannot hold
// a secret).
func panicFailure(v any) *failure {
	what := fmt.Sprintf("a panic of type %T", v)
	if re, ok := v.(runtime.Error); ok {
		what = "a panic (" + re.Error() + ")"
	}
	return fail(kindMalformed, "akvcreds recovered from "+what+" while handling Azure's answer",
		"report this to the akvcreds maintainers with the request ID from the logs", nil)
}

// notStarted is the failure of a read that never ran: ctx ended.
func notStarted(ctx context.Context) *failure {
	err := ctx.Err()
	if err == nil {
		err = errors.New("the call ended first")
	}
	return fail(kindCanceled, "not fetched: "+err.Error(), "", err)
}

// sortReads orders a vault's reads: named secrets as given, listed ones by
// name (case-insensitive, then exact).
func sortReads(rs []*read) {
	slices.SortStableFunc(rs, func(a, b *read) int {
		if c := cmp.Compare(a.order, b.order); c != 0 || a.order >= 0 {
			return c // named secrets: their order is distinct
		}
		return cmp.Or(cmp.Compare(strings.ToLower(a.secret), strings.ToLower(b.secret)), cmp.Compare(a.secret, b.secret))
	})
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

// cached returns a credential of the cache that is fresh at now.
func (c *Client) cached(vault, secret, version string, now time.Time) (Credential, bool) {
	if c.cache == nil {
		return Credential{}, false
	}
	var buf [192]byte
	cred, fresh, ok := c.cache.GetBytesAt(appendCacheKey(buf[:0], vault, secret, version), now)
	if !ok || !fresh {
		return Credential{}, false
	}
	return cred, true
}

// stale returns the cached credential for key, marked Stale, when err is a
// failure to reach Key Vault (not an answer about the secret) and the entry
// expired less than a time to live (WithCache) ago.
func (c *Client) stale(ctx context.Context, key string, err error) (Credential, bool) {
	if c.cache == nil {
		return Credential{}, false
	}
	f := c.explain(ctx, err, "", "", "", "get")
	if f.kind != kindUnavailable && f.kind != kindThrottled {
		return Credential{}, false
	}
	cred, expiredFor, ok := c.cache.Stale(key)
	if !ok || expiredFor > c.cache.TTL() {
		return Credential{}, false
	}
	cred.Stale = true
	c.log.LogAttrs(ctx, slog.LevelWarn, "akvcreds: serving a stale credential", slog.String("vault", cred.Vault),
		slog.String("secret", cred.Secret), slog.String("error", f.Error()))
	return cred, true
}

// stateNames name the list states in logs.
var stateNames = [stateCount]string{"kept", "disabled", "not yet valid", "expired", "filtered out"}

// logSkipped logs a listed secret that is not read.
func (c *Client) logSkipped(ctx context.Context, l listed) {
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "akvcreds: listed secret skipped", slog.String("vault", l.info.Vault),
			slog.String("secret", l.info.Secret), slog.String("why", stateNames[l.state]))
	}
}

// logRead logs the outcome of one read.
func (c *Client) logRead(ctx context.Context, r *read) {
	level, msg := slog.LevelDebug, "akvcreds: secret fetched"
	if r.err != nil {
		level, msg = slog.LevelWarn, "akvcreds: secret not fetched"
	}
	if !c.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("vault", r.vs.ref.name), slog.String("secret", r.secret),
		slog.Int("attempts", r.attempts), slog.Duration("duration", c.now().Sub(r.start)),
	}
	if r.version != "" {
		attrs = append(attrs, slog.String("version", r.version))
	}
	if r.err != nil {
		attrs = append(attrs, slog.String("kind", r.err.kind.label()), slog.String("error", r.err.Error()))
	}
	c.log.LogAttrs(ctx, level, msg, attrs...)
}
