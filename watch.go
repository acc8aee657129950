package akvcreds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/akvcreds/akvcreds/internal/azure"
)

// Watch tuning. The jitter and backoff defaults can be changed per call with
// WatchJitter and WatchMaxBackoff.
const (
	// DefaultWatchJitter is the default spread of Watch's intervals: each
	// wait is the interval times a random factor in [0.85, 1.15], so that
	// replicas started together do not poll Key Vault in lock-step.
	DefaultWatchJitter = 0.15
	// DefaultWatchBackoffFactor bounds Watch's backoff after failing cycles
	// by default: the wait doubles per failing cycle up to this many
	// intervals (see WatchMaxBackoff).
	DefaultWatchBackoffFactor = 8
)

const (
	// settleDelay is how long after a response first showed a secret's
	// updated time a read is sure to see every version written in that
	// (one-second) updated time: a second plus a margin.
	settleDelay = 1250 * time.Millisecond
	// clockSkew is how far the local clock may be from Key Vault's. A secret
	// updated at least this long (plus a second) before it was read cannot
	// get another version with the same updated time.
	clockSkew = 5 * time.Minute
	// relistEvery: a vault whose named secrets are read directly (listing is
	// refused, or costs more requests than reading them) is listed again
	// every relistEvery cycles, to notice a granted permission or a vault
	// that has shrunk.
	relistEvery = 10
)

// Batch is what one Watch cycle found, delivered to the handler once per
// cycle (also when nothing changed). Cycle 0 is the initial full fetch: its
// Added holds every credential and its Errors every failure, as
// FetchCredentials would report them.
//
// Credentials in every slice come in the order of FetchCredentials: vaults
// as given, then secrets as given (or by name when listed).
type Batch struct {
	Cycle int       // 0 for the initial full fetch, then 1, 2, ...
	Time  time.Time // when the cycle started

	// Added are credentials seen for the first time (or again, after a
	// removal), Changed those whose value or metadata changed (compare
	// Version to tell a new value from new metadata), Removed the last known
	// credential of each secret Key Vault says is gone: deleted, disabled or,
	// for listed vaults, expired or not yet valid (for named secrets only
	// with WithExpiredPolicy(ExpiredReject)); also a secret a filter now
	// leaves out.
	Added, Changed, Removed []Credential

	// Errors are the cycle's failures, one *FetchError per failed secret or
	// failed vault listing (Secret ""), each wrapping a sentinel. A failure
	// never removes a credential: the last good value stays in Current.
	// After cycle 0, Key Vault answering that a secret is gone (404,
	// disabled) is a removal, not an error.
	Errors []*FetchError

	// Current is every credential held after the cycle: what
	// FetchCredentials would return now, except that a secret whose read
	// failed keeps its last good value.
	Current []Credential

	// ListPages and Reads count the cycle's Key Vault requests: list pages
	// and secret reads (retries not counted).
	ListPages, Reads int

	// Next is how long Watch waits before the next cycle: the interval,
	// doubled per consecutive failing cycle up to the maximum backoff, with
	// jitter applied.
	Next time.Duration
}

