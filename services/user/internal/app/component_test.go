package app_test

import (
	"context"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
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

	"github.com/o365gateway/gateway/services/user/internal/app"
	"github.com/o365gateway/gateway/services/user/internal/config"
)

const (
	instanceID    = "11111111-2222-4333-8444-555555555555"
	businessBasic = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
	basicSKU      = "3b555118-da6a-4418-894f-7df1e2096870"
)

// fakes of the tenant and subscription services.
type fakes struct {
	tenantv1.UnimplementedInstanceServiceServer
	tenantv1.UnimplementedTenantServiceServer
	subscriptionv1.UnimplementedSubscriptionServiceServer
	issuer   *tenantclienttest.Issuer
	p        mscloudtest.Partner
	location string
	mu       sync.Mutex
	tenants  map[string]*tenantv1.ResolveTenantResponse
	subs     map[string]string // subscription aps id → tenant id
}

func (f *fakes) IssueAccessToken(ctx context.Context, r *tenantv1.IssueAccessTokenRequest) (*tenantv1.IssueAccessTokenResponse, error) {
	return f.issuer.IssueAccessToken(ctx, r)
}

func (f *fakes) ResolveInstance(_ context.Context, r *tenantv1.ResolveInstanceRequest) (*tenantv1.ResolveInstanceResponse, error) {
	if r.GetInstanceId() != instanceID {
		return nil, status.Error(codes.NotFound, "unknown instance")
	}
	return &tenantv1.ResolveInstanceResponse{Instance: &tenantv1.Instance{Aps: &apsv1.Meta{Id: "app-1"}, Cloud: "global",
		PartnerTenantId: f.p.TenantID, ClientId: f.p.ClientID, DefaultUsageLocation: f.location}}, nil
}

func (f *fakes) ResolveTenant(_ context.Context, r *tenantv1.ResolveTenantRequest) (*tenantv1.ResolveTenantResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tenants[r.GetTenantId()]; ok {
		return t, nil
	}
	return nil, apierr.ToStatus(apierr.New(codes.NotFound, apierr.NotFound, "no tenant"))
}

func (f *fakes) ResolveSubscription(_ context.Context, r *subscriptionv1.ResolveSubscriptionRequest) (*subscriptionv1.ResolveSubscriptionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.subs[r.GetId()]; ok {
		return &subscriptionv1.ResolveSubscriptionResponse{SkuId: basicSKU, TenantId: t, State: "active"}, nil
	}
	return nil, apierr.ToStatus(apierr.New(codes.NotFound, apierr.NotFound, "no subscription"))
}

type env struct {
	cloud   string
	factory *msclients.Factory
	creds   msclients.Credentials
	t       *testing.T
	sim     *mscloudtest.Sim
	pc      *partnercenter.Client
	f       *fakes
	users   userv1.UserServiceClient
	logs    *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newEnv(t *testing.T, cloud string, settings map[string]any) *env {
	t.Helper()
	sim := mscloudtest.Start(t, mscloud.Options{})
	if settings != nil {
		sim.Admin("POST", "/_sim/settings", settings, nil)
	}
	country := "US"
	if cloud == "china" {
		country = "CN"
	}
	f := &fakes{tenants: map[string]*tenantv1.ResolveTenantResponse{}, subs: map[string]string{}, location: "US"}
	f.p = sim.RegisterPartner(cloud, country)
	e := &env{t: t, sim: sim, f: f, cloud: cloud}
	base, _ := clouds.Lookup(cloud)
	endpoints := base.Override(sim.URL, sim.URL, sim.URL+"/v1.0")
	factory := &msclients.Factory{Endpoints: endpoints, Simulated: true, HTTP: sim.Client}
	var err error
	e.factory = factory
	e.creds = msclients.Credentials{InstanceID: "t", PartnerTenantID: f.p.TenantID, ClientID: f.p.ClientID, ClientSecret: secret.New(f.p.ClientSecret)}
	f.issuer = &tenantclienttest.Issuer{Factory: factory, InstanceID: instanceID, Credentials: e.creds}
	e.pc, err = factory.PartnerCenter(e.creds)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	tenantv1.RegisterInstanceServiceServer(gs, f)
	tenantv1.RegisterTenantServiceServer(gs, f)
	subscriptionv1.RegisterSubscriptionServiceServer(gs, f)
	dl, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = gs.Serve(dl) }()
	t.Cleanup(gs.Stop)

	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	cfg := &config.Config{ListenAddr: "127.0.0.1:0", DatabaseURL: "sqlite://" + t.TempDir() + "/u.db", TenantAddr: dl.Addr().String(),
		SubscriptionAddr: dl.Addr().String(), Encryption: sharedconfig.Encryption{EncryptionKey: key},
		Microsoft: sharedconfig.Microsoft{Cloud: cloud, MSLoginURL: sim.URL + "/", MSPartnerCenterURL: sim.URL, MSGraphURL: sim.URL + "/v1.0",
			MSCAFile: sim.CAFile, MSTimeout: 10 * time.Second, MSMaxRetryDelay: 20 * time.Second, GraphWritesPerSecond: 18},
		Jobs:          sharedconfig.Jobs{JobWorkers: 8, JobPoll: 50 * time.Millisecond, JobLease: 10 * time.Second, WorkerID: "test"},
		Mesh:          sharedconfig.Mesh{Plaintext: true, TrustDomain: "o365gw.test"},
		Audit:         sharedconfig.Audit{AuditKeyFile: audittest.KeyFile(t)},
		Observability: sharedconfig.Observability{LogLevel: "info"},
	}
	e.logs = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logging.New(e.logs, "info", "user"), nil)
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
	e.users = userv1.NewUserServiceClient(conn)
	return e
}

