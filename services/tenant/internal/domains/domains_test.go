package domains_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/graph"

	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"

	"github.com/o365gateway/gateway/services/tenant/internal/domains"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/tenanttest"
)

type fixture struct {
	*tenanttest.Env
	svc    *domains.Service
	graph  *mscloudtest.Hooks
	tenant *storage.Tenant
}

// hookedGraph is the real Graph client with injected answers.
type hookedGraph struct {
	domains.Graph
	h *mscloudtest.Hooks
}

func (g hookedGraph) AddDomain(ctx context.Context, name string) (*graph.Domain, error) {
	return mscloudtest.Call(g.h, "AddDomain", func() (*graph.Domain, error) { return g.Graph.AddDomain(ctx, name) })
}

func (g hookedGraph) VerifyDomain(ctx context.Context, name string) (*graph.Domain, error) {
	return mscloudtest.Call(g.h, "VerifyDomain", func() (*graph.Domain, error) { return g.Graph.VerifyDomain(ctx, name) })
}

func newFixture(t *testing.T) *fixture {
	e := tenanttest.New(t)
	f := &fixture{Env: e, graph: &mscloudtest.Hooks{}}
	f.svc = &domains.Service{Store: e.Store, Instances: e.Instances,
		Graph: func(in *storage.Instance, customerTenantID string) (domains.Graph, error) {
			g, err := e.Graph(in, customerTenantID)
			if err != nil {
				return nil, err
			}
			return hookedGraph{Graph: g, h: f.graph}, nil
		}}
	f.tenant = e.ActiveTenant()
	return f
}

// atMicrosoft lists the custom (not initial) domains of the tenant at the simulator.
func (f *fixture) atMicrosoft(customerID string) map[string]bool {
	var st struct {
		Domains []struct {
			CustomerID string `json:"customer_id"`
			ID         string `json:"id"`
			IsVerified bool   `json:"is_verified"`
			IsInitial  bool   `json:"is_initial"`
		} `json:"domains"`
	}
	f.Sim.State(f.Partner.TenantID, &st)
	out := map[string]bool{}
	for _, d := range st.Domains {
		if d.CustomerID == customerID && !d.IsInitial {
			out[d.ID] = d.IsVerified
		}
	}
	return out
}

func (f *fixture) input(name string) domains.Input {
	return domains.Input{ID: uuid.NewString(), TenantID: f.tenant.ID, Name: name}
}

func txtOf(d *storage.Domain) string {
	for _, r := range d.Records {
		if r.Type == "Txt" {
			return r.Text
		}
	}
	return ""
}

// Requests that cannot succeed are refused before Microsoft is called and
// leave nothing behind.
func TestProvisionRefusals(t *testing.T) {
	f := newFixture(t)
	creating := &storage.Tenant{ID: uuid.NewString(), InstanceID: f.Inst.InstanceID, State: storage.StateCreating}
	if err := f.Store.CreateTenant(context.Background(), creating, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		in     func(*domains.Input)
		reason string
		status int
	}{
		{"id not a UUID", func(in *domains.Input) { in.ID = "42" }, apierr.InvalidRequest, 400},
		{"not a DNS name", func(in *domains.Input) { in.Name = "not a domain" }, apierr.InvalidRequest, 400},
		{"no tenant link", func(in *domains.Input) { in.TenantID = "" }, apierr.InvalidRequest, 400},
		{"unknown tenant", func(in *domains.Input) { in.TenantID = uuid.NewString() }, apierr.NotFound, 404},
		{"tenant not active", func(in *domains.Input) { in.TenantID = creating.ID }, apierr.TenantNotReady, 400},
		{"under the initial-domain suffix", func(in *domains.Input) { in.Name = "sales.onmicrosoft.com" }, apierr.InvalidRequest, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := f.input("fabrikam.example")
			c.in(&in)
			d, err := f.svc.Provision(context.Background(), f.Request("sync"), in)
			if e := apierr.From(err); err == nil || e.Reason != c.reason || e.HTTPStatus() != c.status {
				t.Fatalf("want %s %d, got %+v %v", c.reason, c.status, d, err)
			}
			if _, err := f.Store.GetDomain(context.Background(), f.Inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a refused domain was stored: %v", err)
			}
		})
	}
	unknown := f.Request("sync")
	unknown.InstanceID = uuid.NewString()
	if _, err := f.svc.Provision(context.Background(), unknown, f.input("fabrikam.example")); apierr.From(err).Reason != apierr.UnknownInstance {
		t.Fatalf("unknown instance: %v", err)
	}
	if got := f.atMicrosoft(f.tenant.MSCustomerID); len(got) != 0 {
		t.Fatalf("domains added at Microsoft: %v", got)
	}
}

