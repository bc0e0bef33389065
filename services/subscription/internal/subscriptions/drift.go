package subscriptions

import (
	"context"
	"errors"
	"strings"

	"github.com/o365gateway/gateway/services/shared/drift"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Drift compares a tenant's subscriptions with Partner Center and changes
// nothing. A quantity or a state that differs is pushed (the platform is
// the billing master): a quantity change buys or cancels seats, so it is
// made only for items named. Subscriptions bought outside the platform, and
// the platform's subscriptions gone at Microsoft, are reported: buying or
// registering them is the provider's decision.
func (s *Service) Drift(ctx context.Context, instanceID, tenantID string) ([]drift.Item, error) {
	remote, local, err := s.both(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	items := []drift.Item{}
	byMS := map[string]*storage.Subscription{}
	for _, sub := range local {
		if sub.MSSubscriptionID != "" {
			byMS[strings.ToLower(sub.MSSubscriptionID)] = sub
		}
	}
	seen := map[string]bool{}
	for _, m := range remote {
		if m.Status == "deleted" || m.Status == "expired" {
			continue
		}
		id := strings.ToLower(m.ID)
		seen[id] = true
		ms := map[string]any{"offer_id": m.OfferID, "offer_name": m.OfferName, "quantity": m.Quantity, "status": m.Status}
		sub, ok := byMS[id]
		switch {
		case !ok:
			items = append(items, drift.Item{Kind: drift.KindSubscription, MSID: m.ID, Problem: drift.MissingInPlatform, Microsoft: ms,
				Repair: drift.None, Message: "bought outside the platform; the platform sells subscriptions itself"})
		case sub.Op.Busy() || sub.State != storage.StateActive && sub.State != storage.StateSuspended:
		case wantStatus(sub) != m.Status:
			// The push is a configure of the whole subscription: when the
			// quantity differs too, it buys or cancels seats as well.
			commerce := !sub.Suspended && sub.Quantity != m.Quantity
			msg := "pushing suspends or resumes it as the platform says"
			if commerce {
				msg += ", and sets the platform's quantity (a purchase or cancellation: made only when this item is named)"
			}
			items = append(items, drift.Item{Kind: drift.KindSubscription, ResourceID: sub.ID, MSID: m.ID, Problem: drift.StateDiffers,
				Platform: platformView(sub), Microsoft: ms, Repair: drift.Push, Commerce: commerce, Message: msg})
		case !sub.Suspended && sub.Quantity != m.Quantity:
			items = append(items, drift.Item{Kind: drift.KindSubscription, ResourceID: sub.ID, MSID: m.ID, Problem: drift.QuantityDiffers,
				Platform: platformView(sub), Microsoft: ms, Repair: drift.Push, Commerce: true,
				Message: "pushing buys or cancels seats to the platform's quantity: made only when this item is named"})
		}
	}
	for _, sub := range local {
		if sub.MSSubscriptionID != "" && !seen[strings.ToLower(sub.MSSubscriptionID)] && !sub.Op.Busy() &&
			(sub.State == storage.StateActive || sub.State == storage.StateSuspended) {
			items = append(items, drift.Item{Kind: drift.KindSubscription, ResourceID: sub.ID, MSID: sub.MSSubscriptionID,
				Problem: drift.MissingAtMicrosoft, Platform: platformView(sub), Repair: drift.None,
				Message: "cancelled or expired at Microsoft: buy it again or unprovision it in the platform"})
		}
	}
	return items, nil
}

// RepairDrift pushes the platform's subscription to Partner Center: a
// configure of the subscription as it stands, whose job patches status,
// quantity and auto-renewal exactly as a platform change does.
func (s *Service) RepairDrift(ctx context.Context, instanceID, tenantID string, items []drift.Item, dryRun bool) ([]drift.Item, error) {
	_, local, err := s.both(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	byID := map[string]*storage.Subscription{}
	for _, sub := range local {
		byID[sub.ID] = sub
	}
	out := make([]drift.Item, 0, len(items))
	for _, it := range items {
		if it.Kind != drift.KindSubscription {
			continue
		}
		var err error
		sub := byID[it.ResourceID]
		switch {
		case it.Repair != drift.Push || dryRun:
		case sub == nil:
			err = errors.New("the subscription is no longer in the platform")
		case sub.Op.Busy():
			err = errors.New("an operation of the subscription is running; repair it when it has finished")
		default:
			_, err = s.machine().Start(ctx, sub, lifecycle.Configure, true)
		}
		it.Finish(dryRun, err)
		out = append(out, it)
	}
	return out, nil
}

func (s *Service) both(ctx context.Context, instanceID, tenantID string) ([]partnercenter.Subscription, []*storage.Subscription, error) {
	inst, err := s.Tenants.Instance(ctx, instanceID)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.Tenants.Tenant(ctx, instanceID, tenantID)
	if err != nil {
		return nil, nil, err
	}
	pc, err := s.PC(inst)
	if err != nil {
		return nil, nil, err
	}
	remote, err := pc.Subscriptions(ctx, t.MSCustomerID)
	if err != nil {
		return nil, nil, mserr.Sync(err, "list the subscriptions")
	}
	local, err := s.Store.ListByTenant(ctx, instanceID, tenantID)
	return remote, local, err
}

func wantStatus(sub *storage.Subscription) string {
	if sub.Suspended {
		return "suspended"
	}
	return "active"
}

func platformView(sub *storage.Subscription) map[string]any {
	return map[string]any{"offer_id": sub.OfferID, "quantity": sub.Quantity, "suspended": sub.Suspended, "state": sub.State}
}
