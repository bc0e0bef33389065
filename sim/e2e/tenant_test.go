package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"github.com/o365gateway/gateway/sim/devstack"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
)

func TestTenantLifecycle(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	sub := subdomain()

	r, err := e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/domainAvailability", url.Values{"subdomain": {sub}}, nil)
	if err != nil || r.Status != 200 || mustJSON(t, r)["available"] != true || mustJSON(t, r)["domain"] != sub+".onmicrosoft.com" {
		t.Fatalf("domainAvailability: %v %d %s", err, r.Status, r.Body)
	}

	body := tenantBody(sub)
	r, err = e.ctrl.Provision(e.ctx, inst, "tenants", body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || len(r.Trace) < 2 || r.Trace[0].Status != 202 || r.Trace[0].Info == "" || r.Trace[0].RetryTimeout != "1" {
		t.Fatalf("provision: %d (%s) %s", r.Status, phases(r), r.Body)
	}
	got := mustJSON(t, r)
	if got["ms_customer_id"] == nil || got["domain_name"] != sub+".onmicrosoft.com" || got["admin_login"] == nil ||
		got["admin_password"] == nil || got["state"] != "active" {
		t.Fatalf("tenant: %s", r.Body)
	}
	cs := e.customers()
	if len(cs) != 1 || cs[0].ID != got["ms_customer_id"] || cs[0].Domain != sub+".onmicrosoft.com" {
		t.Fatalf("simulator customers %+v", cs)
	}

	// APSC re-sends the same provision: the same tenant, nothing new at Microsoft.
	body["aps"] = map[string]any{"id": r.ResourceID, "type": "http://o365gateway.org/aps/tenant/1.0"}
	again, err := e.ctrl.Raw(e.ctx, inst, "POST", "/tenants", nil, mustMarshal(body),
		apsc.WithHeader("APS-Request-Phase", "sync"))
	if err != nil || again.Status != 200 || mustJSON(t, again)["ms_customer_id"] != got["ms_customer_id"] {
		t.Fatalf("re-send: %v %d %s", err, again.Status, again.Body)
	}
	if n := len(e.customers()); n != 1 {
		t.Fatalf("%d customers after re-send", n)
	}

	id := r.ResourceID
	r, err = e.ctrl.Retrieve(e.ctx, inst, "tenants", id)
	if err != nil || r.Status != 200 || mustJSON(t, r)["state"] != "active" || mustJSON(t, r)["admin_password"] != nil {
		t.Fatalf("retrieve: %v %d %s", err, r.Status, r.Body)
	}

	// Configure: the company name changes at Microsoft through a job.
	body["company"].(map[string]any)["name"] = "Contoso Renamed"
	r, err = e.ctrl.Configure(e.ctx, inst, "tenants", id, body)
	if err != nil || r.Status != 200 || mustJSON(t, r)["company"].(map[string]any)["name"] != "Contoso Renamed" {
		t.Fatalf("configure: %v %d (%s) %s", err, r.Status, phases(r), r.Body)
	}

	// Trailing slash and a non-UUID id.
	r, _ = e.ctrl.Raw(e.ctx, inst, "GET", "/tenants/"+id+"/", nil, nil)
	if r.Status != 200 {
		t.Fatalf("trailing slash: %d", r.Status)
	}
	r, err = e.ctrl.Raw(e.ctx, inst, "GET", "/tenants/12345", nil, nil)
	wantError(t, r, err, 400, "InvalidRequest")

	r, err = e.ctrl.Unprovision(e.ctx, inst, "tenants", id)
	if err != nil || r.Status != 204 || r.Trace[0].Status != 202 {
		t.Fatalf("unprovision: %v %d (%s)", err, r.Status, phases(r))
	}
	if n := len(e.customers()); n != 0 {
		t.Fatalf("sandbox customer not deleted: %d left", n)
	}
	r, err = e.ctrl.Unprovision(e.ctx, inst, "tenants", id)
	if err != nil || r.Status != 204 {
		t.Fatalf("unprovision of an unknown id: %v %d", err, r.Status)
	}

	// The facade's own endpoints. Metrics are served on the admin
	// listener only, never on the APS listener.
	for path, want := range map[string]string{"/healthz": `"ok"`, "/openapi.json": `"/tenants/{id}"`} {
		body := facadeGet(t, e, path)
		if !strings.Contains(body, want) {
			t.Errorf("%s lacks %s", path, want)
		}
	}
	pool, err := e.stack.FacadeCAPool()
	if err != nil {
		t.Fatal(err)
	}
	public := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := public.Get(e.stack.FacadeBaseURL + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("the APS listener answers /metrics: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, name := range []string{devstack.Facade, devstack.Tenant} {
		for path, want := range map[string]string{"/metrics": "jobs_", "/healthz": "ok", "/readyz": "ready"} {
			if name == devstack.Facade && path == "/metrics" {
				want = "aps_request_duration_seconds"
			}
			resp, err := http.Get("http://" + e.stack.AdminAddr[name] + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
				t.Errorf("%s admin %s: %d, lacks %s", name, path, resp.StatusCode, want)
			}
		}
	}
}

func facadeGet(t *testing.T, e *env, path string) string {
	t.Helper()
	pool, err := e.stack.FacadeCAPool()
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(e.stack.FacadeBaseURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d", path, resp.StatusCode)
	}
	return string(b)
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestTenantDataReadFromTheAccount(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	account := e.ctrl.AddResource("http://parallels.com/aps/types/pa/account/1.2", apsc.DemoAccount("Fabrikam Inc"))
	body := map[string]any{"initial_subdomain": subdomain(), "account": map[string]any{"aps": map[string]any{"id": account}}}
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", body)
	if err != nil || r.Status != 200 {
		t.Fatalf("%v %d %s", err, r.Status, r.Body)
	}
	got := mustJSON(t, r)
	if got["company"].(map[string]any)["name"] != "Fabrikam Inc" || got["address"].(map[string]any)["city"] != "Redmond" {
		t.Fatalf("account data not used: %s", r.Body)
	}
	read := false
	for _, req := range e.ctrl.Requests() {
		if strings.HasSuffix(req.Path, "/aps/2/resources/"+account) && req.TransactionID() != "" {
			read = true
		}
	}
	if !read {
		t.Fatal("the account was not read through the controller with the transaction id")
	}
}

func TestRefusals(t *testing.T) {
	e := start(t, "US", "CA", "DE") // the partner may not sell in GB
	inst := e.install(map[string]any{"sales_countries": []any{"US", "GB"}})
	taken := tenantBody(subdomain())
	if r, err := e.ctrl.Provision(e.ctx, inst, "tenants", taken); err != nil || r.Status != 200 {
		t.Fatalf("%v %d %s", err, r.Status, r.Body)
	}

	de := tenantBody(subdomain())
	de["address"] = map[string]any{"first_name": "Hans", "last_name": "Meier", "address_line1": "Unter den Linden 1",
		"city": "Berlin", "postal_code": "10117", "country": "DE", "phone_number": "301234567"}
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", de)
	wantError(t, r, err, 400, "CustomerCountryNotSupported")
	if msg := r.APSError().Message; msg != "Customer Country is currently not Supported" {
		t.Fatalf("message %q", msg)
	}

	gb := tenantBody(subdomain())
	gb["company"].(map[string]any)["culture"] = "en-GB"
	gb["address"] = map[string]any{"first_name": "Ann", "last_name": "Smith", "address_line1": "10 Downing Street",
		"city": "London", "postal_code": "SW1A 2AA", "country": "GB", "phone_number": "2071234567"}
	r, err = e.ctrl.Provision(e.ctx, inst, "tenants", gb)
	wantError(t, r, err, 500, "CustomerCountryNotSupported")
	if r.Trace[0].Status != 202 {
		t.Fatalf("Microsoft's refusal should come after a 202: %s", phases(r))
	}

	dup := tenantBody(taken["initial_subdomain"].(string))
	r, err = e.ctrl.Provision(e.ctx, inst, "tenants", dup)
	wantError(t, r, err, 409, "DomainAlreadyTaken")

	bad := tenantBody(subdomain())
	bad["address"].(map[string]any)["postal_code"] = "9805"
	r, err = e.ctrl.Provision(e.ctx, inst, "tenants", bad)
	wantError(t, r, err, 400, "InvalidAddress")

	if n := len(e.customers()); n != 1 {
		t.Fatalf("%d customers at Microsoft, want only the first", n)
	}
}

func TestCertificatesAndCloud(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	path := "/app/" + inst.AppID
	r, err := e.ctrl.Retrieve(e.ctx, inst, "app", inst.AppID, apsc.WithoutClientCert())
	wantError(t, r, err, 401, "Unauthenticated")
	other, err := e.ctrl.IssueClientCert("another controller")
	if err != nil {
		t.Fatal(err)
	}
	r, err = e.ctrl.Raw(e.ctx, inst, "GET", path, nil, nil, apsc.WithClientCert(other))
	wantError(t, r, err, 403, "Forbidden")
	r, err = e.ctrl.Raw(e.ctx, inst, "GET", path, nil, nil, apsc.WithHeader("APS-Instance-ID", "00000000-0000-4000-8000-000000000000"))
	wantError(t, r, err, 404, "UnknownInstance")
	r, err = e.ctrl.Raw(e.ctx, inst, "GET", path, nil, nil, apsc.WithoutHeader("APS-Controller-URI"))
	wantError(t, r, err, 400, "InvalidRequest")
	r, err = e.ctrl.Raw(e.ctx, inst, "GET", path, nil, nil)
	if err != nil || r.Status != 200 || mustJSON(t, r)["client_secret"] != nil || mustJSON(t, r)["partner_tenant_id"] != e.partner.TenantID {
		t.Fatalf("%v %d %s", err, r.Status, r.Body)
	}

	settings := apsc.DemoSettings(e.partner)
	settings["cloud"] = "china"
	china, err := e.ctrl.Install(e.ctx, settings)
	if china == nil || china.Result == nil {
		t.Fatalf("install: %v", err)
	}
	wantError(t, china.Result, nil, 400, "WrongCloud")
}

func TestErrorAfterCommitOnCustomerCreation(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers",
		"mode": "error_after_commit", "status": 500, "count": 1}, nil)
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", tenantBody(subdomain()))
	if err != nil || r.Status != 200 || mustJSON(t, r)["state"] != "active" {
		t.Fatalf("%v %d %s", err, r.Status, r.Body)
	}
	if cs := e.customers(); len(cs) != 1 || cs[0].ID != mustJSON(t, r)["ms_customer_id"] {
		t.Fatalf("customers %+v", cs)
	}
}

// TestTenantServiceKilledMidJob kills the tenant service with SIGKILL while
// Microsoft has created the customer but keeps failing the answer, restarts
// it, and checks that the job resumes, reads the customer back by domain and
// never creates a second one.
func TestTenantServiceKilledMidJob(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	e.admin("POST", "/_sim/settings", map[string]any{"request_id_replay": false}, nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers",
		"mode": "error_after_commit", "status": 503, "count": 0}, nil)
	body := tenantBody(subdomain())
	body["aps"] = map[string]any{"id": "7a1e0c52-1111-4000-8000-00000000abcd"}
	r, err := e.ctrl.Raw(e.ctx, inst, "POST", "/tenants", nil, mustMarshal(withType(body)), apsc.WithHeader("APS-Request-Phase", "sync"))
	if err != nil || r.Status != 202 {
		t.Fatalf("%v %d %s", err, r.Status, r.Body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(e.customers()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the customer was never created")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.stack.Kill("tenant"); err != nil {
		t.Fatal(err)
	}
	e.admin("DELETE", "/_sim/faults", nil, nil)
	if err := e.stack.Restart(e.ctx, "tenant"); err != nil {
		t.Fatal(err)
	}
	for {
		r, err = e.ctrl.Raw(e.ctx, inst, "POST", "/tenants", nil, mustMarshal(withType(body)), apsc.WithHeader("APS-Request-Phase", "async"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 202 {
			break
		}
		if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Fatal("the job did not resume after the restart")
		}
		time.Sleep(300 * time.Millisecond)
	}
	got := mustJSON(t, r)
	cs := e.customers()
	if r.Status != 200 || got["state"] != "active" || len(cs) != 1 || cs[0].ID != got["ms_customer_id"] {
		t.Fatalf("after restart: %d %s; customers %+v", r.Status, r.Body, cs)
	}
}

func withType(m map[string]any) map[string]any {
	aps, _ := m["aps"].(map[string]any)
	aps["type"] = "http://o365gateway.org/aps/tenant/1.0"
	return m
}

// TestOneTraceAndNoSecrets checks that one trace covers the facade, the
// tenant service and the Microsoft calls, and that no secret reaches logs or
// traces.
func TestOneTraceAndNoSecrets(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", tenantBody(subdomain()))
	if err != nil || r.Status != 200 {
		t.Fatalf("%v %d", err, r.Status)
	}
	password, _ := mustJSON(t, r)["admin_password"].(string)
	// Spans are exported in batches (at most a fraction of a second late):
	// read until the trace is complete.
	var traceID string
	var grpcServer, msClient, jobSpan, create bool
	var tenantSpans []span
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		facadeSpans := readSpans(t, filepath.Join(e.stack.WorkDir, "traces-facade.jsonl"))
		tenantSpans = readSpans(t, filepath.Join(e.stack.WorkDir, "traces-tenant.jsonl"))
		traceID = ""
		for _, s := range facadeSpans {
			if s.Name == "POST /tenants" && s.Kind == 2 {
				traceID = s.TraceID
				break
			}
		}
		grpcServer, msClient, jobSpan, create = false, false, false, false
		for _, s := range tenantSpans {
			if traceID == "" || s.TraceID != traceID {
				continue
			}
			switch {
			case s.Name == "o365.tenant.v1.TenantService/ProvisionTenant" && s.Kind == 2:
				grpcServer = true
			case s.Kind == 3 && strings.Contains(s.Name, "HEAD"):
				msClient = true
			case strings.HasPrefix(s.Name, "job tenant.provision"):
				jobSpan = true
			case s.Kind == 3 && strings.Contains(s.Name, "POST"):
				create = true
			}
		}
		if traceID != "" && grpcServer && msClient && jobSpan && create || time.Now().After(deadline) {
			if traceID == "" {
				t.Fatalf("no facade server span for POST /tenants among %d spans", len(facadeSpans))
			}
			break
		}
	}
	if !grpcServer || !msClient || !jobSpan || !create {
		var names []string
		for _, s := range tenantSpans {
			names = append(names, fmt.Sprintf("%s(kind %d, trace %s)", s.Name, s.Kind, s.TraceID[:6]))
		}
		t.Fatalf("trace %s: grpc server %v, Microsoft call %v, job %v, customer creation %v; tenant spans: %s",
			traceID, grpcServer, msClient, jobSpan, create, strings.Join(names, ", "))
	}
	secrets := map[string]string{"client secret": e.partner.ClientSecret, "admin password": password,
		"instance key": keyLine(inst.KeyPEM)}
	for name, f := range map[string]string{"facade log": e.stack.LogFiles["facade"], "tenant log": e.stack.LogFiles["tenant"],
		"simulator log": e.stack.LogFiles["mscloud"], "facade traces": filepath.Join(e.stack.WorkDir, "traces-facade.jsonl"),
		"tenant traces": filepath.Join(e.stack.WorkDir, "traces-tenant.jsonl")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for what, s := range secrets {
			if s != "" && strings.Contains(string(b), s) {
				t.Errorf("the %s appears in the %s", what, name)
			}
		}
	}
}

func keyLine(pem []byte) string {
	lines := strings.Split(string(pem), "\n")
	if len(lines) > 2 {
		return lines[1]
	}
	return ""
}

type span struct {
	Name    string
	Kind    int
	TraceID string
}

func readSpans(t *testing.T, path string) []span {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []span
	dec := json.NewDecoder(bufio.NewReader(f))
	for {
		var raw struct {
			Name        string
			SpanKind    int
			SpanContext struct{ TraceID string }
		}
		if err := dec.Decode(&raw); err != nil {
			break
		}
		out = append(out, span{Name: raw.Name, Kind: raw.SpanKind, TraceID: raw.SpanContext.TraceID})
	}
	return out
}

func TestDemo(t *testing.T) {
	e := start(t)
	var out strings.Builder
	if err := apsc.RunDemo(e.ctx, apsc.DemoOptions{FacadeURL: e.stack.FacadeURL, SimURL: e.stack.SimURL, SimCAPEM: mustRead(t, e.stack.SimCAFile),
		CADir: e.stack.ControllerCADir, Out: &out, MaxRetryWait: 500 * time.Millisecond, Life: true}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
}

func mustRead(t *testing.T, f string) []byte {
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
