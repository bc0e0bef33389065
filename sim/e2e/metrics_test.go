package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/sim/devstack"
)

// The dashboard and the alerts of deploy/monitoring select only metrics the
// services really serve. After a run that touches every part the metrics
// describe (APS requests and refusals, jobs done and failed, Partner Center,
// Graph and Entra calls, a 429 with Retry-After, the rate budgets, a
// refresh-token redemption, the credential health), the live /metrics of
// every process are written to a directory, and the deploy module's
// TestMonitoringQueries checks every PromQL expression of the dashboard and
// the rules against them with Prometheus's own parser. It runs as a
// separate go test so that the parser (a large module) stays out of this
// module. The scrape must also carry no id and no secret of the run.
func TestMetricsCoverDashboardAndAlerts(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	tenantID, subID, domain := e.seats(inst, 2)

	// A 429 with Retry-After at Graph, ridden out by the client's retries.
	e.admin("POST", "/_sim/faults", map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users",
		"mode": "throttle", "retry_after_seconds": 1, "count": 1}, nil)
	r, err := e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "ann@"+domain, subID))
	if err != nil || r.Status != 200 {
		t.Fatalf("user after a 429: %v %d (%s) %s", err, r.Status, phases(r), r.Body)
	}
	userID := r.ResourceID
	if e.faultHits()["/v1.0/users"] == 0 {
		t.Fatal("the throttle fault never fired")
	}
	// A user Microsoft refuses: a job that fails for good.
	e.admin("POST", "/_sim/faults", map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users",
		"mode": "refuse", "status": 400, "count": 0}, nil)
	r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "bob@"+domain, ""))
	if err != nil || r.Status != 500 {
		t.Fatalf("refused user: want 500, got %v %d %s", err, r.Status, r.Body)
	}
	e.admin("DELETE", "/_sim/faults", nil, nil)
	// Reads (one of a tenant that does not exist) and the credential health.
	if r, _ := e.ctrl.Retrieve(e.ctx, inst, "tenants", tenantID); r == nil || r.Status != 200 {
		t.Fatalf("read the tenant: %v", r)
	}
	if r, _ := e.ctrl.Retrieve(e.ctx, inst, "tenants", uuid.NewString()); r == nil || r.Status != 404 {
		t.Fatalf("read an unknown tenant: %v", r)
	}
	r, err = e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/health", url.Values{"refresh": {"true"}}, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("health: %v %d %s", err, r.Status, r.Body)
	}
	// An app+user instance: its health check redeems the refresh token.
	appUser := e.install(map[string]any{"client_secret": "", "refresh_token": e.partner.RefreshToken})
	r, err = e.ctrl.Operation(e.ctx, appUser, "GET", "/app/"+appUser.AppID+"/health", url.Values{"refresh": {"true"}}, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("health of the app+user instance: %v %d %s", err, r.Status, r.Body)
	}

	dir := t.TempDir()
	scrapes := map[string]string{}
	for _, name := range []string{devstack.Facade, devstack.Tenant, devstack.Subscription, devstack.User} {
		body := scrape(t, e.stack.AdminAddr[name])
		scrapes[name] = body
		if err := os.WriteFile(filepath.Join(dir, name+".prom"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The Graph budget is named by kind, the Partner Center calls by path
	// template.
	for name, want := range map[string]string{devstack.User: `bucket="graph/writes"`,
		devstack.Tenant: `operation="POST /v1/customers/{id}/applicationconsents"`} {
		if !strings.Contains(scrapes[name], want) {
			t.Errorf("%s's metrics have no series with %s", name, want)
		}
	}

	// No label value carries an id or a secret of the run.
	forbidden := []string{e.partner.TenantID, e.partner.ClientID, inst.AppID, appUser.AppID, tenantID, subID, userID,
		domain, strings.TrimSuffix(domain, ".onmicrosoft.com")}
	for _, c := range e.customers() {
		forbidden = append(forbidden, c.ID)
	}
	for _, s := range testSecrets(e) {
		forbidden = append(forbidden, s.Value)
	}
	for name, body := range scrapes {
		for _, v := range labelValues(body) {
			for _, f := range forbidden {
				if f != "" && strings.Contains(v, f) {
					t.Errorf("%s's metrics carry %q in the label value %q", name, f, v)
				}
			}
		}
	}

	// The deploy module's check, against this scrape.
	// Its own deadline: the first run compiles the deploy module's tests.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestMonitoringQueries$", "-v", ".")
	cmd.Dir = filepath.Join("..", "..", "deploy")
	cmd.Env = append(os.Environ(), "O365GW_METRICS_SCRAPE="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the dashboard or the alerts use metrics the services do not serve:\n%s", out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "queries checked") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// scrape reads a process's /metrics from its admin listener.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d %v", addr, resp.StatusCode, err)
	}
	return string(body)
}

var labelValue = regexp.MustCompile(`="((?:[^"\\]|\\.)*)"`)

// labelValues are the label values of an exposition's samples.
func labelValues(exposition string) []string {
	var out []string
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, m := range labelValue.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	return out
}
