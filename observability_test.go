package akvcreds_test

// Observability: WithLogger gets one record per secret read from Key Vault
// (vault, secret, attempts, duration, and the error when it failed) and a
// summary per FetchCredentials call, every record with the caller's
// context, so that a handler can attach the caller's trace.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// obsKey is the context key of the trace ID the tests pass to fetches.
type obsKey struct{}

// obsRecord is one captured log record, its attributes flattened to
// "group.key" and resolved (LogValuers called).
type obsRecord struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
	trace any // obsKey's value in the context the record was logged with
}

func (r obsRecord) str(k string) string { return r.attrs[k].String() }

// obsHandler is a slog.Handler that keeps every record.
type obsHandler struct {
	mu     *sync.Mutex
	recs   *[]obsRecord
	prefix string
	attrs  map[string]slog.Value
}

func newObsHandler() *obsHandler {
	return &obsHandler{mu: &sync.Mutex{}, recs: &[]obsRecord{}, attrs: map[string]slog.Value{}}
}

func obsFlatten(m map[string]slog.Value, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			obsFlatten(m, p, g)
		}
		return
	}
	if a.Key != "" {
		m[prefix+a.Key] = v
	}
}

func (h *obsHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *obsHandler) Handle(ctx context.Context, r slog.Record) error {
	rec := obsRecord{level: r.Level, msg: r.Message, attrs: map[string]slog.Value{}, trace: ctx.Value(obsKey{})}
	for k, v := range h.attrs {
		rec.attrs[k] = v
	}
	r.Attrs(func(a slog.Attr) bool {
		obsFlatten(rec.attrs, h.prefix, a)
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *obsHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = map[string]slog.Value{}
	for k, v := range h.attrs {
		c.attrs[k] = v
	}
	for _, a := range as {
		obsFlatten(c.attrs, h.prefix, a)
	}
	return &c
}

func (h *obsHandler) WithGroup(name string) slog.Handler {
	c := *h
	if name != "" {
		c.prefix += name + "."
	}
	return &c
}

// take returns the records so far and forgets them.
func (h *obsHandler) take() []obsRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := *h.recs
	*h.recs = nil
	return out
}

const (
	obsMsgFetched    = "akvcreds: secret fetched"
	obsMsgNotFetched = "akvcreds: secret not fetched"
	obsMsgFinished   = "akvcreds: fetch finished"
)

// obsPerSecret returns the per-secret records by secret name; it fails on a
// secret with more than one.
func obsPerSecret(t *testing.T, recs []obsRecord) map[string]obsRecord {
	t.Helper()
	out := map[string]obsRecord{}
	for _, r := range recs {
		if r.msg != obsMsgFetched && r.msg != obsMsgNotFetched {
			continue
		}
		s := r.str("secret")
		if _, dup := out[s]; dup {
			t.Errorf("two records for secret %q", s)
		}
		out[s] = r
	}
	return out
}

// obsCheckSecret checks the attributes of one per-secret record.
func obsCheckSecret(t *testing.T, r obsRecord, vault string, attempts int64, failed bool) {
	t.Helper()
	name := r.str("secret")
	if got := r.str("vault"); got != vault {
		t.Errorf("%s: vault = %q, want %q", name, got, vault)
	}
	if a, ok := r.attrs["attempts"]; !ok || a.Kind() != slog.KindInt64 || a.Int64() != attempts {
		t.Errorf("%s: attempts = %v, want %d", name, a, attempts)
	}
	if d, ok := r.attrs["duration"]; !ok || d.Kind() != slog.KindDuration || d.Duration() < 0 {
		t.Errorf("%s: duration = %v, want a duration", name, d)
	}
	e, hasErr := r.attrs["error"]
	switch {
	case failed && (r.msg != obsMsgNotFetched || r.level != slog.LevelWarn || !hasErr || e.String() == ""):
		t.Errorf("%s: %v %q error=%v, want a WARN %q with the error", name, r.level, r.msg, e, obsMsgNotFetched)
	case !failed && (r.msg != obsMsgFetched || r.level != slog.LevelDebug || hasErr):
		t.Errorf("%s: %v %q error=%v, want a DEBUG %q without error", name, r.level, r.msg, e, obsMsgFetched)
	}
}

func TestObservabilityRecords(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	const vault = "obs-vault"
	s.SetSecret(vault, "prime", "p")
	s.SetSecret(vault, "plain", "secret-value-plain")
	s.SetSecret(vault, "throttled", "secret-value-throttled")
	v1 := s.SetSecret(vault, "pinned", "secret-value-pinned-1")
	s.SetSecret(vault, "pinned", "secret-value-pinned-2")
	s.SetSecret(vault, "off", "secret-value-off", akvcredstest.Disabled())
	h := newObsHandler()
	c := newClient(t, s, secretAuth(), akvcreds.WithLogger(slog.New(h).With("component", "connector")), akvcreds.WithVaults(vault))
	ctx := context.WithValue(context.Background(), obsKey{}, "trace-4bf92f35")
	if _, err := c.FetchCredential(ctx, vault+"/prime"); err != nil { // authenticate
		t.Fatal(err)
	}
	h.take()

	// Two 429s, then the answer: three attempts.
	s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Path: "/secrets/throttled/", Status: 429, RetryAfter: "0", Count: 2})
	creds, err := c.FetchCredentials(ctx, akvcreds.FetchSecrets("plain", "throttled", "missing", "off", "pinned/"+v1))
	if len(creds) != 3 || len(akvcreds.FetchErrors(err)) != 2 {
		t.Fatalf("%d credentials, errors %v", len(creds), err)
	}
	recs := h.take()
	by := obsPerSecret(t, recs)
	if len(by) != 5 {
		t.Errorf("%d per-secret records, want 5: %v", len(by), recs)
	}
	obsCheckSecret(t, by["plain"], vault, 1, false)
	obsCheckSecret(t, by["throttled"], vault, 3, false)
	obsCheckSecret(t, by["missing"], vault, 1, true)
	obsCheckSecret(t, by["off"], vault, 1, true)
	obsCheckSecret(t, by["pinned"], vault, 1, false)
	if got := by["pinned"].str("version"); got != v1 {
		t.Errorf("pinned: version = %q, want %s", got, v1)
	}
	if e := by["missing"].str("error"); !strings.Contains(e, "not found") || !strings.Contains(e, "missing") {
		t.Errorf("missing: error = %q", e)
	}
	if e := by["off"].str("error"); !strings.Contains(e, "disabled") {
		t.Errorf("off: error = %q", e)
	}

	// The throttling shows.
	pauses := 0
	for _, r := range recs {
		if strings.Contains(r.msg, "throttled") {
			pauses++
			if r.str("vault") != vault || r.attrs["pause"].Kind() != slog.KindDuration {
				t.Errorf("throttling record %q: %v", r.msg, r.attrs)
			}
		}
	}
	if pauses != 2 {
		t.Errorf("%d throttling records, want 2", pauses)
	}

	// One summary, at INFO, with the counts.
	var sums []obsRecord
	for _, r := range recs {
		if r.msg == obsMsgFinished {
			sums = append(sums, r)
		}
	}
	if len(sums) != 1 {
		t.Fatalf("%d summaries, want 1", len(sums))
	}
	sum := sums[0]
	if sum.level != slog.LevelInfo {
		t.Errorf("summary at %v, want INFO", sum.level)
	}
	for k, want := range map[string]int64{"summary.vaults": 1, "summary.fetched": 3, "summary.failed": 2} {
		if v, ok := sum.attrs[k]; !ok || v.Kind() != slog.KindInt64 || v.Int64() != want {
			t.Errorf("summary %s = %v, want %d (%v)", k, v, want, sum.attrs)
		}
	}
	if d := sum.attrs["summary.duration"]; d.Kind() != slog.KindDuration {
		t.Errorf("summary duration = %v, want a duration", d)
	}

	// Every record: the logger's own attributes kept, the caller's
	// context passed on, no secret value.
	for _, r := range recs {
		if r.str("component") != "connector" {
			t.Errorf("%q lost the logger's attributes: %v", r.msg, r.attrs)
		}
		if r.trace != "trace-4bf92f35" {
			t.Errorf("%q was logged without the caller's context (a handler cannot attach the trace)", r.msg)
		}
		for k, v := range r.attrs {
			if strings.Contains(v.String(), "secret-value-") {
				t.Errorf("%q: attribute %s shows a secret value", r.msg, k)
			}
		}
	}

	// FetchCredential: one record, with the context.
	if _, err := c.FetchCredential(ctx, vault+"/plain"); err != nil {
		t.Fatal(err)
	}
	recs = h.take()
	by = obsPerSecret(t, recs)
	if len(by) != 1 {
		t.Fatalf("FetchCredential logged %d per-secret records, want 1", len(by))
	}
	obsCheckSecret(t, by["plain"], vault, 1, false)
	if by["plain"].trace != "trace-4bf92f35" {
		t.Errorf("FetchCredential's record lacks the caller's context")
	}
}

