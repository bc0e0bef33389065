package tenants

import (
	"context"

	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/mserr"
)

// InitialDomainAvailable answers GET /app/{id}/domainAvailability: the
// initial domain a subdomain makes, and whether no Microsoft tenant has it.
func (s *Service) InitialDomainAvailable(ctx context.Context, req apsmd.Request, appID, subdomain string) (string, bool, error) {
	inst, err := s.Instances.Get(ctx, req, appID)
	if err != nil {
		return "", false, err
	}
	sub, err := CheckSubdomain(subdomain)
	if err != nil {
		return "", false, err
	}
	pc, err := s.PC(inst)
	if err != nil {
		return "", false, err
	}
	domain := s.Endpoints.InitialDomain(sub)
	taken, err := pc.DomainExists(ctx, domain)
	if err != nil {
		return "", false, mserr.Sync(err, "check the domain")
	}
	return domain, !taken, nil
}
