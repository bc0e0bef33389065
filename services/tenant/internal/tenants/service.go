// Package tenants carries out the tenant operations: validation in the
// synchronous phase, and durable jobs that create, update and delete Partner
// Center customers exactly once.
package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/jobs"
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

// Job kinds.
const (
	KindProvision   = "tenant.provision"
	KindConfigure   = "tenant.configure"
	KindUnprovision = "tenant.unprovision"
)

// Service implements the tenant operations.
type Service struct {
	Store     storage.Store
	Instances *instances.Service
	PC        func(inst *storage.Instance) (PartnerCenter, error)
	Accounts  Accounts
	Sealer    *secret.Sealer
	Endpoints clouds.Endpoints
	// Notify wakes the job runner after an enqueue.
	Notify func()
	Log    *slog.Logger

	rulesMu sync.Mutex
	rules   map[string]cachedRules
}

type cachedRules struct {
	at    time.Time
	rules *partnercenter.CountryRules
}

// View is a tenant as an operation answers it.
type View struct {
	Tenant *storage.Tenant
	// AdminPassword is set the one time the initial password is returned.
	AdminPassword secret.String
	// Accepted is non-empty while a job runs: what it does (APS-Info).
	Accepted string
}

type payload struct {
	InstanceID string `json:"instance_id"`
	TenantID   string `json:"tenant_id"`
}

func newJob(kind string, t *storage.Tenant) *jobs.New {
	p, _ := json.Marshal(payload{InstanceID: t.InstanceID, TenantID: t.ID})
	return &jobs.New{Kind: kind, Key: t.ID, Payload: p}
}

func (s *Service) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}

func (s *Service) load(ctx context.Context, instanceID, id string) (*storage.Tenant, error) {
	if !instances.IsUUID(id) {
		return nil, apierr.Invalid("The tenant id %q is not a UUID.", id)
	}
	t, err := s.Store.GetTenant(ctx, instanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "Tenant %s is not known to this instance.", id)
	}
	return t, err
}

// mutate applies fn to the stored tenant and writes it, re-reading and
// re-applying on a concurrent update.
func (s *Service) mutate(ctx context.Context, t *storage.Tenant, fn func(*storage.Tenant) error) error {
	for range 10 {
		if err := fn(t); err != nil {
			return err
		}
		err := s.Store.UpdateTenant(ctx, t, nil)
		if !errors.Is(err, storage.ErrConflict) {
			return err
		}
		fresh, err := s.Store.GetTenant(ctx, t.InstanceID, t.ID)
		if err != nil {
			return err
		}
		*t = *fresh
	}
	return fmt.Errorf("tenant %s: too many concurrent updates", t.ID)
}

// outcome answers a re-sent operation from the stored state.
func (s *Service) outcome(ctx context.Context, t *storage.Tenant, op string) (*View, error) {
	if t.Operation == op {
		switch t.OperationState {
		case storage.OpRunning:
			return &View{Tenant: t, Accepted: describe(op, t)}, nil
		case storage.OpFailed:
			return nil, apierr.AsJobFailure(apierr.New(codeFor(t.FailureReason), t.FailureReason, "%s", t.FailureMessage))
		}
	}
	return s.view(ctx, t)
}

// view returns the final representation, revealing the initial admin password
// once and then forgetting it.
func (s *Service) view(ctx context.Context, t *storage.Tenant) (*View, error) {
	v := &View{Tenant: t}
	if t.AdminPasswordSealed == "" || t.State != storage.StateActive {
		return v, nil
	}
	pw, err := s.Sealer.Open(t.AdminPasswordSealed)
	if err != nil {
		return nil, err
	}
	if err := s.mutate(ctx, t, func(t *storage.Tenant) error { t.AdminPasswordSealed = ""; return nil }); err != nil {
		return nil, err
	}
	v.AdminPassword = pw
	return v, nil
}

func describe(op string, t *storage.Tenant) string {
	switch op {
	case storage.OpProvision:
		if t.Linked {
			return "Linking Microsoft customer " + t.MSCustomerID
		}
		return "Creating Microsoft customer " + t.Domain
	case storage.OpConfigure:
		return "Updating Microsoft customer " + t.Domain
	default:
		return "Deleting Microsoft customer " + t.Domain
	}
}

func codeFor(reason string) codes.Code {
	switch reason {
	case apierr.DomainAlreadyTaken:
		return codes.AlreadyExists
	case apierr.Throttled:
		return codes.ResourceExhausted
	case apierr.MicrosoftUnavailable:
		return codes.Unavailable
	case apierr.Internal:
		return codes.Internal
	default:
		return codes.FailedPrecondition
	}
}

// Get answers GET /tenants/{id}.
func (s *Service) Get(ctx context.Context, req apsmd.Request, id string) (*View, error) {
	inst, err := s.Instances.Load(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	t, err := s.load(ctx, inst.InstanceID, id)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, t)
}

// failed records the final failure of a job on the tenant.
func (s *Service) failed(ctx context.Context, job *jobs.Job, cause error) error {
	t, err := s.jobTenant(ctx, job)
	if err != nil || t == nil {
		return err
	}
	e := apierr.From(cause)
	if e.Reason == apierr.Internal && !jobs.IsPermanent(cause) {
		e = apierr.New(codes.Unavailable, apierr.MicrosoftUnavailable,
			"The operation did not complete after %d attempts: Microsoft or the gateway kept failing. Re-run the task; nothing was duplicated.", job.Attempt)
	}
	return s.mutate(ctx, t, func(t *storage.Tenant) error {
		t.OperationState = storage.OpFailed
		t.FailureReason, t.FailureMessage = e.Reason, e.Message
		if t.Operation == storage.OpProvision {
			t.State = storage.StateFailed
		}
		if t.Operation == storage.OpUnprovision {
			t.State = storage.StateActive
		}
		return nil
	})
}

func (s *Service) jobTenant(ctx context.Context, job *jobs.Job) (*storage.Tenant, error) {
	var p payload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return nil, jobs.Permanent(fmt.Errorf("bad job payload: %w", err))
	}
	t, err := s.Store.GetTenant(ctx, p.InstanceID, p.TenantID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return t, err
}

// Handlers returns the job handlers to register on the runner.
func (s *Service) Handlers() map[string]jobs.Handler {
	return map[string]jobs.Handler{
		KindProvision:   {Run: s.runProvision, Failed: s.failed},
		KindConfigure:   {Run: s.runConfigure, Failed: s.failed},
		KindUnprovision: {Run: s.runUnprovision, Failed: s.failed},
	}
}

// Resolve returns a tenant for another service of the deployment.
func (s *Service) Resolve(ctx context.Context, instanceID, id string) (*storage.Tenant, error) {
	if _, err := s.Instances.Load(ctx, instanceID); err != nil {
		return nil, err
	}
	return s.load(ctx, instanceID, id)
}
