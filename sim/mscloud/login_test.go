package mscloud

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestOpenIDConfiguration(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("china", true, "CN")

	st, _, b := s.do(http.MethodGet, "/"+p.TenantID+"/v2.0/.well-known/openid-configuration", "", nil, nil)
	if st != http.StatusOK {
		t.Fatalf("status %d %s", st, b)
	}
	doc := decode[map[string]any](t, b)
	want := map[string]string{
		"issuer":                 s.url + "/" + p.TenantID + "/v2.0",
		"token_endpoint":         s.url + "/" + p.TenantID + "/oauth2/v2.0/token",
		"authorization_endpoint": s.url + "/" + p.TenantID + "/oauth2/v2.0/authorize",
		"jwks_uri":               s.url + "/" + p.TenantID + "/discovery/v2.0/keys",
		"cloud_instance_name":    "chinacloudapi.cn",
		"msgraph_host":           "microsoftgraph.chinacloudapi.cn",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}

	st, _, b = s.do(http.MethodGet, "/common/v2.0/.well-known/openid-configuration", "", nil, nil)
	if doc := decode[map[string]any](t, b); st != http.StatusOK || doc["issuer"] != s.url+"/{tenantid}/v2.0" {
		t.Errorf("common: %d issuer %v", st, doc["issuer"])
	}

	st, _, b = s.do(http.MethodGet, "/"+newGUID()+"/v2.0/.well-known/openid-configuration", "", nil, nil)
	e := decode[entraErrorBody](t, b)
	if st != http.StatusBadRequest || e.Error != "invalid_tenant" || len(e.ErrorCodes) != 1 || e.ErrorCodes[0] != 90002 {
		t.Errorf("unknown tenant: %d %+v", st, e)
	}
}

func TestTokenErrors(t *testing.T) {
	s := newSim(t, Options{})
	g := s.partner("global", true, "US")
	cn := s.partner("china", true, "CN")
	form := func(c creds, mods map[string]string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "scope": {pcScope}}
		for k, x := range mods {
			if x == "" {
				v.Del(k)
			} else {
				v.Set(k, x)
			}
		}
		return v
	}
	cases := []struct {
		name     string
		tenant   string
		form     url.Values
		status   int
		errCode  string
		aadsts   int
		descHint string
	}{
		{"unknown tenant", newGUID(), form(g, nil), 400, "invalid_request", 90002, "not found"},
		{"unknown client", g.TenantID, form(g, map[string]string{"client_id": newGUID()}), 400, "unauthorized_client", 700016, "was not found in the directory"},
		{"client of another partner", g.TenantID, form(cn, nil), 400, "unauthorized_client", 700016, ""},
		{"wrong secret", g.TenantID, form(g, map[string]string{"client_secret": "nope"}), 401, "invalid_client", 7000215, "Invalid client secret"},
		{"missing secret", g.TenantID, form(g, map[string]string{"client_secret": ""}), 401, "invalid_client", 7000218, ""},
		{"missing client_id", g.TenantID, form(g, map[string]string{"client_id": ""}), 400, "invalid_request", 900144, "'client_id'"},
		{"missing grant", g.TenantID, form(g, map[string]string{"grant_type": ""}), 400, "invalid_request", 900144, "'grant_type'"},
		{"unsupported grant", g.TenantID, form(g, map[string]string{"grant_type": "password"}), 400, "unsupported_grant_type", 70003, ""},
		{"missing scope", g.TenantID, form(g, map[string]string{"scope": ""}), 400, "invalid_request", 900144, "'scope'"},
		{"unknown audience", g.TenantID, form(g, map[string]string{"scope": "https://management.azure.com/.default"}), 400, "invalid_scope", 70011, ""},
		{"not .default", g.TenantID, form(g, map[string]string{"scope": "https://graph.microsoft.com/User.Read"}), 400, "invalid_scope", 70011, "/.default"},
		{"two resources", g.TenantID, form(g, map[string]string{"scope": pcScope + " https://graph.microsoft.com/.default"}), 400, "invalid_scope", 70011, ""},
		{"global graph for china partner", cn.TenantID, form(cn, map[string]string{"scope": "https://graph.microsoft.com/.default"}), 400, "invalid_scope", 70011, ""},
		{"global PC for china partner", cn.TenantID, form(cn, nil), 400, "invalid_scope", 70011, ""},
		{"refresh without token", g.TenantID, form(g, map[string]string{"grant_type": "refresh_token"}), 400, "invalid_request", 900144, "'refresh_token'"},
		{"refresh with bogus token", g.TenantID, form(g, map[string]string{"grant_type": "refresh_token", "refresh_token": "simrt.bogus"}), 400, "invalid_grant", 70000, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, body := s.tokenForm(tc.tenant, tc.form)
			if st != tc.status || body["error"] != tc.errCode {
				t.Fatalf("got %d %v, want %d %s", st, body, tc.status, tc.errCode)
			}
			codes, _ := body["error_codes"].([]any)
			if len(codes) != 1 || int(codes[0].(float64)) != tc.aadsts {
				t.Errorf("error_codes = %v, want [%d]", body["error_codes"], tc.aadsts)
			}
			desc, _ := body["error_description"].(string)
			if !strings.HasPrefix(desc, "AADSTS") || !strings.Contains(desc, tc.descHint) || !strings.Contains(desc, "Trace ID:") {
				t.Errorf("error_description = %q", desc)
			}
			for _, k := range []string{"timestamp", "trace_id", "correlation_id"} {
				if v, _ := body[k].(string); v == "" {
					t.Errorf("%s missing", k)
				}
			}
		})
	}
}

