package users_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/graph"
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

	"github.com/o365gateway/gateway/services/user/internal/storage"
	"github.com/o365gateway/gateway/services/user/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/user/internal/users"
)

const (
	businessBasic = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
	basicSKU      = "3b555118-da6a-4418-894f-7df1e2096870"
	e3SKU         = "6fd2c87f-b296-42f0-b197-1e91e994b900" // not bought by the test tenant
)

// subscriptions stands for the subscription service: subscription aps id →
// tenant id, all granting Business Basic.
type subscriptions struct {
	mu   sync.Mutex
	subs map[string]string
}

func (s *subscriptions) SKU(_ context.Context, _, id string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.subs[id]
	if !ok {
		return "", "", apierr.New(codes.NotFound, apierr.NotFound, "Subscription %s is not known.", id)
	}
	return basicSKU, t, nil
}

// hookedGraph is the real Graph client with injected answers; during runs
// while a user creation is at Microsoft (after it, before its answer).
type hookedGraph struct {
	users.Graph
	f *fixture
}

func (g hookedGraph) CreateUser(ctx context.Context, u graph.User) (*graph.User, error) {
	out, err := mscloudtest.Call(g.f.hooks, "CreateUser", func() (*graph.User, error) { return g.Graph.CreateUser(ctx, u) })
	g.f.mu.Lock()
	during := g.f.during
	g.f.during = nil
	g.f.mu.Unlock()
	if during != nil {
		during()
	}
	return out, err
}

type fixture struct {
	t        *testing.T
	sim      *mscloudtest.Sim
	partner  mscloudtest.Partner
	store    *sqlite.Store
	sealer   *secret.Sealer
	tenants  *tenantclienttest.Fake
	subs     *subscriptions
	svc      *users.Service
	hooks    *mscloudtest.Hooks
	jobs     *jobstest.Driver
	clock    *jobstest.Clock
	logs     *strings.Builder
	inst     tenantclient.Instance
	tenant   tenantclient.Tenant // active, with 2 Business Basic seats
	subID    string              // the tenant's subscription (aps id)
	pc       *partnercenter.Client
	newGraph func(inst *tenantclient.Instance, customer string) (*graph.Client, error)

	mu     sync.Mutex
	during func()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, tenants: &tenantclienttest.Fake{}, subs: &subscriptions{subs: map[string]string{}}, hooks: &mscloudtest.Hooks{},
		clock: &jobstest.Clock{}, logs: &strings.Builder{}}
	f.sim = mscloudtest.Start(t, mscloud.Options{})
	f.partner = f.sim.RegisterPartner("global", "US")
	base, _ := clouds.Lookup("global")
	endpoints := base.Override(f.sim.URL, f.sim.URL, f.sim.URL+"/v1.0")
	quiet := logging.New(io.Discard, "error", "user")
	factory := &msclients.Factory{Endpoints: endpoints, Simulated: true, HTTP: f.sim.Client, Log: quiet, MaxRetryDelay: 2 * time.Second}
	f.inst = tenantclient.Instance{InstanceID: uuid.NewString(), AppID: uuid.NewString(), Cloud: "global", DefaultUsageLocation: "US",
		Credentials: msclients.Credentials{PartnerTenantID: f.partner.TenantID, ClientID: f.partner.ClientID, ClientSecret: secret.New(f.partner.ClientSecret)}}
	f.inst.Credentials.InstanceID = f.inst.InstanceID
	f.tenants.AddInstance(f.inst)
	var err error
	if f.pc, err = factory.PartnerCenter(f.inst.Credentials); err != nil {
		t.Fatal(err)
	}
	f.newGraph = func(inst *tenantclient.Instance, customer string) (*graph.Client, error) {
		return factory.Graph(inst.Credentials, customer)
	}
	f.tenant, f.subID = f.customer(2)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if f.sealer, err = secret.NewSealer(key); err != nil {
		t.Fatal(err)
	}
	if f.store, err = sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "user.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	f.svc = f.service(endpoints)
	f.jobs = &jobstest.Driver{Store: f.store.Jobs(), Handlers: f.svc.Handlers(), Now: f.clock.Now}
	return f
}

