package subscriptions_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/jobs/jobstest"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/logging"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/tenantclient"
	"github.com/o365gateway/gateway/services/shared/tenantclient/tenantclienttest"
	"github.com/o365gateway/gateway/sim/mscloud"
	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"

	"github.com/o365gateway/gateway/services/subscription/internal/catalog"
	"github.com/o365gateway/gateway/services/subscription/internal/storage"
	"github.com/o365gateway/gateway/services/subscription/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/subscription/internal/subscriptions"
)

// Offers of the simulator's global catalog.
const (
	e1            = "91FD106F-4B2C-4938-95AC-F54F74E9A239" // legacy, upgrades to E3
	e3            = "796B6B5F-613C-4E24-A17C-EBA730D49C02"
	e5            = "DFB8A0CE-3E8B-4C4A-B9B7-3E7BE6F1C2B5"
	archive       = "2828BE95-46BA-4F91-B2FD-0BEF192ECF60" // legacy add-on of E1, E3
	businessBasic = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"       // new commerce
)

type fixture struct {
	t        *testing.T
	sim      *mscloudtest.Sim
	requests *mscloudtest.Requests
	store    *sqlite.Store
	tenants  *tenantclienttest.Fake
	svc      *subscriptions.Service
	pc       *partnercenter.Client // the partner's own client, for set-up and checks
	hooks    *mscloudtest.Hooks    // answers injected into the service's client
	jobs     *jobstest.Driver
	clock    *jobstest.Clock
	inst     tenantclient.Instance
	tenant   tenantclient.Tenant // active, MCA attested, US
}

// hookedPC is the real client with injected answers.
type hookedPC struct {
	subscriptions.PartnerCenter
	h *mscloudtest.Hooks
}

func (p hookedPC) CreateOrder(ctx context.Context, customerID string, o partnercenter.Order) (*partnercenter.Order, error) {
	return mscloudtest.Call(p.h, "CreateOrder", func() (*partnercenter.Order, error) { return p.PartnerCenter.CreateOrder(ctx, customerID, o) })
}

func (p hookedPC) Checkout(ctx context.Context, customerID, cartID string) (*partnercenter.CheckoutResult, error) {
	return mscloudtest.Call(p.h, "Checkout", func() (*partnercenter.CheckoutResult, error) {
		return p.PartnerCenter.Checkout(ctx, customerID, cartID)
	})
}

func (p hookedPC) Upgrade(ctx context.Context, customerID, subID string, t partnercenter.UpgradeTarget) (*partnercenter.UpgradeResult, error) {
	return mscloudtest.Call(p.h, "Upgrade", func() (*partnercenter.UpgradeResult, error) {
		return p.PartnerCenter.Upgrade(ctx, customerID, subID, t)
	})
}

var unavailable = &partnercenter.Error{StatusCode: http.StatusServiceUnavailable, Description: "Service Unavailable"}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, requests: &mscloudtest.Requests{}, tenants: &tenantclienttest.Fake{}, hooks: &mscloudtest.Hooks{}, clock: &jobstest.Clock{}}
	f.sim = mscloudtest.Start(t, mscloud.Options{Logger: f.requests.Logger()})
	p := f.sim.RegisterPartner("global", "US")
	base, _ := clouds.Lookup("global")
	log := logging.New(io.Discard, "error", "subscription")
	factory := &msclients.Factory{Endpoints: base.Override(f.sim.URL, f.sim.URL, f.sim.URL+"/v1.0"), Simulated: true, HTTP: f.sim.Client,
		MaxRetryDelay: 2 * time.Second, Log: log,
		// Microsoft's rate budgets (a Retry-After pauses one) run on the
		// fixture's clock, which the tests move past a Retry-After.
		Budget: &budget.Limiter{Store: &budget.Local{Now: f.clock.Now}}}
	f.inst = tenantclient.Instance{InstanceID: uuid.NewString(), AppID: uuid.NewString(), Cloud: "global", TestPartner: true,
		Credentials: msclients.Credentials{PartnerTenantID: p.TenantID, ClientID: p.ClientID, ClientSecret: secret.New(p.ClientSecret)}}
	f.inst.Credentials.InstanceID = f.inst.InstanceID
	f.tenants.AddInstance(f.inst)
	var err error
	if f.pc, err = factory.PartnerCenter(f.inst.Credentials); err != nil {
		t.Fatal(err)
	}
	f.tenant = f.customer()
	if f.store, err = sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "subscription.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	f.svc = &subscriptions.Service{Store: f.store, Tenants: f.tenants, Catalog: &catalog.Catalog{TTL: time.Hour}, UsageTTL: time.Millisecond,
		Log: log, Now: f.clock.Now,
		PC: func(inst *tenantclient.Instance) (subscriptions.PartnerCenter, error) {
			c, err := factory.PartnerCenter(inst.Credentials)
			if err != nil {
				return nil, err
			}
			return hookedPC{PartnerCenter: c, h: f.hooks}, nil
		}}
	f.jobs = &jobstest.Driver{Store: f.store.Jobs(), Handlers: f.svc.Handlers(), Now: f.clock.Now}
	return f
}

