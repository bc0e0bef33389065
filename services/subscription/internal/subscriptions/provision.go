package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/tenantclient"

	"github.com/o365gateway/gateway/services/subscription/internal/catalog"
	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Input is a subscription representation as APSC sends it.
type Input struct {
	ID           string
	TenantID     string
	OfferID      string
	Limit        *int64
	TermDuration string
	BillingCycle string
	AutoRenew    *bool
	ParentID     string
	Suspended    *bool
}

// Provision answers POST /subscriptions. A re-send answers from the stored
// state; a sync re-send of a failed purchase re-runs it from the failed step.
func (s *Service) Provision(ctx context.Context, req apsmd.Request, in Input) (*View, error) {
	inst, err := s.Tenants.Instance(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	m := s.machine()
	existing, a, d, err := m.Begin(ctx, inst.InstanceID, in.ID, lifecycle.Provision, req.Async())
	switch d {
	case lifecycle.Answered:
		return s.answer(ctx, a, err)
	case lifecycle.Rerun:
		return s.rerunProvision(ctx, inst, existing, in)
	}
	sub, err := s.prepare(ctx, inst, in)
	if err != nil {
		return nil, err
	}
	m.Prepare(sub, lifecycle.Provision)
	if err := s.Store.Create(ctx, sub, m.Job(sub)); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			a, err := m.Raced(ctx, inst.InstanceID, in.ID)
			return s.answer(ctx, a, err)
		}
		return nil, err
	}
	s.Log.InfoContext(ctx, "subscription accepted", "subscription_id", sub.ID, "offer_id", sub.OfferID, "quantity", sub.Quantity)
	s.notify()
	return s.answer(ctx, m.Accepted(sub), nil)
}

// rerunProvision starts a new attempt of a failed purchase with the re-sent
// data, validated again; what an earlier attempt did at Microsoft is kept
// (its steps resume: done ones are skipped, unknown ones read back).
func (s *Service) rerunProvision(ctx context.Context, inst *tenantclient.Instance, sub *storage.Subscription, in Input) (*View, error) {
	fresh, err := s.prepare(ctx, inst, in)
	if err != nil {
		return nil, err
	}
	if sub.MSSubscriptionID == "" && !sub.Op.Touched() {
		sub.OfferID, sub.OfferName, sub.Kind, sub.SKUID = fresh.OfferID, fresh.OfferName, fresh.Kind, fresh.SKUID
		sub.TermDuration, sub.BillingCycle, sub.ParentID = fresh.TermDuration, fresh.BillingCycle, fresh.ParentID
	}
	sub.Quantity, sub.AutoRenew, sub.State = fresh.Quantity, fresh.AutoRenew, storage.StatePending
	a, err := s.machine().Start(ctx, sub, lifecycle.Provision, true)
	return s.answer(ctx, a, err)
}

// tenantFor resolves the tenant a subscription is for and checks it can buy.
func (s *Service) tenantFor(ctx context.Context, inst *tenantclient.Instance, tenantID string) (*tenantclient.Tenant, error) {
	if tenantID == "" {
		return nil, apierr.Invalid("The tenant link is required.")
	}
	t, err := s.Tenants.Tenant(ctx, inst.InstanceID, tenantID)
	if err != nil {
		return nil, err
	}
	if t.State != "active" || t.MSCustomerID == "" {
		return nil, apierr.New(codes.FailedPrecondition, apierr.TenantNotReady, "Tenant %s is %s; seats can be bought once it is active.", tenantID, t.State)
	}
	return t, nil
}

