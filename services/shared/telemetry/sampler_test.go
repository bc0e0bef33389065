package telemetry

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestCappedSamplerRecordsAtMostItsRate(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &capped{next: sdktrace.AlwaysSample(), rate: 5, tokens: 5, now: func() time.Time { return now }}
	sampled := func(n int) int {
		k := 0
		for range n {
			tid := trace.TraceID{1}
			if c.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: tid}).Decision == sdktrace.RecordAndSample {
				k++
			}
		}
		return k
	}
	if got := sampled(100); got != 5 {
		t.Fatalf("a burst of 100 recorded %d traces, want the bucket's 5", got)
	}
	now = now.Add(time.Second)
	if got := sampled(100); got != 5 {
		t.Fatalf("a second later: %d, want 5", got)
	}
	now = now.Add(200 * time.Millisecond)
	if got := sampled(10); got != 1 {
		t.Fatalf("200 ms later: %d, want 1", got)
	}
}

func TestSamplerKeepsTheRatioUnderTheCap(t *testing.T) {
	s := NewSampler(0, 100)
	p := sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: trace.TraceID{0xff}}
	if d := s.ShouldSample(p).Decision; d != sdktrace.Drop {
		t.Fatalf("ratio 0 sampled a trace: %v", d)
	}
	s = NewSampler(1, 0)
	if d := s.ShouldSample(p).Decision; d != sdktrace.RecordAndSample {
		t.Fatalf("ratio 1 without a cap dropped a trace: %v", d)
	}
}
