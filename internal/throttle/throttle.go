// Package throttle is akvcreds' per-vault adaptive rate limiter: every
// request to a vault — secret reads and listing pages alike, retries and
// the authentication challenge included — calls Wait before it is sent,
// then reports the answer with Succeeded (the vault accepted it) or
// Throttled (429).
//
// # Pacing at Key Vault's limit
//
// Key Vault allows 4,000 secret transactions per 10 s per vault and does
// not document whether its window slides or is fixed, nor which
// Retry-After it sends. A token bucket starts at DefaultRate (389) requests
// per second with room for DefaultBurst (60): it admits at most burst +
// 10·rate = 3,950 in any 10 s, under the limit in either window model, and
// sustains 97 % of it — so a Client alone on its vault is never throttled
// and finishes within about 1.03 times the time the limit allows. Wait
// reserves the next token and sleeps until it is due, so waiters are served
// in order without waking each other; due times are rounded up to a 100 ms
// grid, so that paced requests leave in groups (fewer timers and wake-ups,
// far less CPU per request) without changing the rate.
//
// # Sharing a vault: throttling episodes
//
// Other clients (other processes, other Clients) may share the vault's
// budget; they show up only as 429s. An episode starts with the first 429
// after a request was accepted. Its first 429:
//
//   - pauses the vault: no request is admitted for Retry-After, when Azure
//     sends one (honoured exactly, never shortened), or else for a jittered
//     backoff drawn from [d/2, d) with d = 250 ms · 1.5^k, where k counts the
//     failed probes of the episode (capped at 30 s);
//   - multiplies the rate by 0.7 (not below 5 per second), once per episode
//     (multiplicative decrease);
//   - empties the bucket, so nothing saved up fires at once when the pause ends;
//   - voids every reservation already handed out: a request that was asleep
//     waiting for its token re-queues behind the pause rather than firing
//     into it.
//
// Further 429s during the pause are the requests that were already in
// flight: they lengthen the pause if their Retry-After reaches further, and
// change nothing else.
//
// When the pause ends, exactly one request, the probe, goes first; the others
// wait for its outcome (at most 1 s, in case the probe ends in a way that is
// reported to neither Succeeded nor Throttled). If the vault accepts the
// probe, the episode is over and the others proceed at the (lowered) rate;
// if it answers 429 again, the probe failed: the pause starts over with the
// new Retry-After, or the next backoff (1.5 times longer), and the rate stays
// as it is. So a vault that is still throttling costs one request per pause,
// not one per waiting request. Without Retry-After, the vault's window is
// unknown; as probes are single requests, they can be frequent: the first
// comes 125–250 ms after the 429, and the pauses grow by half each time: a
// window that reopens a second after the 429 is found on average 0.4 s
// after it reopens, at worst 0.85 s.
//
// Every accepted request after a pause raises the rate by a fiftieth of the
// initial rate (additive increase), up to the initial rate; the bucket's room
// grows in proportion. Several clients sharing a vault therefore settle
// around their fair share, and the vault stays busy: a 429 costs Key Vault
// nothing, and the probe finds a reopened window within a second.
//
// # Bounded
//
// An episode is bounded in time (Budget, a minute): the 429 that would take
// it past the budget makes its request give up (ErrThrottled for the
// caller), and every request waiting fails with ErrExhausted, so a vault
// that only throttles holds a call for about a minute, whatever the number
// of secrets; a request that would wait for a pause longer than the budget
// (a Retry-After of an hour) fails at once. Until the vault accepts a
// request again, each later request probes once and gives up at its 429.
package throttle

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrExhausted is Wait's error when the vault has throttled for longer than
// the limiter's budget (Budget) without accepting a request: the requests
// waiting then fail instead of waiting on.
var ErrExhausted = errors.New("the vault kept throttling past the retry budget")

// Key Vault allows 4,000 secret transactions per 10 s per vault. The default
// token bucket (389/s, burst 60) admits at most 3,950 in any 10 s, whether
// Key Vault's window slides or is fixed: 98.75 % of the limit, 97 % when
// sustained. The burst covers a vault's first 60 requests, which is what a
// fetch of a few dozen secrets needs.
const (
	DefaultRate  = 389
	DefaultBurst = 60

	minRate       = 5                      // the rate never falls below this
	decrease      = 0.7                    // the rate's factor per throttling episode
	baseBackoff   = 250 * time.Millisecond // first pause without Retry-After: [125 ms, 250 ms)
	backoffFactor = 1.5                    // growth per failed probe
	maxBackoff    = 30 * time.Second       // longest pause without Retry-After
	probeTimeout  = time.Second            // how long the others wait for a probe's outcome
	recoverSteps  = 50                     // each accepted request after a pause adds 1/recoverSteps of the initial rate
	quantum       = 100 * time.Millisecond // waiters' slots are rounded up to this grid

	// Budget bounds a throttling episode: once the vault has answered
	// nothing but 429 for this long, the request whose 429 would take the
	// episode past it gives up, and every request waiting fails with
	// ErrExhausted. A later request probes the vault once more, and gives
	// up after that probe if the vault still throttles. A request that
	// would wait for a pause longer than the budget (a long Retry-After)
	// fails with ErrExhausted at once.
	Budget = time.Minute
)

