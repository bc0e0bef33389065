package mscloud

import (
	"net/http"
	"testing"
)

type graphErr struct {
	Error struct {
		Code       string            `json:"code"`
		Message    string            `json:"message"`
		InnerError map[string]string `json:"innerError"`
	} `json:"error"`
}

func TestGraphReservedPrefix(t *testing.T) {
	s := newSim(t, Options{})
	// Paths without a Graph handler (users, domains and subscribedSkus have one now).
	for _, path := range []string{"/v1.0/groups", "/v1.0", "/v1.0/groups/x/members?$top=1"} {
		code, hdr, b := s.do(http.MethodGet, path, "", nil, map[string]string{"client-request-id": "c-1"})
		e := decode[graphErr](t, b)
		if code != 404 || e.Error.Code != "Request_ResourceNotFound" || e.Error.Message == "" ||
			e.Error.InnerError["request-id"] == "" || e.Error.InnerError["client-request-id"] != "c-1" || e.Error.InnerError["date"] == "" ||
			hdr.Get("request-id") != e.Error.InnerError["request-id"] {
			t.Errorf("%s: %d %s", path, code, b)
		}
	}
}

// TestGraphRouteAudience registers a Graph handler the way later Graph files
// will and checks that only Graph-audience tokens of the partner's cloud reach it.
func TestGraphRouteAudience(t *testing.T) {
	s := newSim(t, Options{})
	s.srv.graph.graphRoute("GET /v1.0/organization", func(_ *http.Request, c *apiCall) *response {
		return jsonResponse(http.StatusOK, map[string]any{"value": []map[string]string{{"id": c.token.TenantID}}})
	})
	p := s.partner("usgov", true, "US")
	pcTok := s.pcToken(p)
	graphTok := s.token(p, "https://graph.microsoft.us/.default")
	for _, tc := range []struct {
		name, token string
		status      int
	}{{"no token", "", 401}, {"PC token", pcTok, 401}, {"bogus", "simat.x", 401}, {"Graph token", graphTok, 200}} {
		code, hdr, b := s.do(http.MethodGet, "/v1.0/organization", tc.token, nil, nil)
		if code != tc.status {
			t.Errorf("%s: %d %s", tc.name, code, b)
			continue
		}
		if code == 401 && (decode[graphErr](t, b).Error.Code != "InvalidAuthenticationToken" || hdr.Get("WWW-Authenticate") == "") {
			t.Errorf("%s: 401 shape %v %s", tc.name, hdr, b)
		}
		if code == 200 && decode[map[string][]map[string]string](t, b)["value"][0]["id"] != p.TenantID {
			t.Errorf("%s: %s", tc.name, b)
		}
	}
	// The Graph token is in turn refused by Partner Center.
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", graphTok, nil, nil); code != 401 {
		t.Errorf("Graph token accepted by Partner Center: %d", code)
	}
}
