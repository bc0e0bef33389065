package e2e

// The fault matrix: every side effect the gateway has at Microsoft crossed
// with every fault Microsoft or the gateway's own processes can produce. A
// cell drives the facade exactly as APSC does (sync call, async re-sends, a
// re-run after a failure) and ends only when the operation converged: one
// object at the simulator, the platform's view equal to it, and the fault
// seen firing at the simulator.
//
// `make test-faults` runs every cell (O365GW_FAULTS=all); `make test` runs
// the smoke subset (one cell per fault, spread over the services).

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/sim/apsc"
)

// Faults of the matrix.
const (
	faultRetried5xx  = "retried_5xx" // a 5xx the client's retries ride out
	faultAfterCommit = "error_after_commit"
	faultSlow        = "delay_past_timeout" // Microsoft finishes after the client gave up
	faultRefused     = "refused_then_rerun" // a definite 4xx; the fault is cleared and the task re-run
	faultKilled      = "sigkill_mid_step"   // the owning service dies while Microsoft works on the step
)

var allFaults = []string{faultRetried5xx, faultAfterCommit, faultSlow, faultRefused, faultKilled}

// msTimeout is the services' Microsoft HTTP timeout in the matrix's stack;
// the slow fault delays past it.
const msTimeout = 2 * time.Second

// cell is one side effect prepared for one fault.
type cell struct {
	e    *env
	inst *apsc.Instance
	// what the prepare step made
	tenantID, customerID, subID, msSubID, userID, msUserID, domainID, domainName string
	body                                                                         map[string]any
}

// effect is one Microsoft side effect and how the platform triggers it.
type effect struct {
	name   string
	api    string // partnercenter or graph
	method string
	owner  string // the service whose step it is
	// prepare makes what the request needs (a tenant, a subscription …).
	prepare func(c *cell)
	// path is the fault's path prefix at the simulator.
	path func(c *cell) string
	// request is the APS request that causes the side effect.
	request func(c *cell) (method, path string, body map[string]any)
	// check asserts one object at the simulator and the platform's view
	// (the final answer r) equal to it.
	check func(c *cell, r *apsc.Result)
}

func TestFaultMatrix(t *testing.T) {
	all := os.Getenv("O365GW_FAULTS") == "all"
	e := startWith(t, stackOpts{extra: map[string][]string{
		"tenant":       {"TENANT_MS_TIMEOUT=" + msTimeout.String()},
		"subscription": {"SUBSCRIPTION_MS_TIMEOUT=" + msTimeout.String()},
		"user":         {"USER_MS_TIMEOUT=" + msTimeout.String()},
	}})
	smoke := map[string]string{ // effect → the one fault it gets in the smoke run
		"customer create": faultKilled, "checkout": faultAfterCommit, "quantity PATCH": faultRefused,
		"user create": faultSlow, "license assign": faultRetried5xx, "legacy upgrade": faultRefused,
	}
	var results []string
	for _, ef := range effects() {
		if !all && smoke[ef.name] == "" {
			continue
		}
		// A partner per side effect: a sandbox partner holds at most 75 customers.
		p, err := e.sim.RegisterPartner(e.ctx, apsc.PartnerRequest{Name: "Faults " + ef.name, Cloud: "global",
			Countries: []string{"US", "CA", "GB", "DE"}, Sandbox: true})
		if err != nil {
			t.Fatal(err)
		}
		e.partner = p
		inst := e.install(nil)
		for _, f := range allFaults {
			if !all && smoke[ef.name] != f {
				continue
			}
			name := strings.ReplaceAll(ef.name, " ", "_") + "/" + f
			t.Run(name, func(t *testing.T) {
				e.t = t
				start := time.Now()
				runCell(t, e, inst, ef, f)
				results = append(results, fmt.Sprintf("%-22s %-20s %5.1fs", ef.name, f, time.Since(start).Seconds()))
			})
		}
	}
	t.Logf("fault matrix cells:\n%s", strings.Join(results, "\n"))
}

