package mscloud

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestGraphTokenTenantScoping(t *testing.T) {
	s := newCommerceSim(t)
	a := newTenant(t, s, "global", "US")
	bCID := a.newCustomer("US", false) // a second customer of the same partner
	b := &tenant{shop: &shop{s: s, p: a.p, tok: a.tok, cid: bCID}}
	b.domain = s.state(a.p.TenantID)[0].Customers[1].Domain
	b.gtok = s.graphToken(a.p, b.domain) // by initial domain
	a.createUser(a.upn("ann"))

	partnerTok := s.token(a.p, "https://graph.microsoft.com/.default")
	// App+user: the partner's refresh token redeemed at the customer tenant;
	// its directory reads need an active GDAP relationship (gdap_access.go).
	s.activeGDAP(a.p, a.cid)
	st, body := s.tokenForm(a.cid, url.Values{"grant_type": {"refresh_token"}, "client_id": {a.p.ClientID},
		"client_secret": {a.p.ClientSecret}, "refresh_token": {a.p.RefreshToken}, "scope": {"https://graph.microsoft.com/.default"}})
	if st != 200 {
		t.Fatalf("refresh-token grant at the customer tenant: %d %v", st, body)
	}
	delegated := body["access_token"].(string)
	other := s.partner("global", false, "US")
	if st, body := s.graphTokenForm(other, a.cid); st != 400 || body["error"] != "unauthorized_client" {
		t.Errorf("another partner's app at the customer tenant: %d %v", st, body)
	}

	for _, tc := range []struct {
		name, token string
		status      int
		code        string
		upns        []string
	}{
		{"customer A app-only", a.gtok, 200, "", []string{"admin@" + a.domain, "ann@" + a.domain}},
		{"customer A app+user", delegated, 200, "", []string{"admin@" + a.domain, "ann@" + a.domain}},
		{"customer B (token by domain)", b.gtok, 200, "", []string{"admin@" + b.domain}},
		{"partner tenant token", partnerTok, 403, "Authorization_RequestDenied", nil},
		{"Partner Center token", a.tok, 401, "InvalidAuthenticationToken", nil},
		{"no token", "", 401, "InvalidAuthenticationToken", nil},
	} {
		code, hdr, raw := s.do(http.MethodGet, "/v1.0/users", tc.token, nil, nil)
		if tc.status != 200 {
			expectGraphErr(t, tc.name, code, hdr, raw, tc.status, tc.code, "")
			continue
		}
		list := decode[graphListT[graphUserT]](t, raw)
		var got []string
		for _, u := range list.Value {
			got = append(got, u.UserPrincipalName)
		}
		if code != 200 || !slices.Equal(got, tc.upns) || list.Context != s.url+"/v1.0/$metadata#users" {
			t.Errorf("%s: %d %v %s", tc.name, code, got, raw)
		}
	}
	// Customer B's token cannot reach customer A's user.
	ann := a.getUser("ann@" + a.domain)
	if code, hdr, raw := b.g(http.MethodGet, "/v1.0/users/"+ann.ID, nil); code != 404 {
		expectGraphErr(t, "cross-tenant user", code, hdr, raw, 404, "Request_ResourceNotFound", ann.ID)
	}
	// The first global admin exists from the start, with the billing contact's name.
	admin := a.getUser("admin@" + a.domain)
	if admin.DisplayName != "Ann Lee" || !admin.AccountEnabled || admin.UsageLocation == nil || *admin.UsageLocation != "US" {
		t.Errorf("initial admin: %+v", admin)
	}
}

