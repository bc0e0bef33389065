package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

// auditEntry is an audit log entry as audit-verify -export writes it.
type auditEntry struct {
	Seq        int64  `json:"seq"`
	Service    string `json:"service"`
	Kind       string `json:"kind"`
	InstanceID string `json:"instance_id"`
	Caller     struct {
		Identity            string `json:"identity"`
		APSIdentityID       string `json:"aps_identity_id"`
		APSActorID          string `json:"aps_actor_id"`
		APSAccountHierarchy string `json:"aps_account_hierarchy"`
		APSTransactionID    string `json:"aps_transaction_id"`
	} `json:"caller"`
	Resource struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"resource"`
	Operation struct {
		Method string `json:"method"`
		Phase  string `json:"phase"`
	} `json:"operation"`
	Outcome struct {
		Code   string `json:"code"`
		Reason string `json:"reason"`
	} `json:"outcome"`
	MSRequestIDs []string `json:"ms_request_ids"`
}

// auditVerify is the audit-verify binary: the one make build wrote, or one
// built for the test.
func auditVerify(t *testing.T) string {
	t.Helper()
	if bin := filepath.Join(binDir, "audit-verify"); fileExists(bin) {
		return bin
	}
	dir := t.TempDir()
	root, _ := filepath.Abs("../..")
	cmd := exec.Command("go", "build", "-o", dir+"/", "./services/shared/cmd/audit-verify")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build audit-verify: %v\n%s", err, out)
	}
	return filepath.Join(dir, "audit-verify")
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// databaseURL is the database the stack gives a service.
func databaseURL(t *testing.T, s *devstack.Stack, service string) string {
	t.Helper()
	prefix := strings.ToUpper(service) + "_DATABASE_URL="
	for _, kv := range s.OwnEnv(service) {
		if v, ok := strings.CutPrefix(kv, prefix); ok {
			return v
		}
	}
	t.Fatalf("no %s in the stack's environment", prefix)
	return ""
}

// runVerify runs audit-verify on a service's log; it returns the exit
// status, the report and the exported entries.
func runVerify(t *testing.T, bin string, s *devstack.Stack, service string, extra ...string) (int, string, []auditEntry) {
	t.Helper()
	export := filepath.Join(t.TempDir(), service+".jsonl")
	args := append([]string{"-db", databaseURL(t, s, service), "-key", s.AuditKeyFiles[service], "-export", export}, extra...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("audit-verify: %v", err)
		}
		code = ee.ExitCode()
	}
	var entries []auditEntry
	if b, err := os.ReadFile(export); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e auditEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("export line %q: %v", sc.Text(), err)
			}
			entries = append(entries, e)
		}
	}
	return code, string(out), entries
}

// apsOp is one APS operation the test made and where its gRPC calls land.
type apsOp struct {
	service, method, resourceID string
	result                      *apsc.Result
	// reason, when set, is the refusal the operation ended with.
	reason string
}

// TestAuditRecordsEveryAPSOperation drives the facade as APSC does, with the
// platform's identity headers, and reads the services' audit logs with
// audit-verify: every state-changing APS request (each sync call and each
// async re-send) is recorded by the service it reached, with the facade's
// identity and the controller's ids; each asynchronous outcome with
// Microsoft's request ids; no read is recorded; the chains verify against
// the heads the services logged at shutdown; an edited entry is detected.
func TestAuditRecordsEveryAPSOperation(t *testing.T) {
	bin := auditVerify(t)
	e := start(t)
	identity, actor, hierarchy := uuid.NewString(), uuid.NewString(), "1,1000002,1000003"
	who := []apsc.CallOption{apsc.WithHeader("APS-Identity-ID", identity), apsc.WithHeader("APS-Actor-ID", actor),
		apsc.WithHeader("APS-Account-Hierarchy", hierarchy)}
	inst, err := e.ctrl.Install(e.ctx, apsc.DemoSettings(e.partner), who...)
	if err != nil {
		t.Fatal(err)
	}
	ops := []apsOp{{service: devstack.Tenant, method: "/o365.tenant.v1.InstanceService/CreateInstance", resourceID: inst.AppID, result: inst.Result}}
	// do records the APS operation whose outcome it is given.
	do := func(op apsOp) func(*apsc.Result, error) *apsc.Result {
		return func(r *apsc.Result, err error) *apsc.Result {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", op.method, err)
			}
			if op.reason == "" && !r.Success() {
				t.Fatalf("%s: %d %s", op.method, r.Status, r.Body)
			}
			if op.resourceID == "" {
				op.resourceID = r.ResourceID
			}
			op.result = r
			ops = append(ops, op)
			return r
		}
	}
	read := func(r *apsc.Result, err error) {
		t.Helper()
		if err != nil || r.Status != 200 {
			t.Fatalf("read: %v %d", err, r.Status)
		}
	}

	sub := subdomain()
	read(e.ctrl.Operation(e.ctx, inst, "GET", "/app/"+inst.AppID+"/domainAvailability", url.Values{"subdomain": {sub}}, nil, who...))
	body := tenantBody(sub)
	r := do(apsOp{service: devstack.Tenant, method: "/o365.tenant.v1.TenantService/ProvisionTenant"})(
		e.ctrl.Provision(e.ctx, inst, "tenants", body, who...))
	tenantID := r.ResourceID
	read(e.ctrl.Retrieve(e.ctx, inst, "tenants", tenantID, who...))
	body["company"].(map[string]any)["name"] = "Contoso Audited"
	do(apsOp{service: devstack.Tenant, method: "/o365.tenant.v1.TenantService/ConfigureTenant", resourceID: tenantID})(
		e.ctrl.Configure(e.ctx, inst, "tenants", tenantID, body, who...))
	r = do(apsOp{service: devstack.Subscription, method: "/o365.subscription.v1.SubscriptionService/ProvisionSubscription"})(
		e.ctrl.Provision(e.ctx, inst, "subscriptions", subscriptionBody(tenantID, 2), who...))
	subID := r.ResourceID
	do(apsOp{service: devstack.Subscription, method: "/o365.subscription.v1.SubscriptionService/ProvisionSubscription", reason: "QuantityOutOfRange"})(
		e.ctrl.Provision(e.ctx, inst, "subscriptions", subscriptionBody(tenantID, 5000), who...))
	read(e.ctrl.Retrieve(e.ctx, inst, "subscriptions", subID, who...))
	r = do(apsOp{service: devstack.User, method: "/o365.user.v1.UserService/ProvisionUser"})(
		e.ctrl.Provision(e.ctx, inst, "users", userBody(tenantID, "ann@"+sub+".onmicrosoft.com", subID), who...))
	userID := r.ResourceID
	read(e.ctrl.Retrieve(e.ctx, inst, "users", userID, who...))
	do(apsOp{service: devstack.User, method: "/o365.user.v1.UserService/UnprovisionUser", resourceID: userID})(
		e.ctrl.Unprovision(e.ctx, inst, "users", userID, who...))
	do(apsOp{service: devstack.Subscription, method: "/o365.subscription.v1.SubscriptionService/UnprovisionSubscription", resourceID: subID})(
		e.ctrl.Unprovision(e.ctx, inst, "subscriptions", subID, who...))
	do(apsOp{service: devstack.Tenant, method: "/o365.tenant.v1.TenantService/UnprovisionTenant", resourceID: tenantID})(
		e.ctrl.Unprovision(e.ctx, inst, "tenants", tenantID, who...))

	// The services publish their chains' heads as metrics, and log them
	// (also when they stop).
	for _, svc := range []string{devstack.Tenant, devstack.Subscription, devstack.User} {
		resp, err := http.Get("http://" + e.stack.AdminAddr[svc] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "audit_chain_head_seq") || !strings.Contains(string(b), "audit_chain_head_mac48") {
			t.Errorf("%s's metrics lack the audit chain's head", svc)
		}
	}
	if err := e.stack.Stop(); err != nil {
		t.Fatal(err)
	}
	services := []string{devstack.Tenant, devstack.Subscription, devstack.User}
	logs := map[string][]auditEntry{}
	for _, svc := range services {
		head := lastHead(t, e.stack.LogFiles[svc])
		code, out, entries := runVerify(t, bin, e.stack, svc, "-head", head)
		if code != 0 || !strings.Contains(out, "OK") {
			t.Fatalf("%s: audit-verify -head %s: %d\n%s", svc, head, code, out)
		}
		logs[svc] = entries
	}

	// Every request of every operation, sync and async, is in its service's log.
	for _, op := range ops {
		for _, step := range op.result.Trace {
			n := 0
			for _, en := range logs[op.service] {
				if en.Operation.Method == op.method && en.Caller.APSTransactionID == step.TransactionID && en.Operation.Phase == step.Phase {
					n++
					c := en.Caller
					if c.Identity != "spiffe://"+devstack.TrustDomain+"/facade" || c.APSIdentityID != identity || c.APSActorID != actor ||
						c.APSAccountHierarchy != hierarchy || en.InstanceID != inst.InstanceID || en.Kind != "call" || en.Service != op.service {
						t.Errorf("%s (%s): caller %+v of instance %s", op.method, step.Phase, c, en.InstanceID)
					}
					if op.resourceID != "" && en.Resource.ID != op.resourceID {
						t.Errorf("%s: resource %+v, want %s", op.method, en.Resource, op.resourceID)
					}
					if op.reason != "" && en.Outcome.Reason != op.reason || op.reason == "" && en.Outcome.Code != "OK" {
						t.Errorf("%s: outcome %+v", op.method, en.Outcome)
					}
				}
			}
			if want := countSteps(op.result, step.Phase); n != want {
				t.Errorf("%s %s (%s, transaction %s): %d entries, want %d", op.service, op.method, step.Phase, step.TransactionID, n, want)
			}
		}
	}
	// Every asynchronous outcome, with Microsoft's request ids.
	for svc, jobs := range map[string][]string{
		devstack.Tenant:       {"tenant.provision.v2:" + tenantID, "tenant.configure.v2:" + tenantID, "tenant.unprovision.v2:" + tenantID},
		devstack.Subscription: {"subscription.provision.v2:" + subID},
		devstack.User:         {"user.provision.v2:" + userID},
	} {
		for _, j := range jobs {
			kind, id, _ := strings.Cut(j, ":")
			found := false
			for _, en := range logs[svc] {
				if en.Kind == "job" && en.Operation.Method == kind && en.Resource.ID == id && en.InstanceID == inst.InstanceID {
					found = true
					// Provisioning calls Microsoft through keyed steps.
					noIDs := strings.Contains(kind, ".provision.") && len(en.MSRequestIDs) == 0
					if en.Outcome.Code != "OK" || noIDs || en.Caller.Identity != "spiffe://"+devstack.TrustDomain+"/"+svc {
						t.Errorf("%s outcome %+v", kind, en)
					}
				}
			}
			if !found {
				t.Errorf("%s: no outcome of %s for %s", svc, kind, id)
			}
		}
	}
	// No read, and nothing personal.
	readPrefix := regexp.MustCompile(`/(Get|List|Resolve|Check)[A-Z]|/IssueAccessToken$`)
	for svc, entries := range logs {
		raw, _ := json.Marshal(entries)
		for _, pii := range []string{"Contoso", "ann@", "Ann", "Lee"} {
			if bytes.Contains(raw, []byte(pii)) {
				t.Errorf("%s's audit log carries %q", svc, pii)
			}
		}
		for _, en := range entries {
			if readPrefix.MatchString(en.Operation.Method) {
				t.Errorf("%s recorded the read %s", svc, en.Operation.Method)
			}
		}
	}

	// An edited entry is detected: the installation's, whose transaction
	// id no other entry has.
	var target auditEntry
	for _, en := range logs[devstack.Tenant] {
		if en.Operation.Method == ops[0].method {
			target = en
		}
	}
	editEntry(t, e.stack, devstack.Tenant, target)
	code, out, _ := runVerify(t, bin, e.stack, devstack.Tenant)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("PROBLEM at entry %d", target.Seq)) || !strings.Contains(out, "altered") {
		t.Fatalf("edited entry %d: audit-verify exited %d\n%s", target.Seq, code, out)
	}
}

// countSteps counts the exchanges of r in phase.
func countSteps(r *apsc.Result, phase string) int {
	n := 0
	for _, s := range r.Trace {
		if s.Phase == phase {
			n++
		}
	}
	return n
}

// lastHead is the head a service last logged ("audit chain head").
func lastHead(t *testing.T, logFile string) string {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var head string
	for _, line := range strings.Split(string(b), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Head string `json:"head"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "audit chain head" {
			head = rec.Head
		}
	}
	if head == "" {
		t.Fatalf("%s logs no audit chain head", logFile)
	}
	return head
}

