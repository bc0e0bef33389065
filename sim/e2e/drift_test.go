package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
)

// microsoft calls the simulated Microsoft API as somebody acting outside
// the platform would: the partner's application, app-only, with a token
// issued by tenant for the Graph or Partner Center audience.
func (e *env) microsoft(tenant, audience, method, path string, body any) map[string]any {
	e.t.Helper()
	base := strings.TrimSuffix(e.stack.SimURL, "/")
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.partner.ClientID},
		"client_secret": {e.partner.ClientSecret}, "scope": {audience + "/.default"}}
	resp, err := e.sim.HTTP.PostForm(base+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(e.ctx, method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = e.sim.HTTP.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	out := map[string]any{}
	_ = json.Unmarshal(data, &out)
	return out
}

type driftItem struct {
	Kind     string         `json:"kind"`
	Resource map[string]any `json:"resource"`
	MSID     string         `json:"ms_id"`
	Problem  string         `json:"problem"`
	Repair   string         `json:"repair"`
	Commerce bool           `json:"commerce"`
	Outcome  string         `json:"outcome"`
	Platform map[string]any `json:"platform"`
	Micro    map[string]any `json:"microsoft"`
}

func driftItems(t *testing.T, r *apsc.Result) []driftItem {
	t.Helper()
	var rep struct {
		CheckedAt string      `json:"checked_at"`
		Items     []driftItem `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &rep); err != nil || rep.CheckedAt == "" {
		t.Fatalf("not a drift report (%v): %s", err, r.Body)
	}
	return rep.Items
}

func find(items []driftItem, kind, problem string) (int, *driftItem) {
	for i := range items {
		if items[i].Kind == kind && items[i].Problem == problem {
			return i, &items[i]
		}
	}
	return -1, nil
}

// Changes made at Microsoft outside the platform are found by a drift
// check, planned with dry_run (nothing changes), and repaired: the
// platform's licenses pushed back, an outside user adopted and registered,
// and a quantity changed outside pushed back only when named.
func TestDriftFoundAndRepaired(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	sub := subdomain()
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", tenantBody(sub))
	if err != nil || r.Status != 200 {
		t.Fatalf("tenant: %v %d %s", err, r.Status, r.Body)
	}
	tenantID, customerID := r.ResourceID, mustJSON(t, r)["ms_customer_id"].(string)
	r, err = e.ctrl.Provision(e.ctx, inst, "subscriptions", subscriptionBody(tenantID, 5))
	if err != nil || r.Status != 200 {
		t.Fatalf("subscription: %v %d %s", err, r.Status, r.Body)
	}
	subID, msSubID := r.ResourceID, mustJSON(t, r)["ms_subscription_id"].(string)
	domain := sub + ".onmicrosoft.com"
	r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "ann@"+domain, subID))
	if err != nil || r.Status != 200 {
		t.Fatalf("user: %v %d %s", err, r.Status, r.Body)
	}
	annID, annMS := r.ResourceID, mustJSON(t, r)["ms_user_id"].(string)

	// Outside the platform: the customer's admin removes Ann's license and
	// adds a user; somebody raises the seats in the Partner Center portal.
	u := e.microsoft(customerID, "https://graph.microsoft.com", "GET", "/v1.0/users/"+annMS, nil)
	sku := u["assignedLicenses"].([]any)[0].(map[string]any)["skuId"].(string)
	e.microsoft(customerID, "https://graph.microsoft.com", "POST", "/v1.0/users/"+annMS+"/assignLicense",
		map[string]any{"addLicenses": []any{}, "removeLicenses": []any{sku}})
	outside := "bob@" + domain
	e.admin("POST", "/_sim/customers/"+customerID+"/users", map[string]any{"user_principal_name": outside, "display_name": "Bob"}, nil)
	ms := e.microsoft(e.partner.TenantID, "https://api.partnercenter.microsoft.com", "GET", "/v1/customers/"+customerID+"/subscriptions/"+msSubID, nil)
	ms["quantity"] = 7
	e.microsoft(e.partner.TenantID, "https://api.partnercenter.microsoft.com", "PATCH", "/v1/customers/"+customerID+"/subscriptions/"+msSubID, ms)

	// The check runs as a job: 202 until it is done.
	r, err = e.ctrl.Operation(e.ctx, inst, "GET", "/tenants/"+tenantID+"/drift", url.Values{"refresh": {"true"}}, nil)
	if err != nil || r.Status != 200 || !strings.HasPrefix(phases(r), "sync:202 async:") {
		t.Fatalf("refresh: %v %d %s %s", err, r.Status, phases(r), r.Body)
	}
	items := driftItems(t, r)
	_, lic := find(items, "user", "LicensesDiffer")
	var bob *driftItem
	for i := range items {
		if items[i].Problem == "MissingInPlatform" && items[i].Micro["user_principal_name"] == outside {
			bob = &items[i]
		}
	}
	_, qty := find(items, "subscription", "QuantityDiffers")
	if lic == nil || lic.Resource["aps"].(map[string]any)["id"] != annID || lic.Repair != "push" ||
		bob == nil || bob.Repair != "adopt" || bob.Micro["user_principal_name"] != outside ||
		qty == nil || !qty.Commerce || qty.Micro["quantity"] != float64(7) || qty.Platform["quantity"] != float64(5) {
		t.Fatalf("drift report: %+v", items)
	}
	// A GET without refresh answers the stored report at once.
	if r, _ = e.ctrl.Operation(e.ctx, inst, "GET", "/tenants/"+tenantID+"/drift", nil, nil); r.Status != 200 || len(driftItems(t, r)) != len(items) {
		t.Fatalf("stored report: %d %s", r.Status, r.Body)
	}

	// A dry run plans everything but the purchase and changes nothing.
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/repair", url.Values{"dry_run": {"true"}}, map[string]any{"items": []any{}})
	if err != nil || r.Status != 200 {
		t.Fatalf("dry run: %v %d %s", err, r.Status, r.Body)
	}
	for _, it := range driftItems(t, r) {
		if it.Commerce || it.Outcome != "planned" && it.Outcome != "skipped" {
			t.Fatalf("dry run item: %+v", it)
		}
	}
	if users := e.users(); len(users["ann@"+domain].Licenses) != 0 {
		t.Fatalf("the dry run changed Ann: %+v", users["ann@"+domain])
	}
	if n := len(e.ctrl.Registered(inst.InstanceID)); n != 0 {
		t.Fatalf("the dry run registered %d resources", n)
	}
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/repair", nil, map[string]any{"items": []any{"nope"}})
	wantError(t, r, err, 400, "InvalidRequest")

	// Repair all (the purchase is left out), then the quantity by name.
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/repair", nil, map[string]any{"items": []any{}})
	if err != nil || r.Status != 200 || !strings.HasPrefix(phases(r), "sync:202 async:") {
		t.Fatalf("repair: %v %d %s %s", err, r.Status, phases(r), r.Body)
	}
	done := driftItems(t, r)
	for _, it := range done {
		if it.Commerce || it.Repair != "none" && it.Outcome != "done" {
			t.Fatalf("repair item: %+v", it)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); len(e.users()["ann@"+domain].Licenses) != 1; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Ann's license was not pushed back: %+v", e.users()["ann@"+domain])
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var registered bool
		for _, res := range e.ctrl.Registered(inst.InstanceID) {
			registered = registered || res["login"] == outside
		}
		if registered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the outside user was not adopted and registered")
		}
	}
	if q := e.microsoft(e.partner.TenantID, "https://api.partnercenter.microsoft.com", "GET", "/v1/customers/"+customerID+"/subscriptions/"+msSubID, nil); q["quantity"] != float64(7) {
		t.Fatalf("a purchase was repaired without being named: %v", q["quantity"])
	}
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/repair", nil, map[string]any{"items": []any{msSubID}})
	if err != nil || r.Status != 200 {
		t.Fatalf("named repair: %v %d %s", err, r.Status, r.Body)
	}
	if it := driftItems(t, r); len(it) != 1 || it[0].Outcome != "done" || !it[0].Commerce {
		t.Fatalf("named repair report: %+v", it)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		q := e.microsoft(e.partner.TenantID, "https://api.partnercenter.microsoft.com", "GET", "/v1/customers/"+customerID+"/subscriptions/"+msSubID, nil)
		if q["quantity"] == float64(5) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the named quantity was not pushed back: %v", q["quantity"])
		}
	}
}

// A synchronization of a tenant with more than 500 users is answered 202
// with its progress in APS-Info; the platform's re-sends get the report.
func TestLargeTenantSynchronizesAsynchronously(t *testing.T) {
	e := start(t)
	inst := e.install(map[string]any{"register_adopted": false})
	sub := subdomain()
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", tenantBody(sub))
	if err != nil || r.Status != 200 {
		t.Fatalf("tenant: %v %d %s", err, r.Status, r.Body)
	}
	tenantID, customerID := r.ResourceID, mustJSON(t, r)["ms_customer_id"].(string)
	for i := range 501 {
		e.admin("POST", "/_sim/customers/"+customerID+"/users",
			map[string]any{"user_principal_name": "u" + strconv.Itoa(i) + "@" + sub + ".onmicrosoft.com", "display_name": "U"}, nil)
	}
	// The first synchronization knows no size yet: it is waited for.
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/synchronize", nil, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("first synchronization: %v %d %s", err, r.Status, r.Body)
	}
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/synchronize", nil, nil)
	if err != nil || r.Status != 200 || mustJSON(t, r)["synchronized_at"] == nil || !strings.HasPrefix(phases(r), "sync:202 async:") {
		t.Fatalf("a large tenant's synchronization: %v %d %s %s", err, r.Status, phases(r), r.Body)
	}
	if info := r.Trace[0].Info; !strings.Contains(info, "about 502 users") { // 501 and the first admin
		t.Fatalf("APS-Info of the 202: %q", info)
	}
}
