// Package jobstest is the conformance suite of jobs.Store implementations;
// every service's storage suite runs it against its driver.
package jobstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
)

// Run runs the queue tests; newQueue returns a fresh store and a function
// that enqueues one job (kind "k", max 3 attempts) with the given key the
// way the service does (in a transaction with a business row).
func Run(t *testing.T, newQueue func(t *testing.T) (jobs.Store, func(key string))) {
	t.Run("JobLifecycle", func(t *testing.T) { q, enq := newQueue(t); testJobLifecycle(t, q, enq) })
	t.Run("JobConcurrentClaims", func(t *testing.T) { q, enq := newQueue(t); testConcurrentClaims(t, q, enq) })
}

func testJobLifecycle(t *testing.T, q jobs.Store, enqueue func(string)) {
	ctx := context.Background()
	enqueue("a")
	t0 := time.Now()
	j, err := q.Claim(ctx, "w/1", t0, t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx, "w/2", t0.Add(5*time.Second), t0.Add(15*time.Second)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("leased job claimed twice: %v", err)
	}
	if err := q.ExtendLease(ctx, j.ID, "w/2", t0.Add(time.Hour)); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("foreign extend: %v", err)
	}
	if err := q.ExtendLease(ctx, j.ID, "w/1", t0.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	// The worker dies: after the lease another worker gets the job again.
	j2, err := q.Claim(ctx, "w/2", t0.Add(21*time.Second), t0.Add(40*time.Second))
	if err != nil || j2.ID != j.ID || j2.Attempt != 2 {
		t.Fatalf("expired lease not reclaimed: %+v %v", j2, err)
	}
	if err := q.Complete(ctx, j.ID, "w/1"); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("old owner completed: %v", err)
	}
	// Snooze gives the attempt back; retry counts it.
	if err := q.Reschedule(ctx, j.ID, "w/2", t0.Add(30*time.Second), "429", false); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx, "w/3", t0.Add(25*time.Second), t0.Add(60*time.Second)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("claimed before run_at: %v", err)
	}
	j3, err := q.Claim(ctx, "w/3", t0.Add(31*time.Second), t0.Add(60*time.Second))
	if err != nil || j3.Attempt != 2 || j3.LastError != "429" {
		t.Fatalf("after snooze: %+v %v", j3, err)
	}
	if err := q.Reschedule(ctx, j.ID, "w/3", t0.Add(31*time.Second), "boom", true); err != nil {
		t.Fatal(err)
	}
	j4, _ := q.Claim(ctx, "host/9", t0.Add(32*time.Second), t0.Add(90*time.Second))
	if j4 == nil || j4.Attempt != 3 {
		t.Fatalf("after retry: %+v", j4)
	}
	// A restarted replica releases what its previous life held.
	if n, err := q.ReleaseOwnedBy(ctx, "other/"); err != nil || n != 0 {
		t.Fatalf("released foreign jobs: %d %v", n, err)
	}
	if n, err := q.ReleaseOwnedBy(ctx, "host/"); err != nil || n != 1 {
		t.Fatalf("release: %d %v", n, err)
	}
	j5, err := q.Claim(ctx, "host/10", t0.Add(33*time.Second), t0.Add(90*time.Second))
	if err != nil || j5.ID != j.ID {
		t.Fatalf("released job not claimable: %v", err)
	}
	if err := q.Fail(ctx, j.ID, "host/10", "final"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx, "w/4", t0.Add(time.Hour), t0.Add(2*time.Hour)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("failed job claimed: %v", err)
	}
	enqueue("b")
	jb, _ := q.Claim(ctx, "w/5", time.Now(), time.Now().Add(time.Minute))
	if err := q.Complete(ctx, jb.ID, "w/5"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx, "w/6", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("done job claimed: %v", err)
	}
}

func testConcurrentClaims(t *testing.T, q jobs.Store, enqueue func(string)) {
	ctx := context.Background()
	const n = 20
	for i := range n {
		enqueue(fmt.Sprintf("t%d", i))
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				now := time.Now()
				j, err := q.Claim(ctx, fmt.Sprintf("w/%d", w), now, now.Add(time.Minute))
				if errors.Is(err, jobs.ErrNoJob) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[j.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d distinct jobs, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("job %d claimed %d times", id, c)
		}
	}
}
