package mscloud

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestAdminPartners(t *testing.T) {
	s := newSim(t, Options{})
	for name, body := range map[string]string{
		"unknown cloud": `{"name":"x","cloud":"germany"}`,
		"bad country":   `{"name":"x","cloud":"global","countries":["USA"]}`,
		"not JSON":      `[`,
	} {
		if st, b := s.admin(http.MethodPost, "/_sim/partners", body); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, st, b)
		}
	}
	p := s.partner("usgov", false, "us", "CA")
	if p.TenantID == "" || p.ClientID == "" || len(p.ClientSecret) < 30 || p.RefreshToken == "" || p.TenantID == p.ClientID {
		t.Fatalf("credentials: %+v", p)
	}
	q := s.partner("global", true, "US")
	all := s.state("")
	if len(all) != 2 || all[0].TenantID != p.TenantID || all[0].Cloud != "usgov" || all[0].Sandbox ||
		len(all[0].Countries) != 2 || all[0].Countries[0] != "US" || all[0].Customers == nil || all[0].Orders == nil ||
		all[0].Subscriptions == nil || all[0].Users == nil || all[0].Domains == nil {
		t.Errorf("state: %+v", all)
	}
	if one := s.state(q.TenantID); len(one) != 1 || one[0].TenantID != q.TenantID || !one[0].Sandbox {
		t.Errorf("filtered state: %+v", one)
	}
	if st, _ := s.admin(http.MethodGet, "/_sim/state?partner="+newGUID(), nil); st != http.StatusNotFound {
		t.Errorf("unknown partner filter: %d", st)
	}
	// The raw state never exposes the client secret.
	if _, b := s.admin(http.MethodGet, "/_sim/state", nil); strings.Contains(string(b), p.ClientSecret) {
		t.Errorf("secret in state")
	}
}

func TestAdminClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSim(t, Options{ClockStart: start})
	_, b := s.admin(http.MethodGet, "/_sim/clock", nil)
	now, err := time.Parse(time.RFC3339, decode[map[string]string](t, b)["now"])
	if err != nil || now.Before(start) || now.After(start.Add(time.Minute)) {
		t.Fatalf("clock: %s", b)
	}
	st, b := s.admin(http.MethodPost, "/_sim/clock", map[string]string{"advance": "168h"})
	later, _ := time.Parse(time.RFC3339, decode[map[string]string](t, b)["now"])
	if st != 200 || later.Sub(now) < 168*time.Hour || later.Sub(now) > 168*time.Hour+time.Minute {
		t.Errorf("advance: %d %s", st, b)
	}
	for _, bad := range []string{`{"advance":"-1h"}`, `{"advance":"soon"}`, `{}`} {
		if st, b := s.admin(http.MethodPost, "/_sim/clock", bad); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, st, b)
		}
	}
	// Timestamps the simulator produces follow the simulated clock.
	p := s.partner("global", true, "US")
	s.createCustomer(s.pcToken(p), customerBody("clock1.onmicrosoft.com", "US"))
	created, _ := time.Parse(time.RFC3339Nano, s.state(p.TenantID)[0].Customers[0].CreatedAt)
	if created.Before(later) || created.After(later.Add(time.Minute)) {
		t.Errorf("created_at %v is not on the simulated clock (%v)", created, later)
	}
}

