// Package driftcheck finds and repairs a tenant's drift: what differs
// between the platform (the billing master) and Microsoft. The tenant
// service checks its own resources (the partner's access to the customer,
// the custom domains) and asks the user and subscription services for
// theirs; a periodic check runs through every tenant within a configured
// share of Microsoft's rate limits, GET /tenants/{id}/drift answers the
// latest report (refresh: a new check, asynchronous), and POST
// /tenants/{id}/repair repairs the items named (all but purchases and
// cancellations when none is named) as a durable job, or answers the plan
// with dry_run.
package driftcheck

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/drift"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/mserr"

	"github.com/o365gateway/gateway/services/tenant/internal/domains"
	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/registrar"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
)

// Job kinds.
const (
	CheckKind  = "tenant.drift.v1"
	RepairKind = "tenant.repair.v1"
)

// Owner checks and repairs the items of the resources another service owns
// (users, subscriptions), over gRPC.
type Owner interface {
	Check(ctx context.Context, instanceID, tenantID string) ([]drift.Item, error)
	Repair(ctx context.Context, instanceID, tenantID string, items []drift.Item, dryRun bool) ([]drift.Item, error)
}

// Domains is Graph in the customer's tenant.
type Domains interface {
	Domains(ctx context.Context) ([]graph.Domain, error)
	AddDomain(ctx context.Context, name string) (*graph.Domain, error)
}

// Registrar plans registrations of adopted resources.
type Registrar interface {
	Enqueue(ctx context.Context, inst *storage.Instance, tenantID string, items []registrar.Item) error
}

