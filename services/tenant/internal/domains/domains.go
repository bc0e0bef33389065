// Package domains manages the custom domains of tenants through Microsoft
// Graph. Each operation is one idempotent Graph call keyed by the domain
// name, so it is answered synchronously: a re-sent request repeats it safely.
package domains

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/mserr"

	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Graph is what domain management needs from Microsoft Graph in one tenant.
type Graph interface {
	AddDomain(ctx context.Context, name string) (*graph.Domain, error)
	GetDomain(ctx context.Context, name string) (*graph.Domain, error)
	VerificationRecords(ctx context.Context, name string) ([]graph.DNSRecord, error)
	VerifyDomain(ctx context.Context, name string) (*graph.Domain, error)
	DeleteDomain(ctx context.Context, name string) error
}

// Service implements the custom-domain operations.
type Service struct {
	Store     storage.Store
	Instances *instances.Service
	Graph     func(inst *storage.Instance, customerTenantID string) (Graph, error)
}

var domainRe = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// Input is a domain representation as APSC sends it.
type Input struct {
	ID, TenantID, Name string
}

func (s *Service) tenantGraph(ctx context.Context, instanceID, tenantID string) (*storage.Tenant, Graph, error) {
	inst, err := s.Instances.Load(ctx, instanceID)
	if err != nil {
		return nil, nil, err
	}
	if tenantID == "" {
		return nil, nil, apierr.Invalid("The tenant link is required.")
	}
	t, err := s.Store.GetTenant(ctx, instanceID, tenantID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, apierr.New(codes.NotFound, apierr.NotFound, "Tenant %s is not known to this instance.", tenantID)
	}
	if err != nil {
		return nil, nil, err
	}
	if t.State != storage.StateActive || t.MSCustomerID == "" {
		return nil, nil, apierr.New(codes.FailedPrecondition, apierr.TenantNotReady, "Tenant %s is %s; domains can be added once it is active.", tenantID, t.State)
	}
	if err := gdap.Require(inst.AppUser(), &t.GDAP); err != nil {
		return nil, nil, err
	}
	g, err := s.Graph(inst, t.MSCustomerID)
	return t, g, err
}

// Provision adds the domain and returns its verification records.
func (s *Service) Provision(ctx context.Context, req apsmd.Request, in Input) (*storage.Domain, error) {
	if !apsmd.IsID(in.ID) {
		return nil, apierr.Invalid("aps.id %q is not a UUID.", in.ID)
	}
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(in.Name), "."))
	if !domainRe.MatchString(name) || len(name) > 253 {
		return nil, apierr.Invalid("domain_name %q is not a valid DNS name.", in.Name)
	}
	d, err := s.Store.GetDomain(ctx, req.InstanceID, in.ID)
	if err == nil {
		if d.Name != name {
			return nil, apierr.New(codes.AlreadyExists, apierr.Conflict, "The id %s already names domain %s.", in.ID, d.Name)
		}
	} else if errors.Is(err, storage.ErrNotFound) {
		d = &storage.Domain{ID: in.ID, InstanceID: req.InstanceID, TenantID: in.TenantID, Name: name, State: storage.DomainUnverified}
	} else {
		return nil, err
	}
	t, g, err := s.tenantGraph(ctx, req.InstanceID, d.TenantID)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(name, "."+strings.SplitN(t.InitialDomain, ".", 2)[1]) {
		return nil, apierr.Invalid("%s is under the initial-domain suffix; add a domain the customer owns.", name)
	}
	if d.Version == 0 {
		if err := s.Store.CreateDomain(ctx, d); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
			return nil, err
		}
	}
	md, err := g.AddDomain(ctx, name)
	if err != nil {
		e, ok := graph.AsError(err)
		switch {
		case ok && e.StatusCode == http.StatusBadRequest && strings.Contains(e.Message, "another tenant"):
			_ = s.Store.DeleteDomain(ctx, req.InstanceID, in.ID)
			return nil, apierr.New(codes.AlreadyExists, apierr.DomainAlreadyTaken, "The domain %s is already used by another Microsoft tenant.", name)
		case ok && e.StatusCode == http.StatusBadRequest && strings.Contains(e.Message, "already exists"):
			if md, err = g.GetDomain(ctx, name); err != nil {
				return nil, mserr.Sync(err, "read the domain")
			}
		default:
			return nil, mserr.Sync(err, "add the domain")
		}
	}
	recs, err := g.VerificationRecords(ctx, name)
	if err != nil {
		return nil, mserr.Sync(err, "read the verification records")
	}
	d.Records = nil
	for _, r := range recs {
		text := r.Text
		if r.RecordType == "Mx" {
			text = r.MailExchange
		}
		d.Records = append(d.Records, storage.VerificationRecord{Type: r.RecordType, Label: r.Label, Text: text, TTL: r.TTL})
	}
	if md.IsVerified {
		d.State = storage.DomainVerified
	}
	if err := s.save(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Service) save(ctx context.Context, d *storage.Domain) error {
	cur, err := s.Store.GetDomain(ctx, d.InstanceID, d.ID)
	if err != nil {
		return err
	}
	d.Version = cur.Version
	return s.Store.UpdateDomain(ctx, d)
}

