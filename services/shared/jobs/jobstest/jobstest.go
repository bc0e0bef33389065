// Package jobstest is the conformance suite of jobs.Store implementations;
// every service's storage suite runs it against its driver.
package jobstest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/storeerr"
)

// Queue is a store under test and the service's ways of writing beside it.
type Queue struct {
	Store jobs.Store
	// Enqueue enqueues job the way the service does: in one transaction with
	// a write of the business row named by job.Key (created if missing).
	Enqueue func(job jobs.New)
	// Write makes one business write of the row named by key with ctx (the
	// row exists: a job with that key was enqueued). The suite checks that
	// it is refused with jobs.ErrLeaseLost once the job claim ctx carries
	// (jobs.WithFence) is no longer current. Nil skips those checks.
	Write func(ctx context.Context, key string) error
}

// kind is the kind the suite's jobs have unless a test says otherwise.
const kind = "k.v1"

var kinds = []string{kind}

// Run runs the queue tests; newQueue returns a fresh, empty store.
func Run(t *testing.T, newQueue func(t *testing.T) Queue) {
	t.Run("JobLifecycle", func(t *testing.T) { testJobLifecycle(t, newQueue(t)) })
	t.Run("JobConcurrentClaims", func(t *testing.T) { testConcurrentClaims(t, newQueue(t)) })
	t.Run("JobFencing", func(t *testing.T) { testFencing(t, newQueue(t)) })
	t.Run("JobKeySerialised", func(t *testing.T) { testKeySerialised(t, newQueue(t)) })
	t.Run("JobKeysUnderContention", func(t *testing.T) { testKeysUnderContention(t, newQueue(t)) })
	t.Run("JobUnknownKindsLeftPending", func(t *testing.T) { testUnknownKinds(t, newQueue(t)) })
	t.Run("JobReleaseGivesAttemptBack", func(t *testing.T) { testRelease(t, newQueue(t)) })
	t.Run("JobPrune", func(t *testing.T) { testPrune(t, newQueue(t)) })
	t.Run("JobFairAcrossGroups", func(t *testing.T) { testFairGroups(t, newQueue(t)) })
	t.Run("JobQueueStats", func(t *testing.T) { testQueueStats(t, newQueue(t)) })
}