// prepare validates a purchase completely before anything is bought.
func (s *Service) prepare(ctx context.Context, inst *tenantclient.Instance, in Input) (*storage.Subscription, error) {
	t, err := s.tenantFor(ctx, inst, in.TenantID)
	if err != nil {
		return nil, err
	}
	pc, err := s.PC(inst)
	if err != nil {
		return nil, err
	}
	offerID := strings.TrimSpace(in.OfferID)
	if offerID == "" {
		return nil, apierr.Invalid("offer_id is required.")
	}
	offer, err := s.Catalog.Find(ctx, pc, inst.InstanceID, t.Country, offerID)
	if err != nil {
		return nil, mserr.Sync(err, "read the catalog")
	}
	if offer == nil {
		return nil, apierr.New(codes.InvalidArgument, apierr.OfferNotFound,
			"Offer %s is not sold to customers in %s by this partner; see GET /app/{id}/offers?country=%s.", offerID, t.Country, t.Country)
	}
	if !t.MCAAttested {
		return nil, apierr.New(codes.FailedPrecondition, apierr.CustomerAgreementRequired,
			"The customer has not accepted the Microsoft Customer Agreement: configure the tenant's mca before buying.")
	}
	qty, err := checkQuantity(inst, offer, in.Limit)
	if err != nil {
		return nil, err
	}
	sub := &storage.Subscription{ID: in.ID, InstanceID: inst.InstanceID, TenantID: t.ID, OfferID: offer.ID, OfferName: offer.Name,
		Kind: offer.Kind, SKUID: offer.SKUID, Quantity: qty, AutoRenew: true, ParentID: in.ParentID, MSCustomerID: t.MSCustomerID,
		State: storage.StatePending}
	if in.AutoRenew != nil {
		sub.AutoRenew = *in.AutoRenew
	}
	if err := chooseTerms(sub, offer, in); err != nil {
		return nil, err
	}
	if offer.IsAddOn {
		if err := s.checkParent(ctx, sub, offer, pc, t.Country); err != nil {
			return nil, err
		}
	}
	if inst.TestPartner {
		n, err := s.Store.CountLive(ctx, inst.InstanceID, t.ID)
		if err != nil {
			return nil, err
		}
		if n >= sandboxMaxSubscriptions {
			return nil, apierr.New(codes.FailedPrecondition, apierr.SandboxLimitReached,
				"Integration sandbox customers can have at most %d subscriptions.", sandboxMaxSubscriptions)
		}
	}
	return sub, nil
}

func checkQuantity(inst *tenantclient.Instance, offer *catalog.Offer, limit *int64) (int64, error) {
	if limit == nil {
		return 0, apierr.New(codes.InvalidArgument, apierr.QuantityOutOfRange,
			"licenses.limit is required: Microsoft sells a fixed number of seats, unlimited is not possible.")
	}
	q := *limit
	if q < offer.Min || (offer.Max > 0 && q > offer.Max) {
		return 0, apierr.New(codes.InvalidArgument, apierr.QuantityOutOfRange, "%s is sold in %d to %d seats; %d were asked.", offer.Name, offer.Min, offer.Max, q)
	}
	if inst.TestPartner && q > sandboxMaxLicenses {
		return 0, apierr.New(codes.InvalidArgument, apierr.QuantityOutOfRange,
			"Integration sandbox subscriptions hold at most %d licenses; %d were asked.", sandboxMaxLicenses, q)
	}
	return q, nil
}

func chooseTerms(sub *storage.Subscription, offer *catalog.Offer, in Input) error {
	cycle := strings.ToLower(strings.TrimSpace(in.BillingCycle))
	if cycle == "" {
		cycle = "monthly"
	}
	if !offer.SupportsCycle(cycle) {
		return apierr.Invalid("billing_cycle %s is not offered for %s (offered: %s).", cycle, offer.Name, strings.Join(offer.BillingCycles, ", "))
	}
	sub.BillingCycle = cycle
	if offer.Kind == storage.KindLegacy {
		if in.TermDuration != "" {
			return apierr.Invalid("term_duration applies to new-commerce offers only.")
		}
		return nil
	}
	term := strings.ToUpper(strings.TrimSpace(in.TermDuration))
	if term == "" {
		term = "P1M"
		if !offer.SupportsTerm(term) && len(offer.Terms) > 0 {
			term = offer.Terms[0]
		}
	}
	if !offer.SupportsTerm(term) {
		return apierr.Invalid("term_duration %s is not offered for %s (offered: %s).", term, offer.Name, strings.Join(offer.Terms, ", "))
	}
	if term == "P1M" && cycle == "annual" {
		return apierr.Invalid("A monthly term (P1M) cannot be billed annually.")
	}
	sub.TermDuration = term
	return nil
}

