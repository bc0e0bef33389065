package e2e

// make chaos: a bounded run with two replicas of every service where random
// processes (any replica, and the facade) are SIGKILLed at random moments
// and restarted, while workers drive a mix of tenants, subscriptions, seat
// changes and users through the facade as APSC does. At the end the platform
// and the simulator are compared: every completed operation exactly once, no
// duplicate, nothing lost. O365GW_CHAOS is the run's length (e.g. 150s); the
// test is skipped without it.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/sim/apsc"
)

// chain is one customer's story: tenant, seats, a seat change, a licensed
// user, a user created and deleted again.
type chain struct {
	domain, tenant, customer, sub, login, gone string
	qty                                        int
	ops                                        int
	err                                        error
}

func TestChaos(t *testing.T) {
	length, err := time.ParseDuration(os.Getenv("O365GW_CHAOS"))
	if err != nil || length <= 0 {
		t.Skip("set O365GW_CHAOS to the run's length (make chaos)")
	}
	e := startWith(t, stackOpts{replicas: 2})
	// A production partner: a sandbox one holds at most 75 customers.
	p, err := e.sim.RegisterPartner(e.ctx, apsc.PartnerRequest{Name: "Chaos CSP", Cloud: "global", Countries: []string{"US"}})
	if err != nil {
		t.Fatal(err)
	}
	e.partner = p
	inst := e.install(map[string]any{"test_partner": false})
	// Steps take a little while at Microsoft, so that kills land mid-step.
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers",
		"mode": "delay_commit", "delay_ms": 300, "count": 0}, nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users",
		"mode": "delay_commit", "delay_ms": 300, "count": 0}, nil)

	stop := time.Now().Add(length)
	var kills atomic.Int32
	var mu sync.Mutex
	var chains []*chain
	var wg sync.WaitGroup
	for range 4 { // workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				c := &chain{}
				runChain(e, inst, c)
				mu.Lock()
				chains = append(chains, c)
				mu.Unlock()
			}
		}()
	}
	victims := []string{"tenant", "tenant-2", "subscription", "subscription-2", "user", "user-2", "facade"}
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for time.Now().Before(stop) {
			time.Sleep(time.Duration(2000+rand.IntN(3000)) * time.Millisecond)
			v := victims[rand.IntN(len(victims))]
			if err := e.stack.Kill(v); err != nil {
				t.Errorf("kill %s: %v", v, err)
				return
			}
			kills.Add(1)
			time.Sleep(time.Duration(200+rand.IntN(1500)) * time.Millisecond)
			if err := e.stack.Restart(e.ctx, v); err != nil {
				t.Errorf("restart %s: %v", v, err)
				return
			}
		}
	}()
	<-killerDone
	wg.Wait()

	// The platform's view against the simulator's.
	st := e.state()
	ops, done, lost, dups := 0, 0, 0, 0
	var problems []string
	for _, c := range chains {
		ops += c.ops
		if c.err != nil {
			lost++
			problems = append(problems, c.err.Error())
			continue
		}
		done++
		var customers, subs, users, gone int
		for _, cu := range st.Customers {
			if cu.Domain == c.domain {
				customers++
			}
		}
		for _, s := range st.Subscriptions {
			if s.CustomerID == c.customer && s.Status != "deleted" {
				subs++
				if s.Quantity != c.qty {
					problems = append(problems, fmt.Sprintf("%s: %d seats at Microsoft, %d asked", c.domain, s.Quantity, c.qty))
				}
			}
		}
		for _, u := range st.Users {
			switch u.UPN {
			case c.login:
				users++
			case c.gone:
				gone++
			}
		}
		if customers > 1 || subs > 1 || users > 1 {
			dups++
		}
		if customers != 1 || subs != 1 || users != 1 || gone != 0 {
			lost++
			problems = append(problems, fmt.Sprintf("%s: %d customers, %d subscriptions, %d users, %d deleted users left", c.domain, customers, subs, users, gone))
		}
		r, err := e.ctrl.Retrieve(e.ctx, inst, "subscriptions", c.sub)
		if err != nil || r.Status != 200 || mustJSON(t, r)["licenses"].(map[string]any)["limit"] != float64(c.qty) {
			problems = append(problems, fmt.Sprintf("%s: platform view of the subscription differs: %v %s", c.domain, err, r.Body))
		}
	}
	db := "SQLite"
	if os.Getenv("O365GW_DATABASE_URL") != "" {
		db = "PostgreSQL"
	}
	t.Logf("chaos on %s for %s:\n| database | customers | operations | kills | duplicates | lost |\n|---|---|---|---|---|---|\n| %s | %d (%d complete) | %d | %d | %d | %d |",
		db, length, db, len(chains), done, ops, kills.Load(), dups, lost)
	if dups != 0 || lost != 0 || len(problems) > 0 {
		t.Fatalf("chaos found %d duplicates and %d lost operations:\nchaos: %s", dups, lost, strings.Join(problems, "\nchaos: "))
	}
}

// runChain drives one customer's operations, re-sending through restarts.
func runChain(e *env, inst *apsc.Instance, c *chain) {
	step := func(method, path string, body map[string]any) map[string]any {
		if c.err != nil {
			return nil
		}
		r, err := resend(e, inst, method, path, body)
		if err != nil {
			c.err = fmt.Errorf("%s: %w", c.domain, err)
			return nil
		}
		c.ops++
		m, _ := r.JSON()
		return m
	}
	tb := withAPS(tenantBody(subdomain()), "tenants")
	c.domain = tb["initial_subdomain"].(string) + ".onmicrosoft.com"
	m := step("POST", "/tenants", tb)
	c.tenant, c.customer = apsID(tb), fmt.Sprint(m["ms_customer_id"])
	c.qty = 2 + rand.IntN(4)
	sb := withAPS(subscriptionBody(c.tenant, 1+rand.IntN(3)), "subscriptions")
	c.sub = apsID(sb)
	step("POST", "/subscriptions", sb)
	sb["licenses"] = map[string]any{"limit": c.qty}
	step("PUT", "/subscriptions/"+c.sub, sb)
	c.login = "chaos" + uuid.NewString()[:6] + "@" + c.domain
	step("POST", "/users", withAPS(userBody(c.tenant, c.login, c.sub), "users"))
	c.gone = "gone" + uuid.NewString()[:6] + "@" + c.domain
	ub := withAPS(userBody(c.tenant, c.gone, ""), "users")
	step("POST", "/users", ub)
	step("DELETE", "/users/"+apsID(ub), nil)
}
