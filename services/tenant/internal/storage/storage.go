// Package storage is the tenant service's persistence contract. Drivers (the
// embedded SQLite one now, PostgreSQL later) live in sub-packages and all pass
// the conformance suite in storagetest. Nothing outside the drivers knows SQL.
package storage

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/drift"
	"github.com/o365gateway/gateway/services/shared/gdap"

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

// Instance is an APS application instance. Secrets are stored sealed.
type Instance struct {
	InstanceID           string // the APS-Instance-ID header
	AppID                string // aps.id of the app resource (differs from InstanceID)
	ControllerURI        string
	ControllerCertPEM    string
	InstanceCertPEM      string
	InstanceKeySealed    string
	Cloud                string
	PartnerTenantID      string
	ClientID             string
	ClientSecretSealed   string
	RefreshTokenSealed   string
	ResellerMode         string
	IndirectResellerMPN  string
	SalesCountries       []string
	TestPartner          bool
	DefaultUsageLocation string
	PackageVersion       string
	// Settings of package 1.1 and later.
	Settings Settings
	// Health is what the periodic credential check found last (written by
	// SetInstanceHealth only, so a configuration never overwrites it).
	Health    Health
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AppUser tells whether the instance works with app+user credentials (a
// refresh token and no client secret): its calls in customers' directories
// then need an approved GDAP relationship.
func (in *Instance) AppUser() bool { return in.ClientSecretSealed == "" && in.RefreshTokenSealed != "" }

// Settings are the instance settings added by package 1.1.
type Settings struct {
	// RegisterAdopted: what synchronize and link adopt is registered in
	// the platform (nil = true, the default).
	RegisterAdopted *bool `json:"register_adopted,omitempty"`
	// GDAPRoles are the Entra role template ids requested for new
	// customers (empty = gdap.DefaultRoles).
	GDAPRoles []string `json:"gdap_roles,omitempty"`
}

// Registers tells whether adopted resources are registered in the platform.
func (s Settings) Registers() bool { return s.RegisterAdopted == nil || *s.RegisterAdopted }

// Health is an instance's credential and relationship health.
type Health struct {
	CheckedAt     time.Time    `json:"checked_at,omitzero"`
	Credentials   CredHealth   `json:"credentials"`
	PartnerCenter APIHealth    `json:"partner_center"`
	Graph         APIHealth    `json:"graph"`
	TenantsAtRisk []TenantRisk `json:"tenants_at_risk,omitempty"`
	// LastRedeemed is when the refresh token was last redeemed by the check.
	LastRedeemed time.Time `json:"last_redeemed,omitzero"`
}

// CredHealth is the state of the instance's credential.
type CredHealth struct {
	State     string    `json:"state,omitempty"` // ok, expiring, expired, invalid
	Kind      string    `json:"kind,omitempty"`  // client_secret, refresh_token
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Message   string    `json:"message,omitempty"`
}

// APIHealth is whether one Microsoft API accepts the instance.
type APIHealth struct {
	State   string `json:"state,omitempty"`
	Message string `json:"message,omitempty"`
}

// TenantRisk is a tenant whose access is at risk.
type TenantRisk struct {
	TenantID  string    `json:"tenant"`
	Problem   string    `json:"problem"` // ConsentMissing, GdapMissing, GdapExpiring, CustomerGone
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Message   string    `json:"message,omitempty"`
}

// Sealed columns of an instance: the last part of their places.
const (
	SealedInstanceKey  = "instance_key"
	SealedClientSecret = "client_secret"
	SealedRefreshToken = "refresh_token"
)

// SealedAt is the place of one of the instance's sealed columns: each value
// is sealed for it (secret.Place) and opens in no other row or column.
func (in *Instance) SealedAt(column string) secret.Place {
	return secret.At("tenant", "instances", in.InstanceID, column)
}

// Sealed lists the instance's sealed values with their places.
func (in *Instance) Sealed() []secret.Field {
	return []secret.Field{
		{Value: &in.InstanceKeySealed, At: in.SealedAt(SealedInstanceKey)},
		{Value: &in.ClientSecretSealed, At: in.SealedAt(SealedClientSecret)},
		{Value: &in.RefreshTokenSealed, At: in.SealedAt(SealedRefreshToken)},
	}
}

// Company profile of a tenant.
type Company struct {
	Name, Email, Culture, Language, RegistrationNumber string
}

// Address of a tenant.
type Address struct {
	FirstName, LastName, AddressLine1, AddressLine2, City, State, PostalCode, Country, PhoneNumber string
}

// MCA attestation data.
type MCA struct {
	FirstName, LastName, Email, PhoneNumber, DateAgreed string
}

// Tenant states.
const (
	StateCreating = "creating"
	StateActive   = "active"
	StateFailed   = "failed"
	StateDeleting = "deleting"
)

// Tenant is one customer's Microsoft tenant and the recovery points of the
// work on it.
type Tenant struct {
	ID               string // aps.id
	InstanceID       string
	InitialSubdomain string
	InitialDomain    string // InitialSubdomain plus the cloud's suffix
	MSCustomerID     string
	Linked           bool // an existing customer was linked, not created
	Company          Company
	Address          Address
	MCA              *MCA
	AccountID        string
	AdminLogin       string
	State            string
	// Op is the lifecycle state: the operation, its attempt, the keyed steps
	// ("create": the customer, read back by domain after an unknown outcome;
	// "mca": the attestation) and the sealed first admin password, which
	// only the answer completing the provisioning reveals.
	Op          lifecycle.Op
	MCAAttested bool
	LastSync    *time.Time
	// SyncLeaseUntil: a synchronization holds the tenant until then.
	SyncLeaseUntil time.Time
	Seats          int64
	// GDAP is the partner's delegated admin relationship with the customer.
	GDAP gdap.Relationship
	// Drift is the latest drift report and the last repair.
	Drift DriftState
	// SyncRun is the last synchronization the platform requested.
	SyncRun   SyncRun
	Version   int64 // optimistic concurrency; drivers bump it on update
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SyncRun is a synchronization the platform requested, run as a job: its
// progress while it runs, its report once done (for the re-sends).
type SyncRun struct {
	State       string    `json:"state,omitempty"` // running, done or failed
	Progress    string    `json:"progress,omitempty"`
	RequestedAt time.Time `json:"requested_at,omitzero"`
	// LeaseUntil: a run that shows no progress until then is taken as dead.
	LeaseUntil time.Time   `json:"lease_until,omitzero"`
	Report     *SyncReport `json:"report,omitempty"`
	Failure    string      `json:"failure,omitempty"`
	// FailureReason is the APS reason of the failure.
	FailureReason string `json:"failure_reason,omitempty"`
	// UsersSeen is how many users the tenant had at Microsoft last time.
	UsersSeen int `json:"users_seen,omitempty"`
}

// SyncReport is what a synchronization found.
type SyncReport struct {
	At      time.Time    `json:"at"`
	Changes []SyncChange `json:"changes"`
}

// SyncChange is one difference a synchronization found.
type SyncChange struct {
	Kind   string `json:"kind"`
	Change string `json:"change"`
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// DriftState is a tenant's latest drift report and its last repair.
type DriftState struct {
	Report *DriftReport `json:"report,omitempty"`
	// CheckingUntil: a requested check runs (as a job) until then at most.
	CheckingUntil time.Time `json:"checking_until,omitzero"`
	// CheckID names the requested check that runs or ran last (its job
	// carries it): the outcome of an older check's job, still retrying when
	// a new one was requested, is not taken for the new one's.
	CheckID string `json:"check_id,omitempty"`
	// CheckFailure: the last requested check failed for good (nil once
	// another is requested, or one succeeds).
	CheckFailure *JobFailure `json:"check_failure,omitempty"`
	Repair       *Repair     `json:"repair,omitempty"`
}

// JobFailure is why a requested drift check or repair failed for good;
// the platform's re-sends of the request are answered 500 with it.
type JobFailure struct {
	Code    int       `json:"code"` // gRPC code
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// DriftReport is one check's result.
type DriftReport struct {
	CheckedAt time.Time    `json:"checked_at"`
	Items     []drift.Item `json:"items"`
}

// Repair is a repair of drift items, run as a job.
type Repair struct {
	State       string       `json:"state"` // running, done or failed
	RequestedAt time.Time    `json:"requested_at"`
	Items       []drift.Item `json:"items"` // selected; with outcomes once done
	DoneAt      time.Time    `json:"done_at,omitzero"`
	// Failure: why the repair failed for good (State failed).
	Failure *JobFailure `json:"failure,omitempty"`
}

// SecretAt is the place of the tenant's sealed first admin password
// (Op.Secret).
func (t *Tenant) SecretAt() secret.Place {
	return secret.At("tenant", "tenants", t.InstanceID, t.ID, "op_secret")
}

// Sealed lists the tenant's sealed values with their places.
func (t *Tenant) Sealed() []secret.Field {
	return []secret.Field{{Value: &t.Op.Secret, At: t.SecretAt()}}
}

// InstanceStore keeps application instances.
type InstanceStore interface {
	// CreateInstance must return ErrAlreadyExists if InstanceID is taken.
	CreateInstance(ctx context.Context, in *Instance) error
	// GetInstance must return ErrNotFound for an unknown id.
	GetInstance(ctx context.Context, instanceID string) (*Instance, error)
	// UpdateInstance must return ErrNotFound for an unknown id.
	UpdateInstance(ctx context.Context, in *Instance) error
	// DeleteInstance must return ErrNotFound for an unknown id.
	DeleteInstance(ctx context.Context, instanceID string) error
	// LockInstance takes an exclusive lock named after the instance, held
	// by one process of all the service's replicas at a time (while the
	// instance's refresh token is redeemed and the rotated one stored).
	// Waiting ends with ctx.
	LockInstance(ctx context.Context, instanceID string) (unlock func(), err error)
	// SetInstanceHealth writes the health of an instance, and nothing else
	// (ErrNotFound for an unknown id).
	SetInstanceHealth(ctx context.Context, instanceID string, h Health) error
	// ListInstances returns up to limit instances whose id sorts after
	// after, in id order (the re-sealing pass walks them in batches).
	ListInstances(ctx context.Context, after string, limit int) ([]*Instance, error)
}

// TenantStore keeps tenants. Writes may carry a job that commits with them.
type TenantStore interface {
	// CreateTenant must return ErrAlreadyExists if the id is taken (in any
	// instance), and commit job (if not nil) atomically with the row.
	CreateTenant(ctx context.Context, t *Tenant, job *jobs.New) error
	// GetTenant must return ErrNotFound when the id is unknown in that instance.
	GetTenant(ctx context.Context, instanceID, id string) (*Tenant, error)
	// UpdateTenant writes t if its Version is still current (else ErrConflict,
	// or ErrNotFound if gone), bumps t.Version, and commits job with it.
	UpdateTenant(ctx context.Context, t *Tenant, job *jobs.New) error
	// DeleteTenant must return ErrNotFound when the id is unknown.
	DeleteTenant(ctx context.Context, instanceID, id string) error
	// ListTenants returns up to limit tenants of an instance whose id sorts
	// after after, in id order.
	ListTenants(ctx context.Context, instanceID, after string, limit int) ([]*Tenant, error)
	// TenantByCustomer returns the instance's tenant of a Microsoft customer
	// (ErrNotFound when none manages it).
	TenantByCustomer(ctx context.Context, instanceID, msCustomerID string) (*Tenant, error)
	// CountTenants counts an instance's tenants.
	CountTenants(ctx context.Context, instanceID string) (int, error)
	// ListSealedTenants returns up to limit tenants of every instance whose
	// id sorts after after, in id order, among those that may hold a
	// sealed value (one beginning with one of secret.Prefixes): it may
	// return others too, never fewer (the re-sealing pass).
	ListSealedTenants(ctx context.Context, after string, limit int) ([]*Tenant, error)
}

// Domain states.
const (
	DomainUnverified = "unverified"
	DomainVerified   = "verified"
)

// VerificationRecord is a DNS record proving a domain's ownership.
type VerificationRecord struct {
	Type  string `json:"type"`
	Label string `json:"label"`
	Text  string `json:"text"`
	TTL   int    `json:"ttl"`
}

// Domain is a custom domain of a tenant.
type Domain struct {
	ID         string
	InstanceID string
	TenantID   string
	Name       string
	State      string
	Records    []VerificationRecord
	Version    int64
}

// ImportedDomainID is the resource id of a domain adopted from Microsoft:
// derived from the domain, so that it is never imported twice.
func ImportedDomainID(instanceID, tenantID, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("o365gw:domain:"+instanceID+"/"+tenantID+"/"+name)).String()
}

// DomainStore keeps custom domains.
type DomainStore interface {
	// CreateDomain must return ErrAlreadyExists if the id is taken.
	CreateDomain(ctx context.Context, d *Domain) error
	// GetDomain must return ErrNotFound when the id is unknown in that instance.
	GetDomain(ctx context.Context, instanceID, id string) (*Domain, error)
	// UpdateDomain writes d if its Version is current (else ErrConflict or ErrNotFound).
	UpdateDomain(ctx context.Context, d *Domain) error
	// DeleteDomain must return ErrNotFound when the id is unknown.
	DeleteDomain(ctx context.Context, instanceID, id string) error
	// ListDomains returns a tenant's domains.
	ListDomains(ctx context.Context, instanceID, tenantID string) ([]*Domain, error)
}

// Store is everything the tenant service persists.
type Store interface {
	InstanceStore
	TenantStore
	DomainStore
	// Jobs is the durable queue in the same database.
	Jobs() jobs.Store
	// EnqueueJobs adds jobs to that queue in one transaction.
	EnqueueJobs(ctx context.Context, js []jobs.New) error
	// Budget keeps Microsoft's rate budgets, shared by every replica; the
	// job runner prunes the idle ones.
	Budget() budget.PrunableStore
	// Ping tells whether the database answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// EachActiveTenant calls fn for every active tenant of an instance that
// has its Microsoft customer, page by page, until fn answers false or the
// tenants are exhausted (the periodic checks walk them this way).
func EachActiveTenant(ctx context.Context, s TenantStore, instanceID string, fn func(*Tenant) bool) error {
	for after := ""; ; {
		page, err := s.ListTenants(ctx, instanceID, after, 100)
		if err != nil || len(page) == 0 {
			return err
		}
		after = page[len(page)-1].ID
		for _, t := range page {
			if t.State == StateActive && t.MSCustomerID != "" && !fn(t) {
				return nil
			}
		}
	}
}
