package msapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/o365gateway/gateway/services/shared/telemetry/telemetrytest"
)

func TestOperation(t *testing.T) {
	words := map[string]bool{"v1": true, "customers": true, "subscriptions": true, "v1.0": true, "users": true, "assignLicense": true,
		"oauth2": true, "v2.0": true, "token": true}
	for _, c := range []struct{ method, path, want string }{
		{"get", "/v1/customers/0f1e2d3c-aaaa-bbbb-cccc-000000000001/subscriptions", "GET /v1/customers/{id}/subscriptions"},
		{"POST", "/v1.0/users/ann@contoso.onmicrosoft.com/assignLicense", "POST /v1.0/users/{id}/assignLicense"},
		{"POST", "/contoso.onmicrosoft.com/oauth2/v2.0/token", "POST /{id}/oauth2/v2.0/token"},
		{"GET", "/v1/customers/", "GET /v1/customers"},
		{"GET", "", "GET /"},
		{"DELETE", "//v1//customers//x", "DELETE /v1/customers/{id}"},
		{"GET", "/Customers", "GET /{id}"},
	} {
		if got := Operation(c.method, c.path, words); got != c.want {
			t.Errorf("Operation(%s %s) = %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

// Every attempt is counted by api, operation and status, a 429 also as
// throttled, and a Retry-After is observed; no id of the path is a label.
func TestPipelineMetrics(t *testing.T) {
	telemetrytest.Install()
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	pl := NewPipeline(Config{Name: "test", Credential: staticCred{}, Scope: "api/.default", HTTP: srv.Client(),
		AttemptID: Header{Name: "X-Attempt", Attr: "attempt"},
		Retry:     Retry{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Second},
		Metrics:   Metrics{API: "metricstest", PathWords: []string{"v1", "customers"}},
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil))})
	const op = "GET /v1/customers/{id}"
	value := func(name string, attrs ...string) float64 {
		return telemetrytest.Value(t, name, append([]string{"api", "metricstest"}, attrs...)...)
	}
	req, err := runtime.NewRequest(context.Background(), http.MethodGet, srv.URL+"/v1/customers/c-123?x=secret")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := pl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = ReadBody(resp)
	if got := value("microsoft_requests_total", "operation", op, "status", "429"); got != 1 {
		t.Errorf("429 attempts %v, want 1", got)
	}
	if got := value("microsoft_requests_total", "operation", op, "status", "200"); got != 1 {
		t.Errorf("200 attempts %v, want 1", got)
	}
	if got := value("microsoft_throttled_total", "operation", op); got != 1 {
		t.Errorf("throttled %v, want 1", got)
	}
	if got := value("microsoft_request_duration_seconds", "operation", op); got != 2 {
		t.Errorf("timed attempts %v, want 2", got)
	}
	if got := value("microsoft_retry_after_seconds"); got != 1 {
		t.Errorf("Retry-After observations %v, want 1", got)
	}
	for _, name := range []string{"microsoft_requests_total", "microsoft_throttled_total", "microsoft_request_duration_seconds", "microsoft_retry_after_seconds"} {
		for _, p := range telemetrytest.Points(t, name) {
			for k, v := range p.Attrs {
				if strings.Contains(v, "c-123") || strings.Contains(v, "secret") {
					t.Errorf("%s carries the id: %s=%q", name, k, v)
				}
			}
		}
	}

	// A call that gets no answer counts as status error.
	srv.Close()
	req, _ = runtime.NewRequest(context.Background(), http.MethodGet, srv.URL+"/v1/customers/c-123")
	if _, err := pl.Do(req); err == nil {
		t.Fatal("a closed server answered")
	}
	if got := value("microsoft_requests_total", "operation", op, "status", "error"); got != 3 {
		t.Errorf("attempts without an answer %v, want 3 (the call and two retries)", got)
	}
}

func TestObservedTransport(t *testing.T) {
	telemetrytest.Install()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	tr := ObservedTransport(Metrics{API: "logintest", PathWords: []string{"oauth2", "v2.0", "token"}}, srv.Client())
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/tenant-42/oauth2/v2.0/token", nil)
	resp, err := tr.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := telemetrytest.Value(t, "microsoft_requests_total", "api", "logintest", "operation", "POST /{id}/oauth2/v2.0/token", "status", "503"); got != 1 {
		t.Errorf("token requests %v, want 1", got)
	}
	for _, p := range telemetrytest.Points(t, "microsoft_retry_after_seconds") {
		if p.Has("api", "logintest") && (p.Value != 1 || p.Sum != 7) {
			t.Errorf("Retry-After: %v observations summing %v, want one of 7", p.Value, p.Sum)
		}
	}
	if ObservedTransport(Metrics{}, srv.Client()) != srv.Client() {
		t.Error("a transport without an api is wrapped")
	}
}
