package e2e

import (
	"net/url"
	"testing"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
)

const businessBasic = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"

type simSub struct {
	ID       string `json:"id"`
	Customer string `json:"customer_id"`
	Quantity int64  `json:"quantity"`
	Status   string `json:"status"`
}

func (e *env) subscriptions() []simSub {
	var st struct {
		Partners []struct {
			Subscriptions []simSub `json:"subscriptions"`
		} `json:"partners"`
	}
	e.admin("GET", "/_sim/state?partner="+e.partner.TenantID, nil, &st)
	return st.Partners[0].Subscriptions
}

// tenant provisions a tenant (with its MCA) and returns its APS id and Microsoft customer id.
func (e *env) tenant(inst *apsc.Instance) (string, string) {
	e.t.Helper()
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", tenantBody(subdomain()))
	if err != nil || r.Status != 200 {
		e.t.Fatalf("tenant: %v %d %s", err, r.Status, r.Body)
	}
	return r.ResourceID, mustJSON(e.t, r)["ms_customer_id"].(string)
}

func subscriptionBody(tenantID string, seats int) map[string]any {
	return map[string]any{"tenant": map[string]any{"aps": map[string]any{"id": tenantID}}, "offer_id": businessBasic,
		"licenses": map[string]any{"limit": seats}, "term_duration": "P1M", "billing_cycle": "monthly"}
}

func TestSubscriptionLifecycle(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	r, err := e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/offers", url.Values{"country": {"US"}}, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("offers: %v %d %s", err, r.Status, r.Body)
	}
	tenantID, _ := e.tenant(inst)

	body := subscriptionBody(tenantID, 10)
	r, err = e.ctrl.Provision(e.ctx, inst, "subscriptions", body)
	if err != nil || r.Status != 200 || r.Trace[0].Status != 202 {
		t.Fatalf("buy: %v %d (%s) %s", err, r.Status, phases(r), r.Body)
	}
	id := r.ResourceID
	got := mustJSON(t, r)
	msID, _ := got["ms_subscription_id"].(string)
	if msID == "" || got["state"] != "active" {
		t.Fatalf("subscription: %s", r.Body)
	}
	check := func(qty int64, status string) {
		t.Helper()
		subs := e.subscriptions()
		if len(subs) != 1 || subs[0].ID != msID || subs[0].Quantity != qty || subs[0].Status != status {
			t.Fatalf("simulator %+v, want %d %s", subs, qty, status)
		}
	}
	check(10, "active")
	for _, q := range []int{15, 12} {
		body["licenses"] = map[string]any{"limit": q}
		if r, err = e.ctrl.Configure(e.ctx, inst, "subscriptions", id, body); err != nil || r.Status != 200 {
			t.Fatalf("quantity %d: %v %d %s", q, err, r.Status, r.Body)
		}
		check(int64(q), "active")
	}
	body["suspended"] = true
	if r, err = e.ctrl.Configure(e.ctx, inst, "subscriptions", id, body); err != nil || r.Status != 200 || mustJSON(t, r)["state"] != "suspended" {
		t.Fatalf("suspend: %v %d %s", err, r.Status, r.Body)
	}
	check(12, "suspended")
	body["suspended"] = false
	if r, err = e.ctrl.Configure(e.ctx, inst, "subscriptions", id, body); err != nil || r.Status != 200 {
		t.Fatalf("resume: %v %d %s", err, r.Status, r.Body)
	}
	check(12, "active")

	r, err = e.ctrl.Retrieve(e.ctx, inst, "subscriptions", id)
	if err != nil || r.Status != 200 || mustJSON(t, r)["licenses"].(map[string]any)["usage"] != float64(0) {
		t.Fatalf("retrieve: %v %d %s", err, r.Status, r.Body)
	}

	e.admin("POST", "/_sim/clock", map[string]any{"advance": "169h"}, nil)
	body["licenses"] = map[string]any{"limit": 8}
	r, err = e.ctrl.Configure(e.ctx, inst, "subscriptions", id, body)
	wantError(t, r, err, 400, "CancellationWindowClosed")
	check(12, "active")

	r, err = e.ctrl.Provision(e.ctx, inst, "subscriptions", subscriptionBody(tenantID, 5000))
	wantError(t, r, err, 400, "QuantityOutOfRange")
	bad := subscriptionBody(tenantID, 5)
	bad["offer_id"] = "NOPE"
	r, err = e.ctrl.Provision(e.ctx, inst, "subscriptions", bad)
	wantError(t, r, err, 400, "OfferNotFound")
	if n := len(e.subscriptions()); n != 1 {
		t.Fatalf("%d subscriptions", n)
	}

	// Outside the window, unprovision turns auto-renew off: the seats end at term end.
	r, err = e.ctrl.Unprovision(e.ctx, inst, "subscriptions", id)
	if err != nil || r.Status != 204 {
		t.Fatalf("unprovision: %v %d", err, r.Status)
	}
}

// TestSubscriptionServiceKilledMidJob: Microsoft checks the cart out but keeps
// failing the answer; the subscription service is killed and restarted; the
// job reads the purchase back and buys nothing twice.
func TestSubscriptionServiceKilledMidJob(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	tenantID, customerID := e.tenant(inst)
	e.admin("POST", "/_sim/settings", map[string]any{"request_id_replay": false}, nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST",
		"path": "/v1/customers/" + customerID + "/carts/", "mode": "error_after_commit", "status": 503, "count": 0}, nil)
	body := subscriptionBody(tenantID, 6)
	body["aps"] = map[string]any{"id": "7a1e0c52-2222-4000-8000-00000000abcd"}
	body = withSubType(body)
	r, err := e.ctrl.Raw(e.ctx, inst, "POST", "/subscriptions", nil, mustMarshal(body), apsc.WithHeader("APS-Request-Phase", "sync"))
	if err != nil || r.Status != 202 {
		t.Fatalf("%v %d %s", err, r.Status, r.Body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(e.subscriptions()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("checkout never happened")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.stack.Kill("subscription"); err != nil {
		t.Fatal(err)
	}
	e.admin("DELETE", "/_sim/faults", nil, nil)
	if err := e.stack.Restart(e.ctx, "subscription"); err != nil {
		t.Fatal(err)
	}
	for {
		r, err = e.ctrl.Raw(e.ctx, inst, "POST", "/subscriptions", nil, mustMarshal(body), apsc.WithHeader("APS-Request-Phase", "async"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 202 {
			break
		}
		if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Fatal("the job did not resume")
		}
		time.Sleep(300 * time.Millisecond)
	}
	subs := e.subscriptions()
	if r.Status != 200 || len(subs) != 1 || subs[0].Quantity != 6 || subs[0].ID != mustJSON(t, r)["ms_subscription_id"] {
		t.Fatalf("after restart: %d %s; simulator %+v", r.Status, r.Body, subs)
	}
}

func withSubType(m map[string]any) map[string]any {
	m["aps"].(map[string]any)["type"] = "http://o365gateway.org/aps/subscription/1.0"
	return m
}
