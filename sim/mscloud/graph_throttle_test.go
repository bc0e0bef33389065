package mscloud

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestGraphRUCost(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		cost           int
	}{
		{"GET", "/v1.0/users", 2},
		{"GET", "/v1.0/users?$select=id", 1},
		{"GET", "/v1.0/users?$top=5", 1},
		{"GET", "/v1.0/users?$top=20", 2},
		{"GET", "/v1.0/users?$top=5&$select=id", 1}, // minimum 1
		{"GET", "/v1.0/users?$expand=manager", 3},
		{"GET", "/v1.0/users/ann@contoso.com", 1},
		{"GET", "/v1.0/subscribedSkus", 3},
		{"GET", "/v1.0/subscribedSkus?$select=skuId", 2},
		{"GET", "/v1.0/subscribedSkus/t_s", 3},
		{"GET", "/v1.0/domains", 1},
		{"POST", "/v1.0/users", 1},
		{"POST", "/v1.0/users/x/assignLicense", 1},
		{"DELETE", "/v1.0/users/x", 1},
	} {
		if got := graphRUCost(httptest.NewRequest(tc.method, tc.target, nil)); got != tc.cost {
			t.Errorf("%s %s: %d RU, want %d", tc.method, tc.target, got, tc.cost)
		}
	}
	for _, tc := range []struct {
		users int
		limit float64
	}{{0, 3500}, {49, 3500}, {50, 5000}, {500, 5000}, {501, 8000}} {
		if got := graphRULimit(tc.users); got != tc.limit {
			t.Errorf("%d users: %v, want %v", tc.users, got, tc.limit)
		}
	}
}

func TestGraphWriteLimit(t *testing.T) {
	s := newCommerceSim(t)
	a := newTenant(t, s, "global", "US")
	s.settings(map[string]any{"graph_write_limit": 3})
	for i, wantPct := range []string{"", "", "1.00"} {
		code, hdr, b := a.g(http.MethodPost, "/v1.0/users", newUserBody(a.upn("w"+strconv.Itoa(i))))
		if code != 201 || hdr.Get("x-ms-resource-unit") != "1" || hdr.Get("x-ms-throttle-limit-percentage") != wantPct {
			t.Fatalf("write %d: %d %v %s", i, code, hdr, b)
		}
	}
	code, hdr, b := a.g(http.MethodPost, "/v1.0/users", newUserBody(a.upn("w3")))
	expectGraphErr(t, "fourth write", code, hdr, b, 429, "TooManyRequests", "Too many requests")
	ra, _ := strconv.Atoi(hdr.Get("Retry-After"))
	if ra < 140 || ra > 150 || hdr.Get("x-ms-throttle-scope") != "Tenant_Application/WriteLimit/"+a.p.ClientID+"/"+a.cid ||
		hdr.Get("x-ms-throttle-information") != "WriteLimitExceeded" || hdr.Get("x-ms-resource-unit") != "1" {
		t.Errorf("429 headers: %v", hdr)
	}
	// Nothing was written; reads still pass; another tenant of the same app has its own budget.
	if code, _, _ := a.g(http.MethodGet, "/v1.0/users/w3@"+a.domain, nil); code != 404 {
		t.Errorf("throttled write was applied: %d", code)
	}
	b2 := &tenant{shop: &shop{s: s, p: a.p, tok: a.tok, cid: a.newCustomer("US", false)}}
	b2.domain = s.state(a.p.TenantID)[0].Customers[1].Domain
	b2.gtok = s.graphToken(a.p, b2.cid)
	if code, _, b := b2.g(http.MethodPost, "/v1.0/users", newUserBody(b2.upn("w0"))); code != 201 {
		t.Errorf("other tenant: %d %s", code, b)
	}
	if st := s.graphState(a.p.TenantID); st.GraphThrottled != 1 || st.GraphWrites != 4 {
		t.Errorf("graph_throttled = %d, graph_writes = %d, want 1 and 4 (the refused write not counted)", st.GraphThrottled, st.GraphWrites)
	}
	// A short window refills on the real clock. 3 s, so that the second
	// write lands inside it even on a slow machine.
	s.settings(map[string]any{"graph_write_limit": 1, "graph_write_window_seconds": 3})
	if code, _, b := a.g(http.MethodDelete, "/v1.0/users/w0@"+a.domain, nil); code != 204 {
		t.Fatalf("write in a fresh window: %d %s", code, b)
	}
	code, hdr, _ = a.g(http.MethodDelete, "/v1.0/users/w1@"+a.domain, nil)
	if ra, _ := strconv.Atoi(hdr.Get("Retry-After")); code != 429 || ra < 1 || ra > 3 {
		t.Errorf("second write: %d %v", code, hdr)
	}
	time.Sleep(3100 * time.Millisecond)
	if code, _, b := a.g(http.MethodDelete, "/v1.0/users/w1@"+a.domain, nil); code != 204 {
		t.Errorf("after the window: %d %s", code, b)
	}
	if st := s.graphState(a.p.TenantID); st.GraphThrottled != 2 {
		t.Errorf("graph_throttled = %d, want 2", st.GraphThrottled)
	}
	for _, bad := range []string{`{"graph_write_limit":0}`, `{"graph_write_window_seconds":0}`, `{"graph_ru_scale":0}`, `{"graph_ru_scale":-1}`,
		`{"usage_location_lag_ms":-1}`, `{"customer_propagation_seconds":-5}`} {
		if st, b := s.admin(http.MethodPost, "/_sim/settings", bad); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, st, b)
		}
	}
}

