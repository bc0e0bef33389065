package driftcheck_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/drift"
	"github.com/o365gateway/gateway/services/shared/jobs/jobstest"
	"github.com/o365gateway/gateway/services/tenant/internal/driftcheck"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/tenanttest"
)

// owner stands for the user service: one user item, and the failure its
// check or repair answers while set.
type owner struct {
	mu                  sync.Mutex
	checkErr, repairErr error
	checks, repairs     int
}

func (o *owner) set(check, repair error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checkErr, o.repairErr = check, repair
}

func (o *owner) Check(context.Context, string, string) ([]drift.Item, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checks++
	if o.checkErr != nil {
		return nil, o.checkErr
	}
	return []drift.Item{{Kind: drift.KindUser, MSID: "u-1", Problem: drift.LicensesDiffer, Repair: drift.Push}}, nil
}

func (o *owner) Repair(_ context.Context, _, _ string, items []drift.Item, dryRun bool) ([]drift.Item, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.repairs++
	if o.repairErr != nil {
		return nil, o.repairErr
	}
	for i := range items {
		items[i].Finish(dryRun, nil)
	}
	return items, nil
}

// A requested drift check or repair whose job fails for good is answered
// 500 with the job's reason on the platform's re-sends, not 200 with an
// old report or a report of failed items; a new request (sync) runs again
// and its re-sends get the report.
func TestFailedCheckAndRepairAnswer500(t *testing.T) {
	e := tenanttest.New(t)
	tn := e.ActiveTenant()
	users := &owner{}
	svc := &driftcheck.Service{Store: e.Store, Instances: e.Instances, Users: users, Notify: func() {}, Log: e.Log,
		Graph: func(inst *storage.Instance, customer string) (driftcheck.Domains, error) {
			return e.Graph(inst, customer)
		}}
	run := &jobstest.Driver{Store: e.Store.Jobs(), Handlers: svc.Handlers()}
	ctx := context.Background()
	down := apierr.New(codes.Unavailable, apierr.MicrosoftUnavailable, "Microsoft Graph did not answer.")
	wantFailed := func(what string, err error) {
		t.Helper()
		e := apierr.From(err)
		if !e.JobFailed || e.Reason != apierr.MicrosoftUnavailable || e.Message == "" {
			t.Fatalf("%s: want the job's failure (500 MicrosoftUnavailable), got %v (job failed %v)", what, err, e.JobFailed)
		}
	}

	// The check fails on every attempt.
	users.set(down, nil)
	if _, running, err := svc.Get(ctx, e.Request("sync"), tn.ID, true); err != nil || !running {
		t.Fatalf("refresh: running %v, %v", running, err)
	}
	if got := run.Drain(t); len(got) == 0 || got[len(got)-1].Outcome != jobstest.Failed {
		t.Fatalf("the check job: %v", got)
	}
	_, _, err := svc.Get(ctx, e.Request("async"), tn.ID, true)
	wantFailed("re-send of a failed check", err)
	// A GET without refresh still reads the stored (empty) report.
	if rep, running, err := svc.Get(ctx, e.Request(""), tn.ID, false); err != nil || running || rep == nil {
		t.Fatalf("plain GET after a failed check: %v %v %v", rep, running, err)
	}

	// Re-run: the check runs again and its re-send gets the report.
	users.set(nil, nil)
	if _, running, err := svc.Get(ctx, e.Request("sync"), tn.ID, true); err != nil || !running {
		t.Fatalf("re-run of the check: running %v, %v", running, err)
	}
	run.MustDrain(t)
	rep, running, err := svc.Get(ctx, e.Request("async"), tn.ID, true)
	if err != nil || running || rep == nil || len(rep.Items) == 0 {
		t.Fatalf("re-send after the re-run: %+v %v %v", rep, running, err)
	}

	// The repair fails on every attempt.
	users.set(nil, down)
	if _, running, err := svc.Repair(ctx, e.Request("sync"), tn.ID, []any{"u-1"}, false); err != nil || !running {
		t.Fatalf("repair: running %v, %v", running, err)
	}
	if got := run.Drain(t); len(got) == 0 || got[len(got)-1].Outcome != jobstest.Failed {
		t.Fatalf("the repair job: %v", got)
	}
	_, _, err = svc.Repair(ctx, e.Request("async"), tn.ID, []any{"u-1"}, false)
	wantFailed("re-send of a failed repair", err)

	// Re-run: repaired, and the re-send gets the report of what was done.
	users.set(nil, nil)
	if _, running, err := svc.Repair(ctx, e.Request("sync"), tn.ID, []any{"u-1"}, false); err != nil || !running {
		t.Fatalf("re-run of the repair: running %v, %v", running, err)
	}
	run.MustDrain(t)
	rep, running, err = svc.Repair(ctx, e.Request("async"), tn.ID, []any{"u-1"}, false)
	if err != nil || running || rep == nil || len(rep.Items) != 1 || rep.Items[0].Outcome != drift.Done {
		t.Fatalf("re-send after the repair's re-run: %+v %v %v", rep, running, err)
	}
}

// A check job still retrying when a newer check is requested (its lease
// lapsed) does not answer for the newer one: its failure is not the newer
// check's failure, and the newer check's re-sends wait for their own job.
func TestAnOlderCheckDoesNotAnswerForANewerOne(t *testing.T) {
	e := tenanttest.New(t)
	tn := e.ActiveTenant()
	users := &owner{}
	clock := &jobstest.Clock{}
	svc := &driftcheck.Service{Store: e.Store, Instances: e.Instances, Users: users, Notify: func() {}, Log: e.Log, Now: clock.Now,
		Graph: func(inst *storage.Instance, customer string) (driftcheck.Domains, error) {
			return e.Graph(inst, customer)
		}}
	run := &jobstest.Driver{Store: e.Store.Jobs(), Handlers: svc.Handlers(), Now: clock.Now}
	ctx := context.Background()
	users.set(apierr.New(codes.Unavailable, apierr.MicrosoftUnavailable, "Microsoft Graph did not answer."), nil)

	// Check A fails four times, and its lease lapses meanwhile.
	if _, running, err := svc.Get(ctx, e.Request("sync"), tn.ID, true); err != nil || !running {
		t.Fatalf("check A: running %v, %v", running, err)
	}
	for range 4 {
		if r := run.MustNext(t); r.Outcome != jobstest.Retried {
			t.Fatalf("check A's attempt: %v", r)
		}
	}
	clock.Advance(11 * time.Minute)
	// Check B is requested; A's last attempt then fails for good.
	if _, running, err := svc.Get(ctx, e.Request("sync"), tn.ID, true); err != nil || !running {
		t.Fatalf("check B: running %v, %v", running, err)
	}
	if r := run.MustNext(t); r.Outcome != jobstest.Failed || r.Job.Attempt != 5 {
		t.Fatalf("check A's last attempt: %v", r)
	}
	if _, running, err := svc.Get(ctx, e.Request("async"), tn.ID, true); err != nil || !running {
		t.Fatalf("check B's re-send after A failed: running %v, %v (want 202: B has not run)", running, err)
	}
	// B runs and succeeds: its re-send gets the report.
	users.set(nil, nil)
	if r := run.MustNext(t); r.Outcome != jobstest.Done {
		t.Fatalf("check B's job: %v", r)
	}
	if rep, running, err := svc.Get(ctx, e.Request("async"), tn.ID, true); err != nil || running || rep == nil || len(rep.Items) == 0 {
		t.Fatalf("check B's re-send: %+v %v %v", rep, running, err)
	}
}
