package subscriptions

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/pcerr"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Unprovision answers DELETE /subscriptions/{id}. What happens at Microsoft
// (a job): a new-commerce subscription whose seats are all still refundable
// is cancelled; otherwise its auto-renewal is turned off, so that it ends at
// term end (Microsoft allows no earlier cancellation); a legacy subscription
// is suspended. A nil View means done (204).
func (s *Service) Unprovision(ctx context.Context, req apsmd.Request, id string) (*View, error) {
	inst, err := s.Directory.Instance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	if !apsmd.IsID(id) {
		return nil, apierr.Invalid("The subscription id %q is not a UUID.", id)
	}
	sub, err := s.Store.Get(ctx, inst.InstanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if sub.Operation == storage.OpUnprovision && (sub.OperationState == storage.OpRunning || req.Async()) {
		if v, err := s.outcome(ctx, sub, storage.OpUnprovision); err != nil || v.Accepted != "" {
			return v, err
		}
	}
	if sub.OperationState == storage.OpRunning && sub.Operation != storage.OpUnprovision {
		if sub.Operation != storage.OpProvision || sub.PurchaseSent {
			return nil, apierr.New(codes.Aborted, apierr.Conflict, "The subscription is busy (%s in progress); unprovision it when that has finished.", sub.Operation)
		}
	}
	if sub.MSSubscriptionID == "" && !sub.PurchaseSent {
		if err := s.Store.Delete(ctx, inst.InstanceID, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, nil
	}
	sub.Operation, sub.OperationState, sub.FailureReason, sub.FailureMessage = storage.OpUnprovision, storage.OpRunning, "", ""
	if err := s.Store.Update(ctx, sub, newJob(KindUnprovision, sub)); err != nil {
		return nil, err
	}
	s.notify()
	return &View{Sub: sub, Accepted: describe(storage.OpUnprovision, sub)}, nil
}

func (s *Service) runUnprovision(ctx context.Context, job *jobs.Job) error {
	sub, pc, err := s.jobContext(ctx, job, storage.OpUnprovision)
	if err != nil || sub == nil {
		return err
	}
	if sub.MSSubscriptionID == "" {
		if _, err := s.readBack(ctx, pc, sub); err != nil {
			return err
		}
	}
	if sub.MSSubscriptionID != "" {
		if err := s.endAtMicrosoft(ctx, pc, sub); err != nil {
			return err
		}
	}
	if err := s.Store.Delete(ctx, sub.InstanceID, sub.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

func (s *Service) endAtMicrosoft(ctx context.Context, pc PartnerCenter, sub *storage.Subscription) error {
	ms, err := pc.GetSubscription(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
	if e, ok := partnercenter.AsError(err); ok && e.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return pcerr.Job(err)
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
		return pcerr.Job(err)
	}
	s.Log.InfoContext(ctx, "subscription ended at Microsoft", "subscription_id", sub.ID, "ms_subscription_id", sub.MSSubscriptionID, "how", how)
	return nil
}
