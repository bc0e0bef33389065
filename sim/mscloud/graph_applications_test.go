package mscloud

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type appCredT struct {
	KeyID               string  `json:"keyId"`
	DisplayName         *string `json:"displayName"`
	Hint                string  `json:"hint"`
	StartDateTime       string  `json:"startDateTime"`
	EndDateTime         string  `json:"endDateTime"`
	CustomKeyIdentifier *string `json:"customKeyIdentifier"`
	SecretText          *string `json:"secretText"`
}

type appT struct {
	ID                  string     `json:"id"`
	AppID               string     `json:"appId"`
	DisplayName         string     `json:"displayName"`
	PasswordCredentials []appCredT `json:"passwordCredentials"`
}

// apps lists GET /v1.0/applications?{query} with tok (200 or the test fails).
func (s *testSim) apps(tok, query string) graphListT[appT] {
	s.t.Helper()
	st, _, b := s.do(http.MethodGet, "/v1.0/applications?"+query, tok, nil, nil)
	if st != http.StatusOK {
		s.t.Fatalf("applications %s: %d %s", query, st, b)
	}
	return decode[graphListT[appT]](s.t, b)
}

func appFilter(appID string) string { return "$filter=" + url.QueryEscape("appId eq '"+appID+"'") }

func TestGraphApplications(t *testing.T) {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	s := newSim(t, Options{ClockStart: start})
	p := s.partner("global", false, "US")
	tok := s.partnerGraphToken(p)
	l := s.apps(tok, appFilter(strings.ToUpper(p.ClientID)))
	if len(l.Value) != 1 || l.Context != s.url+"/v1.0/$metadata#applications" {
		t.Fatalf("list: %+v", l)
	}
	app := l.Value[0]
	if app.AppID != p.ClientID || app.ID == "" || app.ID == p.ClientID || app.DisplayName != "P" || len(app.PasswordCredentials) != 1 {
		t.Fatalf("app: %+v", app)
	}
	c := app.PasswordCredentials[0]
	st, _ := time.Parse(time.RFC3339, c.StartDateTime)
	end, _ := time.Parse(time.RFC3339, c.EndDateTime)
	if c.Hint != p.ClientSecret[:3] || c.KeyID == "" || c.SecretText != nil || c.CustomKeyIdentifier != nil || c.DisplayName != nil ||
		st.Sub(start) < 0 || st.Sub(start) > time.Minute || end.Sub(st) != 730*24*time.Hour {
		t.Errorf("password credential: %+v", c)
	}

	sel := s.apps(tok, appFilter(p.ClientID)+"&$select=appId,PASSWORDCREDENTIALS")
	if sel.Context != s.url+"/v1.0/$metadata#applications(appId,passwordCredentials)" || sel.Value[0].ID != "" || sel.Value[0].DisplayName != "" ||
		sel.Value[0].AppID != p.ClientID || len(sel.Value[0].PasswordCredentials) != 1 {
		t.Errorf("$select: %+v", sel)
	}
	if all := s.apps(tok, ""); len(all.Value) != 1 || all.Value[0].AppID != p.ClientID {
		t.Errorf("no filter: %+v", all)
	}
	other := s.partner("global", false, "US")
	if l := s.apps(tok, appFilter(other.ClientID)); len(l.Value) != 0 {
		t.Errorf("another partner's app: %+v", l)
	}
	code, hdr, raw := s.do(http.MethodGet, "/v1.0/applications?$filter="+url.QueryEscape("displayName eq 'P'"), tok, nil, nil)
	expectGraphErr(t, "other filter", code, hdr, raw, http.StatusBadRequest, "Request_UnsupportedQuery", "displayName")
	code, hdr, raw = s.do(http.MethodGet, "/v1.0/applications?$select=keyCredentials", tok, nil, nil)
	expectGraphErr(t, "unknown $select", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "keyCredentials")

	// A customer tenant's token is refused.
	sh := &shop{s: s, p: p, tok: s.pcToken(p)}
	cid := sh.newCustomer("US", false)
	code, hdr, raw = s.do(http.MethodGet, "/v1.0/applications?"+appFilter(p.ClientID), s.graphToken(p, cid), nil, nil)
	expectGraphErr(t, "customer-tenant token", code, hdr, raw, http.StatusForbidden, "Authorization_RequestDenied", "")
}

