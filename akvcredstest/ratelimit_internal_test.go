package akvcredstest

import (
	"testing"
	"time"
)

// The rate limit's models: a sliding or fixed window, Retry-After exact or
// constant; a throttled request does not count.
func TestRateLimitModels(t *testing.T) {
	t.Parallel()
	type step struct {
		at    time.Duration
		ok    bool
		retry int // Retry-After seconds of a 429
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		rl    rateLimit
		steps []step
	}{
		{"sliding, exact", rateLimit{n: 2, window: 10 * time.Second}, []step{
			{0, true, 0}, {4 * time.Second, true, 0}, {5 * time.Second, false, 5},
			{10 * time.Second, true, 0}, {11 * time.Second, false, 3}, {14 * time.Second, true, 0}}},
		{"fixed, exact", rateLimit{n: 2, window: 10 * time.Second, fixed: true}, []step{
			{0, true, 0}, {time.Second, true, 0}, {2 * time.Second, false, 8}, {9500 * time.Millisecond, false, 1},
			{10 * time.Second, true, 0}, {10 * time.Second, true, 0}, {19 * time.Second, false, 1}, {35 * time.Second, true, 0}}},
		{"sliding, constant", rateLimit{n: 1, window: 10 * time.Second, constant: time.Second}, []step{
			{0, true, 0}, {time.Second, false, 1}, {9 * time.Second, false, 1}, {10 * time.Second, true, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl := tt.rl
			for i, st := range tt.steps {
				ok, retry := rl.admit(base.Add(st.at))
				if ok != st.ok || retry != st.retry {
					t.Errorf("step %d at %v: admit = %v, %d; want %v, %d", i, st.at, ok, retry, st.ok, st.retry)
				}
			}
		})
	}
}
