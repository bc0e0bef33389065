package subscriptions

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/pcerr"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Configure answers PUT /subscriptions/{id}: quantity, auto-renew, suspension.
func (s *Service) Configure(ctx context.Context, req apsmd.Request, id string, in Input) (*View, error) {
	inst, err := s.Directory.Instance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	sub, err := s.load(ctx, inst.InstanceID, id)
	if err != nil {
		return nil, err
	}
	if req.Async() || sub.Operation == storage.OpConfigure && sub.OperationState == storage.OpRunning {
		return s.outcome(ctx, sub, storage.OpConfigure)
	}
	if sub.OperationState == storage.OpRunning {
		return nil, apierr.New(codes.Aborted, apierr.Conflict, "The subscription is busy (%s in progress); try again when it has finished.", sub.Operation)
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
	if qty == sub.Quantity && autoRenew == sub.AutoRenew && suspended == sub.Suspended {
		return s.view(ctx, sub), nil
	}
	if qty != sub.Quantity {
		if suspended || (suspended != sub.Suspended) {
			return nil, apierr.Invalid("Change the quantity and the suspension in separate steps (Microsoft refuses both at once).")
		}
		if err := s.checkNewQuantity(ctx, inst.InstanceID, sub, qty); err != nil {
			return nil, err
		}
	}
	sub.Quantity, sub.AutoRenew, sub.Suspended = qty, autoRenew, suspended
	sub.Operation, sub.OperationState, sub.FailureReason, sub.FailureMessage = storage.OpConfigure, storage.OpRunning, "", ""
	if err := s.Store.Update(ctx, sub, newJob(KindConfigure, sub)); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, apierr.New(codes.Aborted, apierr.Conflict, "The subscription changed meanwhile; try again.")
		}
		return nil, err
	}
	s.notify()
	return &View{Sub: sub, Accepted: describe(storage.OpConfigure, sub)}, nil
}

// checkNewQuantity validates a seat change against the offer and, for a
// new-commerce decrease, against Microsoft's refundable quantity (the seats
// still inside their cancellation window).
func (s *Service) checkNewQuantity(ctx context.Context, instanceID string, sub *storage.Subscription, qty int64) error {
	inst, err := s.Directory.Instance(ctx, instanceID)
	if err != nil {
		return err
	}
	pc, err := s.PC(inst)
	if err != nil {
		return err
	}
	t, err := s.Directory.Tenant(ctx, instanceID, sub.TenantID)
	if err != nil {
		return err
	}
	offer, err := s.Catalog.Find(ctx, pc, instanceID, t.Country, sub.OfferID)
	if err != nil {
		return pcerr.Sync(err, "read the catalog")
	}
	if offer != nil {
		if _, err := checkQuantity(inst, offer, &qty); err != nil {
			return err
		}
	}
	if qty >= sub.Quantity || sub.Kind != storage.KindNewCommerce {
		return nil
	}
	ms, err := pc.GetSubscription(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
	if err != nil {
		return pcerr.Sync(err, "read the subscription")
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
// then quantity, then auto-renew; each PATCH sends the full subscription.
func (s *Service) runConfigure(ctx context.Context, job *jobs.Job) error {
	sub, pc, err := s.jobContext(ctx, job, storage.OpConfigure)
	if err != nil || sub == nil {
		return err
	}
	ms, err := pc.GetSubscription(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
	if err != nil {
		return pcerr.Job(err)
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
			return pcerr.Job(err)
		}
		ms = out
		return nil
	}
	if err := patch(func(x *partnercenter.Subscription) { x.Status = wantStatus },
		func(x *partnercenter.Subscription) bool { return x.Status == wantStatus }); err != nil {
		return err
	}
	if !sub.Suspended {
		if err := patch(func(x *partnercenter.Subscription) { x.Quantity = sub.Quantity },
			func(x *partnercenter.Subscription) bool { return x.Quantity == sub.Quantity }); err != nil {
			return err
		}
	}
	if err := patch(func(x *partnercenter.Subscription) { x.AutoRenewEnabled = sub.AutoRenew },
		func(x *partnercenter.Subscription) bool { return x.AutoRenewEnabled == sub.AutoRenew }); err != nil {
		return err
	}
	return s.mutate(ctx, sub, func(x *storage.Subscription) {
		x.OperationState = storage.OpDone
		x.State = storage.StateActive
		if x.Suspended {
			x.State = storage.StateSuspended
		}
		x.CancellationUntil = ms.CancellationAllowedUntilDate
	})
}
