package mscloud

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

type graphDomainT struct {
	Context            string   `json:"@odata.context"`
	ID                 string   `json:"id"`
	AuthenticationType string   `json:"authenticationType"`
	AvailabilityStatus *string  `json:"availabilityStatus"`
	IsAdminManaged     bool     `json:"isAdminManaged"`
	IsDefault          bool     `json:"isDefault"`
	IsInitial          bool     `json:"isInitial"`
	IsRoot             bool     `json:"isRoot"`
	IsVerified         bool     `json:"isVerified"`
	SupportedServices  []string `json:"supportedServices"`
}

type dnsRecordT struct {
	Type             string `json:"@odata.type"`
	ID               string `json:"id"`
	IsOptional       bool   `json:"isOptional"`
	Label            string `json:"label"`
	RecordType       string `json:"recordType"`
	SupportedService string `json:"supportedService"`
	TTL              int    `json:"ttl"`
	Text             string `json:"text"`
	MailExchange     string `json:"mailExchange"`
	Preference       *int   `json:"preference"`
}

func (tn *tenant) addDomain(name string) graphDomainT {
	tn.s.t.Helper()
	code, _, b := tn.g(http.MethodPost, "/v1.0/domains", map[string]any{"id": name})
	if code != http.StatusCreated {
		tn.s.t.Fatalf("add domain %s: %d %s", name, code, b)
	}
	return decode[graphDomainT](tn.s.t, b)
}

func (tn *tenant) domainGet(name string) graphDomainT {
	tn.s.t.Helper()
	code, _, b := tn.g(http.MethodGet, "/v1.0/domains/"+name, nil)
	if code != http.StatusOK {
		tn.s.t.Fatalf("get domain %s: %d %s", name, code, b)
	}
	return decode[graphDomainT](tn.s.t, b)
}

func (tn *tenant) txtOf(name string) string {
	tn.s.t.Helper()
	code, _, b := tn.g(http.MethodGet, "/v1.0/domains/"+name+"/verificationDnsRecords", nil)
	if code != http.StatusOK {
		tn.s.t.Fatalf("records of %s: %d %s", name, code, b)
	}
	return decode[graphListT[dnsRecordT]](tn.s.t, b).Value[0].Text
}

func (s *testSim) publish(domain, txt string) {
	s.t.Helper()
	if st, b := s.admin(http.MethodPost, "/_sim/dns", map[string]any{"domain": domain, "txt": txt}); st != http.StatusOK {
		s.t.Fatalf("publish: %d %s", st, b)
	}
}

