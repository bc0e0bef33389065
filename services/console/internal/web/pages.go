package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

// maxPages bounds how many pages of one listing a page reads.
const maxPages = 20

// allInstances lists every instance (up to maxPages pages).
func (h *Handler) allInstances(ctx context.Context) ([]*adminv1.Resource, error) {
	var out []*adminv1.Resource
	token := ""
	for range maxPages {
		resp, err := h.ops.ListResources(ctx, &adminv1.ListResourcesRequest{Type: "instance", PageToken: token, PageSize: int32(h.pageSize)})
		if err != nil {
			return out, err
		}
		out = append(out, resp.GetResources()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	return out, nil
}

// instanceRow is an instance with its last health check.
type instanceRow struct {
	R       *adminv1.Resource
	Health  *tenantv1.InstanceHealth
	Problem string
}

// instances serves GET /instances: every instance with its credential health.
func (h *Handler) instances(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.ctx(r)
	defer cancel()
	list, err := h.allInstances(ctx)
	var problems []string
	if err != nil {
		if len(list) == 0 {
			h.fail(w, r, statusOf(err), "The instances could not be listed: "+describe(err))
			return
		}
		problems = append(problems, "Not every instance could be listed: "+describe(err))
	}
	rows := make([]instanceRow, len(list))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, in := range list {
		rows[i].R = in
		// An instance never checked would be checked now, at Microsoft:
		// its own page does that, the listing does not.
		if detail(in, "health_checked_at") == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			hl, err := h.ops.InstanceHealth(ctx, in.GetId(), in.GetName())
			if err != nil {
				rows[i].Problem = describe(err)
				return
			}
			rows[i].Health = hl
		}()
	}
	wg.Wait()
	h.render(w, r, http.StatusOK, "instances", "Instances", "instances", rows, problems...)
}

// instance serves GET /instances/{instance}: its health and its tenants.
func (h *Handler) instance(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("instance")
	ctx, cancel := h.ctx(r)
	defer cancel()
	in, err := h.ops.GetResource(ctx, &adminv1.GetResourceRequest{Type: "instance", InstanceId: id, Id: id})
	if err != nil {
		h.fail(w, r, statusOf(err), "Instance "+id+": "+describe(err))
		return
	}
	var problems []string
	data := struct {
		R       *adminv1.Resource
		Health  *tenantv1.InstanceHealth
		Tenants []*adminv1.Resource
		Next    string
	}{R: in}
	if data.Health, err = h.ops.InstanceHealth(ctx, id, in.GetName()); err != nil {
		problems = append(problems, "The instance's health could not be read: "+describe(err))
	}
	resp, err := h.ops.ListResources(ctx, &adminv1.ListResourcesRequest{Type: "tenant", InstanceId: id,
		PageToken: r.URL.Query().Get("page"), PageSize: int32(h.pageSize)})
	if err != nil {
		problems = append(problems, "The tenants could not be listed: "+describe(err))
	}
	data.Tenants = resp.GetResources()
	if next := resp.GetNextPageToken(); next != "" {
		data.Next = pathOf("instances", id) + "?page=" + url.QueryEscape(next)
	}
	h.render(w, r, http.StatusOK, "instance", "Instance "+id, "instances", data, problems...)
}

// section is one listing of a page, with what went wrong reading it.
type section struct {
	Items   []*adminv1.Resource
	More    bool
	Problem string
}

// jobTable is a list of jobs with their actions.
type jobTable struct {
	Jobs []opsclient.Job
	Back string // where an action returns to
	CSRF string
}

// tenant serves GET /instances/{instance}/tenants/{tenant}: the tenant, its
// subscriptions, users, domains, drift report and recent jobs.
func (h *Handler) tenant(w http.ResponseWriter, r *http.Request) {
	inst, id := r.PathValue("instance"), r.PathValue("tenant")
	ctx, cancel := h.ctx(r)
	defer cancel()
	t, err := h.ops.GetResource(ctx, &adminv1.GetResourceRequest{Type: "tenant", InstanceId: inst, Id: id})
	if err != nil {
		h.fail(w, r, statusOf(err), "Tenant "+id+" of instance "+inst+": "+describe(err))
		return
	}
	list := func(typ string) section {
		resp, err := h.ops.ListResources(ctx, &adminv1.ListResourcesRequest{Type: typ, InstanceId: inst, TenantId: id, PageSize: int32(h.pageSize)})
		if err != nil {
			return section{Problem: describe(err)}
		}
		return section{Items: resp.GetResources(), More: resp.GetNextPageToken() != ""}
	}
	data := struct {
		R             *adminv1.Resource
		Instance      string
		Subscriptions section
		Users         section
		Domains       section
		Drift         *apsv1.DriftReport
		DriftProblem  string
		Jobs          jobTable
		JobsProblem   string
	}{R: t, Instance: inst, Subscriptions: list("subscription"), Users: list("user"), Domains: list("domain")}
	if data.Drift, err = h.ops.TenantDrift(ctx, inst, id); err != nil {
		data.DriftProblem = describe(err)
	}
	jobs, err := h.ops.ListJobs(ctx, "", &adminv1.ListJobsRequest{InstanceId: inst, TenantId: id, PageSize: 20})
	if err != nil {
		data.JobsProblem = describe(err)
	}
	sortJobs(jobs)
	data.Jobs = jobTable{Jobs: jobs, Back: r.URL.RequestURI(), CSRF: csrfToken(w, r)}
	h.render(w, r, http.StatusOK, "tenant", "Tenant "+t.GetName(), "instances", data)
}

// jobStates are the choices of the jobs page's state filter.
var jobStates = []struct {
	Value, Label string
	States       []string
}{
	{"attention", "failed, running and pending", []string{"failed", "running", "pending"}},
	{"failed", "failed", []string{"failed"}},
	{"running", "running", []string{"running"}},
	{"pending", "pending", []string{"pending"}},
	{"done", "done", []string{"done"}},
	{"all", "all", nil},
}

// sortJobs puts the newest first across services.
func sortJobs(jobs []opsclient.Job) {
	sort.SliceStable(jobs, func(i, j int) bool {
		return jobs[i].GetCreatedAt().AsTime().After(jobs[j].GetCreatedAt().AsTime())
	})
}

// jobs serves GET /jobs: the jobs that need attention (or a filter's).
func (h *Handler) jobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter := struct{ State, Instance, Service, Kind string }{State: q.Get("state"), Instance: strings.TrimSpace(q.Get("instance")),
		Service: q.Get("service"), Kind: strings.TrimSpace(q.Get("kind"))}
	req := &adminv1.ListJobsRequest{InstanceId: filter.Instance, PageSize: int32(h.pageSize)}
	found := false
	for _, s := range jobStates {
		if s.Value == filter.State {
			req.States, found = s.States, true
		}
	}
	if !found {
		filter.State, req.States = jobStates[0].Value, jobStates[0].States
	}
	if !slices.Contains(opsclient.Services, filter.Service) {
		filter.Service = ""
	}
	if filter.Kind != "" {
		req.Kinds = []string{filter.Kind}
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	jobs, err := h.ops.ListJobs(ctx, filter.Service, req)
	var problems []string
	if err != nil {
		problems = append(problems, "Not every service answered: "+describe(err))
	}
	sortJobs(jobs)
	data := struct {
		Filter   any
		States   any
		Services []string
		Table    jobTable
	}{Filter: filter, States: jobStates, Services: opsclient.Services,
		Table: jobTable{Jobs: jobs, Back: r.URL.RequestURI(), CSRF: csrfToken(w, r)}}
	h.render(w, r, http.StatusOK, "jobs", "Jobs", "jobs", data, problems...)
}

// job serves GET /jobs/{service}/{id}.
func (h *Handler) job(w http.ResponseWriter, r *http.Request) {
	svc, id, err := opsclient.ParseRef(r.PathValue("service") + "/" + r.PathValue("id"))
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "No such job: "+err.Error())
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	j, err := h.ops.GetJob(ctx, svc, id, r.URL.Query().Get("instance"))
	if err != nil {
		h.fail(w, r, statusOf(err), "Job "+svc+"/"+r.PathValue("id")+": "+describe(err))
		return
	}
	job := opsclient.Job{Service: svc, Job: j}
	h.render(w, r, http.StatusOK, "job", "Job "+job.Ref(), "jobs", struct {
		Job  opsclient.Job
		Back string
	}{job, r.URL.RequestURI()})
}

