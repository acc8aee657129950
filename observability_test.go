package akvcreds_test

// Observability: WithLogger gets one record per secret read from Key Vault
// (vault, secret, attempts, duration, and the kind and error when it
// failed), a summary per FetchCredentials call and one record per Watch
// cycle, every record with the caller's context, so that a handler can
// attach the caller's trace — and never a secret value.
//
// Redaction: no secret value, client secret or token shows in logs,
// errors, fmt's verbs, reflection dumps, JSON or XML, or OpenTelemetry
// spans and metrics (checkTelemetry), whether the call succeeds or fails.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
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

// obsSummary returns the counts of the one "fetch finished" record, which
// must be at INFO, from its "summary" group.
func obsSummary(t *testing.T, recs []obsRecord) counts {
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
	// The handler flattens the "summary" group into "summary.KEY" attributes.
	n := map[string]int{}
	for k, v := range sums[0].attrs {
		key, ok := strings.CutPrefix(k, "summary.")
		switch {
		case !ok:
		case v.Kind() == slog.KindInt64:
			n[key] = int(v.Int64())
		case key != "duration" || v.Kind() != slog.KindDuration || v.Duration() <= 0:
			t.Errorf("summary %s = %v, want a count or a positive duration", key, v)
		}
	}
	sum := counts{Vaults: n["vaults"], Listed: n["listed"], Fetched: n["fetched"], FromCache: n["fromCache"], Stale: n["stale"],
		FilteredOut: n["filteredOut"], SkippedDisabled: n["skippedDisabled"], SkippedExpired: n["skippedExpired"],
		SkippedNotYetValid: n["skippedNotYetValid"], Failed: n["failed"], ListPages: n["listPages"], Reads: n["reads"],
		CertificatesExpiring: n["certificatesExpiring"]}
	if len(n) != 13 {
		t.Errorf("summary has %d counts, want 13: %v", len(n), n)
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
	var want akvcreds.Batch
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
	if sum != countsOf(want) {
		t.Errorf("the logged summary %+v differs from FetchSummary's %+v", sum, countsOf(want))
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

const (
	// secretValue is the value of the secret every redaction test fetches.
	secretValue = "hunter2-SECRET-do-not-print"
	// disabledValue is the value of a disabled secret.
	disabledValue = "disabled-SECRET-never-seen"
	// wrongClientSecret is a client secret Entra ID rejects.
	wrongClientSecret = "Wr0n8Q~wrong-client-secret.VALUE"
	redactedText      = "[REDACTED]"
)

// leakForms returns the spellings in which s could leak: as is, hex
// (%x, %X), base64 (a []byte in JSON) and, for a JWT, each long segment.
func leakForms(s string) []string {
	forms := []string{s,
		hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s))),
		base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))}
	if parts := strings.Split(s, "."); len(parts) == 3 {
		for _, p := range parts {
			if len(p) >= 16 {
				forms = append(forms, p)
			}
		}
	}
	return forms
}

// assertNoLeak fails if text contains any spelling of any secret.
func assertNoLeak(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, f := range leakForms(s) {
			if strings.Contains(text, f) {
				t.Errorf("%s shows a secret (%.12q...): %s", where, f, text)
				break
			}
		}
	}
}

// tokenRecorder wraps a transport and records every bearer token that
// crosses it: Authorization header values sent, and access_token values
// received from Entra ID and the managed-identity endpoint.
type tokenRecorder struct {
	base http.RoundTripper

	mu     sync.Mutex
	tokens []string
	auths  int // Authorization headers seen
	issued int // access tokens seen in responses
}

func (r *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if h := req.Header.Get("Authorization"); h != "" {
		r.add(h, false)
		if _, tok, ok := strings.Cut(h, " "); ok {
			r.add(tok, false)
		}
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &tr) == nil {
		if tr.AccessToken != "" {
			r.add(tr.AccessToken, true)
		}
		if tr.RefreshToken != "" {
			r.add(tr.RefreshToken, true)
		}
	}
	return resp, nil
}

func (r *tokenRecorder) add(tok string, issued bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = append(r.tokens, tok)
	if issued {
		r.issued++
	} else {
		r.auths++
	}
}