func (f *fixture) service(endpoints clouds.Endpoints) *users.Service {
	var mu sync.Mutex
	return &users.Service{Store: f.store, Tenants: f.tenants, Subscriptions: f.subs, Sealer: f.sealer, Endpoints: endpoints, Now: f.clock.Now,
		Log: logging.New(lockedWriter{&mu, f.logs}, "info", "user"),
		Graph: func(inst *tenantclient.Instance, customer string) (users.Graph, error) {
			g, err := f.newGraph(inst, customer)
			if err != nil {
				return nil, err
			}
			return hookedGraph{Graph: g, f: f}, nil
		}}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// customer creates a customer with seats of Business Basic and registers it
// as an active tenant with a subscription resource.
func (f *fixture) customer(seats int64) (tenantclient.Tenant, string) {
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
	tmpl, _ := f.pc.MCATemplateID(ctx)
	if err := f.pc.AttestAgreement(ctx, c.ID, partnercenter.Agreement{TemplateID: tmpl, Type: "MicrosoftCustomerAgreement",
		DateAgreed: "2026-11-01", PrimaryContact: partnercenter.Contact{FirstName: "A", LastName: "B", Email: "a@b.example"}}); err != nil {
		f.t.Fatal(err)
	}
	cart, err := f.pc.CreateCart(ctx, c.ID, partnercenter.Cart{LineItems: []partnercenter.CartLineItem{{CatalogItemID: businessBasic,
		Quantity: seats, TermDuration: "P1M", BillingCycle: "monthly"}}})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.pc.Checkout(ctx, c.ID, cart.ID); err != nil {
		f.t.Fatal(err)
	}
	t := tenantclient.Tenant{ID: uuid.NewString(), MSCustomerID: c.ID, Country: "US", MCAAttested: true, State: "active",
		InitialDomain: sub + ".onmicrosoft.com"}
	f.tenants.SetTenant(f.inst.InstanceID, t)
	subID := uuid.NewString()
	f.subs.mu.Lock()
	f.subs.subs[subID] = t.ID
	f.subs.mu.Unlock()
	return t, subID
}

func (f *fixture) request(phase string) apsmd.Request {
	return apsmd.Request{InstanceID: f.inst.InstanceID, Phase: phase}
}

func (f *fixture) login(name string) string { return name + "@" + f.tenant.InitialDomain }

func (f *fixture) input(name string) users.Input {
	return users.Input{ID: uuid.NewString(), TenantID: f.tenant.ID, Login: f.login(name), FirstName: "Ann", LastName: "Lee",
		Licenses: []storage.LicenseRef{{SubscriptionID: f.subID}}}
}

func (f *fixture) get(id string) *storage.User {
	f.t.Helper()
	u, err := f.store.Get(context.Background(), f.inst.InstanceID, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) provision(in users.Input) {
	f.t.Helper()
	a, err := f.svc.Provision(context.Background(), f.request("sync"), in)
	if err != nil {
		f.t.Fatal(err)
	}
	if !a.Running() || a.Status() != "aps:provisioning" || a.Secret != "" {
		f.t.Fatalf("first answer: %+v", a)
	}
}

func (f *fixture) next() jobstest.Result { f.t.Helper(); return f.jobs.MustNext(f.t) }

func (f *fixture) drain() string { f.t.Helper(); return f.jobs.MustDrain(f.t) }

type simUser struct {
	ID                string   `json:"id"`
	CustomerID        string   `json:"customer_id"`
	UserPrincipalName string   `json:"user_principal_name"`
	DisplayName       string   `json:"display_name"`
	Licenses          []string `json:"licenses"`
}

// atMicrosoft lists the tenant's users at the simulator by login, without
// its first admin.
func (f *fixture) atMicrosoft() map[string]simUser {
	f.t.Helper()
	var st struct {
		Users []simUser `json:"users"`
	}
	f.sim.State(f.partner.TenantID, &st)
	out := map[string]simUser{}
	for _, u := range st.Users {
		if u.CustomerID == f.tenant.MSCustomerID && !strings.HasPrefix(u.UserPrincipalName, "admin@") {
			out[u.UserPrincipalName] = u
		}
	}
	return out
}

// outside creates a user in the tenant as the customer's own admin would.
func (f *fixture) outside(login string) string {
	f.t.Helper()
	var u struct {
		ID string `json:"id"`
	}
	f.sim.Admin("POST", "/_sim/customers/"+f.tenant.MSCustomerID+"/users", map[string]any{"user_principal_name": login}, &u)
	return u.ID
}

func wantReason(t *testing.T, err error, reason string, status int) {
	t.Helper()
	e := apierr.From(err)
	if err == nil || e.Reason != reason || e.HTTPStatus() != status {
		t.Fatalf("want %s %d, got %v", reason, status, err)
	}
}

// Everything the synchronous phase can know is refused there with its
// reason: nothing is stored, queued or created at Microsoft.
func TestProvisionRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	creating := tenantclient.Tenant{ID: uuid.NewString(), State: "creating"}
	f.tenants.SetTenant(f.inst.InstanceID, creating)
	_, otherSub := f.customer(1)
	g, err := f.newGraph(&f.inst, f.tenant.MSCustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddDomain(ctx, "unverified.example"); err != nil {
		t.Fatal(err)
	}
	f.outside(f.login("taken"))
	owned := f.input("owned")
	f.provision(owned)
	f.drain()
	cases := []struct {
		name   string
		req    func(*apsmd.Request)
		in     func(*users.Input)
		reason string
		status int
	}{
		{"id not a UUID", nil, func(in *users.Input) { in.ID = "42" }, apierr.InvalidRequest, 400},
		{"unknown instance", func(r *apsmd.Request) { r.InstanceID = uuid.NewString() }, nil, apierr.UnknownInstance, 404},
		{"no tenant link", nil, func(in *users.Input) { in.TenantID = "" }, apierr.InvalidRequest, 400},
		{"unknown tenant", nil, func(in *users.Input) { in.TenantID = uuid.NewString() }, apierr.NotFound, 404},
		{"tenant not active", nil, func(in *users.Input) { in.TenantID = creating.ID }, apierr.TenantNotReady, 400},
		{"login without domain", nil, func(in *users.Input) { in.Login = "ann" }, apierr.InvalidRequest, 400},
		{"login with a bad local part", nil, func(in *users.Input) { in.Login = "a b@" + f.tenant.InitialDomain }, apierr.InvalidRequest, 400},
		{"domain of another tenant", nil, func(in *users.Input) { in.Login = "ann@elsewhere.example" }, apierr.InvalidRequest, 400},
		{"unverified domain", nil, func(in *users.Input) { in.Login = "ann@unverified.example" }, apierr.DomainNotVerified, 400},
		{"display name too long", nil, func(in *users.Input) { in.DisplayName = strings.Repeat("x", 257) }, apierr.InvalidRequest, 400},
		{"bad usage location", nil, func(in *users.Input) { in.UsageLocation = "USA" }, apierr.InvalidRequest, 400},
		{"license without subscription or SKU", nil, func(in *users.Input) { in.Licenses = []storage.LicenseRef{{}} }, apierr.InvalidRequest, 400},
		{"unknown subscription", nil, func(in *users.Input) { in.Licenses = []storage.LicenseRef{{SubscriptionID: uuid.NewString()}} }, apierr.NotFound, 404},
		{"subscription of another tenant", nil, func(in *users.Input) { in.Licenses = []storage.LicenseRef{{SubscriptionID: otherSub}} }, apierr.InvalidRequest, 400},
		{"SKU the tenant has not bought", nil, func(in *users.Input) { in.Licenses = []storage.LicenseRef{{SKUID: e3SKU}} }, apierr.NotEnoughLicenses, 400},
		{"login exists at Microsoft", nil, func(in *users.Input) { in.Login = f.login("taken") }, apierr.UserAlreadyExists, 409},
		{"login of another user resource", nil, func(in *users.Input) { in.Login = strings.ToUpper(owned.Login) }, apierr.UserAlreadyExists, 409},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, in := f.request("sync"), f.input("ann")
			if c.req != nil {
				c.req(&req)
			}
			if c.in != nil {
				c.in(&in)
			}
			a, err := f.svc.Provision(ctx, req, in)
			if a != nil {
				t.Fatalf("a refusal answered %+v", a)
			}
			wantReason(t, err, c.reason, c.status)
			if _, err := f.store.Get(ctx, f.inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a refused user was stored: %v", err)
			}
			if r, ok := f.jobs.Next(t); ok {
				t.Fatalf("a refusal queued %+v", r.Job)
			}
		})
	}
	t.Run("no free seat", func(t *testing.T) {
		f.provision(f.input("bob")) // takes the second seat
		f.drain()
		in := f.input("carol")
		_, err := f.svc.Provision(ctx, f.request("sync"), in)
		wantReason(t, err, apierr.NotEnoughLicenses, 400)
		in.Licenses = nil // without a license the user can be created
		f.provision(in)
	})
	t.Run("usage location required", func(t *testing.T) {
		inst := f.inst
		inst.InstanceID, inst.DefaultUsageLocation = uuid.NewString(), ""
		f.tenants.AddInstance(inst)
		f.tenants.SetTenant(inst.InstanceID, f.tenant)
		req := f.request("sync")
		req.InstanceID = inst.InstanceID
		_, err := f.svc.Provision(ctx, req, f.input("dave"))
		wantReason(t, err, apierr.UsageLocationRequired, 400)
	})
	t.Run("licenses in a cloud without license management", func(t *testing.T) {
		china, _ := clouds.Lookup("china")
		_, err := f.service(china).Provision(ctx, f.request("sync"), f.input("erin"))
		wantReason(t, err, apierr.NotSupportedInCloud, 400)
	})
	got := f.atMicrosoft()
	if len(got) != 3 || got[owned.Login].ID == "" || got[f.login("bob")].ID == "" {
		t.Fatalf("users at Microsoft: %v", got)
	}
}