func TestAdminSettings(t *testing.T) {
	s := newSim(t, Options{})
	_, b := s.admin(http.MethodGet, "/_sim/settings", nil)
	got := decode[settingsView](t, b)
	want := settingsView{RequestIDReplay: true, ThrottlePartnerRPS: 100, ThrottleCustomerRPS: 20, TokenLifetimeSeconds: 3599,
		GraphWriteLimit: 3000, GraphWriteWindowSeconds: 150, GraphRUScale: 1}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	st, b := s.admin(http.MethodPost, "/_sim/settings", map[string]any{"token_lifetime_seconds": 60})
	if got := decode[settingsView](t, b); st != 200 || got.TokenLifetimeSeconds != 60 || got.ThrottlePartnerRPS != 100 {
		t.Errorf("partial update: %d %s", st, b)
	}
	p := s.partner("global", true, "US")
	_, body := s.tokenForm(p.TenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret}, "scope": {pcScope}})
	if body["expires_in"] != float64(60) {
		t.Errorf("token lifetime not applied: %v", body)
	}
	tok := body["access_token"].(string)
	// Access tokens live in real time; the simulated clock does not expire them.
	if err := s.srv.Clock().Advance(61 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", tok, nil, nil); code != http.StatusOK {
		t.Errorf("token after a clock advance: %d", code)
	}
	s.srv.entra.tokens[tok].Expires = time.Now().Add(-time.Second)
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", tok, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("token past its lifetime: %d", code)
	}
	for _, bad := range []string{`{"throttle_partner_rps":-1}`, `{"token_lifetime_seconds":0}`, `{"request_id_replay":"no"}`, `{"bogus":1}`} {
		if st, b := s.admin(http.MethodPost, "/_sim/settings", bad); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, st, b)
		}
	}
}

func TestAdminDescribeAndUnknown(t *testing.T) {
	s := newSim(t, Options{})
	st, b := s.admin(http.MethodGet, "/_sim/", nil)
	d := decode[struct {
		BaseURL string                    `json:"base_url"`
		Clouds  map[string]map[string]any `json:"clouds"`
	}](t, b)
	if st != 200 || d.BaseURL != s.url || len(d.Clouds) != 3 {
		t.Fatalf("describe: %d %s", st, b)
	}
	want := map[string][3]string{
		"global": {"https://api.partnercenter.microsoft.com", "https://graph.microsoft.com", ".onmicrosoft.com"},
		"usgov":  {"https://api.partnercenter.microsoft.com", "https://graph.microsoft.us", ".onmicrosoft.com"},
		"china":  {"https://partner.partnercenterapi.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn", ".partner.onmschina.cn"},
	}
	for name, w := range want {
		c := d.Clouds[name]
		if c["login_authority"] != s.url || c["partner_center_url"] != s.url || c["graph_url"] != s.url+"/v1.0" ||
			c["partner_center_audience"] != w[0] || c["graph_audience"] != w[1] || c["initial_domain_suffix"] != w[2] || c["stands_in_for"] == nil {
			t.Errorf("%s: %v", name, c)
		}
	}
	if st, _ := s.admin(http.MethodGet, "/_sim", nil); st != 200 {
		t.Errorf("/_sim: %d", st)
	}
	if st, b := s.admin(http.MethodGet, "/_sim/nope", nil); st != http.StatusNotFound || decode[map[string]string](t, b)["error"] == "" {
		t.Errorf("unknown admin path: %d %s", st, b)
	}
	if st, _ := s.admin(http.MethodPut, "/_sim/clock", nil); st != http.StatusMethodNotAllowed {
		t.Errorf("wrong admin method: %d", st)
	}
}

// A customer made the way a partner does in the portal is a Partner Center
// customer of that partner like any other (linkable, listed).
func TestAdminCreateCustomer(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	code, b := s.admin("POST", "/_sim/partners/"+p.TenantID+"/customers", map[string]any{"domain": "portalmade", "company_name": "Portal Ltd", "country": "US"})
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	cu := decode[map[string]any](t, b)
	id, _ := cu["id"].(string)
	code, _, got := s.do("GET", "/v1/customers/"+id, s.pcToken(p), nil, nil)
	if code != 200 || decode[map[string]any](t, got)["companyProfile"].(map[string]any)["domain"] != "portalmade.onmicrosoft.com" {
		t.Fatalf("read through Partner Center: %d %s", code, got)
	}
	if code, b := s.admin("POST", "/_sim/partners/"+p.TenantID+"/customers", map[string]any{"domain": "portalmade.onmicrosoft.com"}); code != 409 {
		t.Fatalf("taken domain: %d %s", code, b)
	}
	if code, _ := s.admin("POST", "/_sim/partners/nope/customers", map[string]any{"domain": "x"}); code != 404 {
		t.Fatalf("unknown partner: %d", code)
	}
	if code, _ := s.admin("POST", "/_sim/partners/"+p.TenantID+"/customers", map[string]any{"domain": "bad domain!"}); code != 400 {
		t.Fatalf("bad domain: %d", code)
	}
}