func (r *tokenRecorder) snapshot() (tokens []string, auths, issued int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...), r.auths, r.issued
}

// debugLogger logs at debug level, as text and as JSON, into one buffer.
func debugLogger() (*slog.Logger, *testutil.SyncBuffer) {
	buf := &testutil.SyncBuffer{}
	ho := &slog.HandlerOptions{Level: slog.LevelDebug}
	return slog.New(slog.NewMultiHandler(slog.NewTextHandler(buf, ho), slog.NewJSONHandler(buf, ho))), buf
}

// recordingClient is the emulator's HTTP client with a tokenRecorder.
func recordingClient(s *akvcredstest.Server) (*http.Client, *tokenRecorder) {
	hc := s.Client()
	rec := &tokenRecorder{base: hc.Transport}
	hc.Transport = rec
	return hc, rec
}

// fetchedCredential fetches the secret "redact-vault/db-password" (value
// secretValue) from a new emulator.
func fetchedCredential(t *testing.T) akvcreds.Credential {
	t.Helper()
	s := newServer(t)
	s.SetSecret("redact-vault", "db-password", secretValue,
		akvcredstest.ContentType("text/plain"), akvcredstest.Tags(map[string]string{"env": "prod"}))
	c := newClient(t, s, secretAuth())
	cred, err := c.FetchCredential(context.Background(), "redact-vault/db-password")
	if err != nil {
		t.Fatalf("FetchCredential: %v", err)
	}
	if cred.Password.Reveal() != secretValue {
		t.Fatalf("Reveal() = %d characters, not the secret's value", len(cred.Password.Reveal()))
	}
	return cred
}

func TestPasswordRevealAndZero(t *testing.T) {
	t.Parallel()
	cred := fetchedCredential(t)
	if got := cred.Password.Reveal(); got != secretValue {
		t.Errorf("Reveal() does not return the value")
	}

	var zero akvcreds.Password
	if got := zero.Reveal(); got != "" {
		t.Errorf("zero Password: Reveal() = %q, want empty", got)
	}
	var zc akvcreds.Credential
	if zc.Password.Reveal() != "" {
		t.Errorf("zero Credential has a non-empty password")
	}
	for _, p := range []akvcreds.Password{zero, cred.Password} {
		tests := []struct{ got, want string }{
			{p.String(), redactedText},
			{fmt.Sprint(p), redactedText},
			{fmt.Sprintf("%v", p), redactedText},
			{fmt.Sprintf("%+v", p), redactedText},
			//lint:ignore S1025 fmt's %s verb is what is tested
			{fmt.Sprintf("%s", p), redactedText},
			{fmt.Sprintf("%q", p), `"[REDACTED]"`},
		}
		for i, tt := range tests {
			if tt.got != tt.want {
				t.Errorf("case %d: got %q, want %q", i, tt.got, tt.want)
			}
		}
		// %#v is Go syntax: the type with its closure, never the value.
		if got := fmt.Sprintf("%#v", p); !strings.HasPrefix(got, "akvcreds.Password{") {
			t.Errorf("%%#v = %q, want akvcreds.Password{...}", got)
		} else {
			assertNoLeak(t, "%#v", got, secretValue)
		}
		if b, err := json.Marshal(p); err != nil || string(b) != `"[REDACTED]"` {
			t.Errorf("json.Marshal = %s, %v", b, err)
		}
		// slog's text and JSON handlers show it redacted (String, MarshalJSON).
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "pw", p)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "pw", p)
		if out := buf.String(); !strings.Contains(out, "pw=[REDACTED]") || !strings.Contains(out, `"pw":"[REDACTED]"`) {
			t.Errorf("slog shows %s, want pw=[REDACTED] and \"pw\":\"[REDACTED]\"", out)
		}
	}
}

// holder is a caller's struct with credentials in every kind of field,
// exported and not, as assertion libraries and dumpers meet them.
type holder struct {
	Label   string
	Cred    akvcreds.Credential
	Ptr     *akvcreds.Credential
	List    []akvcreds.Credential
	ByName  map[string]akvcreds.Credential
	Any     any
	PwOnly  akvcreds.Password
	private akvcreds.Credential
	privPtr *akvcreds.Credential
	privAny any
}

