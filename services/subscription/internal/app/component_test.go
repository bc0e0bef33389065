package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	subscriptionv1 "github.com/o365gateway/gateway/gen/go/o365/subscription/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/audit/audittest"
	"github.com/o365gateway/gateway/services/shared/clouds"
	sharedconfig "github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/logging"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/tenantclient/tenantclienttest"
	"github.com/o365gateway/gateway/sim/mscloud"
	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"

	"github.com/o365gateway/gateway/services/subscription/internal/app"
	"github.com/o365gateway/gateway/services/subscription/internal/config"
)

const (
	businessBasic = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
	instanceID    = "11111111-2222-4333-8444-555555555555"
)

// directory fakes the tenant service: one instance, tenants by id.
type directory struct {
	tenantv1.UnimplementedInstanceServiceServer
	tenantv1.UnimplementedTenantServiceServer
	issuer  *tenantclienttest.Issuer
	p       mscloudtest.Partner
	mu      sync.Mutex
	tenants map[string]*tenantv1.ResolveTenantResponse
}

func (d *directory) IssueAccessToken(ctx context.Context, r *tenantv1.IssueAccessTokenRequest) (*tenantv1.IssueAccessTokenResponse, error) {
	return d.issuer.IssueAccessToken(ctx, r)
}

func (d *directory) ResolveInstance(_ context.Context, r *tenantv1.ResolveInstanceRequest) (*tenantv1.ResolveInstanceResponse, error) {
	if r.GetInstanceId() != instanceID {
		return nil, status.Error(codes.NotFound, "unknown instance")
	}
	test := true
	return &tenantv1.ResolveInstanceResponse{Instance: &tenantv1.Instance{Aps: &apsv1.Meta{Id: "app-1"}, Cloud: "global",
		PartnerTenantId: d.p.TenantID, ClientId: d.p.ClientID, TestPartner: &test}}, nil
}

func (d *directory) ResolveTenant(_ context.Context, r *tenantv1.ResolveTenantRequest) (*tenantv1.ResolveTenantResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tenants[r.GetTenantId()]
	if !ok {
		return nil, apierr.ToStatus(apierr.New(codes.NotFound, apierr.NotFound, "no tenant"))
	}
	return t, nil
}

type env struct {
	t      *testing.T
	sim    *mscloudtest.Sim
	pc     *partnercenter.Client
	dir    *directory
	subs   subscriptionv1.SubscriptionServiceClient
	logs   *bytes.Buffer
	cancel func()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sim := mscloudtest.Start(t, mscloud.Options{})
	e := &env{t: t, sim: sim, dir: &directory{tenants: map[string]*tenantv1.ResolveTenantResponse{}}}
	e.dir.p = sim.RegisterPartner("global", "US")
	var err error

	global, _ := clouds.Lookup("global")
	endpoints := global.Override(sim.URL, sim.URL, "")
	f := &msclients.Factory{Endpoints: endpoints, Simulated: true, HTTP: sim.Client}
	creds := msclients.Credentials{InstanceID: "t", PartnerTenantID: e.dir.p.TenantID, ClientID: e.dir.p.ClientID,
		ClientSecret: secret.New(e.dir.p.ClientSecret)}
	e.dir.issuer = &tenantclienttest.Issuer{Factory: f, InstanceID: instanceID, Credentials: creds}
	e.pc, err = f.PartnerCenter(creds)
	if err != nil {
		t.Fatal(err)
	}

	gs := grpc.NewServer()
	tenantv1.RegisterInstanceServiceServer(gs, e.dir)
	tenantv1.RegisterTenantServiceServer(gs, e.dir)
	dl, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = gs.Serve(dl) }()
	t.Cleanup(gs.Stop)

	dir := t.TempDir()
	caFile := sim.CAFile
	cfg := &config.Config{ListenAddr: "127.0.0.1:0", DatabaseURL: "sqlite://" + filepath.Join(dir, "s.db"), TenantAddr: dl.Addr().String(),
		CatalogTTL: time.Hour, UsageTTL: time.Millisecond,
		Microsoft: sharedconfig.Microsoft{Cloud: "global", MSLoginURL: sim.URL + "/", MSPartnerCenterURL: sim.URL, MSCAFile: caFile,
			MSTimeout: 2 * time.Second, MSMaxRetryDelay: 3 * time.Second, GraphWritesPerSecond: 18},
		Jobs:          sharedconfig.Jobs{JobWorkers: 2, JobPoll: 50 * time.Millisecond, JobLease: 5 * time.Second, WorkerID: "test"},
		Mesh:          sharedconfig.Mesh{Plaintext: true, TrustDomain: "o365gw.test"},
		Audit:         sharedconfig.Audit{AuditKeyFile: audittest.KeyFile(t)},
		Observability: sharedconfig.Observability{LogLevel: "debug"},
	}
	e.logs = &bytes.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logging.New(&lockedWriter{w: e.logs}, "debug", "subscription"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan struct{})
	go func() { _ = a.Serve(ctx, lis); close(done) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.subs = subscriptionv1.NewSubscriptionServiceClient(conn)
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) admin(method, path string, body, out any) {
	e.t.Helper()
	e.sim.Admin(method, path, body, out)
}

