// Package tenants carries out the tenant operations: validation in the
// synchronous phase, and durable jobs that create, update and delete Partner
// Center customers exactly once.
package tenants

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// PartnerCenter is what the tenant flows need from Partner Center.
type PartnerCenter interface {
	DomainExists(ctx context.Context, domain string) (bool, error)
	ValidateAddress(ctx context.Context, a partnercenter.Address) (*partnercenter.AddressValidation, error)
	CountryRules(ctx context.Context, iso2 string) (*partnercenter.CountryRules, error)
	CreateCustomer(ctx context.Context, c partnercenter.Customer) (*partnercenter.Customer, error)
	GetCustomer(ctx context.Context, id string) (*partnercenter.Customer, error)
	FindCustomerByDomain(ctx context.Context, domain string) (*partnercenter.Customer, error)
	DeleteCustomer(ctx context.Context, id string) error
	GetBillingProfile(ctx context.Context, customerID string) (*partnercenter.BillingProfile, error)
	UpdateBillingProfile(ctx context.Context, customerID string, p partnercenter.BillingProfile) (*partnercenter.BillingProfile, error)
	MCATemplateID(ctx context.Context) (string, error)
	AttestAgreement(ctx context.Context, customerID string, a partnercenter.Agreement) error
	GrantApplicationConsent(ctx context.Context, customerID, applicationID string, scopes []string) error
}

// GraphScopes are the Graph permissions the partner's application is
// consented to in each customer tenant (users, licenses, domains).
var GraphScopes = []string{"Directory.ReadWrite.All", "Domain.ReadWrite.All", "User.ReadWrite.All"}

// Accounts reads a platform account through the APS controller.
type Accounts interface {
	Read(ctx context.Context, inst *storage.Instance, req apsmd.Request, accountID string) (storage.Company, storage.Address, error)
}

// Service implements the tenant operations.
type Service struct {
	Store     storage.Store
	Instances *instances.Service
	PC        func(inst *storage.Instance) (PartnerCenter, error)
	// Relationships is Graph in the partner's tenant (GDAP); nil requests
	// no relationships.
	Relationships func(inst *storage.Instance) (Relationships, error)
	// Customers lists the partner's customers (the import); nil: none.
	Customers func(inst *storage.Instance) (CustomerLister, error)
	Accounts  Accounts
	Sealer    *secret.Sealer
	Endpoints clouds.Endpoints
	// Notify wakes the job runner after an enqueue.
	Notify func()
	Log    *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Finished is told how each asynchronous operation ended (the audit
	// log); nil tells no one.
	Finished func(ctx context.Context, f lifecycle.Finish)

	once sync.Once
	lc   *lifecycle.Machine[storage.Tenant]

	rulesMu sync.Mutex
	rules   map[string]cachedRules
}

type cachedRules struct {
	at    time.Time
	rules *partnercenter.CountryRules
}

// View is a tenant as an operation answers it; its Secret is the sealed
// first admin password, set only in the answer completing the provisioning.
type View = lifecycle.Answer[storage.Tenant]

// tenantStore adapts the tenant store to the lifecycle's.
type tenantStore struct{ storage.TenantStore }

func (s tenantStore) Get(ctx context.Context, instanceID, id string) (*storage.Tenant, error) {
	return s.GetTenant(ctx, instanceID, id)
}

func (s tenantStore) Update(ctx context.Context, t *storage.Tenant, job *jobs.New) error {
	return s.UpdateTenant(ctx, t, job)
}

func (s tenantStore) Delete(ctx context.Context, instanceID, id string) error {
	return s.DeleteTenant(ctx, instanceID, id)
}

// machine is the tenant's lifecycle.
func (s *Service) machine() *lifecycle.Machine[storage.Tenant] {
	s.once.Do(func() {
		s.lc = &lifecycle.Machine[storage.Tenant]{Name: "tenant", Store: tenantStore{s.Store}, Notify: s.Notify, Log: s.Log, Now: s.Now,
			Finished: s.Finished,
			Op:       func(t *storage.Tenant) *lifecycle.Op { return &t.Op },
			Ref:      func(t *storage.Tenant) (string, string) { return t.InstanceID, t.ID },
			Describe: describe,
			OnFail: func(op string, t *storage.Tenant) {
				switch op {
				case lifecycle.Provision:
					t.State = storage.StateFailed
				case lifecycle.Unprovision:
					t.State = storage.StateActive
				}
			},
			OnRetry: func(op string, t *storage.Tenant) {
				switch op {
				case lifecycle.Provision:
					t.State = storage.StateCreating
				case lifecycle.Unprovision:
					t.State = storage.StateDeleting
				}
			}}
	})
	return s.lc
}

func (s *Service) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}