func newHolder(cred akvcreds.Credential) holder {
	return holder{
		Label: "holder", Cred: cred, Ptr: &cred, List: []akvcreds.Credential{cred, cred},
		ByName: map[string]akvcreds.Credential{cred.Name: cred}, Any: cred, PwOnly: cred.Password,
		private: cred, privPtr: &cred, privAny: []*akvcreds.Credential{&cred},
	}
}

func TestRedactionFmt(t *testing.T) {
	t.Parallel()
	cred := fetchedCredential(t)
	h := newHolder(cred)
	targets := []struct {
		name string
		v    any
		// shown: the password itself is printed (fmt prints nested
		// pointers as addresses).
		shown bool
	}{
		{"Password", cred.Password, true},
		{"*Password", &cred.Password, true},
		{"Credential", cred, true},
		{"*Credential", &cred, true},
		{"[]Credential", []akvcreds.Credential{cred, cred}, true},
		{"[]*Credential", []*akvcreds.Credential{&cred}, false},
		{"map of Credential", map[string]akvcreds.Credential{"k": cred}, true},
		{"[1]Credential", [1]akvcreds.Credential{cred}, true},
		{"holder", h, true},
		{"*holder", &h, true},
		{"reflect.Value", reflect.ValueOf(cred), true},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%#x", "%T", "%d", "%t", "%p",
		"%e", "%10.4v", "%-40s", "%+q", "%#q", "%U", "%c", "%b", "%o", "%!"}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			for _, verb := range verbs {
				out := fmt.Sprintf(verb, tg.v)
				assertNoLeak(t, fmt.Sprintf("Sprintf(%q)", verb), out, secretValue)
				switch verb {
				case "%v", "%+v", "%s", "%q":
					if tg.shown && !strings.Contains(out, "REDACTED") {
						t.Errorf("Sprintf(%q) = %s, want [REDACTED] in it", verb, out)
					}
				case "%#v":
					// Go syntax: the Password's closure, never its value.
					if tg.shown && !strings.Contains(out, "akvcreds.Password{reveal:(func() string)(0x") {
						t.Errorf("Sprintf(%q) = %s, want the Password's closure in it", verb, out)
					}
				}
			}
			for name, out := range map[string]string{
				"Sprint": fmt.Sprint(tg.v), "Sprintln": fmt.Sprintln(tg.v, tg.v),
				"Errorf": fmt.Errorf("wrapped: %v", tg.v).Error(),
			} {
				assertNoLeak(t, name, out, secretValue)
			}
			var buf bytes.Buffer
			fmt.Fprint(&buf, tg.v)
			fmt.Fprintf(&buf, "%+v %#v", tg.v, tg.v)
			fmt.Fprintln(&buf, tg.v)
			assertNoLeak(t, "Fprint", buf.String(), secretValue)
		})
	}
}

// dump walks v by reflection the way go-spew and other deep dumpers do:
// every field, exported or not, every pointer, map, slice and interface,
// reading strings and bytes directly (no String or Format methods). Function
// values are opaque to reflection.
func dump(v reflect.Value, out *strings.Builder, seen map[uintptr]bool, depth int) {
	if !v.IsValid() || depth > 64 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		out.WriteString(v.String())
		out.WriteByte('\n')
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		dump(v.Elem(), out, seen, depth+1)
	case reflect.Interface:
		dump(v.Elem(), out, seen, depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			dump(v.Field(i), out, seen, depth+1)
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			for i := range b {
				b[i] = byte(v.Index(i).Uint())
			}
			out.Write(b)
			out.WriteByte('\n')
			return
		}
		for i := range v.Len() {
			dump(v.Index(i), out, seen, depth+1)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			dump(it.Key(), out, seen, depth+1)
			dump(it.Value(), out, seen, depth+1)
		}
	}
}

func deepDump(x any) string {
	var b strings.Builder
	dump(reflect.ValueOf(x), &b, map[uintptr]bool{}, 0)
	return b.String()
}

