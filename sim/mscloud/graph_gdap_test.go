package mscloud

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// gdapT is a delegatedAdminRelationship as Graph returns it.
type gdapT struct {
	Context  string `json:"@odata.context"`
	Type     string `json:"@odata.type"`
	ETag     string `json:"@odata.etag"`
	ID       string `json:"id"`
	Name     string `json:"displayName"`
	Duration string `json:"duration"`
	Customer struct {
		TenantID    string `json:"tenantId"`
		DisplayName string `json:"displayName"`
	} `json:"customer"`
	AccessDetails struct {
		UnifiedRoles []struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
		} `json:"unifiedRoles"`
	} `json:"accessDetails"`
	Status             string  `json:"status"`
	AutoExtendDuration string  `json:"autoExtendDuration"`
	Created            string  `json:"createdDateTime"`
	Modified           string  `json:"lastModifiedDateTime"`
	Activated          *string `json:"activatedDateTime"`
	End                *string `json:"endDateTime"`
}

// partnerGraphToken is an app-only Graph token of the partner's own tenant.
func (s *testSim) partnerGraphToken(p creds) string {
	s.t.Helper()
	return s.token(p, cloudProfiles[p.Cloud].GraphAudience+"/.default")
}

// delegatedToken redeems the partner's refresh token at tenant (the
// partner's or a customer's) for an app+user token of audience, keeping
// the rotated refresh token in p.
func (s *testSim) delegatedToken(p *creds, tenant, audience string) string {
	s.t.Helper()
	st, body := s.tokenForm(tenant, url.Values{"grant_type": {"refresh_token"}, "client_id": {p.ClientID},
		"refresh_token": {p.RefreshToken}, "scope": {audience + "/.default"}})
	if st != http.StatusOK {
		s.t.Fatalf("refresh-token grant at %s: %d %v", tenant, st, body)
	}
	p.RefreshToken = body["refresh_token"].(string)
	return body["access_token"].(string)
}

func gdapBody(name, customerID string, roles ...string) map[string]any {
	list := []any{}
	for _, id := range roles {
		list = append(list, map[string]any{"roleDefinitionId": id})
	}
	return map[string]any{
		"displayName": name, "duration": "P730D", "customer": map[string]any{"tenantId": customerID},
		"accessDetails": map[string]any{"unifiedRoles": list},
	}
}

var gdapSeq atomic.Int64

// createGDAP creates a relationship with the partner-tenant Graph token tok.
func (s *testSim) createGDAP(tok string, body map[string]any) gdapT {
	s.t.Helper()
	st, _, b := s.do(http.MethodPost, gdapPath, tok, body, nil)
	if st != http.StatusCreated {
		s.t.Fatalf("create relationship: %d %s", st, b)
	}
	return decode[gdapT](s.t, b)
}

// gdapAction posts a relationship request (lockForApproval, terminate).
func (s *testSim) gdapAction(tok, id, action string) (int, []byte) {
	s.t.Helper()
	st, _, b := s.do(http.MethodPost, gdapPath+"/"+id+"/requests", tok, map[string]any{"action": action}, nil)
	return st, b
}

func (s *testSim) approveGDAP(id string) gdapT {
	s.t.Helper()
	st, b := s.admin(http.MethodPost, "/_sim/gdap/"+id+"/approve", nil)
	if st != http.StatusOK {
		s.t.Fatalf("approve %s: %d %s", id, st, b)
	}
	return decode[gdapT](s.t, b)
}

func (s *testSim) getGDAP(tok, id string) gdapT {
	s.t.Helper()
	st, _, b := s.do(http.MethodGet, gdapPath+"/"+id, tok, nil, nil)
	if st != http.StatusOK {
		s.t.Fatalf("get relationship %s: %d %s", id, st, b)
	}
	return decode[gdapT](s.t, b)
}