// The generated password is in the completing answer and its re-sends for
// 24 hours, never in a read, then erased; a password the platform chose is
// never answered.
func TestInitialPasswordOnlyInTheCompletingAnswer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input("ann")
	f.provision(in)
	for _, phase := range []string{"sync", "async"} {
		if a, err := f.svc.Provision(ctx, f.request(phase), in); err != nil || !a.Running() || a.Secret != "" {
			t.Fatalf("%s re-send while running: %+v %v", phase, a, err)
		}
	}
	if g, err := f.svc.Get(ctx, f.inst.InstanceID, in.ID); err != nil || g.Secret != "" || g.V.PasswordSealed == "" {
		t.Fatalf("read while running: %+v %v", g, err)
	}
	if rs := f.jobs.Drain(t); len(rs) != 1 || rs[0].Outcome != jobstest.Done {
		t.Fatalf("jobs: %+v", rs)
	}
	u := f.get(in.ID)
	ms := f.atMicrosoft()[in.Login]
	if u.State != storage.StateActive || u.MSUserID != ms.ID || u.PasswordSealed != "" || len(ms.Licenses) != 1 || ms.Licenses[0] != basicSKU ||
		ms.DisplayName != "Ann Lee" {
		t.Fatalf("user %+v at Microsoft %+v", u, ms)
	}
	if g, _ := f.svc.Get(ctx, f.inst.InstanceID, in.ID); g.Secret != "" {
		t.Fatal("a read revealed the password")
	}
	var password string
	for _, phase := range []string{"async", "async", "sync"} {
		a, err := f.svc.Provision(ctx, f.request(phase), in)
		if err != nil || a.Running() || a.Secret == "" {
			t.Fatalf("%s completing answer: %+v %v", phase, a, err)
		}
		pw, err := f.sealer.Open(a.Secret, a.V.SealedAt(storage.SealedOpSecret))
		if err != nil || len(pw.Reveal()) != 16 || (password != "" && pw.Reveal() != password) {
			t.Fatalf("revealed password: %v", err)
		}
		password = pw.Reveal()
	}
	if g, _ := f.svc.Get(ctx, f.inst.InstanceID, in.ID); g.Secret != "" {
		t.Fatal("a read after the reveal has the password")
	}
	if strings.Contains(f.logs.String(), password) {
		t.Fatal("the password reached the logs")
	}
	f.clock.Advance(lifecycle.RevealFor + time.Minute)
	if a, err := f.svc.Provision(ctx, f.request("async"), in); err != nil || a.Secret != "" {
		t.Fatalf("revealed after 24 hours: %+v %v", a, err)
	}
	f.drain()
	if u := f.get(in.ID); u.Op.Secret != "" {
		t.Fatal("the password was not erased")
	}

	chosen := f.input("bob")
	chosen.Password = secret.New("Chosen-Passw0rd!")
	chosen.Licenses = nil
	f.provision(chosen)
	f.drain()
	if a, err := f.svc.Provision(ctx, f.request("async"), chosen); err != nil || a.Secret != "" {
		t.Fatalf("a chosen password was answered: %+v %v", a, err)
	}
}

