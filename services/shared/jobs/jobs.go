// Package jobs is the durable job queue of a service. Jobs live in the
// service's own database (see Store), are enqueued in the same transaction as
// the state change they carry out, and are leased to one worker at a time. A
// worker that dies loses its lease and the job runs again, so every handler
// must be idempotent: it persists its recovery point and request ids before
// any side effect and reads back after an ambiguous failure.
//
// # Claims and fencing
//
// Every claim of a job gets a new fencing token (Job.Fence). The store's
// bookkeeping calls take the fence, and so do the business writes a handler
// makes: the runner passes handlers a context carrying the fence (WithFence),
// and a store refuses a write made with it once the job has been claimed again
// or has left the running state (ErrLeaseLost). So a worker whose lease
// expired while it was still running (a long GC pause, a partitioned replica)
// cannot overwrite what the new holder does, and finds out at its next write.
//
// Jobs that share a key (Job.Key, normally the id of the resource they work
// on) never run at the same time: a store does not claim a job while another
// job with the same key holds an unexpired lease.
//
// # Job kinds are versioned
//
// A kind names the handler and the payload format, and carries a version
// suffix: "tenant.provision.v1". A change of the payload (or of what the
// handler does with a stored job) is a new kind, "tenant.provision.v2",
// registered beside the old one until no job of the old kind is left. During
// a rolling upgrade old and new replicas share the queue; a replica claims
// only the kinds it has handlers for (the runner passes them to Claim), so a
// job of a kind one replica does not know waits for a replica that does,
// instead of failing.
//
// # Attempts
//
// Claim counts an attempt. A job claimed more than MaxAttempts times never
// reported an outcome on its last attempt (the process stopped while running
// it, e.g. because the job crashes it): the runner does not run it again and
// records the failure (ErrGaveUp).
package jobs

import (
	"errors"
	"fmt"
	"time"
)

// Job is one unit of durable work.
type Job struct {
	ID          int64
	Kind        string
	Key         string
	Payload     []byte
	Attempt     int
	MaxAttempts int
	RunAt       time.Time
	LastError   string
	// Fence is the fencing token of this claim: a new value at every claim.
	// The store's bookkeeping calls and fenced business writes (WithFence)
	// are refused with ErrLeaseLost once it is no longer current.
	Fence int64
	// TraceContext is what the job keeps of the request that enqueued it:
	// its W3C trace context and APS transaction id (Propagator).
	TraceContext map[string]string
}

// New describes a job to enqueue.
type New struct {
	// Kind is the versioned kind ("tenant.provision.v1").
	Kind string
	// Key serialises jobs: two jobs with the same non-empty key never run
	// at the same time. Use the id of the resource the job works on.
	Key string
	// Group is the fairness group (the APS instance: a provider or one of
	// its resellers): when jobs of several groups are due, a claim prefers
	// the group with the fewest running jobs, so one reseller's bulk import
	// cannot starve the other instances.
	Group       string
	Payload     []byte
	RunAt       time.Time
	MaxAttempts int
}

// Errors a Store returns.
var (
	// ErrNoJob: no job is due.
	ErrNoJob = errors.New("jobs: no job due")
	// ErrLeaseLost: the fence is no longer current (the job was claimed
	// again) or the job is no longer running.
	ErrLeaseLost = errors.New("jobs: lease lost")
)

// ErrGaveUp is wrapped by the error the runner passes to Handler.Failed when
// a job was claimed more than MaxAttempts times without reporting an outcome.
var ErrGaveUp = errors.New("jobs: gave up")

// Store is the durable queue. Implementations must be safe for concurrent
// use by several workers and processes. ExtendLease, Complete, Reschedule,
// Fail and Release return ErrLeaseLost when fence is no longer current or the
// job is not running.
type Store interface {
	// Claim leases the next due job whose kind is one of kinds (pending with
	// run_at <= now, or running with a lease that ended before now) to owner
	// until leaseUntil, counts an attempt and issues a new fence. It skips a
	// job while another job with the same non-empty key holds an unexpired
	// lease. It returns ErrNoJob when nothing is due.
	Claim(ctx Context, owner string, kinds []string, now, leaseUntil time.Time) (*Job, error)
	// ExtendLease moves the lease end of the claim fence holds.
	ExtendLease(ctx Context, id, fence int64, until time.Time) error
	// Complete marks the job of the claim fence holds as done.
	Complete(ctx Context, id, fence int64) error
	// Reschedule returns the job of the claim fence holds to pending at
	// runAt, recording lastErr; when countAttempt is false the attempt is
	// given back.
	Reschedule(ctx Context, id, fence int64, runAt time.Time, lastErr string, countAttempt bool) error
	// Fail marks the job of the claim fence holds as failed for good.
	Fail(ctx Context, id, fence int64, lastErr string) error
	// Release hands the job of the claim fence holds back to pending at
	// once and gives the attempt back (a worker that shuts down).
	Release(ctx Context, id, fence int64) error
	// Prune deletes the done and failed jobs that finished before
	// finishedBefore and returns how many.
	Prune(ctx Context, finishedBefore time.Time) (int, error)
}

// KindStats is the queue of one job kind at a moment (QueueReporter).
type KindStats struct {
	Kind string
	// Due jobs wait for a worker: pending with their run time passed, or
	// running with a lease that ended (their worker is gone).
	Due int64
	// Scheduled jobs are pending with a run time still ahead (a backoff, a
	// snooze, a periodic check).
	Scheduled int64
	// Running jobs hold a lease that has not ended.
	Running int64
	// OldestDue is since when the longest-waiting due job waits (its run
	// time, or the end of its lease); zero when none is due.
	OldestDue time.Time
}

// QueueReporter is a Store that can describe its queue. The runner reports
// it as the gauges jobs_queue_depth and jobs_oldest_due_age_seconds.
type QueueReporter interface {
	// QueueStats returns, for every kind with a pending or running job, the
	// counts at now; kinds without such jobs are left out.
	QueueStats(ctx Context, now time.Time) ([]KindStats, error)
}

// snoozeError asks the runner to run the job again later without counting
// the attempt (e.g. Microsoft answered 429 with a long Retry-After).
type snoozeError struct {
	after time.Duration
	err   error
}

func (e *snoozeError) Error() string { return fmt.Sprintf("snoozed for %s: %v", e.after, e.err) }
func (e *snoozeError) Unwrap() error { return e.err }

// Snooze reschedules the job after d without counting an attempt.
func Snooze(d time.Duration, cause error) error { return &snoozeError{after: d, err: cause} }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as final: the job fails without further attempts.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent tells whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
