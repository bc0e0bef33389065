package instances_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/tenant/internal/tenanttest"
)

// checker is the real credential check, recording which instances' clients
// were forgotten.
type checker struct {
	*msclients.Factory
	mu     sync.Mutex
	forgot []string
}

func (c *checker) Forget(id string) {
	c.mu.Lock()
	c.forgot = append(c.forgot, id)
	c.mu.Unlock()
	c.Factory.Forget(id)
}

func (c *checker) forgotten() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.forgot...)
}

type fixture struct {
	*tenanttest.Env
	svc     *instances.Service
	checker *checker
	// certificates of a valid request
	self, keyPEM, controller string
}

func newFixture(t *testing.T) *fixture {
	e := tenanttest.New(t)
	f := &fixture{Env: e, checker: &checker{Factory: e.Factory}}
	f.svc = &instances.Service{Store: e.Store, Tenants: e.Store, Checker: f.checker, Sealer: e.Sealer, Endpoints: e.Endpoints, Log: e.Log}
	cert, key := tenanttest.SelfSigned(t, "instance")
	f.self, f.keyPEM = cert+key, key
	f.controller, _ = tenanttest.SelfSigned(t, "controller")
	return f
}

func (f *fixture) input() instances.Input {
	return instances.Input{AppID: uuid.NewString(), Cloud: "global", PartnerTenantID: f.Partner.TenantID, ClientID: f.Partner.ClientID,
		ClientSecret: secret.New(f.Partner.ClientSecret), ResellerMode: "direct", SalesCountries: []string{"us", "CA"},
		DefaultUsageLocation: "us", TestPartner: true, X509Self: secret.New(f.self), X509Controller: f.controller}
}

func request(instanceID string) apsmd.Request {
	return apsmd.Request{InstanceID: instanceID, ControllerURI: "https://apsc.example:6308/", Phase: "sync"}
}

// keyLine is a line of the private key's body: it must never appear in an error.
func (f *fixture) keyLine() string { return strings.Split(f.keyPEM, "\n")[2] }

func (f *fixture) noSecretIn(t *testing.T, err error) {
	t.Helper()
	e := apierr.From(err)
	for _, s := range []string{f.Partner.ClientSecret, f.Partner.RefreshToken, f.keyLine(), "not-the-secret"} {
		if strings.Contains(e.Message, s) || strings.Contains(err.Error(), s) {
			t.Fatalf("a secret is in the error: %v", err)
		}
	}
}

