package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

// fakeOps is a deployment in memory; it records what the console asked.
type fakeOps struct {
	mu        sync.Mutex
	resources []*adminv1.Resource // every type
	health    map[string]*tenantv1.InstanceHealth
	healthErr error
	drift     map[string]*apsv1.DriftReport
	driftErr  error
	jobs      []opsclient.Job
	jobsErr   error
	audit     map[string][]*adminv1.AuditEntry // by service, oldest first
	auditPage int                              // entries per audit page (default all)
	actionErr error

	healthCalls []string
	jobsReqs    []*adminv1.ListJobsRequest
	jobsService []string
	auditReqs   []*adminv1.ListAuditEntriesRequest
	retried     []string
	cancelled   []string
}

func (f *fakeOps) ListResources(_ context.Context, req *adminv1.ListResourcesRequest) (*adminv1.ListResourcesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &adminv1.ListResourcesResponse{}
	for _, r := range f.resources {
		if r.GetType() == req.GetType() && (req.GetInstanceId() == "" || r.GetInstanceId() == req.GetInstanceId()) &&
			(req.GetTenantId() == "" || r.GetTenantId() == req.GetTenantId()) {
			out.Resources = append(out.Resources, r)
		}
	}
	return out, nil
}

func (f *fakeOps) GetResource(_ context.Context, req *adminv1.GetResourceRequest) (*adminv1.Resource, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.resources {
		if r.GetType() == req.GetType() && r.GetId() == req.GetId() && r.GetInstanceId() == req.GetInstanceId() {
			return r, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "No %s %s in instance %s.", req.GetType(), req.GetId(), req.GetInstanceId())
}

func (f *fakeOps) InstanceHealth(_ context.Context, instanceID, appID string) (*tenantv1.InstanceHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healthCalls = append(f.healthCalls, instanceID+"/"+appID)
	if f.healthErr != nil {
		return nil, f.healthErr
	}
	return f.health[instanceID], nil
}

func (f *fakeOps) TenantDrift(_ context.Context, instanceID, tenantID string) (*apsv1.DriftReport, error) {
	if f.driftErr != nil {
		return nil, f.driftErr
	}
	return f.drift[instanceID+"/"+tenantID], nil
}

func (f *fakeOps) ListJobs(_ context.Context, service string, req *adminv1.ListJobsRequest) ([]opsclient.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobsReqs = append(f.jobsReqs, req)
	f.jobsService = append(f.jobsService, service)
	var out []opsclient.Job
	for _, j := range f.jobs {
		if service != "" && j.Service != service {
			continue
		}
		if len(req.GetStates()) > 0 && !contains(req.GetStates(), j.GetState()) {
			continue
		}
		out = append(out, j)
	}
	return out, f.jobsErr
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (f *fakeOps) find(service string, id int64) *adminv1.Job {
	for _, j := range f.jobs {
		if j.Service == service && j.GetId() == id {
			return j.Job
		}
	}
	return nil
}

func (f *fakeOps) GetJob(_ context.Context, service string, id int64, _ string) (*adminv1.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if j := f.find(service, id); j != nil {
		return j, nil
	}
	return nil, status.Errorf(codes.NotFound, "No job %d in this service.", id)
}

func (f *fakeOps) RetryJob(_ context.Context, service string, id int64, instanceID string) (*adminv1.Job, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.actionErr != nil {
		return nil, "", f.actionErr
	}
	f.retried = append(f.retried, service+"/"+itoa(id)+"@"+instanceID)
	return f.find(service, id), "A new attempt of the tenant's provision runs as a new job.", nil
}

func (f *fakeOps) CancelJob(_ context.Context, service string, id int64, instanceID string) (*adminv1.Job, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.actionErr != nil {
		return nil, "", f.actionErr
	}
	f.cancelled = append(f.cancelled, service+"/"+itoa(id)+"@"+instanceID)
	return f.find(service, id), "The tenant's provision failed with the reason Cancelled.", nil
}

func (f *fakeOps) ListAudit(_ context.Context, service string, req *adminv1.ListAuditEntriesRequest) (*adminv1.ListAuditEntriesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auditReqs = append(f.auditReqs, req)
	var all []*adminv1.AuditEntry
	for _, e := range f.audit[service] {
		if req.GetInstanceId() == "" || e.GetInstanceId() == req.GetInstanceId() {
			all = append(all, e)
		}
	}
	size := f.auditPage
	if size <= 0 {
		size = len(all)
	}
	start := 0
	if req.GetPageToken() != "" {
		start = atoi(req.GetPageToken())
	}
	end := min(start+size, len(all))
	out := &adminv1.ListAuditEntriesResponse{Entries: all[start:end]}
	if end < len(all) {
		out.NextPageToken = itoa(int64(end))
	}
	return out, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// browser sends requests to a handler as a browser would, keeping cookies.
type browser struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]*http.Cookie
	header  http.Header // added to every request
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	return &browser{t: t, h: h, cookies: map[string]*http.Cookie{}, header: http.Header{}}
}

func (b *browser) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	b.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return rec
}

func (b *browser) get(target string) *httptest.ResponseRecorder { return b.do("GET", target, nil) }

// post submits a form with the page's CSRF token.
func (b *browser) post(target string, form url.Values) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	if c := b.cookies[csrfCookie]; c != nil && form.Get("csrf") == "" {
		form.Set("csrf", c.Value)
	}
	return b.do("POST", target, form)
}

var hiddenCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken is the CSRF token a page's forms carry.
func formToken(t *testing.T, body string) string {
	t.Helper()
	m := hiddenCSRF.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}
