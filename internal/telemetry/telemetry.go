// Package telemetry is akvcreds' OpenTelemetry instrumentation: the span
// and metric names, the instruments, and the bridge that hands the Azure
// SDK's own spans (azcore's tracing abstraction) to the same
// TracerProvider. It records nothing unless the caller gave a provider:
// the engine holds a nil *T then, and every method of a nil *T returns at
// once without allocating.
//
// What may be recorded: vault and secret names, versions, counts, kinds,
// Azure's status and error codes, durations. Never a secret value, a token
// or a client secret: nothing here is given one.
package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of akvcreds' own spans and metrics.
// The Azure SDK's spans carry the SDK module's name as their scope.
const Scope = "github.com/akvcreds/akvcreds"

// Span names. Every akvcreds span has kind internal.
const (
	SpanFetchCredentials = "akvcreds.FetchCredentials" // one per FetchCredentials call
	SpanFetchCredential  = "akvcreds.FetchCredential"  // one per FetchCredential call
	SpanWatchCycle       = "akvcreds.Watch cycle"      // one per Watch cycle
	SpanVault            = "akvcreds.vault"            // one per vault of a call or cycle
	SpanList             = "akvcreds.list"             // a vault's listing (all its pages)
	SpanRead             = "akvcreds.read"             // one secret read from Key Vault
)

// Event names, on the akvcreds.read or akvcreds.list span of the request.
const (
	// EventThrottled: Key Vault answered 429; the vault's requests pause.
	EventThrottled = "akvcreds.throttled"
	// EventRetry: a request is sent again (after a transient failure or a
	// throttling pause).
	EventRetry = "akvcreds.retry"
	// EventCertificateExpiring: a certificate credential's leaf expires
	// within the window of WithCertificateExpiry.
	EventCertificateExpiring = "akvcreds.certificate.expiring"
)

// Attribute keys.
const (
	KeyVault         = attribute.Key("akvcreds.vault")            // vault name
	KeySecret        = attribute.Key("akvcreds.secret")           // secret name
	KeyVersion       = attribute.Key("akvcreds.secret.version")   // a pinned version
	KeyServerAddress = attribute.Key("server.address")            // the vault's host (semantic conventions)
	KeyErrorKind     = attribute.Key("akvcreds.error.kind")       // the failure's Kind label
	KeyErrorType     = attribute.Key("error.type")                // the same label (semantic conventions)
	KeyErrorCode     = attribute.Key("akvcreds.error.code")       // Azure's error code, e.g. "Forbidden"
	KeyStatusCode    = attribute.Key("http.response.status_code") // Azure's HTTP status, when it answered
	KeyAttempts      = attribute.Key("akvcreds.attempts")         // requests sent with a token
	KeyAttempt       = attribute.Key("akvcreds.attempt")          // the try an event is about (1, 2, ...)
	KeyPause         = attribute.Key("akvcreds.throttle.pause")   // seconds the vault pauses
	KeyRetryAfter    = attribute.Key("akvcreds.throttle.retry_after")
	KeyGiveUp        = attribute.Key("akvcreds.throttle.give_up") // the request gives up (budget spent)
	KeyStale         = attribute.Key("akvcreds.stale")            // served stale from the cache
	KeyFiltered      = attribute.Key("akvcreds.filtered")         // read, then left out by a filter
	KeyPages         = attribute.Key("akvcreds.list.pages")
	KeyListed        = attribute.Key("akvcreds.list.secrets")
	KeyVaults        = attribute.Key("akvcreds.vaults")
	KeyReads         = attribute.Key("akvcreds.reads")
	KeyCredentials   = attribute.Key("akvcreds.credentials")
	KeyFromCache     = attribute.Key("akvcreds.from_cache")
	KeyFailures      = attribute.Key("akvcreds.failures")
	KeyCycle         = attribute.Key("akvcreds.watch.cycle")
	KeyAdded         = attribute.Key("akvcreds.watch.added")
	KeyChanged       = attribute.Key("akvcreds.watch.changed")
	KeyRemoved       = attribute.Key("akvcreds.watch.removed")
	KeySource        = attribute.Key("akvcreds.source")    // metric: keyvault, cache, stale
	KeyOperation     = attribute.Key("akvcreds.operation") // metric: get, list
	KeyChange        = attribute.Key("akvcreds.change")    // metric: added, changed, removed

	KeyCertNotAfter   = attribute.Key("akvcreds.certificate.not_after")  // a leaf's expiry, RFC 3339
	KeyCertThumbprint = attribute.Key("akvcreds.certificate.thumbprint") // a leaf's SHA-1 thumbprint
)

