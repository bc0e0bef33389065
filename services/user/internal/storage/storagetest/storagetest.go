// Package storagetest is the conformance suite every user-store driver runs.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/jobs/jobstest"
	"github.com/o365gateway/gateway/services/shared/lifecycle"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

// Run runs every conformance test; newStore returns a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("Users", func(t *testing.T) { testUsers(t, newStore(t)) })
	t.Run("JobCommitsAtomically", func(t *testing.T) { testAtomicJob(t, newStore(t)) })
	t.Run("ListSealed", func(t *testing.T) { testListSealed(t, newStore(t)) })
	jobstest.Run(t, func(t *testing.T) jobstest.Queue {
		s := newStore(t)
		return jobstest.QueueOn(t, jobstest.Rows[storage.User]{Jobs: s.Jobs(),
			Get:    func(ctx context.Context, key string) (*storage.User, error) { return s.Get(ctx, "i1", key) },
			Create: s.Create, Update: s.Update, New: user})
	})
}

func user(id string) *storage.User {
	return &storage.User{ID: id, InstanceID: "i1", TenantID: "t1", Login: "ann@contoso.onmicrosoft.com", AccountEnabled: true,
		Licenses: []storage.LicenseRef{{SubscriptionID: "s1", SKUID: "sku-1"}}, PasswordSealed: "v1:x", State: storage.StateCreating,
		Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Running, Attempt: 1}}
}

func testUsers(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "i1", "u1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if err := s.Create(ctx, user("u1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, user("u1"), nil); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.Get(ctx, "i2", "u1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("visible from another instance: %v", err)
	}
	a, _ := s.Get(ctx, "i1", "u1")
	b, _ := s.Get(ctx, "i1", "u1")
	a.MSUserID, a.Assigned, a.PasswordSealed = "ms-1", []string{"sku-1"}, ""
	a.Op.MarkDone("create")
	if err := s.Update(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	b.Login = "other@x"
	if err := s.Update(ctx, b, nil); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale write: %v", err)
	}
	c, _ := s.Get(ctx, "i1", "u1")
	if c.MSUserID != "ms-1" || c.Op.StepState("create") != lifecycle.StepDone || c.Op.Attempt != 1 || len(c.Assigned) != 1 || c.PasswordSealed != "" || len(c.Licenses) != 1 || c.Licenses[0].SKUID != "sku-1" || c.Version != a.Version {
		t.Fatalf("got %+v", c)
	}
	if err := s.Create(ctx, user("u2"), nil); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListByTenant(ctx, "i1", "t1"); err != nil || len(list) != 2 || list[0].ID != "u1" || list[1].Version != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if list, _ := s.ListByTenant(ctx, "i1", "other"); len(list) != 0 {
		t.Fatalf("other tenant listed %d", len(list))
	}
	if err := s.Delete(ctx, "i1", "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "i1", "u1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.Update(ctx, c, nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update deleted: %v", err)
	}
}

func testAtomicJob(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if err := s.Create(ctx, user("u1"), &jobs.New{Kind: "user.provision", Key: "u1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, user("u1"), &jobs.New{Kind: "user.provision", Key: "dup"}); err == nil {
		t.Fatal("duplicate accepted")
	}
	now := time.Now()
	j, err := s.Jobs().Claim(ctx, "w/1", []string{"user.provision"}, now, now.Add(time.Minute))
	if err != nil || j.Key != "u1" {
		t.Fatalf("%+v %v", j, err)
	}
	if _, err := s.Jobs().Claim(ctx, "w/1", []string{"user.provision"}, now, now.Add(time.Minute)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("rolled-back job enqueued: %v", err)
	}
}

// testListSealed: the users of every instance holding a sealed value (a
// password or an operation's secret, of either format) are all listed, in
// batches.
func testListSealed(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for i, sealed := range []struct{ password, secret string }{
		{"v2.k1.AAAA", ""}, {"", ""}, {"", "v1:BBBB"}, {"v1:CCCC", "v2.k1.DDDD"}, {"", ""}, {"", "v2.default.EEEE"},
	} {
		u := user(fmt.Sprintf("u%d", i))
		u.InstanceID = []string{"i1", "i2"}[i%2]
		u.PasswordSealed, u.Op.Secret = sealed.password, sealed.secret
		if sealed == (struct{ password, secret string }{}) {
			u.DisplayName = "v2_x" // a wildcard must match only itself
		}
		if err := s.Create(ctx, u, nil); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for {
		page, err := s.ListSealed(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			after = u.ID
			if u.PasswordSealed != "" || u.Op.Secret != "" {
				got = append(got, u.ID+"@"+u.InstanceID+"="+u.PasswordSealed+"/"+u.Op.Secret)
			}
		}
		if len(page) < 2 {
			break
		}
	}
	want := "u0@i1=v2.k1.AAAA/ u2@i1=/v1:BBBB u3@i2=v1:CCCC/v2.k1.DDDD u5@i2=/v2.default.EEEE"
	if strings.Join(got, " ") != want {
		t.Fatalf("listed %v, want %s", got, want)
	}
}
