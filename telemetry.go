package akvcreds

// OpenTelemetry at the engine's few choke points (see WithOpenTelemetry):
// a call or Watch cycle (startCall, endCall), a scan's vaults
// (startVaults, endVaults), a listing (startList), a read (startRead,
// endRead) and a Key Vault operation (Client.call). Without a provider
// c.tel is nil, and each is one nil check.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/telemetry"
)

// startCall starts the span of a call or Watch cycle; nil without tracing.
func (c *Client) startCall(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !c.tel.Tracing() {
		return ctx, nil
	}
	return c.tel.Start(ctx, name, attrs...)
}

// endCall records what a call or Watch cycle returned — its counts, and
// its failures, each a *FetchError — and ends its span (nil: none).
func (c *Client) endCall(ctx context.Context, span trace.Span, sum *Batch, usedCache bool, errs []*FetchError) {
	if c.tel == nil {
		return
	}
	c.tel.Fetched(ctx, telemetry.Outcome{
		KeyVault: sum.Fetched - sum.FromCache - sum.Stale, Cache: sum.FromCache, Stale: sum.Stale,
		CacheMisses: sum.Reads, UsedCache: usedCache,
	})
	for _, fe := range errs {
		c.tel.Failed(ctx, fe.Vault, fe.Kind.label())
	}
	if span == nil {
		return
	}
	span.SetAttributes(telemetry.KeyVaults.Int(sum.Vaults), telemetry.KeyCredentials.Int(sum.Fetched),
		telemetry.KeyFromCache.Int(sum.FromCache), telemetry.KeyReads.Int(sum.Reads), telemetry.KeyFailures.Int(len(errs)))
	switch {
	case len(errs) == 1:
		telemetry.Fail(span, errs[0].Kind.label(), errs[0].Err.Error())
	case len(errs) > 1:
		telemetry.Fail(span, errs[0].Kind.label(), fmt.Sprintf("%d failures, the first: %s", len(errs), errs[0].Err.Error()))
	}
	span.End()
}

// fetchErrors picks the *FetchError values out of errs.
func fetchErrors(errs []error) []*FetchError {
	out := make([]*FetchError, 0, len(errs))
	for _, err := range errs {
		var fe *FetchError
		if errors.As(err, &fe) {
			out = append(out, fe)
		}
	}
	return out
}

// context returns the context a vault's spans start under: ctx with the
// vault's span, when tracing.
func (vs *vaultScan) context(ctx context.Context) context.Context {
	if vs.spanCtx != nil {
		return vs.spanCtx
	}
	return ctx
}

// startVaults starts a span per vault of the scan, under ctx's.
func (sc *scan) startVaults(ctx context.Context) {
	for _, vs := range sc.vaults {
		host := strings.TrimSuffix(strings.TrimPrefix(vs.ref.url, "https://"), "/")
		vs.spanCtx, vs.span = sc.c.tel.Start(ctx, telemetry.SpanVault,
			telemetry.KeyVault.String(vs.ref.name), telemetry.KeyServerAddress.String(host))
	}
}

// endVaults ends the vaults' spans, each when the last of its list and
// read spans ended, with its counts and, when some of it failed, status
// Error.
func (sc *scan) endVaults() {
	for _, vs := range sc.vaults {
		reads, creds, failed, first := vs.tally()
		vs.span.SetAttributes(telemetry.KeyReads.Int(reads), telemetry.KeyCredentials.Int(creds), telemetry.KeyFailures.Int(failed))
		if first != nil {
			telemetry.Fail(vs.span, first.kind.label(), fmt.Sprintf("%d failures, the first: %s", failed, first.Error()))
		}
		end := vs.lastEnd
		if end.IsZero() {
			end = time.Now()
		}
		vs.span.End(trace.WithTimestamp(end))
	}
}

