package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/storeerr"
)

// RevealFor is how long a re-send of the completing answer still carries the
// secret (24 hours: docs/aps-contract.md, section 4), after which the secret is erased.
const RevealFor = 24 * time.Hour

// ErrSuperseded ends a job quietly: its attempt is no longer the current one
// (a re-run or another operation replaced it, or the resource is gone).
var ErrSuperseded = errors.New("lifecycle: attempt superseded")

// Store is what the lifecycle needs of a service's storage for one resource
// type: optimistic reads and writes, each write committing an optional job.
// Writes made with a job's context are fenced by the queue (a job that lost
// its claim gets jobs.ErrLeaseLost).
type Store[T any] interface {
	Get(ctx context.Context, instanceID, id string) (*T, error)
	Update(ctx context.Context, v *T, job *jobs.New) error
	Delete(ctx context.Context, instanceID, id string) error
}

// Machine runs the lifecycle of one resource type T.
type Machine[T any] struct {
	// Name is the resource name used in job kinds and messages ("tenant").
	Name  string
	Store Store[T]
	// Op returns the operation state stored in v.
	Op func(v *T) *Op
	// Ref returns v's instance and id.
	Ref func(v *T) (instanceID, id string)
	// Describe says what an attempt of op does (APS-Info of a 202).
	Describe func(op string, v *T) string
	// OnFail adjusts the resource's own state when an attempt of op fails
	// for good (e.g. a provision leaves the resource "failed").
	OnFail func(op string, v *T)
	// OnRetry undoes OnFail when an operator retries a failed attempt of op
	// (e.g. a provision makes the resource "creating" again); nil leaves
	// the resource's state to the attempt's outcome.
	OnRetry func(op string, v *T)
	// Notify wakes the job runner after an enqueue.
	Notify func()
	// Finished, when set, is told of every attempt whose job ended it:
	// completed (an unprovision: the resource removed) or failed for good.
	// Superseded attempts are not reported. The audit log records these
	// asynchronous outcomes.
	Finished func(ctx context.Context, f Finish)
	Log      *slog.Logger
	Now      func() time.Time
}

// Finish is how an attempt ended, as Machine.Finished is told.
type Finish struct {
	// Resource is the machine's Name ("tenant").
	Resource   string
	InstanceID string
	ID         string
	// Op is the operation, JobKind the job that ran it.
	Op      string
	JobKind string
	Attempt int
	// Err is the final failure as the platform sees it (Classify); nil
	// when the attempt completed.
	Err *apierr.Error
	// Steps are the operation's keyed side effects at Microsoft, with
	// their MS-RequestIds.
	Steps map[string]Step
}

// finished tells Finished of an ended attempt of v.
func (m *Machine[T]) finished(ctx context.Context, v *T, p *Payload, err *apierr.Error) {
	if m.Finished == nil {
		return
	}
	f := Finish{Resource: m.Name, InstanceID: p.InstanceID, ID: p.ID, Op: p.Op, JobKind: m.JobKind(p.Op), Attempt: p.Attempt, Err: err}
	if o := m.Op(v); len(o.Steps) > 0 {
		f.Steps = make(map[string]Step, len(o.Steps))
		for name, s := range o.Steps {
			if s != nil {
				f.Steps[name] = *s
			}
		}
	}
	m.Finished(ctx, f)
}

func (m *Machine[T]) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// JobKind is the versioned job kind of an operation on this resource.
func (m *Machine[T]) JobKind(op string) string { return m.Name + "." + op + ".v2" }

// eraseKind is the job that erases a revealed secret after RevealFor.
func (m *Machine[T]) eraseKind() string { return m.Name + ".erase_secret.v1" }

// Payload is what every lifecycle job carries.
type Payload struct {
	V          int    `json:"v"`
	InstanceID string `json:"instance_id"`
	ID         string `json:"id"`
	Op         string `json:"op"`
	Attempt    int    `json:"attempt"`
}

func (m *Machine[T]) newJob(kind string, v *T, runAt time.Time) *jobs.New {
	inst, id := m.Ref(v)
	o := m.Op(v)
	p, _ := json.Marshal(Payload{V: 1, InstanceID: inst, ID: id, Op: o.Name, Attempt: o.Attempt})
	return &jobs.New{Kind: kind, Key: id, Group: inst, Payload: p, RunAt: runAt}
}

