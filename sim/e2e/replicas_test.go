package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/sim/apsc"
)

// With two replicas of every service sharing the database, a batch of
// operations survives the SIGKILL of one replica of each service midway:
// every operation completes, exactly once at the simulator. (On PostgreSQL in
// make test-e2e-postgres; the SQLite pass runs it on one shared file.)
func TestReplicasSurviveKills(t *testing.T) {
	e := startWith(t, stackOpts{replicas: 2})
	inst := e.install(nil)
	// Every step takes a while at Microsoft, so that the kills land mid-step.
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers",
		"mode": "delay_commit", "delay_ms": 800, "count": 0}, nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users",
		"mode": "delay_commit", "delay_ms": 800, "count": 0}, nil)
	const n = 6
	type outcome struct {
		tenant, customer, sub, msSub, user, msUser, login string
		err                                               error
	}
	results := make([]outcome, n)
	var wg sync.WaitGroup
	started := make(chan struct{}, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &results[i]
			tb := withAPS(tenantBody(subdomain()), "tenants")
			started <- struct{}{}
			r, err := resend(e, inst, "POST", "/tenants", tb)
			if err != nil {
				o.err = fmt.Errorf("tenant: %w", err)
				return
			}
			m, _ := r.JSON()
			o.tenant, o.customer = apsID(tb), fmt.Sprint(m["ms_customer_id"])
			sb := withAPS(subscriptionBody(o.tenant, 3), "subscriptions")
			if r, err = resend(e, inst, "POST", "/subscriptions", sb); err != nil {
				o.err = fmt.Errorf("subscription: %w", err)
				return
			}
			m, _ = r.JSON()
			o.sub, o.msSub = apsID(sb), fmt.Sprint(m["ms_subscription_id"])
			o.login = "replica" + uuid.NewString()[:6] + "@" + tb["initial_subdomain"].(string) + ".onmicrosoft.com"
			ub := withAPS(userBody(o.tenant, o.login, o.sub), "users")
			if r, err = resend(e, inst, "POST", "/users", ub); err != nil {
				o.err = fmt.Errorf("user: %w", err)
				return
			}
			m, _ = r.JSON()
			o.user, o.msUser = apsID(ub), fmt.Sprint(m["ms_user_id"])
		}()
	}
	for range n {
		<-started
	}
	// One replica of each service dies while its service has work: the
	// tenants are being created first, then seats bought, then users made.
	for _, kill := range []struct {
		after time.Duration
		name  string
	}{{1500 * time.Millisecond, "tenant-2"}, {3 * time.Second, "subscription-2"}, {3 * time.Second, "user-2"}} {
		time.Sleep(kill.after)
		if err := e.stack.Kill(kill.name); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for _, name := range []string{"tenant", "tenant-2", "subscription", "subscription-2", "user", "user-2"} {
		b, _ := os.ReadFile(e.stack.LogFiles[name])
		t.Logf("%-15s handled %3d rpcs, finished %2d jobs", name, strings.Count(string(b), `"msg":"rpc"`), strings.Count(string(b), `"msg":"job done"`))
	}
	st := e.state()
	for i, o := range results {
		if o.err != nil {
			t.Fatalf("operation %d: %v", i, o.err)
		}
		customers, subs, users := 0, 0, 0
		for _, c := range st.Customers {
			if c.ID == o.customer {
				customers++
			}
		}
		for _, s := range st.Subscriptions {
			if s.CustomerID == o.customer && s.Status != "deleted" {
				subs++
				if s.ID != o.msSub || s.Quantity != 3 {
					t.Fatalf("operation %d: subscription %+v, platform %s", i, s, o.msSub)
				}
			}
		}
		for _, u := range st.Users {
			if u.UPN == o.login {
				users++
				if u.ID != o.msUser {
					t.Fatalf("operation %d: user %+v, platform %s", i, u, o.msUser)
				}
			}
		}
		if customers != 1 || subs != 1 || users != 1 {
			t.Fatalf("operation %d: %d customers, %d subscriptions, %d users at the simulator", i, customers, subs, users)
		}
	}
	if got := len(st.Customers); got != n {
		t.Fatalf("%d customers at the simulator, want %d", got, n)
	}
}

