package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/o365gateway/gateway/sim/devstack"
)

// The single-process mode (the allinone binary): the facade calls the
// services in process. A tenant, its seats and a licensed user go through
// it as through separate processes; the services see the facade's own
// identity in their request log and their audit log, as over mutual TLS;
// and a restart of the process loses nothing.
func TestAllInOne(t *testing.T) {
	e := startWith(t, stackOpts{allInOne: true})
	pid := e.stack.Pid(devstack.Facade)
	// The facade serves calling the services in process (its own words).
	if !logged(t, e.stack.LogFiles[devstack.Facade], func(l logLine) bool {
		return l.Msg == "serving" && l.Service == "facade" && l.Tenant == "in process"
	}) {
		t.Fatal("the facade does not say it calls the tenant service in process")
	}
	inst := e.install(nil)
	tenantID, subID, domain := e.seats(inst, 2)
	r, err := e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "ann@"+domain, subID))
	if err != nil || r.Status != 200 || mustJSON(t, r)["state"] != "active" {
		t.Fatalf("user: %v %d (%s) %s", err, r.Status, phases(r), r.Body)
	}
	userID := r.ResourceID
	if u := e.users()["ann@"+domain]; len(u.Licenses) != 1 {
		t.Fatalf("simulator user %+v", u)
	}

	// The user service logged the creation with the facade as its caller.
	const facade = "spiffe://" + devstack.TrustDomain + "/facade"
	if !loggedCall(t, e.stack.LogFiles[devstack.User], "/o365.user.v1.UserService/ProvisionUser", facade) {
		t.Errorf("no ProvisionUser call of %s in the log", facade)
	}
	// Its audit log recorded the change with the facade's identity.
	_, report, entries := runVerify(t, auditVerify(t), e.stack, devstack.User)
	found := false
	for _, en := range entries {
		if en.Operation.Method == "/o365.user.v1.UserService/ProvisionUser" && en.Resource.ID == userID {
			found = true
			if en.Caller.Identity != facade || en.Outcome.Code != "OK" {
				t.Errorf("audit entry of the creation: caller %q, outcome %q", en.Caller.Identity, en.Outcome.Code)
			}
		}
	}
	if !found {
		t.Errorf("no audit entry of the user's creation:\n%s", report)
	}

	if err := e.stack.Restart(e.ctx, devstack.Tenant); err != nil {
		t.Fatal(err)
	}
	if e.stack.Pid(devstack.Facade) == pid {
		t.Fatal("the restart did not restart the process")
	}
	for _, res := range [][2]string{{"tenants", tenantID}, {"subscriptions", subID}, {"users", userID}} {
		r, err := e.ctrl.Retrieve(e.ctx, inst, res[0], res[1])
		if err != nil || r.Status != 200 {
			t.Fatalf("%s/%s after the restart: %v %d %s", res[0], res[1], err, r.Status, r.Body)
		}
	}
}

// logLine is what the test reads of a JSON log line.
type logLine struct{ Msg, Service, Method, Caller, Tenant string }

// logged tells whether a log holds a line that match accepts.
func logged(t *testing.T, file string, match func(logLine) bool) bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line logLine
		if json.Unmarshal(sc.Bytes(), &line) == nil && match(line) {
			return true
		}
	}
	return false
}

// loggedCall tells whether a log holds an "rpc" line of method by caller.
func loggedCall(t *testing.T, file, method, caller string) bool {
	t.Helper()
	return logged(t, file, func(l logLine) bool { return l.Msg == "rpc" && l.Method == method && l.Caller == caller })
}
