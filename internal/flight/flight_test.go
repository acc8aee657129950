package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// Concurrent callers of one key share one run; its results reach them all.
func TestShared(t *testing.T) {
	var g Group[int]
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]int, 5)
	shared := make([]bool, 5)
	wg.Go(func() {
		results[0], _, shared[0] = g.Do(context.Background(), "k", func() (int, error) {
			runs.Add(1)
			close(started)
			<-release
			return 42, nil
		})
	})
	<-started
	for i := 1; i < 5; i++ {
		wg.Go(func() {
			results[i], _, shared[i] = g.Do(context.Background(), "k", func() (int, error) {
				runs.Add(1)
				return -1, nil
			})
		})
	}
	for g.waiting("k") < 4 { // every other caller waits for the call in flight
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if runs.Load() != 1 {
		t.Errorf("runs = %d, want 1", runs.Load())
	}
	for i, r := range results {
		if r != 42 || shared[i] != (i > 0) {
			t.Errorf("caller %d got %d, shared %v", i, r, shared[i])
		}
	}
}

// waiting is how many callers wait for the call in flight for key.
func (g *Group[V]) waiting(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		return c.waiters
	}
	return 0
}

// A waiter whose context ends leaves at once with its context's error; the
// owner's run goes on, and the key is free again afterwards.
func TestWaiterLeaves(t *testing.T) {
	var g Group[string]
	release := make(chan struct{})
	started := make(chan struct{})
	owner := make(chan string, 1)
	go func() {
		v, _, _ := g.Do(context.Background(), "k", func() (string, error) {
			close(started)
			<-release
			return "owner", nil
		})
		owner <- v
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, err, shared := g.Do(ctx, "k", func() (string, error) { return "waiter", nil })
	if !errors.Is(err, context.Canceled) || v != "" || !shared {
		t.Fatalf("waiter: %q, %v, shared %v", v, err, shared)
	}
	close(release)
	if v := <-owner; v != "owner" {
		t.Fatalf("owner: %q", v)
	}
	v, err, shared = g.Do(context.Background(), "k", func() (string, error) { return "again", nil })
	if v != "again" || err != nil || shared {
		t.Fatalf("after: %q, %v, shared %v", v, err, shared)
	}
}

// Different keys run independently; errors reach the waiters too.
func TestKeysAndErrors(t *testing.T) {
	var g Group[int]
	boom := errors.New("boom")
	if _, err, _ := g.Do(context.Background(), "a", func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if v, err, _ := g.Do(context.Background(), "b", func() (int, error) { return 2, nil }); v != 2 || err != nil {
		t.Fatalf("b: %d, %v", v, err)
	}
}