func TestRedactionReflection(t *testing.T) {
	t.Parallel()
	cred := fetchedCredential(t)
	h := newHolder(cred)

	// %#v walks unexported fields by reflection, without their methods.
	for _, x := range []any{h, &h, struct{ c akvcreds.Credential }{cred}, []any{struct{ c *akvcreds.Credential }{&cred}}} {
		out := fmt.Sprintf("%#v", x)
		assertNoLeak(t, "%#v of a struct holding the credential", out, secretValue)
		if _, isSlice := x.([]any); !isSlice && !strings.Contains(out, cred.Name) {
			t.Errorf("%%#v lost the credential's name, the check proves nothing: %s", out)
		}
	}
	out := fmt.Sprintf("%#v", struct{ p akvcreds.Password }{cred.Password})
	assertNoLeak(t, "%#v of a struct holding the password", out, secretValue)

	// The dumper sees every string reachable from the value.
	if got := deepDump(struct{ s string }{"probe-value"}); !strings.Contains(got, "probe-value") {
		t.Fatalf("the reflective dumper misses unexported strings: %q", got)
	}
	for name, x := range map[string]any{"holder": h, "*holder": &h, "Credential": cred, "Password": cred.Password} {
		out := deepDump(x)
		assertNoLeak(t, "a reflective dump of "+name, out, secretValue)
	}
	if out := deepDump(h); !strings.Contains(out, cred.Name) || !strings.Contains(out, "prod") {
		t.Errorf("the reflective dump lost the credential's metadata, the check proves nothing: %s", out)
	}
}

func TestRedactionJSON(t *testing.T) {
	t.Parallel()
	cred := fetchedCredential(t)
	targets := []struct {
		name string
		v    any
	}{
		{"Credential", cred},
		{"*Credential", &cred},
		{"[]Credential", []akvcreds.Credential{cred, cred}},
		{"map of Credential", map[string]akvcreds.Credential{"k": cred}},
		{"holder", newHolder(cred)},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tg.v)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			assertNoLeak(t, "json.Marshal", string(b), secretValue)
			ib, err := json.MarshalIndent(tg.v, "", "  ")
			if err != nil {
				t.Fatalf("json.MarshalIndent: %v", err)
			}
			assertNoLeak(t, "json.MarshalIndent", string(ib), secretValue)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(tg.v); err != nil {
				t.Fatalf("Encoder.Encode: %v", err)
			}
			assertNoLeak(t, "json.Encoder", buf.String(), secretValue)
			if !strings.Contains(string(b), `"password":"[REDACTED]"`) && !strings.Contains(string(b), `"PwOnly":"[REDACTED]"`) {
				t.Errorf("json.Marshal = %s, want the password as \"[REDACTED]\"", b)
			}
		})
	}

	// The fields decode as documented.
	b, _ := json.Marshal([]akvcreds.Credential{cred})
	var decoded []map[string]any
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	if len(decoded) != 1 || decoded[0]["password"] != redactedText || decoded[0]["name"] != cred.Name ||
		decoded[0]["username"] != "db-password" {
		t.Errorf("decoded JSON = %v", decoded)
	}
}

// encoding/xml cannot reach the value: a Password element is empty, and a
// Password attribute or a Credential (whose Tags are a map) is an error that
// shows nothing of it.
func TestRedactionXML(t *testing.T) {
	t.Parallel()
	cred := fetchedCredential(t)
	type withElement struct {
		XMLName xml.Name          `xml:"login"`
		Elem    akvcreds.Password `xml:"password"`
	}
	b, err := xml.Marshal(withElement{Elem: cred.Password})
	if err != nil {
		t.Fatalf("xml.Marshal of a Password element: %v", err)
	}
	if want := `<login><password></password></login>`; string(b) != want {
		t.Errorf("xml.Marshal = %s, want %s", b, want)
	}
	type withAttr struct {
		XMLName xml.Name          `xml:"login"`
		Attr    akvcreds.Password `xml:"pw,attr"`
	}
	for name, v := range map[string]any{
		"Password attribute": withAttr{Attr: cred.Password}, "Credential": cred, "*Credential": &cred, "[]Credential": []akvcreds.Credential{cred},
	} {
		b, err := xml.MarshalIndent(v, "", " ")
		assertNoLeak(t, "xml.Marshal of "+name, string(b), secretValue)
		if err != nil {
			assertNoLeak(t, "the xml.Marshal error of "+name, err.Error(), secretValue)
		}
	}
}

