package mscloud

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCreateCustomerResponse(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	c := s.createCustomer(s.pcToken(p), customerBody("NewCo123.onmicrosoft.com", "US", func(b map[string]any) { b["enableGDAPByDefault"] = true }))

	id, _ := c["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("id %q is not a GUID", id)
	}
	cp := c["companyProfile"].(map[string]any)
	bp := c["billingProfile"].(map[string]any)
	creds := c["userCredentials"].(map[string]any)
	checks := map[string]bool{
		"commerceId":            c["commerceId"] != "" && c["commerceId"] != nil,
		"companyProfile":        cp["tenantId"] == id && cp["domain"] == "newco123.onmicrosoft.com" && cp["companyName"] == "Contoso US",
		"billingProfile":        bp["id"] != nil && bp["email"] == "admin@contoso.example" && bp["culture"] == "en-US" && bp["language"] == "en",
		"billing attributes":    bp["attributes"].(map[string]any)["objectType"] == "CustomerBillingProfile" && bp["attributes"].(map[string]any)["etag"] != "",
		"defaultAddress":        bp["defaultAddress"].(map[string]any)["postalCode"] == "98052",
		"relationshipToPartner": c["relationshipToPartner"] == "reseller",
		"allowDelegatedAccess":  c["allowDelegatedAccess"] == true,
		"userName":              creds["userName"] == "admin@newco123.onmicrosoft.com",
		"links":                 c["links"].(map[string]any)["self"].(map[string]any)["uri"] == "/customers/"+id,
		"attributes":            c["attributes"].(map[string]any)["objectType"] == "Customer",
		"enableGDAPByDefault":   c["enableGDAPByDefault"] == true,
	}
	for k, ok := range checks {
		if !ok {
			t.Errorf("%s wrong in %v", k, c)
		}
	}
	pw, _ := creds["password"].(string)
	if len(pw) < 12 || !regexp.MustCompile(`[A-Z]`).MatchString(pw) || !regexp.MustCompile(`[a-z]`).MatchString(pw) ||
		!regexp.MustCompile(`[0-9]`).MatchString(pw) || !regexp.MustCompile(`[^A-Za-z0-9]`).MatchString(pw) {
		t.Errorf("password %q is not strong", pw)
	}
	st := s.state(p.TenantID)
	if len(st) != 1 || len(st[0].Customers) != 1 || st[0].Customers[0].ID != id || st[0].Customers[0].Country != "US" || st[0].Customers[0].MCAAttested {
		t.Errorf("state: %+v", st)
	}
}

