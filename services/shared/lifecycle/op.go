// Package lifecycle is what every APS resource of the gateway goes through,
// written once: the operation state stored with the resource, the optimistic
// update, the job payload, the decision between "answer from the stored
// state", "start a new attempt" and "busy", the job wrapper that fences and
// finishes an attempt, the classification of a final failure, the keyed side
// effects at Microsoft (one MS-RequestId per step, kept while the outcome is
// unknown and renewed after a definite refusal), and the secret that the
// completing answer reveals once. The services keep only their domain steps.
//
// The contract it implements is docs/aps-contract.md, section 4
// ("Synchronous and asynchronous operations", with the re-run after a failure).
package lifecycle

import (
	"time"

	"github.com/google/uuid"
)

// Operation names shared by every resource (custom operations use their own
// names, e.g. "upgrade", "verify").
const (
	Provision   = "provision"
	Configure   = "configure"
	Unprovision = "unprovision"
)

// Operation states.
const (
	Running = "running"
	Done    = "done"
	Failed  = "failed"
)

// Step states: what is known of one side effect at Microsoft.
const (
	// StepSent: the call may have reached Microsoft; the outcome is unknown.
	// The next try keeps the request id and reads back first.
	StepSent = "sent"
	// StepDone: Microsoft did it and the result is recorded.
	StepDone = "done"
	// StepRefused: Microsoft definitely refused it. A new attempt sends it
	// with a fresh request id (Partner Center replays the answer of an old one).
	StepRefused = "refused"
)

// Step is one keyed side effect of an operation.
type Step struct {
	RequestID string `json:"request_id,omitempty"`
	State     string `json:"state,omitempty"`
}

// Op is the operation state stored with every APS resource. Desired state
// (the resource's own fields) and applied state (Applied) are kept apart:
// Generation counts the platform's accepted requests that change the
// resource, Applied is the generation last carried out at Microsoft.
type Op struct {
	Name    string `json:"name,omitempty"`
	State   string `json:"state,omitempty"`
	Attempt int    `json:"attempt,omitempty"` // grows with every attempt of any operation

	FailureCode    int    `json:"failure_code,omitempty"` // gRPC code of the final failure
	FailureReason  string `json:"failure_reason,omitempty"`
	FailureMessage string `json:"failure_message,omitempty"`

	Generation int64 `json:"generation,omitempty"`
	Applied    int64 `json:"applied,omitempty"`
	// Target is the generation the running attempt carries out.
	Target int64 `json:"target,omitempty"`

	Steps map[string]*Step `json:"steps,omitempty"`

	// Secret is a sealed secret (an initial password) that the answer
	// completing the provisioning reveals, again on a re-send of that answer
	// until RevealUntil, after which it is erased. The service seals it for
	// the resource's own place (secret.Place), so that it opens for no
	// other resource, and re-seals it after a key rotation (Machine.Reseal).
	Secret      string     `json:"secret,omitempty"`
	RevealUntil *time.Time `json:"reveal_until,omitempty"`

	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Is tells whether op is the last operation and in state.
func (o *Op) Is(op, state string) bool { return o.Name == op && o.State == state }

// Busy tells whether an attempt runs.
func (o *Op) Busy() bool { return o.State == Running }

// Settled tells whether everything the platform asked for has been carried
// out at Microsoft: nothing runs, nothing failed, nothing is pending.
func (o *Op) Settled() bool {
	return o.State != Running && o.State != Failed && o.Applied >= o.Generation
}

// Touched tells whether any side effect may exist at Microsoft.
func (o *Op) Touched() bool {
	for _, s := range o.Steps {
		if s.State == StepSent || s.State == StepDone {
			return true
		}
	}
	return false
}

// StepState returns the state of a step ("" when never tried).
func (o *Op) StepState(name string) string {
	if s := o.Steps[name]; s != nil {
		return s.State
	}
	return ""
}

// MarkDone records a step as done without a call (the object already
// exists and is bound to the resource).
func (o *Op) MarkDone(step string) { o.step(step).State = StepDone }

// begin prepares a new attempt of op. A re-run of the same operation keeps
// the steps that are done (it resumes from the failed step) and those whose
// outcome is unknown (kept id, read back first); a different operation keeps
// only the latter. Refused steps are forgotten, so that they get a fresh
// request id.
func (o *Op) begin(op string, now time.Time, change bool) {
	rerun := o.Name == op && o.State == Failed
	for name, s := range o.Steps {
		keep := s.State == StepSent || (rerun && s.State == StepDone)
		if !keep {
			delete(o.Steps, name)
		}
	}
	if change {
		o.Generation++
	}
	o.Name, o.State, o.Attempt = op, Running, o.Attempt+1
	o.Target = o.Generation
	o.FailureCode, o.FailureReason, o.FailureMessage = 0, "", ""
	o.StartedAt, o.FinishedAt = now, time.Time{}
}

// step returns the step, creating it with a fresh request id.
func (o *Op) step(name string) *Step {
	if o.Steps == nil {
		o.Steps = map[string]*Step{}
	}
	s := o.Steps[name]
	if s == nil || s.RequestID == "" || s.State == StepRefused {
		s = &Step{RequestID: uuid.NewString()}
		o.Steps[name] = s
	}
	return s
}
