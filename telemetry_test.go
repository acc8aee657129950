package akvcreds_test

// OpenTelemetry (WithOpenTelemetry): the span tree of a fetch (call →
// vault → read → the Azure SDK's spans → HTTP), the events and errors on
// it, the metrics, and that none of it shows a secret value, a token or a
// client secret. Recorded with the OTel SDK's in-memory exporters.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// otelRig is the OTel SDK with in-memory exporters: spans as they end,
// metrics on demand.
type otelRig struct {
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newOtelRig(t testing.TB) *otelRig {
	t.Helper()
	r := &otelRig{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(r.spans))
	r.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		_ = r.tp.Shutdown(context.Background())
		_ = r.mp.Shutdown(context.Background())
	})
	return r
}

func (r *otelRig) option() akvcreds.Option { return akvcreds.WithOpenTelemetry(r.tp, r.mp) }

// metrics collects the metrics recorded so far.
func (r *otelRig) metrics(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	return rm
}

// spanTree renders spans as an indented tree of their names, children in
// name order (then by their own subtrees), so that it does not depend on
// timing. label adds to each line.
func spanTree(spans tracetest.SpanStubs, label func(tracetest.SpanStub) string) string {
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		ids[s.SpanContext.SpanID()] = true
	}
	children := map[trace.SpanID][]tracetest.SpanStub{}
	var roots []tracetest.SpanStub
	for _, s := range spans {
		if p := s.Parent.SpanID(); s.Parent.IsValid() && ids[p] {
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	var render func(s tracetest.SpanStub, depth int) string
	renderAll := func(ss []tracetest.SpanStub, depth int) string {
		parts := make([]string, len(ss))
		for i, s := range ss {
			parts[i] = render(s, depth)
		}
		slices.Sort(parts)
		return strings.Join(parts, "")
	}
	render = func(s tracetest.SpanStub, depth int) string {
		line := strings.Repeat("  ", depth) + s.Name
		if label != nil {
			line += label(s)
		}
		return line + "\n" + renderAll(children[s.SpanContext.SpanID()], depth+1)
	}
	return renderAll(roots, 0)
}

// attrOf returns the span's attribute key as text ("" when absent).
func attrOf(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

// otelLabel describes a span for spanTree: the vault and secret, the
// HTTP status, the failure's kind (or "error" for an SDK span that
// failed), and its events.
func otelLabel(s tracetest.SpanStub) string {
	var b strings.Builder
	for _, k := range []string{"akvcreds.watch.cycle", "akvcreds.vault", "akvcreds.secret", "http.status_code"} {
		if v := attrOf(s, k); v != "" {
			b.WriteString(" " + v)
		}
	}
	switch k := attrOf(s, "akvcreds.error.kind"); {
	case k != "":
		b.WriteString(" !" + k)
	case s.Status.Code == codes.Error && !strings.HasPrefix(s.Name, "HTTP "):
		b.WriteString(" !error")
	}
	for _, e := range s.Events {
		b.WriteString(" +" + e.Name)
	}
	return b.String()
}

// isIdentity reports whether the span is azidentity's (a token request and
// its discovery requests): the tree tests check those apart.
func isIdentity(s tracetest.SpanStub) bool {
	return strings.HasSuffix(s.InstrumentationScope.Name, "/azidentity")
}

// metricValues flattens akvcreds' metrics to "name{key=value,...}" → the
// sum's value, or the histogram's count.
func metricValues(t testing.TB, rm metricdata.ResourceMetrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/akvcreds/akvcreds" {
			t.Errorf("metrics under scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrText(p.Attributes.ToSlice())] = float64(p.Value)
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrText(p.Attributes.ToSlice())] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrText(p.Attributes.ToSlice())] = float64(p.Count)
				}
			default:
				t.Errorf("metric %s is a %T", m.Name, m.Data)
			}
		}
	}
	return out
}

