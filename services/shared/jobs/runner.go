package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/o365gateway/gateway/services/shared/apsmd"
)

// Handler carries out jobs of one kind.
//
// Both functions get a context that carries the job's claim (WithFence):
// business writes made with it are refused with ErrLeaseLost once the claim
// is lost, and it is cancelled when the runner finds the lease lost or when a
// shutdown's drain period ends.
type Handler struct {
	// Run does the work. It returns nil when done, Snooze to wait without
	// counting an attempt, Permanent for a final failure, any other error to
	// retry with backoff.
	Run func(ctx context.Context, job *Job) error
	// Failed records the final failure: after Permanent, after the last
	// attempt, or with an error wrapping ErrGaveUp when the job was claimed
	// more than MaxAttempts times without an outcome (Run is not called
	// again then). An error is retried with backoff FailedRetries times, then
	// the job is failed anyway.
	Failed func(ctx context.Context, job *Job, err error) error
}

// Defaults and limits of a Runner.
const (
	// DefaultDrain is how long running jobs may finish after a shutdown.
	DefaultDrain = 20 * time.Second
	// DefaultRetention is how long finished jobs are kept.
	DefaultRetention = 7 * 24 * time.Hour
	// PruneEvery is how often the runner deletes finished jobs past retention.
	PruneEvery = time.Hour
	// FailedRetries is how many times a Handler.Failed that returns an error
	// is called again before the job is failed anyway.
	FailedRetries = 5

	// storeTimeout bounds one bookkeeping call on the store.
	storeTimeout = 15 * time.Second
	// maxAbandonGrace is how long, after the drain, a handler that ignores
	// its cancelled context is waited for before its job is handed back.
	maxAbandonGrace = 5 * time.Second
)

// Outcomes of a claimed job (the outcome attribute of jobs_finished_total).
const (
	outcomeDone       = "done"
	outcomeRetry      = "retry"
	outcomeSnoozed    = "snoozed"
	outcomeFailed     = "failed"
	outcomeGaveUp     = "gave_up"
	outcomeLeaseLost  = "lease_lost"
	outcomeHandedBack = "handed_back"
)

// Pruner deletes what is older than a cut-off and says how much it
// deleted; Store.Prune is one (Runner.AlsoPrune).
type Pruner interface {
	Prune(ctx context.Context, before time.Time) (int, error)
}

// Waker is a source of wake-ups from outside the process, e.g. PostgreSQL
// notifications sent when another replica enqueues a job.
type Waker interface {
	// Listen calls notify whenever a job may have become due, until ctx
	// ends (it returns nil then) or the source fails (an error: the runner
	// calls Listen again after a pause). A source that has nothing to
	// listen to returns nil at once. Notifications sent while nobody
	// listens are lost, so Listen calls notify once when it starts.
	Listen(ctx context.Context, notify func()) error
}

// Runner polls a Store and runs due jobs on a fixed number of workers.
type Runner struct {
	Store Store
	// Waker wakes the workers when a job is enqueued elsewhere (another
	// replica), so that it starts at once rather than at the next poll.
	// Nil uses the Store when it implements Waker; without one the
	// workers poll every Poll (and wake on Notify).
	Waker Waker
	// Owner is the prefix of the workers' identity (service and host); Run
	// appends the process id and a random suffix, so two processes never
	// share an identity.
	Owner   string
	Workers int
	Poll    time.Duration
	Lease   time.Duration
	// Drain is how long running jobs may still finish once Run's context is
	// cancelled; the rest are cancelled and handed back. 0 means DefaultDrain.
	Drain time.Duration
	// Retention is how long done and failed jobs are kept; 0 means
	// DefaultRetention.
	Retention time.Duration
	Log       *slog.Logger
	// AlsoPrune are other tables the prune loop keeps from growing, by the
	// name its log gives them (e.g. the rate budgets): each is pruned with
	// the finished jobs' cut-off (now minus Retention) and may keep more.
	AlsoPrune map[string]Pruner
	// Backoff is the delay before attempt n+1; default exponential from 1s to 5m.
	Backoff func(attempt int) time.Duration
	Now     func() time.Time

	mu       sync.Mutex
	handlers map[string]Handler
	kinds    []string
	wake     chan struct{}
	// polled is when a worker last reached the queue (unix nanoseconds).
	polled atomic.Int64
}