func TestCreateCustomerRules(t *testing.T) {
	s := newSim(t, Options{})
	g := s.partner("global", true, "US", "HU", "GB", "PL", "DE")
	cn := s.partner("china", true, "CN")
	other := s.partner("global", true, "US")
	gt, ct := s.pcToken(g), s.pcToken(cn)
	s.createCustomer(s.pcToken(other), customerBody("takenbyother.onmicrosoft.com", "US"))

	del := func(path ...string) func(map[string]any) {
		return func(b map[string]any) {
			m := b
			for _, k := range path[:len(path)-1] {
				m = m[k].(map[string]any)
			}
			delete(m, path[len(path)-1])
		}
	}
	set := func(v any, path ...string) func(map[string]any) {
		return func(b map[string]any) {
			m := b
			for _, k := range path[:len(path)-1] {
				m = m[k].(map[string]any)
			}
			m[path[len(path)-1]] = v
		}
	}
	regNo := func(v string) func(map[string]any) { return set(v, "companyProfile", "organizationRegistrationNumber") }

	cases := []struct {
		name   string
		token  string
		body   any
		status int
		code   int
		rich   bool
		hint   string
	}{
		{"valid HU", gt, customerBody("hu1.onmicrosoft.com", "HU", regNo("12345678-2-42")), 201, 0, false, ""},
		{"valid china", ct, customerBody("cn1.partner.onmschina.cn", "CN"), 201, 0, false, ""},
		{"PL may send a number", gt, customerBody("pl1.onmicrosoft.com", "PL", regNo("5260250274")), 201, 0, false, ""},
		{"not JSON", gt, "{", 400, codeInvalidInput, false, ""},
		{"missing domain", gt, customerBody("", "US"), 400, codeInvalidInput, false, "companyProfile.domain"},
		{"missing email", gt, customerBody("a1.onmicrosoft.com", "US", del("billingProfile", "email")), 400, codeInvalidInput, false, "billingProfile.email"},
		{"missing address line", gt, customerBody("a2.onmicrosoft.com", "US", del("billingProfile", "defaultAddress", "addressLine1")), 400, codeInvalidInput, false, "addressLine1"},
		{"bad culture", gt, customerBody("a3.onmicrosoft.com", "US", set("english", "billingProfile", "culture")), 400, codeInvalidInput, false, "culture"},
		{"country not authorized", gt, customerBody("a4.onmicrosoft.com", "CN"), 403, codeNotOnboarded, false, "not onboarded"},
		{"unknown country", gt, customerBody("a5.onmicrosoft.com", "US", set("UK", "billingProfile", "defaultAddress", "country")), 400, codeNoCountryRules, false, "UK"},
		{"wrong suffix for china", ct, customerBody("cn2.onmicrosoft.com", "CN"), 400, codeDomainInvalid, true, ".partner.onmschina.cn"},
		{"custom domain", gt, customerBody("contoso-example.com", "US"), 400, codeDomainInvalid, true, ""},
		{"bad prefix", gt, customerBody("bad_prefix.onmicrosoft.com", "US"), 400, codeDomainInvalid, true, ""},
		{"domain of another partner", gt, customerBody("TakenByOther.onmicrosoft.com", "US"), 409, codeDomainExists, true, "already exists"},
		{"reserved domain", gt, customerBody("contoso.onmicrosoft.com", "US"), 409, codeDomainExists, true, ""},
		{"HU without number", gt, customerBody("hu2.onmicrosoft.com", "HU"), 400, codeRegNumberMissing, true, ""},
		{"HU bad number", gt, customerBody("hu3.onmicrosoft.com", "HU", regNo("ABC")), 400, codeRegNumberFormat, true, `^\d{8}-\d-\d{2}$`},
		{"HU without phone", gt, customerBody("hu4.onmicrosoft.com", "HU", regNo("12345678-2-42"), del("billingProfile", "defaultAddress", "phoneNumber")), 400, codePhoneMissing, true, "phoneNumber"},
		{"US with number", gt, customerBody("a6.onmicrosoft.com", "US", regNo("123")), 400, codeRegNumberNotAllowed, true, ""},
		{"bad postal code", gt, customerBody("a7.onmicrosoft.com", "US", set("1234", "billingProfile", "defaultAddress", "postalCode")), 400, codeInvalidAddress, true, "PostalCode"},
		{"bad state", gt, customerBody("a8.onmicrosoft.com", "US", set("ZZ", "billingProfile", "defaultAddress", "state")), 400, codeInvalidAddress, true, "Region"},
		{"street partial is accepted", gt, customerBody("a9.onmicrosoft.com", "US", set("Microsoft Way", "billingProfile", "defaultAddress", "addressLine1")), 201, 0, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, b := s.do(http.MethodPost, "/v1/customers", tc.token, tc.body, nil)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, b)
			}
			if st == http.StatusCreated {
				return
			}
			e := decode[pcErr](t, b)
			if e.Code != tc.code || !strings.Contains(e.Description, tc.hint) {
				t.Errorf("got %s, want code %d with %q", b, tc.code, tc.hint)
			}
			if tc.rich {
				if e.ErrorName == "" || e.Message == "" || e.IsRetryable == nil || *e.IsRetryable || e.Parameters == nil ||
					e.ErrorMessageExtended != fmt.Sprintf("InternalErrorCode=%d", tc.code) {
					t.Errorf("not the rich shape: %s", b)
				}
			} else if e.Source != "PartnerFD" || e.Data == nil {
				t.Errorf("not the normal shape: %s", b)
			}
		})
	}
	// Nothing but the successful cases was created.
	if got := len(s.state(g.TenantID)[0].Customers); got != 3 {
		t.Errorf("partner has %d customers, want 3", got)
	}
}