// A listing: a record per secret read, one per secret skipped (disabled,
// expired, not yet valid), and a summary that counts them, all with the
// caller's context.
func TestObservabilityListing(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	const vault = "obs-list"
	now := time.Now()
	s.SetSecret(vault, "a", "1")
	s.SetSecret(vault, "b", "2")
	s.SetSecret(vault, "c-off", "3", akvcredstest.Disabled())
	s.SetSecret(vault, "d-expired", "4", akvcredstest.Expires(now.Add(-time.Hour)))
	s.SetSecret(vault, "e-later", "5", akvcredstest.NotBefore(now.Add(time.Hour)))
	h := newObsHandler()
	c := newClient(t, s, secretAuth(), akvcreds.WithLogger(slog.New(h)), akvcreds.WithVaults(vault))
	ctx := context.WithValue(context.Background(), obsKey{}, "trace-list")
	creds, err := c.FetchCredentials(ctx)
	if err != nil || len(creds) != 2 {
		t.Fatalf("%d credentials, %v", len(creds), err)
	}
	recs := h.take()
	by := obsPerSecret(t, recs)
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range by {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("per-secret records for %v, want a and b", got)
	}
	obsCheckSecret(t, by["a"], vault, 1, false)
	obsCheckSecret(t, by["b"], vault, 1, false)
	skipped := map[string]bool{}
	var sum *obsRecord
	for i, r := range recs {
		switch {
		case strings.Contains(r.msg, "skipped"):
			skipped[r.str("secret")] = true
		case r.msg == obsMsgFinished:
			sum = &recs[i]
		}
		if r.trace != "trace-list" {
			t.Errorf("%q was logged without the caller's context", r.msg)
		}
	}
	for _, n := range []string{"c-off", "d-expired", "e-later"} {
		if !skipped[n] {
			t.Errorf("no record for the skipped secret %s", n)
		}
	}
	if sum == nil {
		t.Fatal("no summary")
	}
	for k, want := range map[string]int64{"summary.listed": 5, "summary.fetched": 2, "summary.failed": 0,
		"summary.skippedDisabled": 1, "summary.skippedExpired": 1, "summary.skippedNotYetValid": 1} {
		if v, ok := sum.attrs[k]; !ok || v.Kind() != slog.KindInt64 || v.Int64() != want {
			t.Errorf("summary %s = %v, want %d", k, v, want)
		}
	}
}

// A silent logger (the default) costs nothing observable, and a logger
// whose handler is disabled below WARN still gets the failures.
func TestObservabilityLevels(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("obs-levels", "a", "1")
	h := &obsLevelHandler{obsHandler: newObsHandler(), min: slog.LevelWarn}
	c := newClient(t, s, secretAuth(), akvcreds.WithLogger(slog.New(h)), akvcreds.WithVaults("obs-levels"), akvcreds.WithSecrets("a", "gone"))
	if _, err := c.FetchCredentials(context.Background()); err == nil {
		t.Fatal("want the missing secret reported")
	}
	recs := h.take()
	if len(recs) != 1 || recs[0].msg != obsMsgNotFetched || recs[0].str("secret") != "gone" {
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%v %s %s", r.level, r.msg, r.str("secret")))
		}
		t.Errorf("at WARN, got %v; want one %q for gone", got, obsMsgNotFetched)
	}
}

// obsLevelHandler is an obsHandler enabled from min up.
type obsLevelHandler struct {
	*obsHandler
	min slog.Level
}

func (h *obsLevelHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *obsLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min {
		return fmt.Errorf("a record at %v was handled though the handler is enabled from %v", r.Level, h.min)
	}
	return h.obsHandler.Handle(ctx, r)
}
