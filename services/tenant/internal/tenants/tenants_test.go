package tenants_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/jobs/jobstest"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
	"github.com/o365gateway/gateway/services/tenant/internal/tenanttest"
)

// fixture is the tenant service on the simulator, with jobs driven by hand.
type fixture struct {
	*tenanttest.Env
	svc   *tenants.Service
	jobs  *jobstest.Driver
	clock *jobstest.Clock
	pc    *mscloudtest.Hooks // answers injected into the real Partner Center client
	inst  *flakyInstances    // failures injected into instance reads
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := tenanttest.New(t)
	f := &fixture{Env: e, clock: &jobstest.Clock{}, pc: &mscloudtest.Hooks{}, inst: &flakyInstances{InstanceStore: e.Store}}
	// Microsoft's rate budgets (a Retry-After pauses one) run on the
	// fixture's clock, which the tests move past a Retry-After.
	e.Factory.Budget = &budget.Limiter{Store: &budget.Local{Now: f.clock.Now}}
	insts := *e.Instances
	insts.Store = f.inst
	f.svc = &tenants.Service{Store: e.Store, Instances: &insts, Sealer: e.Sealer, Endpoints: e.Endpoints, Log: e.Log, Now: f.clock.Now,
		PC: func(in *storage.Instance) (tenants.PartnerCenter, error) {
			c, err := e.PartnerCenter(in)
			if err != nil {
				return nil, err
			}
			return hookedPC{PartnerCenter: c, h: f.pc}, nil
		}}
	f.jobs = &jobstest.Driver{Store: e.Store.Jobs(), Handlers: f.svc.Handlers(), Now: f.clock.Now}
	return f
}

// hookedPC is the real client with injected answers.
type hookedPC struct {
	tenants.PartnerCenter
	h *mscloudtest.Hooks
}

func (p hookedPC) CreateCustomer(ctx context.Context, c partnercenter.Customer) (*partnercenter.Customer, error) {
	return mscloudtest.Call(p.h, "CreateCustomer", func() (*partnercenter.Customer, error) { return p.PartnerCenter.CreateCustomer(ctx, c) })
}

func (p hookedPC) FindCustomerByDomain(ctx context.Context, domain string) (*partnercenter.Customer, error) {
	return mscloudtest.Call(p.h, "FindCustomerByDomain", func() (*partnercenter.Customer, error) {
		return p.PartnerCenter.FindCustomerByDomain(ctx, domain)
	})
}

// unavailable is a transient Partner Center failure.
var unavailable = &partnercenter.Error{StatusCode: http.StatusServiceUnavailable, Description: "Service Unavailable"}

// flakyInstances fails instance reads while err is set.
type flakyInstances struct {
	storage.InstanceStore
	mu  sync.Mutex
	err error
}

func (s *flakyInstances) set(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

func (s *flakyInstances) GetInstance(ctx context.Context, id string) (*storage.Instance, error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.InstanceStore.GetInstance(ctx, id)
}

func input(sub string) tenants.Input {
	return tenants.Input{ID: uuid.NewString(), InitialSubdomain: sub,
		Company: &storage.Company{Name: "Contoso Ltd", Email: "admin@contoso.example", Culture: "en-US", Language: "en"},
		Address: &storage.Address{FirstName: "Ann", LastName: "Lee", AddressLine1: "1 Microsoft Way", City: "Redmond", State: "WA",
			PostalCode: "98052", Country: "US", PhoneNumber: "4255550100"},
		MCA: &storage.MCA{FirstName: "Ann", LastName: "Lee", Email: "ann@contoso.example", DateAgreed: "2026-11-20T10:00:00Z"}}
}

func (f *fixture) tenant(t *testing.T, id string) *storage.Tenant {
	t.Helper()
	tn, err := f.Store.GetTenant(context.Background(), f.Inst.InstanceID, id)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// provision sends the sync request and expects a 202.
func (f *fixture) provision(t *testing.T, in tenants.Input) {
	t.Helper()
	a, err := f.svc.Provision(context.Background(), f.Request("sync"), in)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Running() || a.Status() != "aps:provisioning" || a.Secret != "" {
		t.Fatalf("first answer: running %v status %s", a.Running(), a.Status())
	}
}

// drain runs the due jobs and returns the outcome of the last one.
func (f *fixture) drain(t *testing.T) string { t.Helper(); return f.jobs.MustDrain(t) }

func (f *fixture) next(t *testing.T) jobstest.Result { t.Helper(); return f.jobs.MustNext(t) }

func wantReason(t *testing.T, err error, reason string, status int) *apierr.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got no error", reason)
	}
	e := apierr.From(err)
	if e.Reason != reason || e.HTTPStatus() != status {
		t.Fatalf("want %s %d, got %s %d: %s", reason, status, e.Reason, e.HTTPStatus(), e.Message)
	}
	return e
}