func TestGraphDomainLifecycle(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	root := "contoso-" + tn.cid[:8] + ".com"

	// The initial domain is there from the start.
	code, _, b := tn.g(http.MethodGet, "/v1.0/domains", nil)
	list := decode[graphListT[graphDomainT]](t, b)
	if code != 200 || len(list.Value) != 1 || list.Value[0].ID != tn.domain || !list.Value[0].IsInitial || !list.Value[0].IsVerified ||
		!list.Value[0].IsDefault || !list.Value[0].IsRoot || list.Context != s.url+"/v1.0/$metadata#domains" {
		t.Fatalf("initial domains: %d %s", code, b)
	}

	d := tn.addDomain(strings.ToUpper(root))
	if d.ID != root || d.AuthenticationType != "Managed" || d.AvailabilityStatus != nil || !d.IsAdminManaged || d.IsDefault || d.IsInitial ||
		!d.IsRoot || d.IsVerified || d.SupportedServices == nil || len(d.SupportedServices) != 0 || d.Context != s.url+"/v1.0/$metadata#domains/$entity" {
		t.Errorf("added: %+v", d)
	}
	// A subdomain added before the root is verified waits for it.
	sub := tn.addDomain("mail." + root)
	if sub.IsRoot || sub.IsVerified {
		t.Errorf("subdomain: %+v", sub)
	}

	code, _, b = tn.g(http.MethodGet, "/v1.0/domains/"+root+"/verificationDnsRecords", nil)
	recs := decode[graphListT[dnsRecordT]](t, b)
	if code != 200 || len(recs.Value) != 2 {
		t.Fatalf("records: %d %s", code, b)
	}
	txt, mx := recs.Value[0], recs.Value[1]
	if txt.Type != "#microsoft.graph.domainDnsTxtRecord" || txt.RecordType != "Txt" || txt.Label != root || txt.TTL != 3600 || txt.IsOptional ||
		txt.SupportedService != "Email" || !regexp.MustCompile(`^MS=ms\d{8}$`).MatchString(txt.Text) || txt.ID == "" {
		t.Errorf("TXT: %+v", txt)
	}
	if mx.Type != "#microsoft.graph.domainDnsMxRecord" || mx.RecordType != "Mx" || mx.Label != root || mx.Preference == nil || *mx.Preference != 0 ||
		mx.MailExchange != strings.ReplaceAll(root, ".", "-")+".mail.protection.outlook.com" || mx.ID == txt.ID {
		t.Errorf("MX: %+v", mx)
	}
	if again := tn.txtOf(root); again != txt.Text {
		t.Errorf("TXT text changed between reads: %s / %s", again, txt.Text)
	}

	// No user on an unverified domain.
	code, hdr, b := tn.g(http.MethodPost, "/v1.0/users", newUserBody("ann@"+root))
	expectGraphErr(t, "user on unverified domain", code, hdr, b, 400, "Request_BadRequest", msgUPNDomain)

	// Verify: not published, wrong text, subdomain first, then published.
	code, hdr, b = tn.g(http.MethodPost, "/v1.0/domains/"+root+"/verify", nil)
	expectGraphErr(t, "verify unpublished", code, hdr, b, 400, "Request_BadRequest", "Domain verification failed.")
	s.publish(root, "MS=ms00000000")
	code, hdr, b = tn.g(http.MethodPost, "/v1.0/domains/"+root+"/verify", nil)
	expectGraphErr(t, "verify wrong text", code, hdr, b, 400, "Request_BadRequest", "Domain verification failed.")
	code, hdr, b = tn.g(http.MethodPost, "/v1.0/domains/mail."+root+"/verify", nil)
	expectGraphErr(t, "verify subdomain", code, hdr, b, 400, "Request_BadRequest", "verify the root domain")
	s.publish(root, txt.Text)
	code, _, b = tn.g(http.MethodPost, "/v1.0/domains/"+root+"/verify", nil)
	if v := decode[graphDomainT](t, b); code != 200 || !v.IsVerified || v.ID != root {
		t.Fatalf("verify: %d %s", code, b)
	}
	if code, _, b := tn.g(http.MethodPost, "/v1.0/domains/"+root+"/verify", nil); code != 200 || !decode[graphDomainT](t, b).IsVerified {
		t.Errorf("verify again: %d %s", code, b)
	}
	if got := tn.domainGet("mail." + root); !got.IsVerified || got.IsRoot {
		t.Errorf("subdomain after the root's verification: %+v", got)
	}
	// A subdomain added after the root's verification is verified at once.
	if late := tn.addDomain("eu." + root); !late.IsVerified || late.IsRoot {
		t.Errorf("late subdomain: %+v", late)
	}
	user := tn.createUser("ann@" + root)

	// Tokens may name the verified custom domain.
	if tok := s.graphToken(tn.p, root); tok == "" {
		t.Error("no token by custom domain")
	}

	// Add errors.
	other := newTenant(t, s, "global", "US")
	for _, tc := range []struct {
		name string
		tn   *tenant
		body any
		msg  string
	}{
		{"same tenant again", tn, map[string]any{"id": root}, "Another object with the same value for property id already exists."},
		{"other tenant has it", other, map[string]any{"id": root}, "already in use by another tenant"},
		{"other tenant, subdomain of a verified domain", other, map[string]any{"id": "x." + root}, "already in use by another tenant"},
		{"other tenant's initial domain", other, map[string]any{"id": tn.domain}, "reserved for initial domains"},
		{"initial-domain suffix", tn, map[string]any{"id": "mine.onmicrosoft.com"}, "reserved for initial domains"},
		{"not a DNS name", tn, map[string]any{"id": "not a domain"}, "Invalid value specified for property 'id' of resource 'Domain'."},
		{"single label", tn, map[string]any{"id": "localhost"}, "property 'id'"},
		{"no id", tn, map[string]any{}, "property 'id'"},
		{"other property", tn, map[string]any{"id": "x-" + root, "isDefault": true}, "only id can"},
	} {
		code, hdr, b := tc.tn.g(http.MethodPost, "/v1.0/domains", tc.body)
		expectGraphErr(t, tc.name, code, hdr, b, 400, "Request_BadRequest", tc.msg)
	}
	// The other tenant may add a domain nobody has.
	other.addDomain("fabrikam-" + tn.cid[:8] + ".net")

	// Delete rules.
	for _, tc := range []struct {
		name, domain string
		status       int
		code, msg    string
	}{
		{"initial", tn.domain, 400, "Request_BadRequest", "initial domain"},
		{"used by a user", root, 400, "Request_BadRequest", "1 user(s) still use it"},
		{"unknown", "nope-" + root, 404, "Request_ResourceNotFound", "does not exist"},
	} {
		code, hdr, b := tn.g(http.MethodDelete, "/v1.0/domains/"+tc.domain, nil)
		expectGraphErr(t, "delete "+tc.name, code, hdr, b, tc.status, tc.code, tc.msg)
	}
	if code, _, b := tn.g(http.MethodDelete, "/v1.0/users/"+user.ID, nil); code != 204 {
		t.Fatalf("delete user: %d %s", code, b)
	}
	code, hdr, b = tn.g(http.MethodDelete, "/v1.0/domains/"+root, nil)
	expectGraphErr(t, "delete root with subdomains", code, hdr, b, 400, "Request_BadRequest", "subdomains")
	for _, dn := range []string{"mail." + root, "eu." + root, root} {
		if code, _, b := tn.g(http.MethodDelete, "/v1.0/domains/"+dn, nil); code != 204 {
			t.Errorf("delete %s: %d %s", dn, code, b)
		}
	}
	code, hdr, b = tn.g(http.MethodGet, "/v1.0/domains/"+root, nil)
	expectGraphErr(t, "get deleted", code, hdr, b, 404, "Request_ResourceNotFound", root)

	// State lists the domains per customer.
	st := s.graphState(tn.p.TenantID)
	var mine []string
	for _, dm := range st.Domains {
		if dm.CustomerID == tn.cid {
			mine = append(mine, dm.ID)
			if !dm.IsInitial || !dm.IsVerified {
				t.Errorf("state domain: %+v", dm)
			}
		}
	}
	if len(mine) != 1 || mine[0] != tn.domain {
		t.Errorf("state domains: %+v", st.Domains)
	}
}

