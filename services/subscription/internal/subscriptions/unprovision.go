package subscriptions

import (
	"context"
	"errors"
	"net/http"

	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Unprovision answers DELETE /subscriptions/{id}. What happens at Microsoft
// (a job): a new-commerce subscription whose seats are all still refundable
// is cancelled; otherwise its auto-renewal is turned off, so that it ends at
// term end (Microsoft allows no earlier cancellation); a legacy subscription
// is suspended. A nil View means done (204).
func (s *Service) Unprovision(ctx context.Context, req apsmd.Request, id string) (*View, error) {
	inst, err := s.Tenants.Instance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	m := s.machine()
	sub, a, d, err := m.Begin(ctx, inst.InstanceID, id, lifecycle.Unprovision, req.Async())
	if d == lifecycle.Answered {
		return s.answer(ctx, a, err) // an unknown id is unprovisioned already (nil: 204)
	}
	if sub.MSSubscriptionID == "" && !sub.Op.Touched() && !sub.Op.Busy() {
		// Nothing was bought: nothing to end at Microsoft.
		if err := s.Store.Delete(ctx, inst.InstanceID, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, nil
	}
	// A running attempt (a purchase still under way) is superseded: the
	// unprovision job runs after its job and reads back what it bought.
	a, err = m.Start(ctx, sub, lifecycle.Unprovision, false)
	return s.answer(ctx, a, err)
}

func (s *Service) runUnprovision(ctx context.Context, sub *storage.Subscription) (func(*storage.Subscription), error) {
	pc, err := s.partnerCenter(ctx, sub)
	if err != nil {
		return nil, err
	}
	if sub.MSSubscriptionID == "" {
		rec, err := s.readBack(ctx, pc, sub)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			if err := s.machine().Save(ctx, sub, rec); err != nil {
				return nil, err
			}
		}
	}
	if sub.MSSubscriptionID != "" {
		if err := s.endAtMicrosoft(ctx, pc, sub); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (s *Service) endAtMicrosoft(ctx context.Context, pc PartnerCenter, sub *storage.Subscription) error {
	ms, err := pc.GetSubscription(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
	if e, ok := partnercenter.AsError(err); ok && e.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return mserr.Job(err)
	}
	if ms.Status == "deleted" || ms.Status == "expired" {
		return nil
	}
	next := *ms
	var done func(*partnercenter.Subscription) bool
	how := ""
	switch {
	case sub.Kind == storage.KindNewCommerce && ms.RefundableQuantity != nil && ms.RefundableQuantity.TotalQuantity >= ms.Quantity:
		next.Status, how = "deleted", "cancelled inside the cancellation window"
		done = func(x *partnercenter.Subscription) bool { return x.Status == "deleted" }
	case sub.Kind == storage.KindNewCommerce:
		if !ms.AutoRenewEnabled {
			return nil
		}
		next.AutoRenewEnabled, how = false, "auto-renew turned off; it ends at term end"
		done = func(x *partnercenter.Subscription) bool { return !x.AutoRenewEnabled }
	default:
		if ms.Status == "suspended" {
			return nil
		}
		next.Status, how = "suspended", "suspended (legacy offers cannot be cancelled by API)"
		done = func(x *partnercenter.Subscription) bool { return x.Status == "suspended" }
	}
	if _, err := pc.PatchSubscription(ctx, sub.MSCustomerID, next, done); err != nil {
		return mserr.Job(err)
	}
	s.Log.InfoContext(ctx, "subscription ended at Microsoft", "subscription_id", sub.ID, "ms_subscription_id", sub.MSSubscriptionID, "how", how)
	return nil
}