// customer creates a customer with the MCA attested and registers it as an
// active tenant.
func (f *fixture) customer() tenantclient.Tenant {
	f.t.Helper()
	ctx := context.Background()
	sub := "c" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	c, err := f.pc.CreateCustomer(ctx, partnercenter.Customer{
		CompanyProfile: partnercenter.CompanyProfile{Domain: sub + ".onmicrosoft.com"},
		BillingProfile: partnercenter.BillingProfile{Email: "a@b.example", Culture: "en-US", Language: "en", CompanyName: "C",
			DefaultAddress: partnercenter.Address{FirstName: "A", LastName: "B", AddressLine1: "1 Microsoft Way", City: "Redmond",
				State: "WA", PostalCode: "98052", Country: "US"}}})
	if err != nil {
		f.t.Fatal(err)
	}
	tmpl, err := f.pc.MCATemplateID(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.pc.AttestAgreement(ctx, c.ID, partnercenter.Agreement{TemplateID: tmpl, Type: "MicrosoftCustomerAgreement",
		DateAgreed: "2026-11-01", PrimaryContact: partnercenter.Contact{FirstName: "A", LastName: "B", Email: "a@b.example"}}); err != nil {
		f.t.Fatal(err)
	}
	t := tenantclient.Tenant{ID: uuid.NewString(), MSCustomerID: c.ID, Country: "US", MCAAttested: true, State: "active",
		InitialDomain: sub + ".onmicrosoft.com"}
	f.tenants.SetTenant(f.inst.InstanceID, t)
	return t
}

func (f *fixture) request(phase string) apsmd.Request {
	return apsmd.Request{InstanceID: f.inst.InstanceID, Phase: phase}
}

func limit(n int64) *int64 { return &n }

func (f *fixture) input(offer string, seats int64) subscriptions.Input {
	return subscriptions.Input{ID: uuid.NewString(), TenantID: f.tenant.ID, OfferID: offer, Limit: limit(seats)}
}

func (f *fixture) get(id string) *storage.Subscription {
	f.t.Helper()
	s, err := f.store.Get(context.Background(), f.inst.InstanceID, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) provision(in subscriptions.Input) {
	f.t.Helper()
	v, err := f.svc.Provision(context.Background(), f.request("sync"), in)
	if err != nil {
		f.t.Fatal(err)
	}
	if !v.Running() || v.Status() != "aps:provisioning" {
		f.t.Fatalf("first answer: %+v", v.Answer)
	}
}

func (f *fixture) next() jobstest.Result { f.t.Helper(); return f.jobs.MustNext(f.t) }

func (f *fixture) drain() string { f.t.Helper(); return f.jobs.MustDrain(f.t) }

// active provisions a subscription and runs its purchase.
func (f *fixture) active(in subscriptions.Input) *storage.Subscription {
	f.t.Helper()
	f.provision(in)
	if out := f.drain(); out != jobstest.Done {
		f.t.Fatalf("purchase: %s", out)
	}
	s := f.get(in.ID)
	if s.State != storage.StateActive || s.MSSubscriptionID == "" {
		f.t.Fatalf("purchased: %+v", s)
	}
	return s
}

type simSubscription struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	OfferID    string `json:"offer_id"`
	Quantity   int    `json:"quantity"`
	Status     string `json:"status"`
}

// atMicrosoft lists the tenant's subscriptions at the simulator.
func (f *fixture) atMicrosoft() map[string]simSubscription {
	f.t.Helper()
	var st struct {
		Subscriptions []simSubscription `json:"subscriptions"`
	}
	f.sim.State(f.inst.Credentials.PartnerTenantID, &st)
	out := map[string]simSubscription{}
	for _, s := range st.Subscriptions {
		if s.CustomerID == f.tenant.MSCustomerID {
			out[s.ID] = s
		}
	}
	return out
}

func (f *fixture) posts(suffix string) []mscloudtest.Request {
	prefix := "/v1/customers/" + f.tenant.MSCustomerID + "/"
	return f.requests.Filter(func(q mscloudtest.Request) bool {
		return q.Method == "POST" && strings.HasPrefix(q.Path, prefix) && strings.HasSuffix(q.Path, suffix)
	})
}

func wantReason(t *testing.T, err error, reason string, status int) *apierr.Error {
	t.Helper()
	e := apierr.From(err)
	if err == nil || e.Reason != reason || e.HTTPStatus() != status {
		t.Fatalf("want %s %d, got %v", reason, status, err)
	}
	return e
}

// Everything the synchronous phase can know is refused there with its
// reason; nothing is stored, queued or bought.
func TestProvisionRefusals(t *testing.T) {
	f := newFixture(t)
	creating := tenantclient.Tenant{ID: uuid.NewString(), State: "creating"}
	f.tenants.SetTenant(f.inst.InstanceID, creating)
	noMCA := f.customer()
	noMCA.MCAAttested = false
	f.tenants.SetTenant(f.inst.InstanceID, noMCA)
	cases := []struct {
		name   string
		req    func(*apsmd.Request)
		in     func(*subscriptions.Input)
		reason string
		status int
	}{
		{"unknown instance", func(r *apsmd.Request) { r.InstanceID = uuid.NewString() }, nil, apierr.UnknownInstance, 404},
		{"id not a UUID", nil, func(in *subscriptions.Input) { in.ID = "42" }, apierr.InvalidRequest, 400},
		{"no tenant link", nil, func(in *subscriptions.Input) { in.TenantID = "" }, apierr.InvalidRequest, 400},
		{"unknown tenant", nil, func(in *subscriptions.Input) { in.TenantID = uuid.NewString() }, apierr.NotFound, 404},
		{"tenant not active", nil, func(in *subscriptions.Input) { in.TenantID = creating.ID }, apierr.TenantNotReady, 400},
		{"no offer", nil, func(in *subscriptions.Input) { in.OfferID = " " }, apierr.InvalidRequest, 400},
		{"unknown offer", nil, func(in *subscriptions.Input) { in.OfferID = "NOT-AN-OFFER" }, apierr.OfferNotFound, 400},
		{"MCA not attested", nil, func(in *subscriptions.Input) { in.TenantID = noMCA.ID }, apierr.CustomerAgreementRequired, 400},
		{"unlimited", nil, func(in *subscriptions.Input) { in.Limit = nil }, apierr.QuantityOutOfRange, 400},
		{"below the minimum", nil, func(in *subscriptions.Input) { in.Limit = limit(0) }, apierr.QuantityOutOfRange, 400},
		{"above the sandbox's 25", nil, func(in *subscriptions.Input) { in.Limit = limit(26) }, apierr.QuantityOutOfRange, 400},
		{"term on a legacy offer", nil, func(in *subscriptions.Input) { in.TermDuration = "P1Y" }, apierr.InvalidRequest, 400},
		{"unknown billing cycle", nil, func(in *subscriptions.Input) { in.BillingCycle = "triennial" }, apierr.InvalidRequest, 400},
		{"term not offered", nil, func(in *subscriptions.Input) { in.OfferID, in.TermDuration = businessBasic, "P2Y" }, apierr.InvalidRequest, 400},
		{"monthly term billed annually", nil, func(in *subscriptions.Input) {
			in.OfferID, in.TermDuration, in.BillingCycle = businessBasic, "P1M", "annual"
		}, apierr.InvalidRequest, 400},
		{"add-on without parent", nil, func(in *subscriptions.Input) { in.OfferID = archive }, apierr.AddOnParentRequired, 400},
		{"add-on with an unknown parent", nil, func(in *subscriptions.Input) { in.OfferID, in.ParentID = archive, uuid.NewString() }, apierr.AddOnParentRequired, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, in := f.request("sync"), f.input(e1, 2)
			if c.req != nil {
				c.req(&req)
			}
			if c.in != nil {
				c.in(&in)
			}
			v, err := f.svc.Provision(context.Background(), req, in)
			if v != nil {
				t.Fatalf("a refusal answered %+v", v.Answer)
			}
			wantReason(t, err, c.reason, c.status)
			if _, err := f.store.Get(context.Background(), f.inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a refused subscription was stored: %v", err)
			}
			if r, ok := f.jobs.Next(t); ok {
				t.Fatalf("a refusal queued %+v", r.Job)
			}
		})
	}
	t.Run("sandbox limit of 5 subscriptions", func(t *testing.T) {
		for range 5 {
			s := &storage.Subscription{ID: uuid.NewString(), InstanceID: f.inst.InstanceID, TenantID: f.tenant.ID, State: storage.StateActive}
			if err := f.store.Create(context.Background(), s, nil); err != nil {
				t.Fatal(err)
			}
		}
		_, err := f.svc.Provision(context.Background(), f.request("sync"), f.input(e1, 2))
		wantReason(t, err, apierr.SandboxLimitReached, 400)
	})
	if n := len(f.posts("/orders")) + len(f.posts("/carts")); n != 0 || len(f.atMicrosoft()) != 0 {
		t.Fatalf("refusals bought something (%d requests)", n)
	}
}