// Everything the synchronous phase can know is refused there with its
// reason; nothing is stored, queued or created at Microsoft.
func TestProvisionRefusalsStoreNothing(t *testing.T) {
	f := newFixture(t)
	other := f.Sim.RegisterPartner("global", "US")
	taken := tenanttest.Subdomain()
	f.AddCustomer(other.TenantID, taken)
	cases := []struct {
		name   string
		req    func(*apsmd.Request)
		in     func(*tenants.Input)
		reason string
		status int
	}{
		{"unknown instance", func(r *apsmd.Request) { r.InstanceID = uuid.NewString() }, nil, apierr.UnknownInstance, 404},
		{"id not a UUID", nil, func(in *tenants.Input) { in.ID = "42" }, apierr.InvalidRequest, 400},
		{"bad subdomain", nil, func(in *tenants.Input) { in.InitialSubdomain = "not-valid.x" }, apierr.InvalidRequest, 400},
		{"no company and no account", nil, func(in *tenants.Input) { in.Company = nil }, apierr.InvalidRequest, 400},
		{"bad e-mail", nil, func(in *tenants.Input) { in.Company.Email = "nobody" }, apierr.InvalidRequest, 400},
		{"incomplete MCA", nil, func(in *tenants.Input) { in.MCA.Email = "" }, apierr.InvalidRequest, 400},
		{"country outside the sales countries", nil, func(in *tenants.Input) {
			in.Address = &storage.Address{FirstName: "A", LastName: "B", AddressLine1: "1 Rue", City: "Berlin", PostalCode: "10115", Country: "DE"}
		}, apierr.CustomerCountryNotSupported, 400},
		{"country not ISO", nil, func(in *tenants.Input) { in.Address.Country = "USA" }, apierr.InvalidAddress, 400},
		{"bad postal code", nil, func(in *tenants.Input) { in.Address.PostalCode = "ABCDE" }, apierr.InvalidAddress, 400},
		{"unknown state", nil, func(in *tenants.Input) { in.Address.State = "Dubai" }, apierr.InvalidAddress, 400},
		{"street without number", nil, func(in *tenants.Input) { in.Address.AddressLine1 = "Microsoft Way" }, apierr.InvalidAddress, 400},
		{"registration number outside its countries", nil, func(in *tenants.Input) { in.Company.RegistrationNumber = "123" }, apierr.InvalidRequest, 400},
		{"domain taken", nil, func(in *tenants.Input) { in.InitialSubdomain = taken }, apierr.DomainAlreadyTaken, 409},
		{"link of an unknown customer", nil, func(in *tenants.Input) { in.MSCustomerID = uuid.NewString() }, apierr.CustomerNotFound, 400},
		{"link id not a GUID", nil, func(in *tenants.Input) { in.MSCustomerID = "contoso" }, apierr.InvalidRequest, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, in := f.Request("sync"), input(tenanttest.Subdomain())
			if c.req != nil {
				c.req(&req)
			}
			if c.in != nil {
				c.in(&in)
			}
			a, err := f.svc.Provision(context.Background(), req, in)
			e := wantReason(t, err, c.reason, c.status)
			if a != nil {
				t.Fatalf("a refusal answered a representation: %+v", a)
			}
			if c.reason == apierr.CustomerCountryNotSupported && e.Message != apierr.CountryNotSupportedMessage {
				t.Fatalf("message %q", e.Message)
			}
			if _, err := f.Store.GetTenant(context.Background(), f.Inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a refused tenant was stored: %v", err)
			}
			if r, ok := f.jobs.Next(t); ok {
				t.Fatalf("a refusal queued a job: %+v", r.Job)
			}
		})
	}
	if cs := f.Customers(); len(cs) != 0 {
		t.Fatalf("refusals created customers: %+v", cs)
	}
	if n := len(f.Requests.Match("POST", "/v1/customers")); n != 0 {
		t.Fatalf("%d customer creations sent", n)
	}
}

