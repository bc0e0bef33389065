// Package subscriptions carries out the subscription operations: validation
// against the live catalog in the synchronous phase, and durable jobs that
// buy, change and end Partner Center subscriptions exactly once.
package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/shared/directory"
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
	SubscribedSKUs(ctx context.Context, customerID string) ([]partnercenter.SubscribedSKU, error)
}

// Directory reads instances and tenants (owned by the tenant service).
type Directory interface {
	Instance(ctx context.Context, instanceID string) (*directory.Instance, error)
	Tenant(ctx context.Context, instanceID, tenantID string) (*directory.Tenant, error)
}

// Job kinds.
const (
	KindProvision   = "subscription.provision"
	KindConfigure   = "subscription.configure"
	KindUnprovision = "subscription.unprovision"
	KindUpgrade     = "subscription.upgrade"
)

// Sandbox limits of Partner Center's integration sandbox.
const (
	sandboxMaxSubscriptions = 5
	sandboxMaxLicenses      = 25
)

// Service implements the subscription operations.
type Service struct {
	Store     storage.Store
	Directory Directory
	PC        func(inst *directory.Instance) (PartnerCenter, error)
	Catalog   *catalog.Catalog
	Notify    func()
	Log       *slog.Logger
	UsageTTL  time.Duration

	usageMu sync.Mutex
	usage   map[string]usageEntry
}

type usageEntry struct {
	at   time.Time
	skus []partnercenter.SubscribedSKU
}

// View is a subscription as an operation answers it.
type View struct {
	Sub *storage.Subscription
	// Usage is the number of seats assigned, when known.
	Usage *int64
	// Accepted is non-empty while a job runs (APS-Info).
	Accepted string
}

type payload struct {
	InstanceID string `json:"instance_id"`
	ID         string `json:"id"`
}

func newJob(kind string, s *storage.Subscription) *jobs.New {
	p, _ := json.Marshal(payload{InstanceID: s.InstanceID, ID: s.ID})
	return &jobs.New{Kind: kind, Key: s.ID, Payload: p}
}

// marker is the friendlyName the gateway gives a subscription at Microsoft:
// the natural key by which a purchase is read back after an ambiguous failure.
func marker(s *storage.Subscription) string { return "o365gw-" + s.ID }

func (s *Service) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}

func (s *Service) load(ctx context.Context, instanceID, id string) (*storage.Subscription, error) {
	if !apsmd.IsID(id) {
		return nil, apierr.Invalid("The subscription id %q is not a UUID.", id)
	}
	sub, err := s.Store.Get(ctx, instanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "Subscription %s is not known to this instance.", id)
	}
	return sub, err
}

func (s *Service) mutate(ctx context.Context, sub *storage.Subscription, fn func(*storage.Subscription)) error {
	for range 10 {
		fn(sub)
		err := s.Store.Update(ctx, sub, nil)
		if !errors.Is(err, storage.ErrConflict) {
			return err
		}
		fresh, err := s.Store.Get(ctx, sub.InstanceID, sub.ID)
		if err != nil {
			return err
		}
		*sub = *fresh
	}
	return fmt.Errorf("subscription %s: too many concurrent updates", sub.ID)
}

func describe(op string, sub *storage.Subscription) string {
	switch op {
	case storage.OpProvision:
		return fmt.Sprintf("Buying %d seats of %s at Microsoft", sub.Quantity, sub.OfferID)
	case storage.OpConfigure:
		return "Changing subscription " + sub.MSSubscriptionID + " at Microsoft"
	case storage.OpUpgrade:
		return "Moving subscription " + sub.MSSubscriptionID + " to " + sub.TargetOfferID
	default:
		return "Ending subscription " + sub.MSSubscriptionID + " at Microsoft"
	}
}

// outcome answers a re-sent operation from the stored state.
func (s *Service) outcome(ctx context.Context, sub *storage.Subscription, op string) (*View, error) {
	if sub.Operation == op {
		switch sub.OperationState {
		case storage.OpRunning:
			return &View{Sub: sub, Accepted: describe(op, sub)}, nil
		case storage.OpFailed:
			return nil, apierr.AsJobFailure(apierr.New(codes.FailedPrecondition, sub.FailureReason, "%s", sub.FailureMessage))
		}
	}
	return s.view(ctx, sub), nil
}