// testQueueStats: a store that reports its queue (jobs.QueueReporter)
// counts per kind the due jobs (pending past their run time, and running
// past their lease) with since when the oldest waits, the scheduled ones and
// the running ones; finished jobs count nowhere.
func testQueueStats(t *testing.T, q Queue) {
	rep, ok := q.Store.(jobs.QueueReporter)
	if !ok {
		t.Skip("the store does not report its queue")
	}
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Millisecond)
	at := func(key string, runAt time.Time) {
		q.Enqueue(jobs.New{Kind: kind, Key: key, RunAt: runAt, MaxAttempts: 3})
	}
	if st, err := rep.QueueStats(ctx, t0); err != nil || len(st) != 0 {
		t.Fatalf("empty queue: %+v %v", st, err)
	}
	at("done", t0.Add(-2*time.Hour))
	done := claim(t, q, "w/1", t0, t0.Add(time.Minute))
	if err := q.Store.Complete(ctx, done.ID, done.Fence); err != nil {
		t.Fatal(err)
	}
	at("busy", t0.Add(-10*time.Minute))
	if j := claim(t, q, "w/1", t0, t0.Add(time.Hour)); j.Key != "busy" {
		t.Fatalf("claimed %s, want busy", j.Key)
	}
	at("stale", t0.Add(-time.Hour)) // claimed an hour ago; its lease ended 30 minutes ago
	if j := claim(t, q, "w/2", t0.Add(-59*time.Minute), t0.Add(-30*time.Minute)); j.Key != "stale" {
		t.Fatalf("claimed %s, want stale", j.Key)
	}
	at("due", t0.Add(-time.Minute))
	at("later", t0.Add(time.Hour))
	q.Enqueue(jobs.New{Kind: "k.v2", Key: "other", RunAt: t0.Add(-2 * time.Second), MaxAttempts: 3})

	st, err := rep.QueueStats(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []jobs.KindStats{
		{Kind: kind, Due: 2, Scheduled: 1, Running: 1, OldestDue: t0.Add(-30 * time.Minute)},
		{Kind: "k.v2", Due: 1, OldestDue: t0.Add(-2 * time.Second)},
	}
	if len(st) != len(want) {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	for i := range want {
		if st[i].Kind != want[i].Kind || st[i].Due != want[i].Due || st[i].Scheduled != want[i].Scheduled ||
			st[i].Running != want[i].Running || !st[i].OldestDue.Equal(want[i].OldestDue) {
			t.Errorf("stats of %s: %+v, want %+v", want[i].Kind, st[i], want[i])
		}
	}
}

// One group's backlog does not starve another's jobs: with jobs of group a
// running, a claim takes group b's job before a's next ones, though they are
// older.
func testFairGroups(t *testing.T, q Queue) {
	for i := range 5 {
		q.Enqueue(jobs.New{Kind: kind, Key: fmt.Sprintf("a%d", i), Group: "a", MaxAttempts: 3})
	}
	time.Sleep(5 * time.Millisecond) // b's job is the youngest
	q.Enqueue(jobs.New{Kind: kind, Key: "b0", Group: "b", MaxAttempts: 3})
	now := time.Now()
	first := claim(t, q, "w/1", now, now.Add(time.Minute))
	second := claim(t, q, "w/1", now, now.Add(time.Minute))
	third := claim(t, q, "w/1", now, now.Add(time.Minute))
	if first.Key != "a0" || second.Key != "b0" || third.Key != "a1" {
		t.Fatalf("claims %s, %s, %s; want a0, b0, a1 (fair across groups)", first.Key, second.Key, third.Key)
	}
}

func enqueue(q Queue, key string) { q.Enqueue(jobs.New{Kind: kind, Key: key, MaxAttempts: 3}) }

func claim(t *testing.T, q Queue, owner string, now, until time.Time) *jobs.Job {
	t.Helper()
	j, err := q.Store.Claim(context.Background(), owner, kinds, now, until)
	if err != nil {
		t.Fatalf("claim by %s: %v", owner, err)
	}
	return j
}

func noClaim(t *testing.T, q Queue, kinds []string, now time.Time, why string) {
	t.Helper()
	if j, err := q.Store.Claim(context.Background(), "w/x", kinds, now, now.Add(time.Minute)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("%s: claimed %+v (%v)", why, j, err)
	}
}

func lost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("%s: %v, want ErrLeaseLost", what, err)
	}
}