// checkParent requires an active parent subscription of an allowed offer.
func (s *Service) checkParent(ctx context.Context, sub *storage.Subscription, offer *catalog.Offer, pc PartnerCenter, country string) error {
	if sub.ParentID == "" {
		return apierr.New(codes.InvalidArgument, apierr.AddOnParentRequired, "%s is an add-on: link the parent subscription it is bought for.", offer.Name)
	}
	parent, err := s.Store.Get(ctx, sub.InstanceID, sub.ParentID)
	if errors.Is(err, storage.ErrNotFound) {
		return apierr.New(codes.InvalidArgument, apierr.AddOnParentRequired, "The parent subscription %s is not known.", sub.ParentID)
	}
	if err != nil {
		return err
	}
	if parent.TenantID != sub.TenantID || parent.State != storage.StateActive || parent.MSSubscriptionID == "" {
		return apierr.New(codes.InvalidArgument, apierr.AddOnParentRequired, "The parent subscription must be an active subscription of the same tenant.")
	}
	po, err := s.Catalog.Find(ctx, pc, sub.InstanceID, country, parent.OfferID)
	if err != nil {
		return mserr.Sync(err, "read the catalog")
	}
	if po == nil || !offer.AllowsParent(po) {
		return apierr.New(codes.InvalidArgument, apierr.AddOnParentRequired, "%s cannot be added to %s.", offer.Name, parent.OfferName)
	}
	return nil
}

// Keyed steps of a purchase.
const (
	stepCart     = "cart"
	stepPurchase = "purchase"
)

// runProvision buys the seats: a cart then its checkout (new commerce) or an
// order (legacy), each with its own MS-RequestId; after an unknown outcome
// the customer's subscriptions are read back by friendlyName first.
func (s *Service) runProvision(ctx context.Context, sub *storage.Subscription) (func(*storage.Subscription), error) {
	pc, err := s.partnerCenter(ctx, sub)
	if err != nil {
		return nil, err
	}
	m := s.machine()
	if sub.MSSubscriptionID == "" {
		if sub.Kind == storage.KindNewCommerce {
			if err := m.Do(ctx, sub, s.cartEffect(pc)); err != nil {
				return nil, err
			}
		}
		if err := m.Do(ctx, sub, s.purchaseEffect(pc)); err != nil {
			return nil, err
		}
	}
	if sub.MSSubscriptionID == "" {
		// The order is accepted but not provisioned yet: look again later.
		rec, err := s.readBack(ctx, pc, sub)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, jobs.Snooze(5*time.Second, fmt.Errorf("order %s accepted, subscription not provisioned yet", sub.MSOrderID))
		}
		if err := m.Save(ctx, sub, rec); err != nil {
			return nil, err
		}
	}
	ms, err := pc.GetSubscription(ctx, sub.MSCustomerID, sub.MSSubscriptionID)
	if err != nil {
		return nil, mserr.Job(err)
	}
	if ms.AutoRenewEnabled != sub.AutoRenew && ms.Status == "active" {
		ms.AutoRenewEnabled = sub.AutoRenew
		if ms, err = pc.PatchSubscription(ctx, sub.MSCustomerID, *ms, func(x *partnercenter.Subscription) bool {
			return x.AutoRenewEnabled == sub.AutoRenew
		}); err != nil {
			return nil, mserr.Job(err)
		}
	}
	return func(x *storage.Subscription) {
		x.CancellationUntil = ms.CancellationAllowedUntilDate
		x.State = storage.StateActive
		if ms.Status == "pending" {
			x.State = storage.StatePending
		}
	}, nil
}

// parentMS is the Microsoft id of an add-on's parent subscription.
func (s *Service) parentMS(ctx context.Context, sub *storage.Subscription) string {
	if sub.ParentID == "" {
		return ""
	}
	if p, err := s.Store.Get(ctx, sub.InstanceID, sub.ParentID); err == nil {
		return p.MSSubscriptionID
	}
	return ""
}

