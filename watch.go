package akvcreds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/akvcreds/akvcreds/internal/telemetry"
)

const (
	// watchJitter spreads Watch's waits: each is the interval times a
	// random factor in [0.85, 1.15], so that replicas started together do
	// not poll Key Vault in lock-step.
	watchJitter = 0.15
	// watchBackoff bounds the backoff after failing cycles: the wait
	// doubles per failing cycle up to this many intervals.
	watchBackoff = 8
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
// FetchCredentials would report them. FetchSummary fills a Batch for a
// fetch in the same form, with its counts.
//
// Added, Changed and Removed are measured against what the handler last
// accepted: when the handler returns an error, the next batch holds those
// changes again (merged with the new ones), so a handler that failed to
// store a change sees it until it succeeds.
//
// Credentials in every slice come in the order of FetchCredentials: vaults
// as given, then secrets as given (or by name when listed).
type Batch struct {
	Cycle int       // 0 for the initial full fetch, then 1, 2, ...
	Time  time.Time // when the cycle started

	// Trigger is what started the cycle: "start" (cycle 0), "interval",
	// "trigger" (WatchTrigger), "event" (Event Grid events, see
	// WithEventGrid: only the secrets they named were read, nothing was
	// listed) or "reconcile" (events asked for a full cycle:
	// VaultAccessPolicyChanged, or more secrets named than
	// EventGrid.MaxPending).
	Trigger string
	// Events is how many Event Grid events the cycle answers: those
	// coalesced into its reads, or, for a full cycle, those pending when it
	// started (its listing covers them).
	Events int

	// Added are credentials new to the handler, Changed those whose value
	// or metadata changed (compare Version to tell a new value from new
	// metadata), Removed the last credential the handler saw of each secret
	// Key Vault says is gone: deleted, disabled or, for listed vaults,
	// expired or not yet valid; also a secret a filter now leaves out.
	Added, Changed, Removed []Credential

	// Errors are the cycle's failures, one *FetchError per failed secret or
	// failed vault listing (Secret ""). A failure never removes a
	// credential: the last good value stays in Current. After cycle 0, Key
	// Vault answering that a secret is gone (404, disabled, a mapping
	// function's ErrExpired, or a certificate whose leaf expired) is a
	// removal, not an error.
	Errors []*FetchError

	// Current is every credential held after the cycle: what
	// FetchCredentials would return now, except that a secret whose read
	// failed keeps its last good value.
	Current []Credential

	// The counts of the cycle's work (or, with FetchSummary, of a fetch's):
	// a Watch cycle without changes costs one list request per 25 secrets
	// of each listed vault and no reads.
	Vaults             int // vaults read
	Listed             int // secrets seen in listings
	Fetched            int // credentials read, from Key Vault or the cache
	FromCache          int // of Fetched, served by WithCache
	Stale              int // of Fetched, served stale (WithCache, Key Vault unreachable)
	FilteredOut        int // left out by filters
	SkippedDisabled    int // listed but disabled
	SkippedExpired     int // listed but expired
	SkippedNotYetValid int // listed but not valid yet (not-before in the future)
	Failed             int // *FetchError values: len(Errors)
	// CertificatesExpiring counts the certificate credentials returned
	// (a fetch) or held (Watch: Current) whose leaf expires within the
	// window of WithCertificateExpiry.
	CertificatesExpiring int
	ListPages            int           // list requests (pages)
	Reads                int           // secret reads sent to Key Vault (retries not counted)
	Duration             time.Duration // wall time

	// Next is how long Watch waits before the next cycle if the handler
	// accepts the batch: the interval, doubled per consecutive failing
	// cycle (or failed handler) up to eight intervals, with ±15 % jitter.
	// A handler that returns an error doubles the wait once more, as a
	// failing cycle does (the "watch cycle" log record shows the wait).
	Next time.Duration
}

// Watch keeps credentials current. It fetches every credential (as
// FetchCredentials does, with the Client's filters and mapping, but always
// from Key Vault, never from the cache), then every interval lists each
// vault and reads only the secrets that are new or whose "updated" time
// changed — a new version or new attributes change it — and calls handler
// with one Batch per cycle. Options: FetchNames chooses the vaults and
// secrets, FetchSummary receives each cycle's Batch, WatchTrigger starts
// cycles early.
//
// A credential is removed only when Key Vault says it is gone: the secret is
// missing from a complete listing of its vault, is listed disabled (or, when
// vaults are listed, expired or not yet valid), or a read answers 404 or
// "disabled" — or, for a certificate credential, when its leaf expires or
// is not valid yet (a held certificate is read again when its leaf expires
// or enters WithCertificateExpiry's window). A failed listing or read keeps the last good credential and
// reports the failure in Batch.Errors. After a cycle with a failed listing
// or a transient failure (throttling, network, 5xx, authentication), or a
// handler error, the wait doubles, up to eight intervals. With WithCache,
// removed secrets are dropped from the cache and changed ones replaced.
//
// Key Vault's "updated" time has one-second resolution, so a second version
// written in the same second as the read of the first would look unchanged.
// A secret read less than about five minutes (the tolerated clock skew)
// after its updated time is therefore read once more in the first cycle at
// least a second later: a rotation seen promptly costs two reads.
//
// Named secrets: the initial fetch reads each; later cycles list the vault
// and read the named secrets whose updated time changed, or whose validity
// period began or ended since they were read. When listing costs more
// requests than reading the named secrets, or when listing is refused
// (the access policy lacks "List"), Watch reads every named secret each
// cycle instead, and lists again every tenth cycle. A refused listing is
// reported once in Batch.Errors (Secret "", ErrForbidden) and logged; it
// does not count as a failure.
//
// With WithEventGrid, a running Watch also reacts to Key Vault's events
// (see Client.ServeHTTP): an event for a secret it watches starts a cycle
// at once that reads only the secrets named by events (Batch.Trigger
// "event"), without waiting for the interval, which then only paces the
// safety reconcile that catches lost events: use an hour. Events do not
// postpone that reconcile.
//
// handler runs on Watch's goroutine, one batch at a time; the next wait
// starts when it returns, and it may call the Client. Watch returns only
// when ctx ends, with ctx.Err() — after every request it started has
// finished, without delivering the unfinished cycle — or, before any
// request, with an error wrapping ErrInvalidArgument for a non-positive
// interval, a nil handler or a bad option.
func (c *Client) Watch(ctx context.Context, interval time.Duration, handler func(Batch) error, opts ...FetchOption) error {
	s, err := c.callSettings("Watch", opts)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if interval <= 0 {
		errs = append(errs, invalid("Watch", fmt.Errorf("interval %v must be positive", interval)))
	}
	if handler == nil {
		errs = append(errs, invalid("Watch", errors.New("the handler is nil")))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	w := &watcher{c: c, interval: interval, handler: handler, trigger: s.trigger, summary: s.summary}
	for _, p := range s.plans {
		w.vaults = append(w.vaults, &watchVault{plan: p, known: map[string]*watchEntry{}, acked: map[string]watchEntry{}})
	}
	return w.run(ctx)
}

// watcher is one Watch call.
type watcher struct {
	c        *Client
	vaults   []*watchVault
	interval time.Duration
	handler  func(Batch) error
	trigger  <-chan time.Time
	summary  *Batch
	q        *eventQueue // nil without WithEventGrid
}

// The triggers of a cycle (Batch.Trigger).
const (
	triggerStart     = "start"
	triggerInterval  = "interval"
	triggerManual    = "trigger"
	triggerEvent     = "event"
	triggerReconcile = "reconcile"
)

// cycleWork is what a cycle is to do: a full cycle, or (trigger "event")
// read the targets, by vault name.
type cycleWork struct {
	trigger string
	targets map[string][]secretRef
	events  int
}

// watchVault is what a Watch knows about one vault.
type watchVault struct {
	plan  vaultPlan
	known map[string]*watchEntry // by watchKey: what Key Vault last said
	acked map[string]watchEntry  // by watchKey: what the handler last accepted
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
	// validity is outsideValidity at the read: a change means a re-read.
	validity string
	// cert is the certificate's state at the read (certNone for other
	// secrets): a change (expiring, expired) means a re-read too.
	cert certState
}

func watchKey(secret, version string) string {
	return strings.ToLower(secret) + "/" + strings.ToLower(version)
}

func (w *watcher) run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rc := w.c.events; rc != nil {
		var detach func()
		w.q, detach = rc.attach(w.scope())
		defer detach()
	}
	failures := 0
	work := cycleWork{trigger: triggerStart}
	var due time.Time // of the next full cycle
	for n := 0; ; n++ {
		event := work.trigger == triggerEvent
		if !event && w.q != nil {
			work.events += w.q.drain() // the full cycle covers them
		}
		start := time.Now()
		b, failed := w.cycle(ctx, n, work)
		took := time.Since(start)
		if err := ctx.Err(); err != nil {
			return err // the unfinished cycle is not delivered
		}
		streak := 0
		if failed {
			streak = failures + 1
		}
		b.Next = w.wait(streak)
		if event {
			b.Next = max(time.Until(due), 1) // events do not postpone the full cycle
		}
		if w.summary != nil {
			*w.summary = b
		}
		err := w.deliver(ctx, b)
		if !event {
			if err != nil && !failed {
				streak = failures + 1
				b.Next = w.wait(streak) // the handler failed: back off too
			}
			failures = streak
			due = time.Now().Add(b.Next)
		}
		w.logCycle(ctx, b, failures, took, err)
		if work, err = w.sleep(ctx, due); err != nil {
			return err
		}
	}
}

// sleep waits until due, or for the trigger, or for events' work (paced by
// the queue's bucket), or for ctx to end, and returns the next cycle's
// work.
func (w *watcher) sleep(ctx context.Context, due time.Time) (cycleWork, error) {
	t := time.NewTimer(time.Until(due))
	defer t.Stop()
	var signal <-chan struct{}
	if w.q != nil {
		signal = w.q.signal
	}
	for {
		var retry <-chan time.Time
		var rt *time.Timer
		if w.q != nil {
			ew, wait, ok := w.q.take()
			if ok {
				return w.eventWork(ew), nil
			}
			if wait > 0 {
				rt = time.NewTimer(wait)
				retry = rt.C
			}
		}
		var work cycleWork
		select {
		case <-ctx.Done():
			return work, ctx.Err()
		case <-t.C:
			work.trigger = triggerInterval
		case <-w.trigger:
			work.trigger = triggerManual
		case <-signal:
		case <-retry:
		}
		if rt != nil {
			rt.Stop()
		}
		if work.trigger != "" {
			return work, nil
		}
	}
}

// eventWork turns what the queue gave into a cycle's work.
func (w *watcher) eventWork(ew eventWork) cycleWork {
	if ew.all || len(ew.reconcile) > 0 {
		return cycleWork{trigger: triggerReconcile, events: ew.events}
	}
	work := cycleWork{trigger: triggerEvent, events: ew.events, targets: map[string][]secretRef{}}
	for _, t := range ew.targets {
		work.targets[t.vault] = append(work.targets[t.vault], secretRef{name: t.secret})
	}
	return work
}

// scope is what the Watch reads, for routing events to it.
func (w *watcher) scope() scope {
	sc := scope{}
	for _, wv := range w.vaults {
		sc[wv.plan.ref.name] = namedSet(wv.plan.named)
	}
	return sc
}

// targets returns the secrets of wv an event cycle reads: for named
// secrets, spelt as the plan names them.
func (wv *watchVault) targets(work cycleWork) []secretRef {
	refs := []secretRef{}
	for _, t := range work.targets[wv.plan.ref.name] {
		if wv.plan.named == nil {
			refs = append(refs, t)
			continue
		}
		for _, n := range wv.plan.named {
			if n.version == "" && strings.EqualFold(n.name, t.name) {
				refs = append(refs, n)
				break
			}
		}
	}
	return refs
}

// deliver hands b to the handler and, when it accepts it, records what it
// accepted.
func (w *watcher) deliver(ctx context.Context, b Batch) error {
	if err := w.handler(b); err != nil {
		return err
	}
	w.c.tel.WatchChanges(ctx, len(b.Added), len(b.Changed), len(b.Removed))
	for _, wv := range w.vaults {
		clear(wv.acked)
		for k, e := range wv.known {
			wv.acked[k] = *e
		}
	}
	return nil
}

// wait is the jittered wait after failures consecutive failing cycles.
func (w *watcher) wait(failures int) time.Duration {
	maxWait := time.Duration(math.MaxInt64)
	if w.interval <= math.MaxInt64/watchBackoff {
		maxWait = watchBackoff * w.interval
	}
	d := w.interval
	for range failures {
		if d >= maxWait/2 {
			d = maxWait
			break
		}
		d *= 2
	}
	if j := float64(d) * (1 + watchJitter*(2*rand.Float64()-1)); j < float64(math.MaxInt64) {
		d = time.Duration(j)
	}
	return max(d, 1)
}

// cycle scans the vaults and applies the outcome to what the watcher knows.
// failed reports a failed listing or transient failure.
func (w *watcher) cycle(ctx context.Context, n int, work cycleWork) (Batch, bool) {
	event := work.trigger == triggerEvent
	plans, direct := w.plan(n, work)
	ctx, span := w.c.startCall(ctx, telemetry.SpanWatchCycle)
	sc := w.c.newScan(plans, false)
	for i, vs := range sc.vaults {
		vs.list = !direct[i]
	}
	if !event {
		sc.need = func(vs *vaultScan, info SecretInfo) bool {
			e := w.vaults[vs.idx].known[watchKey(info.Secret, info.Version)]
			return needRead(e, info, w.c.now()) || (e != nil && e.cert != w.c.certStateOf(&e.cred, sc.start))
		}
	}
	sc.run(ctx)
	if ctx.Err() != nil {
		if span != nil {
			telemetry.Fail(span, kindCanceled.label(), "the cycle ended with its context: "+ctx.Err().Error())
			span.End()
		}
		return Batch{}, false
	}
	b := Batch{Cycle: n, Time: sc.start.Round(0), Trigger: work.trigger, Events: work.events}
	failed := false
	for i, vs := range sc.vaults {
		if event {
			w.vaults[i].placeEventReads(vs)
		}
		if w.applyVault(ctx, &b, w.vaults[i], vs, n) {
			failed = true
		}
	}
	sc.count(&b)
	if event {
		b.Vaults = len(work.targets)
	}
	b.Failed = len(b.Errors)
	w.diff(&b)
	b.CertificatesExpiring = w.c.countExpiring(b.Current, sc.start)
	if w.c.tel != nil {
		w.endCycle(ctx, span, &b)
	}
	return b, failed
}

// plan returns what a cycle reads of each vault, and whether the vault is
// read directly (not listed).
func (w *watcher) plan(n int, work cycleWork) ([]vaultPlan, []bool) {
	plans := make([]vaultPlan, len(w.vaults))
	direct := make([]bool, len(w.vaults))
	for i, wv := range w.vaults {
		plans[i] = wv.plan
		if work.trigger == triggerEvent {
			plans[i].named, direct[i] = wv.targets(work), true // never listed
			continue
		}
		// Named secrets are read directly in the first cycle and in direct
		// cycles; otherwise the vault is listed to see what changed.
		direct[i] = wv.plan.named != nil && (n == 0 || wv.direct > 0)
		if n > 0 && wv.direct > 0 {
			wv.direct--
		}
	}
	return plans, direct
}

// endCycle records a cycle's outcome and ends its span (nil: none).
func (w *watcher) endCycle(ctx context.Context, span trace.Span, b *Batch) {
	if span != nil {
		span.SetAttributes(telemetry.KeyCycle.Int(b.Cycle), telemetry.KeyAdded.Int(len(b.Added)),
			telemetry.KeyChanged.Int(len(b.Changed)), telemetry.KeyRemoved.Int(len(b.Removed)))
	}
	w.c.endCall(ctx, span, b, false, b.Errors)
}

// placeEventReads gives an event cycle's reads of wv their place among the
// named secrets (or -1 for a listed vault), and marks them as event reads.
func (wv *watchVault) placeEventReads(vs *vaultScan) {
	for _, r := range vs.reads {
		r.event, r.order = true, -1
		for i, n := range wv.plan.named {
			if n.version == "" && strings.EqualFold(n.name, r.secret) {
				r.order = i
				break
			}
		}
	}
}

// needRead reports whether a secret must be read: it is new, its updated
// time changed (or is missing), its validity period began or ended since it
// was read, or it was read so soon after its updated time that another
// version with the same time may have followed, and a second has passed
// since.
func needRead(e *watchEntry, info SecretInfo, now time.Time) bool {
	switch {
	case e == nil:
		return true
	case info.Version != "":
		return false // a pinned version never changes
	case info.Updated.IsZero() || !e.cred.Updated.Equal(info.Updated):
		return true
	case outsideValidity(info.NotBefore, info.Expires, now) != e.validity:
		return true
	}
	return !e.settled && now.Sub(e.firstSeen) >= settleDelay
}

// applyVault applies one vault's part of a cycle; it reports a failure that
// calls for backoff.
func (w *watcher) applyVault(ctx context.Context, b *Batch, wv *watchVault, vs *vaultScan, n int) (failed bool) {
	vault := vs.ref.name
	switch {
	case vs.connErr != nil:
		b.Errors = append(b.Errors, w.c.fetchError(ctx, vault, "", "", fail(kindInvalidArgument, vs.connErr.Error(), "check the vault name", vs.connErr)))
		return true
	case vs.listErr != nil && wv.plan.named != nil && listRefused(vs.listErr):
		w.refusedListing(ctx, b, wv, vs)
	case vs.listErr != nil:
		b.Errors = append(b.Errors, w.c.fetchError(ctx, vault, "", "", vs.listErr))
		failed = true
	case vs.list && vs.complete:
		if wv.refused {
			wv.refused = false
			w.c.log.LogAttrs(ctx, slog.LevelInfo, "akvcreds: watch: listing allowed again; reading only changed secrets",
				slog.String("vault", vault))
		}
		if wv.plan.named != nil && len(wv.plan.named) < vs.pages {
			wv.direct = relistEvery - 1 // reading the named secrets costs fewer requests than listing
		}
		w.removeGone(wv, vs)
	}
	for _, r := range vs.reads {
		if w.applyRead(ctx, b, wv, r, n) {
			failed = true
		}
	}
	return failed
}

// refusedListing switches a vault of named secrets to direct reads.
func (w *watcher) refusedListing(ctx context.Context, b *Batch, wv *watchVault, vs *vaultScan) {
	wv.direct = relistEvery - 1
	if wv.refused {
		return
	}
	wv.refused = true
	f := vs.listErr
	err := fail(f.kind, fmt.Sprintf("listing is refused, so every named secret is read each cycle instead of only the changed ones (listed again every %d cycles): %s",
		relistEvery, strings.TrimPrefix(f.msg, f.kind.label()+": ")), f.remedy, f)
	w.c.log.LogAttrs(ctx, slog.LevelWarn, "akvcreds: watch: listing refused; reading every named secret each cycle",
		slog.String("vault", vs.ref.name), slog.String("error", err.Error()))
	b.Errors = append(b.Errors, w.c.fetchError(ctx, vs.ref.name, "", "", err))
}

// removeGone removes what a complete listing says is gone.
func (w *watcher) removeGone(wv *watchVault, vs *vaultScan) {
	for key, e := range wv.known {
		l, ok := vs.seen[strings.ToLower(e.cred.Secret)]
		switch {
		case !ok:
			w.remove(wv, key)
		case wv.plan.named == nil && l.state != stateKeep:
			w.remove(wv, key)
		case wv.plan.named != nil && (!l.info.Enabled || l.state == stateFiltered):
			w.remove(wv, key)
		}
	}
}

// applyRead applies one read; it reports a failure that calls for backoff.
func (w *watcher) applyRead(ctx context.Context, b *Batch, wv *watchVault, r *read, n int) bool {
	key := watchKey(r.secret, r.version)
	if r.filtered {
		w.remove(wv, key)
		return false
	}
	if r.err != nil {
		k := r.err.kind
		if n > 0 && (k == kindNotFound || k == kindDisabled || k == kindExpired) {
			w.remove(wv, key) // Key Vault says it is gone (or no longer valid)
			return false
		}
		b.Errors = append(b.Errors, w.c.fetchError(ctx, r.vs.ref.name, r.secret, r.version, r.err))
		return k == kindThrottled || k == kindUnavailable || k == kindUnauthenticated
	}
	if r.event && wv.plan.named == nil && outsideValidity(r.cred.NotBefore, r.cred.Expires, w.c.now()) != "" {
		w.remove(wv, key) // a listing would leave it out: expired or not yet valid
		return false
	}
	prev := wv.known[key]
	e := &watchEntry{cred: r.cred, order: r.order, firstSeen: r.done,
		validity: outsideValidity(r.cred.NotBefore, r.cred.Expires, w.c.now()), cert: w.c.certStateOf(&r.cred, b.Time)}
	if prev != nil && prev.cred.Updated.Equal(r.cred.Updated) {
		e.firstSeen = prev.firstSeen
	}
	// Settled when the read started long after the updated time by any
	// plausible clock (a wall-clock comparison), or at least a second after
	// a response first showed it (monotonic).
	e.settled = r.start.Sub(r.cred.Updated) >= time.Second+clockSkew || r.start.Sub(e.firstSeen) >= settleDelay
	wv.known[key] = e
	return false
}

// remove forgets a held credential (and drops it from the cache).
func (w *watcher) remove(wv *watchVault, key string) {
	e := wv.known[key]
	if e == nil {
		return
	}
	delete(wv.known, key)
	if w.c.cache != nil {
		w.c.cache.DeletePrefix(cacheKeyPrefix(wv.plan.ref.name, e.cred.Secret))
	}
}

// placed is a credential with its position in the results.
type placed struct {
	vault, order int
	cred         Credential
}

// diff fills the batch's changes (what Key Vault says now against what the
// handler last accepted) and Current.
func (w *watcher) diff(b *Batch) {
	var added, changed, removed, current []placed
	for i, wv := range w.vaults {
		for key, e := range wv.known {
			p := placed{i, e.order, e.cred}
			current = append(current, p)
			old, ok := wv.acked[key]
			switch {
			case !ok:
				added = append(added, p)
			case !sameCredential(old.cred, e.cred):
				changed = append(changed, p)
			}
		}
		for key, old := range wv.acked {
			if _, ok := wv.known[key]; !ok {
				removed = append(removed, placed{i, old.order, old.cred})
			}
		}
	}
	b.Added, b.Changed, b.Removed, b.Current = sortPlaced(added), sortPlaced(changed), sortPlaced(removed), sortPlaced(current)
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

func (w *watcher) logCycle(ctx context.Context, b Batch, failures int, took time.Duration, handlerErr error) {
	level := slog.LevelDebug
	if len(b.Added)+len(b.Changed)+len(b.Removed) > 0 || len(b.Errors) > 0 || b.Cycle == 0 || handlerErr != nil {
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
	if handlerErr != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("handlerError", handlerErr.Error()))
	}
	w.c.log.LogAttrs(ctx, level, "akvcreds: watch cycle", attrs...)
}