func TestRedactionSlog(t *testing.T) {
	t.Parallel()
	cred := fetchedCredential(t)
	handlers := []struct {
		name string
		new  func(io.Writer) slog.Handler
	}{
		{"text", func(w io.Writer) slog.Handler {
			return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: true})
		}},
		{"json", func(w io.Writer) slog.Handler {
			return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: true})
		}},
	}
	logs := []struct {
		name string
		log  func(*slog.Logger)
	}{
		{"key-value", func(l *slog.Logger) { l.Debug("fetched", "credential", cred) }},
		{"slog.Any", func(l *slog.Logger) { l.Debug("fetched", slog.Any("credential", cred)) }},
		{"pointer", func(l *slog.Logger) { l.Debug("fetched", slog.Any("credential", &cred)) }},
		{"password", func(l *slog.Logger) { l.Debug("fetched", "password", cred.Password, slog.Any("pw", cred.Password)) }},
		{"slice", func(l *slog.Logger) { l.Debug("fetched", slog.Any("credentials", []akvcreds.Credential{cred, cred})) }},
		{"holder", func(l *slog.Logger) { l.Debug("fetched", slog.Any("holder", newHolder(cred))) }},
		{"group", func(l *slog.Logger) {
			l.Debug("fetched", slog.Group("g", slog.Any("c", cred), "p", cred.Password))
		}},
		{"With", func(l *slog.Logger) { l.With("credential", cred).WithGroup("x").Info("fetched", "c", cred) }},
		{"LogAttrs", func(l *slog.Logger) {
			l.LogAttrs(context.Background(), slog.LevelDebug, "fetched", slog.Any("credential", cred))
		}},
		{"message", func(l *slog.Logger) { l.Debug(fmt.Sprintf("fetched %v %+v", cred, cred)) }},
	}
	for _, h := range handlers {
		for _, lg := range logs {
			t.Run(h.name+"/"+lg.name, func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				lg.log(slog.New(h.new(&buf)))
				out := buf.String()
				if out == "" {
					t.Fatal("nothing was logged")
				}
				assertNoLeak(t, "the log", out, secretValue)
				if !strings.Contains(out, redactedText) {
					t.Errorf("the log does not show [REDACTED]: %s", out)
				}
			})
		}
	}
}

// checkRun asserts that nothing a fetch run produced shows a secret: the
// log, the errors (each one in the chain) and the credentials' printed forms.
func checkRun(t *testing.T, logs string, err error, rec *tokenRecorder, secrets ...string) {
	t.Helper()
	tokens, _, _ := rec.snapshot()
	all := append(append([]string(nil), secrets...), tokens...)
	assertNoLeak(t, "the debug log", logs, all...)
	if err == nil {
		return
	}
	for _, form := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%q", err)} {
		assertNoLeak(t, "the error", form, all...)
	}
	// Every error in the chain, and each *FetchError on its own.
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		assertNoLeak(t, fmt.Sprintf("a wrapped %T", e), e.Error(), all...)
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	// Assertion libraries print errors with reflection-based dumpers: the
	// SDK's HTTP exchange (the Authorization header, the token request's
	// client secret) must not be reachable from the error.
	assertNoLeak(t, "a reflection dump of the error", deepDump(err), all...)
	for _, fe := range akvcreds.FetchErrors(err) {
		assertNoLeak(t, "a *FetchError", fe.Error(), all...)
		assertNoLeak(t, "a *FetchError", fmt.Sprintf("%v %+v %s", fe, fe, fe), all...)
	}
}

