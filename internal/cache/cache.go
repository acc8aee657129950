// Package cache is akvcreds' in-memory TTL cache. Entries expire after the
// TTL less a random jitter of up to a tenth, so entries written together do
// not all expire together. Expired entries are kept (until replaced or
// deleted) so a caller can serve them as stale when Azure fails.
package cache

import (
	"math/rand/v2"
	"sync"
	"time"
)

type entry[V any] struct {
	v       V
	expires time.Time
}

// Cache maps string keys to values with an expiry. Safe for concurrent use.
type Cache[V any] struct {
	mu  sync.RWMutex
	m   map[string]entry[V]
	ttl time.Duration
	now func() time.Time
	rnd *rand.Rand // guarded by mu (write lock)
}

// New returns a cache whose entries live for ttl (less jitter) by the clock
// now (time.Now when nil).
func New[V any](ttl time.Duration, now func() time.Time) *Cache[V] {
	if now == nil {
		now = time.Now
	}
	return &Cache[V]{
		m:   map[string]entry[V]{},
		ttl: ttl,
		now: now,
		rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// Get returns the value for key, whether it is still fresh, and whether it
// was there at all.
func (c *Cache[V]) Get(key string) (v V, fresh, ok bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok {
		return v, false, false
	}
	return e.v, c.now().Before(e.expires), true
}

// GetBytesAt is Get with the key as bytes and freshness judged at now;
// the lookup does not allocate.
func (c *Cache[V]) GetBytesAt(key []byte, now time.Time) (v V, fresh, ok bool) {
	c.mu.RLock()
	e, ok := c.m[string(key)]
	c.mu.RUnlock()
	if !ok {
		return v, false, false
	}
	return e.v, now.Before(e.expires), true
}

// Stale returns the value for key and how long ago it expired (0 or less
// while fresh).
func (c *Cache[V]) Stale(key string) (v V, expiredFor time.Duration, ok bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok {
		return v, 0, false
	}
	return e.v, c.now().Sub(e.expires), true
}

// TTL returns the time to live New was given.
func (c *Cache[V]) TTL() time.Duration { return c.ttl }

// Set stores v under key.
func (c *Cache[V]) Set(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ttl := c.ttl
	if j := int64(ttl / 10); j > 0 {
		ttl -= time.Duration(c.rnd.Int64N(j))
	}
	c.m[key] = entry[V]{v: v, expires: c.now().Add(ttl)}
}

// Delete removes key.
func (c *Cache[V]) Delete(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// DeletePrefix removes every key starting with prefix.
func (c *Cache[V]) DeletePrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(c.m, k)
		}
	}
}

// Clear removes everything.
func (c *Cache[V]) Clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// Len reports the number of entries, fresh or not.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
