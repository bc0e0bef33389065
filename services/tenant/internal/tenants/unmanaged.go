package tenants

import (
	"context"
	"errors"
	"strings"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// CustomerLister pages through the partner's customers at Partner Center.
type CustomerLister interface {
	ListCustomers(ctx context.Context, size int, continuation string) (*partnercenter.CustomerPage, error)
	SubscriptionCount(ctx context.Context, customerID string) (int, error)
}

// Unmanaged is a Microsoft customer of the partner that no tenant of the
// instance manages: what an operator imports by provisioning a tenant with
// its ms_customer_id.
type Unmanaged struct {
	ID, Domain, CompanyName, Country string
	// Subscriptions is how many subscriptions it has (nil: unknown).
	Subscriptions *int
}

// customersPageSize is how many customers one page reads at Partner Center.
const customersPageSize = 50

// ListUnmanaged answers GET /app/{id}/customers?managed=false: one page of
// the partner's customers with those the instance manages left out; the
// page token is Partner Center's continuation.
func (s *Service) ListUnmanaged(ctx context.Context, req apsmd.Request, appID string, managed *bool, pageToken string) ([]Unmanaged, string, error) {
	if managed == nil || *managed {
		return nil, "", apierr.Invalid("Only managed=false is supported: the managed customers are the instance's tenants.")
	}
	if len(pageToken) > 4096 {
		return nil, "", apierr.Invalid("page_token is too long.")
	}
	for _, c := range pageToken {
		if c <= ' ' || c > '~' {
			return nil, "", apierr.Invalid("page_token is not a token this gateway answered.")
		}
	}
	inst, err := s.Instances.Get(ctx, req, appID)
	if err != nil {
		return nil, "", err
	}
	if s.Customers == nil {
		return nil, "", apierr.Invalid("Listing customers is not available.")
	}
	pc, err := s.Customers(inst)
	if err != nil {
		return nil, "", err
	}
	page, err := pc.ListCustomers(ctx, customersPageSize, pageToken)
	if err != nil {
		return nil, "", mserr.Sync(err, "list the partner's customers")
	}
	out := []Unmanaged{}
	for _, c := range page.Customers {
		if _, err := s.Store.TenantByCustomer(ctx, inst.InstanceID, strings.ToLower(c.ID)); err == nil {
			continue
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, "", err
		}
		u := Unmanaged{ID: c.ID, Domain: c.CompanyProfile.Domain, CompanyName: c.CompanyProfile.CompanyName,
			Country: c.BillingProfile.DefaultAddress.Country}
		if u.CompanyName == "" {
			u.CompanyName = c.BillingProfile.CompanyName
		}
		if n, err := pc.SubscriptionCount(ctx, c.ID); err == nil {
			u.Subscriptions = &n
		}
		out = append(out, u)
	}
	return out, page.Continuation, nil
}