// Healthy tells whether the workers reach the queue: a worker asked it for
// a job, or extended the lease of the job it runs, within the last three
// poll intervals or one lease, whichever is longer (plus 10 s).
// A runner that is not running, or whose claims keep failing (the database
// is gone), is not healthy. Readiness probes report it.
func (r *Runner) Healthy() error {
	last := r.polled.Load()
	if last == 0 {
		return errors.New("jobs: the runner has not reached the queue yet")
	}
	if since := time.Since(time.Unix(0, last)); since > max(3*r.Poll, r.Lease)+10*time.Second {
		return fmt.Errorf("jobs: no worker reached the queue for %s", since.Round(time.Second))
	}
	return nil
}

// Register installs the handler of a job kind.
func (r *Runner) Register(kind string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handlers == nil {
		r.handlers = map[string]Handler{}
	}
	r.handlers[kind] = h
	kinds := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	r.kinds = kinds
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

func (r *Runner) registered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kinds
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
	d := time.Second << min(max(attempt, 0), 9)
	d = min(d, 5*time.Minute)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// identity is the worker identity of one Run: the Owner prefix, the process
// id and a random suffix (a restarted container often gets the same pid).
func (r *Runner) identity() string {
	prefix := r.Owner
	if prefix == "" {
		prefix, _ = os.Hostname()
	}
	return fmt.Sprintf("%s/%d-%06x", prefix, os.Getpid(), rand.Uint32()&0xffffff)
}

// session is the state of one Run.
type session struct {
	owner string
	// jobs is the parent of the job contexts: cancelled when the drain ends.
	jobs context.Context
	// abandon is closed when handlers that ignore their cancelled context
	// are no longer waited for.
	abandon  chan struct{}
	done     metric.Int64Counter
	duration metric.Float64Histogram
}

// Run works until ctx is cancelled. Then the workers stop claiming, running
// jobs get Drain to finish, and the jobs still running after it are
// cancelled and handed back (Release) for another replica to resume. Run
// returns once every worker is done.
func (r *Runner) Run(ctx context.Context) error {
	r.init()
	if r.Workers < 1 || r.Poll <= 0 || r.Lease <= 0 || r.Store == nil || r.Log == nil {
		return errors.New("jobs: runner needs Store, Log, Workers, Poll and Lease")
	}
	drain := r.Drain
	if drain <= 0 {
		drain = DefaultDrain
	}
	jobsCtx, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	s := &session{owner: r.identity(), jobs: jobsCtx, abandon: make(chan struct{})}
	meter := otel.Meter("o365gateway/jobs")
	s.done, _ = meter.Int64Counter("jobs_finished_total",
		metric.WithDescription("jobs finished, by kind and outcome"))
	s.duration, _ = meter.Float64Histogram("jobs_duration_seconds",
		metric.WithDescription("time from the claim of a job to its outcome, by kind and outcome"),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	if unregister := r.reportQueue(meter); unregister != nil {
		defer unregister()
	}
	kinds := r.registered()
	r.Log.InfoContext(ctx, "job runner starting", "owner", s.owner, "workers", r.Workers, "kinds", kinds, "drain", drain.String())
	if len(kinds) == 0 {
		r.Log.WarnContext(ctx, "job runner has no handlers: it claims nothing")
	}

	var background sync.WaitGroup
	background.Add(1)
	go func() {
		defer background.Done()
		r.pruneLoop(ctx)
	}()
	if w := r.waker(); w != nil {
		background.Add(1)
		go func() {
			defer background.Done()
			r.listen(ctx, w)
		}()
	}
	var workers sync.WaitGroup
	for range r.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			r.work(ctx, s)
		}()
	}
	stopped := make(chan struct{})
	go func() {
		workers.Wait()
		close(stopped)
	}()

	<-ctx.Done()
	r.Log.Info("job runner stopping: no new claims; running jobs may finish", "drain", drain.String())
	t := time.NewTimer(drain)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		r.Log.Warn("job drain period over: cancelling running jobs and handing them back", "drain", drain.String())
		stopJobs()
		grace := time.NewTimer(min(drain, maxAbandonGrace))
		defer grace.Stop()
		select {
		case <-stopped:
		case <-grace.C:
			close(s.abandon)
			<-stopped
		}
	}
	background.Wait()
	r.Log.Info("job runner stopped", "owner", s.owner)
	return nil
}