// The 202 lasts while the job runs; the admin password is only in the
// completing answer and its re-sends for 24 hours, never in a read, and is
// erased afterwards.
func TestProvisionRevealsAdminPasswordOnlyInTheCompletingAnswer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	for _, phase := range []string{"sync", "async"} {
		a, err := f.svc.Provision(ctx, f.Request(phase), in)
		if err != nil || !a.Running() || a.Status() != "aps:provisioning" || !strings.HasPrefix(a.Accepted, "Creating Microsoft customer") {
			t.Fatalf("%s re-send while running: %+v %v", phase, a, err)
		}
	}
	if g, err := f.svc.Get(ctx, f.Request(""), in.ID); err != nil || g.Running() || g.V.State != storage.StateCreating {
		t.Fatalf("read while running: %+v %v", g, err)
	}
	if rs := f.jobs.Drain(t); len(rs) != 1 || rs[0].Outcome != jobstest.Done {
		t.Fatalf("re-sends must not queue jobs; ran %+v", rs)
	}
	tn := f.tenant(t, in.ID)
	if tn.State != storage.StateActive || tn.MSCustomerID == "" || tn.AdminLogin == "" || !tn.MCAAttested || tn.Op.Secret == "" {
		t.Fatalf("provisioned tenant: %+v", tn)
	}
	g, err := f.svc.Get(ctx, f.Request(""), in.ID)
	if err != nil || g.Secret != "" || g.Running() {
		t.Fatalf("a read revealed the password: %+v %v", g, err)
	}
	var password string
	for _, phase := range []string{"async", "async", "sync"} { // the completing answer, then re-sends of it
		a, err := f.svc.Provision(ctx, f.Request(phase), in)
		if err != nil || a.Running() || a.Secret == "" {
			t.Fatalf("%s completing answer: %+v %v", phase, a, err)
		}
		pw, err := f.Sealer.Open(a.Secret, a.V.SecretAt())
		if err != nil || pw.Empty() || (password != "" && pw.Reveal() != password) {
			t.Fatalf("revealed password: %v", err)
		}
		password = pw.Reveal()
	}
	if g, _ := f.svc.Get(ctx, f.Request(""), in.ID); g.Secret != "" {
		t.Fatal("the password leaked into a read after the reveal")
	}
	cs := f.Customers()
	if len(cs) != 1 || cs[0].ID != tn.MSCustomerID || !cs[0].MCAAttested {
		t.Fatalf("customers at Microsoft: %+v", cs)
	}
	if strings.Contains(f.Logs.String(), password) || strings.Contains(f.Logs.String(), f.Partner.ClientSecret) {
		t.Fatal("a secret reached the logs")
	}
	// After 24 hours the re-send no longer carries it, and its job erases it.
	f.clock.Advance(lifecycle.RevealFor + time.Minute)
	if a, err := f.svc.Provision(ctx, f.Request("async"), in); err != nil || a.Secret != "" {
		t.Fatalf("revealed after the window: %+v %v", a, err)
	}
	f.drain(t)
	if tn := f.tenant(t, in.ID); tn.Op.Secret != "" || tn.Op.RevealUntil != nil {
		t.Fatalf("the password was not erased: %+v", tn.Op)
	}
}