func attrText(kvs []attribute.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = string(kv.Key) + "=" + kv.Value.String()
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// checkTelemetry asserts that nothing recorded — any span (name,
// attributes, events, status, links, resource) or metric data point,
// printed with %#v or as JSON — shows a secret: the given values, and
// every token that crossed rec.
func checkTelemetry(t *testing.T, rig *otelRig, rec *tokenRecorder, secrets ...string) {
	t.Helper()
	tokens, _, _ := rec.snapshot()
	all := append(append([]string(nil), secrets...), tokens...)
	spans := rig.spans.GetSpans()
	if len(spans) == 0 {
		t.Fatal("no span recorded: the check proves nothing")
	}
	var text strings.Builder
	for _, s := range spans {
		j, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("span %s as JSON: %v", s.Name, err)
		}
		fmt.Fprintf(&text, "%#v\n%s\n", s, j)
	}
	rm := rig.metrics(t)
	j, err := json.Marshal(rm)
	if err != nil {
		t.Fatalf("metrics as JSON: %v", err)
	}
	fmt.Fprintf(&text, "%#v\n%s\n", rm, j)
	out := text.String()
	for _, want := range []string{"akvcreds.read", "HTTP GET", "akvcreds.request.duration"} {
		if !strings.Contains(out, want) {
			t.Errorf("the telemetry lacks %q: the check proves little", want)
		}
	}
	assertNoLeak(t, "the telemetry", out, all...)
}

// A fetch from two vaults, one read at a time so that the tree does not
// depend on scheduling: tel-prod's first read authenticates (challenge,
// token), its api-key is throttled (once, or past the throttle budget),
// and tel-dev refuses the read (no Get permission). The spans form the
// tree call → vault → read → Client.GetSecret → HTTP, the 429 pause and
// the retry are events on the read, the failures carry their kind, the
// metrics count what happened, and nothing shows a secret.
func TestOpenTelemetryFetch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		throttles int // 429s injected for tel-prod/api-key
		budget    time.Duration
		wantErrs  []error
		tree      string
		metrics   map[string]float64
	}{
		{
			name: "throttled once", throttles: 1,
			wantErrs: []error{akvcreds.ErrForbidden},
			tree: `akvcreds.FetchCredentials !forbidden
  akvcreds.vault tel-dev !forbidden
    akvcreds.read tel-dev db-password !forbidden
      Client.GetSecret
        HTTP GET 401
        HTTP GET 403
  akvcreds.vault tel-prod
    akvcreds.read tel-prod api-key +akvcreds.throttled +akvcreds.retry
      Client.GetSecret
        HTTP GET 200
        HTTP GET 429
    akvcreds.read tel-prod db-password
      Client.GetSecret
        HTTP GET 200
        HTTP GET 401
`,
			metrics: map[string]float64{
				"akvcreds.credentials.fetched{akvcreds.source=keyvault}":                                                 2,
				"akvcreds.failures{akvcreds.error.kind=forbidden,akvcreds.vault=tel-dev}":                                1,
				"akvcreds.throttled{akvcreds.vault=tel-prod}":                                                            1,
				"akvcreds.throttle.wait{akvcreds.vault=tel-prod}":                                                        1,
				"akvcreds.request.duration{akvcreds.operation=get,akvcreds.vault=tel-prod}":                              2,
				"akvcreds.request.duration{akvcreds.error.kind=forbidden,akvcreds.operation=get,akvcreds.vault=tel-dev}": 1,
				"akvcreds.cache.hits{}":   0,
				"akvcreds.cache.misses{}": 3,
			},
		},
		{
			name: "throttling persists", throttles: 100, budget: 1500 * time.Millisecond,
			wantErrs: []error{akvcreds.ErrForbidden, akvcreds.ErrThrottled},
			tree: `akvcreds.FetchCredentials !throttled
  akvcreds.vault tel-dev !forbidden
    akvcreds.read tel-dev db-password !forbidden
      Client.GetSecret
        HTTP GET 401
        HTTP GET 403
  akvcreds.vault tel-prod !throttled
    akvcreds.read tel-prod api-key !throttled +akvcreds.throttled +akvcreds.retry +akvcreds.throttled
      Client.GetSecret
        HTTP GET 429
        HTTP GET 429
    akvcreds.read tel-prod db-password
      Client.GetSecret
        HTTP GET 200
        HTTP GET 401
`,
			metrics: map[string]float64{
				"akvcreds.credentials.fetched{akvcreds.source=keyvault}":                                                  1,
				"akvcreds.failures{akvcreds.error.kind=forbidden,akvcreds.vault=tel-dev}":                                 1,
				"akvcreds.failures{akvcreds.error.kind=throttled,akvcreds.vault=tel-prod}":                                1,
				"akvcreds.throttled{akvcreds.vault=tel-prod}":                                                             2,
				"akvcreds.throttle.wait{akvcreds.vault=tel-prod}":                                                         1,
				"akvcreds.request.duration{akvcreds.operation=get,akvcreds.vault=tel-prod}":                               1,
				"akvcreds.request.duration{akvcreds.error.kind=throttled,akvcreds.operation=get,akvcreds.vault=tel-prod}": 1,
				"akvcreds.request.duration{akvcreds.error.kind=forbidden,akvcreds.operation=get,akvcreds.vault=tel-dev}":  1,
				"akvcreds.cache.hits{}":   0,
				"akvcreds.cache.misses{}": 3,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rig := newOtelRig(t)
			s := newServer(t)
			for _, v := range []string{"tel-prod", "tel-dev"} {
				s.SetSecret(v, "db-password", "pw-of-"+v+"-SECRET")
				s.SetSecret(v, "api-key", "key-of-"+v+"-SECRET")
			}
			s.SetPermissions("tel-dev", akvcredstest.DefaultClientID, akvcredstest.Permissions{})
			s.Inject(akvcredstest.Fault{Host: "tel-prod.vault.azure.net", Path: "/secrets/api-key", Status: 429, RetryAfter: "1", Count: tt.throttles})
			hc, rec := recordingClient(s)
			opts := []akvcreds.Option{secretAuth(), akvcreds.WithVaults("tel-prod", "tel-dev"), akvcreds.WithSecrets("db-password", "api-key"),
				akvcreds.WithConcurrency(1), akvcreds.WithCache(time.Hour), rig.option()}
			if tt.budget > 0 {
				opts = append(opts, akvcreds.WithThrottleBudget(tt.budget))
			}
			c := hardClient(t, hc, opts...)
			// tel-dev's api-key fails like its db-password: leave it out.
			creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchNames(
				"tel-prod/db-password", "tel-prod/api-key", "tel-dev/db-password"))
			t.Logf("%v %v", names(creds), err)
			for _, w := range tt.wantErrs {
				if !errors.Is(err, w) {
					t.Errorf("errors.Is(err, %v) = false: %v", w, err)
				}
			}

			var sdk, identity tracetest.SpanStubs
			for _, sp := range rig.spans.GetSpans() {
				if isIdentity(sp) {
					identity = append(identity, sp)
				} else {
					sdk = append(sdk, sp)
				}
			}
			if got := spanTree(sdk, otelLabel); got != tt.tree {
				t.Errorf("span tree:\n%s\nwant:\n%s", got, tt.tree)
			}
			checkIdentitySpans(t, sdk, identity)
			checkAkvcredsSpans(t, sdk)
			if got := metricValues(t, rig.metrics(t)); !maps.Equal(got, tt.metrics) {
				t.Errorf("metrics:\n%s\nwant:\n%s", mapText(got), mapText(tt.metrics))
			}
			checkTelemetry(t, rig, rec, "pw-of-tel-prod-SECRET", "key-of-tel-prod-SECRET", "pw-of-tel-dev-SECRET",
				"key-of-tel-dev-SECRET", akvcredstest.DefaultClientSecret)
		})
	}
}

