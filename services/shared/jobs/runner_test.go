package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store for runner tests.
type memStore struct {
	mu     sync.Mutex
	jobs   map[int64]*memJob
	owners []string    // owner of every Claim call
	prunes []time.Time // cut-off of every Prune call
}

type memJob struct {
	Job
	state    string
	owner    string
	until    time.Time
	finished time.Time
}

func newMemStore() *memStore { return &memStore{jobs: map[int64]*memJob{}} }

func (m *memStore) add(kind string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := int64(len(m.jobs) + 1)
	m.jobs[id] = &memJob{Job: Job{ID: id, Kind: kind, Key: fmt.Sprint("key-", id), MaxAttempts: 3, RunAt: time.Now()}, state: "pending"}
	return id
}

func (m *memStore) get(id int64) memJob {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.jobs[id]
}

// steal claims a running job for another worker, as a store does once the
// lease has expired.
func (m *memStore) steal(id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	j.owner, j.until = "thief", time.Now().Add(time.Hour)
	j.Attempt++
	j.Fence++
}

func (m *memStore) Claim(_ context.Context, owner string, kinds []string, now, until time.Time) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owners = append(m.owners, owner)
	ids := make([]int64, 0, len(m.jobs))
	for id := range m.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	busy := map[string]bool{}
	for _, j := range m.jobs {
		if j.state == "running" && !j.until.Before(now) {
			busy[j.Key] = true
		}
	}
	for _, id := range ids {
		j := m.jobs[id]
		due := (j.state == "pending" && !j.RunAt.After(now)) || (j.state == "running" && j.until.Before(now))
		if !due || !slices.Contains(kinds, j.Kind) || busy[j.Key] {
			continue
		}
		j.state, j.owner, j.until = "running", owner, until
		j.Attempt++
		j.Fence++
		c := j.Job
		return &c, nil
	}
	return nil, ErrNoJob
}

func (m *memStore) held(id, fence int64) (*memJob, error) {
	j := m.jobs[id]
	if j == nil || j.state != "running" || j.Fence != fence {
		return nil, ErrLeaseLost
	}
	return j, nil
}

// write is a business write made with ctx: refused once its claim is lost.
func (m *memStore) write(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, fence, ok := FenceFrom(ctx); ok {
		if _, err := m.held(id, fence); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) ExtendLease(_ context.Context, id, fence int64, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, fence)
	if err == nil {
		j.until = until
	}
	return err
}

func (m *memStore) Complete(_ context.Context, id, fence int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, fence)
	if err == nil {
		j.state, j.finished = "done", time.Now()
	}
	return err
}

func (m *memStore) Reschedule(_ context.Context, id, fence int64, runAt time.Time, lastErr string, count bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, fence)
	if err == nil {
		j.state, j.RunAt, j.LastError = "pending", runAt, lastErr
		if !count {
			j.Attempt--
		}
	}
	return err
}

func (m *memStore) Fail(_ context.Context, id, fence int64, lastErr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, fence)
	if err == nil {
		j.state, j.LastError, j.finished = "failed", lastErr, time.Now()
	}
	return err
}

func (m *memStore) Release(_ context.Context, id, fence int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, fence)
	if err == nil {
		j.state = "pending"
		j.Attempt--
	}
	return err
}

func (m *memStore) Prune(_ context.Context, before time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prunes = append(m.prunes, before)
	n := 0
	for id, j := range m.jobs {
		if (j.state == "done" || j.state == "failed") && j.finished.Before(before) {
			delete(m.jobs, id)
			n++
		}
	}
	return n, nil
}

func newRunner(store Store, handlers map[string]Handler) *Runner {
	r := &Runner{Store: store, Owner: "w", Workers: 2, Poll: 5 * time.Millisecond, Lease: 3 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Backoff: func(int) time.Duration { return time.Millisecond }}
	for k, h := range handlers {
		r.Register(k, h)
	}
	return r
}

// start runs r until the returned stop function is called; stop returns
// how long Run took to return after its context was cancelled.
func start(t *testing.T, r *Runner) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		if err := r.Run(ctx); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			t0 := time.Now()
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return")
			}
			took = time.Since(t0)
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func run(t *testing.T, store *memStore, handlers map[string]Handler, until func() bool) {
	t.Helper()
	stop := start(t, newRunner(store, handlers))
	waitFor(t, "the runner reached the expected state", until)
	stop()
}

