package e2e

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/sim/devstack"
)

// TestServiceOutage stops the user service: the facade stays ready (its
// probes and the APS listener's /healthz answer 200), the user routes answer
// 503 with the APS error body (UpstreamUnavailable; without waiting once the
// outage is older than the facade's short wait), the tenant and subscription
// routes keep working, and the user routes come back with the service.
func TestServiceOutage(t *testing.T) {
	e := start(t)
	inst := e.install(nil)
	unknownUser, unknownSub := uuid.NewString(), uuid.NewString()
	userRoute := func() (int, time.Duration) {
		t.Helper()
		start := time.Now()
		r, err := e.ctrl.Retrieve(e.ctx, inst, "users", unknownUser)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusServiceUnavailable {
			ae := r.APSError()
			if ae == nil || ae.Code != 503 || ae.Type != "UpstreamUnavailable" || ae.Reason != "UpstreamUnavailable" ||
				!strings.Contains(ae.Message, "user service") || r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("503 without the APS body: %s", r.Body)
			}
		}
		return r.Status, time.Since(start)
	}
	if code, _ := userRoute(); code != http.StatusNotFound {
		t.Fatalf("an unknown user before the outage: %d", code)
	}

	if err := e.stack.Kill(devstack.User); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if code, took := userRoute(); code != http.StatusServiceUnavailable || took > 15*time.Second {
		t.Fatalf("a user route while the user service is down: %d after %s", code, took)
	}
	// The facade's health checks have seen the outage, and it stays ready.
	deadline := time.Now().Add(30 * time.Second)
	for !facadeLogged(t, e, `"msg":"upstream unavailable"`, `"upstream":"user"`) {
		if time.Now().After(deadline) {
			t.Fatal("the facade did not notice the outage")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, path := range []string{"/readyz", "/healthz"} {
		resp, err := http.Get("http://" + e.stack.AdminAddr[devstack.Facade] + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("facade admin %s while the user service is down: %d %s", path, resp.StatusCode, b)
		}
	}
	if body := facadeGet(t, e, "/healthz"); !strings.Contains(body, `"ok"`) {
		t.Fatalf("APS listener /healthz: %s", body)
	}
	// The facade's own API description is served, with its base path and
	// the APS error body.
	if body := facadeGet(t, e, "/openapi.json"); !strings.Contains(body, `"basePath": "/aps"`) || !strings.Contains(body, `"#/definitions/v1Error"`) {
		t.Fatal("/openapi.json lacks the base path or the APS error")
	}
	// Down for longer than the facade waits for a service that is
	// reconnecting (gateway.DefaultWait, 5s, counted from when its channel
	// saw the failure, a little after the kill): answered at once.
	time.Sleep(time.Until(killed.Add(7500 * time.Millisecond)))
	if code, took := userRoute(); code != http.StatusServiceUnavailable || took > 2*time.Second {
		t.Fatalf("a user route, the service down for a while: %d after %s", code, took)
	}
	// The other services' routes work.
	if r, err := e.ctrl.Retrieve(e.ctx, inst, "app", inst.AppID); err != nil || r.Status != http.StatusOK {
		t.Fatalf("the tenant service's route: %v %d %s", err, r.Status, r.Body)
	}
	if r, err := e.ctrl.Retrieve(e.ctx, inst, "subscriptions", unknownSub); err != nil || r.Status != http.StatusNotFound {
		t.Fatalf("the subscription service's route: %v %d %s", err, r.Status, r.Body)
	}

	// Back with the service.
	if err := e.stack.Restart(e.ctx, devstack.User); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		code, _ := userRoute()
		if code == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the user route did not come back: %d", code)
		}
	}
}

// facadeLogged tells whether one line of the facade's log holds every part.
func facadeLogged(t *testing.T, e *env, parts ...string) bool {
	t.Helper()
	b, err := os.ReadFile(e.stack.LogFiles[devstack.Facade])
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