func mapText(m map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "  %s = %v\n", k, m[k])
	}
	return b.String()
}

// checkIdentitySpans checks azidentity's spans: the token request (and
// the discovery requests before it) nest under the SDK span of the read
// that needed the token.
func checkIdentitySpans(t *testing.T, sdk, identity tracetest.SpanStubs) {
	t.Helper()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range sdk {
		byID[s.SpanContext.SpanID()] = s
	}
	tokens := 0
	for _, s := range identity {
		parent, ok := byID[s.Parent.SpanID()]
		if !ok || parent.Name != "Client.GetSecret" || s.SpanKind != trace.SpanKindClient {
			t.Errorf("azidentity span %s (%v) is not a client span under Client.GetSecret", s.Name, s.SpanKind)
		}
		if s.Name == "HTTP POST" && strings.HasSuffix(attrOf(s, "http.url"), "/oauth2/v2.0/token") && attrOf(s, "http.status_code") == "200" {
			tokens++
		}
	}
	if tokens != 1 {
		t.Errorf("%d token requests traced, want 1", tokens)
	}
}

// checkAkvcredsSpans checks what every span must have: akvcreds' spans
// are internal, under akvcreds' scope, and a failed one has status Error
// and its kind as akvcreds.error.kind and error.type; HTTP spans are
// client spans; a throttled event says how long the vault paused.
func checkAkvcredsSpans(t *testing.T, spans tracetest.SpanStubs) {
	t.Helper()
	for _, s := range spans {
		kind := attrOf(s, "akvcreds.error.kind")
		switch {
		case strings.HasPrefix(s.Name, "akvcreds."):
			if s.SpanKind != trace.SpanKindInternal || s.InstrumentationScope.Name != "github.com/akvcreds/akvcreds" {
				t.Errorf("%s: kind %v, scope %q", s.Name, s.SpanKind, s.InstrumentationScope.Name)
			}
			if (kind != "") != (s.Status.Code == codes.Error) || attrOf(s, "error.type") != kind {
				t.Errorf("%s: status %v, akvcreds.error.kind %q, error.type %q", s.Name, s.Status, kind, attrOf(s, "error.type"))
			}
		case strings.HasPrefix(s.Name, "HTTP "):
			if s.SpanKind != trace.SpanKindClient {
				t.Errorf("%s: kind %v", s.Name, s.SpanKind)
			}
		}
		for _, e := range s.Events {
			if e.Name != "akvcreds.throttled" {
				continue
			}
			attrs := tracetest.SpanStub{Attributes: e.Attributes}
			if attrOf(attrs, "akvcreds.throttle.pause") != "1" || attrOf(attrs, "akvcreds.throttle.retry_after") != "1" {
				t.Errorf("%s: event %s %v, want a pause of 1 s for a Retry-After of 1 s", s.Name, e.Name, e.Attributes)
			}
		}
	}
}

