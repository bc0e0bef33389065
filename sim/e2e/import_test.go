package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// importCustomer creates a customer the way a partner does in the Partner
// Center portal, with one user made by the customer's own admin.
func (e *env) importCustomer(sub string) (customerID, upn string) {
	e.t.Helper()
	domain := sub + ".onmicrosoft.com"
	var c struct {
		ID string `json:"id"`
	}
	e.admin("POST", "/_sim/partners/"+e.partner.TenantID+"/customers",
		map[string]any{"domain": domain, "company_name": "Portal " + sub, "country": "US"}, &c)
	if c.ID == "" {
		e.t.Fatal("the simulator answered no customer id")
	}
	upn = "olga@" + domain
	e.admin("POST", "/_sim/customers/"+c.ID+"/users", map[string]any{"user_principal_name": upn, "display_name": "Olga", "usage_location": "US"}, nil)
	return c.ID, upn
}

// linkBody provisions a tenant that links an existing customer.
func linkBody(customerID string) map[string]any {
	b := tenantBody("unused")
	delete(b, "initial_subdomain")
	b["ms_customer_id"] = customerID
	return b
}

// An operator imports a customer made outside the platform: it is listed
// as unmanaged, linked by provisioning a tenant with its ms_customer_id,
// and what it already had (its user) is adopted and registered in the
// platform as a resource linked to the tenant, which the gateway then
// serves under that id. With register_adopted false, nothing is registered.
func TestImportRegistersAdoptedResources(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	sub := subdomain()
	customerID, upn := e.importCustomer(sub)

	r, err := e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/customers", url.Values{"managed": {"false"}}, nil)
	if err != nil || r.Status != 200 || !strings.Contains(string(r.Body), customerID) {
		t.Fatalf("unmanaged customers: %v %d %s", err, r.Status, r.Body)
	}
	r, err = e.ctrl.Provision(e.ctx, inst, "tenants", linkBody(customerID))
	if err != nil || r.Status != 200 {
		t.Fatalf("link: %v %d %s", err, r.Status, r.Body)
	}
	tenantID, linkTx := r.ResourceID, r.Trace[0].TransactionID

	// The adoption runs as a job after the link: wait for the registration.
	var user map[string]any
	for deadline := time.Now().Add(30 * time.Second); user == nil; {
		for _, res := range e.ctrl.Registered(inst.InstanceID) {
			if res["login"] == upn {
				user = res
			}
		}
		if user == nil {
			if time.Now().After(deadline) {
				t.Fatalf("the adopted user was not registered; registered: %v", e.ctrl.Registered(inst.InstanceID))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	meta := user["aps"].(map[string]any)
	if link, _ := user["tenant"].(map[string]any); link["aps"].(map[string]any)["id"] != tenantID || !strings.Contains(meta["type"].(string), "/user/") {
		t.Fatalf("registered user: %v", user)
	}
	userID := meta["id"].(string)
	r, err = e.ctrl.Retrieve(e.ctx, inst, "users", userID)
	if err != nil || r.Status != 200 || mustJSON(t, r)["login"] != upn {
		t.Fatalf("the gateway does not serve the registered user under its id: %v %d %s", err, r.Status, r.Body)
	}
	// Registered once, whatever the job re-ran.
	n := 0
	for _, res := range e.ctrl.Registered(inst.InstanceID) {
		if res["login"] == upn {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the user was registered %d times", n)
	}
	// The registrations, made by jobs after the link's answer, join no
	// transaction: the link's task is over by then.
	posts := 0
	for _, req := range e.ctrl.Requests() {
		if req.Method == "POST" && strings.HasSuffix(req.Path, "/aps/2/resources") && req.InstanceID == inst.InstanceID {
			posts++
			if req.TransactionID() != "" {
				t.Fatalf("a registration joined transaction %q (the link's is %q)", req.TransactionID(), linkTx)
			}
		}
	}
	if posts == 0 || linkTx == "" {
		t.Fatalf("%d registrations reached the controller; the link's transaction %q", posts, linkTx)
	}
	r, _ = e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/customers", url.Values{"managed": {"false"}}, nil)
	if strings.Contains(string(r.Body), customerID) {
		t.Fatalf("a linked customer is still listed as unmanaged: %s", r.Body)
	}

	// An instance that does not register adopted resources.
	quiet := e.install(map[string]any{"register_adopted": false})
	otherID, _ := e.importCustomer(subdomain())
	r, err = e.ctrl.Provision(e.ctx, quiet, "tenants", linkBody(otherID))
	if err != nil || r.Status != 200 {
		t.Fatalf("link: %v %d %s", err, r.Status, r.Body)
	}
	otherTenant := r.ResourceID
	for deadline := time.Now().Add(30 * time.Second); ; {
		r, _ = e.ctrl.Retrieve(e.ctx, quiet, "tenants", otherTenant)
		if mustJSON(t, r)["last_synchronization"] != nil {
			break // adopted
		}
		if time.Now().After(deadline) {
			t.Fatalf("the linked customer was never adopted: %s", r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := e.ctrl.Registered(quiet.InstanceID); len(got) != 0 {
		t.Fatalf("register_adopted=false registered %v", got)
	}
}