// customer creates a customer (with its MCA) and, when seats > 0, buys that
// many Business Basic seats; it returns the tenant id, the initial domain and
// the subscription id.
func (e *env) customer(seats int64) (string, string, string) {
	e.t.Helper()
	ctx := context.Background()
	sub := "c" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	suffix := ".onmicrosoft.com"
	country, state, postal, city := "US", "WA", "98052", "Redmond"
	if e.cloud == "china" {
		suffix, country, state, postal, city = ".partner.onmschina.cn", "CN", "", "100000", "Beijing"
	}
	c, err := e.pc.CreateCustomer(ctx, partnercenter.Customer{
		CompanyProfile: partnercenter.CompanyProfile{Domain: sub + suffix},
		BillingProfile: partnercenter.BillingProfile{Email: "a@b.example", Culture: "en-US", Language: "en", CompanyName: "C",
			DefaultAddress: partnercenter.Address{FirstName: "A", LastName: "B", AddressLine1: "1 Microsoft Way", City: city,
				State: state, PostalCode: postal, Country: country}}})
	if err != nil {
		e.t.Fatal(err)
	}
	tmpl, _ := e.pc.MCATemplateID(ctx)
	_ = e.pc.AttestAgreement(ctx, c.ID, partnercenter.Agreement{TemplateID: tmpl, Type: "MicrosoftCustomerAgreement",
		DateAgreed: "2026-11-01", PrimaryContact: partnercenter.Contact{FirstName: "A", LastName: "B", Email: "a@b.example"}})
	subID := ""
	if seats > 0 {
		cart, err := e.pc.CreateCart(ctx, c.ID, partnercenter.Cart{LineItems: []partnercenter.CartLineItem{{CatalogItemID: businessBasic,
			Quantity: seats, TermDuration: "P1M", BillingCycle: "monthly"}}})
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.pc.Checkout(ctx, c.ID, cart.ID); err != nil {
			e.t.Fatal(err)
		}
		subID = uuid.NewString()
	}
	tenantID := uuid.NewString()
	e.f.mu.Lock()
	e.f.tenants[tenantID] = &tenantv1.ResolveTenantResponse{MsCustomerId: c.ID, Country: country, McaAttested: true, State: "active", DomainName: sub + suffix}
	if subID != "" {
		e.f.subs[subID] = tenantID
	}
	e.f.mu.Unlock()
	return tenantID, sub + suffix, subID
}

type simUser struct {
	ID       string   `json:"id"`
	UPN      string   `json:"user_principal_name"`
	Licenses []string `json:"licenses"`
	Location string   `json:"usage_location"`
}

// simUsers lists the users at the simulator, without each tenant's first admin.
func (e *env) simUsers() []simUser {
	var st struct {
		Users []simUser `json:"users"`
	}
	e.sim.State(e.f.p.TenantID, &st)
	var out []simUser
	for _, u := range st.Users {
		if !strings.HasPrefix(u.UPN, "admin@") {
			out = append(out, u)
		}
	}
	return out
}

func ctxPhase(phase string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "aps-instance-id", instanceID, "aps-request-phase", phase)
}

func run[T any](t *testing.T, call func(ctx context.Context, opts ...grpc.CallOption) (T, error)) (T, error) {
	t.Helper()
	var hdr metadata.MD
	out, err := call(ctxPhase("sync"), grpc.Header(&hdr))
	deadline := time.Now().Add(90 * time.Second)
	for err == nil && len(hdr.Get("aps-async-info")) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("operation did not finish")
		}
		time.Sleep(100 * time.Millisecond)
		hdr = nil
		out, err = call(ctxPhase("async"), grpc.Header(&hdr))
	}
	return out, err
}