// A refused create fails the provisioning; the async re-send answers the
// failure, the sync re-send re-runs it with a new step (fresh request id);
// a create of unknown outcome keeps its step and is read back by login.
func TestCreateRefusedAndUnknown(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.sim.Admin("POST", "/_sim/faults", map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users", "mode": "refuse", "status": 400, "count": 1}, nil)
	in := f.input("ann")
	f.provision(in)
	if out := f.drain(); out != jobstest.Failed {
		t.Fatalf("refused create: %s", out)
	}
	u := f.get(in.ID)
	refused := u.Op.Steps["create"]
	if u.State != storage.StateFailed || u.Op.FailureReason != apierr.MicrosoftRefused || refused == nil || refused.State != lifecycle.StepRefused {
		t.Fatalf("after the refusal: %+v", u)
	}
	_, err := f.svc.Provision(ctx, f.request("async"), in)
	if wantReason(t, err, apierr.MicrosoftRefused, 500); !apierr.From(err).JobFailed {
		t.Fatalf("async re-send: %v", err)
	}
	f.hooks.Add("CreateUser", true, &graph.Error{StatusCode: http.StatusServiceUnavailable, Message: "Service Unavailable"})
	if a, err := f.svc.Provision(ctx, f.request("sync"), in); err != nil || !a.Running() {
		t.Fatalf("sync re-send: %+v %v", a, err)
	}
	if r := f.next(); r.Outcome != jobstest.Retried {
		t.Fatalf("lost answer: %+v", r)
	}
	sent := f.get(in.ID).Op.Steps["create"]
	if sent.State != lifecycle.StepSent || sent.RequestID == refused.RequestID {
		t.Fatalf("the re-run's create step: %+v after %+v", sent, refused)
	}
	if out := f.drain(); out != jobstest.Done {
		t.Fatalf("read-back: %s", out)
	}
	u = f.get(in.ID)
	ms := f.atMicrosoft()
	if u.State != storage.StateActive || len(ms) != 1 || u.MSUserID != ms[in.Login].ID || u.Op.Steps["create"].RequestID != sent.RequestID ||
		len(ms[in.Login].Licenses) != 1 {
		t.Fatalf("user %+v, at Microsoft %v", u, ms)
	}
}

// A login somebody else created at Microsoft before the attempt began is
// refused in the job, never adopted.
func TestLoginTakenBeforeTheAttemptIsRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Advance(10 * time.Minute) // the attempt begins well after the user below was made
	in := f.input("ann")
	f.provision(in)
	f.outside(in.Login)
	if out := f.drain(); out != jobstest.Failed {
		t.Fatalf("job: %s", out)
	}
	if u := f.get(in.ID); u.Op.FailureReason != apierr.UserAlreadyExists || u.MSUserID != "" {
		t.Fatalf("after the job: %+v", u)
	}
	_, err := f.svc.Provision(ctx, f.request("async"), in)
	wantReason(t, err, apierr.UserAlreadyExists, 500)
}