func TestGraphCustomerPropagation(t *testing.T) {
	s := newCommerceSim(t)
	s.settings(map[string]any{"customer_propagation_seconds": 180})
	sh := newShop(t, s, "global", false, "US", true)
	domain := s.state(sh.p.TenantID)[0].Customers[0].Domain
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {sh.p.ClientID}, "client_secret": {sh.p.ClientSecret},
		"refresh_token": {sh.p.RefreshToken}, "scope": {"https://graph.microsoft.com/.default"}}
	for _, tc := range []struct {
		name string
		do   func() (int, map[string]any)
	}{
		{"app-only by id", func() (int, map[string]any) { return s.graphTokenForm(sh.p, sh.cid) }},
		{"app-only by domain", func() (int, map[string]any) { return s.graphTokenForm(sh.p, domain) }},
		{"app+user", func() (int, map[string]any) { return s.tokenForm(sh.cid, refresh) }},
	} {
		st, body := tc.do()
		codes, _ := body["error_codes"].([]any)
		if st != 400 || body["error"] != "invalid_grant" || len(codes) != 1 || codes[0] != float64(65001) ||
			!strings.HasPrefix(body["error_description"].(string), "AADSTS65001: ") {
			t.Errorf("%s inside the propagation window: %d %v", tc.name, st, body)
		}
	}
	// The partner's own tenant is not affected.
	s.token(sh.p, "https://graph.microsoft.com/.default")
	s.advance("179s")
	if st, _ := s.graphTokenForm(sh.p, sh.cid); st != 400 {
		t.Errorf("at 179 s: %d", st)
	}
	s.advance("2s")
	tn := &tenant{shop: sh, domain: domain, gtok: s.graphToken(sh.p, sh.cid)}
	if code, _, b := tn.g(http.MethodGet, "/v1.0/users", nil); code != 200 {
		t.Errorf("after the window: %d %s", code, b)
	}
}

func TestGraphCreateUserRules(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	// An unverified custom domain of the tenant.
	if code, _, b := tn.g(http.MethodPost, "/v1.0/domains", map[string]any{"id": "unverified-" + tn.cid[:8] + ".com"}); code != 201 {
		t.Fatalf("add domain: %d %s", code, b)
	}
	u := tn.createUser(tn.upn("bob"), withProp("givenName", "Bob"), withProp("surname", "Stone"), withProp("usageLocation", "de"),
		withProp("jobTitle", "Engineer"))
	if u.ID == "" || u.UserPrincipalName != "bob@"+tn.domain || u.DisplayName != "User bob" || *u.GivenName != "Bob" || *u.Surname != "Stone" ||
		u.Mail != nil || u.MailNickname != "bob" || !u.AccountEnabled || *u.UsageLocation != "DE" || len(u.AssignedLicenses) != 0 ||
		*u.JobTitle != "Engineer" || u.Context != s.url+"/v1.0/$metadata#users/$entity" {
		t.Errorf("created: %+v", u)
	}
	const invalid = "Invalid value specified for property '"
	for _, tc := range []struct {
		name     string
		body     any
		status   int
		code     string
		contains string
	}{
		{"duplicate UPN", newUserBody(tn.upn("BOB")), 400, "Request_BadRequest", msgDuplicateUPN},
		{"unverified domain", newUserBody("carl@unverified-" + tn.cid[:8] + ".com"), 400, "Request_BadRequest", msgUPNDomain},
		{"foreign domain", newUserBody("carl@example.org"), 400, "Request_BadRequest", msgUPNDomain},
		{"bad UPN", newUserBody("carl" + tn.domain), 400, "Request_BadRequest", invalid + "userPrincipalName'"},
		{"UPN with space", newUserBody("c arl@"+tn.domain, withProp("mailNickname", "carl")), 400, "Request_BadRequest", invalid + "userPrincipalName'"},
		{"no accountEnabled", newUserBody(tn.upn("carl"), without("accountEnabled")), 400, "Request_BadRequest", invalid + "accountEnabled'"},
		{"no displayName", newUserBody(tn.upn("carl"), without("displayName")), 400, "Request_BadRequest", invalid + "displayName'"},
		{"no mailNickname", newUserBody(tn.upn("carl"), without("mailNickname")), 400, "Request_BadRequest", invalid + "mailNickname'"},
		{"bad mailNickname", newUserBody(tn.upn("carl"), withProp("mailNickname", "carl lee")), 400, "Request_BadRequest", invalid + "mailNickname'"},
		{"no userPrincipalName", newUserBody(tn.upn("carl"), without("userPrincipalName")), 400, "Request_BadRequest", invalid + "userPrincipalName'"},
		{"no passwordProfile", newUserBody(tn.upn("carl"), without("passwordProfile")), 400, "Request_BadRequest", invalid + "passwordProfile'"},
		{"no password", newUserBody(tn.upn("carl"), withProp("passwordProfile", map[string]any{})), 400, "Request_BadRequest", invalid + "passwordProfile'"},
		{"short password", newUserBody(tn.upn("carl"), withProp("passwordProfile", map[string]any{"password": "Ab1!"})), 400, "Request_BadRequest", msgPasswordComplex},
		{"two classes", newUserBody(tn.upn("carl"), withProp("passwordProfile", map[string]any{"password": "abcdefgh1234"})), 400, "Request_BadRequest", msgPasswordComplex},
		{"contains alias", newUserBody(tn.upn("carl"), withProp("passwordProfile", map[string]any{"password": "Carl#2026xyz"})), 400, "Request_BadRequest", msgPasswordComplex},
		{"bad usageLocation", newUserBody(tn.upn("carl"), withProp("usageLocation", "USA")), 400, "Request_BadRequest", invalid + "usageLocation'"},
		{"accountEnabled not bool", newUserBody(tn.upn("carl"), withProp("accountEnabled", "yes")), 400, "Request_BadRequest", invalid + "accountEnabled'"},
		{"unknown property", newUserBody(tn.upn("carl"), withProp("favouriteColour", "red")), 400, "Request_BadRequest", "Property 'favouriteColour' does not exist as a declared property or extension property."},
		{"read-only property", newUserBody(tn.upn("carl"), withProp("assignedLicenses", []any{})), 400, "Request_BadRequest", "Property 'assignedLicenses' is read-only"},
		{"not JSON", "{", 400, "BadRequest", "Unable to read JSON request payload."},
	} {
		code, hdr, b := tn.g(http.MethodPost, "/v1.0/users", tc.body)
		expectGraphErr(t, tc.name, code, hdr, b, tc.status, tc.code, tc.contains)
	}
	st := s.graphState(tn.p.TenantID)
	if len(st.Users) != 2 || st.Users[1].UserPrincipalName != "bob@"+tn.domain || st.Users[1].UsageLocation != "DE" || st.Users[1].CustomerID != tn.cid {
		t.Errorf("state users: %+v", st.Users)
	}
}

