// Package storage is the subscription service's persistence contract;
// drivers live in sub-packages and pass the conformance suite in storagetest.
package storage

import (
	"context"
	"github.com/o365gateway/gateway/services/shared/budget"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/storeerr"
)

// Sentinel errors every driver returns (shared by every service's storage).
var (
	ErrNotFound      = storeerr.ErrNotFound
	ErrAlreadyExists = storeerr.ErrAlreadyExists
	// ErrConflict: the row changed since it was read (optimistic concurrency).
	ErrConflict = storeerr.ErrConflict
)

// Offer kinds.
const (
	KindLegacy      = "legacy"
	KindNewCommerce = "new_commerce"
)

// Subscription states.
const (
	StatePending   = "pending"
	StateActive    = "active"
	StateSuspended = "suspended"
	StateDeleted   = "deleted"
	StateFailed    = "failed"
)

// OpUpgrade is the custom operation that moves a subscription to another
// offer (the other operations are lifecycle's).
const OpUpgrade = "upgrade"

// Subscription is one Partner Center subscription and the recovery points of
// the work on it.
type Subscription struct {
	ID           string // aps.id
	InstanceID   string
	TenantID     string
	OfferID      string
	OfferName    string
	Kind         string
	SKUID        string // license SKU GUID, for seat usage
	Quantity     int64  // seats wanted
	TermDuration string
	BillingCycle string
	AutoRenew    bool
	Suspended    bool
	ParentID     string // aps.id of the parent subscription (add-ons)

	MSCustomerID     string
	MSSubscriptionID string
	MSOrderID        string
	CartID           string

	State string
	// Op is the lifecycle state. Its keyed steps are the purchase ("cart",
	// then "purchase": the order or checkout, read back by friendlyName
	// after an unknown outcome) and the "upgrade".
	Op lifecycle.Op

	// The upgrade target, resolved from the catalog before the upgrade runs.
	TargetOfferID   string
	TargetOfferName string
	TargetSKUID     string

	CancellationUntil *time.Time
	Version           int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Store keeps subscriptions. Writes may carry a job that commits with them.
type Store interface {
	// Create must return ErrAlreadyExists if the id is taken.
	Create(ctx context.Context, s *Subscription, job *jobs.New) error
	// Get must return ErrNotFound when the id is unknown in that instance.
	Get(ctx context.Context, instanceID, id string) (*Subscription, error)
	// Update writes s if its Version is current (else ErrConflict, or
	// ErrNotFound), bumps s.Version and commits job with it.
	Update(ctx context.Context, s *Subscription, job *jobs.New) error
	// Delete must return ErrNotFound when the id is unknown.
	Delete(ctx context.Context, instanceID, id string) error
	// ListByTenant returns a tenant's subscriptions.
	ListByTenant(ctx context.Context, instanceID, tenantID string) ([]*Subscription, error)
	// CountLive counts a tenant's subscriptions that are not deleted or failed.
	CountLive(ctx context.Context, instanceID, tenantID string) (int, error)
	// Jobs is the durable queue in the same database.
	Jobs() jobs.Store
	// Budget keeps Microsoft's rate budgets, shared by every replica; the
	// job runner prunes the idle ones.
	Budget() budget.PrunableStore
	Close() error
}