// akvcredsOnly keeps akvcreds' own spans.
func akvcredsOnly(spans tracetest.SpanStubs) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.InstrumentationScope.Name == "github.com/akvcreds/akvcreds" {
			out = append(out, s)
		}
	}
	return out
}

// The cache and Watch: a fetch that fills the cache, one served from it,
// FetchCredential from it, and two Watch cycles (the initial fetch, then a
// rotation and a deletion), each a span tree of its own, and metrics that
// count credentials by source, cache hits and misses, and the changes the
// handler accepted.
func TestOpenTelemetryCacheAndWatch(t *testing.T) {
	t.Parallel()
	rig := newOtelRig(t)
	s, clock, c := watchFixture(t, 2, akvcreds.WithCache(time.Hour), rig.option())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		if creds, err := c.FetchCredentials(ctx); err != nil || len(creds) != 2 {
			t.Fatalf("FetchCredentials: %d credentials, %v", len(creds), err)
		}
	}
	if _, err := c.FetchCredential(ctx, "watched/secret-000"); err != nil {
		t.Fatal(err)
	}
	trigger := make(chan time.Time, 1)
	err := c.Watch(ctx, time.Hour, func(b akvcreds.Batch) error {
		if b.Cycle == 0 {
			clock.Advance(2 * time.Second)
			s.SetSecret("watched", "secret-000", "rotated")
			s.DeleteSecret("watched", "secret-001")
			trigger <- time.Now()
			return nil
		}
		wantChanges(t, b, nil, []string{"watched/secret-000"}, []string{"watched/secret-001"})
		cancel()
		return nil
	}, akvcreds.WatchTrigger(trigger))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch: %v", err)
	}

	want := `akvcreds.FetchCredential
  akvcreds.vault watched
akvcreds.FetchCredentials
  akvcreds.vault watched
    akvcreds.list watched
akvcreds.FetchCredentials
  akvcreds.vault watched
    akvcreds.list watched
    akvcreds.read watched secret-000
    akvcreds.read watched secret-001
akvcreds.Watch cycle 0
  akvcreds.vault watched
    akvcreds.list watched
    akvcreds.read watched secret-000
    akvcreds.read watched secret-001
akvcreds.Watch cycle 1
  akvcreds.vault watched
    akvcreds.list watched
    akvcreds.read watched secret-000
`
	if got := spanTree(akvcredsOnly(rig.spans.GetSpans()), otelLabel); got != want {
		t.Errorf("span tree:\n%s\nwant:\n%s", got, want)
	}
	wantMetrics := map[string]float64{
		"akvcreds.credentials.fetched{akvcreds.source=keyvault}":                    5,
		"akvcreds.credentials.fetched{akvcreds.source=cache}":                       3,
		"akvcreds.cache.hits{}":                                                     3,
		"akvcreds.cache.misses{}":                                                   2,
		"akvcreds.watch.changes{akvcreds.change=added}":                             2,
		"akvcreds.watch.changes{akvcreds.change=changed}":                           1,
		"akvcreds.watch.changes{akvcreds.change=removed}":                           1,
		"akvcreds.request.duration{akvcreds.operation=get,akvcreds.vault=watched}":  5,
		"akvcreds.request.duration{akvcreds.operation=list,akvcreds.vault=watched}": 4,
	}
	if got := metricValues(t, rig.metrics(t)); !maps.Equal(got, wantMetrics) {
		t.Errorf("metrics:\n%s\nwant:\n%s", mapText(got), mapText(wantMetrics))
	}
}