// A login that exists at Microsoft is refused with UserAlreadyExists until a
// synchronization adopts it; then a provision with that login binds to it:
// no second user, the adopted record belongs to the resource.
func TestAdoptedLoginIsBound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	login := f.login("bob")
	msID := f.outside(login)
	in := f.input("bob")
	_, err := f.svc.Provision(ctx, f.request("sync"), in)
	wantReason(t, err, apierr.UserAlreadyExists, 409)

	// The synchronization imports bob and the tenant's first admin, once.
	diffs, _, err := f.svc.Sync(ctx, f.inst.InstanceID, f.tenant.ID)
	var bob *users.Difference
	for i := range diffs {
		if diffs[i].Name == login {
			bob = &diffs[i]
		}
	}
	if err != nil || len(diffs) != 2 || bob == nil || bob.Change != "imported" || bob.ID != users.ImportedID(f.inst.InstanceID, f.tenant.ID, msID) {
		t.Fatalf("synchronization: %+v %v", diffs, err)
	}
	if again, _, err := f.svc.Sync(ctx, f.inst.InstanceID, f.tenant.ID); err != nil || len(again) != 0 {
		t.Fatalf("second synchronization: %+v %v", again, err)
	}
	imported := f.get(bob.ID)
	if !imported.Imported || imported.MSUserID != msID || !imported.Op.Settled() {
		t.Fatalf("imported: %+v", imported)
	}

	if a, err := f.svc.Provision(ctx, f.request("sync"), in); err != nil || !a.Running() {
		t.Fatalf("provision of the adopted login: %+v %v", a, err)
	}
	if _, err := f.store.Get(ctx, f.inst.InstanceID, imported.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the adopted record was kept beside the bound one: %v", err)
	}
	if r := f.next(); r.Outcome != jobstest.Done {
		t.Fatalf("job: %s", r)
	}
	u := f.get(in.ID)
	ms := f.atMicrosoft()
	if u.MSUserID != msID || u.State != storage.StateActive || len(ms) != 1 || len(ms[login].Licenses) != 1 || u.Op.Secret != "" {
		t.Fatalf("bound user %+v, at Microsoft %v", u, ms)
	}
	if a, err := f.svc.Provision(ctx, f.request("async"), in); err != nil || a.Secret != "" {
		t.Fatalf("a bound user has no initial password to answer: %+v %v", a, err)
	}
	if again, _, err := f.svc.Sync(ctx, f.inst.InstanceID, f.tenant.ID); err != nil || len(again) != 0 {
		t.Fatalf("synchronization after the binding: %+v %v", again, err)
	}
}