func TestGraphListUsersPagingFilterSelect(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	want := []string{"admin@" + tn.domain}
	for _, n := range []string{"u1", "u2", "u3", "o'neil", "u5"} {
		tn.createUser(tn.upn(n), withProp("mailNickname", strings.ReplaceAll(n, "'", "")))
		want = append(want, n+"@"+tn.domain)
	}
	for _, tc := range []struct {
		path  string
		pages int
		want  []string
	}{
		{"/v1.0/users", 1, want},
		{"/v1.0/users?$top=2", 3, want},
		{"/v1.0/users?$top=4&$select=id,userPrincipalName", 2, want},
		{"/v1.0/users?$top=999", 1, want},
		{"/v1.0/users?$filter=" + url.QueryEscape("userPrincipalName eq 'U2@"+tn.domain+"'"), 1, []string{"u2@" + tn.domain}},
		{"/v1.0/users?$filter=" + url.QueryEscape("userPrincipalName eq 'o''neil@"+tn.domain+"'"), 1, []string{"o'neil@" + tn.domain}},
		{"/v1.0/users?$filter=" + url.QueryEscape("userPrincipalName eq 'nobody@"+tn.domain+"'"), 1, nil},
	} {
		got, pages := tn.userUPNs(tc.path)
		if pages != tc.pages || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %d pages %v, want %d %v", tc.path, pages, got, tc.pages, tc.want)
		}
	}
	// $select returns only the selected properties; the context names them.
	code, _, b := tn.g(http.MethodGet, "/v1.0/users?$top=1&$select=displayName,accountEnabled", nil)
	page := decode[graphListT[map[string]any]](t, b)
	if code != 200 || len(page.Value) != 1 || len(page.Value[0]) != 2 || page.Value[0]["displayName"] == nil || page.Value[0]["accountEnabled"] != true ||
		page.Context != s.url+"/v1.0/$metadata#users(displayName,accountEnabled)" || !strings.Contains(page.NextLink, "$select=displayName%2CaccountEnabled") {
		t.Errorf("$select: %d %s", code, b)
	}
	for _, tc := range []struct {
		query, code, contains string
	}{
		{"$top=0", "Request_BadRequest", "Invalid page size specified: '0'. Must be between 1 and 999 inclusive."},
		{"$top=1000", "Request_BadRequest", "Must be between 1 and 999"},
		{"$select=shoeSize", "Request_BadRequest", "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'."},
		{"$filter=" + url.QueryEscape("displayName eq 'x'"), "Request_UnsupportedQuery", "property 'displayName' of resource 'User'"},
		{"$filter=" + url.QueryEscape("startswith(userPrincipalName,'u')"), "Request_UnsupportedQuery", "property 'startswith'"},
		{"$skiptoken=garbage!", "Request_BadRequest", "$skiptoken"},
	} {
		code, hdr, b := tn.g(http.MethodGet, "/v1.0/users?"+tc.query, nil)
		expectGraphErr(t, tc.query, code, hdr, b, 400, tc.code, tc.contains)
	}
}

