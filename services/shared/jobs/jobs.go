// Package jobs is the durable job queue of a service. Jobs live in the
// service's own database (see Store), are enqueued in the same transaction as
// the state change they carry out, and are leased to one worker at a time. A
// worker that dies loses its lease and the job runs again, so every handler
// must be idempotent: it persists its recovery point and request ids before
// any side effect and reads back after an ambiguous failure.
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
	// TraceContext is the W3C trace context of the request that enqueued it.
	TraceContext map[string]string
}

// New describes a job to enqueue.
type New struct {
	Kind        string
	Key         string
	Payload     []byte
	RunAt       time.Time
	MaxAttempts int
}

// Errors a Store returns.
var (
	// ErrNoJob: no job is due.
	ErrNoJob = errors.New("jobs: no job due")
	// ErrLeaseLost: the job is no longer leased to this owner.
	ErrLeaseLost = errors.New("jobs: lease lost")
)

// Store is the durable queue. Implementations must be safe for concurrent
// use by several workers and processes.
type Store interface {
	// Claim leases the next due job (pending with run_at <= now, or running
	// with an expired lease) to owner until leaseUntil and increments its
	// attempt. It returns ErrNoJob when nothing is due.
	Claim(ctx Context, owner string, now, leaseUntil time.Time) (*Job, error)
	// ExtendLease moves the lease end of a job owner holds; ErrLeaseLost otherwise.
	ExtendLease(ctx Context, id int64, owner string, until time.Time) error
	// Complete marks a job owner holds as done; ErrLeaseLost otherwise.
	Complete(ctx Context, id int64, owner string) error
	// Reschedule returns a job owner holds to pending at runAt, recording
	// lastErr; when countAttempt is false the attempt is given back.
	Reschedule(ctx Context, id int64, owner string, runAt time.Time, lastErr string, countAttempt bool) error
	// Fail marks a job owner holds as failed for good.
	Fail(ctx Context, id int64, owner, lastErr string) error
	// ReleaseOwnedBy returns the running jobs whose owner starts with prefix to
	// pending (a restarted worker reclaims what its previous life held).
	ReleaseOwnedBy(ctx Context, prefix string) (int, error)
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
