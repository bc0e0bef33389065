// Package subscriptions carries out the subscription operations: validation
// against the live catalog in the synchronous phase, and durable jobs that
// buy, change and end Partner Center subscriptions exactly once.
package subscriptions

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/tenantclient"

	"github.com/o365gateway/gateway/services/subscription/internal/catalog"
	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// PartnerCenter is what the subscription flows need from Partner Center.
type PartnerCenter interface {
	catalog.Source
	CreateOrder(ctx context.Context, customerID string, o partnercenter.Order) (*partnercenter.Order, error)
	CreateCart(ctx context.Context, customerID string, c partnercenter.Cart) (*partnercenter.Cart, error)
	Checkout(ctx context.Context, customerID, cartID string) (*partnercenter.CheckoutResult, error)
	Subscriptions(ctx context.Context, customerID string) ([]partnercenter.Subscription, error)
	GetSubscription(ctx context.Context, customerID, subID string) (*partnercenter.Subscription, error)
	PatchSubscription(ctx context.Context, customerID string, s partnercenter.Subscription, done func(*partnercenter.Subscription) bool) (*partnercenter.Subscription, error)
	Upgrades(ctx context.Context, customerID, subID string) ([]partnercenter.UpgradeTarget, error)
	Upgrade(ctx context.Context, customerID, subID string, t partnercenter.UpgradeTarget) (*partnercenter.UpgradeResult, error)
	Transition(ctx context.Context, customerID, subID string, t partnercenter.Transition) (*partnercenter.Transition, error)
	Transitions(ctx context.Context, customerID, subID string) ([]partnercenter.Transition, error)
	SubscribedSKUs(ctx context.Context, customerID string) ([]partnercenter.SubscribedSKU, error)
}

// Tenants reads instances and tenants from the tenant service, which owns
// them (*tenantclient.Client).
type Tenants interface {
	Instance(ctx context.Context, instanceID string) (*tenantclient.Instance, error)
	Tenant(ctx context.Context, instanceID, tenantID string) (*tenantclient.Tenant, error)
}

// Sandbox limits of Partner Center's integration sandbox.
const (
	sandboxMaxSubscriptions = 5
	sandboxMaxLicenses      = 25
)

// Service implements the subscription operations.
type Service struct {
	Store    storage.Store
	Tenants  Tenants
	PC       func(inst *tenantclient.Instance) (PartnerCenter, error)
	Catalog  *catalog.Catalog
	Notify   func()
	Log      *slog.Logger
	UsageTTL time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Finished is told how each asynchronous operation ended (the audit
	// log); nil tells no one.
	Finished func(ctx context.Context, f lifecycle.Finish)

	once sync.Once
	lc   *lifecycle.Machine[storage.Subscription]

	usageMu sync.Mutex
	usage   map[string]usageEntry
}

type usageEntry struct {
	at   time.Time
	skus []partnercenter.SubscribedSKU
}

// View is a subscription as an operation answers it.
type View struct {
	*lifecycle.Answer[storage.Subscription]
	// Usage is the number of seats assigned, when known.
	Usage *int64
}

// machine is the subscription's lifecycle.
func (s *Service) machine() *lifecycle.Machine[storage.Subscription] {
	s.once.Do(func() {
		s.lc = &lifecycle.Machine[storage.Subscription]{Name: "subscription", Store: s.Store, Notify: s.Notify, Log: s.Log, Now: s.Now,
			Finished: s.Finished,
			Op:       func(x *storage.Subscription) *lifecycle.Op { return &x.Op },
			Ref:      func(x *storage.Subscription) (string, string) { return x.InstanceID, x.ID },
			Describe: describe,
			OnFail: func(op string, x *storage.Subscription) {
				if op == lifecycle.Provision {
					x.State = storage.StateFailed
				}
			},
			OnRetry: func(op string, x *storage.Subscription) {
				if op == lifecycle.Provision {
					x.State = storage.StatePending
				}
			}}
	})
	return s.lc
}

// marker is the friendlyName the gateway gives a subscription at Microsoft:
// the natural key by which a purchase is read back after an ambiguous failure.
func marker(s *storage.Subscription) string { return "o365gw-" + s.ID }

func describe(op string, sub *storage.Subscription) string {
	switch op {
	case lifecycle.Provision:
		return fmt.Sprintf("Buying %d seats of %s at Microsoft", sub.Quantity, sub.OfferID)
	case lifecycle.Configure:
		return "Changing subscription " + sub.MSSubscriptionID + " at Microsoft"
	case storage.OpUpgrade:
		return "Moving subscription " + sub.MSSubscriptionID + " to " + sub.TargetOfferID
	default:
		return "Ending subscription " + sub.MSSubscriptionID + " at Microsoft"
	}
}

// answer completes a lifecycle answer with the seat usage of a finished one.
func (s *Service) answer(ctx context.Context, a *lifecycle.Answer[storage.Subscription], err error) (*View, error) {
	if err != nil || a == nil {
		return nil, err
	}
	v := &View{Answer: a}
	if !a.Running() {
		v.Usage = s.usageOf(ctx, a.V)
	}
	return v, nil
}

// partnerCenter returns the Partner Center client of a job's subscription.
func (s *Service) partnerCenter(ctx context.Context, sub *storage.Subscription) (PartnerCenter, error) {
	inst, err := s.Tenants.Instance(ctx, sub.InstanceID)
	if err != nil {
		if apierr.From(err).Code == codes.NotFound {
			return nil, jobs.Permanent(err)
		}
		return nil, err // the tenant service is unreachable for a moment: retried
	}
	pc, err := s.PC(inst)
	if err != nil {
		return nil, jobs.Permanent(err)
	}
	return pc, nil
}

// Handlers returns the job handlers to register on the runner.
func (s *Service) Handlers() map[string]jobs.Handler {
	return s.machine().Handlers(map[string]lifecycle.Work[storage.Subscription]{
		lifecycle.Provision:   s.runProvision,
		lifecycle.Configure:   s.runConfigure,
		lifecycle.Unprovision: s.runUnprovision,
		storage.OpUpgrade:     s.runUpgrade,
	})
}

func (s *Service) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}

