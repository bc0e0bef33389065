package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/storeerr"
)

// Work is the domain part of an attempt: it carries v's desired state out at
// Microsoft (through Do for keyed side effects and Mutate for recovery
// points) and returns the change that records the finished attempt in v's
// own fields (nil for none). It returns errors as a job does: jobs.Snooze to
// wait, jobs.Permanent for a final failure, anything else to retry.
type Work[T any] func(ctx context.Context, v *T) (finish func(*T), err error)

// Handlers returns the job handlers of the given operations' work, plus the
// one that erases revealed secrets.
func (m *Machine[T]) Handlers(work map[string]Work[T]) map[string]jobs.Handler {
	out := map[string]jobs.Handler{m.eraseKind(): {Run: m.erase}}
	for op, w := range work {
		out[m.JobKind(op)] = jobs.Handler{Run: m.run(op, w), Failed: m.failed}
	}
	return out
}

// load decodes a job's payload and returns its resource when the job's
// attempt is still the current one (nil otherwise: superseded or gone).
func (m *Machine[T]) load(ctx context.Context, job *jobs.Job) (*T, *Payload, error) {
	var p Payload
	if err := json.Unmarshal(job.Payload, &p); err != nil || p.ID == "" {
		return nil, nil, jobs.Permanent(fmt.Errorf("bad %s job payload: %v", m.Name, err))
	}
	v, err := m.Store.Get(ctx, p.InstanceID, p.ID)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, &p, nil
	}
	if err != nil {
		return nil, &p, err
	}
	return v, &p, nil
}

func (m *Machine[T]) current(v *T, p *Payload) bool {
	o := m.Op(v)
	return o.Name == p.Op && o.Attempt == p.Attempt && o.State == Running
}

func (m *Machine[T]) run(op string, work Work[T]) func(context.Context, *jobs.Job) error {
	return func(ctx context.Context, job *jobs.Job) error {
		v, p, err := m.load(ctx, job)
		if err != nil || v == nil || !m.current(v, p) {
			return err // gone or superseded: nothing to do
		}
		finish, err := work(ctx, v)
		if errors.Is(err, ErrSuperseded) {
			return nil
		}
		if err != nil {
			return err
		}
		if op == Unprovision {
			// A finished unprovision removes the resource (fenced: a job that
			// lost its claim cannot delete).
			if err := m.Store.Delete(ctx, p.InstanceID, p.ID); err != nil && !errors.Is(err, storeerr.ErrNotFound) {
				return err
			}
			m.finished(ctx, v, p, nil)
			return nil
		}
		return m.complete(ctx, v, p, finish)
	}
}

// complete records a finished attempt; a provisioning that leaves a secret
// starts its reveal window and schedules its erasure.
func (m *Machine[T]) complete(ctx context.Context, v *T, p *Payload, finish func(*T)) error {
	for range 20 {
		if !m.current(v, p) {
			return nil
		}
		if finish != nil {
			finish(v)
		}
		o := m.Op(v)
		now := m.now()
		o.State, o.FinishedAt = Done, now
		o.Applied = max(o.Applied, o.Target)
		var erase *jobs.New
		if o.Name == Provision && o.Secret != "" {
			until := now.Add(RevealFor)
			o.RevealUntil = &until
			erase = m.newJob(m.eraseKind(), v, until)
		}
		err := m.Store.Update(ctx, v, erase)
		if err == nil {
			m.finished(ctx, v, p, nil)
		}
		if !errors.Is(err, storeerr.ErrConflict) {
			return err
		}
		fresh, err := m.Store.Get(ctx, p.InstanceID, p.ID)
		if err != nil {
			return err
		}
		*v = *fresh
	}
	return fmt.Errorf("%s %s: too many concurrent updates", m.Name, p.ID)
}

// failed records the final failure of an attempt: the reason and the
// message the platform's operator acts on.
func (m *Machine[T]) failed(ctx context.Context, job *jobs.Job, cause error) error {
	v, p, err := m.load(ctx, job)
	if err != nil || v == nil || !m.current(v, p) {
		if jobs.IsPermanent(err) {
			return nil // an unreadable payload has no resource to mark
		}
		return err
	}
	e := Classify(cause, job.Attempt)
	err = m.Mutate(ctx, v, func(v *T) error {
		if !m.current(v, p) {
			return ErrSuperseded
		}
		o := m.Op(v)
		o.State, o.FinishedAt = Failed, m.now()
		o.FailureCode, o.FailureReason, o.FailureMessage = int(e.Code), e.Reason, e.Message
		if m.OnFail != nil {
			m.OnFail(o.Name, v)
		}
		return nil
	})
	if errors.Is(err, ErrSuperseded) {
		return nil
	}
	if err == nil {
		m.finished(ctx, v, p, e)
		if m.Log != nil {
			m.Log.WarnContext(ctx, m.Name+" operation failed", "id", p.ID, "operation", p.Op, "reason", e.Reason, "cause", cause.Error())
		}
	}
	return err
}