// Adding a domain stores it with the records to publish; a re-send repeats
// it safely; verification needs the published TXT record.
func TestAddVerifyRemove(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input(" Fabrikam.Example. ")
	d, err := f.svc.Provision(ctx, f.Request("sync"), in)
	if err != nil {
		t.Fatal(err)
	}
	txt := txtOf(d)
	if d.Name != "fabrikam.example" || d.State != storage.DomainUnverified || !strings.HasPrefix(txt, "MS=") || len(d.Records) != 2 {
		t.Fatalf("added: %+v", d)
	}
	if got := f.atMicrosoft(f.tenant.MSCustomerID); len(got) != 1 || got["fabrikam.example"] {
		t.Fatalf("at Microsoft: %v", got)
	}
	again, err := f.svc.Provision(ctx, f.Request("sync"), in)
	if err != nil || txtOf(again) != txt || again.State != storage.DomainUnverified {
		t.Fatalf("re-send: %+v %v", again, err)
	}
	other := in
	other.Name = "contoso.example"
	if _, err := f.svc.Provision(ctx, f.Request("sync"), other); apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("the id of another domain: %v", err)
	}

	_, err = f.svc.Verify(ctx, f.Request("sync"), in.ID)
	if e := apierr.From(err); err == nil || e.Reason != apierr.DomainNotVerified || e.HTTPStatus() != 400 || !strings.Contains(e.Message, txt) {
		t.Fatalf("verify before publishing: %v", err)
	}
	f.Sim.Admin("POST", "/_sim/dns", map[string]any{"domain": "fabrikam.example", "txt": txt}, nil)
	v, err := f.svc.Verify(ctx, f.Request("sync"), in.ID)
	if err != nil || v.State != storage.DomainVerified {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if got, err := f.svc.Get(ctx, f.Request(""), in.ID); err != nil || got.State != storage.DomainVerified || txtOf(got) != txt {
		t.Fatalf("get after verify: %+v %v", got, err)
	}
	if got := f.atMicrosoft(f.tenant.MSCustomerID); !got["fabrikam.example"] {
		t.Fatalf("at Microsoft: %v", got)
	}

	if err := f.svc.Unprovision(ctx, f.Request("sync"), in.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.atMicrosoft(f.tenant.MSCustomerID); len(got) != 0 {
		t.Fatalf("left at Microsoft: %v", got)
	}
	if _, err := f.svc.Get(ctx, f.Request(""), in.ID); apierr.From(err).Reason != apierr.NotFound {
		t.Fatalf("get after removal: %v", err)
	}
	if err := f.svc.Unprovision(ctx, f.Request("sync"), in.ID); err != nil {
		t.Fatalf("second removal: %v", err)
	}
	for _, bad := range []string{"x", "{" + in.ID + "}", "urn:uuid:" + in.ID} {
		if _, err := f.svc.Get(ctx, f.Request(""), bad); apierr.From(err).Reason != apierr.InvalidRequest {
			t.Fatalf("get with the bad id %q: %v", bad, err)
		}
		if err := f.svc.Unprovision(ctx, f.Request("sync"), bad); apierr.From(err).Reason != apierr.InvalidRequest {
			t.Fatalf("removal with the bad id %q: %v", bad, err)
		}
		if _, err := f.svc.Verify(ctx, f.Request("sync"), bad); apierr.From(err).Reason != apierr.InvalidRequest {
			t.Fatalf("verify with the bad id %q: %v", bad, err)
		}
	}
}

// A domain another tenant holds is refused and forgotten; one already in
// this tenant (added outside the platform, or by a lost answer) is taken up.
func TestProvisionDomainThatExists(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	otherTenant := f.ActiveTenant()
	g, err := f.Graph(f.Inst, otherTenant.MSCustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddDomain(ctx, "taken.example"); err != nil {
		t.Fatal(err)
	}
	in := f.input("taken.example")
	_, err = f.svc.Provision(ctx, f.Request("sync"), in)
	if e := apierr.From(err); err == nil || e.Reason != apierr.DomainAlreadyTaken || e.HTTPStatus() != 409 {
		t.Fatalf("domain of another tenant: %v", err)
	}
	if _, err := f.Store.GetDomain(ctx, f.Inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the refused domain was kept: %v", err)
	}

	mine, err := f.Graph(f.Inst, f.tenant.MSCustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mine.AddDomain(ctx, "mine.example"); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.Provision(ctx, f.Request("sync"), f.input("mine.example"))
	if err != nil || d.State != storage.DomainUnverified || txtOf(d) == "" {
		t.Fatalf("domain already in the tenant: %+v %v", d, err)
	}
}

// A transient Graph failure is a 503 the platform retries; the re-send
// completes the same domain.
func TestTransientFailureIsRetryable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input("retry.example")
	f.graph.Add("AddDomain", false, &graph.Error{StatusCode: http.StatusServiceUnavailable, Message: "Service Unavailable"})
	_, err := f.svc.Provision(ctx, f.Request("sync"), in)
	if e := apierr.From(err); err == nil || e.Reason != apierr.MicrosoftUnavailable || e.HTTPStatus() != 503 {
		t.Fatalf("transient failure: %v", err)
	}
	d, err := f.svc.Provision(ctx, f.Request("sync"), in)
	if err != nil || txtOf(d) == "" {
		t.Fatalf("re-send: %+v %v", d, err)
	}
	f.graph.Add("VerifyDomain", false, &graph.Error{StatusCode: http.StatusServiceUnavailable, Message: "Service Unavailable"})
	if _, err := f.svc.Verify(ctx, f.Request("sync"), in.ID); apierr.From(err).Reason != apierr.MicrosoftUnavailable {
		t.Fatalf("transient verify failure: %v", err)
	}
	if got, _ := f.svc.Get(ctx, f.Request(""), in.ID); got.State != storage.DomainUnverified {
		t.Fatalf("a failed verify changed the state: %+v", got)
	}
}

// A domain Microsoft refuses to remove (a user's login uses it) stays; a
// domain whose tenant is gone is only forgotten.
func TestUnprovisionRefusedAndOrphaned(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.input("inuse.example")
	d, err := f.svc.Provision(ctx, f.Request("sync"), in)
	if err != nil {
		t.Fatal(err)
	}
	f.Sim.Admin("POST", "/_sim/dns", map[string]any{"domain": "inuse.example", "txt": txtOf(d)}, nil)
	if _, err := f.svc.Verify(ctx, f.Request("sync"), in.ID); err != nil {
		t.Fatal(err)
	}
	f.Sim.Admin("POST", "/_sim/customers/"+f.tenant.MSCustomerID+"/users", map[string]any{"user_principal_name": "ann@inuse.example"}, nil)
	err = f.svc.Unprovision(ctx, f.Request("sync"), in.ID)
	if e := apierr.From(err); err == nil || e.Reason != apierr.Conflict || e.HTTPStatus() != 400 {
		t.Fatalf("removal of a domain in use: %v", err)
	}
	if _, err := f.Store.GetDomain(ctx, f.Inst.InstanceID, in.ID); err != nil {
		t.Fatalf("a domain Microsoft kept was forgotten: %v", err)
	}

	if err := f.Store.DeleteTenant(ctx, f.Inst.InstanceID, f.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Unprovision(ctx, f.Request("sync"), in.ID); err != nil {
		t.Fatalf("removal after the tenant went: %v", err)
	}
	if _, err := f.Store.GetDomain(ctx, f.Inst.InstanceID, in.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("orphaned domain kept: %v", err)
	}
}
