// Package storagetest is the conformance suite every tenant-store driver runs.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/jobs/jobstest"
	"github.com/o365gateway/gateway/services/shared/lifecycle"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Run runs every conformance test; newStore returns a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("Instances", func(t *testing.T) { testInstances(t, newStore(t)) })
	t.Run("Tenants", func(t *testing.T) { testTenants(t, newStore(t)) })
	t.Run("TenantJobCommitsAtomically", func(t *testing.T) { testAtomicJob(t, newStore(t)) })
	t.Run("Domains", func(t *testing.T) { testDomains(t, newStore(t)) })
	t.Run("WritesOfALostJobClaimAreRefused", func(t *testing.T) { testFencedWrites(t, newStore(t)) })
	t.Run("InstanceLock", func(t *testing.T) { testInstanceLock(t, newStore(t)) })
	t.Run("ListInstancesInBatches", func(t *testing.T) { testListInstances(t, newStore(t)) })
	t.Run("ListSealedTenants", func(t *testing.T) { testListSealedTenants(t, newStore(t)) })
	t.Run("SettingsAndHealth", func(t *testing.T) { testSettingsAndHealth(t, newStore(t)) })
	t.Run("TenantsByInstanceAndCustomer", func(t *testing.T) { testTenantLookups(t, newStore(t)) })
	t.Run("ReadsAreIndependentCopies", func(t *testing.T) { testIndependentReads(t, newStore(t)) })
	jobstest.Run(t, func(t *testing.T) jobstest.Queue {
		s := newStore(t)
		if err := s.CreateInstance(context.Background(), instance("i1")); err != nil {
			t.Fatal(err)
		}
		return jobstest.QueueOn(t, jobstest.Rows[storage.Tenant]{Jobs: s.Jobs(),
			Get:    func(ctx context.Context, key string) (*storage.Tenant, error) { return s.GetTenant(ctx, "i1", key) },
			Create: s.CreateTenant, Update: s.UpdateTenant, New: tenant})
	})
}