// activeGDAP gives the partner an approved (active) relationship with the
// customer holding roles (Directory Readers when none are given).
func (s *testSim) activeGDAP(p creds, customerID string, roles ...string) gdapT {
	s.t.Helper()
	if len(roles) == 0 {
		roles = []string{roleDirectoryReaders}
	}
	tok := s.partnerGraphToken(p)
	g := s.createGDAP(tok, gdapBody("Relationship "+strconv.FormatInt(gdapSeq.Add(1), 10), customerID, roles...))
	if st, b := s.gdapAction(tok, g.ID, "lockForApproval"); st != http.StatusCreated {
		s.t.Fatalf("lockForApproval: %d %s", st, b)
	}
	return s.approveGDAP(g.ID)
}

var gdapIDRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestGDAPCreate(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	tok := s.partnerGraphToken(tn.p)
	st, hdr, b := s.do(http.MethodPost, gdapPath, tok, gdapBody("Contoso admin", tn.cid, roleUserAdministrator, roleUserAdministrator, "4D6AC14F-3453-41D0-BEF9-A3E0C569773A"), nil)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, b)
	}
	g := decode[gdapT](t, b)
	roles := []string{}
	for _, r := range g.AccessDetails.UnifiedRoles {
		roles = append(roles, r.RoleDefinitionID)
	}
	if !gdapIDRe.MatchString(g.ID) || g.Type != "#microsoft.graph.delegatedAdminRelationship" || !strings.HasPrefix(g.ETag, `W/"`) ||
		g.Name != "Contoso admin" || g.Duration != "P730D" || g.Customer.TenantID != tn.cid || g.Customer.DisplayName != "Contoso US" ||
		!slices.Equal(roles, []string{roleUserAdministrator, roleLicenseAdministrator}) || g.Status != "created" ||
		g.AutoExtendDuration != "PT0S" || g.Created == "" || g.Modified != g.Created || g.Activated != nil || g.End != nil ||
		hdr.Get("Location") != s.url+gdapPath+"/"+g.ID || g.Context != s.url+"/v1.0/$metadata#tenantRelationships/delegatedAdminRelationships/$entity" {
		t.Errorf("created: %s (Location %q)", b, hdr.Get("Location"))
	}
	if !strings.Contains(string(b), `"activatedDateTime":null`) || !strings.Contains(string(b), `"endDateTime":null`) {
		t.Errorf("activatedDateTime and endDateTime must be null: %s", b)
	}

	// A delegated (app+user) token of the partner tenant works too, and
	// P2Y is read as 730 days; the customer's display name is kept.
	p := tn.p
	del := s.delegatedToken(&p, p.TenantID, "https://graph.microsoft.com")
	body := gdapBody("Second", tn.cid, roleGlobalAdministrator)
	body["duration"], body["customer"] = "P2Y", map[string]any{"tenantId": strings.ToUpper(tn.cid), "displayName": "Contoso Ltd"}
	if g2 := s.createGDAP(del, body); g2.Duration != "P730D" || g2.Customer.DisplayName != "Contoso Ltd" || g2.Customer.TenantID != tn.cid {
		t.Errorf("second: %+v", g2)
	}

	other := s.partner("global", false, "US")
	long := strings.Repeat("n", 51)
	for _, tc := range []struct {
		name string
		mod  func(m map[string]any)
		msg  string
	}{
		{"no displayName", without("displayName"), "'displayName'"},
		{"empty displayName", withProp("displayName", " "), "'displayName'"},
		{"displayName too long", withProp("displayName", long), "'displayName'"},
		{"duplicate displayName", withProp("displayName", "contoso ADMIN"), "already exists"},
		{"duration over P730D", withProp("duration", "P731D"), "'duration'"},
		{"duration P0D", withProp("duration", "P0D"), "'duration'"},
		{"duration in hours", withProp("duration", "PT24H"), "'duration'"},
		{"duration not a string", withProp("duration", 730), "'duration'"},
		{"no duration", without("duration"), "'duration'"},
		{"no customer", without("customer"), "'customer'"},
		{"customer without tenantId", withProp("customer", map[string]any{"displayName": "x"}), "'customer'"},
		{"unknown customer", withProp("customer", map[string]any{"tenantId": newGUID()}), "reseller relationship"},
		{"another partner's customer", withProp("customer", map[string]any{"tenantId": other.TenantID}), "reseller relationship"},
		{"no roles", withProp("accessDetails", map[string]any{"unifiedRoles": []any{}}), "At least one role"},
		{"no accessDetails", without("accessDetails"), "'accessDetails'"},
		{"unknown role", withProp("accessDetails", map[string]any{"unifiedRoles": []any{map[string]any{"roleDefinitionId": newGUID()}}}), "not supported"},
		{"bad autoExtendDuration", withProp("autoExtendDuration", "P90D"), "'autoExtendDuration'"},
		{"read-only status", withProp("status", "active"), "read-only"},
		{"unknown property", withProp("colour", "red"), "does not exist"},
	} {
		body := gdapBody("Case "+tc.name, tn.cid, roleUserAdministrator)
		tc.mod(body)
		code, hdr, raw := s.do(http.MethodPost, gdapPath, tok, body, nil)
		expectGraphErr(t, tc.name, code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", tc.msg)
	}
	// P180D is refused with the Global Administrator role, accepted without.
	ga := gdapBody("GA extend", tn.cid, roleGlobalAdministrator, roleUserAdministrator)
	ga["autoExtendDuration"] = "P180D"
	code, hdr, raw := s.do(http.MethodPost, gdapPath, tok, ga, nil)
	expectGraphErr(t, "P180D with GA", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "Global Administrator")
	ga["accessDetails"] = map[string]any{"unifiedRoles": []any{map[string]any{"roleDefinitionId": roleUserAdministrator}}}
	if g := s.createGDAP(tok, ga); g.AutoExtendDuration != "P180D" {
		t.Errorf("P180D without GA: %+v", g)
	}
	if code, hdr, raw := s.do(http.MethodPost, gdapPath, tok, "not json", nil); code != 400 {
		expectGraphErr(t, "not JSON", code, hdr, raw, 400, "BadRequest", "")
	}

	// Tokens: a customer tenant's token is refused, a Partner Center token too.
	code, hdr, raw = s.do(http.MethodPost, gdapPath, tn.gtok, gdapBody("From customer", tn.cid, roleUserAdministrator), nil)
	expectGraphErr(t, "customer-tenant token", code, hdr, raw, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges")
	code, hdr, raw = s.do(http.MethodGet, gdapPath, tn.gtok, nil, nil)
	expectGraphErr(t, "customer-tenant token list", code, hdr, raw, http.StatusForbidden, "Authorization_RequestDenied", "")
	code, hdr, raw = s.do(http.MethodGet, gdapPath, tn.tok, nil, nil)
	expectGraphErr(t, "Partner Center token", code, hdr, raw, http.StatusUnauthorized, "InvalidAuthenticationToken", "")
}

func TestGDAPListAndGet(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	second := sh.newCustomer("US", false)
	tok := s.partnerGraphToken(sh.p)
	a := s.createGDAP(tok, gdapBody("A", sh.cid, roleUserAdministrator))
	b := s.createGDAP(tok, gdapBody("B", second, roleDirectoryReaders))
	c := s.createGDAP(tok, gdapBody("C", sh.cid, roleDomainNameAdministrator))

	other := newShop(t, s, "global", false, "US", false)
	otherTok := s.partnerGraphToken(other.p)
	foreign := s.createGDAP(otherTok, gdapBody("A", other.cid, roleUserAdministrator)) // display names are per partner

	list := func(query string) []string {
		t.Helper()
		st, _, raw := s.do(http.MethodGet, gdapPath+query, tok, nil, nil)
		if st != 200 {
			t.Fatalf("list %s: %d %s", query, st, raw)
		}
		l := decode[graphListT[gdapT]](t, raw)
		if l.Context != s.url+"/v1.0/$metadata#tenantRelationships/delegatedAdminRelationships" {
			t.Errorf("context %q", l.Context)
		}
		var ids []string
		for _, g := range l.Value {
			ids = append(ids, g.ID)
		}
		return ids
	}
	if got := list(""); !slices.Equal(got, []string{a.ID, b.ID, c.ID}) {
		t.Errorf("all: %v", got)
	}
	q := "?$filter=" + url.QueryEscape("customer/tenantId eq '"+sh.cid+"'")
	if got := list(q); !slices.Equal(got, []string{a.ID, c.ID}) {
		t.Errorf("filtered: %v", got)
	}
	if got := list("?$filter=" + url.QueryEscape("customer/tenantId eq '"+newGUID()+"'")); len(got) != 0 {
		t.Errorf("unknown customer: %v", got)
	}
	code, hdr, raw := s.do(http.MethodGet, gdapPath+"?$filter="+url.QueryEscape("status eq 'active'"), tok, nil, nil)
	expectGraphErr(t, "other filter", code, hdr, raw, http.StatusBadRequest, "Request_UnsupportedQuery", "")

	if g := s.getGDAP(tok, c.ID); g.ID != c.ID || g.Name != "C" || g.ETag != c.ETag {
		t.Errorf("get: %+v", g)
	}
	for name, id := range map[string]string{"unknown": newGUID() + "-" + newGUID(), "another partner's": foreign.ID} {
		code, hdr, raw := s.do(http.MethodGet, gdapPath+"/"+id, tok, nil, nil)
		expectGraphErr(t, name, code, hdr, raw, http.StatusNotFound, "Request_ResourceNotFound", id)
	}
}

func TestGDAPPatchAndDelete(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	second := sh.newCustomer("US", false)
	tok := s.partnerGraphToken(sh.p)
	g := s.createGDAP(tok, gdapBody("Patch me", sh.cid, roleUserAdministrator))
	s.createGDAP(tok, gdapBody("Taken", sh.cid, roleUserAdministrator))
	patch := func(id, etag string, body any) (int, http.Header, []byte) {
		t.Helper()
		hdr := map[string]string{}
		if etag != "" {
			hdr["If-Match"] = etag
		}
		return s.do(http.MethodPatch, gdapPath+"/"+id, tok, body, hdr)
	}

	code, hdr, raw := patch(g.ID, "", map[string]any{"displayName": "x"})
	expectGraphErr(t, "no If-Match", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "If-Match")
	code, hdr, raw = patch(g.ID, `W/"stale"`, map[string]any{"displayName": "x"})
	expectGraphErr(t, "stale If-Match", code, hdr, raw, http.StatusPreconditionFailed, "resourceModified", "")

	// While created everything may change.
	code, _, raw = patch(g.ID, g.ETag, map[string]any{"displayName": "Renamed", "duration": "P100D", "customer": map[string]any{"tenantId": second},
		"accessDetails": map[string]any{"unifiedRoles": []any{map[string]any{"roleDefinitionId": roleHelpdeskAdministrator}}}, "autoExtendDuration": "P180D"})
	p := decode[gdapT](t, raw)
	if code != 200 || p.Name != "Renamed" || p.Duration != "P100D" || p.Customer.TenantID != second || len(p.AccessDetails.UnifiedRoles) != 1 ||
		p.AccessDetails.UnifiedRoles[0].RoleDefinitionID != roleHelpdeskAdministrator || p.AutoExtendDuration != "P180D" || p.ETag == g.ETag || p.Status != "created" {
		t.Fatalf("patch while created: %d %s", code, raw)
	}
	code, hdr, raw = patch(g.ID, g.ETag, map[string]any{"displayName": "Again"})
	expectGraphErr(t, "old etag after a change", code, hdr, raw, http.StatusPreconditionFailed, "resourceModified", "")
	code, hdr, raw = patch(g.ID, p.ETag, map[string]any{"displayName": "taken"})
	expectGraphErr(t, "duplicate name", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "already exists")
	code, hdr, raw = patch(g.ID, p.ETag, map[string]any{"accessDetails": map[string]any{"unifiedRoles": []any{map[string]any{"roleDefinitionId": roleGlobalAdministrator}}}})
	expectGraphErr(t, "GA with P180D", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "Global Administrator")

	// Locked for approval: nothing may change.
	if st, b := s.gdapAction(tok, g.ID, "lockForApproval"); st != http.StatusCreated {
		t.Fatalf("lock: %d %s", st, b)
	}
	cur := s.getGDAP(tok, g.ID)
	code, hdr, raw = patch(g.ID, cur.ETag, map[string]any{"autoExtendDuration": "PT0S"})
	expectGraphErr(t, "patch while approvalPending", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "approvalPending")
	code, hdr, raw = s.do(http.MethodDelete, gdapPath+"/"+g.ID, tok, nil, nil)
	expectGraphErr(t, "delete while approvalPending", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "approvalPending")

	// Active: only autoExtendDuration.
	cur = s.approveGDAP(g.ID)
	code, hdr, raw = patch(g.ID, "*", map[string]any{"displayName": "Active rename"})
	expectGraphErr(t, "rename while active", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "Only autoExtendDuration")
	code, _, raw = patch(g.ID, cur.ETag, map[string]any{"@odata.type": "#microsoft.graph.delegatedAdminRelationship", "AutoExtendDuration": "pt0s"})
	if p := decode[gdapT](t, raw); code != 200 || p.AutoExtendDuration != "PT0S" || p.Status != "active" || p.Name != "Renamed" {
		t.Errorf("autoExtendDuration while active: %d %s", code, raw)
	}
	code, hdr, raw = s.do(http.MethodDelete, gdapPath+"/"+g.ID, tok, nil, nil)
	expectGraphErr(t, "delete while active", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "Terminate")

	// Delete while created: 204 (a stale If-Match is refused first), then 404.
	d := s.createGDAP(tok, gdapBody("Delete me", sh.cid, roleUserAdministrator))
	code, hdr, raw = s.do(http.MethodDelete, gdapPath+"/"+d.ID, tok, nil, map[string]string{"If-Match": `W/"old"`})
	expectGraphErr(t, "delete with a stale etag", code, hdr, raw, http.StatusPreconditionFailed, "resourceModified", "")
	if code, _, raw := s.do(http.MethodDelete, gdapPath+"/"+d.ID, tok, nil, map[string]string{"If-Match": d.ETag}); code != http.StatusNoContent || len(raw) != 0 {
		t.Errorf("delete: %d %s", code, raw)
	}
	if code, _, _ := s.do(http.MethodGet, gdapPath+"/"+d.ID, tok, nil, nil); code != http.StatusNotFound {
		t.Errorf("deleted relationship: %d", code)
	}
	// The deleted relationship's name is free again.
	s.createGDAP(tok, gdapBody("Delete me", sh.cid, roleUserAdministrator))
}

func TestGDAPRequestsAndApproval(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := newSim(t, Options{ClockStart: start, PartnerRPS: -1, CustomerRPS: -1})
	sh := newShop(t, s, "global", false, "US", true)
	tok := s.partnerGraphToken(sh.p)
	g := s.createGDAP(tok, gdapBody("Lifecycle", sh.cid, roleUserAdministrator))

	if st, _ := s.admin(http.MethodPost, "/_sim/gdap/"+g.ID+"/approve", nil); st != http.StatusConflict {
		t.Errorf("approve while created: %d", st)
	}
	if st, _ := s.admin(http.MethodPost, "/_sim/gdap/"+newGUID()+"/approve", nil); st != http.StatusNotFound {
		t.Errorf("approve unknown: %d", st)
	}
	for _, bad := range []map[string]any{{"action": "approve"}, {}, {"action": "terminate"}} {
		code, hdr, raw := s.do(http.MethodPost, gdapPath+"/"+g.ID+"/requests", tok, bad, nil)
		expectGraphErr(t, "request "+string(jsonOf(t, bad)), code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "")
	}
	st, hdr, raw := s.do(http.MethodPost, gdapPath+"/"+g.ID+"/requests", tok, map[string]any{"action": "lockForApproval"}, nil)
	req := decode[map[string]any](t, raw)
	if st != http.StatusCreated || req["@odata.type"] != "#microsoft.graph.delegatedAdminRelationshipRequest" || req["action"] != "lockForApproval" ||
		req["status"] != "succeeded" || req["createdDateTime"] == nil || req["lastModifiedDateTime"] == nil ||
		hdr.Get("Location") != s.url+gdapPath+"/"+g.ID+"/requests/"+req["id"].(string) {
		t.Fatalf("lockForApproval: %d %s", st, raw)
	}
	if st, b := s.gdapAction(tok, g.ID, "lockForApproval"); st != http.StatusBadRequest {
		t.Errorf("second lockForApproval: %d %s", st, b)
	}
	if g := s.getGDAP(tok, g.ID); g.Status != "approvalPending" || g.Activated != nil {
		t.Errorf("after lock: %+v", g)
	}
	if st, _, b := s.do(http.MethodGet, gdapPath+"/"+g.ID+"/requests/"+req["id"].(string), tok, nil, nil); st != 200 || decode[map[string]any](t, b)["action"] != "lockForApproval" {
		t.Errorf("get request: %d %s", st, b)
	}

	s.advance("24h")
	a := s.approveGDAP(g.ID)
	act, _ := time.Parse(time.RFC3339, *a.Activated)
	end, _ := time.Parse(time.RFC3339, *a.End)
	if a.Status != "active" || act.Sub(start) < 24*time.Hour || act.Sub(start) > 24*time.Hour+time.Minute || end.Sub(act) != 730*24*time.Hour {
		t.Errorf("approved: %+v", a)
	}
	if st, _ := s.admin(http.MethodPost, "/_sim/gdap/"+g.ID+"/approve", nil); st != http.StatusConflict {
		t.Errorf("approve twice: %d", st)
	}
	if st, b := s.gdapAction(tok, g.ID, "TERMINATE"); st != http.StatusCreated || decode[map[string]any](t, b)["action"] != "terminate" {
		t.Fatalf("terminate: %d %s", st, b)
	}
	if g := s.getGDAP(tok, g.ID); g.Status != "terminated" || g.End == nil || *g.End == *a.End {
		t.Errorf("terminated: %+v", g)
	}
	if st, _ := s.gdapAction(tok, g.ID, "terminate"); st != http.StatusBadRequest {
		t.Errorf("terminate twice: %d", st)
	}
	st, _, raw = s.do(http.MethodGet, gdapPath+"/"+g.ID+"/requests", tok, nil, nil)
	if l := decode[graphListT[map[string]any]](t, raw); st != 200 || len(l.Value) != 2 || l.Value[1]["action"] != "terminate" {
		t.Errorf("requests: %d %s", st, raw)
	}

	// GET /_sim/state lists the relationships; GET /_sim/ the approve call.
	_, b := s.admin(http.MethodGet, "/_sim/state?partner="+sh.p.TenantID, nil)
	state := decode[struct {
		Partners []struct {
			GDAP []struct {
				ID               string   `json:"id"`
				CustomerTenantID string   `json:"customer_tenant_id"`
				Status           string   `json:"status"`
				Roles            []string `json:"roles"`
				EndDateTime      *string  `json:"end_date_time"`
			} `json:"gdap"`
		} `json:"partners"`
	}](t, b)
	if gs := state.Partners[0].GDAP; len(gs) != 1 || gs[0].ID != g.ID || gs[0].CustomerTenantID != sh.cid || gs[0].Status != "terminated" ||
		!slices.Equal(gs[0].Roles, []string{roleUserAdministrator}) || gs[0].EndDateTime == nil {
		t.Errorf("state: %s", b)
	}
	if _, b := s.admin(http.MethodGet, "/_sim/", nil); !strings.Contains(string(b), "POST /_sim/gdap/{relationshipId}/approve") {
		t.Errorf("describe does not list the approve call: %s", b)
	}
}

func TestGDAPTime(t *testing.T) {
	s := newSim(t, Options{PartnerRPS: -1, CustomerRPS: -1})
	sh := newShop(t, s, "global", false, "US", true)
	tok := s.partnerGraphToken(sh.p)
	locked := func(name, extend string, days int, roles ...string) gdapT {
		t.Helper()
		b := gdapBody(name, sh.cid, roles...)
		b["autoExtendDuration"], b["duration"] = extend, "P"+strconv.Itoa(days)+"D"
		g := s.createGDAP(tok, b)
		if st, raw := s.gdapAction(tok, g.ID, "lockForApproval"); st != http.StatusCreated {
			t.Fatalf("lock %s: %d %s", name, st, raw)
		}
		return g
	}
	unapproved := locked("Never approved", "PT0S", 730, roleUserAdministrator)
	fixed := locked("Fixed", "PT0S", 730, roleGlobalAdministrator)
	extended := locked("Extended", "P180D", 730, roleUserAdministrator)
	short := locked("Short", "P0D", 10, roleUserAdministrator)
	fixedEnd, _ := time.Parse(time.RFC3339, *s.approveGDAP(fixed.ID).End)
	extEnd, _ := time.Parse(time.RFC3339, *s.approveGDAP(extended.ID).End)
	if g := s.approveGDAP(short.ID); g.Status != "expiring" {
		t.Errorf("a 10-day relationship is expiring from the start: %+v", g)
	}
	status := func(id string) string { return s.getGDAP(tok, id).Status }

	s.advance("2136h") // 89 days
	if st := status(unapproved.ID); st != "approvalPending" {
		t.Errorf("after 89 days: %s", st)
	}
	s.advance("48h") // 91 days
	g := s.getGDAP(tok, unapproved.ID)
	if g.Status != "expired" || g.Activated != nil {
		t.Errorf("after 91 days without approval: %+v", g)
	}
	if st, _ := s.admin(http.MethodPost, "/_sim/gdap/"+unapproved.ID+"/approve", nil); st != http.StatusConflict {
		t.Errorf("approve expired: %d", st)
	}
	if st := status(short.ID); st != "expired" {
		t.Errorf("10-day relationship after 91 days: %s", st)
	}

	s.advance("14616h") // 700 days in all: 30 days before the end
	s.advance("1h")
	if st := status(fixed.ID); st != "expiring" {
		t.Errorf("30 days before the end without auto-extension: %s", st)
	}
	if st := status(extended.ID); st != "active" {
		t.Errorf("30 days before the end with P180D: %s", st)
	}
	// Auto-extension can be switched on while expiring (not with GA);
	// switched on for a relationship without GA it makes it active again.
	cur := s.getGDAP(tok, fixed.ID)
	code, hdr, raw := s.do(http.MethodPatch, gdapPath+"/"+fixed.ID, tok, map[string]any{"autoExtendDuration": "P180D"}, map[string]string{"If-Match": cur.ETag})
	expectGraphErr(t, "P180D with GA while expiring", code, hdr, raw, http.StatusBadRequest, "Request_BadRequest", "Global Administrator")

	s.advance("720h") // 731 days in all
	g = s.getGDAP(tok, fixed.ID)
	if end, _ := time.Parse(time.RFC3339, *g.End); g.Status != "expired" || !end.Equal(fixedEnd) {
		t.Errorf("past the end without auto-extension: %+v", g)
	}
	g = s.getGDAP(tok, extended.ID)
	if end, _ := time.Parse(time.RFC3339, *g.End); g.Status != "active" || !end.Equal(extEnd.Add(180*24*time.Hour)) {
		t.Errorf("past the end with P180D: %+v (end was %s)", g, extEnd)
	}
	// Turning auto-extension off makes it expire at the new end.
	code, _, raw = s.do(http.MethodPatch, gdapPath+"/"+extended.ID, tok, map[string]any{"autoExtendDuration": "PT0S"}, map[string]string{"If-Match": g.ETag})
	if code != 200 || decode[gdapT](t, raw).Status != "active" {
		t.Fatalf("switch auto-extension off: %d %s", code, raw)
	}
	s.advance("4320h") // 180 days
	if st := status(extended.ID); st != "expired" {
		t.Errorf("after the extension without further auto-extension: %s", st)
	}
	if gdapApprovalWindow != 90*24*time.Hour || gdapExpiringWindow != 30*24*time.Hour {
		t.Errorf("windows: %v %v", gdapApprovalWindow, gdapExpiringWindow)
	}
}