// Every rule of an instance-creation request is checked before anything is
// stored; the one-cloud rule has its own reason; no error carries a secret.
func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	otherCert, _ := tenanttest.SelfSigned(t, "other")
	cases := []struct {
		name   string
		req    string
		in     func(*instances.Input)
		reason string
	}{
		{"instance id not a UUID", "42", nil, apierr.InvalidRequest},
		{"app id not a UUID", "", func(in *instances.Input) { in.AppID = "app" }, apierr.InvalidRequest},
		{"another cloud", "", func(in *instances.Input) { in.Cloud = "china" }, apierr.WrongCloud},
		{"unknown cloud", "", func(in *instances.Input) { in.Cloud = "mars" }, apierr.InvalidRequest},
		{"partner tenant not a GUID", "", func(in *instances.Input) { in.PartnerTenantID = "contoso" }, apierr.InvalidRequest},
		{"no client id", "", func(in *instances.Input) { in.ClientID = " " }, apierr.InvalidRequest},
		{"no secret nor refresh token", "", func(in *instances.Input) { in.ClientSecret = secret.String{} }, apierr.InvalidRequest},
		{"bad reseller mode", "", func(in *instances.Input) { in.ResellerMode = "tier3" }, apierr.InvalidRequest},
		{"indirect without MPN", "", func(in *instances.Input) { in.ResellerMode = "indirect" }, apierr.InvalidRequest},
		{"sales country not ISO", "", func(in *instances.Input) { in.SalesCountries = []string{"USA"} }, apierr.InvalidRequest},
		{"usage location not ISO", "", func(in *instances.Input) { in.DefaultUsageLocation = "United States" }, apierr.InvalidRequest},
		{"self without key", "", func(in *instances.Input) {
			in.X509Self = secret.New(strings.SplitAfter(f.self, "-----END CERTIFICATE-----\n")[0])
		}, apierr.InvalidRequest},
		{"self with another certificate's key", "", func(in *instances.Input) { in.X509Self = secret.New(otherCert + f.keyPEM) }, apierr.InvalidRequest},
		{"controller not a certificate", "", func(in *instances.Input) { in.X509Controller = "garbage" }, apierr.InvalidRequest},
		{"refused credentials", "", func(in *instances.Input) { in.ClientSecret = secret.New("not-the-secret") }, apierr.InvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := c.req
			if id == "" {
				id = uuid.NewString()
			}
			in := f.input()
			if c.in != nil {
				c.in(&in)
			}
			got, err := f.svc.Create(context.Background(), request(id), in)
			if err == nil || got != nil {
				t.Fatalf("accepted: %+v", got)
			}
			if e := apierr.From(err); e.Reason != c.reason || e.HTTPStatus() != 400 {
				t.Fatalf("want %s 400, got %s %d: %s", c.reason, e.Reason, e.HTTPStatus(), e.Message)
			}
			f.noSecretIn(t, err)
			if _, err := f.Store.GetInstance(context.Background(), id); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a refused instance was stored: %v", err)
			}
		})
	}
}

// A valid instance is stored with its secrets sealed; a repeated creation
// answers the stored instance and changes nothing.
func TestCreateSealsSecretsAndIsIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := uuid.NewString()
	in := f.input()
	got, err := f.svc.Create(ctx, request(id), in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cloud != "global" || got.ResellerMode != "direct" || strings.Join(got.SalesCountries, ",") != "US,CA" ||
		got.DefaultUsageLocation != "US" || got.ControllerURI != "https://apsc.example:6308/" || got.AppID != in.AppID {
		t.Fatalf("created %+v", got)
	}
	stored, err := f.Store.GetInstance(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored.ClientSecretSealed, f.Partner.ClientSecret) || strings.Contains(stored.InstanceKeySealed, f.keyLine()) ||
		!strings.Contains(stored.InstanceCertPEM, "BEGIN CERTIFICATE") || strings.Contains(stored.InstanceCertPEM, "PRIVATE KEY") {
		t.Fatalf("secrets stored in clear: %+v", stored)
	}
	creds, err := f.svc.Credentials(stored)
	if err != nil || creds.ClientSecret.Reveal() != f.Partner.ClientSecret || creds.ClientID != f.Partner.ClientID || !creds.RefreshToken.Empty() {
		t.Fatalf("credentials: %v", err)
	}
	if key, err := f.Sealer.Open(stored.InstanceKeySealed, stored.SealedAt(storage.SealedInstanceKey)); err != nil || key.Reveal() != f.keyPEM {
		t.Fatalf("instance key: %v", err)
	}
	// A re-sent creation, even with other data, answers what is stored.
	again := f.input()
	again.ClientSecret = secret.New("not-the-secret")
	got2, err := f.svc.Create(ctx, request(id), again)
	if err != nil || got2.AppID != in.AppID || got2.ClientSecretSealed != stored.ClientSecretSealed {
		t.Fatalf("re-sent creation: %+v %v", got2, err)
	}
}