func TestRunnerOutcomes(t *testing.T) {
	store := newMemStore()
	ok := store.add("ok")
	flaky := store.add("flaky")
	perm := store.add("perm")
	exhaust := store.add("exhaust")
	panics := store.add("panic")
	snooze := store.add("snooze")
	unknown := store.add("unknown.v2")
	var mu sync.Mutex
	failed := map[int64]error{}
	flakyRuns, snoozes := 0, 0
	onFail := func(_ context.Context, j *Job, err error) error {
		mu.Lock()
		failed[j.ID] = err
		mu.Unlock()
		return nil
	}
	handlers := map[string]Handler{
		"ok": {Run: func(context.Context, *Job) error { return nil }},
		"flaky": {Run: func(context.Context, *Job) error {
			mu.Lock()
			defer mu.Unlock()
			flakyRuns++
			if flakyRuns < 2 {
				return errors.New("transient")
			}
			return nil
		}},
		"perm":    {Run: func(context.Context, *Job) error { return Permanent(errors.New("refused")) }, Failed: onFail},
		"exhaust": {Run: func(context.Context, *Job) error { return errors.New("always") }, Failed: onFail},
		"panic":   {Run: func(context.Context, *Job) error { panic("boom") }, Failed: onFail},
		"snooze": {Run: func(context.Context, *Job) error {
			mu.Lock()
			defer mu.Unlock()
			snoozes++
			if snoozes < 5 {
				return Snooze(time.Millisecond, errors.New("429"))
			}
			return nil
		}},
	}
	run(t, store, handlers, func() bool {
		for _, id := range []int64{ok, flaky, snooze} {
			if store.get(id).state != "done" {
				return false
			}
		}
		for _, id := range []int64{perm, exhaust, panics} {
			if store.get(id).state != "failed" {
				return false
			}
		}
		return true
	})
	if a := store.get(exhaust).Attempt; a != 3 {
		t.Fatalf("exhausted after %d attempts, want 3", a)
	}
	if a := store.get(perm).Attempt; a != 1 {
		t.Fatalf("permanent failure retried: %d attempts", a)
	}
	if a := store.get(snooze).Attempt; a != 1 {
		t.Fatalf("snoozes counted as attempts: %d", a)
	}
	// A kind without handler is left for a replica that knows it.
	if j := store.get(unknown); j.state != "pending" || j.Attempt != 0 {
		t.Fatalf("unknown kind touched: %s, %d attempts", j.state, j.Attempt)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 3 || !strings.Contains(failed[panics].Error(), "panicked") {
		t.Fatalf("failure hooks: %v", failed)
	}
}

func TestRunnerGivesUpAfterMaxAttempts(t *testing.T) {
	store := newMemStore()
	id := store.add("crash")
	// Claimed three times (MaxAttempts) and never finished: each attempt
	// took the process down, and the last lease has expired.
	j := store.jobs[id]
	j.state, j.owner, j.until, j.Attempt, j.LastError = "running", "dead/1", time.Now().Add(-time.Second), 3, "earlier error"
	var mu sync.Mutex
	runs := 0
	var cause error
	run(t, store, map[string]Handler{"crash": {
		Run: func(context.Context, *Job) error {
			mu.Lock()
			runs++
			mu.Unlock()
			return nil
		},
		Failed: func(_ context.Context, _ *Job, err error) error {
			mu.Lock()
			cause = err
			mu.Unlock()
			return nil
		}}}, func() bool { return store.get(id).state == "failed" })
	mu.Lock()
	defer mu.Unlock()
	if runs != 0 {
		t.Fatalf("a job past its attempts ran again (%d runs)", runs)
	}
	if !errors.Is(cause, ErrGaveUp) || !strings.Contains(cause.Error(), "after 3 attempts") ||
		!strings.Contains(cause.Error(), "process stopped") || !strings.Contains(cause.Error(), "earlier error") {
		t.Fatalf("Failed got %v", cause)
	}
	if got := store.get(id); got.Attempt != 4 || !strings.Contains(got.LastError, "gave up") {
		t.Fatalf("job %+v", got)
	}
}

func TestRunnerFailedHandlerThatKeepsFailingEnds(t *testing.T) {
	store := newMemStore()
	id := store.add("k")
	var mu sync.Mutex
	runs, fails := 0, 0
	r := newRunner(store, map[string]Handler{"k": {
		Run: func(context.Context, *Job) error {
			mu.Lock()
			runs++
			mu.Unlock()
			return Permanent(errors.New("refused by Microsoft"))
		},
		Failed: func(context.Context, *Job, error) error {
			mu.Lock()
			fails++
			mu.Unlock()
			return errors.New("database unavailable")
		}}})
	stop := start(t, r)
	waitFor(t, "the job failed", func() bool { return store.get(id).state == "failed" })
	time.Sleep(50 * time.Millisecond) // would it loop?
	stop()
	mu.Lock()
	defer mu.Unlock()
	if runs != 1 || fails != FailedRetries+1 {
		t.Fatalf("%d runs and %d Failed calls, want 1 and %d", runs, fails, FailedRetries+1)
	}
	if j := store.get(id); !strings.Contains(j.LastError, "refused by Microsoft") || !strings.Contains(j.LastError, "database unavailable") {
		t.Fatalf("last error %q", j.LastError)
	}
}

func TestRunnerDrain(t *testing.T) {
	store := newMemStore()
	quick := store.add("quick")
	slow := store.add("slow")
	stuck := store.add("stuck")
	shutdown := make(chan struct{})
	unstick := make(chan struct{})
	started := make(chan string, 3)
	stuckWrite := make(chan error, 1)
	slowStopped := make(chan struct{})
	r := newRunner(store, map[string]Handler{
		// Finishes during the drain: completes normally.
		"quick": {Run: func(context.Context, *Job) error {
			started <- "quick"
			<-shutdown
			time.Sleep(20 * time.Millisecond)
			return nil
		}},
		// Outlives the drain but stops when cancelled: handed back.
		"slow": {Run: func(ctx context.Context, _ *Job) error {
			started <- "slow"
			<-ctx.Done()
			close(slowStopped)
			return ctx.Err()
		}},
		// Ignores cancellation: handed back after a grace period, and its
		// later writes are refused.
		"stuck": {Run: func(ctx context.Context, _ *Job) error {
			started <- "stuck"
			<-unstick
			stuckWrite <- store.write(ctx)
			return nil
		}},
	})
	r.Workers, r.Drain = 3, 500*time.Millisecond // the quick job's 20 ms fit with room to spare
	stop := start(t, r)
	for range 3 {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("jobs did not start")
		}
	}
	close(shutdown)
	took := stop()
	if took < r.Drain || took > 2*r.Drain+time.Second {
		t.Fatalf("Run returned %s after cancellation (drain %s)", took, r.Drain)
	}
	select {
	case <-slowStopped:
	default:
		t.Fatal("the drain did not cancel the job that outlived it")
	}
	if j := store.get(quick); j.state != "done" {
		t.Fatalf("job finished during the drain: %s", j.state)
	}
	for _, id := range []int64{slow, stuck} {
		if j := store.get(id); j.state != "pending" || j.Attempt != 0 {
			t.Fatalf("job %s not handed back: %s, %d attempts", j.Kind, j.state, j.Attempt)
		}
	}
	close(unstick)
	if err := <-stuckWrite; !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("write of an abandoned job: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if j := store.get(stuck); j.state != "pending" {
		t.Fatalf("abandoned job's late outcome recorded: %s", j.state)
	}
}

