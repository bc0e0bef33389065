package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/syncer"
)

// Input is a tenant representation as APSC sends it.
type Input struct {
	ID               string
	InitialSubdomain string
	MSCustomerID     string
	Company          *storage.Company
	Address          *storage.Address
	MCA              *storage.MCA
	AccountID        string
}

// Provision answers POST /tenants: the first (sync) call validates and
// enqueues the job; re-sends answer from the stored state, and a sync
// re-send of a failed provisioning re-runs it from the failed step.
func (s *Service) Provision(ctx context.Context, req apsmd.Request, in Input) (*View, error) {
	inst, err := s.Instances.Load(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	m := s.machine()
	existing, a, d, err := m.Begin(ctx, inst.InstanceID, in.ID, lifecycle.Provision, req.Async())
	switch d {
	case lifecycle.Answered:
		return a, err
	case lifecycle.Rerun:
		return s.rerunProvision(ctx, req, inst, existing, in)
	}
	t, err := s.prepare(ctx, req, inst, in)
	if err != nil {
		return nil, err
	}
	m.Prepare(t, lifecycle.Provision)
	if err := s.Store.CreateTenant(ctx, t, m.Job(t)); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return m.Raced(ctx, inst.InstanceID, in.ID)
		}
		return nil, err
	}
	s.Log.InfoContext(ctx, "tenant accepted", "tenant_id", t.ID, "domain", t.InitialDomain, "linked", t.Linked)
	s.notify()
	return m.Accepted(t), nil
}

// rerunProvision restarts a failed provisioning when the operator re-runs the
// task: the data is validated again and a new attempt resumes from the failed
// step (a customer create of unknown outcome keeps its MS-RequestId and is
// read back by domain first; a refused one gets a fresh id).
func (s *Service) rerunProvision(ctx context.Context, req apsmd.Request, inst *storage.Instance, t *storage.Tenant, in Input) (*View, error) {
	fresh, err := s.prepare(ctx, req, inst, in)
	if err != nil && !(t.Op.Touched() && apierr.From(err).Reason == apierr.DomainAlreadyTaken) {
		return nil, err // the domain may be taken by this tenant's own earlier create
	}
	if fresh != nil {
		t.Company, t.Address, t.MCA, t.AccountID = fresh.Company, fresh.Address, fresh.MCA, fresh.AccountID
	}
	t.State = storage.StateCreating
	return s.machine().Start(ctx, t, lifecycle.Provision, true)
}

// prepare validates a new tenant completely before anything is created.
func (s *Service) prepare(ctx context.Context, req apsmd.Request, inst *storage.Instance, in Input) (*storage.Tenant, error) {
	pc, err := s.PC(inst)
	if err != nil {
		return nil, err
	}
	t := &storage.Tenant{ID: in.ID, InstanceID: inst.InstanceID, AccountID: in.AccountID, MCA: in.MCA, State: storage.StateCreating}
	if in.MCA != nil {
		if err := checkMCA(in.MCA); err != nil {
			return nil, err
		}
	}
	if in.MSCustomerID != "" {
		return s.prepareLink(ctx, pc, t, in)
	}
	sub, err := CheckSubdomain(in.InitialSubdomain)
	if err != nil {
		return nil, err
	}
	t.InitialSubdomain, t.InitialDomain = sub, s.Endpoints.InitialDomain(sub)
	company, address, err := s.customerData(ctx, inst, req, in)
	if err != nil {
		return nil, err
	}
	if err := normalise(&company, &address); err != nil {
		return nil, err
	}
	if err := checkCountry(inst, address.Country); err != nil {
		return nil, err
	}
	rules, err := s.countryRules(ctx, pc, address.Country)
	if err != nil {
		return nil, err
	}
	if err := applyRules(rules, &company, &address); err != nil {
		return nil, err
	}
	if err := s.mcaPhone(ctx, pc, address.Country, t.MCA); err != nil {
		return nil, err
	}
	if err := validateAddress(ctx, pc, address); err != nil {
		return nil, err
	}
	taken, err := pc.DomainExists(ctx, t.InitialDomain)
	if err != nil {
		return nil, mserr.Sync(err, "check the domain")
	}
	if taken {
		return nil, apierr.New(codes.AlreadyExists, apierr.DomainAlreadyTaken,
			"The domain %s is already used by another Microsoft tenant; choose another initial_subdomain.", t.InitialDomain)
	}
	t.Company, t.Address = company, address
	return t, nil
}

