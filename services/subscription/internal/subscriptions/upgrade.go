package subscriptions

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Upgrade answers POST /subscriptions/{id}/upgrade: a legacy upgrade or a
// new-commerce transition with license transfer, run as a job.
func (s *Service) Upgrade(ctx context.Context, req apsmd.Request, id, offerID, transition string) (*View, error) {
	inst, err := s.Tenants.Instance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	m := s.machine()
	sub, a, d, err := m.Begin(ctx, inst.InstanceID, id, storage.OpUpgrade, req.Async())
	if d == lifecycle.Answered {
		return s.answer(ctx, a, err)
	}
	if sub.State != storage.StateActive {
		return nil, apierr.New(codes.FailedPrecondition, apierr.Conflict, "Only an active subscription can be upgraded (it is %s).", sub.State)
	}
	if d == lifecycle.Rerun && strings.EqualFold(offerID, sub.TargetOfferID) {
		// The re-run of a failed upgrade resumes it (the target was checked
		// when it was accepted; an upgrade of unknown outcome is read back).
		a, err := m.Start(ctx, sub, storage.OpUpgrade, false)
		return s.answer(ctx, a, err)
	}
	if transition != "" && !strings.EqualFold(transition, "immediate") {
		return nil, apierr.Invalid("transition %q is not supported; use immediate.", transition)
	}
	pc, err := s.PC(inst)
	if err != nil {
		return nil, err
	}
	t, err := s.Tenants.Tenant(ctx, inst.InstanceID, sub.TenantID)
	if err != nil {
		return nil, err
	}
	from, err := s.Catalog.Find(ctx, pc, inst.InstanceID, t.Country, sub.OfferID)
	if err != nil {
		return nil, mserr.Sync(err, "read the catalog")
	}
	to, err := s.Catalog.Find(ctx, pc, inst.InstanceID, t.Country, offerID)
	if err != nil {
		return nil, mserr.Sync(err, "read the catalog")
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
	// The catalog is read before anything happens at Microsoft: the job
	// needs nothing from it after the side effect.
	sub.TargetOfferID, sub.TargetOfferName, sub.TargetSKUID = to.ID, to.Name, to.SKUID
	a, err = m.Start(ctx, sub, storage.OpUpgrade, true)
	return s.answer(ctx, a, err)
}

// stepUpgrade is the keyed upgrade (legacy) or transition (new commerce).
const stepUpgrade = "upgrade"

// runUpgrade moves the subscription at Microsoft exactly once: the upgrade
// or transition carries its own MS-RequestId, and after an unknown outcome
// the move is read back (the source's transitions, or the source suspended
// beside an active subscription of the target offer) before anything is
// sent again; eligibility is never checked again after a send.
func (s *Service) runUpgrade(ctx context.Context, sub *storage.Subscription) (func(*storage.Subscription), error) {
	pc, err := s.partnerCenter(ctx, sub)
	if err != nil {
		return nil, err
	}
	var newID string
	err = s.machine().Do(ctx, sub, lifecycle.Effect[storage.Subscription]{Step: stepUpgrade,
		ReadBack: func(ctx context.Context, sub *storage.Subscription) (func(*storage.Subscription), error) {
			id, err := s.upgradeReadBack(ctx, pc, sub)
			if err != nil || id == "" {
				return nil, err
			}
			s.Log.InfoContext(ctx, "upgrade found by read-back after an unknown outcome", "subscription_id", sub.ID, "ms_subscription_id", id)
			newID = id
			return func(*storage.Subscription) {}, nil
		},
		Call: func(ctx context.Context, sub *storage.Subscription, requestID string) (func(*storage.Subscription), error) {
			id, err := s.upgradeCall(partnercenter.WithRequestID(ctx, requestID), pc, sub)
			newID = id
			return func(*storage.Subscription) {}, err
		}})
	if err != nil {
		return nil, err
	}
	if newID == "" {
		newID = sub.MSSubscriptionID
	}
	s.Log.InfoContext(ctx, "subscription upgraded", "subscription_id", sub.ID, "from", sub.OfferID, "to", sub.TargetOfferID, "ms_subscription_id", newID)
	return func(x *storage.Subscription) {
		x.MSSubscriptionID, x.OfferID, x.OfferName, x.SKUID = newID, x.TargetOfferID, x.TargetOfferName, x.TargetSKUID
		x.TargetOfferID, x.TargetOfferName, x.TargetSKUID = "", "", ""
	}, nil
}

func (s *Service) upgradeCall(ctx context.Context, pc PartnerCenter, sub *storage.Subscription) (string, error) {
	if sub.Kind == storage.KindNewCommerce {
		res, err := pc.Transition(ctx, sub.MSCustomerID, sub.MSSubscriptionID, partnercenter.Transition{
			FromCatalogItemID: sub.OfferID, FromSubscriptionID: sub.MSSubscriptionID, ToCatalogItemID: sub.TargetOfferID,
			Quantity: sub.Quantity, TermDuration: sub.TermDuration, BillingCycle: sub.BillingCycle,
			TransitionType: "transition_with_license_transfer"})
		if err != nil {
			return "", mserr.Job(err)
		}
		return res.ToSubscriptionID, nil
	}
	targets, err := pc.Upgrades(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
	if err != nil {
		return "", mserr.Job(err)
	}
	var target *partnercenter.UpgradeTarget
	for i := range targets {
		if strings.EqualFold(targets[i].TargetOffer.ID, sub.TargetOfferID) && targets[i].IsEligible {
			target = &targets[i]
		}
	}
	if target == nil {
		return "", jobs.Permanent(apierr.New(codes.FailedPrecondition, apierr.MicrosoftRefused, "Microsoft does not offer this upgrade for the subscription now."))
	}
	target.Quantity = sub.Quantity
	res, err := pc.Upgrade(ctx, sub.MSCustomerID, sub.MSSubscriptionID, *target)
	if err != nil {
		return "", mserr.Job(err)
	}
	if len(res.UpgradeErrors) > 0 {
		e := res.UpgradeErrors[0]
		return "", jobs.Permanent(mserr.Business(e.Code, e.Description, "the upgrade"))
	}
	return res.TargetSubscriptionID, nil
}

// upgradeReadBack finds a move an earlier call made: a transition from the
// source to the target (new commerce), or, for a legacy upgrade, the source
// suspended beside exactly one active subscription of the target offer that
// no other resource of the gateway claims. "" means not moved.
func (s *Service) upgradeReadBack(ctx context.Context, pc PartnerCenter, sub *storage.Subscription) (string, error) {
	if sub.Kind == storage.KindNewCommerce {
		list, err := pc.Transitions(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
		if err != nil {
			return "", mserr.Job(err)
		}
		for _, t := range list {
			if strings.EqualFold(t.ToCatalogItemID, sub.TargetOfferID) && t.ToSubscriptionID != "" && t.Status != "failed" {
				return t.ToSubscriptionID, nil
			}
		}
		return "", nil
	}
	src, err := pc.GetSubscription(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
	if err != nil {
		return "", mserr.Job(err)
	}
	if src.Status == "active" {
		return "", nil
	}
	list, err := pc.Subscriptions(ctx, sub.MSCustomerID)
	if err != nil {
		return "", mserr.Job(err)
	}
	var found []string
	for _, ms := range list {
		// Partner Center names a new subscription after its offer unless told
		// otherwise; only a gateway marker says another resource owns it.
		if strings.EqualFold(ms.OfferID, sub.TargetOfferID) && ms.Status == "active" &&
			(!strings.HasPrefix(ms.FriendlyName, "o365gw-") || ms.FriendlyName == marker(sub)) {
			found = append(found, ms.ID)
		}
	}
	if len(found) != 1 {
		return "", jobs.Permanent(apierr.New(codes.FailedPrecondition, apierr.MicrosoftRefused,
			"The source subscription %s is no longer active, but %d subscriptions of offer %s could be its upgrade: check the customer in Partner Center, then re-run the task.",
			sub.MSSubscriptionID, len(found), sub.TargetOfferID))
	}
	return found[0], nil
}