func TestGraphUserGetPatchDelete(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	u := tn.createUser(tn.upn("dana"))
	for _, key := range []string{u.ID, strings.ToUpper(u.ID), "dana@" + tn.domain, "DANA@" + strings.ToUpper(tn.domain)} {
		if got := tn.getUser(key); got.ID != u.ID {
			t.Errorf("get by %s: %+v", key, got)
		}
	}
	code, _, b := tn.g(http.MethodGet, "/v1.0/users/"+u.ID+"?$select=id,mail", nil)
	if m := decode[map[string]any](t, b); code != 200 || len(m) != 3 || m["id"] != u.ID || m["mail"] != nil ||
		m["@odata.context"] != s.url+"/v1.0/$metadata#users(id,mail)/$entity" {
		t.Errorf("get with $select: %d %s", code, b)
	}
	// PATCH: 204, visible at once; all-or-nothing.
	code, hdr, b := tn.g(http.MethodPatch, "/v1.0/users/"+u.ID, map[string]any{"displayName": "Dana Scully", "accountEnabled": false, "givenName": "Dana", "jobTitle": "Agent"})
	if code != 204 || len(b) != 0 || hdr.Get("request-id") == "" {
		t.Fatalf("patch: %d %s", code, b)
	}
	if got := tn.getUser(u.ID); got.DisplayName != "Dana Scully" || got.AccountEnabled || *got.GivenName != "Dana" || *got.JobTitle != "Agent" {
		t.Errorf("after patch: %+v", got)
	}
	tn.createUser(tn.upn("erin"))
	for _, tc := range []struct {
		name     string
		body     any
		code     string
		contains string
	}{
		{"rename to a taken UPN", map[string]any{"userPrincipalName": "erin@" + tn.domain, "displayName": "x"}, "Request_BadRequest", msgDuplicateUPN},
		{"rename to a foreign domain", map[string]any{"userPrincipalName": "dana@example.org"}, "Request_BadRequest", msgUPNDomain},
		{"empty displayName", map[string]any{"displayName": ""}, "Request_BadRequest", "property 'displayName'"},
		{"null mailNickname", map[string]any{"mailNickname": nil}, "Request_BadRequest", "property 'mailNickname'"},
		{"unknown property", map[string]any{"hairColour": "red"}, "Request_BadRequest", "does not exist as a declared property"},
	} {
		code, hdr, b := tn.g(http.MethodPatch, "/v1.0/users/"+u.ID, tc.body)
		expectGraphErr(t, tc.name, code, hdr, b, 400, tc.code, tc.contains)
	}
	if got := tn.getUser(u.ID); got.DisplayName != "Dana Scully" {
		t.Errorf("a refused PATCH changed the user: %+v", got)
	}
	if code, _, b := tn.g(http.MethodPatch, "/v1.0/users/dana@"+tn.domain, map[string]any{"userPrincipalName": "dana.s@" + tn.domain}); code != 204 {
		t.Errorf("rename: %d %s", code, b)
	}
	// DELETE: soft delete, gone from lookups and lists; the UPN is free again.
	if code, _, b := tn.g(http.MethodDelete, "/v1.0/users/dana.s@"+tn.domain, nil); code != 204 || len(b) != 0 {
		t.Fatalf("delete: %d %s", code, b)
	}
	code, hdr, b = tn.g(http.MethodGet, "/v1.0/users/"+u.ID, nil)
	expectGraphErr(t, "get deleted", code, hdr, b, 404, "Request_ResourceNotFound", "Resource '"+u.ID+"' does not exist")
	code, hdr, b = tn.g(http.MethodDelete, "/v1.0/users/"+u.ID, nil)
	expectGraphErr(t, "delete twice", code, hdr, b, 404, "Request_ResourceNotFound", u.ID)
	code, hdr, b = tn.g(http.MethodPatch, "/v1.0/users/"+newGUID(), map[string]any{"displayName": "x"})
	expectGraphErr(t, "patch unknown", code, hdr, b, 404, "Request_ResourceNotFound", "does not exist")
	if got, _ := tn.userUPNs("/v1.0/users"); slices.Contains(got, "dana.s@"+tn.domain) || len(got) != 2 {
		t.Errorf("list after delete: %v", got)
	}
	if st := s.graphState(tn.p.TenantID); len(st.Users) != 2 {
		t.Errorf("state after delete: %+v", st.Users)
	}
	tn.createUser(tn.upn("dana.s"))
	// Wrong method on a known path: 405.
	code, hdr, b = tn.g(http.MethodPut, "/v1.0/users", map[string]any{})
	expectGraphErr(t, "PUT users", code, hdr, b, 405, "Request_BadRequest", "method is not allowed")
}

