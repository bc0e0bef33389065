// Package tenantclient is the client of the tenant service for the other
// services of a deployment: it reads the instances and the tenants, which
// the tenant service owns, and obtains the instances' access tokens from
// it. The secrets they are made with never leave the tenant service.
package tenantclient

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/msclients"
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
	// AppUser: the instance works with app+user credentials, so its calls
	// in a customer's directory need an approved GDAP relationship.
	AppUser bool
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
	// GDAP is the partner's delegated admin relationship with the customer.
	GDAP gdap.Relationship
}

// Client reads the tenant service, caching instances briefly.
type Client struct {
	Instances tenantv1.InstanceServiceClient
	Tenants   tenantv1.TenantServiceClient
	TTL       time.Duration
	// Endpoints are the cloud's, which tell the audience of a token scope.
	Endpoints clouds.Endpoints

	mu    sync.Mutex
	cache map[string]cachedInstance
}

type cachedInstance struct {
	at   time.Time
	inst *Instance
}

// New builds a client on a connection to the tenant service.
func New(conn grpc.ClientConnInterface, ttl time.Duration, e clouds.Endpoints) *Client {
	return &Client{Instances: tenantv1.NewInstanceServiceClient(conn), Tenants: tenantv1.NewTenantServiceClient(conn), TTL: ttl, Endpoints: e}
}

// outgoing passes the caller's APS metadata on (for logs and audit).
func outgoing(ctx context.Context) context.Context {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		return metadata.NewOutgoingContext(ctx, md.Copy())
	}
	return ctx
}

// Instance returns an instance, with a credential that asks the tenant
// service for its access tokens.
func (c *Client) Instance(ctx context.Context, instanceID string) (*Instance, error) {
	c.mu.Lock()
	if e, ok := c.cache[instanceID]; ok && time.Since(e.at) < c.TTL {
		c.mu.Unlock()
		return e.inst, nil
	}
	c.mu.Unlock()
	resp, err := c.Instances.ResolveInstance(outgoing(ctx), &tenantv1.ResolveInstanceRequest{InstanceId: instanceID})
	if err != nil {
		return nil, apierr.From(err)
	}
	m := resp.GetInstance()
	inst := &Instance{InstanceID: instanceID, AppID: m.GetAps().GetId(), Cloud: m.GetCloud(), SalesCountries: m.GetSalesCountries(),
		TestPartner: m.GetTestPartner(), DefaultUsageLocation: m.GetDefaultUsageLocation(), AppUser: resp.GetAppUser(), Credentials: msclients.Credentials{InstanceID: instanceID,
			PartnerTenantID: m.GetPartnerTenantId(), ClientID: m.GetClientId(), Broker: broker{c: c, instanceID: instanceID}}}
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
		State: resp.GetState(), InitialDomain: resp.GetDomainName(), GDAP: relationshipOf(resp.GetGdap())}, nil
}

func relationshipOf(m *tenantv1.Gdap) gdap.Relationship {
	r := gdap.Relationship{State: m.GetState(), RelationshipID: m.GetRelationshipId(), Roles: m.GetRoles(),
		ApprovalURL: m.GetApprovalUrl(), AutoExtend: m.GetAutoExtend()}
	if m.GetExpiresAt() != nil {
		r.ExpiresAt = m.GetExpiresAt().AsTime()
	}
	return r
}

// broker is the credential of an instance in a service other than the
// tenant service: an azcore.TokenCredential whose tokens the tenant service
// issues. azcore's bearer-token policy caches each until shortly before it
// expires.
type broker struct {
	c          *Client
	instanceID string
}

// GetToken implements azcore.TokenCredential.
func (b broker) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(o.Scopes) != 1 {
		return azcore.AccessToken{}, fmt.Errorf("one scope expected, got %d", len(o.Scopes))
	}
	var aud tenantv1.Audience
	switch strings.TrimSuffix(o.Scopes[0], "/.default") {
	case b.c.Endpoints.PartnerCenterAudience:
		aud = tenantv1.Audience_AUDIENCE_PARTNER_CENTER
	case b.c.Endpoints.GraphAudience:
		aud = tenantv1.Audience_AUDIENCE_GRAPH
	default:
		return azcore.AccessToken{}, fmt.Errorf("no access token is issued for scope %q", o.Scopes[0])
	}
	resp, err := b.c.Instances.IssueAccessToken(outgoing(ctx), &tenantv1.IssueAccessTokenRequest{InstanceId: b.instanceID, TenantId: o.TenantID, Audience: aud})
	if err != nil {
		return azcore.AccessToken{}, apierr.From(err)
	}
	return azcore.AccessToken{Token: resp.GetAccessToken(), ExpiresOn: time.Unix(resp.GetExpiresOn(), 0)}, nil
}