func newUser(tenantID, login, subID string) *userv1.User {
	u := &userv1.User{Aps: &apsv1.Meta{Id: uuid.NewString()}, Tenant: &apsv1.Link{Aps: &apsv1.Ref{Id: tenantID}}, Login: login,
		FirstName: "Ann", LastName: "Lee"}
	if subID != "" {
		u.Licenses = []*userv1.UserLicense{{Subscription: &apsv1.Link{Aps: &apsv1.Ref{Id: subID}}}}
	}
	return u
}

func (e *env) provision(u *userv1.User) (*userv1.User, error) {
	r, err := run(e.t, func(c context.Context, o ...grpc.CallOption) (*userv1.ProvisionUserResponse, error) {
		return e.users.ProvisionUser(c, &userv1.ProvisionUserRequest{User: u}, o...)
	})
	return r.GetUser(), err
}

func reason(t *testing.T, err error) *apierr.Error {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	st, _ := status.FromError(err)
	return apierr.FromStatus(st)
}

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t, "global", nil)
	tenant, domain, sub := e.customer(3)
	u := newUser(tenant, "ann@"+domain, sub)
	got, err := e.provision(u)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != "active" || got.GetMsUserId() == "" || len(got.GetLicenses()) != 1 || got.GetLicenses()[0].GetSkuId() != basicSKU {
		t.Fatalf("%v", got)
	}
	users := e.simUsers()
	if len(users) != 1 || users[0].UPN != "ann@"+domain || len(users[0].Licenses) != 1 || users[0].Licenses[0] != basicSKU || users[0].Location != "US" {
		t.Fatalf("simulator users %+v", users)
	}
	// Remove the license.
	u.Licenses = nil
	r, err := run(t, func(c context.Context, o ...grpc.CallOption) (*userv1.ConfigureUserResponse, error) {
		return e.users.ConfigureUser(c, &userv1.ConfigureUserRequest{Id: u.GetAps().GetId(), User: u}, o...)
	})
	if err != nil || len(r.GetUser().GetLicenses()) != 0 {
		t.Fatalf("%v %v", r, err)
	}
	if users := e.simUsers(); len(users[0].Licenses) != 0 {
		t.Fatalf("license not removed: %+v", users)
	}
	pw, err := e.users.ResetUserPassword(ctxPhase("sync"), &userv1.ResetUserPasswordRequest{Id: u.GetAps().GetId()})
	if err != nil || len(pw.GetPassword()) < 12 {
		t.Fatalf("reset: %v %v", pw, err)
	}
	if strings.Contains(e.logs.String(), pw.GetPassword()) {
		t.Fatal("the new password reached the logs")
	}
	if _, err := run(t, func(c context.Context, o ...grpc.CallOption) (*userv1.UnprovisionUserResponse, error) {
		return e.users.UnprovisionUser(c, &userv1.UnprovisionUserRequest{Id: u.GetAps().GetId()}, o...)
	}); err != nil {
		t.Fatal(err)
	}
	if users := e.simUsers(); len(users) != 0 {
		t.Fatalf("user not deleted: %+v", users)
	}
}

func TestRefusalsCreateNothing(t *testing.T) {
	e := newEnv(t, "global", nil)
	tenant, domain, sub := e.customer(1)
	if _, err := e.provision(newUser(tenant, "first@"+domain, sub)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		user   *userv1.User
		reason string
	}{
		{"no seats left", newUser(tenant, "second@"+domain, sub), apierr.NotEnoughLicenses},
		{"foreign domain", newUser(tenant, "x@contoso.example", ""), apierr.InvalidRequest},
		{"bad login", newUser(tenant, "not a login", ""), apierr.InvalidRequest},
		{"bad usage location", func() *userv1.User { u := newUser(tenant, "y@"+domain, ""); u.UsageLocation = "USA"; return u }(), apierr.InvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.provision(c.user)
			if r := reason(t, err); r.Reason != c.reason || r.HTTPStatus() >= 500 {
				t.Fatalf("got %s %d: %s", r.Reason, r.HTTPStatus(), r.Message)
			}
		})
	}
	if n := len(e.simUsers()); n != 1 {
		t.Fatalf("%d users at Microsoft, want 1", n)
	}
}