// Limiter paces the requests to one vault. The zero value is not usable;
// call New. It is safe for concurrent use.
type Limiter struct {
	mu sync.Mutex

	max      float64 // initial (and highest) rate, per second
	maxBurst float64 // initial (and largest) bucket room
	rate     float64 // current rate
	room     float64 // current bucket room
	tokens   float64 // may be negative: tokens reserved ahead of time
	last     time.Time

	pausedUntil time.Time
	failedProbe int  // failed probes in the current episode: the backoff exponent
	accepted    bool // a request was accepted since the last pause ended (or ever, before one)
	probeWanted bool // the next admission after the pause is the probe, alone
	probeOut    bool // the probe is in flight; the others wait
	probeUntil  time.Time

	epoch   uint64        // changes whenever reservations are voided
	changed chan struct{} // closed (and replaced) when waiters must look again

	throttled int // 429s seen

	budget       time.Duration // Budget, unless SetBudget changed it
	episodeStart time.Time     // the first 429 of the current episode
	giveUps      uint64        // changes whenever the waiting requests must fail

	rnd   *rand.Rand
	now   func() time.Time
	after func(time.Duration) (<-chan time.Time, func() bool) // a timer; tests replace it
}

// New returns a limiter admitting r requests per second with room for burst
// at once; non-positive values take the defaults.
func New(r float64, burst int) *Limiter {
	if r <= 0 {
		r = DefaultRate
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	return &Limiter{
		max:      r,
		maxBurst: float64(burst),
		rate:     r,
		room:     float64(burst),
		tokens:   float64(burst),
		accepted: true,
		budget:   Budget,
		changed:  make(chan struct{}),
		rnd:      rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		now:      time.Now,
		after: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
	}
}

// admission is the outcome of one attempt to admit a request.
type admission struct {
	ok      bool          // admitted now
	wait    time.Duration // otherwise: look again after this long (or when changed closes)
	changed <-chan struct{}
	// reserved: a token is held for the request at now+wait, valid while the
	// epoch does not change.
	reserved bool
	slot     time.Time
	epoch    uint64
}

// admit decides, at now, whether a request may go; first puts it ahead of
// the requests already waiting for a token (see WaitFirst). Called with mu
// held.
func (l *Limiter) admit(now time.Time, first bool) admission {
	if now.Before(l.pausedUntil) {
		return admission{wait: l.pausedUntil.Sub(now), changed: l.changed}
	}
	if l.probeOut {
		if now.Before(l.probeUntil) {
			return admission{wait: l.probeUntil.Sub(now), changed: l.changed}
		}
		l.probeOut = false // the probe's outcome never came: carry on
	}
	if l.probeWanted {
		l.probeWanted = false
		l.probeOut = true
		l.probeUntil = now.Add(probeTimeout)
		return admission{ok: true}
	}
	l.refill(now)
	l.tokens--
	if l.tokens >= 0 {
		return admission{ok: true}
	}
	var slot time.Time
	if first {
		// Ahead of the others: the next token's worth of time from now. The
		// deficit still counts it, so the ones after it start later.
		slot = now.Add(time.Duration(float64(time.Second) / l.rate))
	} else {
		// The slot is rounded up to the quantum grid, so that waiters wake
		// in groups rather than one by one: fewer timers and wake-ups per
		// request.
		slot = now.Add(time.Duration(-l.tokens / l.rate * float64(time.Second)))
		if r := slot.UnixNano() % int64(quantum); r != 0 {
			slot = slot.Add(time.Duration(int64(quantum) - r))
		}
	}
	return admission{wait: slot.Sub(now), changed: l.changed, reserved: true, slot: slot, epoch: l.epoch}
}

// refill adds the tokens accrued since last (never before a pause ended).
func (l *Limiter) refill(now time.Time) {
	if !now.After(l.last) {
		return
	}
	if !l.last.IsZero() {
		l.tokens = min(l.room, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
}

// signal wakes every waiter to look again. Called with mu held.
func (l *Limiter) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Wait blocks until the vault may receive one more request, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error { return l.wait(ctx, false) }

// WaitFirst is Wait for a request the others depend on — a listing's next
// page, whose secrets the reads wait for: while the bucket is empty it goes
// one token's time from now, ahead of the requests already waiting (pauses
// and probes still come first). Without it a listing would move at one page
// per wait behind every queued read, and starve the reads it feeds.
func (l *Limiter) WaitFirst(ctx context.Context) error { return l.wait(ctx, true) }

func (l *Limiter) wait(ctx context.Context, first bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.now()
	a := l.admit(now, first)
	entered := l.giveUps
	tooLong := now.Add(l.budget).Before(l.pausedUntil) // the pause alone outlasts the budget
	l.mu.Unlock()
	if tooLong {
		return ErrExhausted
	}
	for !a.ok {
		c, stop := l.after(a.wait)
		select {
		case <-ctx.Done():
			stop()
			l.mu.Lock()
			if a.reserved && l.epoch == a.epoch {
				l.tokens = min(l.room, l.tokens+1) // give the token back
			}
			l.mu.Unlock()
			return ctx.Err()
		case <-c:
		case <-a.changed:
			stop()
		}
		l.mu.Lock()
		now := l.now()
		switch {
		case l.giveUps != entered:
			l.mu.Unlock()
			return ErrExhausted
		case !a.reserved || l.epoch != a.epoch:
			// Look again: the pause or the probe may be over, or a new pause
			// voided the reservation.
			a = l.admit(now, first)
		case now.Before(a.slot):
			a.wait, a.changed = a.slot.Sub(now), l.changed
		default:
			a.ok = true // the reserved token is due
		}
		l.mu.Unlock()
	}
	return nil
}

// Throttled records a 429. retryAfter is the delay Azure asked for (0 when it
// sent none). It returns how long the vault is paused from now, and whether
// the request gives up: the episode would outlast Budget. Giving up fails
// every request waiting in Wait with ErrExhausted.
func (l *Limiter) Throttled(retryAfter time.Duration) (pause time.Duration, giveUp bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.throttled++
	if now.Before(l.pausedUntil) {
		// A request that was in flight when the pause began: same episode.
		if until := now.Add(retryAfter); retryAfter > 0 && until.After(l.pausedUntil) {
			l.pause(until)
		}
		return l.pausedUntil.Sub(now), l.overBudget(now, l.pausedUntil.Sub(now))
	}
	if l.accepted {
		// A new episode: the vault accepted requests since the last pause,
		// so they came too fast. Slow down, once.
		l.failedProbe = 0
		l.episodeStart = now
		l.rate = max(minRate, l.rate*decrease)
		l.room = max(1, l.maxBurst*l.rate/l.max)
	} else {
		// Nothing accepted since the pause ended: the probe failed.
		l.failedProbe++
	}
	delay := retryAfter
	if delay <= 0 {
		delay = l.backoff(l.failedProbe)
	}
	l.accepted = false
	l.pause(now.Add(delay))
	return delay, l.overBudget(now, delay)
}

// overBudget reports whether waiting delay more would take the episode past
// Budget; if so, the requests waiting give up. Called with mu held.
func (l *Limiter) overBudget(now time.Time, delay time.Duration) bool {
	if now.Add(delay).Sub(l.episodeStart) <= l.budget {
		return false
	}
	l.giveUps++
	l.signal()
	return true
}

// backoff draws the pause without Retry-After after k failed probes: from
// [d/2, d), d = baseBackoff·backoffFactor^k, at most maxBackoff.
func (l *Limiter) backoff(k int) time.Duration {
	d := float64(baseBackoff)
	for range k {
		d *= backoffFactor
		if d >= float64(maxBackoff) {
			d = float64(maxBackoff)
			break
		}
	}
	h := int64(d / 2)
	return time.Duration(h + l.rnd.Int64N(h))
}

// pause stops admissions until until, empties the bucket, voids every
// reservation and arms the probe. Called with mu held.
func (l *Limiter) pause(until time.Time) {
	l.pausedUntil = until
	l.tokens = 0
	l.last = until
	l.probeWanted = true
	l.probeOut = false
	l.epoch++
	l.signal()
}

// Succeeded records a request the vault accepted. After a pause it ends the
// episode (and releases the requests waiting for the probe), and the rate
// climbs back by a fiftieth of the initial rate.
func (l *Limiter) Succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Before(l.pausedUntil) {
		return // a request sent before the pause: it says nothing new
	}
	l.accepted = true
	l.failedProbe = 0
	if l.probeOut {
		l.probeOut = false
		l.signal()
	}
	if l.rate < l.max {
		l.refill(now)
		l.rate = min(l.max, l.rate+l.max/recoverSteps)
		l.room = max(1, l.maxBurst*l.rate/l.max)
	}
}

// SetBudget replaces Budget for this limiter (tests use a short one).
func (l *Limiter) SetBudget(d time.Duration) {
	l.mu.Lock()
	l.budget = d
	l.mu.Unlock()
}

// Budget returns the limiter's throttling budget.
func (l *Limiter) Budget() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.budget
}

// Stats reports the current rate (requests per second) and the 429s seen.
func (l *Limiter) Stats() (perSecond float64, throttled int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate, l.throttled
}