// An unprovision while the create is at Microsoft supersedes the
// provisioning: its job records nothing more, and the unprovision finds the
// user by login and deletes it.
func TestUnprovisionSupersedesProvision(t *testing.T) {
	t.Run("while the create is at Microsoft", func(t *testing.T) {
		f := newFixture(t)
		ctx := context.Background()
		in := f.input("ann")
		f.provision(in)
		var unprov error
		f.during = func() {
			a, err := f.svc.Unprovision(ctx, f.request("sync"), in.ID)
			if err == nil && (a == nil || !a.Running() || a.Status() != "aps:deleted") {
				err = errors.New("unprovision did not answer 202")
			}
			unprov = err
		}
		if r := f.next(); r.Outcome != jobstest.Done || r.Err != nil {
			t.Fatalf("superseded provision job: %+v", r)
		}
		if unprov != nil {
			t.Fatal(unprov)
		}
		if u := f.get(in.ID); u.MSUserID != "" || !u.Op.Is(lifecycle.Unprovision, lifecycle.Running) || u.Op.Secret != "" {
			t.Fatalf("the superseded job recorded: %+v", u)
		}
		if len(f.atMicrosoft()) != 1 {
			t.Fatal("the create did not reach Microsoft")
		}
		if out := f.drain(); out != jobstest.Done {
			t.Fatalf("unprovision job: %s", out)
		}
		if _, err := f.store.Get(ctx, f.inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("kept: %v", err)
		}
		if ms := f.atMicrosoft(); len(ms) != 0 {
			t.Fatalf("left at Microsoft: %v", ms)
		}
		if a, err := f.svc.Unprovision(ctx, f.request("async"), in.ID); a != nil || err != nil {
			t.Fatalf("re-send of the finished unprovision: %+v %v", a, err)
		}
	})
	t.Run("before the job ran", func(t *testing.T) {
		f := newFixture(t)
		ctx := context.Background()
		in := f.input("ann")
		f.provision(in)
		if a, err := f.svc.Unprovision(ctx, f.request("sync"), in.ID); err != nil || !a.Running() {
			t.Fatalf("unprovision: %+v %v", a, err)
		}
		if a, err := f.svc.Configure(ctx, f.request("sync"), in.ID, in); err == nil {
			t.Fatalf("configure while unprovisioning: %+v", a)
		}
		f.drain()
		if _, err := f.store.Get(ctx, f.inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("kept: %v", err)
		}
		if ms := f.atMicrosoft(); len(ms) != 0 {
			t.Fatalf("a superseded provision created %v", ms)
		}
	})
}

