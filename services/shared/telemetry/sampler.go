package telemetry

import (
	"fmt"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// NewSampler decides which new traces are recorded: a share ratio of them
// (by trace id), and at most perSecond a second when perSecond > 0 (a
// token bucket of one second's worth), so that tracing costs a bounded
// amount under any load while a quiet system still records every trace at
// ratio 1. A span whose parent was sampled is always recorded, one whose
// parent was not never is (parent-based): a trace is whole or absent.
func NewSampler(ratio, perSecond float64) sdktrace.Sampler {
	root := sdktrace.TraceIDRatioBased(ratio)
	if perSecond > 0 {
		root = &capped{next: root, rate: perSecond, tokens: max(1, perSecond), now: time.Now}
	}
	return sdktrace.ParentBased(root)
}

// capped passes the decisions of next to record at most rate traces a
// second.
type capped struct {
	next sdktrace.Sampler
	rate float64
	now  func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func (c *capped) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	r := c.next.ShouldSample(p)
	if r.Decision != sdktrace.RecordAndSample || c.take() {
		return r
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
}

// take takes a token, refilled at rate a second up to one second's worth.
func (c *capped) take() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.last.IsZero() {
		c.tokens = min(max(1, c.rate), c.tokens+now.Sub(c.last).Seconds()*c.rate)
	}
	c.last = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *capped) Description() string {
	return fmt.Sprintf("AtMostPerSecond{%g,%s}", c.rate, c.next.Description())
}