// A purchase answers 202 while it runs, once, and the final representation
// afterwards; the subscription is bought once.
func TestLegacyPurchase(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input(strings.ToLower(e1), 2)
	f.provision(in)
	for _, phase := range []string{"sync", "async"} {
		v, err := f.svc.Provision(ctx, f.request(phase), in)
		if err != nil || !v.Running() || !strings.Contains(v.Accepted, "Buying 2 seats") {
			t.Fatalf("%s re-send while running: %+v %v", phase, v, err)
		}
	}
	if rs := f.jobs.Drain(t); len(rs) != 1 || rs[0].Outcome != jobstest.Done {
		t.Fatalf("jobs: %+v", rs)
	}
	s := f.get(in.ID)
	if s.State != storage.StateActive || s.OfferID != e1 || s.Kind != storage.KindLegacy || s.MSOrderID == "" || s.BillingCycle != "monthly" ||
		!s.AutoRenew || !s.Op.Settled() {
		t.Fatalf("purchased: %+v", s)
	}
	v, err := f.svc.Provision(ctx, f.request("async"), in)
	if err != nil || v.Running() || v.V.MSSubscriptionID != s.MSSubscriptionID || v.Usage == nil || *v.Usage != 0 {
		t.Fatalf("completing answer: %+v %v", v, err)
	}
	ms := f.atMicrosoft()
	if len(ms) != 1 || ms[s.MSSubscriptionID].Quantity != 2 || ms[s.MSSubscriptionID].Status != "active" {
		t.Fatalf("at Microsoft: %+v", ms)
	}
	if n := len(f.posts("/orders")); n != 1 {
		t.Fatalf("%d orders", n)
	}
}

