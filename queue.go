package akvcreds

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"
)

// eventQueue is what events ask of one consumer (a running Watch, or the
// cache's refresher): a bounded set of secrets pending a read, coalesced
// per secret, the vaults pending a full reconcile, and the token bucket
// that paces both. Safe for concurrent use.
type eventQueue struct {
	rate, burst float64
	max         int
	now         func() time.Time
	signal      chan struct{} // a value when something was pushed

	mu            sync.Mutex
	pending       map[eventTarget]bool
	order         []eventTarget // pending, first in first out
	reconcile     map[string]bool
	all           bool // every vault: the pending set overflowed
	events        int  // events since the last take
	tokens        float64
	last          time.Time // of the last refill
	lastReconcile time.Time
	running       bool // a refresher goroutine drains the queue (cache)
}

// eventTarget is a secret named by an event: vault and secret as the
// event's Id spells it.
type eventTarget struct{ vault, secret string }

// eventWork is what a consumer takes from the queue: secrets to read, or a
// full reconcile (of the vaults, or all), and the events behind it.
type eventWork struct {
	targets   []eventTarget
	reconcile map[string]bool // nil: none
	all       bool
	events    int
}

func newEventQueue(rate float64, maxPending int, now func() time.Time) *eventQueue {
	return &eventQueue{
		rate: rate, burst: math.Max(1, math.Ceil(rate)), max: maxPending, now: now,
		signal:  make(chan struct{}, 1),
		pending: map[eventTarget]bool{}, reconcile: map[string]bool{},
		tokens: math.Max(1, math.Ceil(rate)), last: now(),
	}
}

// push adds a secret (or, with secret "", a vault's reconcile). It reports
// whether the caller must start a refresher (none is running).
func (q *eventQueue) push(vault, secret string) (start bool) {
	q.mu.Lock()
	q.events++
	switch {
	case secret == "":
		q.reconcile[vault] = true
	case q.all:
		// A full reconcile is due anyway.
	default:
		t := eventTarget{vault, secret}
		if !q.pending[t] {
			if len(q.pending) >= q.max {
				q.overflow()
			} else {
				q.pending[t] = true
				q.order = append(q.order, t)
			}
		}
	}
	start = !q.running
	q.running = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return start
}

// overflow drops the pending secrets for a full reconcile (under q.mu).
func (q *eventQueue) overflow() {
	q.all = true
	clear(q.pending)
	q.order = nil
}

// refill adds the tokens earned since the last refill (under q.mu).
func (q *eventQueue) refill(now time.Time) {
	if d := now.Sub(q.last); d > 0 {
		q.tokens = math.Min(q.burst, q.tokens+q.rate*d.Seconds())
	}
	q.last = now
}

// take returns the work to do now (ok), or how long to wait before asking
// again (wait > 0), or neither when nothing is pending — then, for a
// refresher, running is cleared so the next push starts one.
func (q *eventQueue) take() (w eventWork, wait time.Duration, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.order) == 0 && !q.all && len(q.reconcile) == 0 {
		q.running = false
		return eventWork{}, 0, false
	}
	now := q.now()
	q.refill(now)
	if q.tokens < 1 {
		return eventWork{}, q.until(1 - q.tokens), false
	}
	reconcileDue := (q.all || len(q.reconcile) > 0) && (q.lastReconcile.IsZero() || now.Sub(q.lastReconcile) >= reconcileGap)
	if reconcileDue {
		q.tokens--
		q.lastReconcile = now
		w = eventWork{reconcile: q.reconcile, all: q.all, events: q.events}
		q.reconcile, q.all, q.events = map[string]bool{}, false, 0
		clear(q.pending)
		q.order = nil
		return w, 0, true
	}
	n := min(len(q.order), int(q.tokens))
	if n == 0 {
		return eventWork{}, max(q.lastReconcile.Add(reconcileGap).Sub(now), time.Millisecond), false
	}
	w = eventWork{targets: append([]eventTarget(nil), q.order[:n]...), events: q.events}
	for _, t := range w.targets {
		delete(q.pending, t)
	}
	q.order = q.order[n:]
	q.tokens -= float64(n)
	q.events = 0
	return w, 0, true
}

// until is how long the bucket takes to earn tokens (under q.mu).
func (q *eventQueue) until(tokens float64) time.Duration {
	return max(time.Duration(tokens/q.rate*float64(time.Second)), time.Millisecond)
}

// drain empties the queue for a full cycle, which reads whatever changed
// anyway; it returns the events behind what was pending.
func (q *eventQueue) drain() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.events
	q.events, q.all = 0, false
	clear(q.pending)
	clear(q.reconcile)
	q.order = nil
	return n
}

// refreshCache drains the cache's queue: each secret named is read again
// into the cache (the cache keeps its value when the read fails, and drops
// it when Key Vault says it is gone); a reconcile drops the vault's
// entries. It returns when nothing is pending.
func (rc *receiver) refreshCache(q *eventQueue) {
	for {
		w, wait, ok := q.take()
		switch {
		case ok:
			rc.refresh(w)
		case wait > 0:
			time.Sleep(wait) // a background goroutine with nothing else to wait for
		default:
			return
		}
	}
}

// refresh carries out one take of the cache's queue.
func (rc *receiver) refresh(w eventWork) {
	c := rc.c
	ctx := context.Background()
	if w.all {
		c.cache.Clear()
	}
	for v := range w.reconcile {
		c.cache.DeletePrefix(v + "/")
	}
	if len(w.targets) == 0 {
		return
	}
	sc := c.newScan(targetPlans(c, w.targets), false)
	sc.run(ctx)
	for _, vs := range sc.vaults {
		for _, r := range vs.reads {
			if r.err != nil && (r.err.kind == kindNotFound || r.err.kind == kindDisabled) {
				c.cache.DeletePrefix(cacheKeyPrefix(vs.ref.name, r.secret))
			}
		}
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "akvcreds: event grid: cache refreshed", slog.Int("secrets", len(w.targets)),
		slog.Int("events", w.events))
}

// targetPlans groups targets by vault, in order.
func targetPlans(c *Client, targets []eventTarget) []vaultPlan {
	var plans []vaultPlan
	at := map[string]int{}
	for _, t := range targets {
		i, ok := at[t.vault]
		if !ok {
			i = len(plans)
			at[t.vault] = i
			plans = append(plans, vaultPlan{ref: vaultRef{name: t.vault, url: "https://" + t.vault + c.cloud.VaultSuffix + "/"}, named: []secretRef{}})
		}
		plans[i].named = append(plans[i].named, secretRef{name: t.secret})
	}
	return plans
}
