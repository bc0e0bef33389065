package telemetry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// /healthz follows Live and /readyz follows Ready, each on its own: an
// unready process is still live.
func TestAdminHandlerProbes(t *testing.T) {
	var live, ready error
	h := AdminHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) }), Probes{
		Live:  func(context.Context) error { return live },
		Ready: func(context.Context) error { return ready },
	})
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	for _, c := range []struct {
		live, ready         error
		healthz, readyz     int
		healthzBody, rdBody string
	}{
		{nil, nil, 200, 200, "ok", "ready"},
		{nil, errors.New("the database is unavailable"), 200, 503, "ok", "the database is unavailable"},
		{errors.New("wedged"), nil, 503, 200, "wedged", "ready"},
	} {
		live, ready = c.live, c.ready
		if code, body := get("/healthz"); code != c.healthz || !strings.Contains(body, c.healthzBody) {
			t.Errorf("live=%v: /healthz %d %q", c.live, code, body)
		}
		if code, body := get("/readyz"); code != c.readyz || !strings.Contains(body, c.rdBody) {
			t.Errorf("ready=%v: /readyz %d %q", c.ready, code, body)
		}
	}
	if code, body := get("/metrics"); code != 200 || body != "metrics" {
		t.Errorf("/metrics %d %q", code, body)
	}

	// No probes: live and ready while the listener answers.
	h = AdminHandler(nil, Probes{})
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz without probes: %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz without probes: %d", code)
	}
	if code, _ := get("/metrics"); code != 404 {
		t.Errorf("/metrics without a handler: %d", code)
	}
}

func TestHeartbeat(t *testing.T) {
	var h Heartbeat
	if err := h.Check(context.Background()); err != nil {
		t.Fatalf("before the first beat: %v", err)
	}
	h.Beat(500 * time.Millisecond)
	if err := h.Check(context.Background()); err != nil {
		t.Fatalf("right after a beat: %v", err)
	}
	time.Sleep(600 * time.Millisecond)
	if err := h.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "wedged") {
		t.Fatalf("overdue: %v", err)
	}
	h.Beat(time.Minute)
	if err := h.Check(context.Background()); err != nil {
		t.Fatalf("after a new beat: %v", err)
	}
}

// TestAdminHandlerServesPprofOnlyWhenEnabled: the profiles are off by
// default and served once EnablePprof was called (PPROF=true).
func TestAdminHandlerServesPprofOnlyWhenEnabled(t *testing.T) {
	get := func(h http.Handler, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if code := get(AdminHandler(nil, Probes{}), "/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("pprof before EnablePprof: %d, want 404", code)
	}
	EnablePprof()
	h := AdminHandler(nil, Probes{})
	if code := get(h, "/debug/pprof/"); code != http.StatusOK {
		t.Fatalf("pprof index: %d, want 200", code)
	}
	if code := get(h, "/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Fatalf("goroutine profile: %d, want 200", code)
	}
}
