// Package e2e starts the gateway's binaries (simulator, tenant service,
// facade) and drives the facade the way the APS controller does, through
// sim/apsc. Set O365GW_BIN to a folder with prebuilt binaries (make test-e2e
// does); otherwise the test builds them.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

var binDir string

func TestMain(m *testing.M) {
	binDir = os.Getenv("O365GW_BIN")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "o365gw-bin")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		root, _ := filepath.Abs("../..")
		cmd := exec.Command("go", "build", "-o", dir+"/", "./services/tenant/cmd/tenant", "./services/subscription/cmd/subscription", "./services/user/cmd/user", "./services/facade/cmd/facade", "./services/allinone/cmd/allinone", "./sim/cmd/mscloud", "./services/shared/cmd/o365ctl",
			"./services/console/cmd/console")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the binaries failed:", err)
			os.Exit(1)
		}
		binDir = dir
	}
	os.Exit(m.Run())
}

// env is one running stack plus an APS controller and a registered partner.
type env struct {
	t       *testing.T
	ctx     context.Context
	stack   *devstack.Stack
	ctrl    *apsc.Controller
	sim     *apsc.SimClient
	partner *apsc.Partner
}

func start(t *testing.T, countries ...string) *env {
	t.Helper()
	return startWith(t, stackOpts{}, countries...)
}

// stackOpts change the stack a test starts.
type stackOpts struct {
	extra    map[string][]string // extra environment entries, by process
	replicas int                 // processes of each service (default 1)
	allInOne bool                // one process runs the services and the facade
}

// startWith starts a stack with opts.
func startWith(t *testing.T, opts stackOpts, countries ...string) *env {
	t.Helper()
	extra := opts.extra
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	// O365GW_DATABASE_URL (postgres://…) runs the stack on PostgreSQL, each
	// test in schemas of its own (make test-e2e-postgres).
	dbURL, prefix := os.Getenv("O365GW_DATABASE_URL"), ""
	if dbURL != "" {
		prefix = "e2e" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	}
	stack, err := devstack.Start(ctx, devstack.Options{BinDir: binDir, WorkDir: t.TempDir(), RetryTimeout: time.Second, LogLevel: "debug", TraceMaxPerSecond: -1,
		DatabaseURL: dbURL, SchemaPrefix: prefix, Replicas: opts.replicas, AllInOne: opts.allInOne,
		// A short job lease: a job whose process was killed is taken over by
		// the restarted process once the lease runs out.
		ExtraEnv: map[string][]string{"tenant": append([]string{"TENANT_JOB_POLL=100ms", "TENANT_JOB_LEASE=3s"}, extra["tenant"]...),
			"subscription": append([]string{"SUBSCRIPTION_USAGE_TTL=500ms", "SUBSCRIPTION_JOB_LEASE=3s"}, extra["subscription"]...),
			"user":         append([]string{"USER_JOB_LEASE=3s"}, extra["user"]...)}})
	if err != nil {
		t.Fatal(err)
	}
	// Runs after the stack stopped (cleanups run last first), when every
	// process has flushed its logs and traces.
	var e *env
	t.Cleanup(func() {
		if e != nil {
			scanForSecrets(t, e)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			for name, f := range stack.LogFiles {
				if b, err := os.ReadFile(f); err == nil {
					t.Logf("---- %s log (tail) ----\n%s", name, tail(string(b), 4000))
				}
			}
		}
		_ = stack.Stop()
	})
	ctrl, err := stack.NewController(apsc.Options{MaxRetryWait: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctrl.Close() })
	sim, err := stack.SimClient()
	if err != nil {
		t.Fatal(err)
	}
	if len(countries) == 0 {
		countries = []string{"US", "CA", "GB", "DE"}
	}
	p, err := sim.RegisterPartner(ctx, apsc.PartnerRequest{Name: "E2E CSP", Cloud: "global", Countries: countries, Sandbox: true})
	if err != nil {
		t.Fatal(err)
	}
	e = &env{t: t, ctx: ctx, stack: stack, ctrl: ctrl, sim: sim, partner: p}
	// Graph tokens of customer tenants need the application consent the
	// tenant service grants when it provisions a customer.
	e.admin("POST", "/_sim/settings", map[string]any{"require_app_consent": true}, nil)
	return e
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (e *env) install(override map[string]any) *apsc.Instance {
	e.t.Helper()
	settings := apsc.DemoSettings(e.partner)
	for k, v := range override {
		settings[k] = v
	}
	inst, err := e.ctrl.Install(e.ctx, settings)
	if err != nil {
		e.t.Fatalf("install: %v", err)
	}
	return inst
}

// admin calls the simulator's admin API.
func (e *env) admin(method, path string, body any, out any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(e.ctx, method, strings.TrimSuffix(e.stack.SimURL, "/")+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.sim.HTTP.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
}

type simCustomer struct {
	ID     string `json:"id"`
	Domain string `json:"domain"`
}

func (e *env) customers() []simCustomer {
	var st struct {
		Partners []struct {
			Customers []simCustomer `json:"customers"`
		} `json:"partners"`
	}
	e.admin("GET", "/_sim/state?partner="+e.partner.TenantID, nil, &st)
	if len(st.Partners) != 1 {
		e.t.Fatalf("simulator state has %d partners", len(st.Partners))
	}
	return st.Partners[0].Customers
}

func subdomain() string { return "e2e" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16] }

func tenantBody(sub string) map[string]any {
	return apsc.DemoTenant(sub, "Contoso Ltd", "")
}

func mustJSON(t *testing.T, r *apsc.Result) map[string]any {
	t.Helper()
	m, err := r.JSON()
	if err != nil {
		t.Fatalf("answer %d is not JSON: %s", r.Status, r.Body)
	}
	return m
}

func wantError(t *testing.T, r *apsc.Result, err error, status int, reason string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	e := r.APSError()
	if r.Status != status || e == nil || e.Type != reason || e.Reason != reason || e.Code != status || e.Message == "" {
		t.Fatalf("want %d %s, got %d %s", status, reason, r.Status, r.Body)
	}
}

func phases(r *apsc.Result) string {
	var parts []string
	for _, s := range r.Trace {
		parts = append(parts, fmt.Sprintf("%s:%d", s.Phase, s.Status))
	}
	return strings.Join(parts, " ")
}
