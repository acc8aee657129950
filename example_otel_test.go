package akvcreds_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/akvcreds/akvcreds"
)

// Record OpenTelemetry spans and metrics. Real code passes the providers
// its OpenTelemetry SDK set up with exporters; here the SDK keeps them in
// memory. The example prints the span tree of one FetchCredential (names,
// and the host and status of HTTP requests) — the call, its vault, the
// read, and beneath it the Azure SDK's operation and its HTTP requests:
// the OpenID discovery and token request of the first authentication, Key
// Vault's 401 challenge and the read — and the metrics recorded.
func ExampleWithOpenTelemetry() {
	srv := startEmulator()
	defer srv.Close()

	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())

	c, err := akvcreds.New(append(emulatorApp(srv), akvcreds.WithOpenTelemetry(tp, mp))...)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.FetchCredential(context.Background(), "contoso-prod/db-password"); err != nil {
		log.Fatal(err)
	}

	fmt.Print(spanLines(spans.GetSpans()))
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	var metrics []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			metrics = append(metrics, fmt.Sprintf("metric %s (%s)", m.Name, m.Unit))
		}
	}
	slices.Sort(metrics)
	fmt.Println(strings.Join(metrics, "\n"))
	// Output:
	// akvcreds.FetchCredential
	//   akvcreds.vault
	//     akvcreds.read
	//       Client.GetSecret
	//         HTTP GET contoso-prod.vault.azure.net 200
	//         HTTP GET contoso-prod.vault.azure.net 401
	//         HTTP GET login.microsoftonline.com 200
	//         HTTP GET login.microsoftonline.com 200
	//         HTTP POST login.microsoftonline.com 200
	// metric akvcreds.credentials.fetched ({credential})
	// metric akvcreds.request.duration (s)
}

// spanLines renders spans as a tree, children sorted: a span's name, and
// for an HTTP request its host and status code.
func spanLines(spans tracetest.SpanStubs) string {
	children := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		parent := ""
		if s.Parent.IsValid() {
			parent = s.Parent.SpanID().String()
		}
		children[parent] = append(children[parent], s)
	}
	var tree func(parent string, depth int) string
	tree = func(parent string, depth int) string {
		var lines []string
		for _, s := range children[parent] {
			line := strings.Repeat("  ", depth) + s.Name
			for _, a := range s.Attributes {
				if a.Key == "net.peer.name" || a.Key == "http.status_code" {
					line += " " + a.Value.String()
				}
			}
			lines = append(lines, line+"\n"+tree(s.SpanContext.SpanID().String(), depth+1))
		}
		slices.Sort(lines)
		return strings.Join(lines, "")
	}
	return tree("", 0)
}
