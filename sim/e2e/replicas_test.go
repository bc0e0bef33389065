package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
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
// re-sends while 202), re-sending an answer that a dying replica could not
// give (502/503) in the same phase. Safe in goroutines.
func resend(e *env, inst *apsc.Instance, method, path string, body map[string]any) (*apsc.Result, error) {
	raw := mustMarshal(body)
	phase := apsc.PhaseSync
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		r, err := e.ctrl.Raw(e.ctx, inst, method, path, nil, raw, apsc.WithHeader(apsc.HeaderRequestPhase, phase))
		if err != nil {
			return nil, err
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