// Err returns errors.Join of b.Errors (nil when there are none), to test
// with errors.Is or pass to FetchErrors.
func (b Batch) Err() error {
	errs := make([]error, len(b.Errors))
	for i, e := range b.Errors {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// HasChanges reports whether anything was added, changed or removed.
func (b Batch) HasChanges() bool {
	return len(b.Added)+len(b.Changed)+len(b.Removed) > 0
}

// WatchOption adjusts one Watch call. Created by the Watch* functions of
// this package only.
type WatchOption interface {
	applyWatch(*watchSettings)
}

type watchOptionFunc func(*watchSettings)

func (f watchOptionFunc) applyWatch(s *watchSettings) { f(s) }

type watchSettings struct {
	vaults        []string
	vaultsSet     bool
	secrets       []string
	secretsSet    bool
	jitter        float64
	maxBackoff    time.Duration
	maxBackoffSet bool
}

// WatchVaults replaces the Client's vaults (WithVaults) for this Watch.
func WatchVaults(vaults ...string) WatchOption {
	return watchOptionFunc(func(s *watchSettings) { s.vaults, s.vaultsSet = append(s.vaults, vaults...), true })
}

// WatchSecrets replaces the Client's secret names (WithSecrets) for this
// Watch; with no names, Watch lists every vault.
func WatchSecrets(names ...string) WatchOption {
	return watchOptionFunc(func(s *watchSettings) { s.secrets, s.secretsSet = append(s.secrets, names...), true })
}

// WatchJitter sets the spread of Watch's waits: each is multiplied by a
// random factor in [1-fraction, 1+fraction]. fraction must be within 0 (no
// jitter) and 0.5; the default is DefaultWatchJitter.
func WatchJitter(fraction float64) WatchOption {
	return watchOptionFunc(func(s *watchSettings) { s.jitter = fraction })
}

// WatchMaxBackoff caps the wait after failing cycles (before jitter). After
// a cycle with a failed listing or a transient failure (throttling, network,
// 5xx, authentication) the wait doubles, up to d; a clean cycle restores the
// interval. Default: DefaultWatchBackoffFactor times the interval. A d
// shorter than the interval means no backoff.
func WatchMaxBackoff(d time.Duration) WatchOption {
	return watchOptionFunc(func(s *watchSettings) { s.maxBackoff, s.maxBackoffSet = d, true })
}

// Watch keeps credentials current. It fetches every credential (as
// FetchCredentials does, with the Client's filters and username mapping,
// but always from Key Vault, never from the cache), then
// every interval (jittered, see WatchJitter) lists each vault and reads only
// the secrets that are new or whose "updated" time changed — a new version
// or new attributes change it — and calls handler with one Batch per cycle:
// what was added, changed and removed, and the cycle's errors. A cycle
// without changes costs one list request per 25 secrets of each vault
// (Azure's page size) and no secret reads.
//
// A credential is removed only when Key Vault says it is gone: the secret
// is missing from a complete listing of its vault, is listed disabled (or,
// when vaults are listed, expired or not yet valid), or a read answers 404
// or "disabled". A failed listing or read keeps the last good credential and
// reports the failure in Batch.Errors; after a cycle with a failed listing
// or a transient failure (throttling, network, 5xx, authentication) the
// wait doubles, up to WatchMaxBackoff. A secret that a filter (WithFilters)
// leaves out after a change is removed too. With WithCache, removed secrets
// are dropped from the cache and changed ones replaced; a stale value
// (WithStaleOnError) counts as a failed read.
//
// Key Vault's "updated" time has one-second resolution, so a second version
// written in the same second as the read of the first would look unchanged.
// A secret read less than about five minutes (the tolerated clock skew)
// after its updated time is therefore read once more in the first cycle at
// least a second later: a rotation seen promptly costs two reads, one when
// it is seen and one to confirm it.
//
// Named secrets (WithSecrets or WatchSecrets): the initial fetch reads each
// one; later cycles list the vault and read the named secrets whose updated
// time changed. When listing costs more requests than reading the named
// secrets (a large vault, few names), or when listing is refused (403: the
// access policy lacks the secret "List" permission, or the role does not
// cover the vault), Watch reads every named secret each cycle instead,
// comparing versions, and lists again every tenth cycle. A refused listing
// is reported once, as a *FetchError (Secret "") wrapping ErrForbidden in
// that cycle's Batch.Errors and a warning log record; it does not count as a
// failure. Named secrets follow WithExpiredPolicy as in FetchCredentials:
// by default an expired one is kept (see Credential.Expired); with
// ExpiredReject it is removed once its expiry passes. After the initial
// fetch, a named secret that does not exist (or is disabled, or rejected as
// expired) is not reported again until it becomes available.
//
// handler runs on Watch's goroutine, one batch at a time; the next wait
// starts when it returns, and it may call the Client. Watch returns only when
// ctx ends, with ctx.Err() — after every request it started has finished and
// without delivering the unfinished cycle — or, before any request, with an
// error wrapping ErrInvalidArgument for a non-positive interval, a nil
// handler or a bad option.
func (c *Client) Watch(ctx context.Context, interval time.Duration, handler func(Batch), opts ...WatchOption) error {
	w, err := c.newWatcher(interval, handler, opts)
	if err != nil {
		return err
	}
	return w.run(ctx)
}

// watcher is one Watch call.
type watcher struct {
	c          *Client
	named      []secretRef // nil: list each vault
	vaults     []*watchVault
	interval   time.Duration
	maxBackoff time.Duration
	jitter     float64
	handler    func(Batch)
}

// watchVault is what a Watch knows about one vault.
type watchVault struct {
	idx     int
	ref     vaultRef
	conn    *vaultConn
	connErr error
	known   map[string]*watchEntry // by watchKey
	// direct > 0: named secrets are read directly in the next direct cycles
	// instead of listing the vault.
	direct int
	// refused: the last listing was refused (reported once).
	refused bool
}

// watchEntry is a held credential.
type watchEntry struct {
	cred  Credential
	order int // index among the named secrets; -1 when listed
	// firstSeen is when a response first showed cred.Updated (monotonic).
	firstSeen time.Time
	// settled: no other version can carry cred.Updated unseen.
	settled bool
}

func watchKey(secret, version string) string {
	return strings.ToLower(secret) + "/" + strings.ToLower(version)
}

func (c *Client) newWatcher(interval time.Duration, handler func(Batch), opts []WatchOption) (*watcher, error) {
	s := watchSettings{jitter: DefaultWatchJitter}
	var errs []error
	for i, o := range opts {
		if o == nil {
			errs = append(errs, invalid("Watch", fmt.Errorf("a WatchOption is nil (option %d of %d)", i+1, len(opts))))
			continue
		}
		o.applyWatch(&s)
	}
	if interval <= 0 {
		errs = append(errs, invalid("Watch", fmt.Errorf("interval %v must be positive", interval)))
	}
	if handler == nil {
		errs = append(errs, invalid("Watch", errors.New("the handler is nil")))
	}
	if math.IsNaN(s.jitter) || s.jitter < 0 || s.jitter > 0.5 {
		errs = append(errs, invalid("WatchJitter", fmt.Errorf("%v is out of range: use 0 to 0.5", s.jitter)))
	}
	if s.maxBackoffSet && s.maxBackoff <= 0 {
		errs = append(errs, invalid("WatchMaxBackoff", fmt.Errorf("%v must be positive", s.maxBackoff)))
	}
	vaults, named := c.vaults, c.secrets
	if s.vaultsSet {
		var verrs []error
		vaults, verrs = parseVaults(s.vaults, c.cloud)
		for _, err := range verrs {
			errs = append(errs, invalid("WatchVaults", err))
		}
	}
	if s.secretsSet {
		var serrs []error
		named, serrs = parseSecrets(s.secrets)
		for _, err := range serrs {
			errs = append(errs, invalid("WatchSecrets", err))
		}
	}
	if len(errs) == 0 && len(vaults) == 0 {
		errs = append(errs, invalid("Watch", errors.New("no vaults: give WithVaults to New or WatchVaults to Watch")))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if named != nil {
		// Name filters (WithFilters) decide before any read, as in FetchCredentials.
		named = slices.DeleteFunc(slices.Clone(named), func(s secretRef) bool {
			return !c.filters.keep(azure.SecretProps{Name: s.name}, true)
		})
	}
	w := &watcher{c: c, named: named, interval: interval, jitter: s.jitter, handler: handler}
	w.maxBackoff = math.MaxInt64
	if interval <= math.MaxInt64/DefaultWatchBackoffFactor {
		w.maxBackoff = DefaultWatchBackoffFactor * interval
	}
	if s.maxBackoffSet {
		w.maxBackoff = s.maxBackoff
	}
	w.maxBackoff = max(w.maxBackoff, interval)
	for i, ref := range vaults {
		wv := &watchVault{idx: i, ref: ref, known: map[string]*watchEntry{}}
		wv.conn, wv.connErr = c.conn(ref)
		w.vaults = append(w.vaults, wv)
	}
	return w, nil
}

func (w *watcher) run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	failures := 0
	for n := 0; ; n++ {
		start := time.Now()
		b, failed := w.cycle(ctx, n)
		took := time.Since(start)
		if err := ctx.Err(); err != nil {
			return err // the unfinished cycle is not delivered
		}
		if failed {
			failures++
		} else {
			failures = 0
		}
		b.Next = w.wait(failures)
		w.logCycle(ctx, b, failures, took)
		w.handler(b)
		t := time.NewTimer(b.Next)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// wait is the jittered wait after failures consecutive failing cycles.
func (w *watcher) wait(failures int) time.Duration {
	d := w.interval
	for range failures {
		if d >= w.maxBackoff/2 {
			d = w.maxBackoff
			break
		}
		d *= 2
	}
	d = min(d, w.maxBackoff)
	if w.jitter > 0 {
		f := 1 + w.jitter*(2*rand.Float64()-1)
		if j := float64(d) * f; j < float64(math.MaxInt64) {
			d = time.Duration(j)
		}
	}
	return max(d, 1)
}

// watchCycle is one Watch cycle.
type watchCycle struct {
	n      int
	start  time.Time
	vaults []*vaultCycle
}

// vaultCycle is one vault's part of a cycle. Its producer goroutine writes
// it; apply reads it after every goroutine of the cycle has finished.
type vaultCycle struct {
	wv       *watchVault
	g        *vaultRun // vault-wide failures of this cycle
	listed   bool
	complete bool
	listErr  error
	pages    int
	seen     map[string]azure.SecretProps // listed secrets, by lower-case name
	gone     []string                     // held keys Key Vault says are gone (listed unusable, or absent from a complete listing)
	reads    []*watchRead
}

// watchRead is one secret read of a cycle.
type watchRead struct {
	vc            *vaultCycle
	key           string
	name, version string
	order         int
	start, done   time.Time
	cred          Credential
	err           error
	filtered      bool // read, but left out by a metadata filter
}

// cycle lists and reads what is needed, then applies the outcome to what
// the watcher knows. failed reports a failed listing or transient failure.
func (w *watcher) cycle(ctx context.Context, n int) (Batch, bool) {
	cy := &watchCycle{n: n, start: time.Now()}
	jobs := make(chan *watchRead)
	var producers, workers sync.WaitGroup
	for _, wv := range w.vaults {
		vc := &vaultCycle{wv: wv, g: &vaultRun{ref: wv.ref, conn: wv.conn}}
		cy.vaults = append(cy.vaults, vc)
		if wv.connErr != nil {
			continue
		}
		producers.Go(func() { w.produce(ctx, cy, vc, jobs) })
	}
	for range w.c.conc {
		workers.Go(func() {
			for r := range jobs {
				w.read(ctx, r)
			}
		})
	}
	producers.Wait()
	close(jobs)
	workers.Wait()
	if ctx.Err() != nil {
		return Batch{}, false
	}
	return w.apply(ctx, cy)
}

// produce decides what to read in one vault (listing it when that is the
// way) and queues the reads.
func (w *watcher) produce(ctx context.Context, cy *watchCycle, vc *vaultCycle, jobs chan<- *watchRead) {
	wv := vc.wv
	send := func(r *watchRead) bool {
		r.vc = vc
		vc.reads = append(vc.reads, r)
		select {
		case jobs <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	readNamed := func() {
		for i, s := range w.named {
			if !send(&watchRead{key: watchKey(s.name, s.version), name: s.name, version: s.version, order: i}) {
				return
			}
		}
	}

	if w.named != nil {
		if len(w.named) == 0 {
			return // every named secret is filtered out by name
		}
		if cy.n == 0 || wv.direct > 0 {
			if cy.n > 0 {
				wv.direct--
			}
			readNamed()
			return
		}
		w.list(ctx, vc, nil)
		if vc.listErr != nil {
			if listRefused(vc.listErr) {
				readNamed()
			}
			return // any other failure: keep everything, read nothing
		}
		now := time.Now()
		for i, s := range w.named {
			key := watchKey(s.name, s.version)
			e := wv.known[key]
			it, listed := vc.seen[strings.ToLower(s.name)]
			switch {
			case !listed:
				if vc.complete && e != nil {
					vc.gone = append(vc.gone, key)
				}
				continue
			case s.version != "":
				// A version never changes; the listing only tells whether
				// the secret still exists.
				if e != nil {
					continue
				}
			case !it.Enabled:
				if e != nil {
					vc.gone = append(vc.gone, key)
				}
				continue
			case !needRead(e, it, now):
				continue
			}
			if !send(&watchRead{key: key, name: s.name, version: s.version, order: i}) {
				return
			}
		}
		return
	}

	w.list(ctx, vc, func(it azure.SecretProps) bool {
		key := watchKey(it.Name, "")
		e := wv.known[key]
		if !usable(it, cy.start) || !w.c.filters.keep(it, false) {
			if e != nil {
				vc.gone = append(vc.gone, key)
			}
			return true
		}
		if !needRead(e, it, time.Now()) {
			return true
		}
		return send(&watchRead{key: key, name: it.Name, order: -1})
	})
	if vc.complete {
		for key, e := range wv.known {
			if _, ok := vc.seen[strings.ToLower(e.cred.Secret)]; !ok {
				vc.gone = append(vc.gone, key)
			}
		}
	}
}

// needRead reports whether a listed secret must be read: it is new, its
// updated time changed (or is missing), or it was read so soon after its
// updated time that another version with the same time may have followed,
// and a second has passed since.
func needRead(e *watchEntry, it azure.SecretProps, now time.Time) bool {
	if e == nil || it.Updated.IsZero() || !e.cred.Updated.Equal(it.Updated) {
		return true
	}
	return !e.settled && now.Sub(e.firstSeen) >= settleDelay
}

// listRefused reports whether a listing failed for lack of permission (not
// the firewall, which refuses reads too).
func listRefused(err error) bool {
	var ae *azure.Error
	return errors.As(err, &ae) && ae.Kind == azure.KindForbidden && ae.InnerCode != "ForbiddenByFirewall"
}

// list pages through the vault, recording every listed secret; each (when
// not nil) is called per secret and returns false to stop.
func (w *watcher) list(ctx context.Context, vc *vaultCycle, each func(azure.SecretProps) bool) {
	vc.listed = true
	vc.seen = map[string]azure.SecretProps{}
	conn := vc.wv.conn
	lister := conn.kv.Lister()
	for lister.More() {
		var items []azure.SecretProps
		vc.pages++
		_, err := w.c.call(ctx, conn, vc.g, func(ctx context.Context) error {
			var err error
			items, err = lister.Next(ctx)
			return err
		})
		if err != nil {
			vc.listErr = err
			return
		}
		for _, it := range items {
			vc.seen[strings.ToLower(it.Name)] = it
			if each != nil && !each(it) {
				return
			}
		}
	}
	vc.complete = true
}

func (w *watcher) read(ctx context.Context, r *watchRead) {
	r.start = time.Now()
	if ctx.Err() != nil {
		r.err, r.done = notStarted(ctx), r.start
		return
	}
	vc := r.vc
	cred, attempts, props, err := w.c.fetchOne(ctx, vc.wv.conn, r.name, r.version, true, vc.g)
	r.done = time.Now()
	w.c.logFetch(ctx, vc.wv.ref.name, r.name, r.version, attempts, r.done.Sub(r.start), err)
	if err == nil && cred.Stale {
		// WithStaleOnError served the cache because Key Vault could not be
		// reached: for Watch that is a failed read; it keeps its own last
		// good credential.
		cred, err = Credential{}, fmt.Errorf("%w: Key Vault could not be reached (a stale cached value was offered and ignored; the last good credential is kept)", ErrUnavailable)
	}
	r.cred, r.err = cred, err
	// As FetchCredentials does, metadata filters judge a named secret by the
	// metadata read with it (a listed one was judged by its listing).
	if err == nil && r.order >= 0 && !w.c.filters.keep(props, false) {
		r.filtered = true
	}
}

// placed is a credential with its position in the results.
type placed struct {
	vault, order int
	cred         Credential
}

func sortPlaced(ps []placed) []Credential {
	slices.SortStableFunc(ps, func(a, b placed) int {
		return cmp.Or(
			cmp.Compare(a.vault, b.vault),
			cmp.Compare(a.order, b.order),
			cmp.Compare(strings.ToLower(a.cred.Secret), strings.ToLower(b.cred.Secret)),
			cmp.Compare(a.cred.Secret, b.cred.Secret),
		)
	})
	out := make([]Credential, len(ps))
	for i, p := range ps {
		out[i] = p.cred
	}
	return out
}

// apply turns a finished cycle into a Batch and updates what is known.
func (w *watcher) apply(ctx context.Context, cy *watchCycle) (Batch, bool) {
	b := Batch{Cycle: cy.n, Time: cy.start.Round(0)}
	var added, changed, removed []placed
	failed := false
	remove := func(wv *watchVault, key string) {
		e := wv.known[key]
		if e == nil {
			return
		}
		delete(wv.known, key)
		removed = append(removed, placed{wv.idx, e.order, e.cred})
		if w.c.cache != nil {
			w.c.cache.DeletePrefix(cacheKeyPrefix(wv.ref.name, e.cred.Secret))
		}
	}
	for _, vc := range cy.vaults {
		wv := vc.wv
		vault := wv.ref.name
		b.ListPages += vc.pages
		b.Reads += len(vc.reads)
		if wv.connErr != nil {
			b.Errors = append(b.Errors, newFetchError(vault, "", "", invalid("WithVaults", wv.connErr)))
			failed = true
			continue
		}
		switch {
		case vc.listErr != nil && w.named != nil && listRefused(vc.listErr):
			wv.direct = relistEvery - 1
			if !wv.refused {
				wv.refused = true
				err := fmt.Errorf("listing is refused, so every named secret is read each cycle instead of only the changed ones (listed again every %d cycles; grant the secret \"List\" permission to read only changes): %w",
					relistEvery, w.c.explain(vc.listErr, vault, "", "", "list"))
				w.c.log.LogAttrs(ctx, slog.LevelWarn, "akvcreds: watch: listing refused; reading every named secret each cycle",
					slog.String("vault", vault), slog.String("error", err.Error()))
				b.Errors = append(b.Errors, newFetchError(vault, "", "", err))
			}
		case vc.listErr != nil:
			b.Errors = append(b.Errors, newFetchError(vault, "", "", w.c.explain(vc.listErr, vault, "", "", "list")))
			failed = true
		case vc.listed && vc.complete:
			if wv.refused {
				wv.refused = false
				w.c.log.LogAttrs(ctx, slog.LevelInfo, "akvcreds: watch: listing allowed again; reading only changed secrets",
					slog.String("vault", vault))
			}
			if w.named != nil && len(w.named) < vc.pages {
				// Reading the named secrets costs fewer requests than listing.
				wv.direct = relistEvery - 1
			}
		}
		for _, r := range vc.reads {
			prev := wv.known[r.key]
			if r.filtered {
				remove(wv, r.key)
				continue
			}
			if r.err != nil {
				if cy.n > 0 && (errors.Is(r.err, ErrNotFound) || errors.Is(r.err, ErrDisabled) || errors.Is(r.err, ErrExpired)) {
					remove(wv, r.key) // Key Vault says it is gone (or no longer valid)
					continue
				}
				b.Errors = append(b.Errors, newFetchError(vault, r.name, r.version, r.err))
				if errors.Is(r.err, ErrThrottled) || errors.Is(r.err, ErrUnavailable) || errors.Is(r.err, ErrUnauthenticated) {
					failed = true
				}
				continue
			}
			e := &watchEntry{cred: r.cred, order: r.order, firstSeen: r.done}
			if prev != nil && prev.cred.Updated.Equal(r.cred.Updated) {
				e.firstSeen = prev.firstSeen
			}
			// Settled when the read started long after the updated time by
			// any plausible clock (a wall-clock comparison), or at least a
			// second after a response first showed it (monotonic).
			e.settled = r.start.Sub(r.cred.Updated) >= time.Second+clockSkew || r.start.Sub(e.firstSeen) >= settleDelay
			wv.known[r.key] = e
			switch {
			case prev == nil:
				added = append(added, placed{wv.idx, r.order, r.cred})
			case !sameCredential(prev.cred, r.cred):
				changed = append(changed, placed{wv.idx, r.order, r.cred})
			}
		}
		for _, key := range vc.gone {
			remove(wv, key)
		}
		if w.named != nil && w.c.mapping.expired == ExpiredReject {
			// Expiry passes without a new updated time: judge what is held.
			for key, e := range wv.known {
				if e.cred.Expired(cy.start) || (!e.cred.NotBefore.IsZero() && cy.start.Before(e.cred.NotBefore)) {
					remove(wv, key)
				}
			}
		}
	}
	b.Added, b.Changed, b.Removed = sortPlaced(added), sortPlaced(changed), sortPlaced(removed)
	var cur []placed
	for _, wv := range w.vaults {
		for _, e := range wv.known {
			cur = append(cur, placed{wv.idx, e.order, e.cred})
		}
	}
	b.Current = sortPlaced(cur)
	return b, failed
}

// sameCredential reports whether a read found nothing new.
func sameCredential(a, b Credential) bool {
	return a.Version == b.Version && a.Password.Reveal() == b.Password.Reveal() &&
		a.ContentType == b.ContentType && a.Enabled == b.Enabled &&
		a.NotBefore.Equal(b.NotBefore) && a.Expires.Equal(b.Expires) && a.Updated.Equal(b.Updated) &&
		maps.Equal(a.Tags, b.Tags)
}

func (w *watcher) logCycle(ctx context.Context, b Batch, failures int, took time.Duration) {
	level := slog.LevelDebug
	if b.HasChanges() || len(b.Errors) > 0 || b.Cycle == 0 {
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{
		slog.Int("cycle", b.Cycle),
		slog.Int("added", len(b.Added)), slog.Int("changed", len(b.Changed)), slog.Int("removed", len(b.Removed)),
		slog.Int("errors", len(b.Errors)), slog.Int("current", len(b.Current)),
		slog.Int("listPages", b.ListPages), slog.Int("reads", b.Reads),
		slog.Duration("duration", took), slog.Duration("next", b.Next),
	}
	if failures > 0 {
		attrs = append(attrs, slog.Int("failingCycles", failures))
	}
	w.c.log.LogAttrs(ctx, level, "akvcreds: watch cycle", attrs...)
}
