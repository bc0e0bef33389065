package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/pcerr"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Upgrade answers POST /subscriptions/{id}/upgrade: a legacy upgrade or a
// new-commerce transition with license transfer, run as a job.
func (s *Service) Upgrade(ctx context.Context, req apsmd.Request, id, offerID, transition string) (*View, error) {
	inst, err := s.Directory.Instance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	sub, err := s.load(ctx, inst.InstanceID, id)
	if err != nil {
		return nil, err
	}
	if req.Async() || sub.Operation == storage.OpUpgrade && sub.OperationState == storage.OpRunning {
		return s.outcome(ctx, sub, storage.OpUpgrade)
	}
	if sub.OperationState == storage.OpRunning || sub.State != storage.StateActive {
		return nil, apierr.New(codes.FailedPrecondition, apierr.Conflict, "Only an active, idle subscription can be upgraded.")
	}
	if transition != "" && !strings.EqualFold(transition, "immediate") {
		return nil, apierr.Invalid("transition %q is not supported; use immediate.", transition)
	}
	pc, err := s.PC(inst)
	if err != nil {
		return nil, err
	}
	t, err := s.Directory.Tenant(ctx, inst.InstanceID, sub.TenantID)
	if err != nil {
		return nil, err
	}
	from, err := s.Catalog.Find(ctx, pc, inst.InstanceID, t.Country, sub.OfferID)
	if err != nil {
		return nil, pcerr.Sync(err, "read the catalog")
	}
	to, err := s.Catalog.Find(ctx, pc, inst.InstanceID, t.Country, offerID)
	if err != nil {
		return nil, pcerr.Sync(err, "read the catalog")
	}
	if to == nil {
		return nil, apierr.New(codes.InvalidArgument, apierr.OfferNotFound, "Offer %s is not sold to customers in %s.", offerID, t.Country)
	}
	if from == nil || from.Kind != to.Kind || !from.AllowsUpgradeTo(to) {
		return nil, apierr.Invalid("%s cannot be upgraded to %s.", sub.OfferName, to.Name)
	}
	if _, err := checkQuantity(inst, to, &sub.Quantity); err != nil {
		return nil, err
	}
	sub.TargetOfferID, sub.RequestID = to.ID, uuid.NewString()
	sub.Operation, sub.OperationState, sub.FailureReason, sub.FailureMessage = storage.OpUpgrade, storage.OpRunning, "", ""
	sub.PurchaseSent = false
	if err := s.Store.Update(ctx, sub, newJob(KindUpgrade, sub)); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, apierr.New(codes.Aborted, apierr.Conflict, "The subscription changed meanwhile; try again.")
		}
		return nil, err
	}
	s.notify()
	return &View{Sub: sub, Accepted: describe(storage.OpUpgrade, sub)}, nil
}

func (s *Service) runUpgrade(ctx context.Context, job *jobs.Job) error {
	sub, pc, err := s.jobContext(ctx, job, storage.OpUpgrade)
	if err != nil || sub == nil {
		return err
	}
	reqCtx := partnercenter.WithRequestID(ctx, sub.RequestID)
	newID := ""
	if sub.Kind == storage.KindNewCommerce {
		res, err := pc.Transition(reqCtx, sub.MSCustomerID, sub.MSSubscriptionID, partnercenter.Transition{
			FromCatalogItemID: sub.OfferID, FromSubscriptionID: sub.MSSubscriptionID, ToCatalogItemID: sub.TargetOfferID,
			Quantity: sub.Quantity, TermDuration: sub.TermDuration, BillingCycle: sub.BillingCycle,
			TransitionType: "transition_with_license_transfer"})
		if err != nil {
			return pcerr.Job(err)
		}
		newID = res.ToSubscriptionID
	} else {
		targets, err := pc.Upgrades(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
		if err != nil {
			return pcerr.Job(err)
		}
		var target *partnercenter.UpgradeTarget
		for i := range targets {
			if strings.EqualFold(targets[i].TargetOffer.ID, sub.TargetOfferID) && targets[i].IsEligible {
				target = &targets[i]
			}
		}
		if target == nil {
			return jobs.Permanent(apierr.New(codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft does not offer this upgrade for the subscription now."))
		}
		target.Quantity = sub.Quantity
		res, err := pc.Upgrade(reqCtx, sub.MSCustomerID, sub.MSSubscriptionID, *target)
		if err != nil {
			return pcerr.Job(err)
		}
		if len(res.UpgradeErrors) > 0 {
			e := res.UpgradeErrors[0]
			return jobs.Permanent(apierr.New(codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft refused the upgrade: %s (code %d).", e.Description, e.Code))
		}
		newID = res.TargetSubscriptionID
	}
	if newID == "" {
		newID = sub.MSSubscriptionID
	}
	inst, err := s.Directory.Instance(ctx, sub.InstanceID)
	if err != nil {
		return err
	}
	t, err := s.Directory.Tenant(ctx, sub.InstanceID, sub.TenantID)
	if err != nil {
		return err
	}
	to, err := s.Catalog.Find(ctx, pc, inst.InstanceID, t.Country, sub.TargetOfferID)
	if err != nil || to == nil {
		return fmt.Errorf("target offer %s no longer in the catalog: %v", sub.TargetOfferID, err)
	}
	s.Log.InfoContext(ctx, "subscription upgraded", "subscription_id", sub.ID, "from", sub.OfferID, "to", to.ID, "ms_subscription_id", newID)
	return s.mutate(ctx, sub, func(x *storage.Subscription) {
		x.MSSubscriptionID, x.OfferID, x.OfferName, x.SKUID = newID, to.ID, to.Name, to.SKUID
		x.TargetOfferID, x.OperationState = "", storage.OpDone
	})
}
