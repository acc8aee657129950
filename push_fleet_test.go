package akvcreds_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// pushFleetResult is what one run of pushFleet measured.
type pushFleetResult struct {
	latencies []time.Duration // from each rotation to each Client's handler
	reads     int             // Key Vault reads after cycle 0
	other     int             // every other Key Vault or token request after cycle 0
	pages     int             // list pages of one Client's full listing (cycle 0)
}

// pushFleet runs replicas Clients, each with its own loopback receiver and
// an Event Grid subscription (Event Grid schema, shared secret) on one vault
// of n secrets, each Watching it with a one-hour reconcile. It then rotates
// secrets one after the other, each rotation a new version set in the
// emulator, and waits until every Client's handler has seen it.
func pushFleet(tb testing.TB, replicas, n, rotations int) pushFleetResult {
	tb.Helper()
	const (
		vault = "push-fleet"
		key   = "push-fleet-shared-secret-0123456789"
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	s := newServer(tb)
	names := benchSecrets(n)
	seed(s, []string{vault}, names)

	type seen struct {
		version string
		at      time.Time
	}
	arrivals := make(chan seen, replicas*4)
	var res pushFleetResult
	for i := range replicas {
		c := newClient(tb, s, secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithEventGrid(akvcreds.EventGrid{SharedSecret: key}))
		hook := httptest.NewServer(c)
		tb.Cleanup(hook.Close)
		started := make(chan akvcreds.Batch, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Watch(ctx, time.Hour, func(b akvcreds.Batch) error {
				if b.Cycle == 0 {
					started <- b
					return nil
				}
				for _, cr := range b.Changed {
					select {
					case arrivals <- seen{cr.Version, time.Now()}:
					case <-ctx.Done():
					}
				}
				return nil
			})
		}()
		select {
		case b := <-started:
			if len(b.Current) != n || len(b.Errors) != 0 {
				tb.Fatalf("replica %d, cycle 0: %d credentials, %d errors", i, len(b.Current), len(b.Errors))
			}
			res.pages = b.ListPages
		case <-time.After(time.Minute):
			tb.Fatalf("replica %d: no first cycle in a minute", i)
		}
		sub := akvcredstest.EventSubscription{Endpoint: hook.URL, DeliveryHeaders: map[string]string{"Authorization": "Bearer " + key}}
		if _, err := s.SubscribeEvents(ctx, vault, sub); err != nil {
			tb.Fatalf("replica %d: subscribing: %v", i, err)
		}
	}

	s.ResetRequests()
	for r := range rotations {
		t0 := time.Now()
		version := s.SetSecret(vault, names[(r*7)%n], fmt.Sprintf("rotated-%d", r))
		for got := 0; got < replicas; {
			select {
			case a := <-arrivals:
				if a.version == version {
					res.latencies = append(res.latencies, a.at.Sub(t0))
					got++
				}
			case <-time.After(time.Minute):
				tb.Fatalf("rotation %d: %d of %d Clients saw it within a minute", r, got, replicas)
			}
		}
	}
	for _, req := range s.Requests() {
		if req.Kind == akvcredstest.KindGetSecret {
			res.reads++
		} else {
			res.other++
		}
	}
	return res
}

// quantile returns the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// TestPushFleet checks the push fleet's accounting on a small fleet: every
// rotation reaches every Client through its receiver and costs exactly one
// read per Client, with no listing and no other request between rotations.
// (BenchmarkPushFleet measures the latency.)
func TestPushFleet(t *testing.T) {
	t.Parallel()
	const replicas, rotations = 4, 5
	r := pushFleet(t, replicas, 60, rotations)
	if len(r.latencies) != replicas*rotations {
		t.Errorf("%d arrivals, want %d", len(r.latencies), replicas*rotations)
	}
	if r.reads != replicas*rotations || r.other != 0 {
		t.Errorf("%d reads and %d other requests after cycle 0; want %d reads and nothing else", r.reads, r.other, replicas*rotations)
	}
	if r.pages != 3 {
		t.Errorf("a listing of 60 secrets took %d pages, want 3", r.pages)
	}
}

// BenchmarkPushFleet (issue 16): 20 Clients, each with its own receiver
// and Event Grid subscription, Watch one vault of 500 secrets with a
// one-hour reconcile; 50 rotations, one after the other, each must reach
// all 20. Reported: the latency from a rotation to each Client's handler
// (p50, p99, max), Key Vault requests per rotation (reads; other requests,
// listing included, must be 0), and the Key Vault requests an hour of the
// fleet: pushed (the reads of 50 rotations plus one hourly reconcile
// listing per Client) against polling Watch every minute (a listing per
// Client per minute, plus the same reads).
//
//	go test -run '^$' -bench PushFleet -benchtime 1x .
func BenchmarkPushFleet(b *testing.B) {
	const replicas, secrets, rotations = 20, 500, 50
	for range b.N {
		r := pushFleet(b, replicas, secrets, rotations)
		if r.other != 0 || r.reads != replicas*rotations {
			b.Errorf("%d reads and %d other requests after cycle 0; want %d reads and nothing else", r.reads, r.other, replicas*rotations)
		}
		b.ReportMetric(quantile(r.latencies, 0.5).Seconds(), "p50-s")
		b.ReportMetric(quantile(r.latencies, 0.99).Seconds(), "p99-s")
		b.ReportMetric(quantile(r.latencies, 1).Seconds(), "max-s")
		b.ReportMetric(float64(r.reads+r.other)/rotations, "requests/rotation")
		push := r.reads + replicas*r.pages
		poll := r.reads + replicas*r.pages*60
		b.ReportMetric(float64(push), "push-requests/h")
		b.ReportMetric(float64(poll), "poll-1min-requests/h")
	}
}