func TestGraphPasswordReset(t *testing.T) {
	s := newCommerceSim(t)
	reset := func(pw string) map[string]any {
		return map[string]any{"passwordProfile": map[string]any{"password": pw, "forceChangePasswordNextSignIn": false}}
	}
	for _, tc := range []struct {
		cloud, country string
		status         int
		code, contains string
	}{
		{"global", "US", 204, "", ""},
		{"china", "CN", 403, "Authorization_RequestDenied", "21Vianet"},
		{"usgov", "US", 403, "Authorization_RequestDenied", "US Government"},
	} {
		tn := newTenant(t, s, tc.cloud, tc.country)
		u := tn.createUser(tn.upn("fay"))
		code, hdr, b := tn.g(http.MethodPatch, "/v1.0/users/"+u.ID, reset("N3w&Secure#Pass"))
		if tc.status == 204 {
			if code != 204 {
				t.Errorf("%s reset: %d %s", tc.cloud, code, b)
			}
			code, hdr, b = tn.g(http.MethodPatch, "/v1.0/users/"+u.ID, reset("password"))
			expectGraphErr(t, tc.cloud+" weak reset", code, hdr, b, 400, "Request_BadRequest", msgPasswordComplex)
			s.srv.graph.mu.Lock()
			got := s.srv.graph.tenants[tn.cid].dir.user(u.ID)
			pw, force := got.Password, got.ForceChange
			s.srv.graph.mu.Unlock()
			if pw != "N3w&Secure#Pass" || force {
				t.Errorf("%s: password not reset: %q %v", tc.cloud, pw, force)
			}
			continue
		}
		expectGraphErr(t, tc.cloud+" reset", code, hdr, b, tc.status, tc.code, tc.contains)
		// Other properties can still be changed there.
		if code, _, b := tn.g(http.MethodPatch, "/v1.0/users/"+u.ID, map[string]any{"displayName": "Fay"}); code != 204 {
			t.Errorf("%s displayName: %d %s", tc.cloud, code, b)
		}
	}
}