// customerData returns the company and address of the request, reading what
// is missing from the linked platform account.
func (s *Service) customerData(ctx context.Context, inst *storage.Instance, req apsmd.Request, in Input) (storage.Company, storage.Address, error) {
	var c storage.Company
	var a storage.Address
	if in.Company != nil {
		c = *in.Company
	}
	if in.Address != nil {
		a = *in.Address
	}
	if in.Company != nil && in.Address != nil && c.Name != "" && a.AddressLine1 != "" {
		return c, a, nil
	}
	if in.AccountID == "" {
		return c, a, apierr.Invalid("company and address are required when no account link is given.")
	}
	if s.Accounts == nil {
		return c, a, apierr.Invalid("company and address are required.")
	}
	ac, aa, err := s.Accounts.Read(ctx, inst, req, in.AccountID)
	if err != nil {
		return c, a, err
	}
	fillCompany(&c, ac)
	fillAddress(&a, aa)
	return c, a, nil
}

func fillCompany(dst *storage.Company, src storage.Company) {
	for _, p := range [][2]*string{{&dst.Name, &src.Name}, {&dst.Email, &src.Email}, {&dst.Culture, &src.Culture},
		{&dst.Language, &src.Language}, {&dst.RegistrationNumber, &src.RegistrationNumber}} {
		if *p[0] == "" {
			*p[0] = *p[1]
		}
	}
}

func fillAddress(dst *storage.Address, src storage.Address) {
	for _, p := range [][2]*string{{&dst.FirstName, &src.FirstName}, {&dst.LastName, &src.LastName},
		{&dst.AddressLine1, &src.AddressLine1}, {&dst.AddressLine2, &src.AddressLine2}, {&dst.City, &src.City},
		{&dst.State, &src.State}, {&dst.PostalCode, &src.PostalCode}, {&dst.Country, &src.Country},
		{&dst.PhoneNumber, &src.PhoneNumber}} {
		if *p[0] == "" {
			*p[0] = *p[1]
		}
	}
}

func checkMCA(m *storage.MCA) error {
	if m.FirstName == "" || m.LastName == "" || m.Email == "" {
		return apierr.Invalid("mca needs first_name, last_name and email of the person who accepted the agreement.")
	}
	if m.DateAgreed == "" {
		m.DateAgreed = time.Now().UTC().Format(time.RFC3339)
	}
	if _, err := time.Parse(time.RFC3339, m.DateAgreed); err != nil {
		if _, err2 := time.Parse("2006-01-02", m.DateAgreed); err2 != nil {
			return apierr.Invalid("mca.date_agreed %q must be an RFC 3339 date-time or a date.", m.DateAgreed)
		}
	}
	return nil
}

