package akvcreds

import "time"

// Test seams: options that only this package's tests use. They are not part
// of the public API (this file is compiled into the test binary only).

// WithMaxRetries sets how often a transient failure is retried per request
// (default 3; 0 disables).
func WithMaxRetries(n int) Option {
	return newOption("WithMaxRetries", func(s *settings) error { s.maxRetries = n; return nil })
}

// WithThrottleBudget sets how long a vault may throttle before the
// requests waiting for it give up (default throttle.Budget, a minute).
func WithThrottleBudget(d time.Duration) Option {
	return newOption("WithThrottleBudget", func(s *settings) error { s.throttleBudget = d; return nil })
}

// WithEnvironmentFrom is WithEnvironmentCredential reading the variables
// through getenv.
func WithEnvironmentFrom(getenv func(string) string) Option { return withEnvironment(getenv) }

// WithClock replaces the clock the engine judges validity and settling by.
func WithClock(now func() time.Time) Option {
	return newOption("WithClock", func(s *settings) error { s.now = now; return nil })
}

// SetTryTimeout sets c's per-try timeout of Key Vault requests (default a
// minute), so that tests of hanging answers need not wait a minute per try.
// Call it before c's first fetch.
func SetTryTimeout(c *Client, d time.Duration) { c.retry.tryTimeout = d }
