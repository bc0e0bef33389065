package e2e

import (
	"net/url"
	"strings"
	"testing"
)

// An app+user instance (a refresh token, the secure application model),
// driven as APSC does: the tenant is provisioned with a GDAP relationship
// waiting for the customer's approval; directory operations are refused
// with the approval link until the customer approves; the health check
// tracks the approval and grants the application's consent; users and
// password resets then work. The same instance lists the partner's
// unmanaged customers and is upgraded from package 1.0.
func TestAppUserInstanceUnderGDAP(t *testing.T) {
	e := start(t)
	inst := e.install(map[string]any{"client_secret": "", "refresh_token": e.partner.RefreshToken})

	sub := subdomain()
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", tenantBody(sub))
	if err != nil || r.Status != 200 {
		t.Fatalf("tenant: %v %d %s", err, r.Status, r.Body)
	}
	tenantID := r.ResourceID
	g, _ := mustJSON(t, r)["gdap"].(map[string]any)
	relID, _ := g["relationship_id"].(string)
	link, _ := g["approval_url"].(string)
	if g["state"] != "pending_approval" || relID == "" || !strings.Contains(link, relID) || g["expires_at"] == nil {
		t.Fatalf("gdap of the new tenant: %v", g)
	}

	// Directory operations wait for the approval, and say where to give it.
	domain := sub + ".onmicrosoft.com"
	r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "ann@"+domain, ""))
	wantError(t, r, err, 400, "GdapPendingApproval")
	if !strings.Contains(string(r.Body), link) {
		t.Fatalf("the refusal carries no approval link: %s", r.Body)
	}
	if _, ok := e.users()["ann@"+domain]; ok {
		t.Fatal("a refused user was created")
	}
	r, err = e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/health", url.Values{"refresh": {"true"}}, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("health: %v %d %s", err, r.Status, r.Body)
	}
	h := mustJSON(t, r)
	if c := h["credentials"].(map[string]any); c["kind"] != "refresh_token" || c["state"] != "ok" || c["expires_at"] == nil {
		t.Fatalf("credential health: %v", c)
	}
	risks, _ := h["tenants_at_risk"].([]any)
	if len(risks) != 1 || risks[0].(map[string]any)["problem"] != "GdapMissing" {
		t.Fatalf("tenants at risk before approval: %v", risks)
	}

	// The customer's administrator approves; the check notices and consents.
	e.admin("POST", "/_sim/gdap/"+relID+"/approve", nil, nil)
	r, err = e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/health", url.Values{"refresh": {"true"}}, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("health: %v %d %s", err, r.Status, r.Body)
	}
	if risks, _ := mustJSON(t, r)["tenants_at_risk"].([]any); len(risks) != 0 {
		t.Fatalf("tenants at risk after approval: %v", risks)
	}
	r, _ = e.ctrl.Retrieve(e.ctx, inst, "tenants", tenantID)
	if g := mustJSON(t, r)["gdap"].(map[string]any); g["state"] != "active" || g["auto_extend"] != true {
		t.Fatalf("gdap after approval: %v", g)
	}
	r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "ann@"+domain, ""))
	if err != nil || r.Status != 200 {
		t.Fatalf("user under GDAP: %v %d %s", err, r.Status, r.Body)
	}
	userID := r.ResourceID
	if pw, _ := mustJSON(t, r)["initial_password"].(string); pw == "" {
		t.Fatalf("no initial_password in the completing answer: %s", r.Body)
	}
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/users/"+userID+"/resetPassword", nil, nil)
	if err != nil || r.Status != 200 || len(mustJSON(t, r)["password"].(string)) < 12 {
		t.Fatalf("reset under GDAP: %v %d", err, r.Status)
	}

	// Import: a customer made in the Partner Center portal is listed; the
	// managed one is not.
	var made map[string]any
	e.admin("POST", "/_sim/partners/"+e.partner.TenantID+"/customers",
		map[string]any{"domain": "imp" + sub[3:] + ".onmicrosoft.com", "company_name": "Imported Ltd", "country": "US"}, &made)
	r, err = e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/customers", url.Values{"managed": {"false"}}, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("customers: %v %d %s", err, r.Status, r.Body)
	}
	var listed []map[string]any
	if err := r.Decode(&listed); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range listed {
		if c["domain_name"] == domain {
			t.Fatalf("a managed customer is listed: %v", c)
		}
		found = found || c["company_name"] == "Imported Ltd"
	}
	if !found {
		t.Fatalf("the portal's customer is not listed: %s", r.Body)
	}
	r, err = e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/customers", url.Values{"managed": {"true"}}, nil)
	wantError(t, r, err, 400, "InvalidRequest")

	// An instance installed with package 1.0 is brought forward with the
	// new settings' defaults.
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/app/"+inst.AppID+"/upgrade", url.Values{"version": {"1.0"}}, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("upgrade: %v %d %s", err, r.Status, r.Body)
	}
	app := mustJSON(t, r)
	if app["register_adopted"] != true || len(app["gdap_roles"].([]any)) != 3 {
		t.Fatalf("upgraded instance: %v", app)
	}
}