func TestLicenseNeedsAUsageLocation(t *testing.T) {
	e := newEnv(t, "global", nil)
	e.f.location = "" // the instance names no default usage location
	tenant, domain, sub := e.customer(2)
	_, err := e.provision(newUser(tenant, "third@"+domain, sub))
	if r := reason(t, err); r.Reason != apierr.UsageLocationRequired {
		t.Fatalf("%+v", r)
	}
	u := newUser(tenant, "fourth@"+domain, sub)
	u.UsageLocation = "DE"
	if got, err := e.provision(u); err != nil || got.GetUsageLocation() != "DE" {
		t.Fatalf("%v %v", got, err)
	}
}

func TestUnverifiedDomainIsRefusedUntilVerified(t *testing.T) {
	e := newEnv(t, "global", nil)
	tenant, _, _ := e.customer(0)
	// The customer adds a domain at Microsoft (the tenant service does it through Graph).
	e.f.mu.Lock()
	customerID := e.f.tenants[tenant].MsCustomerId
	e.f.mu.Unlock()
	g, err := e.factory.Graph(e.creds, customerID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddDomain(context.Background(), "fabrikam.example"); err != nil {
		t.Fatal(err)
	}
	_, err = e.provision(newUser(tenant, "bob@fabrikam.example", ""))
	if r := reason(t, err); r.Reason != apierr.DomainNotVerified {
		t.Fatalf("%+v", r)
	}
	if n := len(e.simUsers()); n != 0 {
		t.Fatalf("%d users", n)
	}
}

func TestChinaRefusesLicensesAndPasswordReset(t *testing.T) {
	e := newEnv(t, "china", nil)
	tenant, domain, _ := e.customer(0)
	e.f.mu.Lock()
	e.f.subs["s-cn"] = tenant
	e.f.mu.Unlock()
	_, err := e.provision(newUser(tenant, "li@"+domain, "s-cn"))
	if r := reason(t, err); r.Reason != apierr.NotSupportedInCloud {
		t.Fatalf("license in china: %+v", r)
	}
	u := newUser(tenant, "wang@"+domain, "")
	if _, err := e.provision(u); err != nil {
		t.Fatal(err)
	}
	_, err = e.users.ResetUserPassword(ctxPhase("sync"), &userv1.ResetUserPasswordRequest{Id: u.GetAps().GetId()})
	if r := reason(t, err); r.Reason != apierr.NotSupportedInCloud || r.HTTPStatus() != 400 {
		t.Fatalf("reset in china: %+v", r)
	}
}

// TestBulkProvisioningRidesOutThrottling provisions many users into one
// tenant while the simulator enforces a scaled-down Graph write limit; every
// user must succeed. It reports the achieved write rate and the 429s.
func TestBulkProvisioningRidesOutThrottling(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk test")
	}
	const users = 60
	e := newEnv(t, "global", map[string]any{"graph_write_limit": 40, "graph_write_window_seconds": 5})
	tenant, domain, sub := e.customer(25)
	start := time.Now()
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := ""
			if i < 25 {
				s = sub
			}
			if _, err := e.provision(newUser(tenant, "bulk"+strings.ReplaceAll(uuid.NewString(), "-", "")[:10]+"@"+domain, s)); err != nil {
				failures.Add(1)
				t.Errorf("user %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var st struct {
		GraphThrottled int `json:"graph_throttled"`
	}
	e.sim.State(e.f.p.TenantID, &st)
	got := e.simUsers()
	if len(got) != users || failures.Load() != 0 {
		t.Fatalf("%d users at Microsoft, %d failures", len(got), failures.Load())
	}
	writes := users + 25
	t.Logf("%d users (%d Graph writes) in %s: %.1f writes/s against a limit of %.1f/s; %d answers were 429",
		users, writes, elapsed.Round(time.Millisecond), float64(writes)/elapsed.Seconds(), 40.0/5, st.GraphThrottled)
}

// TestFreshTenantWaitsForPropagation: right after a customer is created,
// Microsoft refuses tokens for its tenant for a few minutes. The request is
// refused with a retryable 503 (nothing created), and works once the
// relationship has propagated.
func TestFreshTenantWaitsForPropagation(t *testing.T) {
	e := newEnv(t, "global", map[string]any{"customer_propagation_seconds": 180})
	tenant, domain, _ := e.customer(0)
	_, err := e.provision(newUser(tenant, "early@"+domain, ""))
	if r := reason(t, err); r.Reason != apierr.MicrosoftUnavailable || r.HTTPStatus() != 503 {
		t.Fatalf("%+v", r)
	}
	e.sim.Admin("POST", "/_sim/clock", map[string]any{"advance": "181s"}, nil)
	if _, err := e.provision(newUser(tenant, "later@"+domain, "")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.simUsers()); n != 1 {
		t.Fatalf("%d users", n)
	}
}
