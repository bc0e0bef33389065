// Package storage is the user service's persistence contract; drivers live
// in sub-packages and pass the conformance suite in storagetest.
package storage

import (
	"context"
	"github.com/o365gateway/gateway/services/shared/budget"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/secret"
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
	// PasswordSealed is the initial password until the user exists (the
	// generated one is then kept in Op.Secret for its one reveal).
	PasswordSealed string
	// PasswordGenerated: the gateway made the password up, so the answer
	// completing the provisioning returns it (initial_password).
	PasswordGenerated bool
	MSUserID          string
	// Assigned are the SKUs the user holds at Microsoft, as last written.
	Assigned []string

	State string
	// Op is the lifecycle state: the current operation, its attempt, and
	// the keyed steps (the create step is read back by user principal name,
	// the natural key, after an unknown outcome).
	Op lifecycle.Op
	// Imported users were created outside the platform and found by a
	// synchronization; no platform resource owns them until a provision with
	// the same login binds to one.
	Imported bool
	Version  int64
}

// Sealed values of a user: the last part of their places.
const (
	SealedPassword = "password"  // PasswordSealed
	SealedOpSecret = "op_secret" // Op.Secret
)

// SealedAt is the place of one of the user's sealed values: each is sealed
// for it (secret.Place) and opens for no other user or field.
func (u *User) SealedAt(field string) secret.Place {
	return secret.At("user", "users", u.InstanceID, u.ID, field)
}

// Sealed lists the user's sealed values with their places.
func (u *User) Sealed() []secret.Field {
	return []secret.Field{
		{Value: &u.PasswordSealed, At: u.SealedAt(SealedPassword)},
		{Value: &u.Op.Secret, At: u.SealedAt(SealedOpSecret)},
	}
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
	// ListSealed returns up to limit users of every instance whose id sorts
	// after after, in id order, among those that may hold a sealed value
	// (one beginning with one of secret.Prefixes): it may return others
	// too, never fewer (the re-sealing pass).
	ListSealed(ctx context.Context, after string, limit int) ([]*User, error)
	// Jobs is the durable queue in the same database.
	Jobs() jobs.Store
	// Budget keeps Microsoft's rate budgets, shared by every replica; the
	// job runner prunes the idle ones.
	Budget() budget.PrunableStore
	Close() error
}
