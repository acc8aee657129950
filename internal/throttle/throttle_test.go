package throttle

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/internal/testutil"
)

// TestMain fails the tests if a Wait goroutine outlives them.
func TestMain(m *testing.M) { testutil.Main(m) }

// timerReq is one timer the limiter asked for; the test fires it.
type timerReq struct {
	d    time.Duration
	fire chan time.Time
}

// newTestLimiter returns a limiter on a manual clock whose timers never fire
// by themselves: each is sent on the returned channel for the test to fire.
func newTestLimiter(r float64, burst int) (*Limiter, *testutil.Clock, chan timerReq) {
	l := New(r, burst)
	c := testutil.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	l.now = c.Now
	l.rnd = rand.New(rand.NewPCG(1, 2))
	timers := make(chan timerReq, 16)
	l.after = func(d time.Duration) (<-chan time.Time, func() bool) {
		ch := make(chan time.Time, 1)
		timers <- timerReq{d, ch}
		return ch, func() bool { return true }
	}
	return l, c, timers
}

// queueWaiter spends the only token of l (burst 1) and starts a second
// Wait, which must sleep: it returns that Wait's result and the timer it
// asked for.
func queueWaiter(t *testing.T, l *Limiter, timers chan timerReq) (<-chan error, timerReq) {
	t.Helper()
	ctx := context.Background()
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	return done, <-timers
}

// admitNow runs one admission decision at the limiter's current time.
func admitNow(l *Limiter) admission {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admit(l.now(), false)
}

func rate(l *Limiter) float64 {
	r, _ := l.Stats()
	return r
}

func TestTokenBucketPacing(t *testing.T) {
	l, c, _ := newTestLimiter(10, 2)
	for i := range 2 {
		if a := admitNow(l); !a.ok {
			t.Fatalf("request %d within the burst not admitted: %+v", i, a)
		}
	}
	a := admitNow(l)
	if a.ok || !a.reserved || a.wait != 100*time.Millisecond {
		t.Fatalf("third request: %+v, want a reservation 100ms ahead", a)
	}
	b := admitNow(l)
	if b.ok || b.wait != 200*time.Millisecond {
		t.Fatalf("fourth request: %+v, want a reservation 200ms ahead", b)
	}
	c.Advance(time.Second) // the two reserved tokens are paid back, then 8 accrue: room is 2
	for i := range 2 {
		if a := admitNow(l); !a.ok {
			t.Fatalf("after a second, request %d not admitted: %+v", i, a)
		}
	}
	if a := admitNow(l); a.ok {
		t.Fatalf("the bucket's room is 2, a third request was admitted")
	}
}

func TestSlowsOncePerEpisode(t *testing.T) {
	once := DefaultRate * decrease
	step := float64(DefaultRate) / recoverSteps
	tests := []struct {
		name string
		// steps run in order at the given offsets from the first 429;
		// "429", "429:RA" (Retry-After 1s), "ok" (Succeeded), "probe" (an admission).
		steps    []string
		at       []time.Duration
		wantRate float64
	}{
		{"first 429 slows down", []string{"429"}, []time.Duration{0}, once},
		{"in-flight 429s in the pause do not", []string{"429", "429", "429", "429"},
			[]time.Duration{0, time.Millisecond, 5 * time.Millisecond, 100 * time.Millisecond}, once},
		{"a failed probe does not", []string{"429:RA", "probe", "429:RA", "probe", "429:RA"},
			[]time.Duration{0, time.Second, time.Second + 10*time.Millisecond, 2010 * time.Millisecond, 2020 * time.Millisecond}, once},
		{"successes in the pause do not end the episode", []string{"429:RA", "ok", "ok", "429:RA"},
			[]time.Duration{0, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}, once},
		{"after a success, the next 429 is a new episode", []string{"429:RA", "probe", "ok", "429"},
			[]time.Duration{0, time.Second, time.Second + 10*time.Millisecond, time.Second + 20*time.Millisecond}, (once + step) * decrease},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c, _ := newTestLimiter(DefaultRate, DefaultBurst)
			start := c.Now()
			for i, step := range tt.steps {
				c.Set(start.Add(tt.at[i]))
				switch step {
				case "429":
					l.Throttled(0)
				case "429:RA":
					l.Throttled(time.Second)
				case "ok":
					l.Succeeded()
				case "probe":
					if a := admitNow(l); !a.ok {
						t.Fatalf("step %d: the probe was not admitted: %+v", i, a)
					}
				}
			}
			if got := rate(l); math.Abs(got-tt.wantRate) > 1e-9 {
				t.Errorf("rate = %v, want %v", got, tt.wantRate)
			}
			if _, n := l.Stats(); n != countOf(tt.steps, "429", "429:RA") {
				t.Errorf("throttled = %d, want %d", n, countOf(tt.steps, "429", "429:RA"))
			}
		})
	}
}

