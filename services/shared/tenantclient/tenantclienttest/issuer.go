package tenantclienttest

import (
	"context"

	"google.golang.org/grpc/codes"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/msclients"
)

// Issuer answers IssueAccessToken as the tenant service does, for the
// fakes of the tenant service in other services' component tests: real
// tokens from the (simulated) Entra for one instance's credentials.
type Issuer struct {
	Factory     *msclients.Factory
	InstanceID  string
	Credentials msclients.Credentials
}

// IssueAccessToken implements the tenant service's RPC.
func (i *Issuer) IssueAccessToken(ctx context.Context, r *tenantv1.IssueAccessTokenRequest) (*tenantv1.IssueAccessTokenResponse, error) {
	if r.GetInstanceId() != i.InstanceID {
		return nil, apierr.ToStatus(apierr.New(codes.NotFound, apierr.UnknownInstance, "unknown instance"))
	}
	aud := msclients.PartnerCenter
	if r.GetAudience() == tenantv1.Audience_AUDIENCE_GRAPH {
		aud = msclients.Graph
	}
	tok, err := i.Factory.AccessToken(ctx, i.Credentials, r.GetTenantId(), aud)
	if err != nil {
		return nil, apierr.ToStatus(apierr.Wrap(err, codes.Unavailable, apierr.MicrosoftUnavailable, "token refused"))
	}
	return &tenantv1.IssueAccessTokenResponse{AccessToken: tok.Token, ExpiresOn: tok.ExpiresOn.Unix()}, nil
}