func TestRunnerLostLeaseCancelsJob(t *testing.T) {
	store := newMemStore()
	id := store.add("k")
	started := make(chan struct{})
	result := make(chan error, 1)
	r := newRunner(store, map[string]Handler{"k": {Run: func(ctx context.Context, _ *Job) error {
		close(started)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			result <- errors.New("job context not cancelled")
			return nil
		}
		result <- store.write(ctx)
		return ctx.Err()
	}}})
	// One worker, busy with the job: should the lease lapse on a stalled
	// machine before the test steals it, no second worker reclaims the job.
	r.Workers, r.Lease = 1, 90*time.Millisecond
	start(t, r)
	<-started
	store.steal(id)
	if err := <-result; !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("write after the lease was lost: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if j := store.get(id); j.state != "running" || j.owner != "thief" || j.Attempt != 2 {
		t.Fatalf("runner touched a job it lost: %+v", j)
	}
}

func TestRunnerIdentityAndPruning(t *testing.T) {
	store := newMemStore()
	old := store.add("k")
	store.jobs[old].state, store.jobs[old].finished = "done", time.Now().Add(-3*time.Hour)
	recent := store.add("k")
	store.jobs[recent].state, store.jobs[recent].finished = "failed", time.Now().Add(-time.Hour)
	r1 := newRunner(store, map[string]Handler{"k": {Run: func(context.Context, *Job) error { return nil }}})
	r1.Retention = 2 * time.Hour
	also := make(chan time.Time, 1)
	r1.AlsoPrune = map[string]Pruner{"other table": prunerFunc(func(before time.Time) { also <- before })}
	stop := start(t, r1)
	waitFor(t, "pruned", func() bool { store.mu.Lock(); defer store.mu.Unlock(); return len(store.prunes) > 0 })
	select {
	case before := <-also:
		store.mu.Lock()
		jobsBefore := store.prunes[0]
		store.mu.Unlock()
		if !before.Equal(jobsBefore) {
			t.Fatalf("the other table was pruned before %s, the jobs before %s", before, jobsBefore)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other table was not pruned")
	}
	stop()
	r2 := newRunner(store, map[string]Handler{"k": {Run: func(context.Context, *Job) error { return nil }}})
	stop = start(t, r2)
	waitFor(t, "pruned again", func() bool { store.mu.Lock(); defer store.mu.Unlock(); return len(store.prunes) > 1 })
	stop()
	store.mu.Lock()
	defer store.mu.Unlock()
	if _, ok := store.jobs[old]; ok {
		t.Fatal("old finished job not pruned")
	}
	if _, ok := store.jobs[recent]; !ok {
		t.Fatal("recent finished job pruned")
	}
	if d := time.Since(store.prunes[1]); d < DefaultRetention || d > DefaultRetention+time.Minute {
		t.Fatalf("default retention: cut-off %s ago", d)
	}
	prefix := fmt.Sprintf("w/%d-", os.Getpid())
	owners := map[string]bool{}
	for _, o := range store.owners {
		if !strings.HasPrefix(o, prefix) {
			t.Fatalf("owner %q lacks %q", o, prefix)
		}
		owners[o] = true
	}
	if len(owners) != 2 {
		// One identity per start, shared by its workers.
		t.Fatalf("owners %v", owners)
	}
}

// wakingStore is a memStore that is also a wake-up source: Listen fails on
// its first call, then forwards wake until ctx ends.
type wakingStore struct {
	*memStore
	wake    chan struct{}
	mu      sync.Mutex
	listens int
}

func (w *wakingStore) Listen(ctx context.Context, notify func()) error {
	w.mu.Lock()
	w.listens++
	first := w.listens == 1
	w.mu.Unlock()
	if first {
		return errors.New("connection refused")
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
			notify()
		}
	}
}