// A refresh token alone is enough; a refused one is not echoed.
func TestCreateWithRefreshToken(t *testing.T) {
	f := newFixture(t)
	in := f.input()
	in.ClientSecret, in.RefreshToken = secret.String{}, secret.New("not-the-secret")
	_, err := f.svc.Create(context.Background(), request(uuid.NewString()), in)
	if e := apierr.From(err); err == nil || e.Reason != apierr.InvalidRequest || !strings.Contains(e.Message, f.Partner.ClientID) {
		t.Fatalf("bad refresh token: %v", err)
	}
	f.noSecretIn(t, err)
	in.RefreshToken = secret.New(f.Partner.RefreshToken)
	got, err := f.svc.Create(context.Background(), request(uuid.NewString()), in)
	if err != nil || got.RefreshTokenSealed == "" || got.ClientSecretSealed != "" {
		t.Fatalf("refresh-token instance: %+v %v", got, err)
	}
	if strings.Contains(f.Logs.String(), f.Partner.RefreshToken) || strings.Contains(f.Logs.String(), f.keyLine()) {
		t.Fatal("a secret reached the logs")
	}
}

// Configure keeps the stored secrets when none is sent, checks new
// credentials before storing them, and forgets the cached clients.
func TestConfigure(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := uuid.NewString()
	in := f.input()
	created, err := f.svc.Create(ctx, request(id), in)
	if err != nil {
		t.Fatal(err)
	}
	change := f.input()
	change.ClientSecret, change.X509Self, change.X509Controller = secret.String{}, secret.String{}, ""
	change.SalesCountries, change.TestPartner = []string{"gb"}, false
	got, err := f.svc.Configure(ctx, request(id), created.AppID, change)
	if err != nil || got.ClientSecretSealed != created.ClientSecretSealed || got.InstanceKeySealed != created.InstanceKeySealed ||
		strings.Join(got.SalesCountries, ",") != "GB" || got.TestPartner || got.AppID != created.AppID {
		t.Fatalf("configure: %+v %v", got, err)
	}
	if fg := f.checker.forgotten(); len(fg) != 1 || fg[0] != id {
		t.Fatalf("forgotten clients: %v", fg)
	}

	bad := change
	bad.ClientSecret = secret.New("not-the-secret")
	_, err = f.svc.Configure(ctx, request(id), created.AppID, bad)
	if e := apierr.From(err); err == nil || e.Reason != apierr.InvalidRequest {
		t.Fatalf("bad new secret: %v", err)
	}
	f.noSecretIn(t, err)
	if stored, _ := f.Store.GetInstance(ctx, id); stored.ClientSecretSealed != created.ClientSecretSealed {
		t.Fatal("a refused secret was stored")
	}
	wrong := change
	wrong.Cloud = "usgov"
	if _, err := f.svc.Configure(ctx, request(id), created.AppID, wrong); apierr.From(err).Reason != apierr.WrongCloud {
		t.Fatalf("cloud change: %v", err)
	}
	if _, err := f.svc.Configure(ctx, request(id), uuid.NewString(), change); apierr.From(err).Reason != apierr.NotFound {
		t.Fatalf("another app resource: %v", err)
	}
	if len(f.checker.forgotten()) != 1 {
		t.Fatal("a refused configure forgot the clients")
	}
}