// editEntry changes one character of the entry's APS-Transaction-ID (which
// only this entry carries) where the service's database stores it, as
// someone with access to the database but not to the audit key would: in
// the SQLite file itself, or through psql.
func editEntry(t *testing.T, s *devstack.Stack, service string, en auditEntry) {
	t.Helper()
	tx := en.Caller.APSTransactionID
	if tx == "" {
		t.Fatalf("entry %d has no transaction id to edit", en.Seq)
	}
	forged := "f" + tx[1:]
	if forged == tx {
		forged = "e" + tx[1:]
	}
	dbURL := databaseURL(t, s, service)
	if path, ok := strings.CutPrefix(dbURL, "sqlite://"); ok {
		// The stack has stopped: the write-ahead log is merged into the file.
		if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
			t.Fatalf("%s-wal is not empty", path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Every copy: SQLite may keep a stale one in free space.
		if !bytes.Contains(b, []byte(tx)) {
			t.Fatalf("transaction id %s is not in %s", tx, path)
		}
		b = bytes.ReplaceAll(b, []byte(tx), []byte(forged))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
		if len(matches) == 0 {
			t.Skip("no psql to edit the PostgreSQL audit log with")
		}
		psql = matches[len(matches)-1]
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	schema := q.Get("search_path")
	q.Del("search_path")
	u.RawQuery = q.Encode()
	stmt := fmt.Sprintf(`UPDATE %q.audit_log SET aps_transaction_id = '%s' WHERE seq = %d`, schema, forged, en.Seq)
	if out, err := exec.Command(psql, "-v", "ON_ERROR_STOP=1", u.String(), "-c", stmt).CombinedOutput(); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
}