func testJobLifecycle(t *testing.T, q Queue) {
	ctx, s := context.Background(), q.Store
	enqueue(q, "a")
	t0 := time.Now()
	j := claim(t, q, "w/1", t0, t0.Add(10*time.Second))
	if j.Kind != kind || j.Key != "a" || j.Attempt != 1 || j.MaxAttempts != 3 || j.LastError != "" {
		t.Fatalf("claimed %+v", j)
	}
	noClaim(t, q, kinds, t0.Add(5*time.Second), "leased job claimed twice")
	lost(t, "extend with another fence", s.ExtendLease(ctx, j.ID, j.Fence+1, t0.Add(time.Hour)))
	if err := s.ExtendLease(ctx, j.ID, j.Fence, t0.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	noClaim(t, q, kinds, t0.Add(15*time.Second), "claimed within the extended lease")
	// The worker dies: after the lease another worker gets the job again.
	j2 := claim(t, q, "w/2", t0.Add(21*time.Second), t0.Add(40*time.Second))
	if j2.ID != j.ID || j2.Attempt != 2 || j2.Fence == j.Fence {
		t.Fatalf("expired lease not reclaimed: %+v after %+v", j2, j)
	}
	lost(t, "old claim completes", s.Complete(ctx, j.ID, j.Fence))
	// Snooze gives the attempt back; retry counts it.
	if err := s.Reschedule(ctx, j.ID, j2.Fence, t0.Add(30*time.Second), "429", false); err != nil {
		t.Fatal(err)
	}
	noClaim(t, q, kinds, t0.Add(25*time.Second), "claimed before run_at")
	j3 := claim(t, q, "w/3", t0.Add(31*time.Second), t0.Add(60*time.Second))
	if j3.Attempt != 2 || j3.LastError != "429" {
		t.Fatalf("after snooze: %+v", j3)
	}
	if err := s.Reschedule(ctx, j.ID, j3.Fence, t0.Add(31*time.Second), "boom", true); err != nil {
		t.Fatal(err)
	}
	j4 := claim(t, q, "w/4", t0.Add(32*time.Second), t0.Add(90*time.Second))
	if j4.Attempt != 3 || j4.LastError != "boom" {
		t.Fatalf("after retry: %+v", j4)
	}
	if err := s.Fail(ctx, j.ID, j4.Fence, "final"); err != nil {
		t.Fatal(err)
	}
	noClaim(t, q, kinds, t0.Add(time.Hour), "failed job claimed")
	enqueue(q, "b")
	jb := claim(t, q, "w/5", time.Now(), time.Now().Add(time.Minute))
	if err := s.Complete(ctx, jb.ID, jb.Fence); err != nil {
		t.Fatal(err)
	}
	lost(t, "complete twice", s.Complete(ctx, jb.ID, jb.Fence))
	noClaim(t, q, kinds, time.Now().Add(time.Hour), "done job claimed")
}

func testConcurrentClaims(t *testing.T, q Queue) {
	const n = 20
	for i := range n {
		enqueue(q, fmt.Sprintf("t%d", i))
	}
	seen := claimConcurrently(t, q)
	if len(seen) != n {
		t.Fatalf("claimed %d distinct jobs, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("job %s claimed %d times", id, c)
		}
	}
}

// claimConcurrently claims with 4 workers until nothing is due and counts
// the claims of each job (by key and id).
func claimConcurrently(t *testing.T, q Queue) map[string]int {
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				now := time.Now()
				j, err := q.Store.Claim(context.Background(), fmt.Sprintf("w/%d", w), kinds, now, now.Add(time.Minute))
				if errors.Is(err, jobs.ErrNoJob) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[fmt.Sprintf("%s/%d", j.Key, j.ID)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return seen
}

// testFencing: once a lease has expired and another worker claimed the job,
// the first claim can neither record an outcome nor write business rows.
func testFencing(t *testing.T, q Queue) {
	ctx, s := context.Background(), q.Store
	enqueue(q, "a")
	t0 := time.Now()
	first := claim(t, q, "w/1", t0, t0.Add(10*time.Second))
	firstCtx := jobs.WithFence(ctx, first)
	if q.Write != nil {
		if err := q.Write(firstCtx, "a"); err != nil {
			t.Fatalf("write under a current claim: %v", err)
		}
	}
	second := claim(t, q, "w/2", t0.Add(11*time.Second), t0.Add(40*time.Second))
	if second.ID != first.ID || second.Fence == first.Fence {
		t.Fatalf("second claim %+v after %+v", second, first)
	}
	lost(t, "extend", s.ExtendLease(ctx, first.ID, first.Fence, t0.Add(time.Hour)))
	lost(t, "complete", s.Complete(ctx, first.ID, first.Fence))
	lost(t, "reschedule", s.Reschedule(ctx, first.ID, first.Fence, t0, "x", true))
	lost(t, "snooze", s.Reschedule(ctx, first.ID, first.Fence, t0, "x", false))
	lost(t, "fail", s.Fail(ctx, first.ID, first.Fence, "x"))
	lost(t, "release", s.Release(ctx, first.ID, first.Fence))
	if q.Write != nil {
		lost(t, "business write of the old claim", q.Write(firstCtx, "a"))
		if err := q.Write(jobs.WithFence(ctx, second), "a"); err != nil {
			t.Fatalf("write under the current claim: %v", err)
		}
		if err := q.Write(ctx, "a"); err != nil {
			t.Fatalf("write without a claim: %v", err)
		}
	}
	// The refused calls changed nothing: the second claim still holds.
	if err := s.ExtendLease(ctx, second.ID, second.Fence, t0.Add(50*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, second.ID, second.Fence); err != nil {
		t.Fatal(err)
	}
	if q.Write != nil {
		lost(t, "business write of a finished job", q.Write(jobs.WithFence(ctx, second), "a"))
	}
}

// testKeySerialised: jobs with one key run one at a time.
func testKeySerialised(t *testing.T, q Queue) {
	ctx := context.Background()
	enqueue(q, "a")
	enqueue(q, "a")
	enqueue(q, "b")
	t0 := time.Now()
	a1 := claim(t, q, "w/1", t0, t0.Add(10*time.Second))
	b := claim(t, q, "w/2", t0, t0.Add(10*time.Second))
	if a1.Key != "a" || b.Key != "b" {
		t.Fatalf("claimed %q then %q, want a then b", a1.Key, b.Key)
	}
	noClaim(t, q, kinds, t0.Add(time.Second), "second job of a key claimed while the first runs")
	if err := q.Store.Complete(ctx, a1.ID, a1.Fence); err != nil {
		t.Fatal(err)
	}
	a2 := claim(t, q, "w/3", t0.Add(time.Second), t0.Add(10*time.Second))
	if a2.Key != "a" || a2.ID == a1.ID {
		t.Fatalf("after the first job of a: %+v", a2)
	}
	// Concurrent claimers take one job per key.
	for range 3 {
		enqueue(q, "c")
		enqueue(q, "d")
	}
	if err := q.Store.Complete(ctx, a2.ID, a2.Fence); err != nil {
		t.Fatal(err)
	}
	if err := q.Store.Complete(ctx, b.ID, b.Fence); err != nil {
		t.Fatal(err)
	}
	seen := claimConcurrently(t, q)
	keys := map[string]bool{}
	for k := range seen {
		keys[k[:1]] = true
	}
	if len(seen) != 2 || !keys["c"] || !keys["d"] {
		t.Fatalf("concurrent claims took %v, want one job of c and one of d", seen)
	}
}

// testKeysUnderContention: workers that claim and complete as fast as they
// can (on several connections, where the store has them) never hold two
// jobs of one key at once, and take every job exactly once.
func testKeysUnderContention(t *testing.T, q Queue) {
	const keys, perKey, workers = 4, 10, 6
	for range perKey {
		for k := range keys {
			enqueue(q, fmt.Sprintf("k%d", k))
		}
	}
	ctx := context.Background()
	var mu sync.Mutex
	running := map[string]int64{} // key -> job id
	done := map[int64]bool{}
	finished := func() bool { mu.Lock(); defer mu.Unlock(); return len(done) == keys*perKey }
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("w/%d", w)
			for !finished() && time.Now().Before(deadline) {
				now := time.Now()
				j, err := q.Store.Claim(ctx, owner, kinds, now, now.Add(time.Minute))
				if errors.Is(err, jobs.ErrNoJob) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if other, ok := running[j.Key]; ok {
					t.Errorf("job %d of key %s claimed while job %d of the key runs", j.ID, j.Key, other)
				}
				if done[j.ID] {
					t.Errorf("job %d claimed again after it completed", j.ID)
				}
				running[j.Key] = j.ID
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
				// Forgotten before Complete: until Complete commits, the
				// store must not hand out another job of the key anyway.
				mu.Lock()
				delete(running, j.Key)
				done[j.ID] = true
				mu.Unlock()
				if err := q.Store.Complete(ctx, j.ID, j.Fence); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if !finished() {
		t.Fatalf("%d of %d jobs done within a minute", len(done), keys*perKey)
	}
}

// testUnknownKinds: a job of a kind the claimer does not know stays pending
// and untouched for a replica that knows it.
func testUnknownKinds(t *testing.T, q Queue) {
	q.Enqueue(jobs.New{Kind: "k.v2", Key: "a", MaxAttempts: 3})
	now := time.Now()
	for i := range 3 {
		noClaim(t, q, kinds, now.Add(time.Duration(i)*time.Hour), "job of an unknown kind claimed")
	}
	noClaim(t, q, nil, now, "claimed with no kinds")
	j, err := q.Store.Claim(context.Background(), "w/new", []string{kind, "k.v2"}, now, now.Add(time.Minute))
	if err != nil || j.Kind != "k.v2" || j.Attempt != 1 || j.LastError != "" {
		t.Fatalf("claim by a replica that knows the kind: %+v %v", j, err)
	}
}

// testRelease: a released job is due again at once, with its attempt back.
func testRelease(t *testing.T, q Queue) {
	ctx, s := context.Background(), q.Store
	enqueue(q, "a")
	t0 := time.Now()
	j := claim(t, q, "w/1", t0, t0.Add(time.Hour))
	if err := s.Release(ctx, j.ID, j.Fence); err != nil {
		t.Fatal(err)
	}
	lost(t, "release twice", s.Release(ctx, j.ID, j.Fence))
	lost(t, "complete after release", s.Complete(ctx, j.ID, j.Fence))
	j2 := claim(t, q, "w/2", t0, t0.Add(time.Minute))
	if j2.ID != j.ID || j2.Attempt != 1 || j2.Fence == j.Fence {
		t.Fatalf("after release: %+v (was %+v)", j2, j)
	}
}

// testPrune: only done and failed jobs finished before the cut-off go.
func testPrune(t *testing.T, q Queue) {
	ctx, s := context.Background(), q.Store
	for _, k := range []string{"done", "failed", "pending", "running"} {
		enqueue(q, k)
	}
	now := time.Now()
	claimed := map[string]*jobs.Job{}
	for range 4 {
		j := claim(t, q, "w/1", now, now.Add(time.Hour))
		claimed[j.Key] = j
	}
	if err := s.Complete(ctx, claimed["done"].ID, claimed["done"].Fence); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, claimed["failed"].ID, claimed["failed"].Fence, "x"); err != nil {
		t.Fatal(err)
	}
	p := claimed["pending"]
	if err := s.Reschedule(ctx, p.ID, p.Fence, now, "x", true); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, time.Now().Add(-time.Minute)); err != nil || n != 0 {
		t.Fatalf("pruned %d jobs finished after the cut-off (%v)", n, err)
	}
	if n, err := s.Prune(ctx, time.Now().Add(time.Second)); err != nil || n != 2 {
		t.Fatalf("pruned %d jobs, want 2 (%v)", n, err)
	}
	if n, err := s.Prune(ctx, time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("pruned %d more (%v)", n, err)
	}
	if j := claim(t, q, "w/2", now, now.Add(time.Minute)); j.ID != p.ID {
		t.Fatalf("pending job gone: claimed %+v", j)
	}
	r := claimed["running"]
	if err := s.Complete(ctx, r.ID, r.Fence); err != nil {
		t.Fatalf("running job gone: %v", err)
	}
}

// Rows is what QueueOn needs of a service's store for one row type: the
// store's queue and its reads and writes of the row a job's key names.
type Rows[T any] struct {
	Jobs   jobs.Store
	Get    func(ctx context.Context, key string) (*T, error)
	Create func(ctx context.Context, v *T, job *jobs.New) error
	Update func(ctx context.Context, v *T, job *jobs.New) error
	// New is a fresh row with the key as its id.
	New func(key string) *T
}

// QueueOn is the suite's Queue over a store's rows: Enqueue writes the row
// named by the job's key (creating it) in one transaction with the job;
// Write updates that row.
func QueueOn[T any](t *testing.T, r Rows[T]) Queue {
	return Queue{
		Store: r.Jobs,
		Enqueue: func(j jobs.New) {
			t.Helper()
			ctx := context.Background()
			v, err := r.Get(ctx, j.Key)
			switch {
			case errors.Is(err, storeerr.ErrNotFound):
				err = r.Create(ctx, r.New(j.Key), &j)
			case err == nil:
				err = r.Update(ctx, v, &j)
			}
			if err != nil {
				t.Fatal(err)
			}
		},
		Write: func(ctx context.Context, key string) error {
			v, err := r.Get(ctx, key)
			if err != nil {
				return err
			}
			return r.Update(ctx, v, nil)
		},
	}
}