// Either provider may be nil: spans without metrics, metrics without
// spans, or neither (nothing recorded, the fetch unchanged).
func TestOpenTelemetryProviders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		spans, meters bool
	}{
		{"spans and metrics", true, true},
		{"spans only", true, false},
		{"metrics only", false, true},
		{"neither", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rig := newOtelRig(t)
			var tp trace.TracerProvider
			var mp metric.MeterProvider
			if tt.spans {
				tp = rig.tp
			}
			if tt.meters {
				mp = rig.mp
			}
			_, c := primedClient(t, "tel-vault", akvcreds.WithOpenTelemetry(tp, mp))
			if _, err := c.FetchCredential(context.Background(), "tel-vault/a"); err != nil {
				t.Fatal(err)
			}
			if got := len(rig.spans.GetSpans()) > 0; got != tt.spans {
				t.Errorf("spans recorded: %v, want %v", got, tt.spans)
			}
			if got := len(metricValues(t, rig.metrics(t))) > 0; got != tt.meters {
				t.Errorf("metrics recorded: %v, want %v", got, tt.meters)
			}
		})
	}
}

// BenchmarkTelemetry compares fetches without WithOpenTelemetry
// ("none"), with it but no provider ("off": WithOpenTelemetry(nil, nil)),
// with OpenTelemetry's no-op providers ("noop") and with the SDK recording
// into memory ("sdk"): "off" must cost what "none" costs, in time and
// allocations. warm: a FetchCredentials of 4 vaults × 50 secrets served
// from the cache (B3's call); read: a FetchCredentials of 5 secrets read
// from the emulator (no cache), paced by the vault's limiter (389/s).
//
//	go test -run '^$' -bench Telemetry -benchtime 300x -count 5 .
func BenchmarkTelemetry(b *testing.B) {
	providers := []struct {
		name string
		opt  func(b *testing.B) []akvcreds.Option
	}{
		{"none", func(*testing.B) []akvcreds.Option { return nil }},
		{"off", func(*testing.B) []akvcreds.Option { return []akvcreds.Option{akvcreds.WithOpenTelemetry(nil, nil)} }},
		{"noop", func(*testing.B) []akvcreds.Option {
			return []akvcreds.Option{akvcreds.WithOpenTelemetry(tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())}
		}},
		{"sdk", func(b *testing.B) []akvcreds.Option {
			rig := newOtelRig(b)
			rig.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
			return []akvcreds.Option{rig.option()}
		}},
	}
	workloads := []struct {
		name            string
		vaults, secrets int
		opts            []akvcreds.Option
	}{
		{"warm", 4, 50, []akvcreds.Option{akvcreds.WithCache(time.Hour)}},
		{"read", 1, 5, nil},
	}
	for _, w := range workloads {
		for _, p := range providers {
			b.Run(w.name+"/"+p.name, func(b *testing.B) {
				srv := newServer(b)
				vaults, secrets := benchVaults(w.vaults), benchSecrets(w.secrets)
				seed(srv, vaults, secrets)
				opts := append([]akvcreds.Option{secretAuth(), akvcreds.WithVaults(vaults...), akvcreds.WithSecrets(secrets...)}, w.opts...)
				c := newClient(b, srv, append(opts, p.opt(b)...)...)
				ctx := context.Background()
				want := w.vaults * w.secrets
				if creds, err := c.FetchCredentials(ctx); err != nil || len(creds) != want {
					b.Fatalf("warming: %d credentials, err %v", len(creds), err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if creds, err := c.FetchCredentials(ctx); err != nil || len(creds) != want {
						b.Fatalf("%d credentials, err %v", len(creds), err)
					}
				}
			})
		}
	}
}
