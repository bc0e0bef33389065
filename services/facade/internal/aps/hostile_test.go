package aps_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
)

// SynchronizeTenant fails inside the gateway: a status without the
// gateway's ErrorInfo, whose text is internal.
func (f *fakeServices) SynchronizeTenant(context.Context, *tenantv1.SynchronizeTenantRequest) (*tenantv1.SynchronizeTenantResponse, error) {
	return nil, status.Error(codes.Internal, "grpc: error while marshaling: string field contains invalid UTF-8")
}

// CheckDomainAvailability fails as a dead connection to a service does.
func (f *fakeServices) CheckDomainAvailability(context.Context, *tenantv1.CheckDomainAvailabilityRequest) (*tenantv1.CheckDomainAvailabilityResponse, error) {
	return nil, status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.7:9001: connect: connection refused"`)
}

// Text that is not UTF-8, anywhere in a request, is a 400 that says where;
// no service is called. Found by random requests: GET /aps/domains/%c0%ae
// was a 500 with gRPC's marshalling error.
func TestInvalidUTF8IsRefused(t *testing.T) {
	h := newHarness(t)
	tenant := "/aps/tenants/" + tenantID
	for _, c := range []struct {
		name, method, path string
		headers            map[string]string
		body               string
		message            string
	}{
		{"path parameter", "GET", "/aps/domains/%c0%ae", nil, "", "The request path is not valid UTF-8."},
		{"path of a link notification", "DELETE", tenant + "/domains/%ff", nil, "", "The request path is not valid UTF-8."},
		{"query parameter", "GET", "/aps/app/" + instanceID + "/domainAvailability?subdomain=%c0%ae", nil, "", `The query parameter "subdomain" is not valid UTF-8.`},
		{"query name", "GET", tenant + "?%ff=1", nil, "", `The query parameter "\xff" is not valid UTF-8.`},
		{"instance header", "GET", tenant, map[string]string{"APS-Instance-ID": "\xc0\xae"}, "", "The APS-Instance-ID header must be printable ASCII text."},
		{"forwarded header", "GET", tenant, map[string]string{"APS-Transaction-ID": "tx-\xff"}, "", "The APS-Transaction-ID header must be printable ASCII text."},
		{"JSON string", "POST", "/aps/tenants", nil, "{\"initial_subdomain\":\"\xc0\xae\"}", "The request body is not valid UTF-8."},
		{"unknown JSON property", "PUT", tenant, nil, "{\"x\":\"\xff\"}", "The request body is not valid UTF-8."},
		{"instance creation", "POST", "/aps/app", nil, "{\"aps\":{\"x509\":{\"controller\":\"\xc0\xae\"}}}", "The request body is not valid UTF-8."},
		{"form body", "POST", "/aps/app/" + instanceID + "/upgrade", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "version=%ff", `The form field "version" is not valid UTF-8.`},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.calls.Load()
			a := h.do(t, &h.ctrl, c.method, c.path, c.headers, c.body)
			wantAPSError(t, a, http.StatusBadRequest, apierr.InvalidRequest)
			if want := strings.ToValidUTF8(c.message, "\uFFFD"); a.body["message"] != want {
				t.Fatalf("message %q, want %q", a.body["message"], want)
			}
			if n := h.calls.Load() - before; n != 0 {
				t.Fatalf("%d service calls for a refused request", n)
			}
		})
	}
}

// Behind the APS layer the gateway itself refuses a string gRPC cannot
// send (the guarantee for every route, whatever the APS layer checks).
func TestGatewayRefusesInvalidUTF8Fields(t *testing.T) {
	h := newHarness(t)
	r := httptest.NewRequest("GET", "/tenants/x", nil)
	r.URL.Path = "/tenants/\xc0\xae"
	r.Header.Set("APS-Instance-ID", instanceID)
	w := httptest.NewRecorder()
	h.rest.ServeHTTP(w, r)
	a := answer{status: w.Code, header: w.Header(), raw: w.Body.String()}
	a.body = decodeBody(t, w.Body.Bytes())
	wantAPSError(t, a, http.StatusBadRequest, apierr.InvalidRequest)
	if a.body["message"] != "The value of id is not valid UTF-8." {
		t.Fatalf("message %q", a.body["message"])
	}
	if h.calls.Load() != 0 {
		t.Fatal("the service was called")
	}
}

// Failures inside the gateway keep their text out of the answer.
func TestInternalErrorTextIsHidden(t *testing.T) {
	h := newHarness(t)
	a := h.do(t, &h.ctrl, "POST", "/aps/tenants/"+tenantID+"/synchronize", nil, "")
	wantAPSError(t, a, http.StatusInternalServerError, apierr.Internal)
	if a.body["message"] != "Internal error in the gateway." {
		t.Fatalf("message %q", a.body["message"])
	}
	a = h.do(t, &h.ctrl, "GET", "/aps/app/"+instanceID+"/domainAvailability?subdomain=x", nil, "")
	if a.status != http.StatusServiceUnavailable || strings.Contains(a.raw, "10.0.0.7") || strings.Contains(a.raw, "transport") {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

// Bodies over the limit are a 413 on every route, before any service call.
func TestBodyLimit(t *testing.T) {
	h := newHarness(t)
	big := `{"initial_subdomain":"` + strings.Repeat("a", 1<<20) + `"}`
	for _, path := range []string{"/aps/tenants", "/aps/app"} {
		a := h.do(t, &h.ctrl, "POST", path, nil, big)
		wantAPSError(t, a, http.StatusRequestEntityTooLarge, apierr.InvalidRequest)
	}
	if h.calls.Load() != 0 {
		t.Fatal("a service was called")
	}
}

// Headers grpc-gateway would act on that are not APS headers are dropped:
// Grpc-Timeout would set the service call's deadline (a 504 for 1n), and
// Authorization would reach the services.
func TestInternalHeadersAreDropped(t *testing.T) {
	h := newHarness(t)
	body := `{"aps":{"id":"` + tenantID + `"},"initial_subdomain":"contoso"}`
	a := h.do(t, &h.ctrl, "POST", "/aps/tenants", map[string]string{"Grpc-Timeout": "1n", "Authorization": "Bearer x"}, body)
	if a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if got := h.fake.lastMD.Get("authorization"); len(got) != 0 {
		t.Fatalf("authorization forwarded: %v", got)
	}
	if got := h.fake.lastMD.Get(apsmd.InstanceID); len(got) != 1 {
		t.Fatalf("metadata %v", h.fake.lastMD)
	}
}

// A form POST is not taken for a GET (grpc-gateway's path length fallback)
// and X-HTTP-Method-Override does not change the method.
func TestNoMethodOverride(t *testing.T) {
	h := newHarness(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	wantAPSError(t, h.do(t, &h.ctrl, "POST", "/aps/tenants/"+tenantID, form, ""), http.StatusMethodNotAllowed, apierr.InvalidRequest)
	form["X-HTTP-Method-Override"] = "DELETE"
	wantAPSError(t, h.do(t, &h.ctrl, "POST", "/aps/tenants/"+tenantID, form, ""), http.StatusMethodNotAllowed, apierr.InvalidRequest)
	if h.calls.Load() != 0 {
		t.Fatal("a service was called")
	}
}

func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}