func (r *Runner) waker() Waker {
	if r.Waker != nil {
		return r.Waker
	}
	w, _ := r.Store.(Waker)
	return w
}

// Bounds of the pause before listening again after the wake-up source failed.
const (
	minListenRetry = time.Second
	maxListenRetry = time.Minute
)

// listen runs the wake-up source until ctx ends, listening again with
// backoff when it fails; meanwhile the workers poll.
func (r *Runner) listen(ctx context.Context, w Waker) {
	delay := minListenRetry
	for {
		start := time.Now()
		err := w.Listen(ctx, r.Notify)
		if ctx.Err() != nil || err == nil {
			return
		}
		if time.Since(start) > maxListenRetry {
			delay = minListenRetry
		}
		r.Log.WarnContext(ctx, "job wake-ups lost; workers poll until they are back", "error", err.Error(), "retry_in", delay.String())
		if !sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, maxListenRetry)
	}
}

func (r *Runner) work(ctx context.Context, s *session) {
	for ctx.Err() == nil {
		now := r.now()
		var job *Job
		err := ErrNoJob
		if kinds := r.registered(); len(kinds) > 0 {
			// Not cancelled by a shutdown: a claim that commits is run (or
			// handed back), never left for the lease to expire.
			sctx, cancel := storeContext(ctx)
			job, err = r.Store.Claim(sctx, s.owner, kinds, now, now.Add(r.Lease))
			cancel()
		}
		if err == nil || errors.Is(err, ErrNoJob) {
			r.polled.Store(time.Now().UnixNano())
		}
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
				sleep(ctx, r.Poll)
			}
			continue
		}
		start := time.Now()
		outcome := r.runOne(s, job)
		attrs := metric.WithAttributes(attribute.String("kind", job.Kind), attribute.String("outcome", outcome))
		s.done.Add(context.Background(), 1, attrs)
		s.duration.Record(context.Background(), time.Since(start).Seconds(), attrs)
	}
}

// runOne runs a claimed job to an outcome. The job's context does not derive
// from Run's, so that a shutdown does not cut a Microsoft call in half; it is
// cancelled when the lease is lost or when the drain period ends.
func (r *Runner) runOne(s *session, job *Job) string {
	r.mu.Lock()
	h, ok := r.handlers[job.Kind]
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(s.jobs)
	defer cancel()
	ctx = Propagator().Extract(ctx, propagation.MapCarrier(job.TraceContext))
	ctx, span := otel.Tracer("o365gateway/jobs").Start(ctx, "job "+job.Kind, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.Int64("job.id", job.ID), attribute.Int("job.attempt", job.Attempt),
			attribute.Int64("job.fence", job.Fence)))
	defer span.End()
	log := r.Log.With("job_id", job.ID, "job_kind", job.Kind, "job_key", job.Key, "attempt", job.Attempt, "fence", job.Fence)
	if !ok {
		// The store returned a kind this runner did not ask for: leave it
		// to a replica that knows it.
		log.WarnContext(ctx, "claimed a job of a kind without handler; handing it back")
		r.release(ctx, job, log)
		return outcomeHandedBack
	}
	ctx = WithFence(ctx, job)
	log.DebugContext(ctx, "job started")
	var lost atomic.Bool
	stopLease := r.keepLease(ctx, job, log, func() { lost.Store(true); cancel() })
	defer stopLease()
	res := make(chan string, 1)
	go func() { res <- r.process(ctx, s, job, h, log, stopLease, &lost) }()
	select {
	case outcome := <-res:
		return outcome
	case <-s.abandon:
		select {
		case outcome := <-res:
			return outcome
		default:
		}
		// The handler ignores its cancelled context. Hand the job back now:
		// the fence refuses whatever the handler still writes.
		stopLease()
		log.ErrorContext(ctx, "job handler did not stop after cancellation; handing the job back")
		r.release(ctx, job, log)
		return outcomeHandedBack
	}
}

