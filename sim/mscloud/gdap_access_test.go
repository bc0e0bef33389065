package mscloud

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// licenseE1 is the Office 365 E1 license SKU (the tenants below hold none).
const licenseE1 = "18181a46-0d4e-45cd-891e-60aabd171b4e"

type accessStep struct {
	method, path string
	body         any
	want         int
}

// TestGDAPDelegatedGraphAccess: app+user tokens act in a customer's
// directory only with a usable relationship whose roles cover the call.
func TestGDAPDelegatedGraphAccess(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	p := sh.p
	ptok := s.partnerGraphToken(p)
	pw := func(m map[string]any) map[string]any {
		m["passwordProfile"] = map[string]any{"password": "Nw9!tRq4zP", "forceChangePasswordNextSignIn": true}
		return m
	}
	seq := 0
	for _, sc := range []struct {
		name  string
		state string     // "" none, "pending", "active", "expiring", "terminated"
		roles [][]string // one relationship per entry
		steps func(domain string) []accessStep
	}{
		{"no relationship", "", nil, func(d string) []accessStep {
			return []accessStep{{"GET", "/v1.0/users", nil, 403}, {"GET", "/v1.0/domains", nil, 403}}
		}},
		{"approval pending", "pending", [][]string{{roleGlobalAdministrator}}, func(d string) []accessStep {
			return []accessStep{{"GET", "/v1.0/users", nil, 403}}
		}},
		{"terminated", "terminated", [][]string{{roleGlobalAdministrator}}, func(d string) []accessStep {
			return []accessStep{{"GET", "/v1.0/users", nil, 403}}
		}},
		{"expiring still grants", "expiring", [][]string{{roleDirectoryReaders}}, func(d string) []accessStep {
			return []accessStep{{"GET", "/v1.0/users", nil, 200}}
		}},
		{"directory readers", "active", [][]string{{roleDirectoryReaders}}, func(d string) []accessStep {
			return []accessStep{
				{"GET", "/v1.0/users", nil, 200}, {"GET", "/v1.0/users/admin@" + d, nil, 200}, {"GET", "/v1.0/domains", nil, 200},
				{"GET", "/v1.0/domains/" + d + "/verificationDnsRecords", nil, 200}, {"GET", "/v1.0/subscribedSkus", nil, 200},
				{"POST", "/v1.0/users", newUserBody("bob@" + d), 403},
				{"PATCH", "/v1.0/users/admin@" + d, map[string]any{"jobTitle": "Boss"}, 403},
				{"PATCH", "/v1.0/users/admin@" + d, pw(map[string]any{}), 403},
				{"POST", "/v1.0/users/admin@" + d + "/assignLicense", assignBody([]string{licenseE1}, nil), 403},
				{"POST", "/v1.0/domains", map[string]any{"id": "readers-" + d[:8] + ".example"}, 403},
				{"DELETE", "/v1.0/users/admin@" + d, nil, 403},
			}
		}},
		{"user administrator", "active", [][]string{{roleUserAdministrator}}, func(d string) []accessStep {
			return []accessStep{
				{"POST", "/v1.0/users", newUserBody("bob@" + d), 201},
				{"PATCH", "/v1.0/users/bob@" + d, map[string]any{"jobTitle": "Clerk"}, 204},
				{"PATCH", "/v1.0/users/bob@" + d, pw(map[string]any{"jobTitle": "Chief"}), 204},
				{"POST", "/v1.0/users/bob@" + d + "/assignLicense", assignBody([]string{licenseE1}, nil), 400}, // allowed; no such license
				{"POST", "/v1.0/domains", map[string]any{"id": "users-" + d[:8] + ".example"}, 403},
				{"DELETE", "/v1.0/users/bob@" + d, nil, 204},
			}
		}},
		{"helpdesk administrator", "active", [][]string{{roleHelpdeskAdministrator}}, func(d string) []accessStep {
			return []accessStep{
				{"PATCH", "/v1.0/users/admin@" + d, pw(map[string]any{"@odata.type": "#microsoft.graph.user"}), 204},
				{"PATCH", "/v1.0/users/admin@" + d, pw(map[string]any{"jobTitle": "Boss"}), 403},
				{"PATCH", "/v1.0/users/admin@" + d, map[string]any{"jobTitle": "Boss"}, 403},
				{"POST", "/v1.0/users", newUserBody("eve@" + d), 403},
			}
		}},
		{"license administrator", "active", [][]string{{roleLicenseAdministrator}}, func(d string) []accessStep {
			return []accessStep{
				{"POST", "/v1.0/users/admin@" + d + "/assignLicense", assignBody([]string{licenseE1}, nil), 400},
				{"POST", "/v1.0/users", newUserBody("eve@" + d), 403},
			}
		}},
		{"directory writers", "active", [][]string{{roleDirectoryWriters}}, func(d string) []accessStep {
			return []accessStep{
				{"POST", "/v1.0/users", newUserBody("bob@" + d), 201},
				{"PATCH", "/v1.0/users/bob@" + d, pw(map[string]any{}), 403},
				{"POST", "/v1.0/users/bob@" + d + "/assignLicense", assignBody([]string{licenseE1}, nil), 400},
			}
		}},
		{"domain name administrator", "active", [][]string{{roleDomainNameAdministrator}}, func(d string) []accessStep {
			dom := "names-" + d[:8] + ".example"
			return []accessStep{
				{"POST", "/v1.0/domains", map[string]any{"id": dom}, 201},
				{"POST", "/v1.0/domains/" + dom + "/verify", nil, 400}, // allowed; the TXT record is not published
				{"DELETE", "/v1.0/domains/" + dom, nil, 204},
				{"POST", "/v1.0/users", newUserBody("eve@" + d), 403},
			}
		}},
		{"global administrator", "active", [][]string{{roleGlobalAdministrator}}, func(d string) []accessStep {
			return []accessStep{
				{"POST", "/v1.0/users", newUserBody("bob@" + d), 201},
				{"PATCH", "/v1.0/users/bob@" + d, pw(map[string]any{}), 204},
				{"POST", "/v1.0/domains", map[string]any{"id": "global-" + d[:8] + ".example"}, 201},
			}
		}},
		{"roles of two relationships add up", "active", [][]string{{roleDirectoryReaders}, {roleDomainNameAdministrator}}, func(d string) []accessStep {
			return []accessStep{
				{"GET", "/v1.0/users", nil, 200},
				{"POST", "/v1.0/domains", map[string]any{"id": "both-" + d[:8] + ".example"}, 201},
				{"POST", "/v1.0/users", newUserBody("eve@" + d), 403},
			}
		}},
	} {
		seq++
		domain := "gdapacc" + strconv.Itoa(seq) + strconv.FormatInt(domainSeq.Add(1), 10) + ".onmicrosoft.com"
		cid := s.createCustomer(sh.tok, customerBody(domain, "US"))["id"].(string)
		for i, roles := range sc.roles {
			body := gdapBody(sc.name+" "+strconv.Itoa(i), cid, roles...)
			if sc.state == "expiring" {
				body["duration"] = "P10D"
			}
			g := s.createGDAP(ptok, body)
			if st, b := s.gdapAction(ptok, g.ID, "lockForApproval"); st != http.StatusCreated {
				t.Fatalf("%s: lock: %d %s", sc.name, st, b)
			}
			if sc.state == "pending" {
				continue
			}
			if a := s.approveGDAP(g.ID); sc.state == "expiring" && a.Status != "expiring" {
				t.Fatalf("%s: %+v", sc.name, a)
			}
			if sc.state == "terminated" {
				if st, b := s.gdapAction(ptok, g.ID, "terminate"); st != http.StatusCreated {
					t.Fatalf("%s: terminate: %d %s", sc.name, st, b)
				}
			}
		}
		tok := s.delegatedToken(&p, cid, "https://graph.microsoft.com")
		for _, st := range sc.steps(domain) {
			code, hdr, raw := s.do(st.method, st.path, tok, st.body, nil)
			what := sc.name + ": " + st.method + " " + st.path
			if st.want == 403 {
				expectGraphErr(t, what, code, hdr, raw, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
			} else if code != st.want {
				t.Errorf("%s: %d, want %d: %s", what, code, st.want, raw)
			}
		}
		if sc.state == "" {
			// App-only tokens do not need a relationship.
			if code, _, raw := s.do(http.MethodPost, "/v1.0/users", s.graphToken(p, cid), newUserBody("app@"+domain), nil); code != 201 {
				t.Errorf("app-only without relationship: %d %s", code, raw)
			}
		}
	}
}

// TestGDAPDelegatedConsents: Partner Center application consents with an
// app+user token need an application-administrator role in the customer.
func TestGDAPDelegatedConsents(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	p := sh.p
	consent := map[string]any{"applicationId": p.ClientID, "applicationGrants": []any{
		map[string]any{"enterpriseApplicationId": "00000003-0000-0000-c000-000000000000", "scope": "Directory.ReadWrite.All"}}}
	path := sh.cpath("/applicationconsents")
	del := s.delegatedToken(&p, p.TenantID, cloudProfiles["global"].PartnerCenterAudience)

	expect403 := func(what string, code int, raw []byte) {
		t.Helper()
		if e := decode[pcErr](t, raw); code != http.StatusForbidden || e.Code != codeGDAPAccessDenied || e.Source != "PartnerFD" || e.Data == nil ||
			!strings.Contains(e.Description, sh.cid) {
			t.Errorf("%s: %d %s", what, code, raw)
		}
	}
	code, _, raw := s.do(http.MethodPost, path, del, consent, nil)
	expect403("no relationship", code, raw)
	s.activeGDAP(p, sh.cid, roleUserAdministrator, roleDomainNameAdministrator)
	code, _, raw = s.do(http.MethodPost, path, del, consent, nil)
	expect403("roles without an application role", code, raw)
	// Listing is not guarded.
	if code, _, raw := s.do(http.MethodGet, path, del, nil, nil); code != 200 {
		t.Errorf("list: %d %s", code, raw)
	}

	for i, role := range []string{roleCloudApplicationAdministrator, roleApplicationAdministrator, roleGlobalAdministrator} {
		cid := sh.newCustomer("US", false)
		cpath := "/v1/customers/" + cid + "/applicationconsents"
		s.activeGDAP(p, cid, role)
		if code, _, raw := s.do(http.MethodPost, cpath, del, consent, nil); code != http.StatusCreated {
			t.Errorf("role %d: consent: %d %s", i, code, raw)
		}
		if code, _, raw := s.do(http.MethodDelete, cpath+"/"+p.ClientID, del, nil, nil); code != http.StatusNoContent {
			t.Errorf("role %d: delete: %d %s", i, code, raw)
		}
	}

	// App-only keeps working without a relationship; a delegated DELETE
	// without the role is refused.
	other := sh.newCustomer("US", false)
	opath := "/v1/customers/" + other + "/applicationconsents"
	if code, _, raw := sh.call(http.MethodPost, opath, consent, nil); code != http.StatusCreated {
		t.Fatalf("app-only consent: %d %s", code, raw)
	}
	code, _, raw = s.do(http.MethodDelete, opath+"/"+p.ClientID, del, nil, nil)
	if e := decode[pcErr](t, raw); code != http.StatusForbidden || e.Code != codeGDAPAccessDenied {
		t.Errorf("delegated delete without relationship: %d %s", code, raw)
	}
}

// The coverage table: every role it names can be requested, every class
// is covered by Global Administrator, and write routes must be classified.
func TestGDAPCoverageTable(t *testing.T) {
	for op, roles := range gdapCoverage {
		for _, id := range roles {
			if gdapKnownRoles[id] == "" {
				t.Errorf("%s: role %s is not a known role", op, id)
			}
		}
		if roles != nil && !slices.Contains(roles, roleGlobalAdministrator) {
			t.Errorf("%s: Global Administrator does not cover it", op)
		}
	}
	for pattern, op := range tenantRouteWrites {
		if _, ok := gdapCoverage[op]; !ok {
			t.Errorf("%s: class %q has no coverage entry", pattern, op)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("an unclassified write route did not panic")
		}
	}()
	mustClassifyTenantRoute("PUT /v1.0/users/{id}/manager")
}