// A refused create fails the job; the async re-send answers the failure
// (500 with the reason), the sync re-send re-runs it with a fresh
// MS-RequestId: Partner Center would replay the refusal for the old one.
func TestRefusedCreateRerunsWithAFreshRequestID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.Fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "refuse", "status": 400, "count": 1})
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	if out := f.drain(t); out != jobstest.Failed {
		t.Fatalf("refused create: %s", out)
	}
	tn := f.tenant(t, in.ID)
	if tn.State != storage.StateFailed || !tn.Op.Is(lifecycle.Provision, lifecycle.Failed) || tn.Op.FailureReason != apierr.MicrosoftRefused {
		t.Fatalf("after the refusal: state %s op %+v", tn.State, tn.Op)
	}
	_, err := f.svc.Provision(ctx, f.Request("async"), in)
	if e := wantReason(t, err, apierr.MicrosoftRefused, 500); !e.JobFailed || e.Message == "" {
		t.Fatalf("async re-send of the failure: %+v", e)
	}
	a, err := f.svc.Provision(ctx, f.Request("sync"), in)
	if err != nil || !a.Running() {
		t.Fatalf("sync re-send must re-run: %+v %v", a, err)
	}
	if out := f.drain(t); out != jobstest.Done {
		t.Fatalf("re-run: %s", out)
	}
	if tn := f.tenant(t, in.ID); tn.State != storage.StateActive || tn.MSCustomerID == "" {
		t.Fatalf("after the re-run: %+v", tn)
	}
	posts := f.Requests.Match("POST", "/v1/customers")
	if len(posts) != 2 || posts[0].Status != 400 || posts[1].Status != 201 || posts[0].MSRequestID == "" ||
		posts[0].MSRequestID == posts[1].MSRequestID {
		t.Fatalf("customer creations: %+v", posts)
	}
	if n := len(f.Customers()); n != 1 {
		t.Fatalf("%d customers", n)
	}
}

// A create whose outcome is unknown keeps its MS-RequestId on the next try,
// after a read-back that finds nothing.
func TestCreateOfUnknownOutcomeKeepsItsRequestID(t *testing.T) {
	f := newFixture(t)
	f.Fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "throttle",
		"retry_after_seconds": 60, "count": 1})
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	if r := f.next(t); r.Outcome != jobstest.Snoozed {
		t.Fatalf("throttled create: %+v", r)
	}
	if tn := f.tenant(t, in.ID); tn.Op.StepState("create") != lifecycle.StepSent || !tn.Op.Busy() {
		t.Fatalf("after the throttled create: %+v", tn.Op)
	}
	f.clock.Advance(61 * time.Second)
	if out := f.drain(t); out != jobstest.Done {
		t.Fatalf("second try: %s", out)
	}
	posts := f.Requests.Match("POST", "/v1/customers")
	if len(posts) != 2 || posts[0].Status != 429 || posts[1].Status != 201 || posts[0].MSRequestID != posts[1].MSRequestID {
		t.Fatalf("customer creations: %+v", posts)
	}
	if n := len(f.Customers()); n != 1 {
		t.Fatalf("%d customers", n)
	}
}

// A create that Microsoft did although its answer was lost is found by the
// read-back and adopted, not sent again.
func TestLostCreateAnswerIsReadBack(t *testing.T) {
	f := newFixture(t)
	f.pc.Add("CreateCustomer", true, unavailable)
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	if r := f.next(t); r.Outcome != jobstest.Retried {
		t.Fatalf("lost answer: %+v", r)
	}
	if out := f.drain(t); out != jobstest.Done {
		t.Fatalf("retry: %s", out)
	}
	cs := f.Customers()
	tn := f.tenant(t, in.ID)
	if len(cs) != 1 || tn.MSCustomerID != cs[0].ID || tn.State != storage.StateActive || tn.AdminLogin != "admin@"+tn.InitialDomain {
		t.Fatalf("tenant %+v, customers %+v", tn, cs)
	}
	if n := len(f.Requests.Match("POST", "/v1/customers")); n != 1 {
		t.Fatalf("%d customer creations", n)
	}
}

