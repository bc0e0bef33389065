package lifecycle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/lifecycle/lifecycletest"
)

type thing struct {
	ID, Inst string
	Version  int64
	Op       lifecycle.Op
	Want     int
	MSID     string
	State    string
}

type fixture struct {
	m     *lifecycle.Machine[thing]
	store *lifecycletest.Store[thing]
	now   time.Time
	h     map[string]jobs.Handler
}

func newFixture(t *testing.T, work map[string]lifecycle.Work[thing]) *fixture {
	f := &fixture{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	f.store = lifecycletest.NewStore(func(v *thing) (string, string, *int64) { return v.Inst, v.ID, &v.Version })
	f.m = &lifecycle.Machine[thing]{Name: "thing", Store: f.store,
		Op:       func(v *thing) *lifecycle.Op { return &v.Op },
		Ref:      func(v *thing) (string, string) { return v.Inst, v.ID },
		Describe: func(op string, v *thing) string { return op + " " + v.ID },
		OnFail: func(op string, v *thing) {
			if op == lifecycle.Provision {
				v.State = "failed"
			}
		},
		Now: func() time.Time { return f.now }}
	f.h = f.m.Handlers(work)
	return f
}

// runJobs runs every committed job once through its handler as the runner
// would (Failed after a permanent error), returning the last Run error.
func (f *fixture) runJobs(t *testing.T) error {
	t.Helper()
	var last error
	for _, n := range f.store.TakeJobs() {
		h, ok := f.h[n.Kind]
		if !ok {
			t.Fatalf("no handler for %s", n.Kind)
		}
		job := &jobs.Job{ID: 1, Kind: n.Kind, Key: n.Key, Payload: n.Payload, Attempt: 1, MaxAttempts: 3}
		last = h.Run(context.Background(), job)
		if last != nil && jobs.IsPermanent(last) && h.Failed != nil {
			if err := h.Failed(context.Background(), job, last); err != nil {
				t.Fatalf("failed handler: %v", err)
			}
		}
	}
	return last
}

func (f *fixture) get(t *testing.T) *thing {
	t.Helper()
	v, err := f.store.Get(context.Background(), "i", "x")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) create(t *testing.T) *thing {
	v := &thing{ID: "x", Inst: "i", Want: 10}
	f.m.Prepare(v, lifecycle.Provision)
	if err := f.store.Create(context.Background(), v, f.m.Job(v)); err != nil {
		t.Fatal(err)
	}
	return v
}

// A refused step gets a fresh request id on the re-run; a step whose
// outcome is unknown keeps its id and is read back first; a done step is
// not repeated.
func TestRerunRequestIDs(t *testing.T) {
	ctx := context.Background()
	var ids []string
	refuse, ambiguous := true, false
	readBacks, secondCalls := 0, 0
	var f *fixture
	f = newFixture(t, map[string]lifecycle.Work[thing]{
		lifecycle.Provision: func(ctx context.Context, v *thing) (func(*thing), error) {
			if err := f.m.Do(ctx, v, lifecycle.Effect[thing]{Step: "create",
				Call: func(ctx context.Context, v *thing, id string) (func(*thing), error) {
					ids = append(ids, id)
					if refuse {
						return nil, jobs.Permanent(apierr.New(codes.FailedPrecondition, apierr.InvalidAddress, "bad address"))
					}
					return func(v *thing) { v.MSID = "ms-1" }, nil
				}}); err != nil {
				return nil, err
			}
			return nil, f.m.Do(ctx, v, lifecycle.Effect[thing]{Step: "second",
				ReadBack: func(ctx context.Context, v *thing) (func(*thing), error) {
					readBacks++
					return nil, nil
				},
				Call: func(ctx context.Context, v *thing, id string) (func(*thing), error) {
					secondCalls++
					ids = append(ids, "second:"+id)
					if ambiguous {
						return nil, errors.New("timeout")
					}
					return nil, nil
				}})
		},
	})
	f.create(t)
	if err := f.runJobs(t); !jobs.IsPermanent(err) {
		t.Fatalf("want a permanent refusal, got %v", err)
	}
	v := f.get(t)
	if !v.Op.Is(lifecycle.Provision, lifecycle.Failed) || v.Op.FailureReason != apierr.InvalidAddress || v.State != "failed" {
		t.Fatalf("after refusal: %+v", v.Op)
	}
	// The async re-send answers 500 with the reason; the sync re-run starts a new attempt.
	if _, _, err := f.m.Resend(v, lifecycle.Provision, true); apierr.From(err).Reason != apierr.InvalidAddress || !apierr.From(err).JobFailed {
		t.Fatalf("async re-send of a failure: %v", err)
	}
	if _, d, _ := f.m.Resend(v, lifecycle.Provision, false); d != lifecycle.Rerun {
		t.Fatalf("sync re-send of a failure: decision %v", d)
	}
	refuse, ambiguous = false, true
	if _, err := f.m.Start(ctx, v, lifecycle.Provision, false); err != nil {
		t.Fatal(err)
	}
	if err := f.runJobs(t); err == nil || jobs.IsPermanent(err) {
		t.Fatalf("want a transient error, got %v", err)
	}
	if ids[0] == ids[1] {
		t.Fatalf("a refused step kept its request id: %v", ids)
	}
	// Attempts run out on the ambiguous step; the operator re-runs.
	v = f.get(t)
	if err := f.m.Mutate(ctx, v, func(v *thing) error { v.Op.State = lifecycle.Failed; return nil }); err != nil {
		t.Fatal(err)
	}
	ambiguous = false
	if _, err := f.m.Start(ctx, v, lifecycle.Provision, false); err != nil {
		t.Fatal(err)
	}
	if err := f.runJobs(t); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 4 || ids[2] != ids[3] {
		t.Fatalf("the step of unknown outcome must keep its id: %v", ids)
	}
	if readBacks != 1 || secondCalls != 2 {
		t.Fatalf("read-backs %d, second calls %d", readBacks, secondCalls)
	}
	v = f.get(t)
	if !v.Op.Is(lifecycle.Provision, lifecycle.Done) || v.MSID != "ms-1" || v.Op.Applied != v.Op.Generation {
		t.Fatalf("after the re-run: %+v", v)
	}
}

// A step found by read-back is recorded without calling again.
func TestReadBackAdopts(t *testing.T) {
	calls := 0
	var f *fixture
	f = newFixture(t, map[string]lifecycle.Work[thing]{
		lifecycle.Provision: func(ctx context.Context, v *thing) (func(*thing), error) {
			return nil, f.m.Do(ctx, v, lifecycle.Effect[thing]{Step: "create",
				ReadBack: func(ctx context.Context, v *thing) (func(*thing), error) {
					return func(v *thing) { v.MSID = "found" }, nil
				},
				Call: func(ctx context.Context, v *thing, id string) (func(*thing), error) {
					calls++
					return nil, errors.New("connection reset")
				}})
		},
	})
	f.create(t)
	pending := f.store.TakeJobs()
	job := &jobs.Job{Kind: pending[0].Kind, Payload: pending[0].Payload, Attempt: 1}
	if err := f.h[job.Kind].Run(context.Background(), job); err == nil || jobs.IsPermanent(err) {
		t.Fatalf("want the transient error, got %v", err)
	}
	// The runner retries the same job.
	job.Attempt = 2
	if err := f.h[job.Kind].Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	v := f.get(t)
	if !v.Op.Is(lifecycle.Provision, lifecycle.Done) {
		t.Fatalf("not done: %+v", v.Op)
	}
	if v.MSID != "found" || calls != 1 || v.Op.StepState("create") != lifecycle.StepDone {
		t.Fatalf("read-back: %+v calls %d", v, calls)
	}
}

// The secret is revealed by the completing answer and its re-sends for 24
// hours, never by a read, then erased by its job.
func TestSecretRevealWindow(t *testing.T) {
	var f *fixture
	f = newFixture(t, map[string]lifecycle.Work[thing]{
		lifecycle.Provision: func(ctx context.Context, v *thing) (func(*thing), error) {
			return func(v *thing) { f.m.SetSecret(v, "sealed-pw") }, nil
		},
	})
	f.create(t)
	v := f.get(t)
	if a, d, _ := f.m.Resend(v, lifecycle.Provision, true); d != lifecycle.Answered || !a.Running() || a.Status() != "aps:provisioning" || a.Secret != "" {
		t.Fatalf("while running: %+v", a)
	}
	if err := f.runJobs(t); err != nil {
		t.Fatal(err)
	}
	v = f.get(t)
	if a := f.m.View(v); a.Secret != "" || a.Status() != "aps:ready" {
		t.Fatalf("a read revealed the secret: %+v", a)
	}
	for range 2 { // the completing answer, then a re-send of it
		a, _, _ := f.m.Resend(v, lifecycle.Provision, true)
		if a.Secret != "sealed-pw" || a.Running() {
			t.Fatalf("completing answer: %+v", a)
		}
	}
	pending := f.store.Jobs()
	if len(pending) != 1 || !pending[0].RunAt.Equal(f.now.Add(lifecycle.RevealFor)) {
		t.Fatalf("erase job: %+v", pending)
	}
	f.now = f.now.Add(lifecycle.RevealFor + time.Minute)
	if a, _, _ := f.m.Resend(v, lifecycle.Provision, true); a.Secret != "" {
		t.Fatal("revealed after the window")
	}
	if err := f.runJobs(t); err != nil {
		t.Fatal(err)
	}
	if v = f.get(t); v.Op.Secret != "" || v.Op.RevealUntil != nil {
		t.Fatalf("secret not erased: %+v", v.Op)
	}
}

// Desired and applied state are apart: a failed configure leaves the
// resource unsettled, so an identical request still has work to do.
func TestConfigureFailureLeavesWork(t *testing.T) {
	ctx := context.Background()
	fail := true
	var f *fixture
	f = newFixture(t, map[string]lifecycle.Work[thing]{
		lifecycle.Provision: func(ctx context.Context, v *thing) (func(*thing), error) { return nil, nil },
		lifecycle.Configure: func(ctx context.Context, v *thing) (func(*thing), error) {
			if fail {
				return nil, jobs.Permanent(apierr.New(codes.FailedPrecondition, apierr.MicrosoftRefused, "no"))
			}
			return nil, nil
		},
	})
	f.create(t)
	if err := f.runJobs(t); err != nil {
		t.Fatal(err)
	}
	v := f.get(t)
	if !v.Op.Settled() {
		t.Fatalf("provisioned resource not settled: %+v", v.Op)
	}
	v.Want = 15
	if _, err := f.m.Start(ctx, v, lifecycle.Configure, true); err != nil {
		t.Fatal(err)
	}
	if f.m.Busy(v) == nil {
		t.Fatal("a running attempt must make the resource busy")
	}
	_ = f.runJobs(t)
	v = f.get(t)
	if v.Op.Settled() || v.Want != 15 || v.Op.Applied >= v.Op.Generation {
		t.Fatalf("a failed configure looks applied: %+v", v.Op)
	}
	fail = false
	if _, d, _ := f.m.Resend(v, lifecycle.Configure, false); d != lifecycle.Rerun {
		t.Fatal("the re-sent configure must re-run")
	}
	if _, err := f.m.Start(ctx, v, lifecycle.Configure, false); err != nil {
		t.Fatal(err)
	}
	if err := f.runJobs(t); err != nil {
		t.Fatal(err)
	}
	if v = f.get(t); !v.Op.Settled() {
		t.Fatalf("not settled after the re-run: %+v", v.Op)
	}
}

// A job whose attempt was superseded does nothing and records nothing.
func TestSupersededJobIsQuiet(t *testing.T) {
	ran := 0
	var f *fixture
	f = newFixture(t, map[string]lifecycle.Work[thing]{
		lifecycle.Provision: func(ctx context.Context, v *thing) (func(*thing), error) { ran++; return nil, nil },
		lifecycle.Unprovision: func(ctx context.Context, v *thing) (func(*thing), error) {
			return nil, nil
		},
	})
	v := f.create(t)
	old := f.store.TakeJobs()
	if _, err := f.m.Start(context.Background(), v, lifecycle.Unprovision, false); err != nil {
		t.Fatal(err)
	}
	job := &jobs.Job{Kind: old[0].Kind, Payload: old[0].Payload, Attempt: 1}
	if err := f.h[old[0].Kind].Run(context.Background(), job); err != nil || ran != 0 {
		t.Fatalf("superseded job ran: %v %d", err, ran)
	}
	if err := f.h[old[0].Kind].Failed(context.Background(), job, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	if v = f.get(t); v.Op.Name != lifecycle.Unprovision || v.Op.State != lifecycle.Running {
		t.Fatalf("superseded job changed the state: %+v", v.Op)
	}
	if err := f.runJobs(t); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Get(context.Background(), "i", "x"); err == nil {
		t.Fatal("a finished unprovision keeps the resource")
	}
}

func TestClassify(t *testing.T) {
	if e := lifecycle.Classify(errors.New("dial tcp: refused"), 25); e.Reason != apierr.MicrosoftUnavailable || e.Code != codes.Unavailable {
		t.Fatalf("transient: %+v", e)
	}
	if e := lifecycle.Classify(jobs.Permanent(apierr.New(codes.AlreadyExists, apierr.DomainAlreadyTaken, "taken")), 1); e.Reason != apierr.DomainAlreadyTaken {
		t.Fatalf("refusal: %+v", e)
	}
	if e := lifecycle.Classify(jobs.Permanent(errors.New("secret=abc")), 1); e.Reason != apierr.Internal || e.Message == "" ||
		containsString(e.Message, "abc") {
		t.Fatalf("internal: %+v", e)
	}
}

func containsString(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// Begin loads, answers re-sends and refuses busy resources in one order for
// every operation.
func TestBegin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, map[string]lifecycle.Work[thing]{})
	id := "7a1e0c52-2222-4000-8000-00000000abcd"
	if v, _, d, err := f.m.Begin(ctx, "i", id, lifecycle.Provision, false); v != nil || d != lifecycle.Proceed || err != nil {
		t.Fatalf("provision of a new id: %v %v %v", v, d, err)
	}
	if v, a, d, err := f.m.Begin(ctx, "i", id, lifecycle.Unprovision, false); v != nil || a != nil || d != lifecycle.Answered || err != nil {
		t.Fatalf("unprovision of an unknown id must be done: %v %v %v", v, d, err)
	}
	if _, _, d, err := f.m.Begin(ctx, "i", id, lifecycle.Configure, false); d != lifecycle.Answered || apierr.From(err).Reason != apierr.NotFound {
		t.Fatalf("configure of an unknown id: %v %v", d, err)
	}
	if _, _, _, err := f.m.Begin(ctx, "i", "not-a-uuid", lifecycle.Provision, false); apierr.From(err).Reason != apierr.InvalidRequest {
		t.Fatalf("bad id: %v", err)
	}
	v := &thing{ID: id, Inst: "i"}
	f.m.Prepare(v, lifecycle.Provision)
	if err := f.store.Create(ctx, v, f.m.Job(v)); err != nil {
		t.Fatal(err)
	}
	if _, a, d, _ := f.m.Begin(ctx, "i", id, lifecycle.Provision, false); d != lifecycle.Answered || !a.Running() {
		t.Fatalf("re-sent provision while running: %v %+v", d, a)
	}
	// Two first calls at once: the one whose insert found the id taken
	// answers as the other's re-send; an id held by another instance's
	// resource is a conflict.
	if a, err := f.m.Raced(ctx, "i", id); err != nil || a == nil || !a.Running() {
		t.Fatalf("the provision that lost the insert: %+v %v", a, err)
	}
	if _, err := f.m.Raced(ctx, "j", id); apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("an id taken in another instance: %v", err)
	}
	if _, _, d, err := f.m.Begin(ctx, "i", id, lifecycle.Configure, false); d != lifecycle.Answered || apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("configure while provisioning: %v %v", d, err)
	}
	if got, _, d, err := f.m.Begin(ctx, "i", id, lifecycle.Unprovision, false); got == nil || d != lifecycle.Proceed || err != nil {
		t.Fatalf("unprovision while provisioning must proceed (supersede): %v %v", d, err)
	}
}

