// Package storagetest is the conformance suite every tenant-store driver runs.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Run runs every conformance test; newStore returns a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("Instances", func(t *testing.T) { testInstances(t, newStore(t)) })
	t.Run("Tenants", func(t *testing.T) { testTenants(t, newStore(t)) })
	t.Run("TenantJobCommitsAtomically", func(t *testing.T) { testAtomicJob(t, newStore(t)) })
	t.Run("JobLifecycle", func(t *testing.T) { testJobLifecycle(t, newStore(t)) })
	t.Run("JobConcurrentClaims", func(t *testing.T) { testConcurrentClaims(t, newStore(t)) })
}

func instance(id string) *storage.Instance {
	return &storage.Instance{InstanceID: id, AppID: "app-" + id, Cloud: "global", PartnerTenantID: "p", ClientID: "c",
		ClientSecretSealed: "v1:sealed", SalesCountries: []string{"US", "CA"}, TestPartner: true, ResellerMode: "direct"}
}

func testInstances(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if _, err := s.GetInstance(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	in := instance("i1")
	if err := s.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateInstance(ctx, instance("i1")); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	got, err := s.GetInstance(ctx, "i1")
	if err != nil || got.AppID != "app-i1" || len(got.SalesCountries) != 2 || !got.TestPartner || got.ClientSecretSealed != "v1:sealed" {
		t.Fatalf("got %+v %v", got, err)
	}
	got.PackageVersion = "1.1"
	got.SalesCountries = nil
	if err := s.UpdateInstance(ctx, got); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetInstance(ctx, "i1")
	if got.PackageVersion != "1.1" || len(got.SalesCountries) != 0 {
		t.Fatalf("update lost: %+v", got)
	}
	if err := s.UpdateInstance(ctx, instance("i2")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if err := s.DeleteInstance(ctx, "i1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInstance(ctx, "i1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func tenant(id string) *storage.Tenant {
	return &storage.Tenant{ID: id, InstanceID: "i1", InitialSubdomain: "contoso", Domain: "contoso.onmicrosoft.com",
		Company: storage.Company{Name: "Contoso"}, Address: storage.Address{Country: "US", City: "Redmond"},
		MCA: &storage.MCA{FirstName: "Ann"}, State: storage.StateCreating, Operation: storage.OpProvision,
		OperationState: storage.OpRunning, CreateRequestID: "req-1"}
}

func testTenants(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if err := s.CreateInstance(ctx, instance("i1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTenant(ctx, "i1", "t1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	tn := tenant("t1")
	if err := s.CreateTenant(ctx, tn, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, tenant("t1"), nil); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.GetTenant(ctx, "other-instance", "t1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("tenant visible from another instance: %v", err)
	}
	a, err := s.GetTenant(ctx, "i1", "t1")
	if err != nil || a.Company.Name != "Contoso" || a.MCA == nil || a.MCA.FirstName != "Ann" || a.CreateRequestID != "req-1" {
		t.Fatalf("got %+v %v", a, err)
	}
	b, _ := s.GetTenant(ctx, "i1", "t1")
	now := time.UnixMilli(time.Now().UnixMilli())
	a.MSCustomerID, a.CreateSent, a.LastSync, a.Seats = "cust-1", true, &now, 7
	if err := s.UpdateTenant(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	b.State = storage.StateFailed
	if err := s.UpdateTenant(ctx, b, nil); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale write not refused: %v", err)
	}
	c, _ := s.GetTenant(ctx, "i1", "t1")
	if c.MSCustomerID != "cust-1" || !c.CreateSent || c.State != storage.StateCreating || c.LastSync == nil || !c.LastSync.Equal(now) || c.Seats != 7 || c.Version != a.Version {
		t.Fatalf("got %+v", c)
	}
	if n, _ := s.CountTenants(ctx, "i1"); n != 1 {
		t.Fatalf("count %d", n)
	}
	if err := s.DeleteTenant(ctx, "i1", "t1"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTenant(ctx, c, nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update deleted: %v", err)
	}
	if err := s.DeleteTenant(ctx, "i1", "t1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func testAtomicJob(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if err := s.CreateInstance(ctx, instance("i1")); err != nil {
		t.Fatal(err)
	}
	job := &jobs.New{Kind: "tenant.provision", Key: "t1", Payload: []byte(`{"x":1}`)}
	if err := s.CreateTenant(ctx, tenant("t1"), job); err != nil {
		t.Fatal(err)
	}
	// A refused write must not enqueue its job.
	if err := s.CreateTenant(ctx, tenant("t1"), &jobs.New{Kind: "tenant.provision", Key: "dup"}); err == nil {
		t.Fatal("duplicate accepted")
	}
	stale, _ := s.GetTenant(ctx, "i1", "t1")
	fresh, _ := s.GetTenant(ctx, "i1", "t1")
	if err := s.UpdateTenant(ctx, fresh, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTenant(ctx, stale, &jobs.New{Kind: "tenant.configure", Key: "stale"}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale: %v", err)
	}
	now := time.Now()
	j, err := s.Jobs().Claim(ctx, "w/1", now, now.Add(time.Minute))
	if err != nil || j.Kind != "tenant.provision" || j.Key != "t1" || string(j.Payload) != `{"x":1}` || j.Attempt != 1 {
		t.Fatalf("claim: %+v %v", j, err)
	}
	if _, err := s.Jobs().Claim(ctx, "w/1", now, now.Add(time.Minute)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("a rolled-back job was enqueued: %v", err)
	}
}

func enqueue(t *testing.T, s storage.Store, key string) {
	t.Helper()
	if err := s.CreateTenant(context.Background(), tenant(key), &jobs.New{Kind: "k", Key: key, MaxAttempts: 3}); err != nil {
		t.Fatal(err)
	}
}

func testJobLifecycle(t *testing.T, s storage.Store) {
	ctx := context.Background()
	q := s.Jobs()
	if err := s.CreateInstance(ctx, instance("i1")); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, "a")
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
	enqueue(t, s, "b")
	jb, _ := q.Claim(ctx, "w/5", time.Now(), time.Now().Add(time.Minute))
	if err := q.Complete(ctx, jb.ID, "w/5"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx, "w/6", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("done job claimed: %v", err)
	}
}

func testConcurrentClaims(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if err := s.CreateInstance(ctx, instance("i1")); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		enqueue(t, s, fmt.Sprintf("t%d", i))
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
				j, err := s.Jobs().Claim(ctx, fmt.Sprintf("w/%d", w), now, now.Add(time.Minute))
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