// Get returns a domain.
func (s *Service) Get(ctx context.Context, req apsmd.Request, id string) (*storage.Domain, error) {
	if _, err := s.Instances.Load(ctx, req.InstanceID); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	d, err := s.Store.GetDomain(ctx, req.InstanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "Domain %s is not known to this instance.", id)
	}
	return d, err
}

// checkID refuses a domain id that is not an APS resource id (a canonical
// UUID) with 400, before the domain is looked up or anything changed.
func checkID(id string) error {
	if !apsmd.IsID(id) {
		return apierr.Invalid("The domain id %q is not a UUID.", id)
	}
	return nil
}

// Verify asks Microsoft to check the published records.
func (s *Service) Verify(ctx context.Context, req apsmd.Request, id string) (*storage.Domain, error) {
	d, err := s.Get(ctx, req, id)
	if err != nil {
		return nil, err
	}
	_, g, err := s.tenantGraph(ctx, req.InstanceID, d.TenantID)
	if err != nil {
		return nil, err
	}
	if _, err := g.VerifyDomain(ctx, d.Name); err != nil {
		if e, ok := graph.AsError(err); ok && e.StatusCode == http.StatusBadRequest {
			return nil, apierr.New(codes.FailedPrecondition, apierr.DomainNotVerified,
				"Microsoft could not verify %s: publish the TXT record %q at %s and try again (DNS changes can take a while).",
				d.Name, txt(d), d.Name)
		}
		return nil, mserr.Sync(err, "verify the domain")
	}
	d.State = storage.DomainVerified
	if err := s.save(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

func txt(d *storage.Domain) string {
	for _, r := range d.Records {
		if r.Type == "Txt" {
			return r.Text
		}
	}
	return ""
}

// Unprovision removes the domain at Microsoft and forgets it.
func (s *Service) Unprovision(ctx context.Context, req apsmd.Request, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	d, err := s.Store.GetDomain(ctx, req.InstanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, g, err := s.tenantGraph(ctx, req.InstanceID, d.TenantID)
	if err != nil {
		if apierr.From(err).Reason == apierr.NotFound {
			return s.Store.DeleteDomain(ctx, req.InstanceID, id)
		}
		return err
	}
	if err := g.DeleteDomain(ctx, d.Name); err != nil {
		e, ok := graph.AsError(err)
		switch {
		case ok && e.StatusCode == http.StatusNotFound:
		case ok && e.StatusCode == http.StatusBadRequest:
			return apierr.New(codes.FailedPrecondition, apierr.Conflict, "Microsoft refused to remove %s: %s", d.Name, e.Message)
		default:
			return mserr.Sync(err, "remove the domain")
		}
	}
	if err := s.Store.DeleteDomain(ctx, req.InstanceID, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}
