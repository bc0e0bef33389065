package server

import (
	"context"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	"github.com/o365gateway/gateway/services/shared/drift"
	"github.com/o365gateway/gateway/services/tenant/internal/driftcheck"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"

	"google.golang.org/protobuf/types/known/timestamppb"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/lifecycle"

	"github.com/o365gateway/gateway/services/tenant/internal/syncer"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
)

// TenantServer implements tenantv1.TenantServiceServer.
type TenantServer struct {
	tenantv1.UnimplementedTenantServiceServer
	Tenants *tenants.Service
	Sync    *syncer.Service
	Drift   *driftcheck.Service
}

// GetTenantDrift implements the RPC.
func (s *TenantServer) GetTenantDrift(ctx context.Context, r *tenantv1.GetTenantDriftRequest) (*tenantv1.GetTenantDriftResponse, error) {
	rep, running, err := s.Drift.Get(ctx, apsmd.FromContext(ctx), r.GetId(), r.GetRefresh())
	if err != nil {
		return nil, err
	}
	if running {
		return &tenantv1.GetTenantDriftResponse{}, apsmd.SetAccepted(ctx, "Checking the tenant's drift with Microsoft")
	}
	return &tenantv1.GetTenantDriftResponse{Report: driftMessage(rep)}, nil
}

// RepairTenant implements the RPC.
func (s *TenantServer) RepairTenant(ctx context.Context, r *tenantv1.RepairTenantRequest) (*tenantv1.RepairTenantResponse, error) {
	var selectors []any
	if l := r.GetSelection().GetItems(); l != nil {
		selectors = l.AsSlice()
	}
	if len(selectors) > 1000 {
		return nil, apierr.Invalid("items: at most 1000.")
	}
	rep, running, err := s.Drift.Repair(ctx, apsmd.FromContext(ctx), r.GetId(), selectors, r.GetDryRun())
	if err != nil {
		return nil, err
	}
	if running {
		return &tenantv1.RepairTenantResponse{}, apsmd.SetAccepted(ctx, "Repairing the tenant's drift")
	}
	return &tenantv1.RepairTenantResponse{Report: driftMessage(rep)}, nil
}

func driftMessage(rep *storage.DriftReport) *apsv1.DriftReport {
	m := &apsv1.DriftReport{Items: drift.ToProto(rep.Items)}
	if !rep.CheckedAt.IsZero() {
		m.CheckedAt = timestamppb.New(rep.CheckedAt)
	}
	return m
}

// answer renders an operation's answer and marks a running one accepted.
func (s *TenantServer) answer(ctx context.Context, v *tenants.View) (*tenantv1.Tenant, error) {
	m, err := tenantMessage(v, s.Tenants.Sealer)
	if err != nil {
		return nil, err
	}
	if v != nil {
		return m, lifecycle.Header(ctx, v)
	}
	return m, nil
}

// ProvisionTenant implements the RPC.
func (s *TenantServer) ProvisionTenant(ctx context.Context, r *tenantv1.ProvisionTenantRequest) (*tenantv1.ProvisionTenantResponse, error) {
	v, err := s.Tenants.Provision(ctx, apsmd.FromContext(ctx), tenantInput("", r.GetTenant()))
	if err != nil {
		return nil, err
	}
	m, err := s.answer(ctx, v)
	if err != nil {
		return nil, err
	}
	return &tenantv1.ProvisionTenantResponse{Tenant: m}, nil
}

// GetTenant implements the RPC.
func (s *TenantServer) GetTenant(ctx context.Context, r *tenantv1.GetTenantRequest) (*tenantv1.GetTenantResponse, error) {
	v, err := s.Tenants.Get(ctx, apsmd.FromContext(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	m, err := s.answer(ctx, v)
	if err != nil {
		return nil, err
	}
	return &tenantv1.GetTenantResponse{Tenant: m}, nil
}

// ConfigureTenant implements the RPC.
func (s *TenantServer) ConfigureTenant(ctx context.Context, r *tenantv1.ConfigureTenantRequest) (*tenantv1.ConfigureTenantResponse, error) {
	v, err := s.Tenants.Configure(ctx, apsmd.FromContext(ctx), r.GetId(), tenantInput(r.GetId(), r.GetTenant()))
	if err != nil {
		return nil, err
	}
	m, err := s.answer(ctx, v)
	if err != nil {
		return nil, err
	}
	return &tenantv1.ConfigureTenantResponse{Tenant: m}, nil
}

// UnprovisionTenant implements the RPC; an empty answer means done.
func (s *TenantServer) UnprovisionTenant(ctx context.Context, r *tenantv1.UnprovisionTenantRequest) (*tenantv1.UnprovisionTenantResponse, error) {
	v, err := s.Tenants.Unprovision(ctx, apsmd.FromContext(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	m, err := s.answer(ctx, v)
	if err != nil {
		return nil, err
	}
	return &tenantv1.UnprovisionTenantResponse{Tenant: m}, nil
}

// NotifyTenantLink acknowledges link notifications; an unlink of a tenant
// that is already gone is acknowledged too.
func (s *TenantServer) NotifyTenantLink(ctx context.Context, r *tenantv1.NotifyTenantLinkRequest) (*tenantv1.NotifyTenantLinkResponse, error) {
	if _, err := s.Tenants.Get(ctx, apsmd.FromContext(ctx), r.GetId()); err != nil {
		if r.GetOtherId() != "" && apierr.From(err).Reason == apierr.NotFound {
			return &tenantv1.NotifyTenantLinkResponse{}, nil
		}
		return nil, err
	}
	return &tenantv1.NotifyTenantLinkResponse{}, nil
}

// ResolveTenant implements the RPC (other services only).
func (s *TenantServer) ResolveTenant(ctx context.Context, r *tenantv1.ResolveTenantRequest) (*tenantv1.ResolveTenantResponse, error) {
	t, err := s.Tenants.Resolve(ctx, r.GetInstanceId(), r.GetTenantId())
	if err != nil {
		return nil, err
	}
	return &tenantv1.ResolveTenantResponse{MsCustomerId: t.MSCustomerID, Country: t.Address.Country, McaAttested: t.MCAAttested,
		State: t.State, DomainName: t.InitialDomain, Gdap: gdapMessage(t.GDAP)}, nil
}

// SynchronizeTenant implements the RPC.
func (s *TenantServer) SynchronizeTenant(ctx context.Context, r *tenantv1.SynchronizeTenantRequest) (*tenantv1.SynchronizeTenantResponse, error) {
	rep, progress, running, err := s.Sync.Request(ctx, apsmd.FromContext(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	if running {
		return &tenantv1.SynchronizeTenantResponse{}, apsmd.SetAccepted(ctx, progress)
	}
	out := &tenantv1.SyncReport{SynchronizedAt: timestamppb.New(rep.At), Changes: []*tenantv1.SyncChange{}}
	for _, c := range rep.Changes {
		out.Changes = append(out.Changes, &tenantv1.SyncChange{Kind: c.Kind, Change: c.Change, Id: c.ID, Name: c.Name, Detail: c.Detail})
	}
	return &tenantv1.SynchronizeTenantResponse{Report: out}, nil
}
