package e2e

import "testing"

// TestSynchronizeImportsWhatWasCreatedOutside: a user created at Microsoft
// directly (by the customer's admin) appears in the gateway after
// POST /tenants/{id}/synchronize, and the report says so.
func TestSynchronizeImportsWhatWasCreatedOutside(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", tenantBody(subdomain()))
	if err != nil || r.Status != 200 {
		t.Fatalf("%v %d %s", err, r.Status, r.Body)
	}
	tenantID := r.ResourceID
	tenant := mustJSON(t, r)
	customerID, domain := tenant["ms_customer_id"].(string), tenant["domain_name"].(string)
	upn := "outsider@" + domain
	e.admin("POST", "/_sim/customers/"+customerID+"/users", map[string]any{"user_principal_name": upn, "display_name": "Out Sider"}, nil)

	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/synchronize", nil, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("synchronize: %v %d %s", err, r.Status, r.Body)
	}
	var report struct {
		SynchronizedAt string `json:"synchronized_at"`
		Changes        []struct {
			Kind, Change, ID, Name string
		} `json:"changes"`
	}
	if err := r.Decode(&report); err != nil {
		t.Fatal(err)
	}
	var userID string
	for _, c := range report.Changes {
		if c.Kind == "users" && c.Change == "imported" && c.Name == upn {
			userID = c.ID
		}
	}
	if userID == "" || report.SynchronizedAt == "" {
		t.Fatalf("report %s", r.Body)
	}
	r, err = e.ctrl.Retrieve(e.ctx, inst, "users", userID)
	if err != nil || r.Status != 200 || mustJSON(t, r)["login"] != upn || mustJSON(t, r)["ms_user_id"] == "" {
		t.Fatalf("imported user: %v %d %s", err, r.Status, r.Body)
	}
	r, _ = e.ctrl.Retrieve(e.ctx, inst, "tenants", tenantID)
	if mustJSON(t, r)["last_synchronization"] == nil {
		t.Fatalf("last_synchronization not set: %s", r.Body)
	}
	// A second run finds nothing new.
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/synchronize", nil, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("%v %d", err, r.Status)
	}
	var second struct {
		Changes []any `json:"changes"`
	}
	if err := r.Decode(&second); err != nil || len(second.Changes) != 0 {
		t.Fatalf("second run: %s", r.Body)
	}
}