func describe(op string, t *storage.Tenant) string {
	switch op {
	case lifecycle.Provision:
		if t.Linked {
			return "Linking Microsoft customer " + t.MSCustomerID
		}
		return "Creating Microsoft customer " + t.InitialDomain
	case lifecycle.Configure:
		return "Updating Microsoft customer " + t.InitialDomain
	default:
		return "Deleting Microsoft customer " + t.InitialDomain
	}
}

// Get answers GET /tenants/{id}.
//
// A tenant found under the instance proves the instance exists (an
// instance cannot be removed while it has tenants), so the instance is read
// only when the tenant is not found (or its id is not one), to tell an
// unknown instance from an unknown tenant: a read costs one query.
func (s *Service) Get(ctx context.Context, req apsmd.Request, id string) (*View, error) {
	t, err := s.machine().Load(ctx, req.InstanceID, id)
	if err != nil {
		// An unknown instance is the answer whatever the tenant id is, as
		// when the instance was read first.
		if c := apierr.From(err).Code; c == codes.NotFound || c == codes.InvalidArgument {
			if _, ierr := s.Instances.Load(ctx, req.InstanceID); ierr != nil {
				return nil, ierr
			}
		}
		return nil, err
	}
	return s.machine().View(t), nil // a read never reveals nor uses up the admin password
}

// instanceOf returns a job's instance and Partner Center client. A
// transient failure to read the instance is retried, not final.
func (s *Service) instanceOf(ctx context.Context, t *storage.Tenant) (*storage.Instance, PartnerCenter, error) {
	inst, err := s.Instances.Load(ctx, t.InstanceID)
	if err != nil {
		// An unknown instance is the answer whatever the tenant id is, as
		// when the instance was read first.
		if c := apierr.From(err).Code; c == codes.NotFound || c == codes.InvalidArgument {
			return nil, nil, jobs.Permanent(err)
		}
		return nil, nil, err
	}
	pc, err := s.PC(inst)
	if err != nil {
		return nil, nil, jobs.Permanent(err)
	}
	return inst, pc, nil
}

// Handlers returns the job handlers to register on the runner.
func (s *Service) Handlers() map[string]jobs.Handler {
	return s.machine().Handlers(map[string]lifecycle.Work[storage.Tenant]{
		lifecycle.Provision:   s.runProvision,
		lifecycle.Configure:   s.runConfigure,
		lifecycle.Unprovision: s.runUnprovision,
	})
}

// Resolve returns a tenant for another service of the deployment.
func (s *Service) Resolve(ctx context.Context, instanceID, id string) (*storage.Tenant, error) {
	if _, err := s.Instances.Load(ctx, instanceID); err != nil {
		return nil, err
	}
	return s.machine().Load(ctx, instanceID, id)
}

// Retry starts a new attempt of a tenant's failed operation (an operator's
// re-run, lifecycle.Machine.Retry).
func (s *Service) Retry(ctx context.Context, instanceID, id string) error {
	_, err := s.machine().Retry(ctx, instanceID, id)
	return err
}

// Cancel ends a tenant's running operation before Microsoft is called
// (lifecycle.Machine.Cancel).
func (s *Service) Cancel(ctx context.Context, instanceID, id, by string) error {
	return s.machine().Cancel(ctx, instanceID, id, by)
}
