// Package syncer carries out POST /tenants/{id}/synchronize: it pulls what
// was created outside the platform (users, domains, subscriptions) and
// reports every difference. The platform stays the master of what it manages:
// managed resources that drifted are reported, not overwritten; resources
// created elsewhere are adopted (users, domains) or listed (subscriptions,
// which the subscription service only buys itself).
package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/tenant/internal/domains"
	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/registrar"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Change is one difference found.
type Change struct {
	Kind, Change, ID, Name, Detail string
}

// Report is what a synchronization found.
type Report struct {
	At      time.Time
	Changes []Change
	// Users is how many users the tenant has at Microsoft.
	Users int
}

// Domains lists a tenant's domains at Microsoft.
type Domains interface {
	Domains(ctx context.Context) ([]graph.Domain, error)
}

// Subscriptions lists a customer's subscriptions at Microsoft.
type Subscriptions interface {
	Subscriptions(ctx context.Context, customerID string) ([]partnercenter.Subscription, error)
}

// Users synchronizes a tenant's users (the user service); it answers the
// changes and how many users the tenant has at Microsoft.
type Users interface {
	SyncUsers(ctx context.Context, instanceID, tenantID string) ([]Change, int, error)
}

// Registrar registers what a synchronization adopted in the platform
// (*registrar.Service).
type Registrar interface {
	Enqueue(ctx context.Context, inst *storage.Instance, tenantID string, items []registrar.Item) error
}

// Service synchronizes tenants.
type Service struct {
	// Notify wakes the job runner after an enqueue.
	Notify    func()
	Store     storage.Store
	Instances *instances.Service
	Graph     func(inst *storage.Instance, customerTenantID string) (Domains, error)
	PC        func(inst *storage.Instance) (Subscriptions, error)
	Users     Users
	// Registrar registers adopted users and domains (nil: none).
	Registrar Registrar
}

// Synchronize runs a synchronization of one tenant.
func (s *Service) Synchronize(ctx context.Context, req apsmd.Request, tenantID string) (*Report, error) {
	return s.synchronize(ctx, req.InstanceID, tenantID, func(string) {})
}

func (s *Service) synchronize(ctx context.Context, instanceID, tenantID string, progress func(string)) (*Report, error) {
	inst, err := s.Instances.Load(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	t, err := s.active(ctx, inst.InstanceID, tenantID)
	if err != nil {
		return nil, err
	}
	if err := s.hold(ctx, t); err != nil {
		return nil, err
	}
	rep, err := s.run(ctx, inst, t, progress)
	if s.Registrar != nil {
		// What was adopted before a later step failed is registered too:
		// the next run finds it already adopted and reports it no more.
		if rerr := s.Registrar.Enqueue(ctx, inst, t.ID, adopted(rep)); err == nil {
			err = rerr
		}
	}
	// Release the tenant, recording the synchronization when it succeeded.
	for range 5 {
		t.SyncLeaseUntil = time.Time{}
		if err == nil {
			t.LastSync = &rep.At
			t.SyncRun.UsersSeen = rep.Users
		}
		uerr := s.Store.UpdateTenant(ctx, t, nil)
		if !errors.Is(uerr, storage.ErrConflict) {
			if err == nil {
				err = uerr
			}
			break
		}
		fresh, gerr := s.Store.GetTenant(ctx, inst.InstanceID, tenantID)
		if gerr != nil {
			break
		}
		t = fresh
	}
	return rep, err
}

// active reads a tenant that can be synchronized.
func (s *Service) active(ctx context.Context, instanceID, tenantID string) (*storage.Tenant, error) {
	t, err := s.Store.GetTenant(ctx, instanceID, tenantID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "Tenant %s is not known to this instance.", tenantID)
	}
	if err != nil {
		return nil, err
	}
	if t.State != storage.StateActive || t.MSCustomerID == "" {
		return nil, apierr.New(codes.FailedPrecondition, apierr.TenantNotReady, "Tenant %s is %s; only an active tenant can be synchronized.", tenantID, t.State)
	}
	return t, nil
}

// syncLease bounds how long a synchronization holds its tenant (a process
// that dies mid-way frees it when the lease runs out).
const syncLease = 10 * time.Minute

// hold takes the tenant for one synchronization: two synchronizations of a
// tenant (on any replica) never run at once, so nothing is imported twice.
func (s *Service) hold(ctx context.Context, t *storage.Tenant) error {
	now := time.Now()
	busy := apierr.New(codes.Aborted, apierr.Conflict, "A synchronization of tenant %s is already running; try again when it has finished.", t.ID)
	if t.SyncLeaseUntil.After(now) {
		return busy
	}
	t.SyncLeaseUntil = now.Add(syncLease)
	if err := s.Store.UpdateTenant(ctx, t, nil); errors.Is(err, storage.ErrConflict) {
		return busy // another request changed the tenant first: refuse rather than race
	} else if err != nil {
		return err
	}
	return nil
}

