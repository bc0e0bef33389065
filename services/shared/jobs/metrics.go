package jobs

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// DurationBuckets are the bucket bounds, in seconds, of jobs_duration_seconds:
// from a job that only writes to the database to one that polls Microsoft
// for minutes.
var DurationBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// statsTimeout bounds the queue query one scrape makes.
const statsTimeout = 5 * time.Second

// Queue states, the state attribute of jobs_queue_depth.
const (
	queueDue       = "due"
	queueScheduled = "scheduled"
	queueRunning   = "running"
)

// reportQueue registers the gauges that describe the queue when the Store
// is a QueueReporter: jobs_queue_depth{kind,state} and
// jobs_oldest_due_age_seconds{kind}. Every kind the runner handles is
// reported, at zero when it has no job, so that alerts see a series. The
// store is asked at each collection (a scrape); every replica reports the
// same shared queue. The returned function unregisters them (nil when
// nothing was registered).
func (r *Runner) reportQueue(meter metric.Meter) func() {
	store, ok := r.Store.(QueueReporter)
	if !ok {
		return nil
	}
	depth, err1 := meter.Int64ObservableGauge("jobs_queue_depth",
		metric.WithDescription("jobs in the queue by kind and state: due (waiting for a worker), scheduled (to run later), running"))
	age, err2 := meter.Float64ObservableGauge("jobs_oldest_due_age_seconds",
		metric.WithDescription("how long the longest-waiting due job of a kind has waited for a worker; 0 when none is due"))
	if err1 != nil || err2 != nil {
		return nil
	}
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, statsTimeout)
		defer cancel()
		now := r.now()
		stats, err := store.QueueStats(ctx, now)
		if err != nil {
			r.Log.WarnContext(ctx, "read the job queue's figures for the metrics", "error", err)
			return nil
		}
		byKind := map[string]KindStats{}
		for _, k := range r.registered() {
			byKind[k] = KindStats{Kind: k}
		}
		for _, st := range stats {
			byKind[st.Kind] = st
		}
		for kind, st := range byKind {
			k := attribute.String("kind", kind)
			o.ObserveInt64(depth, st.Due, metric.WithAttributes(k, attribute.String("state", queueDue)))
			o.ObserveInt64(depth, st.Scheduled, metric.WithAttributes(k, attribute.String("state", queueScheduled)))
			o.ObserveInt64(depth, st.Running, metric.WithAttributes(k, attribute.String("state", queueRunning)))
			waited := 0.0
			if !st.OldestDue.IsZero() && now.After(st.OldestDue) {
				waited = now.Sub(st.OldestDue).Seconds()
			}
			o.ObserveFloat64(age, waited, metric.WithAttributes(k))
		}
		return nil
	}, depth, age)
	if err != nil {
		return nil
	}
	return func() { _ = reg.Unregister() }
}
