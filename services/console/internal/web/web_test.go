package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

const (
	inst   = "3f1c6a52-0d7e-4b8e-9a51-000000000001"
	tenant = "7d2e9b10-55aa-4c3b-8f00-00000000000a"
)

func before(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(time.Now().Add(-d)) }

func props(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// deployment is a small deployment: one instance with a tenant that has a
// subscription, a user and a drift item; a failed provisioning, a pending
// configuration and a done job.
func deployment(t *testing.T) *fakeOps {
	return &fakeOps{
		resources: []*adminv1.Resource{
			{Type: "instance", Id: inst, InstanceId: inst, Name: "app-1", State: "expiring",
				Details: props(t, map[string]any{"cloud": "global", "credential": "client_secret", "health_checked_at": "2026-12-01T10:00:00Z", "tenants_at_risk": 1})},
			{Type: "instance", Id: "never-checked", InstanceId: "never-checked", Name: "app-2",
				Details: props(t, map[string]any{"cloud": "china", "credential": "refresh_token"})},
			{Type: "tenant", Id: tenant, InstanceId: inst, Name: "contoso.onmicrosoft.com", State: "active", MsId: "ms-cust-1",
				Details: props(t, map[string]any{"company": "Contoso Ltd", "drift_items": 1})},
			{Type: "subscription", Id: "sub-1", InstanceId: inst, TenantId: tenant, Name: "Microsoft 365 E3", State: "active", MsId: "ms-sub-1",
				Details: props(t, map[string]any{"quantity": 25})},
			{Type: "user", Id: "user-1", InstanceId: inst, TenantId: tenant, Name: "alice@contoso.com", State: "active"},
			{Type: "domain", Id: "dom-1", InstanceId: inst, TenantId: tenant, Name: "contoso.com", State: "verified"},
		},
		health: map[string]*tenantv1.InstanceHealth{inst: {CheckedAt: before(time.Hour),
			Credentials: &tenantv1.CredentialHealth{State: "expiring", Kind: "client_secret", ExpiresAt: timestamppb.New(time.Now().Add(10 * 24 * time.Hour)),
				Message: "The client secret expires in 10 days: add a new one."},
			PartnerCenter: &tenantv1.ApiHealth{State: "ok"}, Graph: &tenantv1.ApiHealth{State: "ok"},
			TenantsAtRisk: []*tenantv1.TenantRisk{{Tenant: &apsv1.Link{Aps: &apsv1.Ref{Id: tenant}}, Problem: "GdapExpiring",
				Message: "The relationship ends in 20 days."}}}},
		drift: map[string]*apsv1.DriftReport{inst + "/" + tenant: {CheckedAt: before(time.Hour), Items: []*apsv1.DriftItem{{Kind: "subscription",
			Problem: "QuantityDiffers", MsId: "ms-sub-1", Repair: "push", Commerce: true, Message: "25 in the platform, 30 at Microsoft."}}}},
		jobs: []opsclient.Job{
			{Service: "tenant", Job: &adminv1.Job{Id: 7, Kind: "tenant.provision.v2", State: "failed", InstanceId: inst, Attempt: 1, MaxAttempts: 5,
				CreatedAt: before(2 * time.Minute), Resource: &adminv1.AuditResource{Type: "tenant", Id: tenant},
				LastError: "partnercenter: 400 Bad Request",
				Operation: &adminv1.ResourceOperation{Name: "provision", State: "failed", Attempt: 1, FailureReason: "InvalidCustomer",
					FailureMessage: "Microsoft refused the customer: the address is invalid.",
					Steps:          []*adminv1.OperationStep{{Name: "create", State: "refused", RequestId: "req-1"}}}}},
			{Service: "user", Job: &adminv1.Job{Id: 3, Kind: "user.configure.v2", State: "pending", InstanceId: inst, Attempt: 0, MaxAttempts: 5,
				CreatedAt: before(time.Minute), Resource: &adminv1.AuditResource{Type: "user", Id: "user-1"},
				Operation: &adminv1.ResourceOperation{Name: "configure", State: "running", Attempt: 1}}},
			{Service: "subscription", Job: &adminv1.Job{Id: 9, Kind: "subscription.provision.v2", State: "done", InstanceId: inst, Attempt: 1,
				MaxAttempts: 5, CreatedAt: before(time.Hour)}},
		},
		audit: map[string][]*adminv1.AuditEntry{
			"tenant": {
				{Seq: 1, Time: before(3 * time.Hour), Service: "tenant", Kind: "call", InstanceId: inst, Caller: &adminv1.AuditCaller{Identity: "spiffe://o365gw.local/facade"},
					Operation: &adminv1.AuditOperation{Method: "/o365.tenant.v1.TenantService/ProvisionTenant"}, Outcome: &adminv1.AuditOutcome{Code: "OK"}},
				{Seq: 2, Time: before(time.Hour), Service: "tenant", Kind: "job", InstanceId: inst, Caller: &adminv1.AuditCaller{Identity: "spiffe://o365gw.local/tenant"},
					Operation: &adminv1.AuditOperation{Method: "tenant.provision.v2"}, Outcome: &adminv1.AuditOutcome{Code: "InvalidArgument", Reason: "InvalidCustomer"}},
			},
			"user": {
				{Seq: 1, Time: before(2 * time.Hour), Service: "user", Kind: "call", InstanceId: "other", Caller: &adminv1.AuditCaller{Identity: "spiffe://o365gw.local/facade"},
					Operation: &adminv1.AuditOperation{Method: "/o365.user.v1.UserService/ProvisionUser"}, Outcome: &adminv1.AuditOutcome{Code: "OK"}},
			},
		},
	}
}

func newHandler(t *testing.T, ops Ops, access Access) (*Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	h, err := New(Options{Ops: ops, Access: access, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return h, &logs
}

func open(t *testing.T, ops Ops) *browser {
	h, _ := newHandler(t, ops, Access{None: true})
	return newBrowser(t, h)
}

func want(t *testing.T, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Errorf("the page lacks %q", p)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
}

func TestJobsPageShowsWhatNeedsAttentionWithTheReasons(t *testing.T) {
	ops := deployment(t)
	b := open(t, ops)
	rec := b.get("/jobs")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /jobs: %d\n%s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if got := ops.jobsReqs[0].GetStates(); strings.Join(got, ",") != "failed,running,pending" {
		t.Errorf("the default filter asked for %v", got)
	}
	want(t, body, `data-job="tenant/7"`, "InvalidCustomer: Microsoft refused the customer: the address is invalid.",
		`action="/jobs/tenant/7/retry"`, `name="instance" value="`+inst+`"`, `href="/instances/`+inst+`/tenants/`+tenant+`"`, "user/3",
		`href="/jobs/user/3?instance=`+inst+`#cancel"`)
	if strings.Contains(body, "subscription/9") {
		t.Error("a done job is listed among those that need attention")
	}
	// Only the failed job has a retry, only the pending one a cancel.
	if strings.Count(body, `class="retry"`) != 1 || strings.Count(body, "Cancel…") != 1 {
		t.Errorf("actions: %d retry, %d cancel", strings.Count(body, `class="retry"`), strings.Count(body, "Cancel…"))
	}

	rec = b.get("/jobs?state=all&service=subscription&instance=" + inst)
	if n := len(ops.jobsReqs); ops.jobsService[n-1] != "subscription" || ops.jobsReqs[n-1].GetInstanceId() != inst || len(ops.jobsReqs[n-1].GetStates()) != 0 {
		t.Errorf("the filter was not passed on: %s %v", ops.jobsService[n-1], ops.jobsReqs[n-1])
	}
	want(t, rec.Body.String(), "subscription/9", `<option selected>subscription</option>`)
}

func TestRetryFromTheJobsPage(t *testing.T) {
	ops := deployment(t)
	b := open(t, ops)
	page := b.get("/jobs?state=failed").Body.String()
	rec := b.post("/jobs/tenant/7/retry", url.Values{"csrf": {formToken(t, page)}, "instance": {inst}, "back": {"/jobs?state=failed"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/jobs?state=failed" {
		t.Fatalf("retry: %d %s\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if len(ops.retried) != 1 || ops.retried[0] != "tenant/7@"+inst {
		t.Fatalf("retried %v", ops.retried)
	}
	// The page it returns to says what was done, once.
	body := b.get("/jobs?state=failed").Body.String()
	want(t, body, `id="flash"`, "Job tenant/7 retried. A new attempt of the tenant&#39;s provision runs as a new job.")
	if strings.Contains(b.get("/jobs?state=failed").Body.String(), `id="flash"`) {
		t.Error("the message is shown again")
	}

	// A form that names another instance than the job's acts on nothing.
	b.post("/jobs/tenant/7/retry", url.Values{"instance": {"another"}})
	if len(ops.retried) != 1 {
		t.Fatalf("retried %v", ops.retried)
	}
	want(t, b.get("/jobs").Body.String(), "Job tenant/7 was not retried: the job is not of instance another")

	// A refusal is shown with the gateway's reason, and a "back" elsewhere
	// is not followed.
	ops.actionErr = status.Error(codes.FailedPrecondition, "Job 7 is running: only a failed job is retried.")
	rec = b.post("/jobs/tenant/7/retry", url.Values{"back": {"https://evil.example/"}})
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/jobs/tenant/7" {
		t.Fatalf("a refused retry: %d %s", rec.Code, loc)
	}
	want(t, b.get("/jobs/tenant/7").Body.String(), "Job tenant/7 was not retried:", "only a failed job is retried")
}

func TestStateChangesNeedTheFormsTokenAndTheSameOrigin(t *testing.T) {
	ops := deployment(t)
	b := open(t, ops)
	page := b.get("/jobs").Body.String()
	token := formToken(t, page)
	for name, tc := range map[string]struct {
		form   url.Values
		header http.Header
	}{
		"no token":         {url.Values{}, nil},
		"another token":    {url.Values{"csrf": {strings.Repeat("A", 43)}}, nil},
		"cross-site":       {url.Values{"csrf": {token}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		"a foreign origin": {url.Values{"csrf": {token}}, http.Header{"Origin": {"https://evil.example"}}},
	} {
		b.header = tc.header
		if tc.form.Get("csrf") == "" {
			tc.form.Set("csrf", "")
		}
		rec := b.do("POST", "/jobs/tenant/7/retry", tc.form)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: %d", name, rec.Code)
		}
	}
	b.header = http.Header{"Sec-Fetch-Site": {"same-origin"}}
	if rec := b.post("/jobs/user/3/cancel", url.Values{"csrf": {token}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("a same-origin cancel: %d %s", rec.Code, rec.Body)
	}
	if len(ops.retried) != 0 || len(ops.cancelled) != 1 || ops.cancelled[0] != "user/3@"+inst {
		t.Fatalf("retried %v, cancelled %v", ops.retried, ops.cancelled)
	}
	// GET never changes anything.
	if rec := b.get("/jobs/tenant/7/retry"); rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET of an action: %d", rec.Code)
	}
	if rec := b.do("PUT", "/jobs/tenant/7/retry", url.Values{}); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d", rec.Code)
	}
	if len(ops.retried) != 0 {
		t.Fatal("a retry without a POST")
	}
}

func TestJobPage(t *testing.T) {
	ops := deployment(t)
	b := open(t, ops)
	rec := b.get("/jobs/tenant/7")
	want(t, rec.Body.String(), "tenant.provision.v2", "InvalidCustomer", "MS-RequestId <code>req-1</code>", `action="/jobs/tenant/7/retry"`)
	if strings.Contains(rec.Body.String(), "Cancel this job") {
		t.Error("a failed job offers a cancel")
	}
	want(t, b.get("/jobs/user/3").Body.String(), "Cancel this job", `action="/jobs/user/3/cancel"`, "fails with the reason Cancelled")
	for path, code := range map[string]int{"/jobs/tenant/99": 404, "/jobs/facade/1": 404, "/jobs/tenant/x": 404} {
		if rec := b.get(path); rec.Code != code {
			t.Errorf("%s: %d, want %d", path, rec.Code, code)
		}
	}
	// A failed job whose operation was retried since offers no retry.
	ops.jobs[0].Operation.State, ops.jobs[0].Operation.Attempt = "running", 2
	body := b.get("/jobs?state=failed").Body.String()
	want(t, body, "since retried: the tenant provision is running (attempt 2)")
	if strings.Contains(body, `class="retry"`) {
		t.Error("a retried job still offers a retry")
	}
}

func TestInstancesPageShowsCredentialHealth(t *testing.T) {
	ops := deployment(t)
	b := open(t, ops)
	rec := b.get("/instances")
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	want(t, rec.Body.String(), `href="/instances/`+inst+`"`, "client_secret", `class="st warn">expiring`, "days from now",
		"The client secret expires in 10 days", "never-checked", "not checked yet", "refresh_token")
	// The listing never makes the tenant service check an instance at Microsoft.
	if len(ops.healthCalls) != 1 || ops.healthCalls[0] != inst+"/app-1" {
		t.Errorf("health asked for %v", ops.healthCalls)
	}
	if rec := open(t, &fakeOps{}).get("/"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/instances" {
		t.Errorf("/: %d %s", rec.Code, rec.Header().Get("Location"))
	}
}

func TestInstancePageShowsHealthAndTenants(t *testing.T) {
	ops := deployment(t)
	b := open(t, ops)
	body := b.get("/instances/" + inst).Body.String()
	want(t, body, "Tenants at risk", "GdapExpiring", "The relationship ends in 20 days.", `data-tenant="`+tenant+`"`,
		"contoso.onmicrosoft.com", "Contoso Ltd", "Partner Center", `href="/audit?instance=`+inst+`"`)
	if rec := b.get("/instances/nope"); rec.Code != http.StatusNotFound {
		t.Errorf("an unknown instance: %d", rec.Code)
	}
	// A health that cannot be read leaves the rest of the page.
	ops.healthErr = status.Error(codes.Unavailable, "connection refused")
	rec := b.get("/instances/" + inst)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d", rec.Code)
	}
	want(t, rec.Body.String(), "The instance&#39;s health could not be read: Unavailable: connection refused", "contoso.onmicrosoft.com")
}

func TestTenantPage(t *testing.T) {
	ops := deployment(t)
	b := open(t, ops)
	rec := b.get("/instances/" + inst + "/tenants/" + tenant)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	want(t, rec.Body.String(), "Microsoft 365 E3", "quantity: 25", "alice@contoso.com", "contoso.com", "QuantityDiffers",
		"25 in the platform, 30 at Microsoft.", `data-job="tenant/7"`)
	if n := len(ops.jobsReqs); ops.jobsReqs[n-1].GetTenantId() != tenant || ops.jobsReqs[n-1].GetInstanceId() != inst {
		t.Errorf("the tenant's jobs were asked as %v", ops.jobsReqs[n-1])
	}
	ops.driftErr = status.Error(codes.Internal, "boom")
	want(t, b.get("/instances/"+inst+"/tenants/"+tenant).Body.String(), "Internal: boom", "alice@contoso.com")
	if rec := b.get("/instances/" + inst + "/tenants/nope"); rec.Code != http.StatusNotFound {
		t.Errorf("an unknown tenant: %d", rec.Code)
	}
}

func TestAuditPageShowsTheLatestEntriesFirst(t *testing.T) {
	ops := deployment(t)
	ops.auditPage = 1 // every entry on a page of its own
	b := open(t, ops)
	body := b.get("/audit").Body.String()
	first := strings.Index(body, "tenant.provision.v2")
	second := strings.Index(body, "/o365.user.v1.UserService/ProvisionUser")
	third := strings.Index(body, "/o365.tenant.v1.TenantService/ProvisionTenant")
	if first < 0 || second < 0 || third < 0 || !(first < second && second < third) {
		t.Fatalf("the entries are not newest first (%d %d %d):\n%s", first, second, third, body)
	}
	want(t, body, "InvalidCustomer", "spiffe://o365gw.local/facade", `<option value="`+inst+`">`)
	if req := ops.auditReqs[0]; req.GetStartTime() == nil || time.Since(req.GetStartTime().AsTime()) < 23*time.Hour {
		t.Errorf("the default window: %v", req.GetStartTime())
	}

	ops.auditReqs = nil
	body = b.get("/audit?instance=" + inst + "&since=1h&service=tenant").Body.String()
	if strings.Contains(body, "ProvisionUser") {
		t.Error("the instance filter was not applied")
	}
	for _, req := range ops.auditReqs {
		if req.GetInstanceId() != inst || time.Since(req.GetStartTime().AsTime()) > 2*time.Hour {
			t.Errorf("request %v", req)
		}
	}
	want(t, body, `<option value="`+inst+`" selected>`)
}

func TestPagesAreLockedDown(t *testing.T) {
	b := open(t, deployment(t))
	rec := b.get("/jobs")
	h := rec.Header()
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", h)
	}
	// The inline stylesheet is the one the policy allows by its hash.
	body := rec.Body.String()
	start, end := strings.Index(body, "<style>")+len("<style>"), strings.Index(body, "</style>")
	sum := sha256.Sum256([]byte(body[start:end]))
	if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
		t.Fatalf("the stylesheet's hash is not in %q", csp)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, " style=") {
		t.Error("the page has a script or an inline style attribute")
	}
	var csrf *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == csrfCookie {
			csrf = c
		}
	}
	if csrf == nil || !csrf.HttpOnly || !csrf.Secure || csrf.SameSite != http.SameSiteStrictMode || csrf.Path != "/" {
		t.Fatalf("the CSRF cookie: %+v", csrf)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/jobs?state=failed": "/jobs?state=failed", "": "/d", "jobs": "/d", "//evil.example/x": "/d", "/\\evil": "/d",
		"https://evil.example/": "/d", "/a\r\nSet-Cookie: x": "/d",
	} {
		if got := localPath(in, "/d"); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	err := status.Error(codes.FailedPrecondition, "Job 7 is done.")
	if got := describe(err); got != "FailedPrecondition: Job 7 is done." {
		t.Errorf("%q", got)
	}
	gw, _ := status.New(codes.FailedPrecondition, "Job 7 is done.").WithDetails(&errdetails.ErrorInfo{Domain: apierr.ErrorDomain, Reason: "Conflict"})
	if got := describe(gw.Err()); got != "Conflict: Job 7 is done." {
		t.Errorf("%q", got)
	}
	joined := describe(errors.Join(fmt.Errorf("tenant: %w", status.Error(codes.Unavailable, "down")), fmt.Errorf("user: %w", status.Error(codes.NotFound, "gone"))))
	if !strings.HasPrefix(joined, "tenant: ") || !strings.Contains(joined, "; user: ") || strings.Contains(joined, "rpc error") {
		t.Errorf("%q", joined)
	}
}
