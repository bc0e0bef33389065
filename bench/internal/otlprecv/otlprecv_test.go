package otlprecv

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestReceiverCountsExportedSpans exports spans with the exporter the
// services use and checks they are counted.
func TestReceiverCountsExportedSpans(t *testing.T) {
	r, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(r.Addr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(10*time.Millisecond)))
	for range 3 {
		_, span := tp.Tracer("t").Start(ctx, "op")
		span.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.Spans(); got != 3 {
		t.Fatalf("spans = %d, want 3", got)
	}
	if r.Exports() == 0 {
		t.Fatal("no export call counted")
	}
}
