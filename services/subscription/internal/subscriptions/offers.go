package subscriptions

import (
	"context"
	"regexp"
	"strings"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/mserr"

	"github.com/o365gateway/gateway/services/subscription/internal/catalog"
)

var countryRe = regexp.MustCompile(`^[A-Z]{2}$`)

// Offers answers GET /app/{id}/offers?country=XX.
func (s *Service) Offers(ctx context.Context, req apsmd.Request, appID, country string) ([]catalog.Offer, error) {
	inst, err := s.Tenants.Instance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	if appID != "" && appID != inst.AppID {
		return nil, apierr.Invalid("The application resource %q does not belong to this instance.", appID)
	}
	country = strings.ToUpper(strings.TrimSpace(country))
	if !countryRe.MatchString(country) {
		return nil, apierr.Invalid("country must be an ISO 3166 alpha-2 code, e.g. US.")
	}
	pc, err := s.PC(inst)
	if err != nil {
		return nil, err
	}
	offers, err := s.Catalog.Offers(ctx, pc, inst.InstanceID, country)
	if err != nil {
		return nil, mserr.Sync(err, "read the catalog")
	}
	return offers, nil
}