func runCell(t *testing.T, e *env, inst *apsc.Instance, ef effect, fault string) {
	e.admin("DELETE", "/_sim/faults", nil, nil)
	c := &cell{e: e, inst: inst}
	ef.prepare(c)
	path := ef.path(c)
	spec := map[string]any{"api": ef.api, "method": ef.method, "path": path}
	switch fault {
	case faultRetried5xx:
		spec["mode"], spec["status"], spec["count"] = "error", 503, 2
	case faultAfterCommit:
		spec["mode"], spec["status"], spec["count"] = "error_after_commit", 500, 1
	case faultSlow:
		spec["mode"], spec["delay_ms"], spec["count"] = "delay_commit", int((msTimeout + time.Second).Milliseconds()), 1
	case faultRefused:
		spec["mode"], spec["status"], spec["count"] = "refuse", 400, 0
	case faultKilled:
		spec["mode"], spec["delay_ms"], spec["count"] = "delay_commit", 4000, 1
	}
	e.admin("POST", "/_sim/faults", spec, nil)
	method, apsPath, body := ef.request(c)
	var r *apsc.Result
	switch fault {
	case faultRefused:
		r = drive(t, e, inst, method, apsPath, body, nil)
		if r.Status < 400 {
			t.Fatalf("a refused step answered %d %s", r.Status, r.Body)
		}
		wantHits(t, e, path)
		e.admin("DELETE", "/_sim/faults", nil, nil)
		r = drive(t, e, inst, method, apsPath, body, nil) // the operator re-runs the task
	case faultKilled:
		r = drive(t, e, inst, method, apsPath, body, func() {
			// Microsoft has the step: kill its owner, then bring it back.
			waitHits(t, e, path)
			if err := e.stack.Kill(ef.owner); err != nil {
				t.Fatal(err)
			}
			if err := e.stack.Restart(e.ctx, ef.owner); err != nil {
				t.Fatal(err)
			}
		})
	default:
		r = drive(t, e, inst, method, apsPath, body, nil)
		wantHits(t, e, path)
	}
	if r.Status >= 300 {
		t.Fatalf("%s %s did not converge: %d %s", method, apsPath, r.Status, r.Body)
	}
	ef.check(c, r)
}

// drive sends an APS request as APSC does: the sync call, then async
// re-sends while the answer is 202. An answer made while the owning service
// was down (during a kill) is sent again in the same phase, as the platform
// (or its operator, for a synchronous operation) does. during runs once,
// right after the sync call was sent.
func drive(t *testing.T, e *env, inst *apsc.Instance, method, path string, body map[string]any, during func()) *apsc.Result {
	t.Helper()
	var raw []byte
	if body != nil {
		raw = mustMarshal(body)
	}
	send := func(phase string) *apsc.Result {
		r, err := e.ctrl.Raw(e.ctx, inst, method, path, nil, raw, apsc.WithHeader(apsc.HeaderRequestPhase, phase))
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return r
	}
	phase := apsc.PhaseSync
	var r *apsc.Result
	if during != nil {
		done := make(chan *apsc.Result, 1)
		go func() { done <- send(phase) }()
		during()
		r = <-done
	} else {
		r = send(phase)
	}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		switch {
		case r.Status == http.StatusAccepted:
			phase = apsc.PhaseAsync
		case during != nil && (r.Status == http.StatusServiceUnavailable || r.Status == http.StatusBadGateway):
			// the service was down: the same request again
		default:
			return r
		}
		time.Sleep(300 * time.Millisecond)
		r = send(phase)
	}
	t.Fatalf("%s %s: still %d after 90s", method, path, r.Status)
	return nil
}

func (e *env) faultList() []struct {
	Path string `json:"path"`
	Hits int    `json:"hits"`
} {
	var out struct {
		Faults []struct {
			Path string `json:"path"`
			Hits int    `json:"hits"`
		} `json:"faults"`
	}
	e.admin("GET", "/_sim/faults", nil, &out)
	return out.Faults
}

func wantHits(t *testing.T, e *env, path string) {
	t.Helper()
	for _, f := range e.faultList() {
		if f.Path == path && f.Hits > 0 {
			return
		}
	}
	t.Fatalf("the fault on %s never fired", path)
}