// TestGraphDomainChinaRecords: 21Vianet domains get the partner.outlook.cn
// mail exchanger.
func TestGraphDomainChinaRecords(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "china", "CN")
	tn.addDomain("contoso-" + tn.cid[:8] + ".cn")
	code, _, b := tn.g(http.MethodGet, "/v1.0/domains/contoso-"+tn.cid[:8]+".cn/verificationDnsRecords", nil)
	recs := decode[graphListT[dnsRecordT]](t, b)
	if code != 200 || recs.Value[1].MailExchange != "contoso-"+tn.cid[:8]+"-cn.mail.protection.partner.outlook.cn" {
		t.Errorf("china MX: %d %s", code, b)
	}
}

func TestAdminDNSAndUsers(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	tn.buyOne(ciE3, 1)
	for _, bad := range []string{`{"domain":"nope","txt":"MS=ms1"}`, `{"domain":"contoso.com"}`, `{"domain":"contoso.com","txt":"x","extra":1}`} {
		if st, b := s.admin(http.MethodPost, "/_sim/dns", bad); st != 400 {
			t.Errorf("dns %s: %d %s", bad, st, b)
		}
	}
	s.publish("contoso.com", "MS=ms1")
	s.publish("Contoso.com", "MS=ms2")
	s.publish("contoso.com", "MS=ms1")
	st, b := s.admin(http.MethodGet, "/_sim/dns", nil)
	if got := decode[struct {
		TXT map[string][]string `json:"txt"`
	}](t, b); st != 200 || len(got.TXT["contoso.com"]) != 2 {
		t.Errorf("dns list: %d %s", st, b)
	}
	if st, b := s.admin(http.MethodPost, "/_sim/dns", map[string]any{"domain": "contoso.com", "remove": true}); st != 200 || !strings.Contains(string(b), `"txt":[]`) {
		t.Errorf("dns remove: %d %s", st, b)
	}

	// A user created "outside the platform", licensed, shows in Graph.
	st, b = s.admin(http.MethodPost, "/_sim/customers/"+tn.cid+"/users", map[string]any{
		"user_principal_name": tn.upn("outsider"), "display_name": "Out Sider", "usage_location": "us", "licenses": []string{licE3.ID},
	})
	u := decode[graphUserT](t, b)
	if st != 201 || u.UserPrincipalName != tn.upn("outsider") || u.MailNickname != "outsider" || *u.UsageLocation != "US" ||
		len(u.AssignedLicenses) != 1 || u.AssignedLicenses[0].SkuID != licE3.ID {
		t.Fatalf("admin user: %d %s", st, b)
	}
	if g := tn.getUser(tn.upn("outsider")); g.ID != u.ID || g.DisplayName != "Out Sider" {
		t.Errorf("Graph view of the admin user: %+v", g)
	}
	for _, tc := range []struct {
		name   string
		path   string
		body   map[string]any
		status int
		msg    string
	}{
		{"no seat left", "/_sim/customers/" + tn.cid + "/users", map[string]any{"user_principal_name": tn.upn("o2"), "usage_location": "US", "licenses": []string{licE3.ID}}, 400, "does not have any available licenses"},
		{"unknown SKU", "/_sim/customers/" + tn.cid + "/users", map[string]any{"user_principal_name": tn.upn("o2"), "usage_location": "US", "licenses": []string{licE5.ID}}, 400, "does not correspond"},
		{"license without usage location", "/_sim/customers/" + tn.cid + "/users", map[string]any{"user_principal_name": tn.upn("o2"), "licenses": []string{licE3.ID}}, 400, "usage location"},
		{"duplicate", "/_sim/customers/" + tn.cid + "/users", map[string]any{"user_principal_name": tn.upn("outsider")}, 400, msgDuplicateUPN},
		{"foreign domain", "/_sim/customers/" + tn.cid + "/users", map[string]any{"user_principal_name": "x@example.org"}, 400, msgUPNDomain},
		{"unknown customer", "/_sim/customers/" + newGUID() + "/users", map[string]any{"user_principal_name": "x@example.org"}, 404, "no customer"},
	} {
		st, b := s.admin(http.MethodPost, tc.path, tc.body)
		if st != tc.status || !strings.Contains(decode[map[string]string](t, b)["error"], tc.msg) {
			t.Errorf("%s: %d %s", tc.name, st, b)
		}
	}
	gs := s.graphState(tn.p.TenantID)
	if len(gs.Users) != 2 || gs.Users[1].UserPrincipalName != tn.upn("outsider") || len(gs.Users[1].Licenses) != 1 || !gs.Users[1].AccountEnabled {
		t.Errorf("state: %+v", gs.Users)
	}
}