// A 409 on create whose read-back fails is not a taken domain: the outcome
// is still unknown, so the job retries; the next read-back decides.
func TestConflictWithFailedReadBackStaysRetryable(t *testing.T) {
	t.Run("taken by another partner", func(t *testing.T) {
		f := newFixture(t)
		in := input(tenanttest.Subdomain())
		f.provision(t, in)
		// Another partner takes the domain between the check and the job.
		other := f.Sim.RegisterPartner("global", "US")
		f.AddCustomer(other.TenantID, in.InitialSubdomain)
		f.pc.Add("FindCustomerByDomain", false, unavailable)
		if r := f.next(t); r.Outcome != jobstest.Retried {
			t.Fatalf("409 then a failed read-back: %+v", r)
		}
		tn := f.tenant(t, in.ID)
		if tn.State != storage.StateCreating || !tn.Op.Busy() || tn.Op.FailureReason != "" || tn.Op.StepState("create") != lifecycle.StepSent {
			t.Fatalf("after the failed read-back: state %s op %+v", tn.State, tn.Op)
		}
		if out := f.drain(t); out != jobstest.Failed {
			t.Fatalf("second try: %s", out)
		}
		if tn := f.tenant(t, in.ID); tn.State != storage.StateFailed || tn.Op.FailureReason != apierr.DomainAlreadyTaken {
			t.Fatalf("after the read-back found nothing: state %s op %+v", tn.State, tn.Op)
		}
		_, err := f.svc.Provision(context.Background(), f.Request("async"), in)
		wantReason(t, err, apierr.DomainAlreadyTaken, 500)
	})
	t.Run("taken by this tenant's earlier create", func(t *testing.T) {
		f := newFixture(t)
		in := input(tenanttest.Subdomain())
		f.provision(t, in)
		id := f.AddCustomer(f.Partner.TenantID, in.InitialSubdomain)
		f.pc.Add("FindCustomerByDomain", false, unavailable)
		if r := f.next(t); r.Outcome != jobstest.Retried {
			t.Fatalf("409 then a failed read-back: %+v", r)
		}
		if out := f.drain(t); out != jobstest.Done {
			t.Fatalf("second try: %s", out)
		}
		if tn := f.tenant(t, in.ID); tn.State != storage.StateActive || tn.MSCustomerID != id {
			t.Fatalf("the customer was not adopted: %+v", tn)
		}
		if n := len(f.Customers()); n != 1 {
			t.Fatalf("%d customers", n)
		}
	})
}

// A job that cannot read its instance for a moment retries; an instance that
// is gone fails the job for good.
func TestInstanceLoadErrors(t *testing.T) {
	f := newFixture(t)
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	f.inst.set(errors.New("database is locked"))
	if r := f.next(t); r.Outcome != jobstest.Retried {
		t.Fatalf("transient instance read: %+v", r)
	}
	if tn := f.tenant(t, in.ID); tn.State != storage.StateCreating || !tn.Op.Busy() {
		t.Fatalf("after a transient instance read: %+v", tn.Op)
	}
	f.inst.set(nil)
	if out := f.drain(t); out != jobstest.Done {
		t.Fatalf("retry: %s", out)
	}

	gone := input(tenanttest.Subdomain())
	f.provision(t, gone)
	f.inst.set(storage.ErrNotFound)
	if r := f.next(t); r.Outcome != jobstest.Failed {
		t.Fatalf("instance gone: %+v", r)
	}
	f.inst.set(nil)
	if tn := f.tenant(t, gone.ID); tn.State != storage.StateFailed || tn.Op.FailureReason != apierr.UnknownInstance {
		t.Fatalf("after the instance vanished: state %s op %+v", tn.State, tn.Op)
	}
	if n := len(f.Customers()); n != 1 {
		t.Fatalf("%d customers", n)
	}
}