func TestSandboxCustomerLimit(t *testing.T) {
	s := newSim(t, Options{PartnerRPS: -1, CustomerRPS: -1})
	p := s.partner("global", true, "US")
	prod := s.partner("global", false, "US")
	tok, prodTok := s.pcToken(p), s.pcToken(prod)
	for i := range sandboxCustomerLimit {
		s.createCustomer(tok, customerBody(fmt.Sprintf("sbx%d.onmicrosoft.com", i), "US"))
	}
	st, _, b := s.do(http.MethodPost, "/v1/customers", tok, customerBody("sbxover.onmicrosoft.com", "US"), nil)
	if e := decode[pcErr](t, b); st != http.StatusBadRequest || e.Code != codeSandboxLimit {
		t.Fatalf("76th customer: %d %s", st, b)
	}
	// Production partners have no such cap.
	for i := range sandboxCustomerLimit + 1 {
		s.createCustomer(prodTok, customerBody(fmt.Sprintf("prod%d.onmicrosoft.com", i), "US"))
	}
}

func TestListCustomersPagingAndFilter(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	other := s.partner("global", true, "US")
	tok := s.pcToken(p)
	for i := range 5 {
		s.createCustomer(tok, customerBody(fmt.Sprintf("alpha%d.onmicrosoft.com", i), "US", func(b map[string]any) {
			b["billingProfile"].(map[string]any)["companyName"] = fmt.Sprintf("Alpha %d", i)
		}))
	}
	s.createCustomer(tok, customerBody("beta0.onmicrosoft.com", "US"))
	s.createCustomer(s.pcToken(other), customerBody("alphaother.onmicrosoft.com", "US"))

	type link struct {
		URI     string              `json:"uri"`
		Method  string              `json:"method"`
		Headers []map[string]string `json:"headers"`
	}
	type page struct {
		TotalCount int              `json:"totalCount"`
		Items      []map[string]any `json:"items"`
		Links      struct {
			Self link  `json:"self"`
			Next *link `json:"next"`
		} `json:"links"`
		Attributes map[string]string `json:"attributes"`
	}
	var domains []string
	path := "/v1/customers?size=2"
	hdr := map[string]string{}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		st, _, b := s.do(http.MethodGet, path, tok, nil, hdr)
		if st != http.StatusOK {
			t.Fatalf("%s: %d %s", path, st, b)
		}
		pg := decode[page](t, b)
		if pg.Attributes["objectType"] != "Collection" || pg.TotalCount != len(pg.Items) {
			t.Fatalf("bad collection: %s", b)
		}
		for _, it := range pg.Items {
			domains = append(domains, it["companyProfile"].(map[string]any)["domain"].(string))
		}
		if pg.Links.Next == nil {
			break
		}
		n := pg.Links.Next
		if n.Method != "GET" || !strings.HasSuffix(n.URI, "seekOperation=Next") || len(n.Headers) != 1 || n.Headers[0]["key"] != "MS-ContinuationToken" {
			t.Fatalf("bad next link: %+v", n)
		}
		path = "/v1" + n.URI
		hdr = map[string]string{"MS-ContinuationToken": n.Headers[0]["value"]}
	}
	want := "alpha0.onmicrosoft.com alpha1.onmicrosoft.com alpha2.onmicrosoft.com alpha3.onmicrosoft.com alpha4.onmicrosoft.com beta0.onmicrosoft.com"
	if got := strings.Join(domains, " "); got != want {
		t.Errorf("paged domains = %s, want %s", got, want)
	}

	filter := func(field, value string) []string {
		f := fmt.Sprintf(`{"Field":%q,"Value":%q,"Operator":"starts_with"}`, field, value)
		st, _, b := s.do(http.MethodGet, "/v1/customers?size=10&filter="+url.QueryEscape(f), tok, nil, nil)
		if st != http.StatusOK {
			t.Fatalf("filter: %d %s", st, b)
		}
		var out []string
		for _, it := range decode[page](t, b).Items {
			out = append(out, it["companyProfile"].(map[string]any)["domain"].(string))
		}
		return out
	}
	if got := filter("Domain", "ALPHA"); len(got) != 5 {
		t.Errorf("Domain starts_with alpha: %v", got)
	}
	if got := filter("CompanyName", "alpha 3"); len(got) != 1 || got[0] != "alpha3.onmicrosoft.com" {
		t.Errorf("CompanyName starts_with 'alpha 3': %v", got)
	}
	if got := filter("Domain", "alphaother"); len(got) != 0 {
		t.Errorf("another partner's customer leaked: %v", got)
	}
	for _, bad := range []string{"/v1/customers?size=0", "/v1/customers?size=x", "/v1/customers?filter=%7B",
		"/v1/customers?filter=" + url.QueryEscape(`{"Field":"Email","Value":"a","Operator":"starts_with"}`),
		"/v1/customers?seekOperation=Next"} {
		if st, _, b := s.do(http.MethodGet, bad, tok, nil, nil); st != http.StatusBadRequest || decode[pcErr](t, b).Code != codeInvalidInput {
			t.Errorf("%s: %d %s", bad, st, b)
		}
	}
}