// A complete debug-level run — token, challenge, listing, gets, a single
// fetch, the cache — logs nothing secret, for every way of authenticating.
func TestRedactionFullRun(t *testing.T) {
	t.Parallel()
	auths := []struct {
		name string
		auth akvcreds.Option
	}{
		{"client secret", secretAuth()},
		{"user-assigned identity", akvcreds.WithUserAssignedIdentity(akvcredstest.DefaultUserAssignedClientID)},
		{"system-assigned identity", akvcreds.WithSystemAssignedIdentity()},
	}
	for _, a := range auths {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetSecret("redact-vault", "db-password", secretValue)
			s.SetSecret("redact-vault", "api-key", secretValue+"-2")
			s.SetSecret("other-vault", "db-password", secretValue+"-3")
			hc, rec := recordingClient(s)
			logger, logs := debugLogger()
			rig := newOtelRig(t)
			c, err := akvcreds.New(a.auth, akvcreds.WithHTTPClient(hc), akvcreds.WithLogger(logger), rig.option(),
				akvcreds.WithVaults("redact-vault", "other-vault"), akvcreds.WithSecrets("db-password"), akvcreds.WithCache(time.Hour))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx := context.Background()

			var errs []error
			creds, err := c.FetchCredentials(ctx)
			if err != nil || len(creds) != 2 {
				t.Fatalf("FetchCredentials: %d credentials, %v", len(creds), err)
			}
			if err := c.Invalidate(); err != nil {
				t.Fatal(err)
			}
			listed, err := c.FetchCredentials(ctx, akvcreds.FetchNames("redact-vault", "other-vault"))
			if err != nil || len(listed) != 3 {
				t.Fatalf("FetchCredentials listing: %d credentials, %v", len(listed), err)
			}
			cred, err := c.FetchCredential(ctx, "redact-vault/api-key")
			if err != nil || cred.Password.Reveal() != secretValue+"-2" {
				t.Fatalf("FetchCredential: %v", err)
			}
			_, err = c.FetchCredentials(ctx) // from the cache
			errs = append(errs, err)
			// What a caller typically logs with the same logger.
			logger.Debug("credentials", "creds", creds, slog.Any("listed", listed), "one", cred)

			tokens, nAuth, nIssued := rec.snapshot()
			if nAuth == 0 || nIssued == 0 || len(tokens) == 0 {
				t.Fatalf("recorded %d Authorization headers and %d issued tokens: the check proves nothing", nAuth, nIssued)
			}
			out := logs.String()
			for _, want := range []string{"level=DEBUG", `"level":"DEBUG"`, "secret fetched", "fetch finished"} {
				if !strings.Contains(out, want) {
					t.Errorf("the debug log lacks %q, the check proves nothing:\n%s", want, out)
				}
			}
			checkRun(t, out, errors.Join(errs...), rec,
				secretValue, akvcredstest.DefaultClientSecret)
			checkTelemetry(t, rig, rec, secretValue, akvcredstest.DefaultClientSecret)
		})
	}
}