// A refused order fails the purchase; the async re-send answers the
// failure, the sync re-send re-runs it with a fresh MS-RequestId.
func TestRefusedOrderRerunsWithAFreshRequestID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.sim.Admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST",
		"path": "/v1/customers/" + f.tenant.MSCustomerID + "/orders", "mode": "refuse", "status": 400, "count": 1}, nil)
	in := f.input(e1, 2)
	f.provision(in)
	if out := f.drain(); out != jobstest.Failed {
		t.Fatalf("refused order: %s", out)
	}
	s := f.get(in.ID)
	if s.State != storage.StateFailed || s.Op.FailureReason != apierr.MicrosoftRefused {
		t.Fatalf("after the refusal: %+v", s)
	}
	_, err := f.svc.Provision(ctx, f.request("async"), in)
	if e := wantReason(t, err, apierr.MicrosoftRefused, 500); !e.JobFailed {
		t.Fatalf("async re-send: %+v", e)
	}
	in.Limit = limit(3) // the operator fixed the request
	v, err := f.svc.Provision(ctx, f.request("sync"), in)
	if err != nil || !v.Running() {
		t.Fatalf("sync re-send: %+v %v", v, err)
	}
	if out := f.drain(); out != jobstest.Done {
		t.Fatalf("re-run: %s", out)
	}
	orders := f.posts("/orders")
	if len(orders) != 2 || orders[0].Status != 400 || orders[1].Status != 201 || orders[0].MSRequestID == orders[1].MSRequestID {
		t.Fatalf("orders: %+v", orders)
	}
	if s := f.get(in.ID); s.State != storage.StateActive || f.atMicrosoft()[s.MSSubscriptionID].Quantity != 3 {
		t.Fatalf("after the re-run: %+v %+v", s, f.atMicrosoft())
	}
}