// customer creates a customer at the simulator and registers its tenant.
func (e *env) customer(mca bool) string {
	e.t.Helper()
	sub := "c" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	c, err := e.pc.CreateCustomer(context.Background(), partnercenter.Customer{
		CompanyProfile: partnercenter.CompanyProfile{Domain: sub + ".onmicrosoft.com"},
		BillingProfile: partnercenter.BillingProfile{Email: "a@b.example", Culture: "en-US", Language: "en", CompanyName: "C",
			DefaultAddress: partnercenter.Address{FirstName: "A", LastName: "B", AddressLine1: "1 Microsoft Way", City: "Redmond",
				State: "WA", PostalCode: "98052", Country: "US"}}})
	if err != nil {
		e.t.Fatal(err)
	}
	if mca {
		tmpl, _ := e.pc.MCATemplateID(context.Background())
		if err := e.pc.AttestAgreement(context.Background(), c.ID, partnercenter.Agreement{TemplateID: tmpl, Type: "MicrosoftCustomerAgreement",
			DateAgreed: "2026-11-01", PrimaryContact: partnercenter.Contact{FirstName: "A", LastName: "B", Email: "a@b.example"}}); err != nil {
			e.t.Fatal(err)
		}
	}
	id := uuid.NewString()
	e.dir.mu.Lock()
	e.dir.tenants[id] = &tenantv1.ResolveTenantResponse{MsCustomerId: c.ID, Country: "US", McaAttested: mca, State: "active", DomainName: sub + ".onmicrosoft.com"}
	e.dir.mu.Unlock()
	return id
}

type simSub struct {
	ID        string `json:"id"`
	Quantity  int64  `json:"quantity"`
	Status    string `json:"status"`
	Customer  string `json:"customer_id"`
	AutoRenew bool   `json:"auto_renew"`
}

func (e *env) simSubs() []simSub {
	var st struct {
		Subscriptions []simSub `json:"subscriptions"`
	}
	e.sim.State(e.dir.p.TenantID, &st)
	return st.Subscriptions
}

func ctx(phase string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "aps-instance-id", instanceID, "aps-request-phase", phase)
}

func newSub(tenantID, offer string, seats int32) *subscriptionv1.Subscription {
	return &subscriptionv1.Subscription{Aps: &apsv1.Meta{Id: uuid.NewString()}, Tenant: &apsv1.Link{Aps: &apsv1.Ref{Id: tenantID}},
		OfferId: offer, Licenses: &apsv1.Counter{Limit: &seats}}
}

// run drives an operation as APSC does: sync, then async re-sends.
func run[T any](t *testing.T, call func(ctx context.Context, opts ...grpc.CallOption) (T, error)) (T, error) {
	t.Helper()
	var hdr metadata.MD
	out, err := call(ctx("sync"), grpc.Header(&hdr))
	deadline := time.Now().Add(30 * time.Second)
	for err == nil && len(hdr.Get("aps-async-info")) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("operation did not finish")
		}
		time.Sleep(100 * time.Millisecond)
		hdr = nil
		out, err = call(ctx("async"), grpc.Header(&hdr))
	}
	return out, err
}

