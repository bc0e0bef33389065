// Package storage is the user service's persistence contract; drivers live
// in sub-packages and pass the conformance suite in storagetest.
package storage

import (
	"context"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/storeerr"
)

// Sentinel errors every driver returns (shared by every service's storage).
var (
	ErrNotFound      = storeerr.ErrNotFound
	ErrAlreadyExists = storeerr.ErrAlreadyExists
	// ErrConflict: the row changed since it was read (optimistic concurrency).
	ErrConflict = storeerr.ErrConflict
)

// User states.
const (
	StateCreating = "creating"
	StateActive   = "active"
	StateDisabled = "disabled"
	StateFailed   = "failed"
	StateDeleting = "deleting"
)

// Operations and their states.
const (
	OpProvision   = "provision"
	OpConfigure   = "configure"
	OpUnprovision = "unprovision"

	OpRunning = "running"
	OpDone    = "done"
	OpFailed  = "failed"
)

// LicenseRef is a license as the platform named it: by subscription or SKU.
type LicenseRef struct {
	SubscriptionID string `json:"subscription_id,omitempty"`
	SKUID          string `json:"sku_id"`
}

// User is one Microsoft 365 user and the recovery points of the work on it.
type User struct {
	ID             string
	InstanceID     string
	TenantID       string
	CustomerID     string // the customer's tenant id at Microsoft
	Login          string
	DisplayName    string
	FirstName      string
	LastName       string
	UsageLocation  string
	AccountEnabled bool
	Licenses       []LicenseRef
	// PasswordSealed is the initial password until the user exists.
	PasswordSealed string
	MSUserID       string
	// Assigned are the SKUs the user holds at Microsoft, as last written.
	Assigned []string

	State          string
	Operation      string
	OperationState string
	FailureReason  string
	FailureMessage string
	// CreateSent is set before the create call: afterwards the job looks the
	// user up by user principal name (the natural key) before creating.
	CreateSent bool
	// Imported users were created outside the platform and found by a synchronization.
	Imported bool
	Version  int64
}

// Store keeps users. Writes may carry a job that commits with them.
type Store interface {
	// Create must return ErrAlreadyExists if the id is taken.
	Create(ctx context.Context, u *User, job *jobs.New) error
	// Get must return ErrNotFound when the id is unknown in that instance.
	Get(ctx context.Context, instanceID, id string) (*User, error)
	// Update writes u if its Version is current (else ErrConflict, or
	// ErrNotFound), bumps u.Version and commits job with it.
	Update(ctx context.Context, u *User, job *jobs.New) error
	// Delete must return ErrNotFound when the id is unknown.
	Delete(ctx context.Context, instanceID, id string) error
	// ListByTenant returns a tenant's users.
	ListByTenant(ctx context.Context, instanceID, tenantID string) ([]*User, error)
	// Jobs is the durable queue in the same database.
	Jobs() jobs.Store
	Close() error
}
