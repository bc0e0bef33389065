package tenants

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/mserr"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Relationships is what the tenant flows need from Graph in the partner's
// own tenant: its delegated admin relationships with customers.
type Relationships interface {
	CreateRelationship(ctx context.Context, r graph.Relationship) (*graph.Relationship, error)
	Relationship(ctx context.Context, id string) (*graph.Relationship, error)
	CustomerRelationships(ctx context.Context, customerTenantID string) ([]graph.Relationship, error)
	LockForApproval(ctx context.Context, id string) error
}

// requestGDAP makes sure the partner has, or has asked for, a relationship
// with the customer holding the instance's roles, and answers the change
// that records it. An existing usable relationship that covers the roles is
// adopted. Otherwise one is requested exactly once: its display name
// (tenant and generation) is unique among the partner's relationships at
// Microsoft, so it is looked up by name first, and a create refused because
// the name is taken (an earlier create whose answer was lost) is read back.
// It is then locked for the customer's approval.
func (s *Service) requestGDAP(ctx context.Context, inst *storage.Instance, t *storage.Tenant) (func(*storage.Tenant), error) {
	if s.Relationships == nil {
		return func(*storage.Tenant) {}, nil
	}
	rel, err := s.Relationships(inst)
	if err != nil {
		return nil, err
	}
	roles, err := gdap.Validate(inst.Settings.GDAPRoles)
	if err != nil {
		return nil, err
	}
	name := gdap.DisplayName(t.ID, t.GDAP.Generation)
	find := func(ctx context.Context, adoptOthers bool) (*graph.Relationship, error) {
		all, err := rel.CustomerRelationships(ctx, t.MSCustomerID)
		if err != nil {
			return nil, err
		}
		now := s.now()
		var other *graph.Relationship
		for i := range all {
			r := &all[i]
			if r.DisplayName == name {
				return r, nil
			}
			if adoptOthers && other == nil && covers(r.RoleIDs(), roles) &&
				gdap.StateOf(r.Status, deref(r.EndDateTime), r.AutoExtendDuration == gdap.AutoExtend, now) == gdap.StateActive {
				other = r
			}
		}
		return other, nil
	}
	record := func(r *graph.Relationship) func(*storage.Tenant) {
		return func(t *storage.Tenant) { s.applyRelationship(t, r, roles) }
	}
	r, err := find(ctx, true)
	if err != nil {
		return nil, mserr.Job(err)
	}
	if r != nil && r.DisplayName != name {
		s.Log.InfoContext(ctx, "an active delegated admin relationship covers the roles; adopting it", "tenant_id", t.ID, "relationship_id", r.ID)
		return record(r), nil
	}
	if r == nil {
		ext := gdap.NoAutoExtend
		if gdap.CanAutoExtend(roles) {
			ext = gdap.AutoExtend
		}
		r, err = rel.CreateRelationship(ctx, graph.Relationship{DisplayName: name, Duration: gdap.ISODuration,
			Customer: graph.RelCustomer{TenantID: t.MSCustomerID, DisplayName: t.Company.Name}, AccessDetails: graph.Roles(roles),
			AutoExtendDuration: ext})
		if e, ok := graph.AsError(err); ok && (e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusConflict) {
			if found, ferr := find(ctx, false); ferr == nil && found != nil {
				r, err = found, nil
			}
		}
		if err != nil {
			return nil, mserr.Job(err)
		}
		s.Log.InfoContext(ctx, "delegated admin relationship requested", "tenant_id", t.ID, "relationship_id", r.ID, "roles", len(roles))
	}
	if err := s.lock(ctx, rel, r); err != nil {
		return nil, err
	}
	return record(r), nil
}

// lock asks for the customer's approval of a relationship still being
// drafted (idempotent: any later status is left alone).
func (s *Service) lock(ctx context.Context, rel Relationships, r *graph.Relationship) error {
	if r.Status != "created" {
		return nil
	}
	if err := rel.LockForApproval(ctx, r.ID); err != nil {
		return mserr.Job(err)
	}
	r.Status = "approvalPending"
	return nil
}

// applyRelationship records what Microsoft said of a relationship.
func (s *Service) applyRelationship(t *storage.Tenant, r *graph.Relationship, wanted []string) {
	now := s.now()
	auto := r.AutoExtendDuration == gdap.AutoExtend
	g := &t.GDAP
	if g.RelationshipID != r.ID {
		g.RequestedAt = now
		if r.CreatedDateTime != nil {
			g.RequestedAt = *r.CreatedDateTime
		}
	}
	g.RelationshipID, g.DisplayName, g.AutoExtend, g.CheckedAt, g.Problem = r.ID, r.DisplayName, auto, now, ""
	g.Roles = r.RoleIDs()
	if len(g.Roles) == 0 {
		g.Roles = wanted
	}
	g.State = gdap.StateOf(r.Status, deref(r.EndDateTime), auto, now)
	switch g.State {
	case gdap.StatePendingApproval:
		g.ApprovalURL = gdap.ApprovalURL(s.Endpoints.AdminCenterURL, r.ID)
		g.ExpiresAt = g.RequestedAt.Add(gdap.RequestLifetime)
	default:
		g.ApprovalURL = ""
		g.ExpiresAt = deref(r.EndDateTime)
	}
}