// A purchase whose outcome is unknown keeps its MS-RequestId on the next
// try; one whose answer was lost is found by its friendly name.
func TestPurchaseOfUnknownOutcome(t *testing.T) {
	t.Run("throttled order keeps its id", func(t *testing.T) {
		f := newFixture(t)
		f.sim.Admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST",
			"path": "/v1/customers/" + f.tenant.MSCustomerID + "/orders", "mode": "throttle", "retry_after_seconds": 60, "count": 1}, nil)
		in := f.input(e1, 2)
		f.provision(in)
		if r := f.next(); r.Outcome != jobstest.Snoozed {
			t.Fatalf("throttled order: %+v", r)
		}
		f.clock.Advance(61 * time.Second)
		if out := f.drain(); out != jobstest.Done {
			t.Fatalf("second try: %s", out)
		}
		orders := f.posts("/orders")
		if len(orders) != 2 || orders[0].Status != 429 || orders[0].MSRequestID != orders[1].MSRequestID {
			t.Fatalf("orders: %+v", orders)
		}
		if n := len(f.atMicrosoft()); n != 1 {
			t.Fatalf("%d subscriptions", n)
		}
	})
	t.Run("lost answer is read back", func(t *testing.T) {
		f := newFixture(t)
		f.hooks.Add("CreateOrder", true, unavailable)
		in := f.input(e1, 2)
		f.provision(in)
		if r := f.next(); r.Outcome != jobstest.Retried {
			t.Fatalf("lost answer: %+v", r)
		}
		if out := f.drain(); out != jobstest.Done {
			t.Fatalf("retry: %s", out)
		}
		ms := f.atMicrosoft()
		s := f.get(in.ID)
		if len(ms) != 1 || ms[s.MSSubscriptionID].ID == "" || len(f.posts("/orders")) != 1 {
			t.Fatalf("subscription %+v, at Microsoft %+v", s, ms)
		}
	})
}

// A refused checkout forgets its cart: the re-run builds a new cart and
// checks it out, each with a fresh MS-RequestId; a checkout of unknown
// outcome kept its id.
func TestRefusedCheckoutRerunsWithANewCart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input(businessBasic, 2)
	f.provision(in)
	f.hooks.Add("Checkout", false, unavailable) // the checkout did not reach Microsoft
	if r := f.next(); r.Outcome != jobstest.Retried {
		t.Fatalf("failed checkout: %+v", r)
	}
	cart := f.get(in.ID).CartID
	if cart == "" {
		t.Fatal("no cart recorded")
	}
	f.sim.Admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST",
		"path": "/v1/customers/" + f.tenant.MSCustomerID + "/carts/" + cart + "/checkout", "mode": "refuse", "status": 400, "count": 1}, nil)
	if out := f.drain(); out != jobstest.Failed {
		t.Fatalf("refused checkout: %s", out)
	}
	if v, err := f.svc.Provision(ctx, f.request("sync"), in); err != nil || !v.Running() {
		t.Fatalf("re-run: %+v %v", v, err)
	}
	if out := f.drain(); out != jobstest.Done {
		t.Fatalf("re-run: %s", out)
	}
	s := f.get(in.ID)
	if s.CartID == cart || s.State != storage.StateActive || s.TermDuration != "P1M" || s.Kind != storage.KindNewCommerce {
		t.Fatalf("after the re-run: %+v", s)
	}
	carts, checkouts := f.posts("/carts"), f.posts("/checkout")
	if len(carts) != 2 || carts[0].MSRequestID == carts[1].MSRequestID || len(checkouts) != 2 ||
		checkouts[0].MSRequestID == checkouts[1].MSRequestID || checkouts[0].Status != 400 {
		t.Fatalf("carts %+v, checkouts %+v", carts, checkouts)
	}
	if n := len(f.atMicrosoft()); n != 1 {
		t.Fatalf("%d subscriptions", n)
	}
}