func (s *Service) jobSub(ctx context.Context, job *jobs.Job) (*storage.Subscription, error) {
	var p payload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return nil, jobs.Permanent(fmt.Errorf("bad job payload: %w", err))
	}
	sub, err := s.Store.Get(ctx, p.InstanceID, p.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return sub, err
}

// jobContext loads what a job needs and whether it is still current.
func (s *Service) jobContext(ctx context.Context, job *jobs.Job, op string) (*storage.Subscription, PartnerCenter, error) {
	sub, err := s.jobSub(ctx, job)
	if err != nil || sub == nil || sub.Operation != op || sub.OperationState != storage.OpRunning {
		return nil, nil, err
	}
	inst, err := s.Directory.Instance(ctx, sub.InstanceID)
	if err != nil {
		if apierr.From(err).Code == codes.NotFound {
			return nil, nil, jobs.Permanent(err)
		}
		return nil, nil, err
	}
	pc, err := s.PC(inst)
	if err != nil {
		return nil, nil, jobs.Permanent(err)
	}
	return sub, pc, nil
}

func (s *Service) failed(ctx context.Context, job *jobs.Job, cause error) error {
	sub, err := s.jobSub(ctx, job)
	if err != nil || sub == nil {
		return err
	}
	e := apierr.From(cause)
	if e.Reason == apierr.Internal && !jobs.IsPermanent(cause) {
		e = apierr.New(codes.Unavailable, apierr.MicrosoftUnavailable,
			"The operation did not complete after %d attempts: Microsoft or the gateway kept failing. Re-run the task; nothing was duplicated.", job.Attempt)
	}
	return s.mutate(ctx, sub, func(sub *storage.Subscription) {
		sub.OperationState, sub.FailureReason, sub.FailureMessage = storage.OpFailed, e.Reason, e.Message
		if sub.Operation == storage.OpProvision {
			sub.State = storage.StateFailed
		}
	})
}

// Handlers returns the job handlers to register on the runner.
func (s *Service) Handlers() map[string]jobs.Handler {
	return map[string]jobs.Handler{
		KindProvision:   {Run: s.runProvision, Failed: s.failed},
		KindConfigure:   {Run: s.runConfigure, Failed: s.failed},
		KindUnprovision: {Run: s.runUnprovision, Failed: s.failed},
		KindUpgrade:     {Run: s.runUpgrade, Failed: s.failed},
	}
}

// view adds the seat usage (licenses assigned) from the customer's
// subscribed SKUs; a failure to read it leaves usage out.
func (s *Service) view(ctx context.Context, sub *storage.Subscription) *View {
	v := &View{Sub: sub}
	if sub.MSCustomerID == "" || sub.MSSubscriptionID == "" || sub.State == storage.StateDeleted {
		return v
	}
	skus, err := s.subscribedSKUs(ctx, sub)
	if err != nil {
		s.Log.WarnContext(ctx, "seat usage unavailable", "error", err.Error())
		return v
	}
	for _, k := range skus {
		if (sub.SKUID != "" && strings.EqualFold(k.ProductSKU.ID, sub.SKUID)) ||
			(sub.SKUID == "" && strings.EqualFold(k.ProductSKU.Name, offerName(sub))) {
			n := k.ConsumedUnits
			v.Usage = &n
			break
		}
	}
	if v.Usage == nil {
		zero := int64(0)
		v.Usage = &zero
	}
	return v
}

// offerName is recorded at purchase in SKUID's absence (new commerce).
func offerName(sub *storage.Subscription) string { return sub.OfferName }

func (s *Service) subscribedSKUs(ctx context.Context, sub *storage.Subscription) ([]partnercenter.SubscribedSKU, error) {
	s.usageMu.Lock()
	if e, ok := s.usage[sub.MSCustomerID]; ok && time.Since(e.at) < s.UsageTTL {
		s.usageMu.Unlock()
		return e.skus, nil
	}
	s.usageMu.Unlock()
	inst, err := s.Directory.Instance(ctx, sub.InstanceID)
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
	if _, err := s.Directory.Instance(ctx, instanceID); err != nil {
		return nil, err
	}
	sub, err := s.load(ctx, instanceID, id)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, sub), nil
}

// Resolve tells which license SKU a subscription grants: the SKU the
// catalog named, else the subscribed SKU whose product name is the offer's.
func (s *Service) Resolve(ctx context.Context, instanceID, id string) (*storage.Subscription, string, error) {
	if _, err := s.Directory.Instance(ctx, instanceID); err != nil {
		return nil, "", err
	}
	sub, err := s.load(ctx, instanceID, id)
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
