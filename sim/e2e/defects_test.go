package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/sim/apsc"
)

// An unprovision that arrives while the provisioning still creates the user
// at Microsoft leaves nothing behind: the user the provisioning made is found
// and deleted.
func TestUnprovisionWhileProvisionRuns(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	tenantID, _, domain := e.seats(inst, 1)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users",
		"mode": "delay_commit", "delay_ms": 2500, "count": 1}, nil)
	login := "early@" + domain
	body := withAPS(userBody(tenantID, login, ""), "users")
	id := apsID(body)
	r, err := e.ctrl.Raw(e.ctx, inst, "POST", "/users", nil, mustMarshal(body), apsc.WithHeader(apsc.HeaderRequestPhase, apsc.PhaseSync))
	if err != nil || r.Status != http.StatusAccepted {
		t.Fatalf("provision: %v %d %s", err, r.Status, r.Body)
	}
	waitHits(t, e, "/v1.0/users") // the create is at Microsoft now
	r = drive(t, e, inst, "DELETE", "/users/"+id, nil, nil)
	if r.Status != http.StatusNoContent {
		t.Fatalf("unprovision: %d %s", r.Status, r.Body)
	}
	time.Sleep(3 * time.Second) // past the delayed create
	if _, ok := e.users()[login]; ok {
		t.Fatalf("user %s left at Microsoft after its unprovision", login)
	}
	if g, _ := e.ctrl.Retrieve(e.ctx, inst, "users", id); g.Status != http.StatusNotFound {
		t.Fatalf("platform still has the user: %d", g.Status)
	}
}

// A 409 on customer creation followed by a read-back that fails for a while
// stays retryable: the customer is found and adopted, never reported as a
// taken domain.
func TestConflictThenTransientReadBack(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers",
		"mode": "error_after_commit", "status": 409, "count": 1}, nil)
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "GET", "path": "/v1/customers",
		"mode": "error", "status": 503, "count": 6}, nil)
	body := tenantBody(subdomain())
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", body)
	if err != nil || r.Status != 200 {
		t.Fatalf("provision: %v %d (%s) %s", err, r.Status, phases(r), r.Body)
	}
	for _, f := range e.faultList() {
		if f.Hits == 0 {
			t.Fatalf("fault on %s never fired", f.Path)
		}
	}
	n := 0
	for _, cu := range e.customers() {
		if cu.Domain == body["initial_subdomain"].(string)+".onmicrosoft.com" {
			n++
			if cu.ID != mustJSON(t, r)["ms_customer_id"] {
				t.Fatalf("adopted %s, platform %s", cu.ID, r.Body)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d customers", n)
	}
}

// Two synchronizations of one tenant never run at once, so a user created
// outside the platform is imported once.
func TestSynchronizationsAreSerialised(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	tenantID, customerID := e.tenant(inst)
	var dom string
	for _, cu := range e.customers() {
		if cu.ID == customerID {
			dom = cu.Domain
		}
	}
	for i := range 20 {
		e.admin("POST", "/_sim/customers/"+customerID+"/users", map[string]any{"user_principal_name": "outside" + string(rune('a'+i)) + "@" + dom,
			"display_name": "Outside", "usage_location": "US"}, nil)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	// Requests that meet a running synchronization wait for it and answer
	// its report: imports are counted once per distinct run.
	runs := map[string]int{}
	refused, ok := 0, 0
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/synchronize", nil, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && r.Status == 200:
				ok++
				m, _ := r.JSON()
				at, _ := m["synchronized_at"].(string)
				changes, _ := m["changes"].([]any)
				n := 0
				for _, c := range changes {
					if m := c.(map[string]any); m["change"] == "imported" && strings.HasPrefix(m["name"].(string), "outside") {
						n++
					}
				}
				runs[at] = n
			case err == nil && r.Status == 409:
				refused++
			default:
				t.Errorf("synchronize: %v %d %s", err, r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	imported := 0
	for _, n := range runs {
		imported += n
	}
	if ok == 0 || imported != 20 {
		t.Fatalf("%d synchronizations answered (%d distinct runs), %d refused as busy, %d users imported (want 20)", ok, len(runs), refused, imported)
	}
}

// A login that already exists at Microsoft is refused with 409
// UserAlreadyExists; once a synchronization adopted that user, a provision
// with the login binds to it instead of creating a second one.
func TestExistingLoginRefusedThenBound(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	tenantID, customerID := e.tenant(inst)
	var dom string
	for _, cu := range e.customers() {
		if cu.ID == customerID {
			dom = cu.Domain
		}
	}
	login := "theirs@" + dom
	var made struct {
		ID string `json:"id"`
	}
	e.admin("POST", "/_sim/customers/"+customerID+"/users", map[string]any{"user_principal_name": login, "display_name": "Theirs",
		"usage_location": "US"}, &made)
	r, err := e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, login, ""))
	wantError(t, r, err, 409, "UserAlreadyExists")
	if r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/tenants/"+tenantID+"/synchronize", nil, nil); err != nil || r.Status != 200 {
		t.Fatalf("synchronize: %v %d %s", err, r.Status, r.Body)
	}
	body := userBody(tenantID, login, "")
	body["aps"] = map[string]any{"id": uuid.NewString()}
	r, err = e.ctrl.Provision(e.ctx, inst, "users", body)
	if err != nil || r.Status != 200 || mustJSON(t, r)["ms_user_id"] != made.ID {
		t.Fatalf("provision of the adopted login: %v %d %s (their user %s)", err, r.Status, r.Body, made.ID)
	}
	n := 0
	for upn := range e.users() {
		if upn == login {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d users %s at Microsoft", n, login)
	}
	// Bound once: another resource with the same login is refused.
	r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, login, ""))
	wantError(t, r, err, 409, "UserAlreadyExists")
}
