package tenants

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/pcerr"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Configure answers PUT /tenants/{id}: company and address changes are
// written to the customer's billing profile, a new MCA is attested.
func (s *Service) Configure(ctx context.Context, req apsmd.Request, id string, in Input) (*View, error) {
	inst, err := s.Instances.Load(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	t, err := s.load(ctx, inst.InstanceID, id)
	if err != nil {
		return nil, err
	}
	if req.Async() || t.OperationState == storage.OpRunning && t.Operation == storage.OpConfigure {
		return s.outcome(ctx, t, storage.OpConfigure)
	}
	if t.OperationState == storage.OpRunning {
		return nil, apierr.New(codes.Aborted, apierr.Conflict, "The tenant is busy (%s in progress); try again when it has finished.", t.Operation)
	}
	if t.State != storage.StateActive {
		return nil, apierr.New(codes.FailedPrecondition, apierr.Conflict, "The tenant is %s; only an active tenant can be configured.", t.State)
	}
	if in.InitialSubdomain != "" && in.InitialSubdomain != t.InitialSubdomain {
		return nil, apierr.Invalid("initial_subdomain cannot change after the tenant was created.")
	}
	if in.MSCustomerID != "" && in.MSCustomerID != t.MSCustomerID {
		return nil, apierr.Invalid("ms_customer_id cannot change after the tenant was created.")
	}
	company, address := t.Company, t.Address
	if in.Company != nil {
		company = *in.Company
	}
	if in.Address != nil {
		address = *in.Address
	}
	profileChanged := company != t.Company || address != t.Address
	if profileChanged {
		pc, err := s.PC(inst)
		if err != nil {
			return nil, err
		}
		if err := normalise(&company, &address); err != nil {
			return nil, err
		}
		if address.Country != t.Address.Country {
			return nil, apierr.Invalid("address.country cannot change: Microsoft keeps a customer in its country.")
		}
		rules, err := s.countryRules(ctx, pc, address.Country)
		if err != nil {
			return nil, err
		}
		if err := applyRules(rules, &company, &address); err != nil {
			return nil, err
		}
		profileChanged = company != t.Company || address != t.Address
		if profileChanged && address != t.Address {
			if err := validateAddress(ctx, pc, address); err != nil {
				return nil, err
			}
		}
	}
	newMCA := in.MCA != nil && (t.MCA == nil || *in.MCA != *t.MCA)
	if newMCA {
		if err := checkMCA(in.MCA); err != nil {
			return nil, err
		}
	}
	if !profileChanged && !newMCA {
		if in.AccountID != "" {
			t.AccountID = in.AccountID
			if err := s.Store.UpdateTenant(ctx, t, nil); err != nil {
				return nil, err
			}
		}
		return s.view(ctx, t)
	}
	t.Company, t.Address = company, address
	if profileChanged {
		t.ProfileRevision++
	}
	if newMCA {
		t.MCA, t.MCAAttested = in.MCA, false
	}
	t.Operation, t.OperationState, t.FailureReason, t.FailureMessage = storage.OpConfigure, storage.OpRunning, "", ""
	if err := s.Store.UpdateTenant(ctx, t, newJob(KindConfigure, t)); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, apierr.New(codes.Aborted, apierr.Conflict, "The tenant changed meanwhile; try again.")
		}
		return nil, err
	}
	s.notify()
	return &View{Tenant: t, Accepted: describe(storage.OpConfigure, t)}, nil
}

// runConfigure writes the billing profile (If-Match on a fresh etag) and the
// MCA attestation.
func (s *Service) runConfigure(ctx context.Context, job *jobs.Job) error {
	t, err := s.jobTenant(ctx, job)
	if err != nil || t == nil {
		return err
	}
	if t.Operation != storage.OpConfigure || t.OperationState != storage.OpRunning {
		return nil
	}
	inst, err := s.Instances.Load(ctx, t.InstanceID)
	if err != nil {
		return jobs.Permanent(err)
	}
	pc, err := s.PC(inst)
	if err != nil {
		return jobs.Permanent(err)
	}
	if t.ProfileSynced < t.ProfileRevision {
		p, err := pc.GetBillingProfile(ctx, t.MSCustomerID)
		if err != nil {
			return pcerr.Job(err)
		}
		p.Email, p.Culture, p.Language, p.CompanyName = t.Company.Email, t.Company.Culture, t.Company.Language, t.Company.Name
		p.DefaultAddress = pcAddress(t.Address)
		if _, err := pc.UpdateBillingProfile(ctx, t.MSCustomerID, *p); err != nil {
			if e, ok := partnercenter.AsError(err); ok && e.StatusCode == http.StatusPreconditionFailed {
				return err // the etag moved: read again on the next attempt
			}
			return pcerr.Job(err)
		}
		rev := t.ProfileRevision
		if err := s.mutate(ctx, t, func(t *storage.Tenant) error { t.ProfileSynced = rev; return nil }); err != nil {
			return err
		}
	}
	if err := s.attest(ctx, pc, t); err != nil {
		return err
	}
	return s.mutate(ctx, t, func(t *storage.Tenant) error { t.OperationState = storage.OpDone; return nil })
}
