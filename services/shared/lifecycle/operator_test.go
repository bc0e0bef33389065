package lifecycle_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
)

// An operator retries a failed attempt (it resumes like the platform's
// re-run) and cancels an attempt only while nothing may have reached
// Microsoft; the platform's next re-send answers the cancel.
func TestOperatorRetryAndCancel(t *testing.T) {
	ctx := context.Background()
	calls, refuse := 0, true
	var f *fixture
	f = newFixture(t, map[string]lifecycle.Work[thing]{
		lifecycle.Provision: func(ctx context.Context, v *thing) (func(*thing), error) {
			return nil, f.m.Do(ctx, v, lifecycle.Effect[thing]{Step: "create",
				Call: func(ctx context.Context, v *thing, id string) (func(*thing), error) {
					calls++
					if refuse {
						return nil, jobs.Permanent(apierr.New(codes.Unavailable, apierr.MicrosoftUnavailable, "down"))
					}
					return func(v *thing) { v.MSID = "ms-1" }, nil
				}})
		},
	})
	f.m.OnRetry = func(op string, v *thing) { v.State = "creating" }
	const id = "6f1c2a4e-0000-4000-8000-000000000001"
	get := func() *thing {
		v, err := f.store.Get(ctx, "i", id)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	created := &thing{ID: id, Inst: "i"}
	f.m.Prepare(created, lifecycle.Provision)
	if err := f.store.Create(ctx, created, f.m.Job(created)); err != nil {
		t.Fatal(err)
	}

	// Nothing to retry while it runs; a cancel before any call works.
	if _, err := f.m.Retry(ctx, "i", id); apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("retry of a running attempt: %v", err)
	}
	if err := f.m.Cancel(ctx, "i", id, "tool/operator"); err != nil {
		t.Fatal(err)
	}
	v := get()
	if !v.Op.Is(lifecycle.Provision, lifecycle.Failed) || v.Op.FailureReason != apierr.Cancelled || v.State != "failed" {
		t.Fatalf("after cancel: %+v %s", v.Op, v.State)
	}
	if _, _, err := f.m.Resend(v, lifecycle.Provision, true); apierr.From(err).Reason != apierr.Cancelled || apierr.From(err).HTTPStatus() != 500 {
		t.Fatalf("the platform's re-send after a cancel: %v", err)
	}
	if err := f.runJobs(t); err != nil || calls != 0 {
		t.Fatalf("the cancelled attempt's job called Microsoft: %v, %d calls", err, calls)
	}

	// A retry starts a new attempt, which Microsoft refuses: nothing runs
	// any more, so there is nothing to cancel.
	if _, err := f.m.Retry(ctx, "i", id); err != nil {
		t.Fatal(err)
	}
	if v := get(); v.State != "creating" || !v.Op.Is(lifecycle.Provision, lifecycle.Running) {
		t.Fatalf("after retry: %+v %s", v.Op, v.State)
	}
	if err := f.runJobs(t); !jobs.IsPermanent(err) || calls != 1 {
		t.Fatalf("the retried attempt: %v, %d calls", err, calls)
	}
	if err := f.m.Cancel(ctx, "i", id, ""); apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("cancel of a failed attempt: %v", err)
	}
	refuse = false
	if _, err := f.m.Retry(ctx, "i", id); err != nil {
		t.Fatal(err)
	}
	// Once a step may have reached Microsoft, no cancel.
	v = get()
	if err := f.m.Mutate(ctx, v, func(v *thing) error {
		v.Op.Steps = map[string]*lifecycle.Step{"create": {State: lifecycle.StepSent, RequestID: "r-1"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Cancel(ctx, "i", id, ""); apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("cancel after a call: %v", err)
	}
	if err := f.runJobs(t); err != nil || calls != 2 {
		t.Fatalf("the last attempt: %v, %d calls", err, calls)
	}
	if v := get(); !v.Op.Is(lifecycle.Provision, lifecycle.Done) || v.MSID != "ms-1" {
		t.Fatalf("done: %+v", v.Op)
	}
	if _, err := f.m.Retry(ctx, "i", id); apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("retry of a finished operation: %v", err)
	}
}
