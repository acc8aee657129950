package akvcredstest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

// BenchmarkEventFanout measures how long a new secret version takes to
// reach 20 webhooks subscribed to its vault (Event Grid schema, one event
// per delivery), from SetSecret to the last webhook's receipt, on the real
// clock: the emulator's share of a push rotation's latency. It reports
// the p99 over the iterations.
//
//	go test ./akvcredstest -run '^$' -bench EventFanout -benchtime 200x
func BenchmarkEventFanout(b *testing.B) {
	s := akvcredstest.NewTestServer(b)
	s.AddVault("kv")
	got := make(chan struct{}, 64)
	for range 20 {
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("aeg-event-type") == "SubscriptionValidation" {
				answerValidation(w, r)
				return
			}
			got <- struct{}{}
		}))
		b.Cleanup(hook.Close)
		if _, err := s.SubscribeEvents(context.Background(), "kv", akvcredstest.EventSubscription{Endpoint: hook.URL}); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		s.SetSecret("kv", "rotated", "v")
		for range 20 {
			<-got
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