// Metric names.
const (
	MetricFetched         = "akvcreds.credentials.fetched"
	MetricFailures        = "akvcreds.failures"
	MetricThrottled       = "akvcreds.throttled"
	MetricThrottleWait    = "akvcreds.throttle.wait"
	MetricRequestDuration = "akvcreds.request.duration"
	MetricCacheHits       = "akvcreds.cache.hits"
	MetricCacheMisses     = "akvcreds.cache.misses"
	MetricWatchChanges    = "akvcreds.watch.changes"
)

// T records spans and metrics; nil records nothing.
type T struct {
	tracer trace.Tracer     // nil: no spans
	azure  tracing.Provider // the SDK's spans, to the same TracerProvider
	m      *instruments     // nil: no metrics
}

// New returns the instrumentation for the providers, either of which may
// be nil; nil when both are.
func New(tp trace.TracerProvider, mp metric.MeterProvider) (*T, error) {
	if tp == nil && mp == nil {
		return nil, nil
	}
	t := &T{}
	if tp != nil {
		t.tracer = tp.Tracer(Scope)
		t.azure = AzureProvider(tp)
	}
	if mp != nil {
		m, err := newInstruments(mp.Meter(Scope))
		if err != nil {
			return nil, err
		}
		t.m = m
	}
	return t, nil
}

// Tracing reports whether spans are recorded.
func (t *T) Tracing() bool { return t != nil && t.tracer != nil }

// Metrics reports whether metrics are recorded.
func (t *T) Metrics() bool { return t != nil && t.m != nil }

// Azure returns the provider to give the Azure SDK's clients (the zero
// Provider, which records nothing, without tracing).
func (t *T) Azure() tracing.Provider {
	if !t.Tracing() {
		return tracing.Provider{}
	}
	return t.azure
}

// opKey is the context key of the akvcreds span that owns the requests
// made under the context, which gets the throttling and retry events.
type opKey struct{}

// Start starts an internal span under ctx's span. Without tracing it
// returns ctx and a span that records nothing.
func (t *T) Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !t.Tracing() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	return context.WithValue(ctx, opKey{}, span), span
}

// event adds an event to the akvcreds span that owns ctx's requests.
func event(ctx context.Context, name string, attrs ...attribute.KeyValue) {
	if span, ok := ctx.Value(opKey{}).(trace.Span); ok {
		span.AddEvent(name, trace.WithAttributes(attrs...))
	}
}

// Fail marks span failed: status Error with desc, and the kind's label.
func Fail(span trace.Span, kind, desc string, attrs ...attribute.KeyValue) {
	span.SetAttributes(KeyErrorKind.String(kind), KeyErrorType.String(kind))
	span.SetAttributes(attrs...)
	span.SetStatus(codes.Error, desc)
}

// Retry records that the attempt-th request of a call (2, 3, ...) is
// being sent: an event on the owning span.
func (t *T) Retry(ctx context.Context, attempt int) {
	if t.Tracing() {
		event(ctx, EventRetry, KeyAttempt.Int(attempt))
	}
}

// Throttled records a 429 from vault on the attempt-th try: the Retry-After
// Azure sent (0: none), the pause the vault's pacer imposed, and whether
// the request gives up.
func (t *T) Throttled(ctx context.Context, vault string, retryAfter, pause time.Duration, attempt int, giveUp bool) {
	if t == nil {
		return
	}
	if t.Tracing() {
		event(ctx, EventThrottled, KeyAttempt.Int(attempt), KeyPause.Float64(pause.Seconds()),
			KeyRetryAfter.Float64(retryAfter.Seconds()), KeyGiveUp.Bool(giveUp))
	}
	if t.m == nil {
		return
	}
	va := metric.WithAttributes(KeyVault.String(vault))
	t.m.throttled.Add(ctx, 1, va)
	if !giveUp {
		t.m.wait.Add(ctx, pause.Seconds(), va)
	}
}

