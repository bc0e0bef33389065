package budget

import (
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// Outcomes of a charge (the outcome attribute of budget_charges_total).
const (
	chargeImmediate = "immediate" // tokens were left: no wait
	chargeWaited    = "waited"    // the bucket was in debt: the call waited
	chargeDeferred  = "deferred"  // the wait was too long: the call was answered 429 without going out, given back
	chargeUnpaced   = "unpaced"   // the store failed: the call went unpaced
)

// WaitBuckets are the bucket bounds, in seconds, of budget_wait_seconds.
var WaitBuckets = []float64{0, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120}

// instruments are the budget metrics, made on first use (after the
// process set its meter provider up).
var instruments = sync.OnceValue(func() (m struct {
	charges metric.Int64Counter
	waits   metric.Float64Histogram
	pauses  metric.Int64Counter
	paused  metric.Float64Counter
	lowered metric.Int64Counter
	slowed  metric.Int64Counter
}) {
	meter := otel.Meter("o365gateway/budget")
	m.charges, _ = meter.Int64Counter("budget_charges_total",
		metric.WithDescription("charges of the shared rate budgets, by bucket kind and outcome: immediate, waited, deferred (the wait was longer than the caller may wait: answered as throttled without calling Microsoft), unpaced (the store failed)"))
	m.waits, _ = meter.Float64Histogram("budget_wait_seconds",
		metric.WithDescription("how long a charged call waited for its rate budget, by bucket kind"),
		metric.WithExplicitBucketBoundaries(WaitBuckets...))
	m.pauses, _ = meter.Int64Counter("budget_pauses_total",
		metric.WithDescription("pauses of a rate budget because Microsoft answered with Retry-After (429, 503), by bucket kind"))
	m.paused, _ = meter.Float64Counter("budget_paused_seconds_total",
		metric.WithDescription("the Retry-After seconds the pauses of budget_pauses_total asked for, by bucket kind"))
	m.lowered, _ = meter.Int64Counter("budget_lowered_total",
		metric.WithDescription("times a rate budget was brought down to what Microsoft reported left of its own (x-ms-throttle-limit-percentage), by bucket kind"))
	m.slowed, _ = meter.Int64Counter("budget_slowed_total",
		metric.WithDescription("times a 429 lowered the rate of an adaptive rate budget (Partner Center's), by bucket kind"))
	return m
})

// BucketKind is what the metrics name a bucket by: the leading words of its
// key, before the ids that name the partner, the application or the
// customer tenant ("graph/writes/<application>/<tenant>" is "graph/writes",
// "partnercenter/<tenant>" is "partnercenter"). A word is lower-case letters
// and underscores; the last segment of a key is always an id. A key that
// starts with an id is "other", so that no id ever becomes a label.
func BucketKind(key string) string {
	segs := strings.Split(key, "/")
	n := 0
	for n < len(segs)-1 && n < maxKindWords && isWord(segs[n]) {
		n++
	}
	if n == 0 {
		return "other"
	}
	return strings.Join(segs[:n], "/")
}

// maxKindWords bounds the words of a bucket kind.
const maxKindWords = 3

func isWord(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}