// A configure that failed runs again when re-sent, although the stored
// representation already equals the request; a settled one does nothing.
func TestFailedConfigureRunsAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	f.drain(t)
	tn := f.tenant(t, in.ID)

	// Nothing changes: answered at once, no job.
	a, err := f.svc.Configure(ctx, f.Request("sync"), in.ID, in)
	if err != nil || a.Running() {
		t.Fatalf("unchanged configure: %+v %v", a, err)
	}
	if r, ok := f.jobs.Next(t); ok {
		t.Fatalf("unchanged configure queued %+v", r.Job)
	}

	billing := "/v1/customers/" + tn.MSCustomerID + "/profiles/billing"
	f.Fault(map[string]any{"api": "partnercenter", "method": "PUT", "path": billing, "mode": "refuse", "status": 400, "count": 1})
	change := in
	change.Company = &storage.Company{Name: "Contoso Group", Email: "admin@contoso.example", Culture: "en-US", Language: "en"}
	if a, err := f.svc.Configure(ctx, f.Request("sync"), in.ID, change); err != nil || !a.Running() || a.Status() != "aps:configuring" {
		t.Fatalf("configure: %+v %v", a, err)
	}
	if out := f.drain(t); out != jobstest.Failed {
		t.Fatalf("refused configure: %s", out)
	}
	tn = f.tenant(t, in.ID)
	if tn.Company.Name != "Contoso Group" || tn.Op.Settled() || tn.State != storage.StateActive {
		t.Fatalf("after the failed configure: %+v", tn)
	}
	if _, err := f.svc.Configure(ctx, f.Request("async"), in.ID, change); !apierr.From(err).JobFailed {
		t.Fatalf("async re-send of the failed configure: %v", err)
	}
	a, err = f.svc.Configure(ctx, f.Request("sync"), in.ID, change)
	if err != nil || !a.Running() {
		t.Fatalf("the re-sent configure must run again: %+v %v", a, err)
	}
	if out := f.drain(t); out != jobstest.Done {
		t.Fatalf("re-run: %s", out)
	}
	pc, _ := f.PartnerCenter(f.Inst)
	p, err := pc.GetBillingProfile(ctx, tn.MSCustomerID)
	if err != nil || p.CompanyName != "Contoso Group" {
		t.Fatalf("billing profile at Microsoft: %+v %v", p, err)
	}
	if tn := f.tenant(t, in.ID); !tn.Op.Settled() {
		t.Fatalf("not settled: %+v", tn.Op)
	}
}

// Another operation while one runs is refused as busy; configuration rules
// are checked before anything is queued.
func TestConfigureRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	_, err := f.svc.Configure(ctx, f.Request("sync"), in.ID, in)
	if e := wantReason(t, err, apierr.Conflict, 409); e.Code != codes.Aborted {
		t.Fatalf("configure while provisioning: %+v", e)
	}
	f.drain(t)
	for name, mutate := range map[string]func(*tenants.Input){
		"subdomain":    func(x *tenants.Input) { x.InitialSubdomain = tenanttest.Subdomain() },
		"country":      func(x *tenants.Input) { x.Address.Country = "CA" },
		"customer id":  func(x *tenants.Input) { x.MSCustomerID = uuid.NewString() },
		"bad postcode": func(x *tenants.Input) { x.Address.PostalCode = "nope" },
	} {
		x := input(in.InitialSubdomain)
		x.ID = in.ID
		mutate(&x)
		_, err := f.svc.Configure(ctx, f.Request("sync"), in.ID, x)
		if e := apierr.From(err); err == nil || e.HTTPStatus() != 400 {
			t.Fatalf("%s change: %v", name, err)
		}
	}
	if r, ok := f.jobs.Next(t); ok {
		t.Fatalf("a refused configure queued %+v", r.Job)
	}
	_, err = f.svc.Configure(ctx, f.Request("sync"), uuid.NewString(), in)
	wantReason(t, err, apierr.NotFound, 404)
}

// An unprovision supersedes a provisioning that has not run: its job does
// nothing, nothing is created, and the tenant is released.
func TestUnprovisionSupersedesProvision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	a, err := f.svc.Unprovision(ctx, f.Request("sync"), in.ID)
	if err != nil || !a.Running() || a.Status() != "aps:deleted" {
		t.Fatalf("unprovision while provisioning: %+v %v", a, err)
	}
	if a, err := f.svc.Provision(ctx, f.Request("async"), in); err != nil || a.Running() {
		t.Fatalf("the superseded provision's re-send: %+v %v", a, err)
	}
	rs := f.jobs.Drain(t)
	if len(rs) != 2 || rs[0].Outcome != jobstest.Done || rs[1].Outcome != jobstest.Done {
		t.Fatalf("jobs: %+v", rs)
	}
	if _, err := f.Store.GetTenant(ctx, f.Inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("tenant kept: %v", err)
	}
	if n := len(f.Requests.Match("POST", "/v1/customers")); n != 0 || len(f.Customers()) != 0 {
		t.Fatalf("a superseded provision created a customer (%d creations)", n)
	}
	if a, err := f.svc.Unprovision(ctx, f.Request("async"), in.ID); a != nil || err != nil {
		t.Fatalf("re-send of a finished unprovision: %+v %v", a, err)
	}
}

