// Package throttle is akvcreds' per-vault adaptive rate limiter. It starts
// below Key Vault's service limit, pauses every request to the vault when the
// vault answers 429 (for Retry-After, or a jittered exponential backoff when
// Azure sends none), halves its rate once per throttling episode, and climbs
// back additively as requests succeed.
package throttle

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Key Vault allows 4,000 secret transactions per 10 s per vault. The default
// token bucket (300/s, burst 500) admits at most 3,500 in any 10 s.
const (
	DefaultRate  = 300
	DefaultBurst = 500
	minRate      = 5
	baseBackoff  = 500 * time.Millisecond
	maxBackoff   = 30 * time.Second
)

// Limiter paces the requests to one vault. The zero value is not usable; call New.
type Limiter struct {
	mu          sync.Mutex
	lim         *rate.Limiter
	max         float64
	burst       int
	pausedUntil time.Time
	episodes    int // consecutive throttling episodes without success in between
	throttled   int // total 429s seen
	rnd         *rand.Rand
	now         func() time.Time
}

// New returns a limiter admitting r requests per second with the given burst.
func New(r float64, burst int) *Limiter {
	if r <= 0 {
		r = DefaultRate
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	return &Limiter{
		lim:   rate.NewLimiter(rate.Limit(r), burst),
		max:   r,
		burst: burst,
		rnd:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		now:   time.Now,
	}
}

// Wait blocks until the vault may receive one more request, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		until := l.pausedUntil
		l.mu.Unlock()
		d := until.Sub(l.now())
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return l.lim.Wait(ctx)
}

// Throttled records a 429. retryAfter is the delay Azure asked for (0 when it
// sent none). It returns how long the vault is paused.
func (l *Limiter) Throttled(retryAfter time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.throttled++
	if now.Before(l.pausedUntil) {
		// Part of the episode already being handled: requests that were in
		// flight when the first 429 came back. Don't halve again.
		if retryAfter > 0 && now.Add(retryAfter).After(l.pausedUntil) {
			l.pausedUntil = now.Add(retryAfter)
		}
		return l.pausedUntil.Sub(now)
	}
	l.episodes++
	delay := retryAfter
	if delay <= 0 {
		d := baseBackoff << min(l.episodes-1, 6)
		if d > maxBackoff {
			d = maxBackoff
		}
		// full jitter in [d/2, d)
		delay = d/2 + time.Duration(l.rnd.Int64N(int64(d/2)+1))
	}
	l.pausedUntil = now.Add(delay)
	r := float64(l.lim.Limit()) / 2
	if r < minRate {
		r = minRate
	}
	l.lim.SetLimitAt(now, rate.Limit(r))
	// No burst after a pause: tokens saved up while paused would all fire at once.
	l.lim.SetBurstAt(now, max(1, int(r/10)))
	return delay
}

// Succeeded records a request the vault accepted; the rate climbs back by a
// fiftieth of the maximum per success.
func (l *Limiter) Succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.episodes = 0
	cur := float64(l.lim.Limit())
	if cur >= l.max {
		return
	}
	r := min(l.max, cur+l.max/50)
	l.lim.SetLimit(rate.Limit(r))
	l.lim.SetBurst(max(1, int(float64(l.burst)*r/l.max)))
}

// Stats reports the current rate (requests per second) and the 429s seen.
func (l *Limiter) Stats() (perSecond float64, throttled int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.lim.Limit()), l.throttled
}
