package server

import (
	"context"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"

	"github.com/o365gateway/gateway/services/tenant/internal/domains"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// TypeDomain is the APS type of a custom domain.
const TypeDomain = apsmd.TypeDomain

// DomainServer implements tenantv1.DomainServiceServer.
type DomainServer struct {
	tenantv1.UnimplementedDomainServiceServer
	Domains *domains.Service
}

func domainMessage(d *storage.Domain) *tenantv1.Domain {
	m := &tenantv1.Domain{Aps: &apsv1.Meta{Id: d.ID, Type: TypeDomain, Status: "aps:ready"}, Tenant: &apsv1.Link{Aps: &apsv1.Ref{Id: d.TenantID}},
		DomainName: d.Name, State: d.State, VerificationRecords: []*tenantv1.VerificationRecord{}}
	for _, r := range d.Records {
		m.VerificationRecords = append(m.VerificationRecords, &tenantv1.VerificationRecord{RecordType: r.Type, Label: r.Label, Text: r.Text, Ttl: int32(r.TTL)})
	}
	return m
}

// ProvisionDomain implements the RPC.
func (s *DomainServer) ProvisionDomain(ctx context.Context, r *tenantv1.ProvisionDomainRequest) (*tenantv1.ProvisionDomainResponse, error) {
	m := r.GetDomain()
	d, err := s.Domains.Provision(ctx, apsmd.FromContext(ctx), domains.Input{ID: m.GetAps().GetId(), TenantID: m.GetTenant().GetAps().GetId(), Name: m.GetDomainName()})
	if err != nil {
		return nil, err
	}
	return &tenantv1.ProvisionDomainResponse{Domain: domainMessage(d)}, nil
}

// GetDomain implements the RPC.
func (s *DomainServer) GetDomain(ctx context.Context, r *tenantv1.GetDomainRequest) (*tenantv1.GetDomainResponse, error) {
	d, err := s.Domains.Get(ctx, apsmd.FromContext(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	return &tenantv1.GetDomainResponse{Domain: domainMessage(d)}, nil
}

// VerifyDomain implements the RPC.
func (s *DomainServer) VerifyDomain(ctx context.Context, r *tenantv1.VerifyDomainRequest) (*tenantv1.VerifyDomainResponse, error) {
	d, err := s.Domains.Verify(ctx, apsmd.FromContext(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	return &tenantv1.VerifyDomainResponse{Domain: domainMessage(d)}, nil
}

// UnprovisionDomain implements the RPC.
func (s *DomainServer) UnprovisionDomain(ctx context.Context, r *tenantv1.UnprovisionDomainRequest) (*tenantv1.UnprovisionDomainResponse, error) {
	if err := s.Domains.Unprovision(ctx, apsmd.FromContext(ctx), r.GetId()); err != nil {
		return nil, err
	}
	return &tenantv1.UnprovisionDomainResponse{}, nil
}

// NotifyDomainLink acknowledges link notifications.
func (s *DomainServer) NotifyDomainLink(ctx context.Context, r *tenantv1.NotifyDomainLinkRequest) (*tenantv1.NotifyDomainLinkResponse, error) {
	if _, err := s.Domains.Get(ctx, apsmd.FromContext(ctx), r.GetId()); err != nil {
		if r.GetOtherId() != "" && apierr.From(err).Reason == apierr.NotFound {
			return &tenantv1.NotifyDomainLinkResponse{}, nil
		}
		return nil, err
	}
	return &tenantv1.NotifyDomainLinkResponse{}, nil
}
