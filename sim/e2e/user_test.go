package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
)

type simUser struct {
	UPN      string   `json:"user_principal_name"`
	Licenses []string `json:"licenses"`
}

func (e *env) users() map[string]simUser {
	var st struct {
		Partners []struct {
			Users []simUser `json:"users"`
		} `json:"partners"`
	}
	e.admin("GET", "/_sim/state?partner="+e.partner.TenantID, nil, &st)
	out := map[string]simUser{}
	for _, u := range st.Partners[0].Users {
		if !strings.HasPrefix(u.UPN, "admin@") {
			out[u.UPN] = u
		}
	}
	return out
}

// seats provisions a tenant and buys n seats; it returns the tenant and
// subscription APS ids and the initial domain.
func (e *env) seats(inst *apsc.Instance, n int) (string, string, string) {
	e.t.Helper()
	sub := subdomain()
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", tenantBody(sub))
	if err != nil || r.Status != 200 {
		e.t.Fatalf("tenant: %v %d %s", err, r.Status, r.Body)
	}
	tenantID := r.ResourceID
	r, err = e.ctrl.Provision(e.ctx, inst, "subscriptions", subscriptionBody(tenantID, n))
	if err != nil || r.Status != 200 {
		e.t.Fatalf("seats: %v %d %s", err, r.Status, r.Body)
	}
	return tenantID, r.ResourceID, sub + ".onmicrosoft.com"
}

func userBody(tenantID, login, subID string) map[string]any {
	u := map[string]any{"tenant": map[string]any{"aps": map[string]any{"id": tenantID}}, "login": login,
		"first_name": "Ann", "last_name": "Lee", "usage_location": "US"}
	if subID != "" {
		u["licenses"] = []any{map[string]any{"subscription": map[string]any{"aps": map[string]any{"id": subID}}}}
	}
	return u
}

func TestUsersLicensesAndDomains(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	tenantID, subID, domain := e.seats(inst, 2)

	body := userBody(tenantID, "ann@"+domain, subID)
	r, err := e.ctrl.Provision(e.ctx, inst, "users", body)
	if err != nil || r.Status != 200 || mustJSON(t, r)["state"] != "active" {
		t.Fatalf("user: %v %d (%s) %s", err, r.Status, phases(r), r.Body)
	}
	userID := r.ResourceID
	if u := e.users()["ann@"+domain]; len(u.Licenses) != 1 {
		t.Fatalf("simulator user %+v", u)
	}
	usage := func() float64 {
		r, err := e.ctrl.Retrieve(e.ctx, inst, "subscriptions", subID)
		if err != nil || r.Status != 200 {
			t.Fatalf("%v %d", err, r.Status)
		}
		return mustJSON(t, r)["licenses"].(map[string]any)["usage"].(float64)
	}
	deadline := time.Now().Add(10 * time.Second)
	for usage() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the subscription's licenses.usage did not rise to 1")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Remove the license.
	delete(body, "licenses")
	if r, err = e.ctrl.Configure(e.ctx, inst, "users", userID, body); err != nil || r.Status != 200 {
		t.Fatalf("configure: %v %d %s", err, r.Status, r.Body)
	}
	if u := e.users()["ann@"+domain]; len(u.Licenses) != 0 {
		t.Fatalf("license not removed: %+v", u)
	}

	// More licenses than seats: two users on one remaining seat.
	if r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "bo@"+domain, subID)); err != nil || r.Status != 200 {
		t.Fatalf("%v %d %s", err, r.Status, r.Body)
	}
	if r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "cy@"+domain, subID)); err != nil || r.Status != 200 {
		t.Fatalf("%v %d %s", err, r.Status, r.Body)
	}
	r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "di@"+domain, subID))
	wantError(t, r, err, 400, "NotEnoughLicenses")
	if _, ok := e.users()["di@"+domain]; ok {
		t.Fatal("a refused user was created")
	}

	// A custom domain: refused until verified.
	dom := map[string]any{"tenant": map[string]any{"aps": map[string]any{"id": tenantID}}, "domain_name": "fabrikam-" + domain[:8] + ".example"}
	r, err = e.ctrl.Provision(e.ctx, inst, "domains", dom)
	if err != nil || r.Status != 200 {
		t.Fatalf("domain: %v %d %s", err, r.Status, r.Body)
	}
	domainID, name := r.ResourceID, mustJSON(t, r)["domain_name"].(string)
	var txt string
	for _, rec := range mustJSON(t, r)["verification_records"].([]any) {
		if m := rec.(map[string]any); m["record_type"] == "Txt" {
			txt = m["text"].(string)
		}
	}
	r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "eve@"+name, ""))
	wantError(t, r, err, 400, "DomainNotVerified")
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/domains/"+domainID+"/verify", nil, nil)
	wantError(t, r, err, 400, "DomainNotVerified")
	e.admin("POST", "/_sim/dns", map[string]any{"domain": name, "txt": txt}, nil)
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/domains/"+domainID+"/verify", nil, nil)
	if err != nil || r.Status != 200 || mustJSON(t, r)["state"] != "verified" {
		t.Fatalf("verify: %v %d %s", err, r.Status, r.Body)
	}
	r, err = e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "eve@"+name, ""))
	if err != nil || r.Status != 200 {
		t.Fatalf("user on the custom domain: %v %d %s", err, r.Status, r.Body)
	}

	// Reset a password, then delete the user.
	r, err = e.ctrl.Operation(e.ctx, inst, "POST", "/users/"+userID+"/resetPassword", nil, nil)
	if err != nil || r.Status != 200 || len(mustJSON(t, r)["password"].(string)) < 12 {
		t.Fatalf("reset: %v %d", err, r.Status)
	}
	if r, err = e.ctrl.Unprovision(e.ctx, inst, "users", userID); err != nil || r.Status != 204 {
		t.Fatalf("delete: %v %d", err, r.Status)
	}
	if _, ok := e.users()["ann@"+domain]; ok {
		t.Fatal("user not deleted at Microsoft")
	}
}

// TestBulkUsers provisions 500 users into one tenant through the facade while
// the simulator enforces Graph's directory write limit (scaled down to keep
// the test short). All must succeed; the test reports the achieved write rate
// against the limit and the number of 429 answers.
func TestBulkUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk test")
	}
	const n, limit, window = 500, 150, 10
	e := start(t)
	e.admin("POST", "/_sim/settings", map[string]any{"graph_write_limit": limit, "graph_write_window_seconds": window}, nil)
	inst := e.install(nil)
	tenantID, _, domain := e.seats(inst, 1)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, fmt.Sprintf("user%03d@%s", i, domain), ""))
			if err == nil && r.Status != 200 {
				err = fmt.Errorf("user %d: %d %s", i, r.Status, r.Body)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	elapsed := time.Since(start)
	var st struct {
		Partners []struct {
			GraphThrottled int `json:"graph_throttled"`
		} `json:"partners"`
	}
	e.admin("GET", "/_sim/state?partner="+e.partner.TenantID, nil, &st)
	if got := len(e.users()); got != n {
		t.Fatalf("%d users at Microsoft, want %d", got, n)
	}
	t.Logf("%d users in %s: %.1f Graph writes/s against a limit of %.1f/s; %d answers were 429",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), float64(limit)/window, st.Partners[0].GraphThrottled)
}