// Reads name the instance by APS-Instance-ID and check the app resource id;
// deletion waits for the tenants to go and is idempotent.
func TestGetDeleteUpgrade(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := uuid.NewString()
	created, err := f.svc.Create(ctx, request(id), f.input())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.Get(ctx, request(id), created.AppID); err != nil || got.InstanceID != id {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := f.svc.Get(ctx, request(id), "x"); apierr.From(err).Reason != apierr.InvalidRequest {
		t.Fatalf("bad app id: %v", err)
	}
	if _, err := f.svc.Get(ctx, request(id), uuid.NewString()); apierr.From(err).Reason != apierr.NotFound {
		t.Fatalf("other app id: %v", err)
	}
	if _, err := f.svc.Load(ctx, uuid.NewString()); apierr.From(err).Reason != apierr.UnknownInstance || apierr.From(err).HTTPStatus() != 404 {
		t.Fatalf("unknown instance: %v", err)
	}
	if got, err := f.svc.Upgrade(ctx, request(id), created.AppID, "1.0"); err != nil || got.PackageVersion != instances.PackageVersion ||
		!got.Settings.Registers() || len(got.Settings.GDAPRoles) != 0 {
		t.Fatalf("upgrade: %+v %v", got, err)
	}
	if stored, _ := f.Store.GetInstance(ctx, id); stored.PackageVersion != instances.PackageVersion {
		t.Fatal("upgrade not stored")
	}

	tn := &storage.Tenant{ID: uuid.NewString(), InstanceID: id, State: storage.StateActive}
	if err := f.Store.CreateTenant(ctx, tn, nil); err != nil {
		t.Fatal(err)
	}
	err = f.svc.Delete(ctx, request(id), created.AppID)
	if e := apierr.From(err); err == nil || e.Reason != apierr.Conflict || e.HTTPStatus() != 400 {
		t.Fatalf("delete with a tenant: %v", err)
	}
	if _, err := f.Store.GetInstance(ctx, id); err != nil {
		t.Fatal("an instance with tenants was deleted")
	}
	if err := f.Store.DeleteTenant(ctx, id, tn.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, request(id), created.AppID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Store.GetInstance(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("not deleted: %v", err)
	}
	if err := f.svc.Delete(ctx, request(id), created.AppID); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if fg := f.checker.forgotten(); len(fg) != 1 || fg[0] != id {
		t.Fatalf("forgotten clients: %v", fg)
	}
}

// TestRefreshTokenRedeemedByOneReplicaAtATime: two replicas (each with its
// own store handle and Microsoft clients) issue access tokens of a
// refresh-token instance concurrently, forgetting their cached tokens so
// that every call redeems. Entra (the simulator) spends a refresh token at
// its redemption: a redemption that raced another one, or started from a
// token another replica had already rotated, would be refused. Every call
// succeeds, and the stored token is the newest one.
func TestRefreshTokenRedeemedByOneReplicaAtATime(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input()
	in.ClientSecret, in.RefreshToken = secret.String{}, secret.New(f.Partner.RefreshToken)
	id := uuid.NewString()
	created, err := f.svc.Create(ctx, request(id), in)
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := f.Sealer.Open(created.RefreshTokenSealed, created.SealedAt(storage.SealedRefreshToken)); stored.Reveal() == f.Partner.RefreshToken {
		t.Fatal("the check spent the refresh token but the spent one was stored")
	}
	other, err := sqlite.Open(ctx, f.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	type replica struct {
		svc     *instances.Service
		factory *msclients.Factory
	}
	var replicas []replica
	for _, store := range []*sqlite.Store{f.Store, other} {
		factory := &msclients.Factory{Endpoints: f.Endpoints, Simulated: true, HTTP: f.Sim.Client, Log: f.Log}
		svc := &instances.Service{Store: store, Tenants: store, Checker: factory, Sealer: f.Sealer, Endpoints: f.Endpoints, Log: f.Log}
		factory.Tokens = svc.Tokens
		replicas = append(replicas, replica{svc, factory})
	}
	const rounds = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*2*rounds)
	for _, r := range replicas {
		for _, aud := range []msclients.Audience{msclients.PartnerCenter, msclients.Graph} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					r.factory.Forget(id)
					if _, err := r.svc.AccessToken(ctx, id, "", aud); err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a redemption failed: %v", err)
	}
	// The stored token is the live one: a fresh replica redeems it.
	fresh := &msclients.Factory{Endpoints: f.Endpoints, Simulated: true, HTTP: f.Sim.Client, Log: f.Log}
	svc := &instances.Service{Store: f.Store, Tenants: f.Store, Checker: fresh, Sealer: f.Sealer, Endpoints: f.Endpoints, Log: f.Log}
	fresh.Tokens = svc.Tokens
	if _, err := svc.AccessToken(ctx, id, "", msclients.PartnerCenter); err != nil {
		t.Fatalf("the stored refresh token is not the live one: %v", err)
	}
	if strings.Contains(f.Logs.String(), f.Partner.RefreshToken) {
		t.Fatal("a refresh token reached the logs")
	}
}
