package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/telemetry/telemetrytest"
)

// reportingStore is a memStore that reports its queue.
type reportingStore struct{ *memStore }

func (s reportingStore) QueueStats(_ context.Context, now time.Time) ([]KindStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byKind := map[string]*KindStats{}
	for _, j := range s.jobs {
		st := byKind[j.Kind]
		if st == nil {
			st = &KindStats{Kind: j.Kind}
			byKind[j.Kind] = st
		}
		since := time.Time{}
		switch {
		case j.state == "pending" && !j.RunAt.After(now):
			st.Due++
			since = j.RunAt
		case j.state == "pending":
			st.Scheduled++
		case j.state == "running" && j.until.Before(now):
			st.Due++
			since = j.until
		case j.state == "running":
			st.Running++
		}
		if !since.IsZero() && (st.OldestDue.IsZero() || since.Before(st.OldestDue)) {
			st.OldestDue = since
		}
	}
	var out []KindStats
	for _, st := range byKind {
		out = append(out, *st)
	}
	return out, nil
}

// The runner times every job by kind and outcome, and reports the queue of
// a QueueReporter store: every kind it handles (at zero without jobs) and
// the kinds the store names.
func TestRunnerMetrics(t *testing.T) {
	telemetrytest.Install()
	store := reportingStore{newMemStore()}
	store.add("metrics.ok.v1")
	failing := store.add("metrics.fail.v1")
	waiting := store.add("metrics.unhandled.v1")
	store.mu.Lock()
	store.jobs[waiting].RunAt = time.Now().Add(-time.Minute)
	store.mu.Unlock()
	durations := func(kind, outcome string) float64 {
		return telemetrytest.Value(t, "jobs_duration_seconds", "kind", kind, "outcome", outcome)
	}
	before := durations("metrics.ok.v1", outcomeDone)
	handlers := map[string]Handler{
		"metrics.ok.v1":   {Run: func(context.Context, *Job) error { return nil }},
		"metrics.fail.v1": {Run: func(context.Context, *Job) error { return Permanent(errors.New("refused")) }},
		"metrics.idle.v1": {Run: func(context.Context, *Job) error { return nil }},
	}
	stop := start(t, newRunner(store, handlers))
	waitFor(t, "both jobs finished", func() bool {
		return store.get(failing).state == "failed" && durations("metrics.fail.v1", outcomeFailed) == 1
	})
	waitFor(t, "the done job timed", func() bool { return durations("metrics.ok.v1", outcomeDone) == before+1 })

	depth := func(kind, state string) float64 {
		return telemetrytest.Value(t, "jobs_queue_depth", "kind", kind, "state", state)
	}
	if d := depth("metrics.unhandled.v1", queueDue); d != 1 {
		t.Errorf("due jobs of a kind the store names: %v, want 1", d)
	}
	age := telemetrytest.Value(t, "jobs_oldest_due_age_seconds", "kind", "metrics.unhandled.v1")
	if age < 59 || age > 120 {
		t.Errorf("oldest due job waited %vs, want about 60", age)
	}
	for _, state := range []string{queueDue, queueScheduled, queueRunning} {
		if n := len(pointsWith(t, "jobs_queue_depth", "kind", "metrics.idle.v1", "state", state)); n != 1 {
			t.Errorf("a handled kind without jobs has %d %s series, want one at zero", n, state)
		}
	}
	for _, p := range telemetrytest.Points(t, "jobs_duration_seconds") {
		if p.Has("kind", "metrics.ok.v1") && len(p.Bounds) != len(DurationBuckets) {
			t.Errorf("duration buckets %v, want %v", p.Bounds, DurationBuckets)
		}
	}
	stop()
	if n := len(pointsWith(t, "jobs_queue_depth", "kind", "metrics.idle.v1")); n != 0 {
		t.Errorf("the queue is still reported after Run returned: %d series", n)
	}
}

func pointsWith(t *testing.T, name string, attrs ...string) []telemetrytest.Point {
	var out []telemetrytest.Point
	for _, p := range telemetrytest.Points(t, name) {
		if p.Has(attrs...) {
			out = append(out, p)
		}
	}
	return out
}
