package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
)

// ctl runs bin/o365ctl against the test's stack, as an operator would.
func (e *env) ctl(args ...string) (string, error) {
	e.t.Helper()
	if err := e.stack.WriteStackFile(); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.CommandContext(e.ctx, filepath.Join(binDir, "o365ctl"), append([]string{"--stack", filepath.Join(e.stack.WorkDir, "stack.json")}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

type ctlJob struct {
	Ref string `json:"ref"`
	Job struct {
		Kind      string `json:"kind"`
		State     string `json:"state"`
		LastError string `json:"last_error"`
		Resource  struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"resource"`
		Operation struct {
			State          string `json:"state"`
			FailureReason  string `json:"failure_reason"`
			FailureMessage string `json:"failure_message"`
		} `json:"operation"`
	} `json:"job"`
}

// A provisioning that Microsoft refuses fails; the operator finds it with
// o365ctl (with Microsoft's reason), clears the cause, retries it, and the
// platform's next re-send gets 200.
func TestOperatorRetriesAFailedProvisioning(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	var fault struct {
		ID string `json:"id"`
	}
	e.admin("POST", "/_sim/faults", map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers", "mode": "error",
		"status": 400, "count": 0}, &fault)
	body := tenantBody(subdomain())
	r, err := e.ctrl.Provision(e.ctx, inst, "tenants", body)
	if err != nil || r.Status != http.StatusInternalServerError {
		t.Fatalf("a refused provisioning: %v %d %s", err, r.Status, r.Body)
	}
	tenantID := r.ResourceID

	out, err := e.ctl("jobs", "list", "--state", "failed", "-o", "json")
	if err != nil {
		t.Fatalf("jobs list: %v\n%s", err, out)
	}
	var jobs []ctlJob
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		t.Fatalf("jobs list -o json: %v\n%s", err, out)
	}
	var failed *ctlJob
	for i := range jobs {
		if jobs[i].Job.Resource.ID == tenantID {
			failed = &jobs[i]
		}
	}
	if failed == nil || failed.Job.Kind != "tenant.provision.v2" || failed.Job.Resource.Type != "tenant" ||
		failed.Job.Operation.FailureReason == "" || failed.Job.Operation.FailureMessage == "" || !strings.HasPrefix(failed.Ref, "tenant/") {
		t.Fatalf("the failed provisioning is not listed with its reason: %s", out)
	}
	if show, err := e.ctl("jobs", "show", failed.Ref); err != nil || !strings.Contains(show, failed.Job.Operation.FailureReason) ||
		!strings.Contains(show, "MS-RequestId") {
		t.Fatalf("jobs show: %v\n%s", err, show)
	}
	// Nothing to cancel: it failed already.
	if out, err := e.ctl("jobs", "cancel", failed.Ref); err == nil || !strings.Contains(out, "Conflict") {
		t.Fatalf("cancel of a failed job: %v\n%s", err, out)
	}

	body["aps"] = map[string]any{"id": tenantID, "type": apsc.TypeFor("tenants")}
	e.admin("DELETE", "/_sim/faults", nil, nil)
	if out, err := e.ctl("jobs", "retry", failed.Ref); err != nil || !strings.Contains(out, "new attempt") {
		t.Fatalf("jobs retry: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		again, err := e.ctrl.Raw(e.ctx, inst, "POST", "/tenants", nil, mustMarshal(body), apsc.WithHeader(apsc.HeaderRequestPhase, apsc.PhaseAsync))
		if err != nil {
			t.Fatal(err)
		}
		if again.Status == http.StatusOK {
			if mustJSON(t, again)["state"] != "active" {
				t.Fatalf("after the retry: %s", again.Body)
			}
			break
		}
		if again.Status != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("the platform's re-send after the retry: %d %s", again.Status, again.Body)
		}
	}
	if n := len(e.customers()); n != 1 {
		t.Fatalf("%d customers at Microsoft, want 1", n)
	}
	// The tools see the result too.
	if out, err := e.ctl("tenants", "show", tenantID, "--instance", inst.InstanceID); err != nil || !strings.Contains(out, "active") {
		t.Fatalf("tenants show: %v\n%s", err, out)
	}
	if out, err := e.ctl("instances", "list", "-o", "json"); err != nil || !strings.Contains(out, inst.InstanceID) {
		t.Fatalf("instances list: %v\n%s", err, out)
	}
}