// process runs the handler and records the outcome. stopLease is called
// before every bookkeeping call.
func (r *Runner) process(ctx context.Context, s *session, job *Job, h Handler, log *slog.Logger, stopLease func(), lost *atomic.Bool) string {
	span := trace.SpanFromContext(ctx)
	if job.MaxAttempts > 0 && job.Attempt > job.MaxAttempts {
		// Claimed once more than allowed: the last attempt never reported
		// an outcome. Running it again could crash the process again.
		cause := fmt.Errorf("%w after %d attempts: the process stopped while running the job", ErrGaveUp, job.MaxAttempts)
		if job.LastError != "" {
			cause = fmt.Errorf("%w (last recorded error: %s)", cause, job.LastError)
		}
		span.SetStatus(codes.Error, cause.Error())
		log.ErrorContext(ctx, "job gave up", "error", cause.Error())
		return r.fail(ctx, s, job, h, cause, outcomeGaveUp, log, stopLease, lost)
	}
	err := runSafely(ctx, h.Run, job)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	stopLease()
	sctx, cancel := storeContext(ctx)
	defer cancel()
	var snooze *snoozeError
	switch {
	case lost.Load() || errors.Is(err, ErrLeaseLost):
		log.WarnContext(ctx, "job lost its claim; its new holder runs it", "error", errText(err))
		return outcomeLeaseLost
	case err == nil:
		log.InfoContext(ctx, "job done")
		return r.record(ctx, log, "complete job", r.Store.Complete(sctx, job.ID, job.Fence), outcomeDone)
	case s.jobs.Err() != nil:
		log.WarnContext(ctx, "job interrupted by shutdown; handing it back", "error", err.Error())
		r.release(ctx, job, log)
		return outcomeHandedBack
	case errors.As(err, &snooze):
		log.InfoContext(ctx, "job snoozed", "after", snooze.after.String(), "reason", err.Error())
		return r.record(ctx, log, "snooze job",
			r.Store.Reschedule(sctx, job.ID, job.Fence, r.now().Add(snooze.after), err.Error(), false), outcomeSnoozed)
	case IsPermanent(err) || job.Attempt >= job.MaxAttempts:
		log.ErrorContext(ctx, "job failed", "error", err.Error())
		return r.fail(ctx, s, job, h, err, outcomeFailed, log, stopLease, lost)
	default:
		delay := r.backoff(job.Attempt)
		log.WarnContext(ctx, "job attempt failed; will retry", "error", err.Error(), "retry_in", delay.String())
		return r.record(ctx, log, "reschedule job",
			r.Store.Reschedule(sctx, job.ID, job.Fence, r.now().Add(delay), err.Error(), true), outcomeRetry)
	}
}

// fail records a final failure: Handler.Failed (retried FailedRetries times
// while the claim is kept), then Store.Fail even if Failed kept failing.
func (r *Runner) fail(ctx context.Context, s *session, job *Job, h Handler, cause error, outcome string, log *slog.Logger,
	stopLease func(), lost *atomic.Bool) string {
	ferr := r.callFailed(ctx, job, h, cause, log)
	stopLease()
	switch {
	case lost.Load() || errors.Is(ferr, ErrLeaseLost):
		log.WarnContext(ctx, "job lost its claim while recording its failure; its new holder runs it", "error", errText(ferr))
		return outcomeLeaseLost
	case ferr != nil && s.jobs.Err() != nil:
		log.WarnContext(ctx, "recording the job failure interrupted by shutdown; handing it back", "error", ferr.Error())
		r.release(ctx, job, log)
		return outcomeHandedBack
	}
	lastErr := cause.Error()
	if ferr != nil {
		log.ErrorContext(ctx, "job failure could not be recorded; failing the job anyway",
			"error", cause.Error(), "failed_error", ferr.Error(), "tries", FailedRetries+1)
		lastErr += "; recording the failure failed: " + ferr.Error()
	}
	sctx, cancel := storeContext(ctx)
	defer cancel()
	return r.record(ctx, log, "fail job", r.Store.Fail(sctx, job.ID, job.Fence, lastErr), outcome)
}