// Service checks and repairs drift.
type Service struct {
	Store         storage.Store
	Instances     *instances.Service
	Tenants       *tenants.Service
	Users         Owner
	Subscriptions Owner
	Graph         func(inst *storage.Instance, customerTenantID string) (Domains, error)
	Registrar     Registrar
	// Budget paces the periodic check per partner at Rate calls per second
	// (shared by the replicas through the store).
	Budget *budget.Limiter
	Rate   budget.Rate
	Notify func()
	Log    *slog.Logger
	Now    func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// checkLease bounds how long a requested check may show as running.
const checkLease = 10 * time.Minute

// Check finds a tenant's drift now.
func (s *Service) Check(ctx context.Context, inst *storage.Instance, t *storage.Tenant) (*storage.DriftReport, error) {
	rep := &storage.DriftReport{CheckedAt: s.now().UTC(), Items: []drift.Item{}}
	rep.Items = append(rep.Items, access(inst, t)...)
	ds, err := s.domainItems(ctx, inst, t)
	if err != nil {
		return nil, err
	}
	rep.Items = append(rep.Items, ds...)
	for _, o := range []Owner{s.Users, s.Subscriptions} {
		if o == nil {
			continue
		}
		items, err := o.Check(ctx, inst.InstanceID, t.ID)
		if err != nil {
			return nil, err
		}
		rep.Items = append(rep.Items, items...)
	}
	return rep, nil
}

// access reports the partner's relationship and the application's consent.
func access(inst *storage.Instance, t *storage.Tenant) []drift.Item {
	var out []drift.Item
	g := t.GDAP
	ms := map[string]any{"gdap": g.Current(), "relationship_id": g.RelationshipID}
	switch g.Current() {
	case gdap.StateNone, gdap.StateExpired:
		out = append(out, drift.Item{Kind: drift.KindTenant, ResourceID: t.ID, MSID: t.MSCustomerID, Problem: drift.GdapMissing,
			Microsoft: ms, Repair: drift.Push, Message: "the partner has no delegated admin relationship with the customer; pushing requests one"})
	}
	if !g.Consented && (!inst.AppUser() || g.Usable()) {
		out = append(out, drift.Item{Kind: drift.KindTenant, ResourceID: t.ID, MSID: t.MSCustomerID, Problem: drift.ConsentMissing,
			Microsoft: ms, Repair: drift.Push, Message: "the application's consent in the customer's tenant is not recorded; pushing grants it"})
	}
	return out
}

// domainItems compares the platform's custom domains with Graph's.
func (s *Service) domainItems(ctx context.Context, inst *storage.Instance, t *storage.Tenant) ([]drift.Item, error) {
	g, err := s.Graph(inst, t.MSCustomerID)
	if err != nil {
		return nil, err
	}
	remote, err := g.Domains(ctx)
	if err != nil {
		return nil, mserr.Sync(err, "list the domains")
	}
	local, err := s.Store.ListDomains(ctx, inst.InstanceID, t.ID)
	if err != nil {
		return nil, err
	}
	atMicrosoft, gone := domains.Compare(local, remote)
	var out []drift.Item
	for _, r := range atMicrosoft {
		ms := map[string]any{"domain_name": r.Name, "state": r.State}
		switch d := r.Local; {
		case d == nil:
			out = append(out, drift.Item{Kind: drift.KindDomain, MSID: r.Name, Problem: drift.MissingInPlatform, Microsoft: ms,
				Repair: drift.Adopt, Message: "added outside the platform; adopting registers it in the platform"})
		case d.State != r.State:
			out = append(out, drift.Item{Kind: drift.KindDomain, ResourceID: d.ID, MSID: r.Name, Problem: drift.StateDiffers,
				Platform: map[string]any{"domain_name": r.Name, "state": d.State}, Microsoft: ms, Repair: drift.None,
				Message: "verification differs; a synchronization or POST /domains/{id}/verify brings the platform up to date"})
		}
	}
	for _, d := range gone {
		out = append(out, drift.Item{Kind: drift.KindDomain, ResourceID: d.ID, MSID: d.Name, Problem: drift.MissingAtMicrosoft,
			Platform: map[string]any{"domain_name": d.Name, "state": d.State}, Repair: drift.Push,
			Message: "removed at Microsoft; pushing adds it again (it must then be verified again)"})
	}
	return out, nil
}

// Get answers GET /tenants/{id}/drift: the latest report; refresh starts a
// check (a job) and answers 202 until it is done.
func (s *Service) Get(ctx context.Context, req apsmd.Request, id string, refresh bool) (report *storage.DriftReport, running bool, err error) {
	inst, t, err := s.load(ctx, req.InstanceID, id)
	if err != nil {
		return nil, false, err
	}
	checking := t.Drift.CheckingUntil.After(s.now())
	switch {
	case refresh && req.Async() && checking:
		return nil, true, nil
	case refresh && req.Async() && t.Drift.CheckFailure != nil:
		return nil, false, jobFailure(t.Drift.CheckFailure, "The drift check failed")
	case refresh && !req.Async():
		if !checking {
			id := uuid.NewString()
			if err := s.update(ctx, t, func(t *storage.Tenant) {
				t.Drift.CheckingUntil, t.Drift.CheckID, t.Drift.CheckFailure = s.now().Add(checkLease), id, nil
			}, &jobs.New{Kind: CheckKind, Key: "drift:" + t.ID, Group: inst.InstanceID, Payload: ref(t, id), MaxAttempts: 5}); err != nil {
				return nil, false, err
			}
			s.notify()
		}
		return nil, true, nil
	}
	if t.Drift.Report == nil {
		return &storage.DriftReport{Items: []drift.Item{}}, false, nil
	}
	return t.Drift.Report, false, nil
}

// Repair answers POST /tenants/{id}/repair.
func (s *Service) Repair(ctx context.Context, req apsmd.Request, id string, selectors []any, dryRun bool) (report *storage.DriftReport, running bool, err error) {
	inst, t, err := s.load(ctx, req.InstanceID, id)
	if err != nil {
		return nil, false, err
	}
	if r := t.Drift.Repair; req.Async() && r != nil && !dryRun {
		switch {
		case r.State == "running":
			return nil, true, nil
		case r.State == "failed" && r.Failure != nil:
			return nil, false, jobFailure(r.Failure, "The repair failed")
		}
		return &storage.DriftReport{CheckedAt: r.DoneAt, Items: r.Items}, false, nil
	}
	if r := t.Drift.Repair; r != nil && r.State == "running" && !dryRun {
		return nil, true, nil // one repair of a tenant at a time; this re-send waits for it
	}
	rep := t.Drift.Report
	if rep == nil {
		if rep, err = s.Check(ctx, inst, t); err != nil {
			return nil, false, err
		}
	}
	items, err := selectItems(rep.Items, selectors)
	if err != nil {
		return nil, false, err
	}
	if dryRun {
		planned, err := s.repair(ctx, inst, t, items, true)
		if err != nil {
			return nil, false, err
		}
		return &storage.DriftReport{CheckedAt: s.now().UTC(), Items: planned}, false, nil
	}
	run := &storage.Repair{State: "running", RequestedAt: s.now().UTC(), Items: items}
	if err := s.update(ctx, t, func(t *storage.Tenant) { t.Drift.Repair = run },
		&jobs.New{Kind: RepairKind, Key: "drift:" + t.ID, Group: inst.InstanceID, Payload: ref(t, ""), MaxAttempts: 10}); err != nil {
		return nil, false, err
	}
	s.notify()
	return nil, true, nil
}

// selectItems picks the items named by index (a number or a numeric
// string) or by Microsoft id; none named means every item that neither
// buys nor cancels.
func selectItems(all []drift.Item, selectors []any) ([]drift.Item, error) {
	if len(selectors) == 0 {
		var out []drift.Item
		for _, it := range all {
			if !it.Commerce {
				out = append(out, it)
			}
		}
		return out, nil
	}
	var out []drift.Item
	picked := map[int]bool{}
	for _, sel := range selectors {
		i, byIndex := -1, true
		switch v := sel.(type) {
		case float64:
			if v != float64(int(v)) {
				return nil, apierr.Invalid("items: %v is not an index.", v)
			}
			i = int(v)
		case string:
			if n, err := strconv.Atoi(v); err == nil {
				i = n
			} else {
				byIndex = false
				i = slices.IndexFunc(all, func(it drift.Item) bool { return strings.EqualFold(it.MSID, v) })
				if i < 0 {
					return nil, apierr.Invalid("items: no item of the latest report has the Microsoft id %q.", v)
				}
			}
		default:
			return nil, apierr.Invalid("items must hold indexes (numbers) or Microsoft ids (strings).")
		}
		if i < 0 || i >= len(all) {
			return nil, apierr.Invalid("items: index %d is not in the latest report (%d items).", i, len(all))
		}
		if byIndex && all[i].Commerce {
			// The report may have been replaced since it was read: a
			// purchase or cancellation is named by what it is, not where.
			return nil, apierr.Invalid("items: item %d buys or cancels (%s); name it by its ms_id %q.", i, all[i].Problem, all[i].MSID)
		}
		if !picked[i] {
			picked[i] = true
			out = append(out, all[i])
		}
	}
	return out, nil
}

// repair carries items out (or plans them): each owner its own.
func (s *Service) repair(ctx context.Context, inst *storage.Instance, t *storage.Tenant, items []drift.Item, dryRun bool) ([]drift.Item, error) {
	byKind := map[string][]drift.Item{}
	for _, it := range items {
		byKind[it.Kind] = append(byKind[it.Kind], it)
	}
	var out []drift.Item
	for kind, o := range map[string]Owner{drift.KindUser: s.Users, drift.KindSubscription: s.Subscriptions} {
		if len(byKind[kind]) == 0 || o == nil {
			continue
		}
		done, err := o.Repair(ctx, inst.InstanceID, t.ID, byKind[kind], dryRun)
		if err != nil {
			return nil, err
		}
		out = append(out, done...)
	}
	if access := byKind[drift.KindTenant]; len(access) > 0 {
		// One repair of the partner's access covers its relationship and
		// its consent.
		var err error
		if !dryRun {
			_, err = s.Tenants.RepairAccess(ctx, inst, t)
		}
		for _, it := range access {
			it.Finish(dryRun, err)
			out = append(out, it)
		}
	}
	for _, it := range byKind[drift.KindDomain] {
		var err error
		if !dryRun {
			it.ResourceID, err = s.repairDomain(ctx, inst, t, it)
		}
		it.Finish(dryRun, err)
		out = append(out, it)
	}
	if !dryRun {
		var reg []registrar.Item
		for _, it := range out {
			if it.Repair != drift.Adopt || it.Outcome != drift.Done || it.ResourceID == "" {
				continue
			}
			switch it.Kind {
			case drift.KindUser:
				reg = append(reg, registrar.Item{Service: "users", ID: it.ResourceID, Props: map[string]any{"login": it.Microsoft["user_principal_name"], "state": "active"}})
			case drift.KindDomain:
				reg = append(reg, registrar.Item{Service: "domains", ID: it.ResourceID, Props: map[string]any{"domain_name": it.MSID, "state": it.Microsoft["state"]}})
			}
		}
		if s.Registrar != nil {
			if err := s.Registrar.Enqueue(ctx, inst, t.ID, reg); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// repairDomain adopts a domain that exists only at Microsoft (its id
// derives from its name: never adopted twice) or adds again at Microsoft a
// domain of the platform (a domain Graph already has is taken as done).
func (s *Service) repairDomain(ctx context.Context, inst *storage.Instance, t *storage.Tenant, it drift.Item) (string, error) {
	switch it.Repair {
	case drift.Adopt:
		state, _ := it.Microsoft["state"].(string)
		if state == "" {
			state = storage.DomainUnverified
		}
		d := &storage.Domain{ID: storage.ImportedDomainID(inst.InstanceID, t.ID, it.MSID), InstanceID: inst.InstanceID, TenantID: t.ID,
			Name: it.MSID, State: state}
		if err := s.Store.CreateDomain(ctx, d); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
			return "", err
		}
		return d.ID, nil
	case drift.Push:
		g, err := s.Graph(inst, t.MSCustomerID)
		if err != nil {
			return it.ResourceID, err
		}
		_, err = g.AddDomain(ctx, it.MSID)
		if e, ok := graph.AsError(err); ok && (e.StatusCode == http.StatusConflict || e.StatusCode == http.StatusBadRequest) {
			if ds, lerr := g.Domains(ctx); lerr == nil && slices.ContainsFunc(ds, func(d graph.Domain) bool { return strings.EqualFold(d.ID, it.MSID) }) {
				err = nil // added by an earlier attempt
			}
		}
		if err != nil {
			return it.ResourceID, mserr.Sync(err, "add the domain")
		}
		if d, err := s.Store.GetDomain(ctx, inst.InstanceID, it.ResourceID); err == nil && d.State != storage.DomainUnverified {
			d.State = storage.DomainUnverified
			_ = s.Store.UpdateDomain(ctx, d)
		}
	}
	return it.ResourceID, nil
}

// jobFailure answers the platform's re-send of a request whose job failed
// for good: a 500 whose reason is the job's (what the message begins with,
// then why).
func jobFailure(f *storage.JobFailure, what string) error {
	return apierr.JobFailed(codes.Code(f.Code), f.Reason, "%s: %s", what, f.Message)
}

type jobRef struct {
	InstanceID string `json:"instance_id"`
	TenantID   string `json:"tenant_id"`
	// CheckID names a requested check (DriftState.CheckID).
	CheckID string `json:"check_id,omitempty"`
}

// current tells whether a check job's outcome is the one the tenant
// waits for: its own requested check, or any when none is named.
func (p jobRef) current(t *storage.Tenant) bool {
	return p.CheckID == "" || t.Drift.CheckID == "" || p.CheckID == t.Drift.CheckID
}

// ref is the payload of a job on t; checkID names a requested check.
func ref(t *storage.Tenant, checkID string) []byte {
	b, _ := json.Marshal(jobRef{InstanceID: t.InstanceID, TenantID: t.ID, CheckID: checkID})
	return b
}

// Handlers are the check and repair jobs.
func (s *Service) Handlers() map[string]jobs.Handler {
	run := func(work func(ctx context.Context, inst *storage.Instance, t *storage.Tenant, p jobRef) error) jobs.Handler {
		return jobs.Handler{Run: func(ctx context.Context, job *jobs.Job) error {
			var p jobRef
			if err := json.Unmarshal(job.Payload, &p); err != nil {
				return jobs.Permanent(err)
			}
			inst, t, err := s.load(ctx, p.InstanceID, p.TenantID)
			if e := apierr.From(err); err != nil && (e.Code == codes.NotFound || e.Reason == apierr.UnknownInstance) {
				return nil // gone meanwhile
			} else if err != nil {
				return err
			}
			return work(ctx, inst, t, p)
		}, Failed: func(ctx context.Context, job *jobs.Job, cause error) error {
			var p jobRef
			if json.Unmarshal(job.Payload, &p) != nil {
				return nil
			}
			_, t, err := s.load(ctx, p.InstanceID, p.TenantID)
			if err != nil {
				return nil
			}
			e := apierr.From(cause)
			failure := &storage.JobFailure{Code: int(e.Code), Reason: e.Reason, Message: e.Message, At: s.now().UTC()}
			return s.update(ctx, t, func(t *storage.Tenant) {
				switch r := t.Drift.Repair; {
				case job.Kind == CheckKind && !p.current(t):
					// An older check's job: the check the tenant waits for
					// is another one.
				case job.Kind == CheckKind:
					t.Drift.CheckingUntil, t.Drift.CheckFailure = time.Time{}, failure
				case r != nil && r.State == "running":
					r.State, r.DoneAt, r.Failure = "failed", failure.At, failure
					for i := range r.Items {
						r.Items[i].Outcome, r.Items[i].Message = drift.Failed, e.Message
					}
				}
			}, nil)
		}}
	}
	return map[string]jobs.Handler{
		CheckKind: run(func(ctx context.Context, inst *storage.Instance, t *storage.Tenant, p jobRef) error {
			rep, err := s.Check(ctx, inst, t)
			if err != nil {
				return err
			}
			return s.update(ctx, t, func(t *storage.Tenant) {
				t.Drift.Report = rep // a fresh report, whichever check found it
				if p.current(t) {
					t.Drift.CheckingUntil, t.Drift.CheckFailure = time.Time{}, nil
				}
			}, nil)
		}),
		RepairKind: run(func(ctx context.Context, inst *storage.Instance, t *storage.Tenant, _ jobRef) error {
			r := t.Drift.Repair
			if r == nil || r.State != "running" {
				return nil
			}
			done, err := s.repair(ctx, inst, t, r.Items, false)
			if err != nil {
				return err
			}
			return s.update(ctx, t, func(t *storage.Tenant) {
				t.Drift.Repair = &storage.Repair{State: "done", RequestedAt: r.RequestedAt, Items: done, DoneAt: s.now().UTC()}
			}, nil)
		}),
	}
}

// load reads an instance and one of its tenants, which must be active.
func (s *Service) load(ctx context.Context, instanceID, id string) (*storage.Instance, *storage.Tenant, error) {
	if !instances.IsUUID(id) {
		return nil, nil, apierr.Invalid("The tenant id %q is not a UUID.", id)
	}
	inst, err := s.Instances.Load(ctx, instanceID)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.Store.GetTenant(ctx, instanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, apierr.New(codes.NotFound, apierr.NotFound, "Tenant %s is not known to this instance.", id)
	}
	if err != nil {
		return nil, nil, err
	}
	if t.State != storage.StateActive || t.MSCustomerID == "" {
		return nil, nil, apierr.New(codes.FailedPrecondition, apierr.TenantNotReady, "Tenant %s is %s; only an active tenant has drift.", id, t.State)
	}
	return inst, t, nil
}

// update changes a tenant (re-read on a concurrent write) and commits job.
func (s *Service) update(ctx context.Context, t *storage.Tenant, change func(*storage.Tenant), job *jobs.New) error {
	for try := 0; ; try++ {
		change(t)
		err := s.Store.UpdateTenant(ctx, t, job)
		if !errors.Is(err, storage.ErrConflict) || try == 5 {
			return err
		}
		fresh, gerr := s.Store.GetTenant(ctx, t.InstanceID, t.ID)
		if gerr != nil {
			return gerr
		}
		*t = *fresh
	}
}

func (s *Service) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}

// Run checks every active tenant every interval, each at most once per
// interval whichever replica checks it, paced per partner by Rate.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTimer(2 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.RunOnce(ctx, interval)
		t.Reset(interval / 4)
	}
}

