package akvcreds_test

// Observability: WithLogger gets one record per secret read from Key Vault
// (vault, secret, attempts, duration, and the kind and error when it
// failed), a summary per FetchCredentials call and one record per Watch
// cycle, every record with the caller's context, so that a handler can
// attach the caller's trace — and never a secret value.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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

// obsHandler is a slog.Handler that keeps every record at min or above.
type obsHandler struct {
	mu     *sync.Mutex
	recs   *[]obsRecord
	min    slog.Level
	prefix string
	attrs  map[string]slog.Value
}

func newObsHandler() *obsHandler {
	return &obsHandler{mu: &sync.Mutex{}, recs: &[]obsRecord{}, min: slog.LevelDebug, attrs: map[string]slog.Value{}}
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

func (h *obsHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *obsHandler) Handle(ctx context.Context, r slog.Record) error {
	rec := obsRecord{level: r.Level, msg: r.Message, attrs: maps.Clone(h.attrs), trace: ctx.Value(obsKey{})}
	if r.Level < h.min {
		rec.msg = fmt.Sprintf("a record at %v was handled though the handler is enabled from %v: %s", r.Level, h.min, r.Message)
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
	c.attrs = maps.Clone(h.attrs)
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
	obsMsgCycle      = "akvcreds: watch cycle"
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

// obsCheckSecret checks the attributes of one per-secret record; kind is
// the failure's label, "" for a read that succeeded.
func obsCheckSecret(t *testing.T, r obsRecord, vault string, attempts int64, kind string) {
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
	k, hasKind := r.attrs["kind"]
	switch {
	case kind != "" && (r.msg != obsMsgNotFetched || r.level != slog.LevelWarn || !hasErr || e.String() == "" || k.String() != kind):
		t.Errorf("%s: %v %q kind=%v error=%v, want a WARN %q with kind %q and the error", name, r.level, r.msg, k, e, obsMsgNotFetched, kind)
	case kind == "" && (r.msg != obsMsgFetched || r.level != slog.LevelDebug || hasErr || hasKind):
		t.Errorf("%s: %v %q kind=%v error=%v, want a DEBUG %q without kind or error", name, r.level, r.msg, k, e, obsMsgFetched)
	}
}

// obsSummary returns the Summary of the one "fetch finished" record, which
// must be at INFO.
func obsSummary(t *testing.T, recs []obsRecord) akvcreds.Summary {
	t.Helper()
	var sums []obsRecord
	for _, r := range recs {
		if r.msg == obsMsgFinished {
			sums = append(sums, r)
		}
	}
	if len(sums) != 1 {
		t.Fatalf("%d %q records, want 1", len(sums), obsMsgFinished)
	}
	if sums[0].level != slog.LevelInfo {
		t.Errorf("summary at %v, want INFO", sums[0].level)
	}
	sum, ok := sums[0].attrs["summary"].Any().(akvcreds.Summary)
	if !ok {
		t.Fatalf("the summary attribute is %v, want an akvcreds.Summary", sums[0].attrs["summary"])
	}
	if sum.Duration <= 0 {
		t.Errorf("summary duration %v", sum.Duration)
	}
	return sum
}

// obsCheckAll checks what every record must have: the logger's own
// attributes (component, when given), the caller's context, and no secret
// value.
func obsCheckAll(t *testing.T, recs []obsRecord, component string, trace any) {
	t.Helper()
	for _, r := range recs {
		if component != "" && r.str("component") != component {
			t.Errorf("%q lost the logger's attributes: %v", r.msg, r.attrs)
		}
		if r.trace != trace {
			t.Errorf("%q was logged without the caller's context (a handler cannot attach the trace)", r.msg)
		}
		for k, v := range r.attrs {
			if strings.Contains(v.String(), "secret-value-") {
				t.Errorf("%q: attribute %s shows a secret value", r.msg, k)
			}
		}
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
	var want akvcreds.Summary
	creds, err := c.FetchCredentials(ctx, akvcreds.FetchSummary(&want),
		akvcreds.FetchNames(vault+"/plain", vault+"/throttled", vault+"/missing", vault+"/off", vault+"/pinned/"+v1))
	if len(creds) != 3 || len(akvcreds.FetchErrors(err)) != 2 {
		t.Fatalf("%d credentials, errors %v", len(creds), err)
	}
	recs := h.take()
	by := obsPerSecret(t, recs)
	if len(by) != 5 {
		t.Errorf("%d per-secret records, want 5: %v", len(by), recs)
	}
	obsCheckSecret(t, by["plain"], vault, 1, "")
	obsCheckSecret(t, by["throttled"], vault, 3, "")
	obsCheckSecret(t, by["missing"], vault, 1, "not found")
	obsCheckSecret(t, by["off"], vault, 1, "disabled")
	obsCheckSecret(t, by["pinned"], vault, 1, "")
	if got := by["pinned"].str("version"); got != v1 {
		t.Errorf("pinned: version = %q, want %s", got, v1)
	}
	if e := by["missing"].str("error"); !strings.Contains(e, "not found") || !strings.Contains(e, "missing") {
		t.Errorf("missing: error = %q", e)
	}
	if e := by["off"].str("error"); !strings.Contains(e, "disabled") {
		t.Errorf("off: error = %q", e)
	}

	// One summary, at INFO, with the call's counts.
	sum := obsSummary(t, recs)
	if sum.Vaults != 1 || sum.Fetched != 3 || sum.Failed != 2 || sum.Reads != 5 || sum.ListPages != 0 {
		t.Errorf("summary %+v, want 1 vault, 3 fetched, 2 failed, 5 reads, no list page", sum)
	}
	if want.Duration, sum.Duration = 0, 0; sum != want {
		t.Errorf("the logged summary %+v differs from FetchSummary's %+v", sum, want)
	}
	obsCheckAll(t, recs, "connector", "trace-4bf92f35")

	// FetchCredential: one record, with the context.
	if _, err := c.FetchCredential(ctx, vault+"/plain"); err != nil {
		t.Fatal(err)
	}
	recs = h.take()
	by = obsPerSecret(t, recs)
	if len(by) != 1 {
		t.Fatalf("FetchCredential logged %d per-secret records, want 1", len(by))
	}
	obsCheckSecret(t, by["plain"], vault, 1, "")
	obsCheckAll(t, recs, "connector", "trace-4bf92f35")
}

// A listing: a record per secret read, none for the secrets skipped
// (disabled, expired, not yet valid), and a summary that counts them, all
// with the caller's context.
func TestObservabilityListing(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	const vault = "obs-list"
	now := time.Now()
	s.SetSecret(vault, "a", "secret-value-1")
	s.SetSecret(vault, "b", "secret-value-2")
	s.SetSecret(vault, "c-off", "secret-value-3", akvcredstest.Disabled())
	s.SetSecret(vault, "d-expired", "secret-value-4", akvcredstest.Expires(now.Add(-time.Hour)))
	s.SetSecret(vault, "e-later", "secret-value-5", akvcredstest.NotBefore(now.Add(time.Hour)))
	h := newObsHandler()
	c := newClient(t, s, secretAuth(), akvcreds.WithLogger(slog.New(h)), akvcreds.WithVaults(vault))
	ctx := context.WithValue(context.Background(), obsKey{}, "trace-list")
	creds, err := c.FetchCredentials(ctx)
	if err != nil || len(creds) != 2 {
		t.Fatalf("%d credentials, %v", len(creds), err)
	}
	recs := h.take()
	by := obsPerSecret(t, recs)
	if got := slices.Sorted(maps.Keys(by)); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("per-secret records for %v, want a and b", got)
	}
	obsCheckSecret(t, by["a"], vault, 1, "")
	obsCheckSecret(t, by["b"], vault, 1, "")
	sum := obsSummary(t, recs)
	if sum.Listed != 5 || sum.Fetched != 2 || sum.Failed != 0 || sum.SkippedDisabled != 1 || sum.SkippedExpired != 1 ||
		sum.SkippedNotYetValid != 1 || sum.ListPages != 1 || sum.Reads != 2 {
		t.Errorf("summary %+v, want 5 listed (1 page), 2 read and fetched, 1 each skipped disabled, expired and not yet valid", sum)
	}
	obsCheckAll(t, recs, "", "trace-list")
}

// A silent logger (the default) costs nothing observable, and a logger
// whose handler is disabled below WARN gets only the failures: akvcreds
// asks before building a record.
func TestObservabilityLevels(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetSecret("obs-levels", "a", "1")
	h := newObsHandler()
	h.min = slog.LevelWarn
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

// Watch logs one record per cycle with its counts and wait: INFO for the
// initial fetch and for a cycle with changes or errors, DEBUG for a quiet
// one, WARN with the handler's error (and the count of failing cycles) when
// the handler refuses a batch; with the context Watch was given.
func TestObservabilityWatch(t *testing.T) {
	t.Parallel()
	h := newObsHandler()
	s, clock, c := watchFixture(t, 2, akvcreds.WithLogger(slog.New(h)))
	w := startWatchCtx(t, context.WithValue(context.Background(), obsKey{}, "trace-watch"), s, c)

	type want struct {
		level                                              slog.Level
		added, changed, current, listPages, reads, failing int64
		handlerErr                                         string
		next                                               int // intervals
	}
	check := func(cycle int, x want) {
		t.Helper()
		var got []obsRecord
		for _, r := range h.take() {
			if r.msg == obsMsgCycle {
				got = append(got, r)
			}
		}
		if len(got) != 1 {
			t.Fatalf("cycle %d: %d %q records, want 1", cycle, len(got), obsMsgCycle)
		}
		r := got[0]
		ints := map[string]int64{"cycle": int64(cycle), "added": x.added, "changed": x.changed, "removed": 0, "errors": 0,
			"current": x.current, "listPages": x.listPages, "reads": x.reads}
		for k, v := range ints {
			if a, ok := r.attrs[k]; !ok || a.Kind() != slog.KindInt64 || a.Int64() != v {
				t.Errorf("cycle %d: %s = %v, want %d", cycle, k, a, v)
			}
		}
		if r.level != x.level {
			t.Errorf("cycle %d: level %v, want %v", cycle, r.level, x.level)
		}
		if d := r.attrs["duration"]; d.Kind() != slog.KindDuration || d.Duration() < 0 {
			t.Errorf("cycle %d: duration = %v", cycle, d)
		}
		if n := r.attrs["next"]; n.Kind() != slog.KindDuration || !withinJitter(n.Duration(), x.next) {
			t.Errorf("cycle %d: next = %v, want %d× %v ±15 %%", cycle, n, x.next, watchInterval)
		}
		if f, ok := r.attrs["failingCycles"]; ok != (x.failing > 0) || (ok && f.Int64() != x.failing) {
			t.Errorf("cycle %d: failingCycles = %v, want %d", cycle, f, x.failing)
		}
		if e, ok := r.attrs["handlerError"]; ok != (x.handlerErr != "") || (ok && e.String() != x.handlerErr) {
			t.Errorf("cycle %d: handlerError = %v, want %q", cycle, e, x.handlerErr)
		}
		obsCheckAll(t, []obsRecord{r}, "", "trace-watch")
	}
	w.next(t)
	w.step(t, nil)
	check(0, want{level: slog.LevelInfo, added: 2, current: 2, listPages: 1, reads: 2, next: 1})
	clock.Advance(time.Second)
	s.SetSecret("watched", "secret-001", "secret-value-rotated")
	w.step(t, nil)
	check(1, want{level: slog.LevelDebug, current: 2, listPages: 1, next: 1})
	w.step(t, errors.New("store down"))
	check(2, want{level: slog.LevelWarn, changed: 1, current: 2, listPages: 1, reads: 1, failing: 1, handlerErr: "store down", next: 2})
	w.step(t, errors.New("store still down"))
	check(3, want{level: slog.LevelWarn, changed: 1, current: 2, listPages: 1, failing: 2, handlerErr: "store still down", next: 4})
	w.step(t, nil)
	check(4, want{level: slog.LevelInfo, changed: 1, current: 2, listPages: 1, next: 1})
}
