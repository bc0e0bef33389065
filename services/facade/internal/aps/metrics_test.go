package aps_test

import (
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/telemetry/telemetrytest"

	"github.com/o365gateway/gateway/services/facade/internal/aps"
)

// Requests are counted by route template, status class and outcome (the
// APS error type of a refusal); requests answered before a route matched
// are unrouted; no id is a label.
func TestRequestMetrics(t *testing.T) {
	telemetrytest.Install()
	h := newHarness(t)
	count := func(op, class, outcome string) float64 {
		return telemetrytest.Value(t, "aps_requests_total", "operation", op, "status_class", class, "outcome", outcome)
	}
	type key struct{ op, class, outcome string }
	want := map[key]float64{
		{"GET /tenants/{id}", "2xx", "2xx"}:                 1,
		{"POST /tenants", "2xx", "2xx"}:                     1,
		{"POST /tenants", "4xx", apierr.DomainAlreadyTaken}: 1,
		{"DELETE /tenants/{id}", "2xx", "2xx"}:              1,
		{aps.Unrouted, "4xx", apierr.UnknownInstance}:       1,
		{aps.Unrouted, "4xx", apierr.NotFound}:              1,
		{"GET /tenants/{id}", "4xx", apierr.InvalidRequest}: 1,
		{aps.Unrouted, "4xx", apierr.Unauthenticated}:       1,
	}
	before := map[key]float64{}
	for k := range want {
		before[k] = count(k.op, k.class, k.outcome)
	}
	h.do(t, &h.ctrl, "GET", "/aps/tenants/"+tenantID, nil, "")
	h.do(t, &h.ctrl, "POST", "/aps/tenants", nil, `{"initial_subdomain":"contoso"}`)
	h.do(t, &h.ctrl, "POST", "/aps/tenants", nil, `{"initial_subdomain":"taken"}`)
	h.do(t, &h.ctrl, "DELETE", "/aps/tenants/"+tenantID, nil, "")
	h.do(t, &h.ctrl, "GET", "/aps/tenants/"+tenantID, map[string]string{"APS-Instance-ID": "6f0c1a52-0000-4000-8000-00000000ffff"}, "")
	h.do(t, &h.ctrl, "GET", "/aps/nosuchservice/"+tenantID, nil, "")
	h.do(t, &h.ctrl, "GET", "/aps/tenants/notauuid", nil, "")
	h.do(t, nil, "GET", "/aps/tenants/"+tenantID, nil, "")
	for k, n := range want {
		if got := count(k.op, k.class, k.outcome) - before[k]; got != n {
			t.Errorf("%s %s %s: %v requests, want %v", k.op, k.class, k.outcome, got, n)
		}
	}
	if got := telemetrytest.Value(t, "aps_request_duration_seconds", "operation", "GET /tenants/{id}"); got < 2 {
		t.Errorf("timed GET /tenants/{id} requests: %v, want at least 2", got)
	}
	for _, name := range []string{"aps_requests_total", "aps_request_duration_seconds"} {
		for _, p := range telemetrytest.Points(t, name) {
			for k, v := range p.Attrs {
				if strings.Contains(v, tenantID) || strings.Contains(v, instanceID) || strings.Contains(v, "notauuid") ||
					strings.Contains(v, "00000000ffff") || strings.Contains(v, "nosuchservice") {
					t.Errorf("%s carries an id: %s=%q", name, k, v)
				}
			}
		}
	}
}