// A sandbox customer is deleted at Microsoft; a production partner's
// customer is kept and the tenant released at once.
func TestUnprovision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	f.drain(t)
	if a, err := f.svc.Unprovision(ctx, f.Request("sync"), in.ID); err != nil || !a.Running() {
		t.Fatalf("sandbox unprovision: %+v %v", a, err)
	}
	f.drain(t)
	if n := len(f.Customers()); n != 0 {
		t.Fatalf("%d customers left", n)
	}

	prod := f.AddInstance(func(i *storage.Instance) { i.TestPartner = false })
	f.Inst = prod
	in = input(tenanttest.Subdomain())
	f.provision(t, in)
	f.drain(t)
	if a, err := f.svc.Unprovision(ctx, f.Request("sync"), in.ID); a != nil || err != nil {
		t.Fatalf("production unprovision must finish at once: %+v %v", a, err)
	}
	if _, err := f.Store.GetTenant(ctx, prod.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("tenant kept: %v", err)
	}
	if n := len(f.Customers()); n != 1 {
		t.Fatalf("the production customer must stay: %d customers", n)
	}
}

// Linking an existing customer creates nothing: the job consents the
// application and attests the MCA.
func TestProvisionLinksAnExistingCustomer(t *testing.T) {
	f := newFixture(t)
	sub := tenanttest.Subdomain()
	id := f.AddCustomer(f.Partner.TenantID, sub)
	in := input("")
	in.MSCustomerID = id
	in.Company, in.Address = nil, nil
	a, err := f.svc.Provision(context.Background(), f.Request("sync"), in)
	if err != nil || !a.Running() || !strings.HasPrefix(a.Accepted, "Linking Microsoft customer "+id) {
		t.Fatalf("link: %+v %v", a, err)
	}
	if out := f.drain(t); out != jobstest.Done {
		t.Fatalf("link job: %s", out)
	}
	tn := f.tenant(t, in.ID)
	if !tn.Linked || tn.MSCustomerID != id || tn.InitialDomain != sub+".onmicrosoft.com" || tn.State != storage.StateActive || tn.Op.Secret != "" {
		t.Fatalf("linked tenant: %+v", tn)
	}
	cs := f.Customers()
	if len(cs) != 1 || !cs[0].MCAAttested || len(f.Requests.Match("POST", "/v1/customers")) != 0 {
		t.Fatalf("customers: %+v", cs)
	}
}

// TestGetAnswersAsTheInstanceFirst: a read costs one query, yet answers
// as if the instance were read first: an unknown instance is the answer
// whatever the tenant id, a tenant of another instance is not found.
func TestGetAnswersAsTheInstanceFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	unknown := f.Request("")
	unknown.InstanceID = uuid.NewString()
	for _, c := range []struct {
		name   string
		req    apsmd.Request
		id     string
		reason string
	}{
		{"unknown instance, known tenant", unknown, in.ID, apierr.UnknownInstance},
		{"unknown instance, unknown tenant", unknown, uuid.NewString(), apierr.UnknownInstance},
		{"unknown instance, invalid id", unknown, "not-a-uuid", apierr.UnknownInstance},
		{"known instance, unknown tenant", f.Request(""), uuid.NewString(), apierr.NotFound},
		{"known instance, invalid id", f.Request(""), "not-a-uuid", apierr.InvalidRequest},
	} {
		if _, err := f.svc.Get(ctx, c.req, c.id); apierr.From(err).Reason != c.reason {
			t.Errorf("%s: %v, want %s", c.name, err, c.reason)
		}
	}
	if g, err := f.svc.Get(ctx, f.Request(""), in.ID); err != nil || g.V.ID != in.ID {
		t.Fatalf("the tenant: %v %v", g, err)
	}
}