// A configure that failed runs again when re-sent, although the stored
// representation already equals the request; an unchanged settled one does
// nothing; licenses are assigned and removed by difference.
func TestConfigure(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input("ann")
	f.provision(in)
	_, err := f.svc.Configure(ctx, f.request("sync"), in.ID, in)
	wantReason(t, err, apierr.Conflict, 409)
	f.drain()
	u := f.get(in.ID)
	if a, err := f.svc.Configure(ctx, f.request("sync"), in.ID, in); err != nil || a.Running() {
		t.Fatalf("unchanged configure: %+v %v", a, err)
	}
	if r, ok := f.jobs.Next(t); ok {
		t.Fatalf("unchanged configure queued %+v", r.Job)
	}
	f.sim.Admin("POST", "/_sim/faults", map[string]any{"api": "graph", "method": "PATCH", "path": "/v1.0/users/" + u.MSUserID,
		"mode": "refuse", "status": 400, "count": 1}, nil)
	change := in
	change.DisplayName = "Ann Lee-Smith"
	if a, err := f.svc.Configure(ctx, f.request("sync"), in.ID, change); err != nil || !a.Running() || a.Status() != "aps:configuring" {
		t.Fatalf("configure: %+v %v", a, err)
	}
	if out := f.drain(); out != jobstest.Failed {
		t.Fatalf("refused configure: %s", out)
	}
	if u := f.get(in.ID); u.DisplayName != "Ann Lee-Smith" || u.Op.Settled() {
		t.Fatalf("after the failure: %+v", u)
	}
	if _, err := f.svc.Configure(ctx, f.request("async"), in.ID, change); !apierr.From(err).JobFailed {
		t.Fatalf("async re-send of the failure: %v", err)
	}
	if a, err := f.svc.Configure(ctx, f.request("sync"), in.ID, change); err != nil || !a.Running() {
		t.Fatalf("the re-sent configure must run again: %+v %v", a, err)
	}
	if out := f.drain(); out != jobstest.Done {
		t.Fatalf("re-run: %s", out)
	}
	if ms := f.atMicrosoft()[in.Login]; ms.DisplayName != "Ann Lee-Smith" {
		t.Fatalf("at Microsoft: %+v", ms)
	}

	noLicense := change
	noLicense.Licenses = nil
	if a, err := f.svc.Configure(ctx, f.request("sync"), in.ID, noLicense); err != nil || !a.Running() {
		t.Fatalf("license removal: %+v %v", a, err)
	}
	f.drain()
	if ms := f.atMicrosoft()[in.Login]; len(ms.Licenses) != 0 {
		t.Fatalf("license kept at Microsoft: %+v", ms)
	}
	if u := f.get(in.ID); len(u.Assigned) != 0 || !u.Op.Settled() {
		t.Fatalf("after the removal: %+v", u)
	}
	other := change
	other.Login = f.login("other")
	_, err = f.svc.Configure(ctx, f.request("sync"), in.ID, other)
	wantReason(t, err, apierr.InvalidRequest, 400)
}