// tally counts the vault's reads sent to Key Vault, credentials and
// failures, and returns the first failure.
func (vs *vaultScan) tally() (reads, creds, failed int, first *failure) {
	note := func(f *failure) {
		if first == nil {
			first = f
		}
		failed++
	}
	switch {
	case vs.connErr != nil:
		note(fail(kindInvalidArgument, vs.connErr.Error(), "", vs.connErr))
	case vs.listErr != nil:
		note(vs.listErr)
	}
	for _, r := range vs.reads {
		switch {
		case r.err != nil:
			note(r.err)
		case r.filtered:
		case r.fromCache || !r.done.IsZero():
			creds++
		}
		if !r.start.IsZero() && !r.fromCache {
			reads++
		}
	}
	return reads, creds, failed, first
}

// noteEnd records that one of the vault's spans ended now.
func (vs *vaultScan) noteEnd() {
	now := time.Now()
	vs.mu.Lock()
	if now.After(vs.lastEnd) {
		vs.lastEnd = now
	}
	vs.mu.Unlock()
}

// startList starts the span of a vault's listing; the returned function
// ends it.
func (sc *scan) startList(ctx context.Context, vs *vaultScan) (context.Context, func()) {
	ctx, span := sc.c.tel.Start(ctx, telemetry.SpanList, telemetry.KeyVault.String(vs.ref.name))
	return ctx, func() {
		span.SetAttributes(telemetry.KeyPages.Int(vs.pages), telemetry.KeyListed.Int(len(vs.seen)))
		if f := vs.listErr; f != nil {
			failSpan(span, f)
		}
		span.End()
		vs.noteEnd()
	}
}

// startRead starts the span of a secret read under its vault's span.
func (sc *scan) startRead(ctx context.Context, r *read) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{telemetry.KeyVault.String(r.vs.ref.name), telemetry.KeySecret.String(r.secret)}
	if r.version != "" {
		attrs = append(attrs, telemetry.KeyVersion.String(r.version))
	}
	return sc.c.tel.Start(r.vs.context(ctx), telemetry.SpanRead, attrs...)
}

// endRead ends a read's span with its outcome.
func endRead(r *read, span trace.Span) {
	span.SetAttributes(telemetry.KeyAttempts.Int(r.attempts))
	switch {
	case r.err != nil:
		failSpan(span, r.err)
	case r.filtered:
		span.SetAttributes(telemetry.KeyFiltered.Bool(true))
	case r.cred.Stale:
		span.SetAttributes(telemetry.KeyStale.Bool(true))
	}
	span.End()
	r.vs.noteEnd()
}

// failSpan marks span failed with f: its kind, and what Azure answered.
func failSpan(span trace.Span, f *failure) {
	var attrs []attribute.KeyValue
	var ae *azure.Error
	if errors.As(f, &ae) {
		if ae.Status != 0 {
			attrs = append(attrs, telemetry.KeyStatusCode.Int(ae.Status))
		}
		if ae.Code != "" {
			attrs = append(attrs, telemetry.KeyErrorCode.String(ae.Code))
		}
	}
	telemetry.Fail(span, f.kind.label(), f.Error(), attrs...)
}

// send runs fn under cctx, a context of ctx, and, with metrics, records
// its duration (the request duration metric) with its vault, op and
// outcome.
func (c *Client) send(ctx, cctx context.Context, vs *vaultScan, op string, fn func(context.Context) error) error {
	if !c.tel.Metrics() {
		return fn(cctx)
	}
	began := time.Now()
	err := fn(cctx)
	kind := ""
	if err != nil {
		kind = requestKind(ctx, azure.Classify(err, op))
	}
	c.tel.Request(ctx, vs.ref.name, op, time.Since(began), kind)
	return err
}

// requestKind is the kind label of a failed Key Vault operation.
func requestKind(ctx context.Context, ae *azure.Error) string {
	k, ok := kindOf[ae.Kind]
	if !ok || (k == kindCanceled && ctx.Err() == nil) {
		k = kindUnavailable // as explain has it
	}
	return k.label()
}
