package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestContextAttributesAndTraceID(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "info", "tenant")
	tid, _ := trace.TraceIDFromHex("0102030405060708090a0b0c0d0e0f10")
	sid, _ := trace.SpanIDFromHex("0102030405060708")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	ctx = With(ctx, slog.String("instance_id", "i-1"))
	ctx = With(ctx, slog.String("ms_correlation_id", "c-1"))
	log.DebugContext(ctx, "hidden")
	log.InfoContext(ctx, "hello")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if rec["trace_id"] != tid.String() || rec["instance_id"] != "i-1" || rec["ms_correlation_id"] != "c-1" || rec["service"] != "tenant" {
		t.Fatalf("%v", rec)
	}
}