func TestGraphResourceUnitLimit(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	// A small tenant: 3,500 RU per 10 s × 0.002 = 7 RU.
	s.settings(map[string]any{"graph_ru_scale": 0.002})
	for i, want := range []struct{ ru, pct string }{{"2", ""}, {"2", ""}, {"2", "0.86"}} {
		code, hdr, b := tn.g(http.MethodGet, "/v1.0/users", nil)
		if code != 200 || hdr.Get("x-ms-resource-unit") != want.ru || hdr.Get("x-ms-throttle-limit-percentage") != want.pct {
			t.Fatalf("list %d: %d %v %s", i, code, hdr, b)
		}
	}
	code, hdr, b := tn.g(http.MethodGet, "/v1.0/subscribedSkus", nil) // 3 RU: 9 > 7
	expectGraphErr(t, "over budget", code, hdr, b, 429, "TooManyRequests", "")
	ra, _ := strconv.Atoi(hdr.Get("Retry-After"))
	if ra < 1 || ra > 10 || hdr.Get("x-ms-throttle-scope") != "Tenant_Application/ResourceUnitLimit/"+tn.p.ClientID+"/"+tn.cid ||
		hdr.Get("x-ms-throttle-information") != "ResourceUnitLimitExceeded" || hdr.Get("x-ms-resource-unit") != "3" {
		t.Errorf("429 headers: %v", hdr)
	}
	// One more RU fits.
	if code, hdr, b := tn.g(http.MethodGet, "/v1.0/domains", nil); code != 200 || hdr.Get("x-ms-throttle-limit-percentage") != "1.00" {
		t.Errorf("1 RU: %d %v %s", code, hdr, b)
	}
	if st := s.graphState(tn.p.TenantID); st.GraphThrottled != 1 {
		t.Errorf("graph_throttled = %d", st.GraphThrottled)
	}
	// New settings start a fresh window.
	s.settings(map[string]any{"graph_ru_scale": 1})
	if code, _, _ := tn.g(http.MethodGet, "/v1.0/subscribedSkus", nil); code != 200 {
		t.Errorf("after reset: %d", code)
	}
}

func TestGraphFaultsAndHeaders(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	// Success answers carry request-id and echo client-request-id.
	code, hdr, _ := s.do(http.MethodGet, "/v1.0/users", tn.gtok, nil, map[string]string{"client-request-id": "cr-1"})
	if code != 200 || hdr.Get("request-id") == "" || hdr.Get("client-request-id") != "cr-1" {
		t.Errorf("headers: %d %v", code, hdr)
	}
	// An error fault on the users prefix (query ignored), POST only.
	s.fault(map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users", "mode": "error", "status": 503, "count": 1})
	if code, _, _ := tn.g(http.MethodGet, "/v1.0/users?$top=1", nil); code != 200 {
		t.Errorf("GET hit a POST fault: %d", code)
	}
	code, hdr, b := tn.g(http.MethodPost, "/v1.0/users", newUserBody(tn.upn("f1")))
	expectGraphErr(t, "error fault", code, hdr, b, 503, "serviceNotAvailable", "Simulated failure")
	// error_after_commit: the user is created, the answer is an error; the retry is a duplicate.
	s.fault(map[string]any{"api": "graph", "path": "/v1.0/users", "mode": "error_after_commit", "status": 500, "count": 1})
	code, hdr, b = tn.g(http.MethodPost, "/v1.0/users", newUserBody(tn.upn("f1")))
	expectGraphErr(t, "error after commit", code, hdr, b, 500, "generalException", "Simulated failure")
	if got := tn.getUser("f1@" + tn.domain); got.ID == "" {
		t.Error("user of the committed request missing")
	}
	code, hdr, b = tn.g(http.MethodPost, "/v1.0/users", newUserBody(tn.upn("f1")))
	expectGraphErr(t, "retry after commit", code, hdr, b, 400, "Request_BadRequest", msgDuplicateUPN)
	// A throttle fault on assignLicense counts as a 429 of the partner.
	s.fault(map[string]any{"api": "graph", "path": "/v1.0/users/", "mode": "throttle", "retry_after_seconds": 4, "count": 1})
	code, hdr, _ = tn.assign("f1@"+tn.domain, assignBody(nil, nil))
	if code != 429 || hdr.Get("Retry-After") != "4" || hdr.Get("x-ms-throttle-scope") != "Tenant_Application/ResourceUnitLimit/"+tn.p.ClientID+"/"+tn.cid {
		t.Errorf("throttle fault: %d %v", code, hdr)
	}
	// Domains prefix.
	s.fault(map[string]any{"api": "graph", "path": "/v1.0/domains", "mode": "error", "status": 404, "count": 1})
	code, hdr, b = tn.g(http.MethodGet, "/v1.0/domains", nil)
	expectGraphErr(t, "domains fault", code, hdr, b, 404, "Request_ResourceNotFound", "Simulated failure")
	if st := s.graphState(tn.p.TenantID); st.GraphThrottled != 1 {
		t.Errorf("graph_throttled = %d, want 1", st.GraphThrottled)
	}
}