// A configure that failed runs again when re-sent, although the stored
// representation already equals the request; an unchanged settled one does
// nothing; another operation while one runs is busy.
func TestFailedConfigureRunsAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input(e1, 2)
	f.provision(in)
	change := subscriptions.Input{Limit: limit(3)}
	_, err := f.svc.Configure(ctx, f.request("sync"), in.ID, change)
	if e := wantReason(t, err, apierr.Conflict, 409); e.Code != codes.Aborted {
		t.Fatalf("configure while buying: %+v", e)
	}
	f.drain()
	s := f.get(in.ID)
	if v, err := f.svc.Configure(ctx, f.request("sync"), in.ID, subscriptions.Input{Limit: limit(2)}); err != nil || v.Running() {
		t.Fatalf("unchanged configure: %+v %v", v, err)
	}
	if r, ok := f.jobs.Next(t); ok {
		t.Fatalf("unchanged configure queued %+v", r.Job)
	}
	f.sim.Admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "PATCH",
		"path": "/v1/customers/" + f.tenant.MSCustomerID + "/subscriptions/" + s.MSSubscriptionID, "mode": "refuse", "status": 400, "count": 1}, nil)
	if v, err := f.svc.Configure(ctx, f.request("sync"), in.ID, change); err != nil || !v.Running() || v.Status() != "aps:configuring" {
		t.Fatalf("configure: %+v %v", v, err)
	}
	if out := f.drain(); out != jobstest.Failed {
		t.Fatalf("refused configure: %s", out)
	}
	if s := f.get(in.ID); s.Quantity != 3 || s.Op.Settled() {
		t.Fatalf("after the failure: %+v", s)
	}
	if _, err := f.svc.Configure(ctx, f.request("async"), in.ID, change); !apierr.From(err).JobFailed {
		t.Fatalf("async re-send of the failure: %v", err)
	}
	if v, err := f.svc.Configure(ctx, f.request("sync"), in.ID, change); err != nil || !v.Running() {
		t.Fatalf("the re-sent configure must run again: %+v %v", v, err)
	}
	if out := f.drain(); out != jobstest.Done {
		t.Fatalf("re-run: %s", out)
	}
	if q := f.atMicrosoft()[s.MSSubscriptionID].Quantity; q != 3 {
		t.Fatalf("quantity at Microsoft %d", q)
	}
	if s := f.get(in.ID); !s.Op.Settled() {
		t.Fatalf("not settled: %+v", s.Op)
	}
	_, err = f.svc.Configure(ctx, f.request("sync"), in.ID, subscriptions.Input{Limit: limit(30)})
	wantReason(t, err, apierr.QuantityOutOfRange, 400)
}

// A legacy upgrade whose answer was lost is read back (the source
// suspended beside the target) instead of being sent again, and its
// eligibility is never checked again after the send (the source is no
// longer eligible once upgraded).
func TestLegacyUpgradeReadsBackAfterUnknownOutcome(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input(e1, 2)
	src := f.active(in)
	for offer, reason := range map[string]string{e5: apierr.InvalidRequest, "NOT-AN-OFFER": apierr.OfferNotFound} {
		_, err := f.svc.Upgrade(ctx, f.request("sync"), in.ID, offer, "")
		wantReason(t, err, reason, 400)
	}
	_, err := f.svc.Upgrade(ctx, f.request("sync"), in.ID, e3, "end_of_term")
	wantReason(t, err, apierr.InvalidRequest, 400)
	if r, ok := f.jobs.Next(t); ok {
		t.Fatalf("a refused upgrade queued %+v", r.Job)
	}

	f.hooks.Add("Upgrade", true, unavailable)
	v, err := f.svc.Upgrade(ctx, f.request("sync"), in.ID, e3, "immediate")
	if err != nil || !v.Running() || v.Status() != "aps:configuring" {
		t.Fatalf("upgrade: %+v %v", v, err)
	}
	if r := f.next(); r.Outcome != jobstest.Retried {
		t.Fatalf("lost upgrade answer: %+v", r)
	}
	if s := f.get(in.ID); s.Op.StepState("upgrade") != lifecycle.StepSent || s.OfferID != e1 || s.TargetOfferID != e3 {
		t.Fatalf("after the lost answer: %+v", s)
	}
	if v, err := f.svc.Upgrade(ctx, f.request("async"), in.ID, e3, ""); err != nil || !v.Running() {
		t.Fatalf("re-send while running: %+v %v", v, err)
	}
	if out := f.drain(); out != jobstest.Done {
		t.Fatalf("read-back: %s %+v", out, f.get(in.ID).Op)
	}
	s := f.get(in.ID)
	ms := f.atMicrosoft()
	if s.OfferID != e3 || s.MSSubscriptionID == src.MSSubscriptionID || s.TargetOfferID != "" || ms[s.MSSubscriptionID].Status != "active" ||
		ms[src.MSSubscriptionID].Status != "suspended" || len(ms) != 2 {
		t.Fatalf("after the upgrade: %+v, at Microsoft %+v", s, ms)
	}
	upgrades := f.requests.Filter(func(q mscloudtest.Request) bool { return strings.HasSuffix(q.Path, "/upgrades") })
	if len(upgrades) != 2 || upgrades[0].Method != "GET" || upgrades[1].Method != "POST" {
		t.Fatalf("the upgrade was checked or sent again: %+v", upgrades)
	}
	if v, err := f.svc.Upgrade(ctx, f.request("async"), in.ID, e3, ""); err != nil || v.Running() || v.V.OfferID != e3 {
		t.Fatalf("completing answer: %+v %v", v, err)
	}
}

