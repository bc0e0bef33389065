package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store for runner tests.
type memStore struct {
	mu   sync.Mutex
	jobs map[int64]*memJob
}

type memJob struct {
	Job
	state string
	owner string
	until time.Time
}

func (m *memStore) add(kind string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := int64(len(m.jobs) + 1)
	m.jobs[id] = &memJob{Job: Job{ID: id, Kind: kind, MaxAttempts: 3, RunAt: time.Now()}, state: "pending"}
	return id
}

func (m *memStore) get(id int64) memJob {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.jobs[id]
}

func (m *memStore) Claim(_ context.Context, owner string, now, until time.Time) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, j := range m.jobs {
		if (j.state == "pending" && !j.RunAt.After(now)) || (j.state == "running" && j.until.Before(now)) {
			j.state, j.owner, j.until = "running", owner, until
			j.Attempt++
			c := j.Job
			return &c, nil
		}
	}
	return nil, ErrNoJob
}

func (m *memStore) held(id int64, owner string) (*memJob, error) {
	j := m.jobs[id]
	if j == nil || j.state != "running" || j.owner != owner {
		return nil, ErrLeaseLost
	}
	return j, nil
}

func (m *memStore) ExtendLease(_ context.Context, id int64, owner string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, owner)
	if err == nil {
		j.until = until
	}
	return err
}

func (m *memStore) Complete(_ context.Context, id int64, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, owner)
	if err == nil {
		j.state = "done"
	}
	return err
}

func (m *memStore) Reschedule(_ context.Context, id int64, owner string, runAt time.Time, lastErr string, count bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, owner)
	if err == nil {
		j.state, j.RunAt, j.LastError = "pending", runAt, lastErr
		if !count {
			j.Attempt--
		}
	}
	return err
}

func (m *memStore) Fail(_ context.Context, id int64, owner, lastErr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, owner)
	if err == nil {
		j.state, j.LastError = "failed", lastErr
	}
	return err
}

func (m *memStore) ReleaseOwnedBy(_ context.Context, prefix string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, j := range m.jobs {
		if j.state == "running" && strings.HasPrefix(j.owner, prefix) {
			j.state = "pending"
			n++
		}
	}
	return n, nil
}

func run(t *testing.T, store *memStore, handlers map[string]Handler, until func() bool) {
	t.Helper()
	r := &Runner{Store: store, Owner: "w", Workers: 2, Poll: 5 * time.Millisecond, Lease: 3 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Backoff: func(int) time.Duration { return time.Millisecond }}
	for k, h := range handlers {
		r.Register(k, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !until() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("runner did not reach the expected state")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestRunnerOutcomes(t *testing.T) {
	store := &memStore{jobs: map[int64]*memJob{}}
	ok := store.add("ok")
	flaky := store.add("flaky")
	perm := store.add("perm")
	exhaust := store.add("exhaust")
	panics := store.add("panic")
	snooze := store.add("snooze")
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
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 3 || !strings.Contains(failed[panics].Error(), "panicked") {
		t.Fatalf("failure hooks: %v", failed)
	}
}

func TestRunnerReclaimsItsOwnOrphans(t *testing.T) {
	store := &memStore{jobs: map[int64]*memJob{}}
	id := store.add("k")
	store.jobs[id].state, store.jobs[id].owner, store.jobs[id].until = "running", "w/123", time.Now().Add(time.Hour)
	run(t, store, map[string]Handler{"k": {Run: func(context.Context, *Job) error { return nil }}},
		func() bool { return store.get(id).state == "done" })
}
