package testutil

import (
	"sync"
	"time"
)

// Clock is a settable clock for the WithClock options of akvcredstest and
// akvcreds: it stands still until the test advances it, so a test can move
// time (token expiry, scheduled purges, validity periods, Watch's settling)
// without sleeping. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock set to t, truncated to the second (Key Vault's
// times have one-second resolution).
func NewClock(t time.Time) *Clock { return &Clock{t: t.Truncate(time.Second)} }

// Now returns the clock's time; pass the method value (c.Now) as the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