func TestGetAndDeleteCustomer(t *testing.T) {
	s := newSim(t, Options{})
	sbx := s.partner("global", true, "US")
	prod := s.partner("global", false, "US")
	st, pt := s.pcToken(sbx), s.pcToken(prod)
	c := s.createCustomer(st, customerBody("getdel1.onmicrosoft.com", "US"))
	pc := s.createCustomer(pt, customerBody("getdel2.onmicrosoft.com", "US"))
	id, pid := c["id"].(string), pc["id"].(string)

	code, _, b := s.do(http.MethodGet, "/v1/customers/"+id, st, nil, nil)
	got := decode[map[string]any](t, b)
	if code != 200 || got["id"] != id || got["allowDelegatedAccess"] != true || got["userCredentials"] != nil {
		t.Errorf("get own: %d %s", code, b)
	}
	for _, tc := range []struct{ tok, id string }{{st, pid}, {st, newGUID()}, {st, "not-a-guid"}} {
		code, _, b := s.do(http.MethodGet, "/v1/customers/"+tc.id, tc.tok, nil, nil)
		if code != http.StatusNotFound || decode[pcErr](t, b).Code != codeTenantNotFound {
			t.Errorf("get foreign/unknown %s: %d %s", tc.id, code, b)
		}
	}
	if code, _, b := s.do(http.MethodDelete, "/v1/customers/"+pid, pt, nil, nil); code != http.StatusForbidden || decode[pcErr](t, b).Code != codeDeleteNotAllowed {
		t.Errorf("production delete: %d %s", code, b)
	}
	if code, _, _ := s.do(http.MethodDelete, "/v1/customers/"+pid, st, nil, nil); code != http.StatusNotFound {
		t.Errorf("delete another partner's customer: %d", code)
	}
	if code, _, b := s.do(http.MethodDelete, "/v1/customers/"+id, st, nil, nil); code != http.StatusNoContent || len(b) != 0 {
		t.Errorf("sandbox delete: %d %s", code, b)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers/"+id, st, nil, nil); code != http.StatusNotFound {
		t.Errorf("get after delete: %d", code)
	}
	if n := len(s.state(sbx.TenantID)[0].Customers); n != 0 {
		t.Errorf("state still has %d customers", n)
	}
	// The freed domain can be used again.
	s.createCustomer(st, customerBody("getdel1.onmicrosoft.com", "US"))
}

func TestBillingProfileETag(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	tok := s.pcToken(p)
	id := s.createCustomer(tok, customerBody("billing1.onmicrosoft.com", "US"))["id"].(string)
	path := "/v1/customers/" + id + "/profiles/billing"

	code, _, b := s.do(http.MethodGet, path, tok, nil, nil)
	bp := decode[map[string]any](t, b)
	etag := bp["attributes"].(map[string]any)["etag"].(string)
	if code != 200 || etag == "" || bp["attributes"].(map[string]any)["objectType"] != "CustomerBillingProfile" {
		t.Fatalf("get billing: %d %s", code, b)
	}
	bp["email"] = "billing@contoso.example"
	bp["companyName"] = "Contoso Renamed"

	for _, tc := range []struct{ name, ifMatch string }{{"missing", ""}, {"stale", `"AAAA"`}} {
		h := map[string]string{}
		if tc.ifMatch != "" {
			h["If-Match"] = tc.ifMatch
		}
		code, _, b := s.do(http.MethodPut, path, tok, bp, h)
		if code != http.StatusPreconditionFailed || decode[pcErr](t, b).Code != codeETagInvalid {
			t.Errorf("%s If-Match: %d %s", tc.name, code, b)
		}
	}
	code, _, b = s.do(http.MethodPut, path, tok, bp, map[string]string{"If-Match": `"` + etag + `"`})
	upd := decode[map[string]any](t, b)
	newTag := upd["attributes"].(map[string]any)["etag"]
	if code != 200 || upd["email"] != "billing@contoso.example" || newTag == etag {
		t.Fatalf("put billing: %d %s", code, b)
	}
	// The old etag is now stale.
	if code, _, _ := s.do(http.MethodPut, path, tok, bp, map[string]string{"If-Match": etag}); code != http.StatusPreconditionFailed {
		t.Errorf("reused etag: %d", code)
	}
	// Invalid address with a fresh etag.
	bad := decode[map[string]any](t, b)
	bad["defaultAddress"].(map[string]any)["postalCode"] = "x"
	if code, _, b := s.do(http.MethodPut, path, tok, bad, map[string]string{"If-Match": newTag.(string)}); code != http.StatusBadRequest || decode[pcErr](t, b).Code != codeInvalidAddress {
		t.Errorf("invalid address: %d %s", code, b)
	}

	code, _, b = s.do(http.MethodGet, "/v1/customers/"+id+"/profiles/company", tok, nil, nil)
	cp := decode[map[string]any](t, b)
	if code != 200 || cp["tenantId"] != id || cp["domain"] != "billing1.onmicrosoft.com" || cp["companyName"] != "Contoso Renamed" ||
		cp["attributes"].(map[string]any)["objectType"] != "CustomerCompanyProfile" {
		t.Errorf("company profile: %d %s", code, b)
	}
}