// TrackGDAP refreshes a tenant's relationship from Microsoft: an expired
// (or never requested) one is requested again under the next name, and an
// app+user instance grants its application's consent once the customer
// approved. It answers the tenant as updated.
func (s *Service) TrackGDAP(ctx context.Context, inst *storage.Instance, t *storage.Tenant) (*storage.Tenant, error) {
	if s.Relationships == nil || t.State != storage.StateActive || t.MSCustomerID == "" || t.Op.Busy() {
		return t, nil
	}
	rel, err := s.Relationships(inst)
	if err != nil {
		return t, err
	}
	before := t.GDAP
	if t.GDAP.RelationshipID != "" {
		r, err := rel.Relationship(ctx, t.GDAP.RelationshipID)
		switch e, ok := graph.AsError(err); {
		case ok && e.StatusCode == http.StatusNotFound:
			t.GDAP.State = gdap.StateExpired // deleted at Microsoft
		case err != nil:
			return t, err
		default:
			s.applyRelationship(t, r, t.GDAP.Roles)
		}
	}
	if t.GDAP.Current() == gdap.StateExpired || t.GDAP.Current() == gdap.StateNone {
		if t.GDAP.RelationshipID != "" {
			// Retire it: the next generation's name, and no id, stored
			// before anything is created. Every later try (here, after a
			// crash, or on another replica) then looks that name up first
			// and finds what an earlier try created: one request only.
			t.GDAP.Generation++
			t.GDAP.RelationshipID, t.GDAP.State, t.GDAP.ApprovalURL = "", gdap.StateNone, ""
			if err := s.saveGDAP(ctx, t); err != nil {
				return t, err
			}
			before = t.GDAP
		}
		rec, err := s.requestGDAP(ctx, inst, t)
		if err != nil {
			return t, err
		}
		rec(t)
	}
	if inst.AppUser() && t.GDAP.Usable() && !t.GDAP.Consented {
		pc, err := s.PC(inst)
		if err != nil {
			return t, err
		}
		if err := pc.GrantApplicationConsent(ctx, t.MSCustomerID, inst.ClientID, GraphScopes); err != nil {
			t.GDAP.Problem = "consent: " + apierr.From(mserr.Sync(err, "grant the application's consent")).Message
		} else {
			t.GDAP.Consented = true
		}
	}
	if sameRelationship(before, t.GDAP) {
		return t, nil
	}
	return t, s.saveGDAP(ctx, t)
}

// saveGDAP stores the tenant's relationship; when the row changed
// meanwhile, the relationship is written onto the current row (the other
// writer's fields stay theirs).
func (s *Service) saveGDAP(ctx context.Context, t *storage.Tenant) error {
	for try := 0; ; try++ {
		err := s.Store.UpdateTenant(ctx, t, nil)
		if !errors.Is(err, storage.ErrConflict) || try == 5 {
			return err
		}
		fresh, gerr := s.Store.GetTenant(ctx, t.InstanceID, t.ID)
		if gerr != nil {
			return gerr
		}
		fresh.GDAP = t.GDAP
		*t = *fresh
	}
}

func sameRelationship(a, b gdap.Relationship) bool {
	return a.State == b.State && a.RelationshipID == b.RelationshipID && a.Consented == b.Consented &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Problem == b.Problem && slices.Equal(a.Roles, b.Roles)
}

// covers tells whether have holds every role of want.
func covers(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			return false
		}
	}
	return true
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// RepairAccess repairs the partner's access to a tenant: the relationship
// (tracked, requested again when missing) and the application's consent
// (app-only instances grant it here; app+user ones once approved).
func (s *Service) RepairAccess(ctx context.Context, inst *storage.Instance, t *storage.Tenant) (*storage.Tenant, error) {
	t, err := s.TrackGDAP(ctx, inst, t)
	if err != nil || inst.AppUser() || t.GDAP.Consented {
		return t, err
	}
	pc, err := s.PC(inst)
	if err != nil {
		return t, err
	}
	if err := pc.GrantApplicationConsent(ctx, t.MSCustomerID, inst.ClientID, GraphScopes); err != nil {
		return t, mserr.Sync(err, "grant the application's consent")
	}
	t.GDAP.Consented = true
	return t, s.saveGDAP(ctx, t)
}
