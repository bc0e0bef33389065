package mscloud

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// tenant is a partner (shop) with one customer and an app-only Graph token
// issued by the customer's tenant, as the gateway will hold.
type tenant struct {
	*shop
	domain string // initial domain
	gtok   string
}

func newTenant(t *testing.T, s *testSim, cloud, country string) *tenant {
	t.Helper()
	sh := newShop(t, s, cloud, false, country, true)
	tn := &tenant{shop: sh}
	for _, c := range s.state(sh.p.TenantID)[0].Customers {
		if c.ID == sh.cid {
			tn.domain = c.Domain
		}
	}
	tn.gtok = s.graphToken(sh.p, sh.cid)
	return tn
}

// graphTokenForm asks the customer tenant (id or domain) for an app-only
// Graph token of the partner's app.
func (s *testSim) graphTokenForm(p creds, tenantIDOrDomain string) (int, map[string]any) {
	s.t.Helper()
	return s.tokenForm(tenantIDOrDomain, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret},
		"scope": {cloudProfiles[p.Cloud].GraphAudience + "/.default"},
	})
}

func (s *testSim) graphToken(p creds, tenantIDOrDomain string) string {
	s.t.Helper()
	st, body := s.graphTokenForm(p, tenantIDOrDomain)
	if st != http.StatusOK {
		s.t.Fatalf("graph token for %s: %d %v", tenantIDOrDomain, st, body)
	}
	return body["access_token"].(string)
}

// g calls Graph with the tenant's token.
func (tn *tenant) g(method, path string, body any) (int, http.Header, []byte) {
	tn.s.t.Helper()
	return tn.s.do(method, path, tn.gtok, body, nil)
}

type graphUserT struct {
	Context           string  `json:"@odata.context"`
	ID                string  `json:"id"`
	UserPrincipalName string  `json:"userPrincipalName"`
	DisplayName       string  `json:"displayName"`
	GivenName         *string `json:"givenName"`
	Surname           *string `json:"surname"`
	Mail              *string `json:"mail"`
	MailNickname      string  `json:"mailNickname"`
	AccountEnabled    bool    `json:"accountEnabled"`
	UsageLocation     *string `json:"usageLocation"`
	JobTitle          *string `json:"jobTitle"`
	AssignedLicenses  []struct {
		SkuID         string   `json:"skuId"`
		DisabledPlans []string `json:"disabledPlans"`
	} `json:"assignedLicenses"`
	LicenseAssignmentStates []struct {
		SkuID string `json:"skuId"`
		State string `json:"state"`
		Error string `json:"error"`
	} `json:"licenseAssignmentStates"`
}

type graphListT[T any] struct {
	Context  string `json:"@odata.context"`
	NextLink string `json:"@odata.nextLink"`
	Value    []T    `json:"value"`
}

// newUserBody is a valid create-user body for upn; mods edit it.
func newUserBody(upn string, mods ...func(m map[string]any)) map[string]any {
	local, _, _ := strings.Cut(upn, "@")
	m := map[string]any{
		"accountEnabled": true, "displayName": "User " + local, "mailNickname": local, "userPrincipalName": upn,
		"passwordProfile": map[string]any{"password": "Xk7#pLm2qR", "forceChangePasswordNextSignIn": true},
	}
	for _, f := range mods {
		f(m)
	}
	return m
}

// createUser creates a user through Graph (201 or the test fails).
func (tn *tenant) createUser(upn string, mods ...func(m map[string]any)) graphUserT {
	tn.s.t.Helper()
	code, _, b := tn.g(http.MethodPost, "/v1.0/users", newUserBody(upn, mods...))
	if code != http.StatusCreated {
		tn.s.t.Fatalf("create user %s: %d %s", upn, code, b)
	}
	return decode[graphUserT](tn.s.t, b)
}

func (tn *tenant) getUser(id string) graphUserT {
	tn.s.t.Helper()
	code, _, b := tn.g(http.MethodGet, "/v1.0/users/"+id, nil)
	if code != http.StatusOK {
		tn.s.t.Fatalf("get user %s: %d %s", id, code, b)
	}
	return decode[graphUserT](tn.s.t, b)
}

func (tn *tenant) upn(local string) string { return local + "@" + tn.domain }

func withProp(k string, v any) func(m map[string]any) { return func(m map[string]any) { m[k] = v } }

func without(k string) func(m map[string]any) { return func(m map[string]any) { delete(m, k) } }

func assignBody(add []string, remove []string) map[string]any {
	adds := []any{}
	for _, id := range add {
		adds = append(adds, map[string]any{"skuId": id, "disabledPlans": []string{}})
	}
	if remove == nil {
		remove = []string{}
	}
	return map[string]any{"addLicenses": adds, "removeLicenses": remove}
}

// expectGraphErr asserts a Graph error: status, code and a message part.
func expectGraphErr(t *testing.T, what string, code int, hdr http.Header, b []byte, wantStatus int, wantCode, wantMsg string) {
	t.Helper()
	if code != wantStatus {
		t.Errorf("%s: status %d, want %d: %s", what, code, wantStatus, b)
		return
	}
	e := decode[graphErr](t, b)
	if e.Error.Code != wantCode || !strings.Contains(e.Error.Message, wantMsg) || e.Error.InnerError["request-id"] == "" ||
		e.Error.InnerError["date"] == "" || hdr.Get("request-id") != e.Error.InnerError["request-id"] {
		t.Errorf("%s: got %s, want code %s message containing %q", what, b, wantCode, wantMsg)
	}
}

// graphState is the Graph part of GET /_sim/state for one partner.
type graphState struct {
	Users []struct {
		ID                string   `json:"id"`
		CustomerID        string   `json:"customer_id"`
		UserPrincipalName string   `json:"user_principal_name"`
		AccountEnabled    bool     `json:"account_enabled"`
		UsageLocation     string   `json:"usage_location"`
		Licenses          []string `json:"licenses"`
	} `json:"users"`
	Domains []struct {
		CustomerID string `json:"customer_id"`
		ID         string `json:"id"`
		IsVerified bool   `json:"is_verified"`
		IsInitial  bool   `json:"is_initial"`
	} `json:"domains"`
	GraphThrottled int `json:"graph_throttled"`
	GraphWrites    int `json:"graph_writes"`
}

func (s *testSim) graphState(partner string) graphState {
	s.t.Helper()
	st, b := s.admin(http.MethodGet, "/_sim/state?partner="+partner, nil)
	if st != http.StatusOK {
		s.t.Fatalf("state: %d %s", st, b)
	}
	return decode[struct {
		Partners []graphState `json:"partners"`
	}](s.t, b).Partners[0]
}

// userUPNs lists the user principal names on every page of GET path.
func (tn *tenant) userUPNs(path string) (upns []string, pages int) {
	tn.s.t.Helper()
	for path != "" {
		code, _, b := tn.g(http.MethodGet, path, nil)
		if code != http.StatusOK {
			tn.s.t.Fatalf("list %s: %d %s", path, code, b)
		}
		page := decode[graphListT[graphUserT]](tn.s.t, b)
		for _, u := range page.Value {
			upns = append(upns, u.UserPrincipalName)
		}
		pages++
		path = ""
		if page.NextLink != "" {
			if !strings.HasPrefix(page.NextLink, tn.s.url+"/v1.0/users?") || !strings.Contains(page.NextLink, "$skiptoken=") {
				tn.s.t.Fatalf("nextLink %q", page.NextLink)
			}
			path = strings.TrimPrefix(page.NextLink, tn.s.url)
		}
	}
	return upns, pages
}