func TestPartnerCenterAuthAndHeaders(t *testing.T) {
	s := newSim(t, Options{})
	p := s.partner("global", true, "US")
	cn := s.partner("china", true, "CN")
	pcTok := s.pcToken(p)
	graphTok := s.token(p, "https://graph.microsoft.com/.default")
	cnTok := s.token(cn, "https://partner.partnercenterapi.microsoftonline.cn/.default")

	expired := s.pcToken(p)
	s.srv.entra.mu.Lock()
	s.srv.entra.tokens[expired].Expires = s.srv.clock.Now().Add(-time.Second)
	s.srv.entra.mu.Unlock()

	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", 401},
		{"not bearer", "Basic abc", 401},
		{"unknown token", "Bearer simat.nope", 401},
		{"graph audience", "Bearer " + graphTok, 401},
		{"expired", "Bearer " + expired, 401},
		{"valid", "Bearer " + pcTok, 200},
		{"china partner with china PC audience", "Bearer " + cnTok, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"MS-RequestId": newGUID(), "MS-CorrelationId": newGUID()}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			code, hdr, b := s.do(http.MethodGet, "/v1/customers", "", nil, h)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, b)
			}
			if hdr.Get("MS-RequestId") != h["MS-RequestId"] || hdr.Get("MS-CorrelationId") != h["MS-CorrelationId"] || !strings.HasSuffix(hdr.Get("MS-CV"), ".0") {
				t.Errorf("headers not echoed: %v", hdr)
			}
			if code == 401 {
				e := decode[pcErr](t, b)
				if e.Code != codeUnauthorized || e.Source != "PartnerFD" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "OAuth realm=urn:cpsvc:cpid:") {
					t.Errorf("401 shape: %v %s", hdr, b)
				}
			}
		})
	}
	// Access tokens live in real time: a clock advance (commerce windows)
	// leaves them valid.
	if err := s.srv.Clock().Advance(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := s.do(http.MethodGet, "/v1/customers", pcTok, nil, nil); code != http.StatusOK {
		t.Errorf("token after clock advance: %d", code)
	}
	// Unknown route and wrong method, with a fresh token.
	tok := s.pcToken(p)
	if code, _, b := s.do(http.MethodGet, "/v1/nothing", tok, nil, nil); code != 404 || decode[pcErr](t, b).Code != codeRouteNotFound {
		t.Errorf("unknown route: %d %s", code, b)
	}
	if code, _, b := s.do(http.MethodPatch, "/v1/customers", tok, "{}", nil); code != 405 || decode[pcErr](t, b).Code != codeMethodNotAllowed {
		t.Errorf("wrong method: %d %s", code, b)
	}
	// A generated MS-RequestId when the caller sent none.
	if _, hdr, _ := s.do(http.MethodGet, "/v1/customers", tok, nil, nil); hdr.Get("MS-RequestId") == "" || hdr.Get("MS-CorrelationId") == "" {
		t.Errorf("no ids generated: %v", hdr)
	}
}