// usageOf is the seat usage (licenses assigned) from the customer's
// subscribed SKUs; a failure to read it leaves usage out. It is read from
// Partner Center every time, never from the cache: the user service
// assigns and removes licenses without telling this service, so a cached
// count could show a change made a moment ago only after UsageTTL (the
// demo showed 0 seats used right after assigning 25).
func (s *Service) usageOf(ctx context.Context, sub *storage.Subscription) *int64 {
	if sub.MSCustomerID == "" || sub.MSSubscriptionID == "" || sub.State == storage.StateDeleted {
		return nil
	}
	skus, err := s.readSubscribedSKUs(ctx, sub)
	if err != nil {
		s.Log.WarnContext(ctx, "seat usage unavailable", "error", err.Error())
		return nil
	}
	n := int64(0)
	for _, k := range skus {
		if (sub.SKUID != "" && strings.EqualFold(k.ProductSKU.ID, sub.SKUID)) ||
			(sub.SKUID == "" && strings.EqualFold(k.ProductSKU.Name, offerName(sub))) {
			n = k.ConsumedUnits
			break
		}
	}
	return &n
}

// offerName is recorded at purchase in SKUID's absence (new commerce).
func offerName(sub *storage.Subscription) string { return sub.OfferName }

// subscribedSKUs returns the customer's subscribed SKUs, reused for
// UsageTTL: only for what license assignments do not change (which SKU a
// subscription grants), never for seat usage.
func (s *Service) subscribedSKUs(ctx context.Context, sub *storage.Subscription) ([]partnercenter.SubscribedSKU, error) {
	s.usageMu.Lock()
	if e, ok := s.usage[sub.MSCustomerID]; ok && time.Since(e.at) < s.UsageTTL {
		s.usageMu.Unlock()
		return e.skus, nil
	}
	s.usageMu.Unlock()
	return s.readSubscribedSKUs(ctx, sub)
}

// readSubscribedSKUs reads the customer's subscribed SKUs from Partner
// Center and keeps them for subscribedSKUs.
func (s *Service) readSubscribedSKUs(ctx context.Context, sub *storage.Subscription) ([]partnercenter.SubscribedSKU, error) {
	inst, err := s.Tenants.Instance(ctx, sub.InstanceID)
	if err != nil {
		return nil, err
	}
	pc, err := s.PC(inst)
	if err != nil {
		return nil, err
	}
	skus, err := pc.SubscribedSKUs(ctx, sub.MSCustomerID)
	if err != nil {
		return nil, err
	}
	s.usageMu.Lock()
	if s.usage == nil {
		s.usage = map[string]usageEntry{}
	}
	s.usage[sub.MSCustomerID] = usageEntry{at: time.Now(), skus: skus}
	s.usageMu.Unlock()
	return skus, nil
}

// Get answers GET /subscriptions/{id}.
func (s *Service) Get(ctx context.Context, instanceID, id string) (*View, error) {
	if _, err := s.Tenants.Instance(ctx, instanceID); err != nil {
		return nil, err
	}
	sub, err := s.machine().Load(ctx, instanceID, id)
	if err != nil {
		return nil, err
	}
	return s.answer(ctx, s.machine().View(sub), nil)
}

// Resolve tells which license SKU a subscription grants: the SKU the
// catalog named, else the subscribed SKU whose product name is the offer's.
func (s *Service) Resolve(ctx context.Context, instanceID, id string) (*storage.Subscription, string, error) {
	if _, err := s.Tenants.Instance(ctx, instanceID); err != nil {
		return nil, "", err
	}
	sub, err := s.machine().Load(ctx, instanceID, id)
	if err != nil {
		return nil, "", err
	}
	if sub.SKUID != "" || sub.MSSubscriptionID == "" {
		return sub, sub.SKUID, nil
	}
	skus, err := s.subscribedSKUs(ctx, sub)
	if err != nil {
		return nil, "", err
	}
	for _, k := range skus {
		if strings.EqualFold(k.ProductSKU.Name, sub.OfferName) {
			return sub, k.ProductSKU.ID, nil
		}
	}
	return sub, "", apierr.New(codes.FailedPrecondition, apierr.NotFound, "Microsoft lists no license SKU for subscription %s yet.", id)
}

// Retry starts a new attempt of a subscription's failed operation (an
// operator's re-run, lifecycle.Machine.Retry).
func (s *Service) Retry(ctx context.Context, instanceID, id string) error {
	_, err := s.machine().Retry(ctx, instanceID, id)
	return err
}

// Cancel ends a subscription's running operation before Microsoft is
// called (lifecycle.Machine.Cancel).
func (s *Service) Cancel(ctx context.Context, instanceID, id, by string) error {
	return s.machine().Cancel(ctx, instanceID, id, by)
}
