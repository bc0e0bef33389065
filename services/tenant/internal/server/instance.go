package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/msclients"

	"github.com/o365gateway/gateway/services/tenant/internal/health"
	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
)

// InstanceServer implements tenantv1.InstanceServiceServer.
type InstanceServer struct {
	tenantv1.UnimplementedInstanceServiceServer
	Instances *instances.Service
	Tenants   *tenants.Service
	Health    *health.Service
}

// GetInstanceHealth implements the RPC.
func (s *InstanceServer) GetInstanceHealth(ctx context.Context, r *tenantv1.GetInstanceHealthRequest) (*tenantv1.GetInstanceHealthResponse, error) {
	h, err := s.Health.Get(ctx, apsmd.FromContext(ctx), r.GetId(), r.GetRefresh())
	if err != nil {
		return nil, err
	}
	return &tenantv1.GetInstanceHealthResponse{Health: healthMessage(h)}, nil
}

// ListCustomers implements the RPC.
func (s *InstanceServer) ListCustomers(ctx context.Context, r *tenantv1.ListCustomersRequest) (*tenantv1.ListCustomersResponse, error) {
	list, next, err := s.Tenants.ListUnmanaged(ctx, apsmd.FromContext(ctx), r.GetId(), r.Managed, r.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &tenantv1.ListCustomersResponse{NextPageToken: next, Customers: make([]*tenantv1.UnmanagedCustomer, 0, len(list))}
	for _, c := range list {
		m := &tenantv1.UnmanagedCustomer{MsCustomerId: c.ID, DomainName: c.Domain, CompanyName: c.CompanyName, Country: c.Country}
		if c.Subscriptions != nil {
			n := int32(*c.Subscriptions)
			m.Subscriptions = &n
		}
		out.Customers = append(out.Customers, m)
	}
	if next != "" {
		_ = grpc.SetHeader(ctx, metadata.Pairs(apsmd.NextPage, next))
	}
	return out, nil
}

// CreateInstance implements the RPC.
func (s *InstanceServer) CreateInstance(ctx context.Context, r *tenantv1.CreateInstanceRequest) (*tenantv1.CreateInstanceResponse, error) {
	in, err := s.Instances.Create(ctx, apsmd.FromContext(ctx), instanceInput(r.GetInstance()))
	if err != nil {
		return nil, err
	}
	return &tenantv1.CreateInstanceResponse{Instance: instanceMessage(in)}, nil
}

// GetInstance implements the RPC.
func (s *InstanceServer) GetInstance(ctx context.Context, r *tenantv1.GetInstanceRequest) (*tenantv1.GetInstanceResponse, error) {
	in, err := s.Instances.Get(ctx, apsmd.FromContext(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	return &tenantv1.GetInstanceResponse{Instance: instanceMessage(in)}, nil
}

// ConfigureInstance implements the RPC.
func (s *InstanceServer) ConfigureInstance(ctx context.Context, r *tenantv1.ConfigureInstanceRequest) (*tenantv1.ConfigureInstanceResponse, error) {
	in, err := s.Instances.Configure(ctx, apsmd.FromContext(ctx), r.GetId(), instanceInput(r.GetInstance()))
	if err != nil {
		return nil, err
	}
	return &tenantv1.ConfigureInstanceResponse{Instance: instanceMessage(in)}, nil
}

// DeleteInstance implements the RPC.
func (s *InstanceServer) DeleteInstance(ctx context.Context, r *tenantv1.DeleteInstanceRequest) (*tenantv1.DeleteInstanceResponse, error) {
	if err := s.Instances.Delete(ctx, apsmd.FromContext(ctx), r.GetId()); err != nil {
		return nil, err
	}
	return &tenantv1.DeleteInstanceResponse{}, nil
}

// UpgradeInstance implements the RPC.
func (s *InstanceServer) UpgradeInstance(ctx context.Context, r *tenantv1.UpgradeInstanceRequest) (*tenantv1.UpgradeInstanceResponse, error) {
	in, err := s.Instances.Upgrade(ctx, apsmd.FromContext(ctx), r.GetId(), r.GetVersion())
	if err != nil {
		return nil, err
	}
	return &tenantv1.UpgradeInstanceResponse{Instance: instanceMessage(in)}, nil
}

// CheckDomainAvailability implements the RPC.
func (s *InstanceServer) CheckDomainAvailability(ctx context.Context, r *tenantv1.CheckDomainAvailabilityRequest) (*tenantv1.CheckDomainAvailabilityResponse, error) {
	domain, free, err := s.Tenants.InitialDomainAvailable(ctx, apsmd.FromContext(ctx), r.GetId(), r.GetSubdomain())
	if err != nil {
		return nil, err
	}
	return &tenantv1.CheckDomainAvailabilityResponse{Domain: domain, Available: &free}, nil
}

// NotifyInstanceLink acknowledges link notifications (nothing to do).
func (s *InstanceServer) NotifyInstanceLink(ctx context.Context, r *tenantv1.NotifyInstanceLinkRequest) (*tenantv1.NotifyInstanceLinkResponse, error) {
	if _, err := s.Instances.Get(ctx, apsmd.FromContext(ctx), r.GetId()); err != nil {
		return nil, err
	}
	return &tenantv1.NotifyInstanceLinkResponse{}, nil
}

// GetInstanceAuth implements the RPC (facade only).
func (s *InstanceServer) GetInstanceAuth(ctx context.Context, r *tenantv1.GetInstanceAuthRequest) (*tenantv1.GetInstanceAuthResponse, error) {
	if r.GetInstanceId() == "" {
		return nil, apierr.Invalid("instance_id is required.")
	}
	in, err := s.Instances.Load(ctx, r.GetInstanceId())
	if err != nil {
		return nil, err
	}
	return &tenantv1.GetInstanceAuthResponse{ControllerCertificatePem: in.ControllerCertPEM, Cloud: in.Cloud}, nil
}

// ResolveInstance implements the RPC (other services only): the settings,
// never a secret.
func (s *InstanceServer) ResolveInstance(ctx context.Context, r *tenantv1.ResolveInstanceRequest) (*tenantv1.ResolveInstanceResponse, error) {
	if r.GetInstanceId() == "" {
		return nil, apierr.Invalid("instance_id is required.")
	}
	in, err := s.Instances.Load(ctx, r.GetInstanceId())
	if err != nil {
		return nil, err
	}
	return &tenantv1.ResolveInstanceResponse{Instance: instanceMessage(in), AppUser: in.AppUser()}, nil
}

// IssueAccessToken implements the RPC (other services only).
func (s *InstanceServer) IssueAccessToken(ctx context.Context, r *tenantv1.IssueAccessTokenRequest) (*tenantv1.IssueAccessTokenResponse, error) {
	if r.GetInstanceId() == "" {
		return nil, apierr.Invalid("instance_id is required.")
	}
	var aud msclients.Audience
	switch r.GetAudience() {
	case tenantv1.Audience_AUDIENCE_PARTNER_CENTER:
		aud = msclients.PartnerCenter
	case tenantv1.Audience_AUDIENCE_GRAPH:
		aud = msclients.Graph
	default:
		return nil, apierr.Invalid("audience must be AUDIENCE_PARTNER_CENTER or AUDIENCE_GRAPH.")
	}
	tok, err := s.Instances.AccessToken(ctx, r.GetInstanceId(), r.GetTenantId(), aud)
	if err != nil {
		return nil, err
	}
	return &tenantv1.IssueAccessTokenResponse{AccessToken: tok.Token, ExpiresOn: tok.ExpiresOn.Unix()}, nil
}