// jobAction serves POST /jobs/{service}/{id}/retry and .../cancel, and
// returns to the page the form names, with what was done.
func (h *Handler) jobAction(w http.ResponseWriter, r *http.Request) {
	svc, id, err := opsclient.ParseRef(r.PathValue("service") + "/" + r.PathValue("id"))
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "No such job: "+err.Error())
		return
	}
	ref := svc + "/" + r.PathValue("id")
	back := localPath(r.PostFormValue("back"), pathOf("jobs", svc, id))
	retry := strings.HasSuffix(r.URL.Path, "/retry")
	action, past := "cancel", "cancelled"
	if retry {
		action, past = "retry", "retried"
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	// The action names the job's instance, as the service reads it (the
	// audit entry of the action carries it): the form's, once the job is
	// found to be of that instance.
	instance := r.PostFormValue("instance")
	j, err := h.ops.GetJob(ctx, svc, id, instance)
	if err == nil && instance != "" && j.GetInstanceId() != instance {
		err = errors.New("the job is not of instance " + instance + "; reload the page")
	}
	var msg string
	if err == nil && retry {
		_, msg, err = h.ops.RetryJob(ctx, svc, id, j.GetInstanceId())
	} else if err == nil {
		_, msg, err = h.ops.CancelJob(ctx, svc, id, j.GetInstanceId())
	}
	who := Who(r.Context())
	if err != nil {
		h.log.Warn("console: a job "+action+" was refused", "job", ref, "by", who, "remote", r.RemoteAddr, "error", describe(err))
		setFlash(w, flash{Kind: "error", Text: "Job " + ref + " was not " + past + ": " + describe(err)})
	} else {
		h.log.Info("console: job "+past+" by an operator", "job", ref, "by", who, "remote", r.RemoteAddr, "message", msg)
		setFlash(w, flash{Kind: "ok", Text: strings.TrimSpace("Job " + ref + " " + past + ". " + msg)})
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// auditWindows are the choices of the audit page's time filter.
var auditWindows = []struct {
	Value, Label string
	D            time.Duration
}{
	{"1h", "last hour", time.Hour},
	{"24h", "last 24 hours", 24 * time.Hour},
	{"168h", "last 7 days", 7 * 24 * time.Hour},
	{"720h", "last 30 days", 30 * 24 * time.Hour},
}

// auditRow is an entry of a service's audit log.
type auditRow struct {
	Service string
	E       *adminv1.AuditEntry
}

// audit serves GET /audit: the most recent audit entries of every service
// (or one), newest first, for an instance or all.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter := struct{ Instance, Service, Code, Since string }{Instance: strings.TrimSpace(q.Get("instance")), Service: q.Get("service"),
		Code: strings.TrimSpace(q.Get("code")), Since: q.Get("since")}
	window := auditWindows[1]
	for _, w := range auditWindows {
		if w.Value == filter.Since {
			window = w
		}
	}
	filter.Since = window.Value
	services := opsclient.Services
	if slices.Contains(opsclient.Services, filter.Service) {
		services = []string{filter.Service}
	} else {
		filter.Service = ""
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	limit := h.pageSize
	start := timestamppb.New(h.now().Add(-window.D))
	var rows []auditRow
	var problems []string
	for _, svc := range services {
		// The log pages oldest first: read the window's pages and keep the
		// last entries.
		var kept []*adminv1.AuditEntry
		token := ""
		for range maxPages {
			resp, err := h.ops.ListAudit(ctx, svc, &adminv1.ListAuditEntriesRequest{InstanceId: filter.Instance, StartTime: start,
				Code: filter.Code, PageSize: 1000, PageToken: token})
			if err != nil {
				problems = append(problems, "The "+svc+" service's audit log could not be read: "+describe(err))
				break
			}
			kept = append(kept, resp.GetEntries()...)
			if len(kept) > limit {
				kept = kept[len(kept)-limit:]
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if token != "" {
			problems = append(problems, "The "+svc+" service's audit log has too many entries in this window to find its latest: choose a shorter one.")
		}
		for _, e := range kept {
			rows = append(rows, auditRow{svc, e})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].E.GetTime().AsTime(), rows[j].E.GetTime().AsTime()
		if a.Equal(b) {
			return rows[i].Service == rows[j].Service && rows[i].E.GetSeq() > rows[j].E.GetSeq()
		}
		return a.After(b)
	})
	if len(rows) > limit {
		rows = rows[:limit]
	}
	instances, _ := h.allInstances(ctx) // for the filter's choices only
	h.render(w, r, http.StatusOK, "audit", "Audit log", "audit", struct {
		Filter    any
		Windows   any
		Services  []string
		Instances []*adminv1.Resource
		Rows      []auditRow
		Limit     int
	}{filter, auditWindows, opsclient.Services, instances, rows, limit}, problems...)
}
