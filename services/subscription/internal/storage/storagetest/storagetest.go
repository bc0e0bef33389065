// Package storagetest is the conformance suite every subscription-store driver runs.
package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/jobs/jobstest"
	"github.com/o365gateway/gateway/services/shared/lifecycle"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Run runs every conformance test; newStore returns a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("Subscriptions", func(t *testing.T) { testSubscriptions(t, newStore(t)) })
	t.Run("JobCommitsAtomically", func(t *testing.T) { testAtomicJob(t, newStore(t)) })
	jobstest.Run(t, func(t *testing.T) jobstest.Queue {
		s := newStore(t)
		return jobstest.QueueOn(t, jobstest.Rows[storage.Subscription]{Jobs: s.Jobs(),
			Get:    func(ctx context.Context, key string) (*storage.Subscription, error) { return s.Get(ctx, "i1", key) },
			Create: s.Create, Update: s.Update, New: sub})
	})
}

func sub(id string) *storage.Subscription {
	return &storage.Subscription{ID: id, InstanceID: "i1", TenantID: "t1", OfferID: "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
		Kind: storage.KindNewCommerce, Quantity: 10, State: storage.StatePending, Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Running, Attempt: 1}}
}

func testSubscriptions(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "i1", "s1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if err := s.Create(ctx, sub("s1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, sub("s1"), nil); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.Get(ctx, "i2", "s1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("visible from another instance: %v", err)
	}
	a, _ := s.Get(ctx, "i1", "s1")
	b, _ := s.Get(ctx, "i1", "s1")
	until := time.UnixMilli(time.Now().UnixMilli()).UTC()
	a.MSSubscriptionID, a.CancellationUntil, a.State = "ms-1", &until, storage.StateActive
	a.Op.MarkDone("purchase")
	if err := s.Update(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	b.Quantity = 99
	if err := s.Update(ctx, b, nil); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale write: %v", err)
	}
	c, _ := s.Get(ctx, "i1", "s1")
	if c.MSSubscriptionID != "ms-1" || c.Op.StepState("purchase") != lifecycle.StepDone || c.Quantity != 10 || c.CancellationUntil == nil || !c.CancellationUntil.Equal(until) || c.Version != a.Version {
		t.Fatalf("got %+v", c)
	}
	if err := s.Create(ctx, sub("s2"), nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountLive(ctx, "i1", "t1"); n != 2 {
		t.Fatalf("count %d", n)
	}
	if l, err := s.ListByTenant(ctx, "i1", "t1"); err != nil || len(l) != 2 || l[0].TenantID != "t1" {
		t.Fatalf("list by tenant: %d %v", len(l), err)
	}
	if l, err := s.ListByTenant(ctx, "i1", "t9"); err != nil || len(l) != 0 {
		t.Fatalf("list of another tenant: %d %v", len(l), err)
	}
	c.State = storage.StateDeleted
	if err := s.Update(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountLive(ctx, "i1", "t1"); n != 1 {
		t.Fatalf("deleted counted: %d", n)
	}
	if err := s.Delete(ctx, "i1", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "i1", "s1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.Update(ctx, c, nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update deleted: %v", err)
	}
}

func testAtomicJob(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if err := s.Create(ctx, sub("s1"), &jobs.New{Kind: "subscription.provision", Key: "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, sub("s1"), &jobs.New{Kind: "subscription.provision", Key: "dup"}); err == nil {
		t.Fatal("duplicate accepted")
	}
	stale, _ := s.Get(ctx, "i1", "s1")
	fresh, _ := s.Get(ctx, "i1", "s1")
	if err := s.Update(ctx, fresh, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, stale, &jobs.New{Kind: "subscription.configure", Key: "stale"}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale: %v", err)
	}
	now := time.Now()
	j, err := s.Jobs().Claim(ctx, "w/1", []string{"subscription.provision", "subscription.configure"}, now, now.Add(time.Minute))
	if err != nil || j.Key != "s1" {
		t.Fatalf("%+v %v", j, err)
	}
	if _, err := s.Jobs().Claim(ctx, "w/1", []string{"subscription.provision", "subscription.configure"}, now, now.Add(time.Minute)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("rolled-back job enqueued: %v", err)
	}
}