func (w *wakingStore) listening() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.listens >= 2
}

// TestRunnerWakeUps: a store that is a Waker wakes the workers at once, long
// before the next poll, and the runner listens again after the source failed.
func TestRunnerWakeUps(t *testing.T) {
	store := &wakingStore{memStore: newMemStore(), wake: make(chan struct{})}
	var mu sync.Mutex
	ran := 0
	r := newRunner(store, map[string]Handler{"k.v1": {Run: func(context.Context, *Job) error {
		mu.Lock()
		defer mu.Unlock()
		ran++
		return nil
	}}})
	r.Workers, r.Poll = 1, time.Hour
	stop := start(t, r)
	waitFor(t, "the runner listens again after the failure", store.listening)
	time.Sleep(20 * time.Millisecond) // the worker's first claim is over: it waits
	id := store.add("k.v1")
	store.wake <- struct{}{}
	waitFor(t, "the woken worker ran the job", func() bool { return store.get(id).state == "done" })
	if took := stop(); took > 5*time.Second {
		t.Fatalf("Run returned %v after cancellation", took)
	}
	if ran != 1 {
		t.Fatalf("ran %d times", ran)
	}
}

// failingClaims is a store whose claims fail (the database is gone).
type failingClaims struct{ *memStore }

func (failingClaims) Claim(Context, string, []string, time.Time, time.Time) (*Job, error) {
	return nil, errors.New("connection refused")
}

// A runner is healthy while its workers reach the queue, and not before it
// runs or while its claims keep failing.
func TestRunnerHealthy(t *testing.T) {
	m := &memStore{jobs: map[int64]*memJob{}}
	r := newRunner(m, map[string]Handler{"k": {Run: func(context.Context, *Job) error { return nil }}})
	if r.Healthy() == nil {
		t.Fatal("healthy before it ran")
	}
	stop := start(t, r)
	for deadline := time.Now().Add(5 * time.Second); r.Healthy() != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never healthy: %v", r.Healthy())
		}
	}
	stop()
	bad := newRunner(failingClaims{m}, map[string]Handler{"k": {Run: func(context.Context, *Job) error { return nil }}})
	stopBad := start(t, bad)
	time.Sleep(50 * time.Millisecond)
	if bad.Healthy() == nil {
		t.Fatal("a runner whose claims fail is healthy")
	}
	stopBad()
}

// prunerFunc is a Pruner that reports its cut-off and deletes nothing.
type prunerFunc func(before time.Time)

func (f prunerFunc) Prune(_ context.Context, before time.Time) (int, error) {
	f(before)
	return 0, nil
}