// testFencedWrites: every write made with the context of a job whose claim
// was lost is refused with jobs.ErrLeaseLost and changes nothing.
func testFencedWrites(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if err := s.CreateInstance(ctx, instance("i1")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, tenant("t1"), &jobs.New{Kind: "tenant.provision.v1", Key: "t1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDomain(ctx, &storage.Domain{ID: "d1", InstanceID: "i1", TenantID: "t1", Name: "contoso.com"}); err != nil {
		t.Fatal(err)
	}
	kinds := []string{"tenant.provision.v1"}
	t0 := time.Now()
	first, err := s.Jobs().Claim(ctx, "w/1", kinds, t0, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Jobs().Claim(ctx, "w/2", kinds, t0.Add(2*time.Second), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	stale := jobs.WithFence(ctx, first)
	in, _ := s.GetInstance(ctx, "i1")
	tn, _ := s.GetTenant(ctx, "i1", "t1")
	d, _ := s.GetDomain(ctx, "i1", "d1")
	version := tn.Version
	for _, w := range []struct {
		name string
		err  error
	}{
		{"create instance", s.CreateInstance(stale, instance("i2"))},
		{"update instance", s.UpdateInstance(stale, in)},
		{"delete instance", s.DeleteInstance(stale, "i1")},
		{"create tenant", s.CreateTenant(stale, tenant("t2"), nil)},
		{"update tenant", s.UpdateTenant(stale, tn, &jobs.New{Kind: "tenant.provision.v1", Key: "x"})},
		{"delete tenant", s.DeleteTenant(stale, "i1", "t1")},
		{"create domain", s.CreateDomain(stale, &storage.Domain{ID: "d2", InstanceID: "i1", TenantID: "t1", Name: "fabrikam.com"})},
		{"update domain", s.UpdateDomain(stale, d)},
		{"delete domain", s.DeleteDomain(stale, "i1", "d1")},
	} {
		if !errors.Is(w.err, jobs.ErrLeaseLost) {
			t.Errorf("%s with a lost claim: %v", w.name, w.err)
		}
	}
	if _, err := s.GetInstance(ctx, "i2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("refused instance stored: %v", err)
	}
	if _, err := s.GetTenant(ctx, "i1", "t2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("refused tenant stored: %v", err)
	}
	if _, err := s.GetDomain(ctx, "i1", "d2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("refused domain stored: %v", err)
	}
	if got, err := s.GetTenant(ctx, "i1", "t1"); err != nil || got.Version != version || tn.Version != version {
		t.Errorf("refused update changed the tenant: %+v %v", got, err)
	}
	if _, err := s.GetDomain(ctx, "i1", "d1"); err != nil {
		t.Errorf("refused delete removed the domain: %v", err)
	}
	if _, err := s.Jobs().Claim(ctx, "w/3", kinds, t0.Add(2*time.Hour), t0.Add(3*time.Hour)); err != nil {
		t.Errorf("the claimed job is gone: %v", err)
	}
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
	return &storage.Tenant{ID: id, InstanceID: "i1", InitialSubdomain: "contoso", InitialDomain: "contoso.onmicrosoft.com",
		Company: storage.Company{Name: "Contoso"}, Address: storage.Address{Country: "US", City: "Redmond"},
		MCA: &storage.MCA{FirstName: "Ann"}, State: storage.StateCreating,
		Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Running, Attempt: 1, Secret: "sealed"}}
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
	if err != nil || a.Company.Name != "Contoso" || a.MCA == nil || a.MCA.FirstName != "Ann" || a.Op.Secret != "sealed" || !a.Op.Is(lifecycle.Provision, lifecycle.Running) {
		t.Fatalf("got %+v %v", a, err)
	}
	b, _ := s.GetTenant(ctx, "i1", "t1")
	now := time.UnixMilli(time.Now().UnixMilli())
	a.MSCustomerID, a.LastSync, a.Seats = "cust-1", &now, 7
	a.Op.MarkDone("create")
	if err := s.UpdateTenant(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	b.State = storage.StateFailed
	if err := s.UpdateTenant(ctx, b, nil); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale write not refused: %v", err)
	}
	c, _ := s.GetTenant(ctx, "i1", "t1")
	if c.MSCustomerID != "cust-1" || c.Op.StepState("create") != lifecycle.StepDone || c.State != storage.StateCreating || c.LastSync == nil || !c.LastSync.Equal(now) || c.Seats != 7 || c.Version != a.Version {
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

// Two reads of an unchanged tenant are independent: a caller changing
// what it read (to write it back) changes nothing another caller reads, and
// a write is seen by the next read.
func testIndependentReads(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if err := s.CreateInstance(ctx, instance("i1")); err != nil {
		t.Fatal(err)
	}
	tn := tenant("t1")
	tn.GDAP = gdap.Relationship{State: "active", Roles: []string{"role-a"}}
	tn.Op.MarkDone("create")
	if err := s.CreateTenant(ctx, tn, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		a, err := s.GetTenant(ctx, "i1", "t1")
		if err != nil {
			t.Fatal(err)
		}
		if a.MCA.FirstName != "Ann" || a.GDAP.Roles[0] != "role-a" || a.Op.StepState("create") != lifecycle.StepDone {
			t.Fatalf("read %+v", a)
		}
		a.MCA.FirstName, a.GDAP.Roles[0], a.Company.Name = "changed", "changed", "changed"
		a.Op.MarkDone("mca")
		a.Op.Steps["create"].State = "changed"
	}
	b, err := s.GetTenant(ctx, "i1", "t1")
	if err != nil {
		t.Fatal(err)
	}
	b.GDAP.Roles = append(b.GDAP.Roles, "role-b")
	if err := s.UpdateTenant(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	c, err := s.GetTenant(ctx, "i1", "t1")
	if err != nil || len(c.GDAP.Roles) != 2 || c.GDAP.Roles[1] != "role-b" || c.MCA.FirstName != "Ann" || c.Op.StepState("mca") == lifecycle.StepDone {
		t.Fatalf("after a write: %+v %v", c, err)
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
	j, err := s.Jobs().Claim(ctx, "w/1", []string{"tenant.provision", "tenant.configure"}, now, now.Add(time.Minute))
	if err != nil || j.Kind != "tenant.provision" || j.Key != "t1" || string(j.Payload) != `{"x":1}` || j.Attempt != 1 {
		t.Fatalf("claim: %+v %v", j, err)
	}
	if _, err := s.Jobs().Claim(ctx, "w/1", []string{"tenant.provision", "tenant.configure"}, now, now.Add(time.Minute)); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("a rolled-back job was enqueued: %v", err)
	}
}

func testDomains(t *testing.T, s storage.Store) {
	ctx := context.Background()
	d := &storage.Domain{ID: "d1", InstanceID: "i1", TenantID: "t1", Name: "contoso.com", State: storage.DomainUnverified}
	if err := s.CreateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDomain(ctx, &storage.Domain{ID: "d1", InstanceID: "i1"}); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	a, _ := s.GetDomain(ctx, "i1", "d1")
	b, _ := s.GetDomain(ctx, "i1", "d1")
	a.State, a.Records = storage.DomainVerified, []storage.VerificationRecord{{Type: "Txt", Label: "contoso.com", Text: "MS=ms1", TTL: 3600}}
	if err := s.UpdateDomain(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateDomain(ctx, b); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale: %v", err)
	}
	c, err := s.GetDomain(ctx, "i1", "d1")
	if err != nil || c.State != storage.DomainVerified || len(c.Records) != 1 || c.Records[0].Text != "MS=ms1" {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := s.GetDomain(ctx, "i2", "d1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other instance: %v", err)
	}
	if list, err := s.ListDomains(ctx, "i1", "t1"); err != nil || len(list) != 1 || list[0].Name != "contoso.com" {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := s.DeleteDomain(ctx, "i1", "d1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "i1", "d1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

// testInstanceLock: an instance's lock is exclusive; other instances' are
// not affected; a waiter gives up with its context.
func testInstanceLock(t *testing.T, s storage.Store) {
	ctx := context.Background()
	unlock, err := s.LockInstance(ctx, "inst-a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.LockInstance(ctx, "inst-b")
	if err != nil {
		t.Fatal(err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if again, err := s.LockInstance(short, "inst-a"); err == nil {
		again()
		t.Fatal("a held instance lock was taken twice")
	}
	unlock()
	again, err := s.LockInstance(ctx, "inst-a")
	if err != nil {
		t.Fatalf("the released lock cannot be taken: %v", err)
	}
	again()
}

// testListInstances: batches in id order cover every instance once.
func testListInstances(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, id := range []string{"i3", "i1", "i5", "i2", "i4"} {
		if err := s.CreateInstance(ctx, instance(id)); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	after := ""
	for {
		page, err := s.ListInstances(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page {
			ids = append(ids, in.InstanceID)
			after = in.InstanceID
		}
		if len(page) < 2 {
			break
		}
	}
	if strings.Join(ids, ",") != "i1,i2,i3,i4,i5" {
		t.Fatalf("listed %v", ids)
	}
	if page, _ := s.ListInstances(ctx, "i4", 10); len(page) != 1 || page[0].ClientSecretSealed != "v1:sealed" || len(page[0].SalesCountries) != 2 {
		t.Fatalf("last page %+v", page)
	}
}

// testListSealedTenants: the tenants of every instance whose operation state
// holds a sealed value (of either format) are all listed, in batches.
func testListSealedTenants(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, id := range []string{"i1", "i2"} {
		if err := s.CreateInstance(ctx, instance(id)); err != nil {
			t.Fatal(err)
		}
	}
	for i, secret := range []string{"v2.k1.AAAA", "", "v1:BBBB", "", "v2.default.CCCC", "v2.k1.DDDD"} {
		tn := tenant(fmt.Sprintf("t%d", i))
		tn.InstanceID = []string{"i1", "i2"}[i%2]
		tn.Op.Secret = secret
		if secret == "" {
			tn.Op.FailureMessage = "nothing sealed here, not even v2_x" // a wildcard must match only itself
		}
		if err := s.CreateTenant(ctx, tn, nil); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for {
		page, err := s.ListSealedTenants(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range page {
			after = tn.ID
			if tn.Op.Secret != "" {
				got = append(got, tn.ID+"@"+tn.InstanceID+"="+tn.Op.Secret)
			}
		}
		if len(page) < 2 {
			break
		}
	}
	if want := "t0@i1=v2.k1.AAAA t2@i1=v1:BBBB t4@i1=v2.default.CCCC t5@i2=v2.k1.DDDD"; strings.Join(got, " ") != want {
		t.Fatalf("listed %v, want %s", got, want)
	}
}

func testSettingsAndHealth(t *testing.T, s storage.Store) {
	ctx := context.Background()
	in := instance("i1")
	off := false
	in.Settings = storage.Settings{RegisterAdopted: &off, GDAPRoles: []string{gdap.UserAdministrator}}
	if err := s.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(time.Now().UnixMilli()).UTC()
	h := storage.Health{CheckedAt: at, Credentials: storage.CredHealth{State: "expiring", Kind: "client_secret", ExpiresAt: at.Add(time.Hour)},
		TenantsAtRisk: []storage.TenantRisk{{TenantID: "t1", Problem: "GdapMissing"}}}
	if err := s.SetInstanceHealth(ctx, "i1", h); err != nil {
		t.Fatal(err)
	}
	if err := s.SetInstanceHealth(ctx, "nope", h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("health of an unknown instance: %v", err)
	}
	got, err := s.GetInstance(ctx, "i1")
	if err != nil || got.Settings.Registers() || len(got.Settings.GDAPRoles) != 1 || got.Health.Credentials.State != "expiring" ||
		!got.Health.CheckedAt.Equal(at) || len(got.Health.TenantsAtRisk) != 1 {
		t.Fatalf("got %+v %v", got, err)
	}
	// A configuration writes the settings and leaves the health alone.
	got.Settings = storage.Settings{}
	got.Health = storage.Health{}
	if err := s.UpdateInstance(ctx, got); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetInstance(ctx, "i1")
	if !got.Settings.Registers() || len(got.Settings.GDAPRoles) != 0 || got.Health.Credentials.State != "expiring" {
		t.Fatalf("after update: %+v", got)
	}
}

func testTenantLookups(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, id := range []string{"i1", "i2"} {
		if err := s.CreateInstance(ctx, instance(id)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		tn := tenant(fmt.Sprintf("t%d", i))
		tn.MSCustomerID = fmt.Sprintf("c%d", i)
		tn.GDAP = gdap.Relationship{State: gdap.StatePendingApproval, RelationshipID: "r", Roles: []string{gdap.UserAdministrator}}
		if err := s.CreateTenant(ctx, tn, nil); err != nil {
			t.Fatal(err)
		}
	}
	other := tenant("x0")
	other.InstanceID, other.MSCustomerID = "i2", "c9"
	if err := s.CreateTenant(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for after := ""; ; {
		page, err := s.ListTenants(ctx, "i1", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, tn := range page {
			seen = append(seen, tn.ID)
			if tn.GDAP.RelationshipID != "r" || tn.GDAP.Current() != gdap.StatePendingApproval {
				t.Fatalf("gdap lost: %+v", tn.GDAP)
			}
		}
		after = page[len(page)-1].ID
	}
	if strings.Join(seen, ",") != "t0,t1,t2,t3,t4" {
		t.Fatalf("listed %v", seen)
	}
	got, err := s.TenantByCustomer(ctx, "i1", "c3")
	if err != nil || got.ID != "t3" {
		t.Fatalf("by customer: %+v %v", got, err)
	}
	if _, err := s.TenantByCustomer(ctx, "i1", "c9"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("another instance's customer: %v", err)
	}
	got.GDAP.State = gdap.StateActive
	if err := s.UpdateTenant(ctx, got, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.GetTenant(ctx, "i1", "t3"); again.GDAP.State != gdap.StateActive {
		t.Fatalf("gdap update lost: %+v", again.GDAP)
	}
}