func waitHits(t *testing.T, e *env, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range e.faultList() {
			if f.Path == path && f.Hits > 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the fault on %s never fired", path)
}

// --- the platform's view and the simulator's ---

type simState struct {
	Customers []struct {
		ID          string `json:"id"`
		Domain      string `json:"domain"`
		MCAAttested bool   `json:"mca_attested"`
	} `json:"customers"`
	Orders []struct {
		ID         string `json:"id"`
		CustomerID string `json:"customer_id"`
	} `json:"orders"`
	Subscriptions []struct {
		ID         string `json:"id"`
		CustomerID string `json:"customer_id"`
		OfferID    string `json:"offer_id"`
		Quantity   int    `json:"quantity"`
		Status     string `json:"status"`
	} `json:"subscriptions"`
	Carts []struct {
		ID         string `json:"id"`
		CustomerID string `json:"customer_id"`
		Status     string `json:"status"`
	} `json:"carts"`
	Users []struct {
		ID         string   `json:"id"`
		CustomerID string   `json:"customer_id"`
		UPN        string   `json:"user_principal_name"`
		Licenses   []string `json:"licenses"`
	} `json:"users"`
	Domains []struct {
		CustomerID string `json:"customer_id"`
		ID         string `json:"id"`
		IsVerified bool   `json:"is_verified"`
	} `json:"domains"`
}

func (e *env) state() simState {
	var st struct {
		Partners []simState `json:"partners"`
	}
	e.admin("GET", "/_sim/state?partner="+e.partner.TenantID, nil, &st)
	return st.Partners[0]
}

// --- preparation helpers ---

func (c *cell) tenant(withMCA bool) {
	e := c.e
	body := tenantBody(subdomain())
	if !withMCA {
		delete(body, "mca")
	}
	r, err := e.ctrl.Provision(e.ctx, c.inst, "tenants", body)
	if err != nil || r.Status != 200 {
		e.t.Fatalf("tenant: %v %d %s", err, r.Status, r.Body)
	}
	c.tenantID, c.customerID = r.ResourceID, mustJSON(e.t, r)["ms_customer_id"].(string)
	c.body = body
}

func (c *cell) subscription(offer string, seats int) {
	e := c.e
	b := subscriptionBody(c.tenantID, seats)
	b["offer_id"] = offer
	if !strings.Contains(offer, ":") {
		delete(b, "term_duration")
	}
	r, err := e.ctrl.Provision(e.ctx, c.inst, "subscriptions", b)
	if err != nil || r.Status != 200 {
		e.t.Fatalf("subscription: %v %d %s", err, r.Status, r.Body)
	}
	c.subID, c.msSubID = r.ResourceID, mustJSON(e.t, r)["ms_subscription_id"].(string)
	c.body = b
}

func (c *cell) user(licensed bool) {
	e := c.e
	sub := ""
	if licensed {
		sub = c.subID
	}
	b := userBody(c.tenantID, "fm"+uuid.NewString()[:8]+"@"+c.initialDomain(), sub)
	r, err := e.ctrl.Provision(e.ctx, c.inst, "users", b)
	if err != nil || r.Status != 200 {
		e.t.Fatalf("user: %v %d %s", err, r.Status, r.Body)
	}
	c.userID, c.msUserID = r.ResourceID, mustJSON(e.t, r)["ms_user_id"].(string)
	b["aps"] = map[string]any{"id": c.userID, "type": apsc.TypeUser}
	c.body = b
}

func (c *cell) initialDomain() string {
	for _, cu := range c.e.state().Customers {
		if cu.ID == c.customerID {
			return cu.Domain
		}
	}
	c.e.t.Fatalf("customer %s not at the simulator", c.customerID)
	return ""
}

func (c *cell) domain() {
	e := c.e
	c.domainName = "fm" + uuid.NewString()[:8] + ".example"
	r, err := e.ctrl.Provision(e.ctx, c.inst, "domains", map[string]any{"tenant": link(c.tenantID), "domain_name": c.domainName})
	if err != nil || r.Status != 200 {
		e.t.Fatalf("domain: %v %d %s", err, r.Status, r.Body)
	}
	c.domainID = r.ResourceID
	for _, rec := range mustJSON(e.t, r)["verification_records"].([]any) {
		if m := rec.(map[string]any); m["record_type"] == "Txt" {
			e.admin("POST", "/_sim/dns", map[string]any{"domain": c.domainName, "txt": m["text"]}, nil)
		}
	}
}

func link(id string) map[string]any { return map[string]any{"aps": map[string]any{"id": id}} }

// withAPS gives body its own aps.id and type (a new resource).
func withAPS(body map[string]any, svc string) map[string]any {
	body["aps"] = map[string]any{"id": uuid.NewString(), "type": apsc.TypeFor(svc)}
	return body
}

func apsID(body map[string]any) string { return body["aps"].(map[string]any)["id"].(string) }

// --- checks ---

func (c *cell) oneCustomerLike(r *apsc.Result, domain string) {
	st := c.e.state()
	n, id := 0, ""
	for _, cu := range st.Customers {
		if cu.Domain == domain {
			n, id = n+1, cu.ID
		}
	}
	got := mustJSON(c.e.t, r)
	if n != 1 || got["ms_customer_id"] != id || got["state"] != "active" {
		c.e.t.Fatalf("%d customers for %s at the simulator (%s); platform %s", n, domain, id, r.Body)
	}
}

func (c *cell) subscriptionsOf(customerID string) []string {
	var out []string
	for _, s := range c.e.state().Subscriptions {
		if s.CustomerID == customerID && s.Status != "deleted" {
			out = append(out, fmt.Sprintf("%s:%s:%d:%s", s.ID, s.OfferID, s.Quantity, s.Status))
		}
	}
	return out
}

func (c *cell) oneSubscription(r *apsc.Result, wantQty int, wantStatus string) {
	got := mustJSON(c.e.t, r)
	msID, _ := got["ms_subscription_id"].(string)
	var live []string
	for _, s := range c.e.state().Subscriptions {
		if s.CustomerID != c.customerID || s.Status == "deleted" || (s.Status == "suspended" && s.ID != msID) {
			continue
		}
		live = append(live, s.ID)
		if s.ID == msID && (s.Quantity != wantQty || s.Status != wantStatus) {
			c.e.t.Fatalf("simulator subscription %+v, want %d %s", s, wantQty, wantStatus)
		}
	}
	limit := got["licenses"].(map[string]any)["limit"]
	if len(live) != 1 || live[0] != msID || limit != float64(wantQty) {
		c.e.t.Fatalf("live subscriptions %v, platform %s", live, r.Body)
	}
}

func (c *cell) userAtSim(msID string) (n int, licenses []string) {
	for _, u := range c.e.state().Users {
		if u.CustomerID == c.customerID && u.ID == msID {
			n++
			licenses = u.Licenses
		}
	}
	return n, licenses
}

func effects() []effect {
	const (
		legacyE1 = "91FD106F-4B2C-4938-95AC-F54F74E9A239"
		legacyE3 = "796B6B5F-613C-4E24-A17C-EBA730D49C02"
		nceStd   = "CFQ7TTC0LDPB:0001:CFQ7TTC0K5Q2"
	)
	customer := func(c *cell) string { return "/v1/customers/" + c.customerID }
	sub := func(c *cell) string { return customer(c) + "/subscriptions/" + c.msSubID }
	return []effect{
		{name: "customer create", api: "partnercenter", method: "POST", owner: "tenant",
			prepare: func(c *cell) { c.body = withAPS(tenantBody(subdomain()), "tenants") },
			path:    func(c *cell) string { return "/v1/customers" },
			request: func(c *cell) (string, string, map[string]any) { return "POST", "/tenants", c.body },
			check: func(c *cell, r *apsc.Result) {
				c.oneCustomerLike(r, c.body["initial_subdomain"].(string)+".onmicrosoft.com")
			}},
		{name: "MCA attestation", api: "partnercenter", method: "POST", owner: "tenant",
			prepare: func(c *cell) {
				c.tenant(false)
				c.body["aps"] = map[string]any{"id": c.tenantID, "type": apsc.TypeTenant}
				c.body["mca"] = tenantBody("x")["mca"]
			},
			path:    func(c *cell) string { return customer(c) + "/agreements" },
			request: func(c *cell) (string, string, map[string]any) { return "PUT", "/tenants/" + c.tenantID, c.body },
			check: func(c *cell, r *apsc.Result) {
				for _, cu := range c.e.state().Customers {
					if cu.ID == c.customerID && cu.MCAAttested {
						return
					}
				}
				c.e.t.Fatalf("MCA not attested at the simulator; platform %s", r.Body)
			}},
		{name: "application consent", api: "partnercenter", method: "POST", owner: "tenant",
			prepare: func(c *cell) {
				var cu struct {
					ID string `json:"id"`
				}
				dom := subdomain() + ".onmicrosoft.com"
				c.e.admin("POST", "/_sim/partners/"+c.e.partner.TenantID+"/customers",
					map[string]any{"domain": dom, "company_name": "Linked Ltd", "country": "US"}, &cu)
				c.customerID = cu.ID
				c.body = withAPS(map[string]any{"ms_customer_id": cu.ID, "initial_subdomain": strings.TrimSuffix(dom, ".onmicrosoft.com"),
					"mca": tenantBody("x")["mca"]}, "tenants")
			},
			path:    func(c *cell) string { return customer(c) + "/applicationconsents" },
			request: func(c *cell) (string, string, map[string]any) { return "POST", "/tenants", c.body },
			check: func(c *cell, r *apsc.Result) {
				// The consent lets the gateway's Graph token into the tenant:
				// a user can be created there.
				c.tenantID = apsID(c.body)
				got := mustJSON(c.e.t, r)
				if got["ms_customer_id"] != c.customerID || got["state"] != "active" {
					c.e.t.Fatalf("platform %s", r.Body)
				}
				c.user(false)
			}},
		{name: "legacy order", api: "partnercenter", method: "POST", owner: "subscription",
			prepare: func(c *cell) {
				c.tenant(true)
				b := subscriptionBody(c.tenantID, 3)
				b["offer_id"] = legacyE1
				delete(b, "term_duration")
				c.body = withAPS(b, "subscriptions")
			},
			path:    func(c *cell) string { return customer(c) + "/orders" },
			request: func(c *cell) (string, string, map[string]any) { return "POST", "/subscriptions", c.body },
			check:   func(c *cell, r *apsc.Result) { c.oneSubscription(r, 3, "active") }},
		{name: "cart", api: "partnercenter", method: "POST", owner: "subscription",
			prepare: func(c *cell) { c.tenant(true); c.body = withAPS(subscriptionBody(c.tenantID, 4), "subscriptions") },
			path:    func(c *cell) string { return customer(c) + "/carts" },
			request: func(c *cell) (string, string, map[string]any) { return "POST", "/subscriptions", c.body },
			check:   func(c *cell, r *apsc.Result) { c.oneSubscription(r, 4, "active") }},
		{name: "checkout", api: "partnercenter", method: "POST", owner: "subscription",
			prepare: func(c *cell) { c.tenant(true); c.body = withAPS(subscriptionBody(c.tenantID, 5), "subscriptions") },
			path:    func(c *cell) string { return customer(c) + "/carts/" },
			request: func(c *cell) (string, string, map[string]any) { return "POST", "/subscriptions", c.body },
			check:   func(c *cell, r *apsc.Result) { c.oneSubscription(r, 5, "active") }},
		{name: "quantity PATCH", api: "partnercenter", method: "PATCH", owner: "subscription",
			prepare: func(c *cell) {
				c.tenant(true)
				c.subscription(businessBasic, 10)
				c.body["aps"] = map[string]any{"id": c.subID, "type": apsc.TypeSubscription}
				c.body["licenses"] = map[string]any{"limit": 15}
			},
			path:    sub,
			request: func(c *cell) (string, string, map[string]any) { return "PUT", "/subscriptions/" + c.subID, c.body },
			check:   func(c *cell, r *apsc.Result) { c.oneSubscription(r, 15, "active") }},
		{name: "suspend PATCH", api: "partnercenter", method: "PATCH", owner: "subscription",
			prepare: func(c *cell) {
				c.tenant(true)
				c.subscription(businessBasic, 10)
				c.body["aps"] = map[string]any{"id": c.subID, "type": apsc.TypeSubscription}
				c.body["suspended"] = true
			},
			path:    sub,
			request: func(c *cell) (string, string, map[string]any) { return "PUT", "/subscriptions/" + c.subID, c.body },
			check: func(c *cell, r *apsc.Result) {
				c.oneSubscription(r, 10, "suspended")
				if mustJSON(c.e.t, r)["state"] != "suspended" {
					c.e.t.Fatalf("platform %s", r.Body)
				}
			}},
		{name: "legacy upgrade", api: "partnercenter", method: "POST", owner: "subscription",
			prepare: func(c *cell) { c.tenant(true); c.subscription(legacyE1, 3) },
			path:    func(c *cell) string { return sub(c) + "/upgrades" },
			request: func(c *cell) (string, string, map[string]any) {
				return "POST", "/subscriptions/" + c.subID + "/upgrade", map[string]any{"offer_id": legacyE3}
			},
			check: func(c *cell, r *apsc.Result) {
				g, err := c.e.ctrl.Retrieve(c.e.ctx, c.inst, "subscriptions", c.subID)
				if err != nil || g.Status != 200 {
					c.e.t.Fatalf("read: %v %d", err, g.Status)
				}
				got := mustJSON(c.e.t, g)
				var e3 []string
				for _, s := range c.e.state().Subscriptions {
					if s.CustomerID == c.customerID && strings.EqualFold(s.OfferID, legacyE3) && s.Status == "active" {
						e3 = append(e3, s.ID)
					}
				}
				if len(e3) != 1 || got["ms_subscription_id"] != e3[0] || !strings.EqualFold(got["offer_id"].(string), legacyE3) {
					c.e.t.Fatalf("E3 subscriptions %v; platform %s", e3, g.Body)
				}
			}},
		{name: "transition", api: "partnercenter", method: "POST", owner: "subscription",
			prepare: func(c *cell) { c.tenant(true); c.subscription(businessBasic, 3) },
			path:    func(c *cell) string { return sub(c) + "/transitions" },
			request: func(c *cell) (string, string, map[string]any) {
				return "POST", "/subscriptions/" + c.subID + "/upgrade", map[string]any{"offer_id": nceStd}
			},
			check: func(c *cell, r *apsc.Result) {
				g, err := c.e.ctrl.Retrieve(c.e.ctx, c.inst, "subscriptions", c.subID)
				if err != nil || g.Status != 200 {
					c.e.t.Fatalf("read: %v %d", err, g.Status)
				}
				got := mustJSON(c.e.t, g)
				var std []string
				for _, s := range c.e.state().Subscriptions {
					if s.CustomerID == c.customerID && strings.HasPrefix(s.OfferID, "CFQ7TTC0LDPB") && s.Status == "active" {
						std = append(std, s.ID)
					}
				}
				if len(std) != 1 || got["ms_subscription_id"] != std[0] || got["offer_id"] != nceStd {
					c.e.t.Fatalf("Business Standard subscriptions %v; platform %s", std, g.Body)
				}
			}},
		{name: "user create", api: "graph", method: "POST", owner: "user",
			prepare: func(c *cell) {
				c.tenant(true)
				c.subscription(businessBasic, 2)
				c.body = withAPS(userBody(c.tenantID, "fm"+uuid.NewString()[:8]+"@"+c.initialDomain(), c.subID), "users")
			},
			path:    func(c *cell) string { return "/v1.0/users" },
			request: func(c *cell) (string, string, map[string]any) { return "POST", "/users", c.body },
			check: func(c *cell, r *apsc.Result) {
				n := 0
				for _, u := range c.e.state().Users {
					if strings.EqualFold(u.UPN, c.body["login"].(string)) {
						n++
						if u.ID != mustJSON(c.e.t, r)["ms_user_id"] || len(u.Licenses) != 1 {
							c.e.t.Fatalf("simulator user %+v; platform %s", u, r.Body)
						}
					}
				}
				if n != 1 {
					c.e.t.Fatalf("%d users %s", n, c.body["login"])
				}
			}},
		{name: "license assign", api: "graph", method: "POST", owner: "user",
			prepare: func(c *cell) {
				c.tenant(true)
				c.subscription(businessBasic, 2)
				c.user(false)
				c.body["licenses"] = []any{map[string]any{"subscription": link(c.subID)}}
			},
			path:    func(c *cell) string { return "/v1.0/users/" + c.msUserID + "/assignLicense" },
			request: func(c *cell) (string, string, map[string]any) { return "PUT", "/users/" + c.userID, c.body },
			check: func(c *cell, r *apsc.Result) {
				n, lic := c.userAtSim(c.msUserID)
				if got, _ := mustJSON(c.e.t, r)["licenses"].([]any); n != 1 || len(lic) != 1 || len(got) != 1 {
					c.e.t.Fatalf("simulator %d users with %v; platform %s", n, lic, r.Body)
				}
			}},
		{name: "license remove", api: "graph", method: "POST", owner: "user",
			prepare: func(c *cell) {
				c.tenant(true)
				c.subscription(businessBasic, 2)
				c.user(true)
				c.body["licenses"] = []any{}
			},
			path:    func(c *cell) string { return "/v1.0/users/" + c.msUserID + "/assignLicense" },
			request: func(c *cell) (string, string, map[string]any) { return "PUT", "/users/" + c.userID, c.body },
			check: func(c *cell, r *apsc.Result) {
				n, lic := c.userAtSim(c.msUserID)
				if got, _ := mustJSON(c.e.t, r)["licenses"].([]any); n != 1 || len(lic) != 0 || len(got) != 0 {
					c.e.t.Fatalf("simulator %d users with %v; platform %s", n, lic, r.Body)
				}
			}},
		{name: "user delete", api: "graph", method: "DELETE", owner: "user",
			prepare: func(c *cell) { c.tenant(true); c.user(false) },
			path:    func(c *cell) string { return "/v1.0/users/" + c.msUserID },
			request: func(c *cell) (string, string, map[string]any) { return "DELETE", "/users/" + c.userID, nil },
			check: func(c *cell, r *apsc.Result) {
				if n, _ := c.userAtSim(c.msUserID); n != 0 || r.Status != 204 {
					c.e.t.Fatalf("%d users left, answer %d", n, r.Status)
				}
				if g, _ := c.e.ctrl.Retrieve(c.e.ctx, c.inst, "users", c.userID); g.Status != 404 {
					c.e.t.Fatalf("platform still has the user: %d", g.Status)
				}
			}},
		{name: "domain add", api: "graph", method: "POST", owner: "tenant",
			prepare: func(c *cell) {
				c.tenant(true)
				c.domainName = "fm" + uuid.NewString()[:8] + ".example"
				c.body = withAPS(map[string]any{"tenant": link(c.tenantID), "domain_name": c.domainName}, "domains")
			},
			path:    func(c *cell) string { return "/v1.0/domains" },
			request: func(c *cell) (string, string, map[string]any) { return "POST", "/domains", c.body },
			check: func(c *cell, r *apsc.Result) {
				n := 0
				for _, d := range c.e.state().Domains {
					if d.ID == c.domainName {
						n++
					}
				}
				if n != 1 || mustJSON(c.e.t, r)["domain_name"] != c.domainName {
					c.e.t.Fatalf("%d domains %s; platform %s", n, c.domainName, r.Body)
				}
			}},
		{name: "domain verify", api: "graph", method: "POST", owner: "tenant",
			prepare: func(c *cell) { c.tenant(true); c.domain() },
			path:    func(c *cell) string { return "/v1.0/domains/" + c.domainName + "/verify" },
			request: func(c *cell) (string, string, map[string]any) {
				return "POST", "/domains/" + c.domainID + "/verify", nil
			},
			check: func(c *cell, r *apsc.Result) {
				for _, d := range c.e.state().Domains {
					if d.ID == c.domainName && d.IsVerified && mustJSON(c.e.t, r)["state"] == "verified" {
						return
					}
				}
				c.e.t.Fatalf("domain %s not verified; platform %s", c.domainName, r.Body)
			}},
		{name: "domain remove", api: "graph", method: "DELETE", owner: "tenant",
			prepare: func(c *cell) { c.tenant(true); c.domain() },
			path:    func(c *cell) string { return "/v1.0/domains/" + c.domainName },
			request: func(c *cell) (string, string, map[string]any) { return "DELETE", "/domains/" + c.domainID, nil },
			check: func(c *cell, r *apsc.Result) {
				for _, d := range c.e.state().Domains {
					if d.ID == c.domainName {
						c.e.t.Fatalf("domain %s still at the simulator", c.domainName)
					}
				}
				if g, _ := c.e.ctrl.Retrieve(c.e.ctx, c.inst, "domains", c.domainID); g.Status != 404 {
					c.e.t.Fatalf("platform still has the domain: %d", g.Status)
				}
			}},
		{name: "customer delete", api: "partnercenter", method: "DELETE", owner: "tenant",
			prepare: func(c *cell) { c.tenant(true) },
			path:    customer,
			request: func(c *cell) (string, string, map[string]any) { return "DELETE", "/tenants/" + c.tenantID, nil },
			check: func(c *cell, r *apsc.Result) {
				for _, cu := range c.e.state().Customers {
					if cu.ID == c.customerID {
						c.e.t.Fatalf("customer %s still at the simulator", c.customerID)
					}
				}
				if g, _ := c.e.ctrl.Retrieve(c.e.ctx, c.inst, "tenants", c.tenantID); g.Status != 404 {
					c.e.t.Fatalf("platform still has the tenant: %d", g.Status)
				}
			}},
	}
}