// prepareLink validates linking an existing Microsoft customer.
func (s *Service) prepareLink(ctx context.Context, pc PartnerCenter, t *storage.Tenant, in Input) (*storage.Tenant, error) {
	if !instances.IsUUID(in.MSCustomerID) {
		return nil, apierr.Invalid("ms_customer_id %q is not a customer id (GUID).", in.MSCustomerID)
	}
	c, err := pc.GetCustomer(ctx, in.MSCustomerID)
	if err != nil {
		if e, ok := partnercenter.AsError(err); ok && e.StatusCode == http.StatusNotFound {
			return nil, apierr.New(codes.FailedPrecondition, apierr.CustomerNotFound,
				"Microsoft customer %s is not a customer of this partner.", in.MSCustomerID)
		}
		return nil, mserr.Sync(err, "read the customer")
	}
	if other, err := s.Store.TenantByCustomer(ctx, t.InstanceID, strings.ToLower(c.ID)); err == nil && other.ID != t.ID {
		return nil, apierr.New(codes.AlreadyExists, apierr.Conflict,
			"Microsoft customer %s is already managed by tenant %s of this instance.", c.ID, other.ID)
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	t.Linked = true
	t.MSCustomerID = strings.ToLower(c.ID)
	t.InitialDomain = strings.ToLower(c.CompanyProfile.Domain)
	t.InitialSubdomain, _, _ = strings.Cut(t.InitialDomain, ".")
	t.Company = storage.Company{Name: c.CompanyProfile.CompanyName, Email: c.BillingProfile.Email,
		Culture: c.BillingProfile.Culture, Language: c.BillingProfile.Language}
	da := c.BillingProfile.DefaultAddress
	t.Address = storage.Address{FirstName: da.FirstName, LastName: da.LastName, AddressLine1: da.AddressLine1,
		AddressLine2: da.AddressLine2, City: da.City, State: da.State, PostalCode: da.PostalCode, Country: da.Country,
		PhoneNumber: da.PhoneNumber}
	if err := s.mcaPhone(ctx, pc, t.Address.Country, t.MCA); err != nil {
		return nil, err
	}
	return t, nil // the job consents the application and attests the MCA
}

// Keyed steps of a tenant.
const (
	stepCreate = "create"
	stepMCA    = "mca"
)

// runProvision is the provisioning job: the customer (created, or read back
// by domain after an unknown outcome), the application's consent to Graph,
// the MCA attestation.
func (s *Service) runProvision(ctx context.Context, t *storage.Tenant) (func(*storage.Tenant), error) {
	inst, pc, err := s.instanceOf(ctx, t)
	if err != nil {
		return nil, err
	}
	if t.MSCustomerID == "" {
		if err := s.machine().Do(ctx, t, s.createEffect(pc, inst)); err != nil {
			return nil, err
		}
	}
	// Consent the partner's application to Graph in the customer's tenant
	// (idempotent: an existing consent answers 409, taken as success). An
	// app+user instance needs an approved relationship for that: it
	// consents once the customer approved (TrackGDAP).
	if !inst.AppUser() {
		if err := pc.GrantApplicationConsent(ctx, t.MSCustomerID, inst.ClientID, GraphScopes); err != nil {
			return nil, mserr.Job(err)
		}
		if err := s.machine().Save(ctx, t, func(t *storage.Tenant) { t.GDAP.Consented = true }); err != nil {
			return nil, err
		}
	}
	if err := s.attest(ctx, pc, t); err != nil {
		return nil, err
	}
	if err := s.provisionGDAP(ctx, inst, t); err != nil {
		return nil, err
	}
	if t.Linked {
		// What the customer already has is adopted once the tenant is
		// active: the job shares the tenant's key, so it runs after this one.
		b, _ := json.Marshal(syncer.AdoptPayload{InstanceID: t.InstanceID, TenantID: t.ID})
		if err := s.Store.EnqueueJobs(ctx, []jobs.New{{Kind: syncer.AdoptKind, Key: t.ID, Group: t.InstanceID, Payload: b, MaxAttempts: 20}}); err != nil {
			return nil, err
		}
	}
	return func(t *storage.Tenant) { t.State = storage.StateActive }, nil
}

// createEffect creates the customer exactly once; the domain is its natural
// key. A 409 is read back: the customer found is this tenant's (a create
// that Microsoft did although its answer was lost); a read-back that fails
// leaves the outcome unknown (retried), and only a customer that cannot be
// found makes the domain taken for good.
func (s *Service) createEffect(pc PartnerCenter, inst *storage.Instance) lifecycle.Effect[storage.Tenant] {
	adopt := func(c *partnercenter.Customer) func(*storage.Tenant) {
		return func(t *storage.Tenant) {
			t.MSCustomerID = strings.ToLower(c.ID)
			if t.AdminLogin == "" {
				t.AdminLogin = "admin@" + t.InitialDomain
			}
		}
	}
	return lifecycle.Effect[storage.Tenant]{Step: stepCreate,
		ReadBack: func(ctx context.Context, t *storage.Tenant) (func(*storage.Tenant), error) {
			found, err := pc.FindCustomerByDomain(ctx, t.InitialDomain)
			if err != nil || found == nil {
				return nil, mserr.Job(err)
			}
			s.Log.InfoContext(ctx, "customer found by domain after an interrupted create; adopting it", "tenant_id", t.ID, "ms_customer_id", found.ID)
			return adopt(found), nil
		},
		Call: func(ctx context.Context, t *storage.Tenant, requestID string) (func(*storage.Tenant), error) {
			c, err := pc.CreateCustomer(partnercenter.WithRequestID(ctx, requestID), customerBody(inst, t))
			if e, ok := partnercenter.AsError(err); ok && e.StatusCode == http.StatusConflict {
				found, ferr := pc.FindCustomerByDomain(ctx, t.InitialDomain)
				switch {
				case ferr != nil:
					return nil, nonPermanent(mserr.Job(ferr))
				case found != nil:
					return adopt(found), nil
				}
				return nil, jobs.Permanent(apierr.New(codes.AlreadyExists, apierr.DomainAlreadyTaken,
					"The domain %s was taken by another Microsoft tenant; choose another initial_subdomain.", t.InitialDomain))
			}
			if err != nil {
				return nil, mserr.Job(err)
			}
			var sealed string
			if c.UserCredentials != nil && c.UserCredentials.Password != "" {
				if sealed, err = s.Sealer.Seal(secret.New(c.UserCredentials.Password), t.SecretAt()); err != nil {
					return nil, err
				}
			}
			s.Log.InfoContext(ctx, "customer created", "tenant_id", t.ID, "ms_customer_id", c.ID)
			return func(t *storage.Tenant) {
				t.MSCustomerID = strings.ToLower(c.ID)
				t.AdminLogin = "admin@" + t.InitialDomain
				if c.UserCredentials != nil && c.UserCredentials.UserName != "" {
					t.AdminLogin = c.UserCredentials.UserName
				}
				if sealed != "" {
					s.machine().SetSecret(t, sealed) // admin_password, revealed once
				}
			}, nil
		}}
}

// nonPermanent keeps a read-back failure retryable: whether the customer
// exists is still unknown, so the step must not count as refused.
func nonPermanent(err error) error {
	if jobs.IsPermanent(err) {
		return errors.Unwrap(err)
	}
	return err
}

func customerBody(inst *storage.Instance, t *storage.Tenant) partnercenter.Customer {
	c := partnercenter.Customer{
		CompanyProfile: partnercenter.CompanyProfile{Domain: t.InitialDomain, OrganizationRegistrationNumber: t.Company.RegistrationNumber},
		BillingProfile: partnercenter.BillingProfile{Email: t.Company.Email, Culture: t.Company.Culture, Language: t.Company.Language,
			CompanyName: t.Company.Name, DefaultAddress: pcAddress(t.Address)},
	}
	if inst.ResellerMode == "indirect" {
		c.AssociatedPartnerID = inst.IndirectResellerMPN
	}
	return c
}

// attest records the MCA with its own MS-RequestId (a new MCA is a new
// operation, so it gets a new id).
func (s *Service) attest(ctx context.Context, pc PartnerCenter, t *storage.Tenant) error {
	if t.MCA == nil || t.MCAAttested {
		return nil
	}
	tmpl, err := pc.MCATemplateID(ctx)
	if err != nil {
		return mserr.Job(err)
	}
	return s.machine().Do(ctx, t, lifecycle.Effect[storage.Tenant]{Step: stepMCA,
		Call: func(ctx context.Context, t *storage.Tenant, requestID string) (func(*storage.Tenant), error) {
			m := t.MCA
			err := pc.AttestAgreement(partnercenter.WithRequestID(ctx, requestID), t.MSCustomerID, partnercenter.Agreement{
				PrimaryContact: partnercenter.Contact{FirstName: m.FirstName, LastName: m.LastName, Email: m.Email, PhoneNumber: m.PhoneNumber},
				TemplateID:     tmpl, DateAgreed: m.DateAgreed, Type: "MicrosoftCustomerAgreement",
			})
			if err != nil {
				return nil, mserr.Job(err)
			}
			return func(t *storage.Tenant) { t.MCAAttested = true }, nil
		}})
}

// provisionGDAP requests the tenant's relationship while it is provisioned.
// App+user instances cannot act in the customer's directory without one, so
// a failure fails the step; app-only instances keep working without it, so
// a refusal is recorded for the health report and the periodic check asks
// again.
func (s *Service) provisionGDAP(ctx context.Context, inst *storage.Instance, t *storage.Tenant) error {
	if t.GDAP.RelationshipID != "" {
		return nil
	}
	rec, err := s.requestGDAP(ctx, inst, t)
	if err != nil {
		if inst.AppUser() || !jobs.IsPermanent(err) {
			return err
		}
		s.Log.WarnContext(ctx, "delegated admin relationship not requested; the periodic check tries again", "tenant_id", t.ID, "cause", err.Error())
		msg := apierr.From(errors.Unwrap(err)).Message
		rec = func(t *storage.Tenant) { t.GDAP.Problem = msg }
	}
	return s.machine().Save(ctx, t, rec)
}