func TestClientSecretExpiryAndRotation(t *testing.T) {
	s := newSim(t, Options{})
	st, b := s.admin(http.MethodPost, "/_sim/partners", map[string]any{"name": "Short", "client_secret_expires_in": "240h"})
	if st != http.StatusCreated {
		t.Fatalf("partner: %d %s", st, b)
	}
	p := decode[creds](t, b)
	p.Cloud = "global"
	created := decode[map[string]string](t, b)
	if created["client_secret_key_id"] == "" || created["client_secret_end_date_time"] == "" {
		t.Errorf("partner answer: %s", b)
	}
	clientCreds := func(secret string) (int, map[string]any) {
		return s.tokenForm(p.TenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID},
			"client_secret": {secret}, "scope": {pcScope}})
	}
	refresh := func(secret string) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "client_id": {p.ClientID}, "refresh_token": {p.RefreshToken}, "scope": {pcScope}}
		if secret != "" {
			f.Set("client_secret", secret)
		}
		st, body := s.tokenForm(p.TenantID, f)
		if st == http.StatusOK {
			p.RefreshToken = body["refresh_token"].(string)
		}
		return st, body
	}
	expired := func(what string, st int, body map[string]any) {
		t.Helper()
		codes, _ := body["error_codes"].([]any)
		desc, _ := body["error_description"].(string)
		if st != http.StatusUnauthorized || body["error"] != "invalid_client" || len(codes) != 1 || codes[0] != float64(7000222) ||
			!strings.HasPrefix(desc, "AADSTS7000222: The provided client secret keys for app '"+p.ClientID+"' are expired.") {
			t.Errorf("%s: %d %v", what, st, body)
		}
	}
	if st, body := clientCreds(p.ClientSecret); st != http.StatusOK {
		t.Fatalf("fresh secret: %d %v", st, body)
	}
	s.advance("239h")
	if st, body := clientCreds(p.ClientSecret); st != http.StatusOK {
		t.Errorf("before the end: %d %v", st, body)
	}

	// Rotation before the end: both secrets work.
	st, b = s.admin(http.MethodPost, "/_sim/partners/"+p.TenantID+"/secrets", map[string]any{"expires_in": "17520h", "display_name": "rotated"})
	rot := decode[map[string]string](t, b)
	if st != http.StatusCreated || len(rot["client_secret"]) < 30 || rot["client_secret"] == p.ClientSecret || rot["key_id"] == "" || rot["end_date_time"] == "" {
		t.Fatalf("rotate: %d %s", st, b)
	}
	for _, sec := range []string{p.ClientSecret, rot["client_secret"]} {
		if st, body := clientCreds(sec); st != http.StatusOK {
			t.Errorf("during the overlap: %d %v", st, body)
		}
	}
	s.advance("2h")
	st2, body := clientCreds(p.ClientSecret)
	expired("client_credentials with the old secret", st2, body)
	st2, body = refresh(p.ClientSecret)
	expired("refresh_token with the old secret", st2, body)
	if st, body := refresh(""); st != http.StatusOK {
		t.Errorf("refresh_token without a secret: %d %v", st, body)
	}
	if st, body := refresh(rot["client_secret"]); st != http.StatusOK {
		t.Errorf("refresh_token with the new secret: %d %v", st, body)
	}
	if st, body := clientCreds("nope"); st != http.StatusUnauthorized || body["error_codes"].([]any)[0] != float64(7000215) {
		t.Errorf("wrong secret: %d %v", st, body)
	}
	if st, _ := clientCreds(rot["client_secret"]); st != http.StatusOK {
		t.Errorf("new secret: %d", st)
	}

	// Graph shows both secrets; the state lists them without values.
	app := s.apps(s.token(creds{TenantID: p.TenantID, ClientID: p.ClientID, ClientSecret: rot["client_secret"]}, "https://graph.microsoft.com/.default"),
		appFilter(p.ClientID)).Value[0]
	if len(app.PasswordCredentials) != 2 || app.PasswordCredentials[1].KeyID != rot["key_id"] || app.PasswordCredentials[1].Hint != rot["client_secret"][:3] ||
		app.PasswordCredentials[1].DisplayName == nil || *app.PasswordCredentials[1].DisplayName != "rotated" ||
		app.PasswordCredentials[1].EndDateTime != rot["end_date_time"] || app.PasswordCredentials[0].EndDateTime != created["client_secret_end_date_time"] {
		t.Errorf("credentials: %+v", app.PasswordCredentials)
	}
	_, b = s.admin(http.MethodGet, "/_sim/state?partner="+p.TenantID, nil)
	state := decode[struct {
		Partners []struct {
			ClientSecrets []struct {
				KeyID   string `json:"key_id"`
				Expired bool   `json:"expired"`
			} `json:"client_secrets"`
		} `json:"partners"`
	}](t, b)
	if cs := state.Partners[0].ClientSecrets; len(cs) != 2 || !cs[0].Expired || cs[1].Expired || cs[1].KeyID != rot["key_id"] ||
		strings.Contains(string(b), rot["client_secret"]) || strings.Contains(string(b), p.ClientSecret) {
		t.Errorf("state: %s", b)
	}

	// Admin API errors; GET /_sim/ lists the call.
	for _, tc := range []struct {
		path string
		body any
		want int
	}{
		{"/_sim/partners/" + newGUID() + "/secrets", map[string]any{}, http.StatusNotFound},
		{"/_sim/partners/" + p.TenantID + "/secrets", map[string]any{"expires_in": "-1h"}, http.StatusBadRequest},
		{"/_sim/partners/" + p.TenantID + "/secrets", map[string]any{"expires_in": "soon"}, http.StatusBadRequest},
		{"/_sim/partners", map[string]any{"client_secret_expires_in": "0s"}, http.StatusBadRequest},
	} {
		if st, b := s.admin(http.MethodPost, tc.path, tc.body); st != tc.want {
			t.Errorf("%s %v: %d %s", tc.path, tc.body, st, b)
		}
	}
	if _, b := s.admin(http.MethodGet, "/_sim/", nil); !strings.Contains(string(b), "POST /_sim/partners/{partnerTenantId}/secrets") {
		t.Errorf("describe: %s", b)
	}
}

// By default a partner's secret lasts 2 years on the simulated clock.
func TestClientSecretDefaultLifetime(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", false, "US")
	s.advance("17519h")
	s.token(p, pcScope)
	s.advance("2h")
	st, body := s.tokenForm(p.TenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID},
		"client_secret": {p.ClientSecret}, "scope": {pcScope}})
	if codes, _ := body["error_codes"].([]any); st != http.StatusUnauthorized || len(codes) != 1 || codes[0] != float64(7000222) {
		t.Errorf("after 2 years: %d %v", st, body)
	}
}