// Load reads the resource a request names: an id that is not an APS id is a
// 400 InvalidRequest, an unknown one a 404 NotFound.
func (m *Machine[T]) Load(ctx context.Context, instanceID, id string) (*T, error) {
	v, err := m.Lookup(ctx, instanceID, id)
	if err == nil && v == nil {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "%s %s is not known to this instance.", m.title(), id)
	}
	return v, err
}

// Lookup is Load for an unprovision: an unknown id is no error (nil, nil),
// since an unprovision of an unknown id is done.
func (m *Machine[T]) Lookup(ctx context.Context, instanceID, id string) (*T, error) {
	if !apsmd.IsID(id) {
		return nil, apierr.Invalid("The %s id %q is not a UUID.", m.Name, id)
	}
	v, err := m.Store.Get(ctx, instanceID, id)
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// Begin starts handling a request of op for the resource id, in the order
// every operation follows: load it (for a provision an absent resource is a
// new one: nil, Proceed; for an unprovision it is done already: nil,
// Answered), answer a re-send from the stored state (Answered: the answer
// or the error is the request's), and refuse a new operation while another
// one runs (an unprovision supersedes it instead). Rerun and Proceed leave
// the rest to the service.
func (m *Machine[T]) Begin(ctx context.Context, instanceID, id, op string, async bool) (*T, *Answer[T], Decision, error) {
	var v *T
	var err error
	if op == Provision || op == Unprovision {
		v, err = m.Lookup(ctx, instanceID, id)
	} else {
		v, err = m.Load(ctx, instanceID, id)
	}
	if err != nil || v == nil {
		d := Proceed
		if err != nil || op != Provision {
			d = Answered
		}
		return nil, nil, d, err
	}
	a, d, err := m.Resend(v, op, async)
	if d == Proceed && op != Unprovision {
		if err := m.Busy(v); err != nil {
			return v, nil, Answered, err
		}
	}
	return v, a, d, err
}

// Raced answers a provision whose insert found its id taken. Taken by a
// concurrent provision of the same resource (two first calls at once), it
// answers as that one's re-send: the current state, 202 while it runs. An
// id the instance does not hold is taken by another's resource: 409
// Conflict.
func (m *Machine[T]) Raced(ctx context.Context, instanceID, id string) (*Answer[T], error) {
	v, err := m.Lookup(ctx, instanceID, id)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, apierr.New(codes.AlreadyExists, apierr.Conflict, "The id %s is already used by another resource.", id)
	}
	a, _, err := m.Resend(v, Provision, true)
	return a, err
}

func (m *Machine[T]) title() string { return strings.ToUpper(m.Name[:1]) + m.Name[1:] }

// Mutate applies fn to v and writes it, re-reading and re-applying on a
// concurrent update. fn may refuse by returning an error.
func (m *Machine[T]) Mutate(ctx context.Context, v *T, fn func(*T) error) error {
	for range 20 {
		if err := fn(v); err != nil {
			return err
		}
		err := m.Store.Update(ctx, v, nil)
		if !errors.Is(err, storeerr.ErrConflict) {
			return err
		}
		inst, id := m.Ref(v)
		fresh, err := m.Store.Get(ctx, inst, id)
		if err != nil {
			return err
		}
		*v = *fresh
	}
	inst, id := m.Ref(v)
	return fmt.Errorf("%s %s/%s: too many concurrent updates", m.Name, inst, id)
}

// Answer is an operation's answer: the representation, and either the
// APS-Info of a running attempt (202) or a revealed secret.
type Answer[T any] struct {
	V *T
	// Op is the operation the answer is for.
	Op string
	// Accepted is non-empty while an attempt runs: what it does (APS-Info).
	Accepted string
	// Secret is the sealed secret revealed by this answer (the completing
	// answer of a provisioning and its re-sends within RevealFor).
	Secret string
}

// Running tells whether the answer is a 202.
func (a *Answer[T]) Running() bool { return a != nil && a.Accepted != "" }

// Status is the aps.status of the answer's representation.
func (a *Answer[T]) Status() string {
	if !a.Running() {
		return "aps:ready"
	}
	return StatusOf(a.Op)
}

// StatusOf is the aps.status of a resource while an attempt of op runs.
func StatusOf(op string) string {
	switch op {
	case Provision:
		return "aps:provisioning"
	case Unprovision:
		return "aps:deleted"
	default:
		return "aps:configuring"
	}
}