func (s *Service) cartEffect(pc PartnerCenter) lifecycle.Effect[storage.Subscription] {
	return lifecycle.Effect[storage.Subscription]{Step: stepCart,
		Call: func(ctx context.Context, sub *storage.Subscription, requestID string) (func(*storage.Subscription), error) {
			line := partnercenter.CartLineItem{ID: 0, CatalogItemID: sub.OfferID, FriendlyName: marker(sub), Quantity: sub.Quantity,
				TermDuration: sub.TermDuration, BillingCycle: sub.BillingCycle}
			if p := s.parentMS(ctx, sub); p != "" {
				line.ProvisioningContext = map[string]string{"parentSubscriptionId": p}
			}
			cart, err := pc.CreateCart(partnercenter.WithRequestID(ctx, requestID), sub.MSCustomerID,
				partnercenter.Cart{LineItems: []partnercenter.CartLineItem{line}})
			if err != nil {
				return nil, mserr.Job(err)
			}
			for _, l := range cart.LineItems {
				if l.Error != nil {
					return nil, jobs.Permanent(mserr.Business(int(l.Error.ErrorCode), l.Error.ErrorDescription, "the cart"))
				}
			}
			return func(x *storage.Subscription) { x.CartID = cart.ID }, nil
		}}
}

func (s *Service) purchaseEffect(pc PartnerCenter) lifecycle.Effect[storage.Subscription] {
	return lifecycle.Effect[storage.Subscription]{Step: stepPurchase,
		// A refused checkout leaves its cart behind: the re-run builds a new one.
		Forget: []string{stepCart},
		ReadBack: func(ctx context.Context, sub *storage.Subscription) (func(*storage.Subscription), error) {
			return s.readBack(ctx, pc, sub)
		},
		Call: func(ctx context.Context, sub *storage.Subscription, requestID string) (func(*storage.Subscription), error) {
			reqCtx := partnercenter.WithRequestID(ctx, requestID)
			var orders []partnercenter.Order
			if sub.Kind == storage.KindNewCommerce {
				res, err := pc.Checkout(reqCtx, sub.MSCustomerID, sub.CartID)
				if err != nil {
					return nil, mserr.Job(err)
				}
				if len(res.OrderErrors) > 0 && len(res.Orders) == 0 {
					e := res.OrderErrors[0]
					return nil, jobs.Permanent(mserr.Business(e.Code, e.Description, "the checkout"))
				}
				orders = res.Orders
			} else {
				o, err := pc.CreateOrder(reqCtx, sub.MSCustomerID, partnercenter.Order{BillingCycle: sub.BillingCycle,
					LineItems: []partnercenter.OrderLineItem{{LineItemNumber: 0, OfferID: sub.OfferID, Quantity: sub.Quantity,
						FriendlyName: marker(sub), ParentSubscriptionID: s.parentMS(ctx, sub)}}})
				if err != nil {
					return nil, mserr.Job(err)
				}
				orders = []partnercenter.Order{*o}
			}
			var orderID, subID string
			for _, o := range orders {
				for _, l := range o.LineItems {
					if l.SubscriptionID != "" {
						orderID, subID = o.ID, l.SubscriptionID
					}
				}
				if orderID == "" {
					orderID = o.ID
				}
			}
			s.Log.InfoContext(ctx, "subscription bought", "subscription_id", sub.ID, "ms_subscription_id", subID, "ms_order_id", orderID)
			return func(x *storage.Subscription) { x.MSSubscriptionID, x.MSOrderID = subID, orderID }, nil
		}}
}

// readBack looks for the subscription a previous attempt may have bought
// (by its friendlyName) and returns the change recording it, or nil.
func (s *Service) readBack(ctx context.Context, pc PartnerCenter, sub *storage.Subscription) (func(*storage.Subscription), error) {
	list, err := pc.Subscriptions(ctx, sub.MSCustomerID)
	if err != nil {
		return nil, mserr.Job(err)
	}
	for _, ms := range list {
		if ms.FriendlyName == marker(sub) && ms.Status != "deleted" {
			s.Log.InfoContext(ctx, "subscription found by read-back after an interrupted purchase; adopting it",
				"subscription_id", sub.ID, "ms_subscription_id", ms.ID)
			return func(x *storage.Subscription) {
				x.MSSubscriptionID = ms.ID
				if ms.OrderID != "" {
					x.MSOrderID = ms.OrderID
				}
			}, nil
		}
	}
	return nil, nil
}
