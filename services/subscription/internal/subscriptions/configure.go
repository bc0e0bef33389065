package subscriptions

import (
	"context"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Configure answers PUT /subscriptions/{id}: quantity, auto-renew, suspension.
func (s *Service) Configure(ctx context.Context, req apsmd.Request, id string, in Input) (*View, error) {
	inst, err := s.Tenants.Instance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	m := s.machine()
	sub, a, d, err := m.Begin(ctx, inst.InstanceID, id, lifecycle.Configure, req.Async())
	if d == lifecycle.Answered {
		return s.answer(ctx, a, err)
	}
	if sub.State != storage.StateActive && sub.State != storage.StateSuspended {
		return nil, apierr.New(codes.FailedPrecondition, apierr.Conflict, "The subscription is %s and cannot be configured.", sub.State)
	}
	if in.OfferID != "" && in.OfferID != sub.OfferID {
		return nil, apierr.Invalid("offer_id cannot change; use the upgrade operation.")
	}
	qty := sub.Quantity
	if in.Limit != nil {
		qty = *in.Limit
	}
	autoRenew := sub.AutoRenew
	if in.AutoRenew != nil {
		autoRenew = *in.AutoRenew
	}
	suspended := sub.Suspended
	if in.Suspended != nil {
		suspended = *in.Suspended
	}
	changed := qty != sub.Quantity || autoRenew != sub.AutoRenew || suspended != sub.Suspended
	if !changed && d != lifecycle.Rerun && sub.Op.Settled() {
		return s.answer(ctx, m.View(sub), nil)
	}
	if qty != sub.Quantity {
		if suspended || (suspended != sub.Suspended) {
			return nil, apierr.Invalid("Change the quantity and the suspension in separate steps (Microsoft refuses both at once).")
		}
	}
	if !sub.Suspended && !suspended && (qty != sub.Quantity || d == lifecycle.Rerun || !sub.Op.Settled()) {
		// Checked against Microsoft's current quantity, so that a re-run of a
		// failed decrease is checked as well.
		if err := s.checkNewQuantity(ctx, inst.InstanceID, sub, qty); err != nil {
			return nil, err
		}
	}
	sub.Quantity, sub.AutoRenew, sub.Suspended = qty, autoRenew, suspended
	a, err = m.Start(ctx, sub, lifecycle.Configure, changed)
	return s.answer(ctx, a, err)
}

// checkNewQuantity validates a seat change against the offer and, for a
// new-commerce decrease, against Microsoft's refundable quantity (the seats
// still inside their cancellation window).
func (s *Service) checkNewQuantity(ctx context.Context, instanceID string, sub *storage.Subscription, qty int64) error {
	inst, err := s.Tenants.Instance(ctx, instanceID)
	if err != nil {
		return err
	}
	pc, err := s.PC(inst)
	if err != nil {
		return err
	}
	t, err := s.Tenants.Tenant(ctx, instanceID, sub.TenantID)
	if err != nil {
		return err
	}
	offer, err := s.Catalog.Find(ctx, pc, instanceID, t.Country, sub.OfferID)
	if err != nil {
		return mserr.Sync(err, "read the catalog")
	}
	if offer != nil {
		if _, err := checkQuantity(inst, offer, &qty); err != nil {
			return err
		}
	}
	if sub.Kind != storage.KindNewCommerce {
		return nil
	}
	ms, err := pc.GetSubscription(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
	if err != nil {
		return mserr.Sync(err, "read the subscription")
	}
	if qty >= ms.Quantity {
		return nil
	}
	refundable := int64(0)
	if ms.RefundableQuantity != nil {
		refundable = ms.RefundableQuantity.TotalQuantity
	}
	if ms.Quantity-qty > refundable {
		return apierr.New(codes.FailedPrecondition, apierr.CancellationWindowClosed,
			"Microsoft allows removing only seats bought in the last 7 days (%d now); %d seats cannot be removed before the term ends. Turn auto_renew off to reduce at renewal.",
			refundable, ms.Quantity-qty)
	}
	return nil
}

// runConfigure applies the wanted state at Microsoft: suspension first,
// then quantity, then auto-renew; each PATCH sends the full subscription and
// only what differs from Microsoft's current state is sent.
func (s *Service) runConfigure(ctx context.Context, sub *storage.Subscription) (func(*storage.Subscription), error) {
	pc, err := s.partnerCenter(ctx, sub)
	if err != nil {
		return nil, err
	}
	ms, err := pc.GetSubscription(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
	if err != nil {
		return nil, mserr.Job(err)
	}
	wantStatus := "active"
	if sub.Suspended {
		wantStatus = "suspended"
	}
	patch := func(change func(*partnercenter.Subscription), done func(*partnercenter.Subscription) bool) error {
		if done(ms) {
			return nil
		}
		next := *ms
		change(&next)
		out, err := pc.PatchSubscription(ctx, sub.MSCustomerID, next, done)
		if err != nil {
			return mserr.Job(err)
		}
		ms = out
		return nil
	}
	if err := patch(func(x *partnercenter.Subscription) { x.Status = wantStatus },
		func(x *partnercenter.Subscription) bool { return x.Status == wantStatus }); err != nil {
		return nil, err
	}
	if !sub.Suspended {
		if err := patch(func(x *partnercenter.Subscription) { x.Quantity = sub.Quantity },
			func(x *partnercenter.Subscription) bool { return x.Quantity == sub.Quantity }); err != nil {
			return nil, err
		}
	}
	if err := patch(func(x *partnercenter.Subscription) { x.AutoRenewEnabled = sub.AutoRenew },
		func(x *partnercenter.Subscription) bool { return x.AutoRenewEnabled == sub.AutoRenew }); err != nil {
		return nil, err
	}
	return func(x *storage.Subscription) {
		x.State = storage.StateActive
		if x.Suspended {
			x.State = storage.StateSuspended
		}
		x.CancellationUntil = ms.CancellationAllowedUntilDate
	}, nil
}
