// Package flight shares one run of a function among the concurrent callers
// that ask for the same key, like golang.org/x/sync/singleflight, but runs
// it on the goroutine of the caller that started it (no goroutine per call:
// reads go deep into the Azure SDK, and a fresh goroutine's stack would grow
// again every time) and lets a waiter leave as soon as its own context ends.
package flight

import (
	"context"
	"sync"
)

// Group holds the calls in flight. The zero value is ready to use; a Group
// must not be copied after first use.
type Group[V any] struct {
	mu    sync.Mutex
	calls map[string]*call[V]
}

type call[V any] struct {
	done    chan struct{}
	v       V
	err     error
	waiters int // callers waiting for it (for tests)
}

// Do runs fn once for all the concurrent callers with the same key and
// returns its results to each. The caller that finds no call in flight runs
// fn itself; the others wait for it, or until their ctx ends (then they get
// ctx's error and the zero V). shared reports that the results came from
// another caller's run. fn must not panic (recover inside it).
func (g *Group[V]) Do(ctx context.Context, key string, fn func() (V, error)) (v V, err error, shared bool) {
	g.mu.Lock()
	if c, ok := g.calls[key]; ok {
		c.waiters++
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.v, c.err, true
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err(), true
		}
	}
	c := &call[V]{done: make(chan struct{})}
	if g.calls == nil {
		g.calls = map[string]*call[V]{}
	}
	g.calls[key] = c
	g.mu.Unlock()

	c.v, c.err = fn()
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
	close(c.done)
	return c.v, c.err, false
}