// resend sends an APS request as the platform does (sync, then async
// re-sends while 202), re-sending in the same phase when the facade or a
// service was down (no answer, or 502/503). Safe in goroutines.
func resend(e *env, inst *apsc.Instance, method, path string, body map[string]any) (*apsc.Result, error) {
	raw := mustMarshal(body)
	phase := apsc.PhaseSync
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		r, err := e.ctrl.Raw(e.ctx, inst, method, path, nil, raw, apsc.WithHeader(apsc.HeaderRequestPhase, phase))
		if err != nil {
			if e.ctx.Err() != nil {
				return nil, err
			}
			time.Sleep(300 * time.Millisecond) // the facade itself was down: send again
			continue
		}
		switch r.Status {
		case http.StatusAccepted:
			phase = apsc.PhaseAsync
		case http.StatusBadGateway, http.StatusServiceUnavailable:
		case http.StatusOK, http.StatusCreated, http.StatusNoContent:
			return r, nil
		default:
			return nil, fmt.Errorf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
		time.Sleep(300 * time.Millisecond)
	}
	return nil, fmt.Errorf("%s %s did not finish in 2 minutes", method, path)
}

// A replica frozen (SIGSTOP) while it holds a job in the middle of a
// Microsoft call, past its lease: the other replica takes the job over with a
// new fencing token and finishes it by reading back what the call did; when
// the frozen one is continued, its stale claim is refused and it makes no
// second side effect.
func TestFrozenReplicaIsFenced(t *testing.T) {
	e := startWith(t, stackOpts{replicas: 2})
	inst := e.install(nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers",
		"mode": "delay_commit", "delay_ms": 2000, "count": 1}, nil)
	body := withAPS(tenantBody(subdomain()), "tenants")
	domain := body["initial_subdomain"].(string) + ".onmicrosoft.com"
	r, err := e.ctrl.Raw(e.ctx, inst, "POST", "/tenants", nil, mustMarshal(body), apsc.WithHeader(apsc.HeaderRequestPhase, apsc.PhaseSync))
	if err != nil || r.Status != http.StatusAccepted {
		t.Fatalf("provision: %v %d %s", err, r.Status, r.Body)
	}
	logOf := func(name string) string {
		b, _ := os.ReadFile(e.stack.LogFiles[name])
		return string(b)
	}
	started := func(name string) bool {
		for _, l := range strings.Split(logOf(name), "\n") {
			if strings.Contains(l, `"msg":"job started"`) && strings.Contains(l, `"job_kind":"tenant.provision`) {
				return true
			}
		}
		return false
	}
	var owner, other string
	for deadline := time.Now().Add(20 * time.Second); owner == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replica started the provisioning job")
		}
		switch {
		case started("tenant"):
			owner, other = "tenant", "tenant-2"
		case started("tenant-2"):
			owner, other = "tenant-2", "tenant"
		}
	}
	waitHits(t, e, "/v1/customers") // the create is at Microsoft
	if err := e.stack.Signal(owner, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The other replica takes over once the lease (3 s) runs out.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logOf(other), `"msg":"job done"`); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = e.stack.Signal(owner, syscall.SIGCONT)
			t.Fatalf("%s did not take the job over", other)
		}
	}
	if !strings.Contains(logOf(other), `"fence":2`) {
		t.Fatalf("%s took the job over without a new fencing token", other)
	}
	if err := e.stack.Signal(owner, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logOf(owner), "lost its claim"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the continued replica %s never found out it lost its claim", owner)
		}
	}
	time.Sleep(time.Second) // anything it would still send, it would send now
	r, err = resend(e, inst, "POST", "/tenants", body)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range e.state().Customers {
		if c.Domain == domain {
			n++
			if m, _ := r.JSON(); m["ms_customer_id"] != c.ID {
				t.Fatalf("platform %s, simulator %s", r.Body, c.ID)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d customers for %s", n, domain)
	}
}