func TestTokenSuccessPerCloud(t *testing.T) {
	s := newSim(t, Options{})
	for _, tc := range []struct{ cloud, scope string }{
		{"global", "https://api.partnercenter.microsoft.com/.default"},
		{"global", "https://graph.microsoft.com/.default"},
		{"usgov", "https://api.partnercenter.microsoft.com/.default"},
		{"usgov", "https://graph.microsoft.us/.default"},
		{"china", "https://partner.partnercenterapi.microsoftonline.cn/.default"},
		{"china", "https://microsoftgraph.chinacloudapi.cn/.default"},
	} {
		p := s.partner(tc.cloud, true, "US")
		st, body := s.tokenForm(p.TenantID, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret}, "scope": {tc.scope},
		})
		if st != http.StatusOK || body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) || body["ext_expires_in"] != float64(3599) || body["access_token"] == "" {
			t.Errorf("%s %s: %d %v", tc.cloud, tc.scope, st, body)
		}
		if _, ok := body["refresh_token"]; ok {
			t.Errorf("client_credentials must not return a refresh token")
		}
	}
}

func TestRefreshTokenGrantRotates(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	redeem := func(rt string, secret string) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "client_id": {p.ClientID}, "refresh_token": {rt},
			"scope": {"https://api.partnercenter.microsoft.com/user_impersonation offline_access"}}
		if secret != "" {
			f.Set("client_secret", secret)
		}
		return s.tokenForm(p.TenantID, f)
	}
	st, body := redeem(p.RefreshToken, "")
	if st != http.StatusOK {
		t.Fatalf("first redemption: %d %v", st, body)
	}
	next, _ := body["refresh_token"].(string)
	if next == "" || next == p.RefreshToken {
		t.Fatalf("no rotated refresh token: %v", body)
	}
	if st, _, b := s.do(http.MethodGet, "/v1/customers", body["access_token"].(string), nil, nil); st != http.StatusOK {
		t.Fatalf("app+user token refused by Partner Center: %d %s", st, b)
	}
	if st, body := redeem(p.RefreshToken, ""); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("spent refresh token: %d %v", st, body)
	}
	if st, body := redeem(next, "wrong"); st != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", st, body)
	}
	if st, body := redeem(next, p.ClientSecret); st != http.StatusOK {
		t.Errorf("rotated token with secret: %d %v", st, body)
	}
	// Expiry after 90 days of simulated time.
	other := s.partner("global", true, "US")
	if err := s.srv.Clock().Advance(91 * 24 * time.Hour); err != nil {
		t.Fatal(err)
	}
	st, body = s.tokenForm(other.TenantID, url.Values{"grant_type": {"refresh_token"}, "client_id": {other.ClientID},
		"refresh_token": {other.RefreshToken}, "scope": {pcScope}})
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" || !strings.HasPrefix(body["error_description"].(string), "AADSTS700082") {
		t.Errorf("expired refresh token: %d %v", st, body)
	}
}

func TestCustomerTenantToken(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	cu := s.createCustomer(s.pcToken(p), customerBody("tenanttok1.onmicrosoft.com", "US"))
	// A token issued by the customer's tenant (by id or initial domain) for the partner's app.
	for _, tenant := range []string{cu["id"].(string), "tenanttok1.onmicrosoft.com"} {
		st, body := s.tokenForm(tenant, url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID},
			"client_secret": {p.ClientSecret}, "scope": {pcScope}})
		if st != http.StatusOK {
			t.Fatalf("%s: %d %v", tenant, st, body)
		}
		// Partner Center wants tokens from the partner tenant.
		if st, _, _ := s.do(http.MethodGet, "/v1/customers", body["access_token"].(string), nil, nil); st != http.StatusUnauthorized {
			t.Errorf("customer-tenant token accepted by Partner Center: %d", st)
		}
	}
}
