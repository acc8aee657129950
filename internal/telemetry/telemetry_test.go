package telemetry

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Without providers New returns nil, and every method of a nil *T does
// nothing, without allocating.
func TestNilRecordsNothing(t *testing.T) {
	tel, err := New(nil, nil)
	if tel != nil || err != nil {
		t.Fatalf("New(nil, nil) = %v, %v", tel, err)
	}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if tel.Tracing() || tel.Metrics() {
			t.Fatal("a nil *T records")
		}
		tel.Retry(ctx, 2)
		tel.Throttled(ctx, "v", time.Second, time.Second, 1, false)
		tel.Request(ctx, "v", "get", time.Second, "")
		tel.Fetched(ctx, Outcome{KeyVault: 1, UsedCache: true})
		tel.Failed(ctx, "v", "forbidden")
		tel.WatchChanges(ctx, 1, 1, 1)
		if c, span := tel.Start(ctx, SpanRead); c != ctx || span.SpanContext().IsValid() {
			t.Fatal("a nil *T started a span")
		}
		_ = tel.Azure()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
	if tel.Azure().NewTracer("m", "v").Enabled() {
		t.Error("the Azure provider of a nil *T traces")
	}
}

// The bridge turns azcore's spans into OpenTelemetry spans: kind, status,
// attributes of every type azcore documents (others as text), events, and
// SpanFromContext finding the span a context holds.
func TestAzureProvider(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	tr := AzureProvider(tp).NewTracer("github.com/Azure/azure-sdk-for-go/sdk/x", "v1.2.3")
	ctx, span := tr.Start(context.Background(), "HTTP GET", &tracing.SpanOptions{Kind: tracing.SpanKindClient,
		Attributes: []tracing.Attribute{{Key: "s", Value: "x"}, {Key: "i", Value: 3}, {Key: "i64", Value: int64(4)},
			{Key: "f", Value: 1.5}, {Key: "b", Value: true}, {Key: "d", Value: time.Second}}})
	tr.SpanFromContext(ctx).AddEvent("e", tracing.Attribute{Key: "k", Value: "v"})
	span.SetAttributes(tracing.Attribute{Key: "late", Value: 7})
	span.SetStatus(tracing.SpanStatusError, "404 Not Found")
	span.End()
	_, plain := tr.Start(context.Background(), "Client.GetSecret", nil)
	plain.End()

	got := spans.GetSpans()
	if len(got) != 2 {
		t.Fatalf("%d spans, want 2", len(got))
	}
	s := got[0]
	want := map[attribute.Key]attribute.Value{
		"s": attribute.StringValue("x"), "i": attribute.IntValue(3), "i64": attribute.Int64Value(4),
		"f": attribute.Float64Value(1.5), "b": attribute.BoolValue(true), "d": attribute.StringValue("1s"), "late": attribute.IntValue(7),
	}
	for _, a := range s.Attributes {
		if w, ok := want[a.Key]; !ok || w != a.Value {
			t.Errorf("attribute %s = %v, want %v", a.Key, a.Value.String(), w.String())
		}
		delete(want, a.Key)
	}
	for k := range want {
		t.Errorf("attribute %s missing", k)
	}
	switch {
	case s.Name != "HTTP GET", s.SpanKind != trace.SpanKindClient:
		t.Errorf("span %s kind %v", s.Name, s.SpanKind)
	case s.Status.Code != codes.Error || s.Status.Description != "404 Not Found":
		t.Errorf("status %v", s.Status)
	case len(s.Events) != 1 || s.Events[0].Name != "e":
		t.Errorf("events %v", s.Events)
	case s.InstrumentationScope.Name != "github.com/Azure/azure-sdk-for-go/sdk/x" || s.InstrumentationScope.Version != "v1.2.3":
		t.Errorf("scope %v", s.InstrumentationScope)
	case got[1].SpanKind != trace.SpanKindInternal:
		t.Errorf("a span without options has kind %v", got[1].SpanKind)
	}
}

// Events go to the akvcreds span that owns the context's requests, even
// when another span (the SDK's) is current; metrics carry their
// attributes.
func TestEventsAndMetrics(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	tel, err := New(tp, sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, read := tel.Start(context.Background(), SpanRead, KeySecret.String("s"))
	sdkCtx, sdkSpan := tp.Tracer("sdk").Start(ctx, "Client.GetSecret")
	tel.Throttled(sdkCtx, "v", time.Second, 2*time.Second, 1, false)
	tel.Retry(sdkCtx, 2)
	tel.Throttled(sdkCtx, "v", 0, time.Second, 2, true)
	sdkSpan.End()
	read.End()

	for _, s := range spans.GetSpans() {
		var names []string
		for _, e := range s.Events {
			names = append(names, e.Name)
		}
		switch {
		case s.Name == SpanRead && len(names) != 3:
			t.Errorf("read span events %v, want throttled, retry, throttled", names)
		case s.Name != SpanRead && len(names) != 0:
			t.Errorf("%s has events %v", s.Name, names)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			values[m.Name] = float64(d.DataPoints[0].Value)
		case metricdata.Sum[float64]:
			values[m.Name] = d.DataPoints[0].Value
		}
	}
	if values[MetricThrottled] != 2 || values[MetricThrottleWait] != 2 {
		t.Errorf("metrics %v: want 2 throttled and a wait of 2 s (the pause of the request that gave up is not waited)", values)
	}
}