// Classify turns the error that ended an attempt into the outcome the
// platform shows: a refusal keeps its reason; anything else (Microsoft or the
// gateway kept failing until the attempts ran out) becomes
// MicrosoftUnavailable with a message saying that a re-run is safe.
func Classify(cause error, attempts int) *apierr.Error {
	e := apierr.From(cause)
	switch {
	case e.Reason != apierr.Internal:
		return e
	case jobs.IsPermanent(cause):
		return apierr.New(codes.Internal, apierr.Internal,
			"The gateway could not complete the operation (%s). Re-run the task once the cause is fixed; nothing was duplicated.", e.Message)
	default:
		return apierr.New(codes.Unavailable, apierr.MicrosoftUnavailable,
			"The operation did not complete after %d attempts: Microsoft or the gateway kept failing. Re-run the task; nothing was duplicated.", attempts)
	}
}

// erase forgets a revealed secret once its window has passed.
func (m *Machine[T]) erase(ctx context.Context, job *jobs.Job) error {
	v, _, err := m.load(ctx, job)
	if err != nil || v == nil {
		return err
	}
	o := m.Op(v)
	if o.Secret == "" {
		return nil
	}
	if o.RevealUntil != nil && m.now().Before(*o.RevealUntil) {
		return jobs.Snooze(o.RevealUntil.Sub(m.now()), errors.New("reveal window still open"))
	}
	return m.Mutate(ctx, v, func(v *T) error {
		o := m.Op(v)
		o.Secret, o.RevealUntil = "", nil
		return nil
	})
}

// SetSecret records the sealed secret the completing answer reveals, sealed
// for v's place by the service.
func (m *Machine[T]) SetSecret(v *T, sealed string) { m.Op(v).Secret = sealed }

// Effect is one keyed side effect at Microsoft.
type Effect[T any] struct {
	// Step names it; unique within the resource ("create", "mca", "checkout").
	Step string
	// ReadBack looks, after a call whose outcome is unknown, for what the
	// call did, and returns the change that records it (nil: nothing found,
	// the call is sent again with the same request id). Optional for calls
	// that Microsoft de-duplicates by MS-RequestId.
	ReadBack func(ctx context.Context, v *T) (func(*T), error)
	// Call does it with the step's MS-RequestId and returns the change that
	// records its result. A jobs.Permanent error is a definite refusal.
	Call func(ctx context.Context, v *T, requestID string) (func(*T), error)
	// Forget names earlier steps that a refusal of this one invalidates
	// (e.g. the cart of a refused checkout): a re-run does them again.
	Forget []string
}

// Do carries out e exactly once across attempts, crashes and re-runs: the
// request id is persisted before the first call; after an unknown outcome
// the next try reads back first and keeps the id; a definite refusal is
// recorded so that a re-run gets a fresh id; a done step is skipped.
func (m *Machine[T]) Do(ctx context.Context, v *T, e Effect[T]) error {
	attempt := m.Op(v).Attempt
	switch m.Op(v).StepState(e.Step) {
	case StepDone:
		return nil
	case StepSent:
		if e.ReadBack != nil {
			rec, err := e.ReadBack(ctx, v)
			if err != nil {
				return err
			}
			if rec != nil {
				return m.record(ctx, v, attempt, e.Step, StepDone, rec)
			}
		}
	default:
		if err := m.record(ctx, v, attempt, e.Step, StepSent, nil); err != nil {
			return err
		}
	}
	rec, err := e.Call(ctx, v, m.Op(v).Steps[e.Step].RequestID)
	if err != nil {
		if jobs.IsPermanent(err) {
			forget := func(v *T) {
				for _, f := range e.Forget {
					delete(m.Op(v).Steps, f)
				}
			}
			if rerr := m.record(ctx, v, attempt, e.Step, StepRefused, forget); rerr != nil {
				return rerr
			}
		}
		return err
	}
	return m.record(ctx, v, attempt, e.Step, StepDone, rec)
}

func (m *Machine[T]) record(ctx context.Context, v *T, attempt int, step, state string, rec func(*T)) error {
	return m.Mutate(ctx, v, func(v *T) error {
		o := m.Op(v)
		if o.Attempt != attempt || o.State != Running {
			return ErrSuperseded
		}
		s := o.step(step)
		s.State = state
		if rec != nil {
			rec(v)
		}
		return nil
	})
}

// Save writes a recovery point of the running attempt (fn changes v) and
// ends the job quietly if the attempt was superseded meanwhile.
func (m *Machine[T]) Save(ctx context.Context, v *T, fn func(*T)) error {
	attempt := m.Op(v).Attempt
	return m.Mutate(ctx, v, func(v *T) error {
		o := m.Op(v)
		if o.Attempt != attempt || o.State != Running {
			return ErrSuperseded
		}
		fn(v)
		return nil
	})
}
