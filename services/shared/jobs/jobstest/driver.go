package jobstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/o365gateway/gateway/services/shared/jobs"
)

// Driver runs the due jobs of a real store synchronously, one claim at a
// time, with the runner's decisions (jobs.Runner.process): done, snoozed
// (rescheduled without counting the attempt), retried (counted), failed
// (Handler.Failed, then Fail) after a permanent error or the last attempt.
// Handlers get a context carrying the claim (jobs.WithFence), so fenced
// writes behave as under the runner. A domain test drives a service's
// Handlers() with it instead of waiting for a background runner.
type Driver struct {
	Store    jobs.Store
	Handlers map[string]jobs.Handler
	// Now is the clock of claims and reschedules (default time.Now). A
	// retried job is due again at once; a snoozed one after its delay.
	Now func() time.Time
}

// Outcomes of Result.
const (
	Done    = "done"
	Retried = "retried"
	Snoozed = "snoozed"
	Failed  = "failed"
)

// Result is one run of one job.
type Result struct {
	Job     jobs.Job
	Err     error // what Handler.Run returned
	Outcome string
}

// String names the job and what happened to it.
func (r Result) String() string {
	s := fmt.Sprintf("%s %s (attempt %d): %s", r.Job.Kind, r.Job.Key, r.Job.Attempt, r.Outcome)
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Driver) kinds() []string {
	out := make([]string, 0, len(d.Handlers))
	for k := range d.Handlers {
		out = append(out, k)
	}
	return out
}

// Next claims one due job and runs it; ok is false when no job is due.
func (d *Driver) Next(t testing.TB) (res Result, ok bool) {
	t.Helper()
	ctx := context.Background()
	now := d.now()
	job, err := d.Store.Claim(ctx, "jobstest/driver", d.kinds(), now, now.Add(time.Minute))
	if errors.Is(err, jobs.ErrNoJob) {
		return Result{}, false
	}
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	h := d.Handlers[job.Kind]
	// What the runner gives a job of the request that enqueued it.
	jctx := jobs.WithFence(jobs.Propagator().Extract(ctx, propagation.MapCarrier(job.TraceContext)), job)
	res = Result{Job: *job, Err: h.Run(jctx, job)}
	var bookkeeping error
	switch {
	case res.Err == nil:
		res.Outcome, bookkeeping = Done, d.Store.Complete(ctx, job.ID, job.Fence)
	case isSnooze(res.Err):
		res.Outcome = Snoozed
		bookkeeping = d.Store.Reschedule(ctx, job.ID, job.Fence, d.now().Add(snoozeFor(res.Err)), res.Err.Error(), false)
	case jobs.IsPermanent(res.Err) || job.Attempt >= job.MaxAttempts:
		res.Outcome = Failed
		if h.Failed != nil {
			if ferr := h.Failed(jctx, job, res.Err); ferr != nil {
				t.Fatalf("%s: recording the failure: %v", job.Kind, ferr)
			}
		}
		bookkeeping = d.Store.Fail(ctx, job.ID, job.Fence, res.Err.Error())
	default:
		res.Outcome = Retried
		bookkeeping = d.Store.Reschedule(ctx, job.ID, job.Fence, d.now(), res.Err.Error(), true)
	}
	if bookkeeping != nil {
		t.Fatalf("%s: %s: %v", job.Kind, res.Outcome, bookkeeping)
	}
	return res, true
}

// Drain runs due jobs until none is due and returns what happened. It fails
// the test after limit runs (default 100): a job that never settles.
func (d *Driver) Drain(t testing.TB) []Result {
	t.Helper()
	var out []Result
	for range 100 {
		r, ok := d.Next(t)
		if !ok {
			return out
		}
		out = append(out, r)
	}
	t.Fatalf("jobs still due after %d runs: %+v", len(out), out[len(out)-1])
	return nil
}

// Clock is a test clock that runs with real time plus an offset, so that
// jobs enqueued at the real time are due on it; Advance moves it forward.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// isSnooze and snoozeFor read jobs.Snooze's delay, whose type is not
// exported, from its text: "snoozed for <duration>: <cause>".
func isSnooze(err error) bool { _, ok := snoozeDelay(err); return ok }

func snoozeFor(err error) time.Duration { d, _ := snoozeDelay(err); return d }

func snoozeDelay(err error) (time.Duration, bool) {
	const prefix = "snoozed for "
	for e := err; e != nil; e = errors.Unwrap(e) {
		s := e.Error()
		if len(s) <= len(prefix) || s[:len(prefix)] != prefix {
			continue
		}
		rest := s[len(prefix):]
		for i := range rest {
			if rest[i] == ':' {
				if d, perr := time.ParseDuration(rest[:i]); perr == nil {
					return d, true
				}
				break
			}
		}
	}
	return 0, false
}

// MustNext is Next for a job that must be due.
func (d *Driver) MustNext(t testing.TB) Result {
	t.Helper()
	r, ok := d.Next(t)
	if !ok {
		t.Fatal("no job due")
	}
	return r
}

// MustDrain is Drain when at least one job must run; it returns the last
// outcome.
func (d *Driver) MustDrain(t testing.TB) string {
	t.Helper()
	rs := d.Drain(t)
	if len(rs) == 0 {
		t.Fatal("no job ran")
	}
	return rs[len(rs)-1].Outcome
}