func (e *env) provision(s *subscriptionv1.Subscription) (*subscriptionv1.Subscription, error) {
	r, err := run(e.t, func(c context.Context, o ...grpc.CallOption) (*subscriptionv1.ProvisionSubscriptionResponse, error) {
		return e.subs.ProvisionSubscription(c, &subscriptionv1.ProvisionSubscriptionRequest{Subscription: s}, o...)
	})
	return r.GetSubscription(), err
}

func (e *env) configure(s *subscriptionv1.Subscription) (*subscriptionv1.Subscription, error) {
	r, err := run(e.t, func(c context.Context, o ...grpc.CallOption) (*subscriptionv1.ConfigureSubscriptionResponse, error) {
		return e.subs.ConfigureSubscription(c, &subscriptionv1.ConfigureSubscriptionRequest{Id: s.GetAps().GetId(), Subscription: s}, o...)
	})
	return r.GetSubscription(), err
}

func reason(t *testing.T, err error) *apierr.Error {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	st, _ := status.FromError(err)
	return apierr.FromStatus(st)
}

func seats(n int32) *apsv1.Counter { return &apsv1.Counter{Limit: &n} }

func TestBuyChangeSuspendAndWindow(t *testing.T) {
	e := newEnv(t)
	tenant := e.customer(true)
	s := newSub(tenant, businessBasic, 10)
	got, err := e.provision(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != "active" || got.GetMsSubscriptionId() == "" || got.GetLicenses().GetLimit() != 10 || got.GetCancellationAllowedUntil() == nil {
		t.Fatalf("%v", got)
	}
	check := func(qty int64, status string) {
		t.Helper()
		subs := e.simSubs()
		if len(subs) != 1 || subs[0].Quantity != qty || subs[0].Status != status || subs[0].ID != got.GetMsSubscriptionId() {
			t.Fatalf("simulator: %+v, want %d %s", subs, qty, status)
		}
	}
	check(10, "active")
	for _, q := range []int32{15, 12} {
		s.Licenses = seats(q)
		if got, err = e.configure(s); err != nil || got.GetLicenses().GetLimit() != q {
			t.Fatalf("%v %v", got, err)
		}
		check(int64(q), "active")
	}
	yes, no := true, false
	s.Suspended = &yes
	if got, err = e.configure(s); err != nil || got.GetState() != "suspended" {
		t.Fatalf("suspend: %v %v", got, err)
	}
	check(12, "suspended")
	s.Suspended = &no
	if got, err = e.configure(s); err != nil || got.GetState() != "active" {
		t.Fatalf("resume: %v %v", got, err)
	}
	check(12, "active")
	e.admin("POST", "/_sim/clock", map[string]any{"advance": "169h"}, nil)
	s.Licenses = seats(8)
	r := reason(t, func() error { _, err := e.configure(s); return err }())
	if r.Reason != apierr.CancellationWindowClosed || r.HTTPStatus() != 400 {
		t.Fatalf("%+v", r)
	}
	check(12, "active")
	s.Licenses = seats(14) // increases stay possible
	if got, err = e.configure(s); err != nil || got.GetLicenses().GetLimit() != 14 {
		t.Fatalf("%v %v", got, err)
	}
	check(14, "active")
}

func TestRefusalsBuyNothing(t *testing.T) {
	e := newEnv(t)
	tenant := e.customer(true)
	noMCA := e.customer(false)
	cases := []struct {
		name   string
		sub    *subscriptionv1.Subscription
		reason string
	}{
		{"too many seats", newSub(tenant, businessBasic, 301), apierr.QuantityOutOfRange},
		{"over the sandbox cap", newSub(tenant, businessBasic, 26), apierr.QuantityOutOfRange},
		{"zero seats", newSub(tenant, businessBasic, 0), apierr.QuantityOutOfRange},
		{"unlimited", func() *subscriptionv1.Subscription {
			s := newSub(tenant, businessBasic, 1)
			s.Licenses = &apsv1.Counter{}
			return s
		}(), apierr.QuantityOutOfRange},
		{"unknown offer", newSub(tenant, "CFQ7TTC0XXXX:0001:CFQ7TTC0YYYY", 5), apierr.OfferNotFound},
		{"add-on without parent", newSub(tenant, "CFQ7TTC0LHWP:0001:CFQ7TTC0K9TB", 5), apierr.AddOnParentRequired},
		{"no MCA", newSub(noMCA, businessBasic, 5), apierr.CustomerAgreementRequired},
		{"bad term", func() *subscriptionv1.Subscription {
			s := newSub(tenant, businessBasic, 5)
			s.TermDuration = "P5Y"
			return s
		}(), apierr.InvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.provision(c.sub)
			if r := reason(t, err); r.Reason != c.reason || r.HTTPStatus() >= 500 {
				t.Fatalf("got %s %d: %s", r.Reason, r.HTTPStatus(), r.Message)
			}
		})
	}
	if n := len(e.simSubs()); n != 0 {
		t.Fatalf("%d subscriptions bought", n)
	}
}

