package tenants_test

import (
	"context"
	"testing"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
	"github.com/o365gateway/gateway/services/tenant/internal/tenanttest"
)

// withGDAP lets the fixture request relationships in the partner's tenant.
func withGDAP(f *fixture) {
	f.svc.Relationships = func(in *storage.Instance) (tenants.Relationships, error) {
		return f.Graph(in, in.PartnerTenantID)
	}
}

type simRelationship struct {
	ID     string   `json:"id"`
	Status string   `json:"status"`
	Roles  []string `json:"roles"`
}

func TestProvisioningRequestsGDAPAndTracksApproval(t *testing.T) {
	f := newFixture(t)
	withGDAP(f)
	ctx := context.Background()
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	f.drain(t)
	tn := f.tenant(t, in.ID)
	g := tn.GDAP
	if tn.State != storage.StateActive || g.Current() != gdap.StatePendingApproval || g.RelationshipID == "" ||
		g.ApprovalURL != gdap.ApprovalURL(f.Endpoints.AdminCenterURL, g.RelationshipID) || len(g.Roles) != len(gdap.DefaultRoles) ||
		!g.AutoExtend || !g.Consented || g.ExpiresAt.IsZero() {
		t.Fatalf("tenant %s, gdap %+v", tn.State, g)
	}
	// An app-only instance is not held back by a pending relationship.
	if err := gdap.Require(false, &g); err != nil {
		t.Fatalf("app-only refused: %v", err)
	}
	if err := gdap.Require(true, &g); apierr.From(err).Reason != apierr.GdapPendingApproval || apierr.From(err).HTTPStatus() != 400 {
		t.Fatalf("app+user: %v", err)
	}
	// Tracking before approval changes nothing and requests nothing more.
	if got, err := f.svc.TrackGDAP(ctx, f.Inst, tn); err != nil || got.GDAP.RelationshipID != g.RelationshipID || got.GDAP.State != gdap.StatePendingApproval {
		t.Fatalf("track: %+v %v", got.GDAP, err)
	}
	f.Sim.Admin("POST", "/_sim/gdap/"+g.RelationshipID+"/approve", nil, nil)
	got, err := f.svc.TrackGDAP(ctx, f.Inst, f.tenant(t, in.ID))
	if err != nil || got.GDAP.State != gdap.StateActive || got.GDAP.ApprovalURL != "" || !got.GDAP.Usable() {
		t.Fatalf("after approval: %+v %v", got.GDAP, err)
	}
	if stored := f.tenant(t, in.ID); stored.GDAP.State != gdap.StateActive {
		t.Fatalf("not stored: %+v", stored.GDAP)
	}
	// One relationship at Microsoft, whatever was re-run.
	var state struct {
		GDAP []simRelationship `json:"gdap"`
	}
	f.Sim.State(f.Partner.TenantID, &state)
	if len(state.GDAP) != 1 || state.GDAP[0].Status != "active" {
		t.Fatalf("simulator relationships: %+v", state.GDAP)
	}
}

func TestAppUserInstanceConsentsOnceApproved(t *testing.T) {
	f := newFixture(t)
	withGDAP(f)
	ctx := context.Background()
	f.Inst = f.AddInstance(func(in *storage.Instance) {
		sealed, err := f.Sealer.Seal(secret.New(f.Partner.RefreshToken), in.SealedAt(storage.SealedRefreshToken))
		if err != nil {
			t.Fatal(err)
		}
		in.RefreshTokenSealed = sealed
	})
	if !f.Inst.AppUser() {
		t.Fatal("the instance should work app+user")
	}
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	f.drain(t)
	tn := f.tenant(t, in.ID)
	if tn.State != storage.StateActive || tn.GDAP.Current() != gdap.StatePendingApproval || tn.GDAP.Consented {
		t.Fatalf("tenant %s gdap %+v: app+user consents only after approval", tn.State, tn.GDAP)
	}
	f.Sim.Admin("POST", "/_sim/gdap/"+tn.GDAP.RelationshipID+"/approve", nil, nil)
	got, err := f.svc.TrackGDAP(ctx, f.Inst, tn)
	if err != nil || !got.GDAP.Usable() || !got.GDAP.Consented {
		t.Fatalf("after approval: %+v %v", got.GDAP, err)
	}
}

// A relationship that cannot be extended (it holds Global Administrator)
// turns expiring 30 days before its end and, once expired, is replaced by
// a new request under the next name.
func TestExpiredRelationshipIsRequestedAgain(t *testing.T) {
	f := newFixture(t)
	withGDAP(f)
	ctx := context.Background()
	f.Inst.Settings.GDAPRoles = []string{gdap.GlobalAdministrator}
	if err := f.Store.UpdateInstance(ctx, f.Inst); err != nil {
		t.Fatal(err)
	}
	in := input(tenanttest.Subdomain())
	f.provision(t, in)
	f.drain(t)
	first := f.tenant(t, in.ID).GDAP
	if first.AutoExtend || first.Current() != gdap.StatePendingApproval {
		t.Fatalf("a Global Administrator relationship cannot auto-extend: %+v", first)
	}
	f.Sim.Admin("POST", "/_sim/gdap/"+first.RelationshipID+"/approve", nil, nil)
	f.Sim.Admin("POST", "/_sim/clock", map[string]any{"advance": "16800h"}, nil) // 700 days
	got, err := f.svc.TrackGDAP(ctx, f.Inst, f.tenant(t, in.ID))
	if err != nil || got.GDAP.Current() != gdap.StateExpiring || got.GDAP.ExpiresAt.IsZero() {
		t.Fatalf("30 days before its end: %+v %v", got.GDAP, err)
	}
	f.Sim.Admin("POST", "/_sim/clock", map[string]any{"advance": "1000h"}, nil)
	got, err = f.svc.TrackGDAP(ctx, f.Inst, f.tenant(t, in.ID))
	if err != nil || got.GDAP.Current() != gdap.StatePendingApproval || got.GDAP.RelationshipID == first.RelationshipID ||
		got.GDAP.Generation != 1 || got.GDAP.DisplayName != gdap.DisplayName(in.ID, 1) {
		t.Fatalf("after its end: %+v %v", got.GDAP, err)
	}
	// Tracking again finds the new request and makes no other.
	if again, err := f.svc.TrackGDAP(ctx, f.Inst, f.tenant(t, in.ID)); err != nil || again.GDAP.RelationshipID != got.GDAP.RelationshipID {
		t.Fatalf("tracked again: %+v %v", again.GDAP, err)
	}
	var state struct {
		GDAP []simRelationship `json:"gdap"`
	}
	f.Sim.State(f.Partner.TenantID, &state)
	if len(state.GDAP) != 2 {
		t.Fatalf("simulator relationships: %+v", state.GDAP)
	}
}