// View answers a plain read: never a secret, never a side effect.
func (m *Machine[T]) View(v *T) *Answer[T] { return &Answer[T]{V: v} }

// Decision is what a request for an operation on an existing resource does.
type Decision int

// Decisions.
const (
	// Proceed: not a re-send; the service handles it as a new request.
	Proceed Decision = iota
	// Answered: a re-send answered from the stored state (202, final, or 500).
	Answered
	// Rerun: the operation failed and the platform re-runs it: start a new
	// attempt from the failed step.
	Rerun
)

// Resend decides for a request of op on v: an async re-send is answered from
// the stored state; a sync request answers 202 while the same operation runs,
// and re-runs it when it failed. Anything else proceeds as a new request
// (whose service then refuses it with Busy if another operation runs).
func (m *Machine[T]) Resend(v *T, op string, async bool) (*Answer[T], Decision, error) {
	o := m.Op(v)
	if o.Name != op {
		// A provision of an existing id, or a re-send of an operation the
		// resource no longer runs: the current state is its answer. An
		// unprovision always proceeds (it may supersede a running attempt).
		if op == Provision || async && op != Unprovision {
			return m.final(v, op), Answered, nil
		}
		return nil, Proceed, nil
	}
	switch o.State {
	case Running:
		return &Answer[T]{V: v, Op: op, Accepted: m.Describe(op, v)}, Answered, nil
	case Failed:
		if async {
			return nil, Answered, m.failure(o)
		}
		return nil, Rerun, nil
	}
	if async || op == Provision {
		return m.final(v, op), Answered, nil
	}
	return nil, Proceed, nil
}

// final is the completing answer of op, revealing the secret of a finished
// provisioning while its window lasts.
func (m *Machine[T]) final(v *T, op string) *Answer[T] {
	a := &Answer[T]{V: v, Op: op}
	o := m.Op(v)
	if op == Provision && o.Is(Provision, Done) && o.Secret != "" && o.RevealUntil != nil && m.now().Before(*o.RevealUntil) {
		a.Secret = o.Secret
	}
	return a
}

func (m *Machine[T]) failure(o *Op) error {
	return apierr.JobFailed(codes.Code(o.FailureCode), o.FailureReason, "%s", o.FailureMessage)
}

// Busy refuses a new operation while another attempt runs.
func (m *Machine[T]) Busy(v *T) error {
	o := m.Op(v)
	if !o.Busy() {
		return nil
	}
	return apierr.New(codes.Aborted, apierr.Conflict, "The %s is busy (%s in progress); re-run the task when it has finished.", m.Name, o.Name)
}

// Start begins an attempt of op on v (a new operation, or a re-run of a
// failed one) and commits it with its job. change tells whether the request
// changes the desired state (a new generation to apply). v holds the desired
// state already; on a concurrent update Start fails with Conflict and writes
// nothing.
func (m *Machine[T]) Start(ctx context.Context, v *T, op string, change bool) (*Answer[T], error) {
	m.Op(v).begin(op, m.now(), change)
	if err := m.Store.Update(ctx, v, m.newJob(m.JobKind(op), v, time.Time{})); err != nil {
		if errors.Is(err, storeerr.ErrConflict) {
			return nil, apierr.New(codes.Aborted, apierr.Conflict, "The %s changed while this request was checked; re-run the task.", m.Name)
		}
		return nil, err
	}
	m.notify()
	return &Answer[T]{V: v, Op: op, Accepted: m.Describe(op, v)}, nil
}

// Prepare readies a new resource's first attempt of op (before the
// service's Create, which commits it with Job(v)).
func (m *Machine[T]) Prepare(v *T, op string) { m.Op(v).begin(op, m.now(), true) }

// Job is the job of v's current attempt, for a Create that commits with it.
func (m *Machine[T]) Job(v *T) *jobs.New { return m.newJob(m.JobKind(m.Op(v).Name), v, time.Time{}) }

// Accepted is the 202 answer of v's current attempt.
func (m *Machine[T]) Accepted(v *T) *Answer[T] {
	op := m.Op(v).Name
	return &Answer[T]{V: v, Op: op, Accepted: m.Describe(op, v)}
}

func (m *Machine[T]) notify() {
	if m.Notify != nil {
		m.Notify()
	}
}