// Each fault in its own test tenant; every case must end with exactly one
// subscription at Microsoft with the right quantity.
func TestExactlyOnceUnderFaults(t *testing.T) {
	faults := map[string]map[string]any{
		"error_after_commit on checkout":       {"mode": "error_after_commit", "status": 500, "count": 1},
		"delay longer than the client timeout": {"mode": "delay", "delay_ms": 2500, "count": 1},
		"repeated 429 with Retry-After":        {"mode": "throttle", "retry_after_seconds": 1, "count": 3},
		"long 429 snoozes the job":             {"mode": "throttle", "retry_after_seconds": 4, "count": 1},
	}
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			tenant := e.customer(true)
			f["api"], f["method"], f["path"] = "partnercenter", "POST", "/v1/customers/"
			e.admin("POST", "/_sim/faults", f, nil)
			got, err := e.provision(newSub(tenant, businessBasic, 7))
			if err != nil {
				t.Fatal(err)
			}
			subs := e.simSubs()
			if got.GetState() != "active" || len(subs) != 1 || subs[0].Quantity != 7 || subs[0].ID != got.GetMsSubscriptionId() {
				t.Fatalf("tenant %v; simulator %+v", got, subs)
			}
		})
	}
}

func TestUnprovisionInsideWindowCancels(t *testing.T) {
	e := newEnv(t)
	tenant := e.customer(true)
	s := newSub(tenant, businessBasic, 3)
	if _, err := e.provision(s); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, func(c context.Context, o ...grpc.CallOption) (*subscriptionv1.UnprovisionSubscriptionResponse, error) {
		return e.subs.UnprovisionSubscription(c, &subscriptionv1.UnprovisionSubscriptionRequest{Id: s.GetAps().GetId()}, o...)
	})
	if err != nil {
		t.Fatal(err)
	}
	if subs := e.simSubs(); len(subs) != 1 || subs[0].Status != "deleted" {
		t.Fatalf("%+v", subs)
	}
	_, err = e.subs.GetSubscription(ctx(""), &subscriptionv1.GetSubscriptionRequest{Id: s.GetAps().GetId()})
	if r := reason(t, err); r.Reason != apierr.NotFound {
		t.Fatalf("%+v", r)
	}
}

