package telemetry

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// AzureProvider bridges azcore's tracing abstraction to tp, so that the
// Azure SDK's spans — one per SDK operation (Client.GetSecret, a list
// page), one per HTTP request, token requests included — become
// OpenTelemetry spans, each under the span of the context it was started
// with: the SDK's spans of a read nest under its akvcreds.read span. Each
// SDK module gets a tracer named after it.
func AzureProvider(tp trace.TracerProvider) tracing.Provider {
	return tracing.NewProvider(func(module, version string) tracing.Tracer {
		tr := tp.Tracer(module, trace.WithInstrumentationVersion(version))
		start := func(ctx context.Context, name string, o *tracing.SpanOptions) (context.Context, tracing.Span) {
			var opts []trace.SpanStartOption
			if o != nil {
				opts = append(opts, trace.WithSpanKind(spanKind(o.Kind)), trace.WithAttributes(attributes(o.Attributes)...))
			}
			ctx, span := tr.Start(ctx, name, opts...)
			return ctx, azureSpan(span)
		}
		return tracing.NewTracer(start, &tracing.TracerOptions{
			SpanFromContext: func(ctx context.Context) tracing.Span { return azureSpan(trace.SpanFromContext(ctx)) },
		})
	}, nil)
}

// azureSpan is s as azcore's Span.
func azureSpan(s trace.Span) tracing.Span {
	return tracing.NewSpan(tracing.SpanImpl{
		End:           func() { s.End() },
		SetAttributes: func(a ...tracing.Attribute) { s.SetAttributes(attributes(a)...) },
		AddEvent: func(name string, a ...tracing.Attribute) {
			s.AddEvent(name, trace.WithAttributes(attributes(a)...))
		},
		SetStatus: func(st tracing.SpanStatus, desc string) { s.SetStatus(statusCode(st), desc) },
	})
}

func spanKind(k tracing.SpanKind) trace.SpanKind {
	switch k {
	case tracing.SpanKindServer:
		return trace.SpanKindServer
	case tracing.SpanKindClient:
		return trace.SpanKindClient
	case tracing.SpanKindProducer:
		return trace.SpanKindProducer
	case tracing.SpanKindConsumer:
		return trace.SpanKindConsumer
	}
	return trace.SpanKindInternal
}

func statusCode(s tracing.SpanStatus) codes.Code {
	switch s {
	case tracing.SpanStatusError:
		return codes.Error
	case tracing.SpanStatusOK:
		return codes.Ok
	}
	return codes.Unset
}

// attributes converts azcore's attributes: the types it documents (string,
// bool, int, int64, float64) as such, anything else as its %v text.
func attributes(in []tracing.Attribute) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(in))
	for _, a := range in {
		k := attribute.Key(a.Key)
		switch v := a.Value.(type) {
		case string:
			out = append(out, k.String(v))
		case bool:
			out = append(out, k.Bool(v))
		case int:
			out = append(out, k.Int(v))
		case int64:
			out = append(out, k.Int64(v))
		case float64:
			out = append(out, k.Float64(v))
		default:
			out = append(out, k.String(fmt.Sprint(v)))
		}
	}
	return out
}