// Failures — a missing secret, a disabled one, a wrong client secret, no
// permission, server errors, throttling that persists — are explained
// without a secret or token.
func TestRedactionFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		auth    akvcreds.Option
		secrets []string
		setup   func(*akvcredstest.Server)
		opts    []akvcreds.Option
		want    []error
	}{
		{
			name:    "missing and disabled secrets",
			auth:    secretAuth(),
			secrets: []string{"db-password", "missing", "switched-off"},
			want:    []error{akvcreds.ErrNotFound, akvcreds.ErrDisabled},
		},
		{
			name:    "wrong client secret",
			auth:    akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, wrongClientSecret),
			secrets: []string{"db-password", "switched-off"},
			want:    []error{akvcreds.ErrUnauthenticated},
		},
		{
			name:    "forbidden",
			auth:    secretAuth(),
			secrets: []string{"db-password"},
			setup: func(s *akvcredstest.Server) {
				s.SetPermissions("redact-vault", akvcredstest.DefaultClientID, akvcredstest.Permissions{})
			},
			want: []error{akvcreds.ErrForbidden},
		},
		{
			name:    "server errors",
			auth:    secretAuth(),
			secrets: []string{"db-password"},
			setup: func(s *akvcredstest.Server) {
				s.Inject(akvcredstest.Fault{Host: "redact-vault.vault.azure.net", Path: "/secrets/db-password", Status: 503, Count: 100})
			},
			want: []error{akvcreds.ErrUnavailable},
		},
		{
			name:    "throttling that persists",
			auth:    secretAuth(),
			secrets: []string{"db-password"},
			setup: func(s *akvcredstest.Server) {
				s.Inject(akvcredstest.Fault{Host: "redact-vault.vault.azure.net", Path: "/secrets/db-password", Status: 429, RetryAfter: "0", Count: 100})
			},
			opts: []akvcreds.Option{akvcreds.WithThrottleBudget(time.Second)},
			want: []error{akvcreds.ErrThrottled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetSecret("redact-vault", "db-password", secretValue)
			s.SetSecret("redact-vault", "switched-off", disabledValue, akvcredstest.Disabled())
			if tt.setup != nil {
				tt.setup(s)
			}
			hc, rec := recordingClient(s)
			logger, logs := debugLogger()
			rig := newOtelRig(t)
			opts := append([]akvcreds.Option{tt.auth, akvcreds.WithHTTPClient(hc), akvcreds.WithLogger(logger), rig.option(),
				akvcreds.WithVaults("redact-vault"), akvcreds.WithSecrets(tt.secrets...), akvcreds.WithMaxRetries(1)}, tt.opts...)
			c, err := akvcreds.New(opts...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx := context.Background()

			creds, err := c.FetchCredentials(ctx)
			if err == nil {
				t.Fatalf("FetchCredentials succeeded with %d credentials", len(creds))
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("errors.Is(err, %v) = false: %v", w, err)
				}
			}
			if len(akvcreds.FetchErrors(err)) == 0 {
				t.Errorf("no *FetchError in %v", err)
			}
			// Listing and single fetches fail the same way.
			_, lerr := c.FetchCredentials(ctx, akvcreds.FetchNames("redact-vault"))
			_, oerr := c.FetchCredential(ctx, "redact-vault/switched-off")
			logger.Debug("result", "creds", creds, "err", err)

			out := logs.String()
			if !strings.Contains(out, "not fetched") {
				t.Errorf("the log does not report the failures, the check proves nothing:\n%s", out)
			}
			checkRun(t, out, errors.Join(err, lerr, oerr), rec,
				secretValue, disabledValue, akvcredstest.DefaultClientSecret, wrongClientSecret)
			checkTelemetry(t, rig, rec, secretValue, disabledValue, akvcredstest.DefaultClientSecret, wrongClientSecret)
		})
	}
}

// New's errors never show the client secret, wherever it was put.
func TestRedactionNewErrors(t *testing.T) {
	t.Parallel()
	secret := akvcredstest.DefaultClientSecret
	tests := []struct {
		name string
		opts []akvcreds.Option
	}{
		{"bad tenant", []akvcreds.Option{akvcreds.WithClientSecret("common", akvcredstest.DefaultClientID, secret)}},
		{"bad client ID", []akvcreds.Option{akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, "app", secret)}},
		{"secret with trailing space", []akvcreds.Option{akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, secret+" ")}},
		{"secret with leading tab", []akvcreds.Option{akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, "\t"+secret)}},
		{"secret as client ID", []akvcreds.Option{akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, secret, akvcredstest.DefaultClientID)}},
		{"secret as tenant ID", []akvcreds.Option{akvcreds.WithClientSecret(secret, akvcredstest.DefaultClientID, akvcredstest.DefaultTenantID)}},
		{"secret and another option", []akvcreds.Option{akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, secret), akvcreds.WithSystemAssignedIdentity()}},
		{"secret and bad options", []akvcreds.Option{akvcreds.WithClientSecret("", "", secret), akvcreds.WithVaults("x"), akvcreds.WithConcurrency(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := akvcreds.New(tt.opts...)
			if !errors.Is(err, akvcreds.ErrInvalidArgument) {
				t.Fatalf("New: %v, want an ErrInvalidArgument", err)
			}
			for _, form := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				assertNoLeak(t, "the error of New", form, secret)
			}
		})
	}
}