func TestOffersAndUsage(t *testing.T) {
	e := newEnv(t)
	r, err := e.subs.ListOffers(ctx(""), &subscriptionv1.ListOffersRequest{Id: "app-1", Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, o := range r.GetOffers() {
		if o.GetId() == businessBasic && o.GetKind() == "new_commerce" && o.GetMaxQuantity() > 0 && len(o.GetTerms()) > 0 {
			found = true
		}
	}
	if !found || len(r.GetOffers()) < 8 {
		t.Fatalf("%d offers, business basic %v", len(r.GetOffers()), found)
	}
	if _, err := e.subs.ListOffers(ctx(""), &subscriptionv1.ListOffersRequest{Id: "app-1", Country: "Mars"}); reason(t, err).Reason != apierr.InvalidRequest {
		t.Fatal("bad country accepted")
	}
	tenant := e.customer(true)
	s := newSub(tenant, businessBasic, 4)
	if _, err := e.provision(s); err != nil {
		t.Fatal(err)
	}
	got, err := e.subs.GetSubscription(ctx(""), &subscriptionv1.GetSubscriptionRequest{Id: s.GetAps().GetId()})
	if err != nil || got.GetSubscription().GetLicenses().Usage == nil || got.GetSubscription().GetLicenses().GetUsage() != 0 {
		t.Fatalf("%v %v", got, err)
	}
	_ = fmt.Sprint
}

func TestLegacyOrderAndUpgrade(t *testing.T) {
	const e1, e3 = "91FD106F-4B2C-4938-95AC-F54F74E9A239", "796B6B5F-613C-4E24-A17C-EBA730D49C02"
	e := newEnv(t)
	tenant := e.customer(true)
	s := newSub(tenant, e1, 5)
	got, err := e.provision(s)
	if err != nil || got.GetState() != "active" || got.GetMsOrderId() == "" {
		t.Fatalf("%v %v", got, err)
	}
	first := got.GetMsSubscriptionId()
	r, err := run(t, func(c context.Context, o ...grpc.CallOption) (*subscriptionv1.UpgradeSubscriptionResponse, error) {
		return e.subs.UpgradeSubscription(c, &subscriptionv1.UpgradeSubscriptionRequest{Id: s.GetAps().GetId(), OfferId: e3}, o...)
	})
	if err != nil || r.GetSubscription().GetOfferId() != e3 {
		t.Fatalf("upgrade: %v %v", r, err)
	}
	var active, other int
	for _, x := range e.simSubs() {
		switch {
		case x.ID == r.GetSubscription().GetMsSubscriptionId() && x.Status == "active" && x.Quantity == 5:
			active++
		case x.ID == first && x.Status != "active":
			other++
		}
	}
	if active != 1 || other != 1 {
		t.Fatalf("simulator after upgrade: %+v", e.simSubs())
	}
	// A downgrade is not an upgrade target.
	_, err = e.subs.UpgradeSubscription(ctx("sync"), &subscriptionv1.UpgradeSubscriptionRequest{Id: s.GetAps().GetId(), OfferId: e1})
	if reason(t, err).Reason != apierr.InvalidRequest {
		t.Fatalf("downgrade accepted: %v", err)
	}
}

func TestSlowPatchIsFollowed(t *testing.T) {
	e := newEnv(t)
	tenant := e.customer(true)
	s := newSub(tenant, businessBasic, 5)
	if _, err := e.provision(s); err != nil {
		t.Fatal(err)
	}
	e.admin("POST", "/_sim/settings", map[string]any{"slow_patch_seconds": 1}, nil)
	s.Licenses = seats(9)
	got, err := e.configure(s)
	if err != nil || got.GetLicenses().GetLimit() != 9 {
		t.Fatalf("%v %v", got, err)
	}
	if subs := e.simSubs(); len(subs) != 1 || subs[0].Quantity != 9 {
		t.Fatalf("%+v", subs)
	}
}

func TestAddOnOnItsParent(t *testing.T) {
	const defender = "CFQ7TTC0LHRD:0001:CFQ7TTC0K7Q4"
	e := newEnv(t)
	tenant := e.customer(true)
	parent := newSub(tenant, businessBasic, 5)
	if _, err := e.provision(parent); err != nil {
		t.Fatal(err)
	}
	addon := newSub(tenant, defender, 5)
	addon.Parent = &apsv1.Link{Aps: &apsv1.Ref{Id: parent.GetAps().GetId()}}
	got, err := e.provision(addon)
	if err != nil || got.GetState() != "active" {
		t.Fatalf("%v %v", got, err)
	}
	if n := len(e.simSubs()); n != 2 {
		t.Fatalf("%d subscriptions", n)
	}
}
