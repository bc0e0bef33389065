package lifecycle

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
)

// An operator's actions on a resource's operation (o365ctl jobs retry and
// cancel, through the admin API). Both go through the resource's own row,
// with its optimistic concurrency, so they never race the platform's
// re-sends nor a running attempt: one attempt per resource at a time.

// Retry starts a new attempt of the resource's failed operation, as the
// platform's re-run does: the steps done are kept, a step of unknown
// outcome is read back first, and the platform's next re-send is answered
// from the new attempt (202, then its outcome).
func (m *Machine[T]) Retry(ctx context.Context, instanceID, id string) (*Answer[T], error) {
	v, err := m.Load(ctx, instanceID, id)
	if err != nil {
		return nil, err
	}
	o := m.Op(v)
	switch o.State {
	case Failed:
	case Running:
		return nil, apierr.New(codes.Aborted, apierr.Conflict, "The %s's %s is running; it needs no retry.", m.Name, o.Name)
	default:
		return nil, apierr.New(codes.FailedPrecondition, apierr.Conflict, "The %s's last operation (%s) did not fail: there is nothing to retry.", m.Name, o.Name)
	}
	if m.OnRetry != nil {
		m.OnRetry(o.Name, v)
	}
	return m.Start(ctx, v, o.Name, false)
}

// Cancel ends the resource's running operation before Microsoft has been
// called: the attempt fails with the reason Cancelled, which the platform's
// next re-send gets (a 500 with that reason), and its job ends quietly
// when it runs (its attempt is superseded). Once a step may have reached
// Microsoft the cancel is refused: the operator unprovisions instead.
// Every step is recorded as sent before its call, with the same
// optimistic concurrency as this write, so the two cannot interleave.
func (m *Machine[T]) Cancel(ctx context.Context, instanceID, id, by string) error {
	v, err := m.Load(ctx, instanceID, id)
	if err != nil {
		return err
	}
	var op string
	err = m.Mutate(ctx, v, func(v *T) error {
		o := m.Op(v)
		switch {
		case o.State != Running:
			return apierr.New(codes.FailedPrecondition, apierr.Conflict, "The %s has no running operation to cancel (its last, %s, is %s).", m.Name, o.Name, o.State)
		case o.Touched():
			return apierr.New(codes.FailedPrecondition, apierr.Conflict,
				"The %s's %s may already have reached Microsoft; it cannot be cancelled: unprovision the resource instead.", m.Name, o.Name)
		}
		op = o.Name
		o.State, o.FinishedAt = Failed, m.now()
		o.FailureCode, o.FailureReason = int(codes.Aborted), apierr.Cancelled
		o.FailureMessage = "An operator cancelled the " + o.Name + " before Microsoft was called"
		if by != "" {
			o.FailureMessage += " (" + by + ")"
		}
		o.FailureMessage += "; re-run the task to try again."
		if m.OnFail != nil {
			m.OnFail(o.Name, v)
		}
		return nil
	})
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae
	}
	if err == nil && m.Log != nil {
		m.Log.WarnContext(ctx, m.Name+" operation cancelled by an operator", "id", id, "operation", op, "by", by)
	}
	return err
}
