package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Handler carries out jobs of one kind.
type Handler struct {
	// Run does the work. It returns nil when done, Snooze to wait without
	// counting an attempt, Permanent for a final failure, any other error to
	// retry with backoff.
	Run func(ctx context.Context, job *Job) error
	// Failed records the final failure (after Permanent or the last attempt).
	Failed func(ctx context.Context, job *Job, err error) error
}

// Runner polls a Store and runs due jobs on a fixed number of workers.
type Runner struct {
	Store   Store
	Owner   string // worker identity prefix, stable across restarts of one replica
	Workers int
	Poll    time.Duration
	Lease   time.Duration
	Log     *slog.Logger
	// Backoff is the delay before attempt n+1; default exponential from 1s to 5m.
	Backoff func(attempt int) time.Duration
	Now     func() time.Time

	mu       sync.Mutex
	handlers map[string]Handler
	wake     chan struct{}
	owner    string
}

// Register installs the handler of a job kind.
func (r *Runner) Register(kind string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handlers == nil {
		r.handlers = map[string]Handler{}
	}
	r.handlers[kind] = h
}

// Notify wakes the workers (call after enqueuing).
func (r *Runner) Notify() {
	r.init()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) init() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) backoff(attempt int) time.Duration {
	if r.Backoff != nil {
		return r.Backoff(attempt)
	}
	d := time.Second << min(attempt, 9)
	d = min(d, 5*time.Minute)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Run works until ctx is cancelled, then waits for running jobs.
func (r *Runner) Run(ctx context.Context) error {
	r.init()
	if r.Workers < 1 || r.Poll <= 0 || r.Lease <= 0 || r.Store == nil || r.Log == nil {
		return errors.New("jobs: runner needs Store, Log, Workers, Poll and Lease")
	}
	n, err := r.Store.ReleaseOwnedBy(ctx, r.Owner+"/")
	if err != nil {
		return fmt.Errorf("jobs: release orphaned jobs: %w", err)
	}
	if n > 0 {
		r.Log.InfoContext(ctx, "resuming jobs held before restart", "jobs", n)
	}
	r.owner = fmt.Sprintf("%s/%d", r.Owner, time.Now().UnixNano())
	meter := otel.Meter("o365gateway/jobs")
	done, _ := meter.Int64Counter("jobs_finished_total", metric.WithDescription("jobs finished, by kind and outcome"))
	var wg sync.WaitGroup
	for i := 0; i < r.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx, done)
		}()
	}
	wg.Wait()
	return nil
}

func (r *Runner) work(ctx context.Context, done metric.Int64Counter) {
	for ctx.Err() == nil {
		now := r.now()
		job, err := r.Store.Claim(ctx, r.owner, now, now.Add(r.Lease))
		if errors.Is(err, ErrNoJob) {
			t := time.NewTimer(r.Poll)
			select {
			case <-ctx.Done():
			case <-r.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				r.Log.ErrorContext(ctx, "claim job", "error", err)
				time.Sleep(r.Poll)
			}
			continue
		}
		outcome := r.runOne(job)
		done.Add(context.Background(), 1, metric.WithAttributes(attribute.String("kind", job.Kind), attribute.String("outcome", outcome)))
	}
}

// runOne runs a claimed job to an outcome. It uses its own context so that a
// shutdown does not cut a Microsoft call in half; the lease keeper cancels it
// if the lease is lost.
func (r *Runner) runOne(job *Job) string {
	r.mu.Lock()
	h, ok := r.handlers[job.Kind]
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(job.TraceContext))
	ctx, span := otel.Tracer("o365gateway/jobs").Start(ctx, "job "+job.Kind, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.Int64("job.id", job.ID), attribute.Int("job.attempt", job.Attempt)))
	defer span.End()
	log := r.Log.With("job_id", job.ID, "job_kind", job.Kind, "job_key", job.Key, "attempt", job.Attempt)
	if !ok {
		log.ErrorContext(ctx, "no handler for job kind")
		_ = r.Store.Fail(ctx, job.ID, r.owner, "no handler for kind "+job.Kind)
		return "failed"
	}
	stop := r.keepLease(ctx, cancel, job, log)
	err := runSafely(ctx, h.Run, job)
	stop()
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	if ctx.Err() != nil && err != nil {
		log.WarnContext(ctx, "job lost its lease; another worker will run it", "error", err)
		return "lease_lost"
	}
	var snooze *snoozeError
	switch {
	case err == nil:
		if cerr := r.Store.Complete(ctx, job.ID, r.owner); cerr != nil {
			log.ErrorContext(ctx, "complete job", "error", cerr)
		}
		log.InfoContext(ctx, "job done")
		return "done"
	case errors.As(err, &snooze):
		log.InfoContext(ctx, "job snoozed", "after", snooze.after.String(), "reason", err.Error())
		_ = r.Store.Reschedule(ctx, job.ID, r.owner, r.now().Add(snooze.after), err.Error(), false)
		return "snoozed"
	case IsPermanent(err) || job.Attempt >= job.MaxAttempts:
		log.ErrorContext(ctx, "job failed", "error", err.Error())
		if h.Failed != nil {
			if ferr := h.Failed(ctx, job, err); ferr != nil {
				log.ErrorContext(ctx, "record job failure", "error", ferr)
				_ = r.Store.Reschedule(ctx, job.ID, r.owner, r.now().Add(r.backoff(1)), ferr.Error(), false)
				return "retry"
			}
		}
		_ = r.Store.Fail(ctx, job.ID, r.owner, err.Error())
		return "failed"
	default:
		delay := r.backoff(job.Attempt)
		log.WarnContext(ctx, "job attempt failed; will retry", "error", err.Error(), "retry_in", delay.String())
		_ = r.Store.Reschedule(ctx, job.ID, r.owner, r.now().Add(delay), err.Error(), true)
		return "retry"
	}
}

func runSafely(ctx context.Context, fn func(context.Context, *Job) error, job *Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job panicked: %v", p)
		}
	}()
	return fn(ctx, job)
}

func (r *Runner) keepLease(ctx context.Context, cancel context.CancelFunc, job *Job, log *slog.Logger) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := r.Store.ExtendLease(ctx, job.ID, r.owner, r.now().Add(r.Lease)); err != nil {
					log.Warn("extend lease", "error", err)
					if errors.Is(err, ErrLeaseLost) {
						cancel()
						return
					}
				}
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}