// Request records one Key Vault operation (op "get" or "list" page) of
// vault that took d, retries and pauses included; kind is the failure's
// label, "" for success.
func (t *T) Request(ctx context.Context, vault, op string, d time.Duration, kind string) {
	if !t.Metrics() {
		return
	}
	attrs := []attribute.KeyValue{KeyVault.String(vault), KeyOperation.String(op)}
	if kind != "" {
		attrs = append(attrs, KeyErrorKind.String(kind))
	}
	t.m.duration.Record(ctx, d.Seconds(), metric.WithAttributes(attrs...))
}

// Outcome is what one call or Watch cycle returned.
type Outcome struct {
	KeyVault, Cache, Stale int // credentials by source
	CacheMisses            int // reads sent to Key Vault for want of a fresh cache entry
	UsedCache              bool
}

// Fetched records a call's or cycle's credentials and cache lookups.
func (t *T) Fetched(ctx context.Context, o Outcome) {
	if !t.Metrics() {
		return
	}
	for i, n := range [...]int{o.KeyVault, o.Cache, o.Stale} {
		if n > 0 {
			t.m.fetched.Add(ctx, int64(n), t.m.sources[i])
		}
	}
	if o.UsedCache {
		t.m.hits.Add(ctx, int64(o.Cache))
		t.m.misses.Add(ctx, int64(o.CacheMisses))
	}
}

// Failed records one failure reported to the caller.
func (t *T) Failed(ctx context.Context, vault, kind string) {
	if t.Metrics() {
		t.m.failures.Add(ctx, 1, metric.WithAttributes(KeyVault.String(vault), KeyErrorKind.String(kind)))
	}
}

// WatchChanges records the changes of a batch the Watch handler accepted.
func (t *T) WatchChanges(ctx context.Context, added, changed, removed int) {
	if !t.Metrics() {
		return
	}
	for i, n := range [...]int{added, changed, removed} {
		if n > 0 {
			t.m.changes.Add(ctx, int64(n), t.m.changeKinds[i])
		}
	}
}

// instruments are akvcreds' metric instruments.
type instruments struct {
	fetched, failures, throttled, hits, misses, changes metric.Int64Counter
	wait                                                metric.Float64Counter
	duration                                            metric.Float64Histogram
	sources, changeKinds                                [3]metric.AddOption
}

// durationBuckets are the request duration histogram's boundaries (s): the
// semantic conventions' HTTP buckets, extended to a minute, the throttle
// budget and per-try timeout.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60}

func newInstruments(m metric.Meter) (*instruments, error) {
	var errs [8]error
	in := &instruments{}
	in.fetched, errs[0] = m.Int64Counter(MetricFetched, metric.WithUnit("{credential}"),
		metric.WithDescription("Credentials returned, by source: keyvault (read now), cache (WithCache), stale (WithCache, Key Vault unreachable)."))
	in.failures, errs[1] = m.Int64Counter(MetricFailures, metric.WithUnit("{failure}"),
		metric.WithDescription("Failures reported to the caller (one per *FetchError), by vault and kind."))
	in.throttled, errs[2] = m.Int64Counter(MetricThrottled, metric.WithUnit("{response}"),
		metric.WithDescription("429 (throttled) answers from Key Vault, by vault."))
	in.wait, errs[3] = m.Float64Counter(MetricThrottleWait, metric.WithUnit("s"),
		metric.WithDescription("Pauses imposed on throttled requests before they were sent again (Retry-After or backoff), by vault."))
	in.duration, errs[4] = m.Float64Histogram(MetricRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of Key Vault operations (a secret read or a list page), pacing, retries and throttling pauses included."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	in.hits, errs[5] = m.Int64Counter(MetricCacheHits, metric.WithUnit("{lookup}"),
		metric.WithDescription("Credentials served from the cache (WithCache) without a request."))
	in.misses, errs[6] = m.Int64Counter(MetricCacheMisses, metric.WithUnit("{lookup}"),
		metric.WithDescription("Secrets read from Key Vault because the cache (WithCache) held no fresh value."))
	in.changes, errs[7] = m.Int64Counter(MetricWatchChanges, metric.WithUnit("{change}"),
		metric.WithDescription("Changes in batches the Watch handler accepted, by change: added, changed, removed."))
	for i, s := range [...]string{"keyvault", "cache", "stale"} {
		in.sources[i] = metric.WithAttributeSet(attribute.NewSet(KeySource.String(s)))
	}
	for i, s := range [...]string{"added", "changed", "removed"} {
		in.changeKinds[i] = metric.WithAttributeSet(attribute.NewSet(KeyChange.String(s)))
	}
	return in, errors.Join(errs[:]...)
}
