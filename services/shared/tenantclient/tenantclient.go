// Package tenantclient is the client of the tenant service for the other
// services of a deployment: it reads the instances (with their Microsoft
// credentials) and the tenants, which the tenant service owns.
package tenantclient

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/secret"
)

// Instance is what the other services need of an application instance.
type Instance struct {
	InstanceID           string
	AppID                string
	Cloud                string
	SalesCountries       []string
	TestPartner          bool
	DefaultUsageLocation string
	Credentials          msclients.Credentials
}

// Tenant is what the other services need of a tenant.
type Tenant struct {
	ID           string
	MSCustomerID string
	Country      string
	MCAAttested  bool
	State        string
	// InitialDomain is the tenant's initial domain (its subdomain plus the
	// cloud's suffix, e.g. contoso.onmicrosoft.com).
	InitialDomain string
}

// Client reads the tenant service, caching instances briefly.
type Client struct {
	Instances tenantv1.InstanceServiceClient
	Tenants   tenantv1.TenantServiceClient
	TTL       time.Duration

	mu    sync.Mutex
	cache map[string]cachedInstance
}

type cachedInstance struct {
	at   time.Time
	inst *Instance
}

// New builds a client on a connection to the tenant service.
func New(conn grpc.ClientConnInterface, ttl time.Duration) *Client {
	return &Client{Instances: tenantv1.NewInstanceServiceClient(conn), Tenants: tenantv1.NewTenantServiceClient(conn), TTL: ttl}
}

// outgoing passes the caller's APS metadata on (for logs and audit).
func outgoing(ctx context.Context) context.Context {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		return metadata.NewOutgoingContext(ctx, md.Copy())
	}
	return ctx
}

// Instance returns an instance with its credentials.
func (c *Client) Instance(ctx context.Context, instanceID string) (*Instance, error) {
	c.mu.Lock()
	if e, ok := c.cache[instanceID]; ok && time.Since(e.at) < c.TTL {
		c.mu.Unlock()
		return e.inst, nil
	}
	c.mu.Unlock()
	resp, err := c.Instances.GetInstanceCredentials(outgoing(ctx), &tenantv1.GetInstanceCredentialsRequest{InstanceId: instanceID})
	if err != nil {
		return nil, apierr.From(err)
	}
	m := resp.GetInstance()
	inst := &Instance{InstanceID: instanceID, AppID: m.GetAps().GetId(), Cloud: m.GetCloud(), SalesCountries: m.GetSalesCountries(),
		TestPartner: m.GetTestPartner(), DefaultUsageLocation: m.GetDefaultUsageLocation(), Credentials: msclients.Credentials{InstanceID: instanceID,
			PartnerTenantID: m.GetPartnerTenantId(), ClientID: m.GetClientId(), ClientSecret: secret.New(m.GetClientSecret()),
			RefreshToken: secret.New(m.GetRefreshToken())}}
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string]cachedInstance{}
	}
	c.cache[instanceID] = cachedInstance{at: time.Now(), inst: inst}
	c.mu.Unlock()
	return inst, nil
}

// Tenant resolves a tenant of an instance.
func (c *Client) Tenant(ctx context.Context, instanceID, tenantID string) (*Tenant, error) {
	resp, err := c.Tenants.ResolveTenant(outgoing(ctx), &tenantv1.ResolveTenantRequest{InstanceId: instanceID, TenantId: tenantID})
	if err != nil {
		return nil, apierr.From(err)
	}
	return &Tenant{ID: tenantID, MSCustomerID: resp.GetMsCustomerId(), Country: resp.GetCountry(), MCAAttested: resp.GetMcaAttested(),
		State: resp.GetState(), InitialDomain: resp.GetDomainName()}, nil
}