func TestRateFloor(t *testing.T) {
	const top = 8.0
	l, c, _ := newTestLimiter(top, 10)
	for range 20 { // 20 episodes: 429, pause, probe accepted
		p, _ := l.Throttled(time.Second)
		c.Advance(p)
		if a := admitNow(l); !a.ok {
			t.Fatalf("probe not admitted: %+v", a)
		}
		l.Succeeded()
	}
	if got := rate(l); got != minRate+top/recoverSteps {
		t.Errorf("rate = %v, want the floor %v plus one step", got, float64(minRate))
	}
	l.Throttled(0)
	if got := rate(l); got != minRate {
		t.Errorf("rate = %v, want the floor %v", got, float64(minRate))
	}
}

func countOf(steps []string, kinds ...string) int {
	n := 0
	for _, s := range steps {
		for _, k := range kinds {
			if s == k {
				n++
			}
		}
	}
	return n
}

func TestRetryAfterHonoured(t *testing.T) {
	tests := []struct {
		name       string
		first      time.Duration // Retry-After of the first 429
		laterAt    time.Duration // a second 429 this long after the first ...
		later      time.Duration // ... with this Retry-After (0: none)
		wantPaused time.Duration // from the first 429
	}{
		{"exact", 3 * time.Second, 0, 0, 3 * time.Second},
		{"a later, longer Retry-After extends", 2 * time.Second, 500 * time.Millisecond, 2 * time.Second, 2500 * time.Millisecond},
		{"a later, shorter Retry-After does not shorten", 5 * time.Second, time.Second, time.Second, 5 * time.Second},
		{"a later 429 without Retry-After does not shorten", 5 * time.Second, time.Second, 0, 5 * time.Second},
		{"Retry-After beyond the backoff cap", 2 * time.Minute, 0, 0, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c, _ := newTestLimiter(DefaultRate, DefaultBurst)
			start := c.Now()
			if got, _ := l.Throttled(tt.first); got != tt.first {
				t.Errorf("Throttled returned %v, want %v", got, tt.first)
			}
			if tt.laterAt > 0 {
				c.Advance(tt.laterAt)
				if got, _ := l.Throttled(tt.later); got != tt.wantPaused-tt.laterAt {
					want := tt.wantPaused - tt.laterAt
					t.Errorf("second Throttled returned %v, want %v", got, want)
				}
			}
			c.Set(start.Add(tt.wantPaused - time.Nanosecond))
			if a := admitNow(l); a.ok || a.wait != time.Nanosecond {
				t.Fatalf("admitted (or wrong wait) 1ns before the pause ends: %+v", a)
			}
			c.Set(start.Add(tt.wantPaused))
			if a := admitNow(l); !a.ok {
				t.Fatalf("not admitted when the pause ends: %+v", a)
			}
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	l, _, _ := newTestLimiter(DefaultRate, DefaultBurst)
	d := float64(baseBackoff)
	for k := range 20 {
		lo, hi := time.Duration(d/2), time.Duration(d)
		if d >= float64(maxBackoff) {
			lo, hi = maxBackoff/2, maxBackoff
		}
		for range 500 {
			if got := l.backoff(k); got < lo || got >= hi {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v)", k, got, lo, hi)
			}
		}
		d *= backoffFactor
	}
}

// Without Retry-After, each failed probe lengthens the pause; the pauses
// stay within their jitter bounds.
func TestBackoffGrowsWithFailedProbes(t *testing.T) {
	l, c, _ := newTestLimiter(DefaultRate, DefaultBurst)
	d := float64(baseBackoff)
	for k := range 12 {
		pause, _ := l.Throttled(0)
		lo, hi := time.Duration(d/2), time.Duration(d)
		if pause < lo || pause >= hi {
			t.Fatalf("pause %d = %v, want in [%v, %v)", k, pause, lo, hi)
		}
		c.Advance(pause)
		if a := admitNow(l); !a.ok {
			t.Fatalf("probe %d not admitted: %+v", k, a)
		}
		c.Advance(10 * time.Millisecond)
		d = min(d*backoffFactor, float64(maxBackoff))
	}
	// A success ends the episode: the next pause is short again.
	l.Succeeded()
	if pause, _ := l.Throttled(0); pause >= baseBackoff {
		t.Errorf("after a success the pause is %v, want < %v", pause, baseBackoff)
	}
}

func TestProbeGoesAlone(t *testing.T) {
	tests := []struct {
		name    string
		outcome string // what happens to the probe
	}{
		{"accepted", "ok"},
		{"throttled", "429"},
		{"never reported", "lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c, _ := newTestLimiter(DefaultRate, DefaultBurst)
			l.Throttled(time.Second)
			c.Advance(time.Second)
			if a := admitNow(l); !a.ok {
				t.Fatalf("probe not admitted: %+v", a)
			}
			other := admitNow(l)
			if other.ok || other.reserved || other.wait != probeTimeout {
				t.Fatalf("a second request went with the probe: %+v", other)
			}
			c.Advance(10 * time.Millisecond)
			switch tt.outcome {
			case "ok":
				l.Succeeded()
				assertClosed(t, other.changed)
				c.Advance(100 * time.Millisecond) // more than 15 tokens accrued
				for i := range 15 {
					if a := admitNow(l); !a.ok {
						t.Fatalf("after the probe, request %d not admitted: %+v", i, a)
					}
				}
			case "429":
				pause, _ := l.Throttled(time.Second)
				assertClosed(t, other.changed)
				if a := admitNow(l); a.ok || a.wait != pause {
					t.Fatalf("after a failed probe: %+v, want a pause of %v", a, pause)
				}
				c.Advance(pause)
				if a := admitNow(l); !a.ok {
					t.Fatalf("second probe not admitted: %+v", a)
				}
				if a := admitNow(l); a.ok {
					t.Fatalf("a request went with the second probe")
				}
			case "lost":
				c.Advance(probeTimeout - 10*time.Millisecond - time.Nanosecond)
				if a := admitNow(l); a.ok {
					t.Fatalf("admitted before the probe timed out")
				}
				c.Advance(time.Nanosecond)
				if a := admitNow(l); !a.ok {
					t.Fatalf("not admitted after the probe timed out: %+v", a)
				}
			}
		})
	}
}

func assertClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	default:
		t.Fatal("the waiters were not woken")
	}
}

func TestRecovery(t *testing.T) {
	l, c, _ := newTestLimiter(DefaultRate, DefaultBurst)
	l.Throttled(time.Second)
	once := DefaultRate * decrease
	if got := rate(l); math.Abs(got-once) > 1e-9 {
		t.Fatalf("rate after a 429 = %v, want %v", got, once)
	}
	l.Succeeded() // in flight before the pause: no recovery
	if got := rate(l); math.Abs(got-once) > 1e-9 {
		t.Fatalf("a success during the pause changed the rate to %v", got)
	}
	c.Advance(time.Second)
	step := float64(DefaultRate) / recoverSteps
	for i := 1; i <= recoverSteps; i++ {
		l.Succeeded()
		want := min(DefaultRate, once+float64(i)*step)
		if got := rate(l); math.Abs(got-want) > 1e-9 {
			t.Fatalf("after %d successes rate = %v, want %v", i, got, want)
		}
	}
	if l.room != DefaultBurst {
		t.Errorf("room = %v after full recovery, want %v", l.room, DefaultBurst)
	}
}

// A reservation handed out before a pause is void: the request queues
// behind the pause instead of firing into it.
func TestWaitReservationVoidedByPause(t *testing.T) {
	l, c, timers := newTestLimiter(10, 1)
	done, tm := queueWaiter(t, l, timers)
	if tm.d != 100*time.Millisecond {
		t.Fatalf("reserved wait %v, want 100ms", tm.d)
	}
	l.Throttled(5 * time.Second) // wakes the waiter, which must now wait for the pause
	tm = <-timers
	if tm.d != 5*time.Second {
		t.Fatalf("after the 429 the waiter sleeps %v, want the 5s pause", tm.d)
	}
	c.Advance(5 * time.Second)
	tm.fire <- c.Now()
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if !l.probeOut {
		t.Error("the first request after the pause is not the probe")
	}
}