// Finished is told of a completed attempt with its steps' request ids, and
// of a failure with the platform's reason.
func TestFinishedReportsOutcomes(t *testing.T) {
	refuse := true
	var f *fixture
	f = newFixture(t, map[string]lifecycle.Work[thing]{
		lifecycle.Provision: func(ctx context.Context, v *thing) (func(*thing), error) {
			return nil, f.m.Do(ctx, v, lifecycle.Effect[thing]{Step: "create",
				Call: func(ctx context.Context, v *thing, id string) (func(*thing), error) {
					if refuse {
						return nil, jobs.Permanent(apierr.New(codes.FailedPrecondition, apierr.InvalidAddress, "bad address"))
					}
					return nil, nil
				}})
		},
	})
	var got []lifecycle.Finish
	f.m.Finished = func(ctx context.Context, fin lifecycle.Finish) { got = append(got, fin) }
	f.create(t)
	_ = f.runJobs(t)
	if len(got) != 1 || got[0].Err == nil || got[0].Err.Reason != apierr.InvalidAddress || got[0].JobKind != "thing.provision.v2" ||
		got[0].ID != "x" || got[0].InstanceID != "i" || got[0].Attempt != 1 {
		t.Fatalf("failure reported as %+v", got)
	}
	refuse = false
	v := f.get(t)
	f.m.Prepare(v, lifecycle.Provision)
	if err := f.store.Update(context.Background(), v, f.m.Job(v)); err != nil {
		t.Fatal(err)
	}
	if err := f.runJobs(t); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Err != nil || got[1].Attempt != 2 || got[1].Steps["create"].RequestID == "" {
		t.Fatalf("completion reported as %+v", got[1:])
	}
}