func (s *Service) run(ctx context.Context, inst *storage.Instance, t *storage.Tenant, progress func(string)) (*Report, error) {
	rep := &Report{At: time.Now().UTC()}
	progress("domains")
	if err := s.domains(ctx, inst, t, rep); err != nil {
		return rep, err
	}
	progress("subscriptions")
	if err := s.subscriptions(ctx, inst, t, rep); err != nil {
		return rep, err
	}
	if s.Users != nil {
		progress("users")
		changes, total, err := s.Users.SyncUsers(ctx, inst.InstanceID, t.ID)
		if err != nil {
			return rep, err
		}
		rep.Changes = append(rep.Changes, changes...)
		rep.Users = total
	}
	return rep, nil
}

func (s *Service) domains(ctx context.Context, inst *storage.Instance, t *storage.Tenant, rep *Report) error {
	g, err := s.Graph(inst, t.MSCustomerID)
	if err != nil {
		return err
	}
	remote, err := g.Domains(ctx)
	if err != nil {
		return mserr.Sync(err, "list the domains")
	}
	local, err := s.Store.ListDomains(ctx, inst.InstanceID, t.ID)
	if err != nil {
		return err
	}
	atMicrosoft, gone := domains.Compare(local, remote)
	for _, r := range atMicrosoft {
		switch d := r.Local; {
		case d == nil:
			// The id derives from the domain, so an import is never made twice.
			nd := &storage.Domain{ID: storage.ImportedDomainID(inst.InstanceID, t.ID, r.Name),
				InstanceID: inst.InstanceID, TenantID: t.ID, Name: r.Name, State: r.State}
			if err := s.Store.CreateDomain(ctx, nd); errors.Is(err, storage.ErrAlreadyExists) {
				continue
			} else if err != nil {
				return err
			}
			rep.Changes = append(rep.Changes, Change{Kind: "domains", Change: "imported", ID: nd.ID, Name: r.Name, Detail: r.State})
		case d.State != r.State:
			d.State = r.State
			if err := s.Store.UpdateDomain(ctx, d); err != nil {
				return err
			}
			rep.Changes = append(rep.Changes, Change{Kind: "domains", Change: "updated", ID: d.ID, Name: r.Name, Detail: r.State})
		}
	}
	for _, d := range gone {
		rep.Changes = append(rep.Changes, Change{Kind: "domains", Change: "missing", ID: d.ID, Name: d.Name, Detail: "removed at Microsoft"})
	}
	return nil
}

func (s *Service) subscriptions(ctx context.Context, inst *storage.Instance, t *storage.Tenant, rep *Report) error {
	pc, err := s.PC(inst)
	if err != nil {
		return err
	}
	subs, err := pc.Subscriptions(ctx, t.MSCustomerID)
	if err != nil {
		return mserr.Sync(err, "list the subscriptions")
	}
	for _, m := range subs {
		if strings.HasPrefix(m.FriendlyName, "o365gw-") || m.Status == "deleted" || m.Status == "expired" {
			continue
		}
		rep.Changes = append(rep.Changes, Change{Kind: "subscriptions", Change: "external", Name: m.ID,
			Detail: m.OfferName + ": " + itoa(m.Quantity) + " seat(s), bought outside the platform"})
	}
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// adopted lists what a report imported, as the platform will show it.
func adopted(rep *Report) []registrar.Item {
	var out []registrar.Item
	if rep == nil {
		return nil
	}
	for _, c := range rep.Changes {
		if c.Change != "imported" || c.ID == "" {
			continue
		}
		switch c.Kind {
		case "users":
			out = append(out, registrar.Item{Service: "users", ID: c.ID, Props: map[string]any{"login": c.Name, "state": "active"}})
		case "domains":
			out = append(out, registrar.Item{Service: "domains", ID: c.ID, Props: map[string]any{"domain_name": c.Name, "state": c.Detail}})
		}
	}
	return out
}

// AdoptKind is the job that adopts what an existing customer already has
// at Microsoft once its tenant is linked (enqueued by the link's
// provisioning): a synchronization run for the platform, whose adopted
// users and domains are registered.
const AdoptKind = "tenant.adopt.v1"

// AdoptPayload names the linked tenant.
type AdoptPayload struct {
	InstanceID string `json:"instance_id"`
	TenantID   string `json:"tenant_id"`
}

// AdoptHandler is the adopt job.
func (s *Service) AdoptHandler() jobs.Handler {
	return jobs.Handler{Run: func(ctx context.Context, job *jobs.Job) error {
		var p AdoptPayload
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return jobs.Permanent(err)
		}
		_, err := s.Synchronize(ctx, apsmd.Request{InstanceID: p.InstanceID}, p.TenantID)
		switch e := apierr.From(err); {
		case err == nil:
			return nil
		case e.Reason == apierr.Conflict:
			return jobs.Snooze(30*time.Second, err) // another synchronization holds the tenant
		case e.Reason == apierr.GdapPendingApproval:
			// An app+user instance reaches the customer's directory once
			// the customer approved: wait for it, however long it takes.
			return jobs.Snooze(30*time.Minute, err)
		case e.Code == codes.NotFound || e.Reason == apierr.UnknownInstance:
			return nil // unprovisioned meanwhile
		}
		return err
	}}
}