// A waiter whose reservation is due is admitted without queueing again.
func TestWaitReservedTokenDue(t *testing.T) {
	l, c, timers := newTestLimiter(10, 1)
	done, tm := queueWaiter(t, l, timers)
	c.Advance(tm.d)
	tm.fire <- c.Now()
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if a := admitNow(l); a.ok || a.wait != 100*time.Millisecond {
		t.Fatalf("next admission %+v: the due token was taken twice or not at all", a)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	tests := []struct {
		name  string
		setup func(l *Limiter)
	}{
		{"paused", func(l *Limiter) { l.Throttled(Budget / 2) }}, // a longer pause fails at once
		{"waiting for a reserved token", func(l *Limiter) {
			l.mu.Lock()
			l.tokens = 0
			l.mu.Unlock()
		}},
		{"waiting for the probe", func(l *Limiter) {
			l.Throttled(time.Second)
			l.now = func() time.Time { return l.pausedUntil }
			l.mu.Lock()
			l.admit(l.now(), false)
			l.mu.Unlock()
		}},
	}
	for _, tt := range tests {
		for _, cause := range []string{"cancel", "deadline", "already"} {
			t.Run(tt.name+"/"+cause, func(t *testing.T) {
				l, _, timers := newTestLimiter(10, 1)
				tt.setup(l)
				tokens := l.tokens
				var ctx context.Context
				var cancel context.CancelFunc
				want := context.Canceled
				switch cause {
				case "cancel", "already":
					ctx, cancel = context.WithCancel(context.Background())
				case "deadline":
					ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
					want = context.DeadlineExceeded
				}
				defer cancel()
				if cause == "already" {
					cancel()
				}
				done := make(chan error, 1)
				go func() { done <- l.Wait(ctx) }()
				if cause == "cancel" {
					<-timers // Wait is asleep
					cancel()
				}
				if err := <-done; !errors.Is(err, want) {
					t.Fatalf("Wait = %v, want %v", err, want)
				}
				if l.tokens != tokens {
					t.Errorf("tokens = %v after a cancelled Wait, want %v (a reserved token is given back)", l.tokens, tokens)
				}
			})
		}
	}
}

func TestNewDefaults(t *testing.T) {
	for _, tt := range []struct {
		r     float64
		burst int
	}{{0, 0}, {-1, -5}} {
		l := New(tt.r, tt.burst)
		if l.max != DefaultRate || l.maxBurst != DefaultBurst || l.tokens != DefaultBurst {
			t.Errorf("New(%v, %d): rate %v burst %v tokens %v, want the defaults", tt.r, tt.burst, l.max, l.maxBurst, l.tokens)
		}
	}
}

// A vault that answers nothing but 429 for longer than Budget: the request
// whose 429 takes the episode past it gives up, and so does every request
// waiting; the next request probes once more and gives up at its 429.
func TestGiveUpAfterBudget(t *testing.T) {
	l, c, timers := newTestLimiter(DefaultRate, DefaultBurst)
	start := c.Now()
	p, giveUp := l.Throttled(10 * time.Second)
	if giveUp || p != 10*time.Second {
		t.Fatalf("first 429: pause %v giveUp %v", p, giveUp)
	}
	for c.Now().Sub(start) < Budget-10*time.Second {
		c.Advance(10 * time.Second)
		if a := admitNow(l); !a.ok {
			t.Fatalf("probe at %v not admitted: %+v", c.Now().Sub(start), a)
		}
		if _, giveUp := l.Throttled(10 * time.Second); giveUp {
			t.Fatalf("gave up at %v, before the budget", c.Now().Sub(start))
		}
	}
	c.Advance(10 * time.Second)
	admitNow(l) // the probe, in flight; the next request waits for it
	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background()) }()
	<-timers // the waiter sleeps
	if _, giveUp := l.Throttled(10 * time.Second); !giveUp {
		t.Fatalf("did not give up at %v", c.Now().Sub(start))
	}
	if err := <-done; !errors.Is(err, ErrExhausted) {
		t.Fatalf("waiter: %v, want ErrExhausted", err)
	}
	// A later request waits for the pause, probes, and gives up at once.
	c.Advance(10 * time.Second)
	if a := admitNow(l); !a.ok {
		t.Fatalf("later probe not admitted: %+v", a)
	}
	if _, giveUp := l.Throttled(0); !giveUp {
		t.Fatal("a later probe's 429 did not give up")
	}
	// An accepted request ends the episode: the budget starts over.
	c.Advance(time.Minute)
	admitNow(l)
	l.Succeeded()
	if _, giveUp := l.Throttled(time.Second); giveUp {
		t.Fatal("a new episode gave up at its first 429")
	}
}