// An unprovision supersedes a purchase still running: the purchase job does
// nothing more, and the unprovision reads back what it bought and ends it.
func TestUnprovisionSupersedesPurchase(t *testing.T) {
	t.Run("before anything was bought", func(t *testing.T) {
		f := newFixture(t)
		ctx := context.Background()
		in := f.input(e1, 2)
		f.provision(in)
		v, err := f.svc.Unprovision(ctx, f.request("sync"), in.ID)
		if err != nil || !v.Running() || v.Status() != "aps:deleted" {
			t.Fatalf("unprovision: %+v %v", v, err)
		}
		f.drain()
		if _, err := f.store.Get(ctx, f.inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("kept: %v", err)
		}
		if len(f.posts("/orders")) != 0 || len(f.atMicrosoft()) != 0 {
			t.Fatal("a superseded purchase bought")
		}
	})
	t.Run("after a purchase of unknown outcome", func(t *testing.T) {
		f := newFixture(t)
		ctx := context.Background()
		f.hooks.Add("CreateOrder", true, unavailable)
		in := f.input(e1, 2)
		f.provision(in)
		if r := f.next(); r.Outcome != jobstest.Retried {
			t.Fatalf("lost answer: %+v", r)
		}
		if v, err := f.svc.Unprovision(ctx, f.request("sync"), in.ID); err != nil || !v.Running() {
			t.Fatalf("unprovision: %+v %v", v, err)
		}
		f.drain()
		if _, err := f.store.Get(ctx, f.inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("kept: %v", err)
		}
		ms := f.atMicrosoft()
		if len(ms) != 1 || len(f.posts("/orders")) != 1 {
			t.Fatalf("at Microsoft: %+v", ms)
		}
		for _, s := range ms {
			if s.Status != "suspended" {
				t.Fatalf("the bought subscription was not ended: %+v", s)
			}
		}
		if v, err := f.svc.Unprovision(ctx, f.request("async"), in.ID); v != nil || err != nil {
			t.Fatalf("re-send of the finished unprovision: %+v %v", v, err)
		}
	})
}

// A new-commerce subscription still inside its cancellation window is
// cancelled; nothing bought means nothing to end.
func TestUnprovisionEndsAtMicrosoft(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input(businessBasic, 2)
	s := f.active(in)
	if v, err := f.svc.Unprovision(ctx, f.request("sync"), in.ID); err != nil || !v.Running() {
		t.Fatalf("unprovision: %+v %v", v, err)
	}
	f.drain()
	if st := f.atMicrosoft()[s.MSSubscriptionID].Status; st != "deleted" {
		t.Fatalf("status at Microsoft %q", st)
	}
	if v, err := f.svc.Unprovision(ctx, f.request("sync"), uuid.NewString()); v != nil || err != nil {
		t.Fatalf("unknown id: %+v %v", v, err)
	}
}