// callFailed calls h.Failed, retrying with backoff while it returns an error.
func (r *Runner) callFailed(ctx context.Context, job *Job, h Handler, cause error, log *slog.Logger) error {
	if h.Failed == nil {
		return nil
	}
	failed := func(ctx context.Context, job *Job) error { return h.Failed(ctx, job, cause) }
	for try := 0; ; try++ {
		err := runSafely(ctx, failed, job)
		if err == nil || errors.Is(err, ErrLeaseLost) || try == FailedRetries || ctx.Err() != nil {
			return err
		}
		delay := r.backoff(try + 1)
		log.WarnContext(ctx, "record job failure; will retry", "error", err.Error(), "retry_in", delay.String())
		if !sleep(ctx, delay) {
			return err
		}
	}
}

// record logs a failed bookkeeping call; a lost claim changes the outcome.
func (r *Runner) record(ctx context.Context, log *slog.Logger, what string, err error, outcome string) string {
	switch {
	case errors.Is(err, ErrLeaseLost):
		log.WarnContext(ctx, what+": the job lost its claim; its new holder runs it")
		return outcomeLeaseLost
	case err != nil:
		// The job stays running; it runs again once the lease ends.
		log.ErrorContext(ctx, what, "error", err)
	}
	return outcome
}

// release hands a job back to pending without counting the attempt.
func (r *Runner) release(ctx context.Context, job *Job, log *slog.Logger) {
	sctx, cancel := storeContext(ctx)
	defer cancel()
	if err := r.Store.Release(sctx, job.ID, job.Fence); err != nil && !errors.Is(err, ErrLeaseLost) {
		log.ErrorContext(ctx, "hand back job", "error", err)
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

// keepLease extends the job's lease every Lease/3 until stop is called, and
// calls lost when the store says the claim is gone.
func (r *Runner) keepLease(ctx context.Context, job *Job, log *slog.Logger, lost func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(max(r.Lease/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sctx, cancel := storeContext(ctx)
				err := r.Store.ExtendLease(sctx, job.ID, job.Fence, r.now().Add(r.Lease))
				cancel()
				if err == nil {
					r.polled.Store(time.Now().UnixNano()) // a busy worker reaches the queue too
				}
				if errors.Is(err, ErrLeaseLost) {
					log.WarnContext(ctx, "job lost its claim; cancelling it")
					lost()
					return
				}
				if err != nil {
					log.WarnContext(ctx, "extend lease", "error", err)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// Propagator carries what a job keeps of the request that enqueued it, in
// the carrier stored with the job (Job.TraceContext): the trace, so that
// the job's Microsoft calls appear in the request's trace, and the APS
// transaction id (apsmd.Carry), so that its log lines name the platform's
// transaction. The store injects with it; the runner extracts with it.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(otel.GetTextMapPropagator(), apsmd.Carry{})
}

// pruneLoop deletes finished jobs past retention, and prunes AlsoPrune, at
// start and every PruneEvery.
func (r *Runner) pruneLoop(ctx context.Context) {
	retention := r.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	names := slices.Sorted(maps.Keys(r.AlsoPrune))
	t := time.NewTicker(PruneEvery)
	defer t.Stop()
	for {
		before := r.now().Add(-retention)
		r.pruneOne(ctx, "finished jobs", r.Store, before)
		for _, name := range names {
			r.pruneOne(ctx, name, r.AlsoPrune[name], before)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneOne prunes what (named name in the log) of what is older than
// before.
func (r *Runner) pruneOne(ctx context.Context, name string, what Pruner, before time.Time) {
	n, err := what.Prune(ctx, before)
	switch {
	case err != nil && ctx.Err() == nil:
		r.Log.WarnContext(ctx, "prune "+name, "error", err)
	case n > 0:
		r.Log.InfoContext(ctx, "pruned "+name, "rows", n, "before", before.UTC().Format(time.RFC3339))
	case err == nil:
		r.Log.DebugContext(ctx, "nothing to prune", "table", name, "before", before.UTC().Format(time.RFC3339))
	}
}

// storeContext is the context of a bookkeeping call: it keeps ctx's values
// (the trace) but not its cancellation, and has its own deadline.
func storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