// A Retry-After longer than the budget gives up at the 429, and a request
// arriving while that pause lasts fails at once instead of waiting for it
// (an hour, or whatever Azure, or something in its place, asked for);
// once the rest of the pause fits in the budget, a request waits for it.
func TestLongPauseFailsAtOnce(t *testing.T) {
	l, c, timers := newTestLimiter(DefaultRate, DefaultBurst)
	if _, giveUp := l.Throttled(time.Hour); !giveUp {
		t.Fatal("a Retry-After of an hour did not give up")
	}
	if err := l.Wait(context.Background()); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Wait during the hour's pause: %v, want ErrExhausted at once", err)
	}
	c.Advance(time.Hour - Budget/2)
	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background()) }()
	if tr := <-timers; tr.d != Budget/2 {
		t.Fatalf("waits %v, want the rest of the pause (%v)", tr.d, Budget/2)
	} else {
		c.Advance(tr.d)
		tr.fire <- c.Now()
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait at the end of the pause: %v", err)
	}
}

// WaitFirst goes one token's time from now, ahead of a queue of waiters;
// later waiters count it and start after.
func TestWaitFirstAheadOfTheQueue(t *testing.T) {
	l, c, _ := newTestLimiter(100, 1) // a token every 10 ms
	admitNow(l)                       // the bucket is empty
	var last admission
	for range 30 { // 30 waiters: 300 ms of deficit
		last = admitNow(l)
	}
	l.mu.Lock()
	a := l.admit(c.Now(), true)
	l.mu.Unlock()
	if a.ok || a.wait != 10*time.Millisecond {
		t.Fatalf("first: %+v, want a wait of one token (10 ms)", a)
	}
	if b := admitNow(l); b.wait <= last.wait {
		t.Errorf("the next waiter waits %v, not after the one before (%v)", b.wait, last.wait)
	}
}
