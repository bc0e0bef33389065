package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/adminapi"
	"github.com/o365gateway/gateway/services/shared/apierr"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
	"github.com/o365gateway/gateway/services/subscription/internal/subscriptions"
)

// Operator shows the subscriptions to the operators' tools
// (adminapi.Resources); a subscription's failed operation is retried, a
// running one cancelled, through its lifecycle.
type Operator struct {
	Store storage.Store
	Subs  *subscriptions.Service
}

var _ adminapi.Resources = (*Operator)(nil)

// Types implements adminapi.Resources.
func (o *Operator) Types() []string { return []string{"subscription"} }

// List implements adminapi.Resources: a tenant's subscriptions.
func (o *Operator) List(ctx context.Context, _, instanceID, tenantID, token string, size int) ([]*adminv1.Resource, string, error) {
	if instanceID == "" || tenantID == "" {
		return nil, "", apierr.Invalid("Subscriptions are listed per tenant: name it and its instance (tenant_id, instance_id).")
	}
	list, err := o.Store.ListByTenant(ctx, instanceID, tenantID)
	if err != nil {
		return nil, "", err
	}
	page, next := adminapi.Page(list, func(s *storage.Subscription) string { return s.ID }, token, size)
	out := make([]*adminv1.Resource, 0, len(page))
	for _, s := range page {
		out = append(out, subscriptionResource(s))
	}
	return out, next, nil
}

// Get implements adminapi.Resources.
func (o *Operator) Get(ctx context.Context, _, instanceID, id string) (*adminv1.Resource, error) {
	s, err := o.Store.Get(ctx, instanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "No subscription %s in instance %s.", id, instanceID)
	}
	if err != nil {
		return nil, err
	}
	return subscriptionResource(s), nil
}

// TenantKeys implements adminapi.Resources: the tenant's subscriptions.
func (o *Operator) TenantKeys(ctx context.Context, instanceID, tenantID string) ([]string, error) {
	list, err := o.Store.ListByTenant(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(list))
	for _, s := range list {
		keys = append(keys, s.ID)
	}
	return keys, nil
}

// Retry implements adminapi.Resources.
func (o *Operator) Retry(ctx context.Context, _, instanceID, id string) error {
	return o.Subs.Retry(ctx, instanceID, id)
}

// Cancel implements adminapi.Resources.
func (o *Operator) Cancel(ctx context.Context, _, instanceID, id, by string) error {
	return o.Subs.Cancel(ctx, instanceID, id, by)
}

func subscriptionResource(s *storage.Subscription) *adminv1.Resource {
	var until string
	if s.CancellationUntil != nil {
		until = s.CancellationUntil.UTC().Format(time.RFC3339)
	}
	return &adminv1.Resource{Type: "subscription", Id: s.ID, InstanceId: s.InstanceID, TenantId: s.TenantID, Name: s.OfferName,
		State: s.State, MsId: s.MSSubscriptionID, Operation: adminapi.OperationMessage(&s.Op),
		Details: adminapi.Struct(map[string]any{"offer_id": s.OfferID, "quantity": s.Quantity, "term_duration": s.TermDuration,
			"billing_cycle": s.BillingCycle, "auto_renew": s.AutoRenew, "suspended": s.Suspended, "ms_order_id": s.MSOrderID,
			"cancellation_allowed_until": until})}
}
