package tenants

import (
	"context"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Configure answers PUT /tenants/{id}: company and address changes are
// written to the customer's billing profile, a new MCA is attested.
func (s *Service) Configure(ctx context.Context, req apsmd.Request, id string, in Input) (*View, error) {
	inst, err := s.Instances.Load(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	m := s.machine()
	t, a, d, err := m.Begin(ctx, inst.InstanceID, id, lifecycle.Configure, req.Async())
	if d == lifecycle.Answered {
		return a, err
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
	if in.MCA != nil {
		if _, ok := parsePlatformPhone(in.MCA.PhoneNumber); ok {
			pc, err := s.PC(inst)
			if err != nil {
				return nil, err
			}
			if err := s.mcaPhone(ctx, pc, t.Address.Country, in.MCA); err != nil {
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
	if in.AccountID != "" {
		t.AccountID = in.AccountID
	}
	if !profileChanged && !newMCA && d != lifecycle.Rerun && t.Op.Settled() {
		if in.AccountID != "" {
			if err := m.Mutate(ctx, t, func(x *storage.Tenant) error { x.AccountID = in.AccountID; return nil }); err != nil {
				return nil, err
			}
		}
		return m.View(t), nil
	}
	t.Company, t.Address = company, address
	if newMCA {
		t.MCA, t.MCAAttested = in.MCA, false
	}
	return m.Start(ctx, t, lifecycle.Configure, profileChanged || newMCA)
}

// runConfigure makes the customer's billing profile equal the tenant's
// company and address (If-Match on a fresh etag; nothing is written when
// they already agree) and attests a new MCA.
func (s *Service) runConfigure(ctx context.Context, t *storage.Tenant) (func(*storage.Tenant), error) {
	_, pc, err := s.instanceOf(ctx, t)
	if err != nil {
		return nil, err
	}
	p, err := pc.GetBillingProfile(ctx, t.MSCustomerID)
	if err != nil {
		return nil, mserr.Job(err)
	}
	want := *p
	want.Email, want.Culture, want.Language, want.CompanyName = t.Company.Email, t.Company.Culture, t.Company.Language, t.Company.Name
	want.DefaultAddress = pcAddress(t.Address)
	if !sameProfile(p, &want) {
		if _, err := pc.UpdateBillingProfile(ctx, t.MSCustomerID, want); err != nil {
			if e, ok := partnercenter.AsError(err); ok && e.StatusCode == http.StatusPreconditionFailed {
				return nil, err // the etag moved: read again on the next attempt
			}
			return nil, mserr.Job(err)
		}
	}
	if err := s.attest(ctx, pc, t); err != nil {
		return nil, err
	}
	return nil, nil
}

func sameProfile(a, b *partnercenter.BillingProfile) bool {
	return a.Email == b.Email && a.Culture == b.Culture && a.Language == b.Language && a.CompanyName == b.CompanyName &&
		a.DefaultAddress == b.DefaultAddress
}
