package syncer_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/tenant/internal/registrar"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/syncer"
	"github.com/o365gateway/gateway/services/tenant/internal/tenanttest"
)

// e1 is the legacy Office 365 E1 offer of the simulator's catalog.
const e1 = "91FD106F-4B2C-4938-95AC-F54F74E9A239"

// users stands for the user service: it answers the changes it is given,
// and can hold the next call inside it until released.
type users struct {
	mu      sync.Mutex
	changes []syncer.Change
	err     error
	calls   int
	entered chan struct{} // closed when a call arrives (if set)
	release chan struct{} // a call waits for it (if set)
}

func (u *users) SyncUsers(ctx context.Context, instanceID, tenantID string) ([]syncer.Change, int, error) {
	u.mu.Lock()
	u.calls++
	entered, release := u.entered, u.release
	u.entered, u.release = nil, nil // only the first call is held
	u.mu.Unlock()
	if entered != nil {
		close(entered)
	}
	if release != nil {
		<-release
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.changes, len(u.changes), u.err
}

type fixture struct {
	*tenanttest.Env
	svc    *syncer.Service
	users  *users
	tenant *storage.Tenant
	pc     *partnercenter.Client
}

func newFixture(t *testing.T) *fixture {
	e := tenanttest.New(t)
	f := &fixture{Env: e, users: &users{}, tenant: e.ActiveTenant()}
	var err error
	if f.pc, err = e.PartnerCenter(e.Inst); err != nil {
		t.Fatal(err)
	}
	f.svc = &syncer.Service{Store: e.Store, Instances: e.Instances, Users: f.users,
		Graph: func(in *storage.Instance, customerTenantID string) (syncer.Domains, error) {
			return e.Graph(in, customerTenantID)
		},
		PC: func(in *storage.Instance) (syncer.Subscriptions, error) { return e.PartnerCenter(in) }}
	return f
}

func (f *fixture) sync(t *testing.T) *syncer.Report {
	t.Helper()
	rep, err := f.svc.Synchronize(context.Background(), f.Request("sync"), f.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (f *fixture) stored(t *testing.T) *storage.Tenant {
	t.Helper()
	tn, err := f.Store.GetTenant(context.Background(), f.Inst.InstanceID, f.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func (f *fixture) localDomains(t *testing.T) []*storage.Domain {
	t.Helper()
	ds, err := f.Store.ListDomains(context.Background(), f.Inst.InstanceID, f.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// buy orders a legacy E1 subscription with a friendly name, as a partner
// (or the gateway, with its "o365gw-" marker) would.
func (f *fixture) buy(t *testing.T, friendlyName string) string {
	t.Helper()
	ctx := context.Background()
	tmpl, err := f.pc.MCATemplateID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.pc.AttestAgreement(ctx, f.tenant.MSCustomerID, partnercenter.Agreement{TemplateID: tmpl, Type: "MicrosoftCustomerAgreement",
		DateAgreed: "2026-11-01", PrimaryContact: partnercenter.Contact{FirstName: "A", LastName: "B", Email: "a@b.example"}}); err != nil {
		t.Fatal(err)
	}
	o, err := f.pc.CreateOrder(ctx, f.tenant.MSCustomerID, partnercenter.Order{BillingCycle: "monthly",
		LineItems: []partnercenter.OrderLineItem{{OfferID: e1, Quantity: 3, FriendlyName: friendlyName}}})
	if err != nil {
		t.Fatal(err)
	}
	return o.LineItems[0].SubscriptionID
}

func kinds(rep *syncer.Report) []string {
	var out []string
	for _, c := range rep.Changes {
		out = append(out, c.Kind+":"+c.Change+":"+c.Name)
	}
	slices.Sort(out)
	return out
}

// Domains created at Microsoft are imported once (the initial domain never);
// changes of state are recorded and reported; domains removed at Microsoft
// are reported, not deleted; subscriptions bought elsewhere are listed,
// the gateway's own are not; the users' differences are included.
func TestSynchronizeImportsAndReports(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g, err := f.Graph(f.Inst, f.tenant.MSCustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddDomain(ctx, "Outside.Example"); err != nil {
		t.Fatal(err)
	}
	gone := &storage.Domain{ID: uuid.NewString(), InstanceID: f.Inst.InstanceID, TenantID: f.tenant.ID, Name: "gone.example", State: storage.DomainVerified}
	if err := f.Store.CreateDomain(ctx, gone); err != nil {
		t.Fatal(err)
	}
	external := f.buy(t, "bought in the portal")
	f.buy(t, "o365gw-"+uuid.NewString())
	f.users.changes = []syncer.Change{{Kind: "users", Change: "imported", ID: uuid.NewString(), Name: "ann@x.example"}}

	before := time.Now().UTC()
	rep := f.sync(t)
	want := []string{"domains:imported:outside.example", "domains:missing:gone.example", "subscriptions:external:" + external,
		"users:imported:ann@x.example"}
	if got := kinds(rep); !slices.Equal(got, want) {
		t.Fatalf("report %v, want %v", got, want)
	}
	for _, c := range rep.Changes {
		if c.Kind == "subscriptions" && !strings.Contains(c.Detail, "3 seat(s)") {
			t.Fatalf("subscription detail %q", c.Detail)
		}
	}
	ds := f.localDomains(t)
	if len(ds) != 2 {
		t.Fatalf("local domains: %+v", ds)
	}
	var imported *storage.Domain
	for _, d := range ds {
		if d.Name == "outside.example" {
			imported = d
		}
	}
	if imported == nil || imported.State != storage.DomainUnverified || imported.TenantID != f.tenant.ID {
		t.Fatalf("imported domain: %+v", imported)
	}
	tn := f.stored(t)
	if tn.LastSync == nil || tn.LastSync.Before(before.Add(-time.Second)) || !tn.SyncLeaseUntil.IsZero() {
		t.Fatalf("after the synchronization: last %v, lease %v", tn.LastSync, tn.SyncLeaseUntil)
	}

	// Again: nothing new is imported; a verification is picked up.
	f.users.changes = nil
	rep = f.sync(t)
	if got := kinds(rep); !slices.Equal(got, []string{"domains:missing:gone.example", "subscriptions:external:" + external}) {
		t.Fatalf("second report %v", got)
	}
	if n := len(f.localDomains(t)); n != 2 {
		t.Fatalf("%d local domains after a second synchronization", n)
	}
	recs, err := g.VerificationRecords(ctx, "outside.example")
	if err != nil {
		t.Fatal(err)
	}
	f.Sim.Admin("POST", "/_sim/dns", map[string]any{"domain": "outside.example", "txt": recs[0].Text}, nil)
	if _, err := g.VerifyDomain(ctx, "outside.example"); err != nil {
		t.Fatal(err)
	}
	rep = f.sync(t)
	if got := kinds(rep); !slices.Contains(got, "domains:updated:outside.example") {
		t.Fatalf("verification not reported: %v", got)
	}
	d, err := f.Store.GetDomain(ctx, f.Inst.InstanceID, imported.ID)
	if err != nil || d.State != storage.DomainVerified {
		t.Fatalf("verification not recorded: %+v %v", d, err)
	}
}

// Two synchronizations of one tenant never run at once: the second is
// refused with Conflict while the first holds the tenant, and runs once it
// has finished.
func TestConcurrentSynchronizationsAreRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g, err := f.Graph(f.Inst, f.tenant.MSCustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddDomain(ctx, "once.example"); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	f.users.entered, f.users.release = entered, release
	type result struct {
		rep *syncer.Report
		err error
	}
	first := make(chan result, 1)
	go func() {
		rep, err := f.svc.Synchronize(ctx, f.Request("sync"), f.tenant.ID)
		first <- result{rep, err}
	}()
	<-entered
	_, err = f.svc.Synchronize(ctx, f.Request("sync"), f.tenant.ID)
	if e := apierr.From(err); err == nil || e.Reason != apierr.Conflict || e.Code != codes.Aborted {
		t.Fatalf("second synchronization while the first runs: %v", err)
	}
	f.users.mu.Lock()
	calls := f.users.calls
	f.users.mu.Unlock()
	if calls != 1 {
		t.Fatalf("the refused synchronization ran: %d user synchronizations", calls)
	}
	close(release)
	r := <-first
	if r.err != nil || !slices.Equal(kinds(r.rep), []string{"domains:imported:once.example"}) {
		t.Fatalf("first synchronization: %+v %v", r.rep, r.err)
	}
	if n := len(f.localDomains(t)); n != 1 {
		t.Fatalf("%d local domains", n)
	}
	if rep := f.sync(t); len(rep.Changes) != 0 {
		t.Fatalf("synchronization after the first: %v", kinds(rep))
	}
}

// A failed synchronization releases the tenant and records no success; a
// lease left by a process that died runs out.
func TestFailedSynchronizationReleasesTheTenant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.users.err = apierr.New(codes.Unavailable, apierr.MicrosoftUnavailable, "user service down")
	_, err := f.svc.Synchronize(ctx, f.Request("sync"), f.tenant.ID)
	if apierr.From(err).Reason != apierr.MicrosoftUnavailable {
		t.Fatalf("failure: %v", err)
	}
	if tn := f.stored(t); tn.LastSync != nil || !tn.SyncLeaseUntil.IsZero() {
		t.Fatalf("after a failure: last %v, lease %v", tn.LastSync, tn.SyncLeaseUntil)
	}
	f.users.err = nil
	f.sync(t)

	tn := f.stored(t)
	tn.SyncLeaseUntil = time.Now().Add(-time.Second) // a dead process's lease that ran out
	if err := f.Store.UpdateTenant(ctx, tn, nil); err != nil {
		t.Fatal(err)
	}
	f.sync(t)
	tn = f.stored(t)
	tn.SyncLeaseUntil = time.Now().Add(time.Hour) // one still held
	if err := f.Store.UpdateTenant(ctx, tn, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Synchronize(ctx, f.Request("sync"), f.tenant.ID); apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("held tenant: %v", err)
	}
}

// Only an active tenant of the instance is synchronized.
func TestSynchronizeRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Synchronize(ctx, f.Request("sync"), uuid.NewString()); apierr.From(err).Reason != apierr.NotFound {
		t.Fatalf("unknown tenant: %v", err)
	}
	creating := &storage.Tenant{ID: uuid.NewString(), InstanceID: f.Inst.InstanceID, State: storage.StateCreating}
	if err := f.Store.CreateTenant(ctx, creating, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Synchronize(ctx, f.Request("sync"), creating.ID); apierr.From(err).Reason != apierr.TenantNotReady {
		t.Fatalf("tenant not active: %v", err)
	}
	req := f.Request("sync")
	req.InstanceID = uuid.NewString()
	if _, err := f.svc.Synchronize(ctx, req, f.tenant.ID); apierr.From(err).Reason != apierr.UnknownInstance {
		t.Fatalf("unknown instance: %v", err)
	}
	if f.users.calls != 0 {
		t.Fatal("a refused synchronization reached the user service")
	}
	if tn, _ := f.Store.GetTenant(ctx, f.Inst.InstanceID, creating.ID); !tn.SyncLeaseUntil.IsZero() {
		t.Fatal("a refused synchronization holds the tenant")
	}
}

type plannedRegistrations struct {
	mu    sync.Mutex
	items []registrar.Item
}

func (p *plannedRegistrations) Enqueue(_ context.Context, _ *storage.Instance, _ string, items []registrar.Item) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.items = append(p.items, items...)
	return nil
}

// What a run adopted before a later step failed is registered all the
// same: the next run finds it adopted already and reports it no more.
func TestAdoptedBeforeAFailureAreRegistered(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reg := &plannedRegistrations{}
	f.svc.Registrar = reg
	g, err := f.Graph(f.Inst, f.tenant.MSCustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddDomain(ctx, "outside-"+f.tenant.ID[:8]+".example"); err != nil {
		t.Fatal(err)
	}
	f.users.err = apierr.New(codes.Unavailable, apierr.MicrosoftUnavailable, "user service down")
	if _, err := f.svc.Synchronize(ctx, f.Request("sync"), f.tenant.ID); err == nil {
		t.Fatal("the failed step was not reported")
	}
	if len(reg.items) != 1 || reg.items[0].Service != "domains" || reg.items[0].Props["domain_name"] != "outside-"+f.tenant.ID[:8]+".example" {
		t.Fatalf("planned registrations: %+v", reg.items)
	}
}