// RunOnce checks the tenants whose report is older than maxAge.
func (s *Service) RunOnce(ctx context.Context, maxAge time.Duration) {
	for after := ""; ; {
		insts, err := s.Store.ListInstances(ctx, after, 50)
		if err != nil || len(insts) == 0 {
			return
		}
		after = insts[len(insts)-1].InstanceID
		for _, inst := range insts {
			s.checkInstance(ctx, inst, maxAge)
		}
	}
}

func (s *Service) checkInstance(ctx context.Context, inst *storage.Instance, maxAge time.Duration) {
	_ = storage.EachActiveTenant(ctx, s.Store, inst.InstanceID, func(t *storage.Tenant) bool {
		if t.Drift.Report != nil && s.now().Sub(t.Drift.Report.CheckedAt) < maxAge {
			return true
		}
		// About four calls a tenant (domains, users, subscriptions, the
		// relationship), charged before they are made.
		if err := s.Budget.Wait(ctx, "drift/"+inst.PartnerTenantID, s.Rate, 4); err != nil {
			return false
		}
		rep, err := s.Check(ctx, inst, t)
		if err != nil {
			s.Log.WarnContext(ctx, "drift not checked", "tenant_id", t.ID, "cause", apierr.From(err).Message)
			return true
		}
		if len(rep.Items) > 0 {
			s.Log.InfoContext(ctx, "tenant drift", "tenant_id", t.ID, "items", len(rep.Items))
		}
		if err := s.update(ctx, t, func(t *storage.Tenant) { t.Drift.Report = rep }, nil); err != nil {
			s.Log.WarnContext(ctx, "drift report not stored", "tenant_id", t.ID, "cause", err.Error())
		}
		return true
	})
}
