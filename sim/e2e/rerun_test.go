package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/sim/apsc"
)

// faultHits returns how often the active faults fired, by path.
func (e *env) faultHits() map[string]int {
	var out struct {
		Faults []struct {
			Path string `json:"path"`
			Hits int    `json:"hits"`
		} `json:"faults"`
	}
	e.admin("GET", "/_sim/faults", nil, &out)
	hits := map[string]int{}
	for _, f := range out.Faults {
		hits[f.Path] += f.Hits
	}
	return hits
}

// A seat change that Microsoft refused is applied when the operator fixes
// the cause and re-runs the task, although the gateway's stored
// representation already equals the re-sent one.
func TestRerunFailedSeatChange(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	tenantID, customerID := e.tenant(inst)
	body := subscriptionBody(tenantID, 10)
	r, err := e.ctrl.Provision(e.ctx, inst, "subscriptions", body)
	if err != nil || r.Status != 200 {
		t.Fatalf("buy: %v %d %s", err, r.Status, r.Body)
	}
	id, msID := r.ResourceID, mustJSON(t, r)["ms_subscription_id"].(string)
	path := "/v1/customers/" + customerID + "/subscriptions/" + msID
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "PATCH", "path": path,
		"mode": "refuse", "status": 400, "count": 0}, nil)
	body["licenses"] = map[string]any{"limit": 15}
	r, err = e.ctrl.Configure(e.ctx, inst, "subscriptions", id, body)
	if err != nil || r.Status != 500 || r.APSError() == nil {
		t.Fatalf("refused change: want 500, got %v %d %s", err, r.Status, r.Body)
	}
	if hits := e.faultHits()[path]; hits == 0 {
		t.Fatal("the refusal fault never fired")
	}
	if q := e.subscriptions()[0].Quantity; q != 10 {
		t.Fatalf("Microsoft has %d seats after a refusal", q)
	}
	// The async re-send keeps answering the failure.
	r, err = e.ctrl.Raw(e.ctx, inst, "PUT", "/subscriptions/"+id, nil, mustMarshal(body), apsc.WithHeader(apsc.HeaderRequestPhase, apsc.PhaseAsync))
	if err != nil || r.Status != 500 {
		t.Fatalf("async re-send of a failure: %v %d %s", err, r.Status, r.Body)
	}
	e.admin("DELETE", "/_sim/faults", nil, nil)
	r, err = e.ctrl.Configure(e.ctx, inst, "subscriptions", id, body)
	if err != nil || r.Status != 200 || r.Trace[0].Status != 202 {
		t.Fatalf("re-run: %v %d (%s) %s", err, r.Status, phases(r), r.Body)
	}
	subs := e.subscriptions()
	if len(subs) != 1 || subs[0].Quantity != 15 {
		t.Fatalf("after the re-run Microsoft has %+v, want one subscription with 15 seats", subs)
	}
	if got := mustJSON(t, r)["licenses"].(map[string]any)["limit"]; got != float64(15) {
		t.Fatalf("APS view limit %v", got)
	}
}

// A user whose creation Microsoft refused is created by the re-run, once.
func TestRerunFailedUserCreate(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	tenantID, subID, domain := e.seats(inst, 2)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users",
		"mode": "refuse", "status": 400, "count": 0}, nil)
	body := userBody(tenantID, "rerun@"+domain, subID)
	body["aps"] = map[string]any{"id": uuid.NewString()} // the re-run is the same resource
	r, err := e.ctrl.Provision(e.ctx, inst, "users", body)
	if err != nil || r.Status != 500 || r.APSError() == nil {
		t.Fatalf("refused create: want 500, got %v %d (%s) %s", err, r.Status, phases(r), r.Body)
	}
	if e.faultHits()["/v1.0/users"] == 0 {
		t.Fatal("the refusal fault never fired")
	}
	if _, ok := e.users()["rerun@"+domain]; ok {
		t.Fatal("a refused user exists at Microsoft")
	}
	e.admin("DELETE", "/_sim/faults", nil, nil)
	r, err = e.ctrl.Provision(e.ctx, inst, "users", body)
	if err != nil || r.Status != 200 || mustJSON(t, r)["state"] != "active" {
		t.Fatalf("re-run: %v %d (%s) %s", err, r.Status, phases(r), r.Body)
	}
	n := 0
	for upn, u := range e.users() {
		if upn == "rerun@"+domain {
			n++
			if len(u.Licenses) != 1 {
				t.Fatalf("user licenses %v", u.Licenses)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d users after the re-run", n)
	}
	if pw, _ := mustJSON(t, r)["initial_password"].(string); pw == "" {
		t.Fatalf("the completing answer has no generated initial_password: %s", r.Body)
	}
	if r, _ := e.ctrl.Retrieve(e.ctx, inst, "users", r.ResourceID); strings.Contains(string(r.Body), "initial_password\":\"") {
		t.Fatalf("a read returned the initial password: %s", r.Body)
	}
}

// Reads while the provisioning runs never see nor use up the admin password:
// the answer completing the provisioning carries it, a re-send of that answer
// carries it again, a read never does.
func TestAdminPasswordOnlyInCompletingAnswer(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers",
		"mode": "delay", "delay_ms": 1500, "count": 1}, nil)
	body := tenantBody(subdomain())
	id := uuid.NewString()
	body["aps"] = map[string]any{"id": id}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var reads, leaked int
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			r, err := e.ctrl.Retrieve(e.ctx, inst, "tenants", id)
			if err != nil || r.Status != 200 {
				continue
			}
			mu.Lock()
			reads++
			if strings.Contains(string(r.Body), "admin_password\":\"") {
				leaked++
			}
			mu.Unlock()
		}
	}()
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", body)
	close(stop)
	wg.Wait()
	if err != nil || r.Status != 200 {
		t.Fatalf("provision: %v %d %s", err, r.Status, r.Body)
	}
	if reads == 0 || leaked != 0 {
		t.Fatalf("%d reads during the provisioning, %d carried the password", reads, leaked)
	}
	pw, _ := mustJSON(t, r)["admin_password"].(string)
	if pw == "" {
		t.Fatalf("the completing answer has no admin_password: %s", r.Body)
	}
	again, err := e.ctrl.Raw(e.ctx, inst, "POST", "/tenants", nil, mustMarshal(body), apsc.WithHeader(apsc.HeaderRequestPhase, apsc.PhaseAsync))
	if err != nil || again.Status != 200 || mustJSON(t, again)["admin_password"] != pw {
		t.Fatalf("re-send of the completing answer: %v %d %s", err, again.Status, again.Body)
	}
	g, err := e.ctrl.Retrieve(e.ctx, inst, "tenants", r.ResourceID)
	if err != nil || g.Status != 200 || strings.Contains(string(g.Body), pw) {
		t.Fatalf("a read after completion: %v %d %s", err, g.Status, g.Body)
	}
}
