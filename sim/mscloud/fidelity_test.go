package mscloud

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// What real Microsoft clients send and what real Microsoft answers: gzip
// request bodies, @odata.type annotations and property names in any case
// (Graph), the full error shape on every Partner Center error, ZIP codes
// checked against the state, and partners that sell where their cloud does.

func compress(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser = gzip.NewWriter(&buf)
	if coding == "deflate" {
		w = zlib.NewWriter(&buf)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send posts body as it is (already encoded) with token and headers.
func (s *testSim) send(method, path, token string, body []byte, hdr map[string]string) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// msgraph-sdk-go compresses every request body (Content-Encoding: gzip) and
// resends it uncompressed only after a 415; the simulator refused gzip with
// a 400. Bounds hold after decompression too.
func TestCompressedBodies(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	gz := map[string]string{"Content-Encoding": "gzip"}

	st, b := s.send("POST", "/v1.0/users", tn.gtok, compress(t, "gzip", jsonOf(t, newUserBody(tn.upn("gz")))), gz)
	if st != http.StatusCreated || decode[graphUserT](t, b).UserPrincipalName != tn.upn("gz") {
		t.Fatalf("gzip create user: %d %s", st, b)
	}
	st, b = s.send("POST", "/v1.0/users", tn.gtok, compress(t, "deflate", jsonOf(t, newUserBody(tn.upn("df")))), map[string]string{"Content-Encoding": "deflate"})
	if st != http.StatusCreated {
		t.Fatalf("deflate create user: %d %s", st, b)
	}
	st, b = s.send("PATCH", "/v1.0/users/"+tn.upn("gz"), tn.gtok, compress(t, "gzip", []byte(`{"jobTitle":"Engineer"}`)), map[string]string{"Content-Encoding": "identity, gzip"})
	if st != http.StatusNoContent || tn.getUser(tn.upn("gz")).JobTitle == nil {
		t.Fatalf("gzip patch: %d %s", st, b)
	}
	// error_after_commit does the work of a compressed request too.
	if st, b := s.admin(http.MethodPost, "/_sim/faults", map[string]any{"api": "graph", "method": "POST", "path": "/v1.0/users", "mode": "error_after_commit", "count": 1}); st != http.StatusCreated {
		t.Fatalf("fault: %d %s", st, b)
	}
	if st, b := s.send("POST", "/v1.0/users", tn.gtok, compress(t, "gzip", jsonOf(t, newUserBody(tn.upn("eac")))), gz); st != http.StatusInternalServerError {
		t.Fatalf("error_after_commit: %d %s", st, b)
	}
	tn.getUser(tn.upn("eac"))
	// Partner Center too.
	st, b = s.send("POST", "/v1/customers", tn.tok, compress(t, "gzip", jsonOf(t, customerBody("gzipped.onmicrosoft.com", "US"))), gz)
	if st != http.StatusCreated {
		t.Fatalf("gzip create customer: %d %s", st, b)
	}

	bomb := compress(t, "gzip", []byte(`{"displayName":"`+strings.Repeat("a", 4*maxRequestBodyBytes)+`"}`))
	if len(bomb) > maxRequestBodyBytes/10 {
		t.Fatalf("the bomb is %d bytes compressed", len(bomb))
	}
	for _, c := range []struct {
		name, path, token string
		body              []byte
		hdr               map[string]string
		status            int
	}{
		{"Graph: expands past the limit", "/v1.0/users", tn.gtok, bomb, gz, http.StatusRequestEntityTooLarge},
		{"Partner Center: expands past the limit", "/v1/customers", tn.tok, bomb, gz, http.StatusRequestEntityTooLarge},
		{"Graph: not gzip", "/v1.0/users", tn.gtok, []byte(`{"a":1}`), gz, http.StatusBadRequest},
		{"Partner Center: not gzip", "/v1/customers", tn.tok, []byte(`{"a":1}`), gz, http.StatusBadRequest},
		{"Graph: unknown coding", "/v1.0/users", tn.gtok, []byte(`{}`), map[string]string{"Content-Encoding": "br"}, http.StatusUnsupportedMediaType},
		{"Partner Center: unknown coding", "/v1/customers", tn.tok, []byte(`{}`), map[string]string{"Content-Encoding": "br"}, http.StatusUnsupportedMediaType},
		{"Graph: three codings", "/v1.0/users", tn.gtok, []byte(`{}`), map[string]string{"Content-Encoding": "gzip, gzip, gzip"}, http.StatusUnsupportedMediaType},
	} {
		st, b := s.send("POST", c.path, c.token, c.body, c.hdr)
		if st != c.status {
			t.Errorf("%s: %d, want %d: %.300s", c.name, st, c.status, b)
			continue
		}
		if strings.HasPrefix(c.path, "/v1/") {
			checkPCError(t, c.name, st, b)
		} else if e := decode[graphErr](t, b); e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("%s: not Graph's error shape: %s", c.name, b)
		}
	}
}

// Graph takes property names in any case and ignores @odata.type (which
// the SDK puts on every object, nested ones too).
func TestGraphBodiesAsTheSDKWritesThem(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	tn.buyOne(ciE3, 1)
	user := map[string]any{
		"@odata.type": "#microsoft.graph.user", "AccountEnabled": true, "DISPLAYNAME": "Ann Lee", "mailnickname": "ann",
		"UserPrincipalName": tn.upn("ann"), "UsageLocation": "US", "JobTitle": "Engineer",
		"PasswordProfile": map[string]any{"@odata.type": "#microsoft.graph.passwordProfile", "Password": "Xk7#pLm2qR", "forcechangepasswordnextsignin": true},
	}
	code, _, b := tn.g("POST", "/v1.0/users", user)
	got := decode[graphUserT](t, b)
	if code != http.StatusCreated || got.DisplayName != "Ann Lee" || got.MailNickname != "ann" || got.JobTitle == nil || *got.JobTitle != "Engineer" {
		t.Fatalf("create: %d %s", code, b)
	}
	assign := map[string]any{"@odata.type": "#microsoft.graph.assignLicensePostRequestBody",
		"AddLicenses":    []any{map[string]any{"@odata.type": "#microsoft.graph.assignedLicense", "SkuId": licE3.ID, "DisabledPlans": []string{}}},
		"REMOVELICENSES": []string{}}
	if code, _, b := tn.assign(got.ID, assign); code != http.StatusOK || len(decode[graphUserT](t, b).AssignedLicenses) != 1 {
		t.Fatalf("assign: %d %s", code, b)
	}
	if code, _, b := tn.g("PATCH", "/v1.0/users/"+got.ID, map[string]any{"@odata.type": "#microsoft.graph.user", "DisplayName": "Ann B. Lee"}); code != http.StatusNoContent ||
		tn.getUser(got.ID).DisplayName != "Ann B. Lee" {
		t.Fatalf("patch: %d %s", code, b)
	}
	if code, _, b := tn.g("POST", "/v1.0/domains", map[string]any{"@odata.type": "#microsoft.graph.domain", "ID": "contoso.example"}); code != http.StatusCreated {
		t.Fatalf("domain: %d %s", code, b)
	}
	if code, _, b := tn.g("GET", "/v1.0/users/"+got.ID+"?$select=DisplayName,USERPRINCIPALNAME", nil); code != http.StatusOK ||
		!strings.Contains(string(b), `"displayName":"Ann B. Lee"`) {
		t.Fatalf("$select in another case: %d %s", code, b)
	}
}

// checkPCError: every Partner Center error body carries code, description,
// data and source (Partner Center's documented error response), except the
// 429's {statusCode,message}.
func checkPCError(t *testing.T, what string, status int, b []byte) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("%s: %d, body not a JSON object: %q", what, status, b)
		return
	}
	want := []string{"code", "description", "data", "source"}
	if status == http.StatusTooManyRequests {
		want = []string{"statusCode", "message"}
	}
	for _, k := range want {
		if raw, ok := m[k]; !ok || isJSONNull(raw) {
			t.Errorf("%s: %d without %s: %s", what, status, k, b)
		}
	}
	if status != http.StatusTooManyRequests {
		var data []string
		if json.Unmarshal(m["data"], &data) != nil {
			t.Errorf("%s: data is not a list: %s", what, b)
		}
	}
}

func TestEveryPartnerCenterErrorHasTheFullShape(t *testing.T) {
	s := newSim(t, Options{PartnerRPS: -1, CustomerRPS: -1})
	sh := newShop(t, s, "global", true, "US", true)
	s.createCustomer(sh.tok, customerBody("taken1.onmicrosoft.com", "US"))
	other := s.partner("global", true, "US")
	consent := map[string]any{"applicationId": sh.p.ClientID, "applicationGrants": []any{
		map[string]any{"enterpriseApplicationId": "00000003-0000-0000-c000-000000000000", "scope": "Directory.ReadWrite.All"}}}
	if st, _, b := sh.call(http.MethodPost, sh.cpath("/applicationconsents"), consent, nil); st != http.StatusCreated {
		t.Fatalf("consent: %d %s", st, b)
	}
	mca := map[string]any{"templateId": mcaTemplateID, "type": agreementTypeMCA, "dateAgreed": "2026-11-01",
		"primaryContact": map[string]any{"firstName": "Ann", "lastName": "Lee", "email": "ann@contoso.example"}}
	sh.call(http.MethodPost, sh.cpath("/agreements"), mca, nil)
	badZIP := customerBody("zip1.onmicrosoft.com", "US", func(b map[string]any) { addrOf(b)["postalCode"] = "10001" })
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"domain taken (rich)", "POST", "/v1/customers", sh.tok, customerBody("taken1.onmicrosoft.com", "US"), 409},
		{"invalid address (rich)", "POST", "/v1/customers", sh.tok, badZIP, 400},
		{"registration number (rich)", "POST", "/v1/customers", sh.tok, customerBody("reg1.onmicrosoft.com", "US", func(b map[string]any) {
			b["companyProfile"].(map[string]any)["organizationRegistrationNumber"] = "1"
		}), 400},
		{"agreement repeated (rich)", "POST", sh.cpath("/agreements"), sh.tok, mca, 409},
		{"consent repeated (rich)", "POST", sh.cpath("/applicationconsents"), sh.tok, consent, 409},
		{"no token", "GET", "/v1/customers", "", nil, 401},
		{"foreign customer", "GET", sh.cpath(""), s.pcToken(other), nil, 404},
		{"unknown route", "GET", "/v1/nothing", sh.tok, nil, 404},
		{"wrong method", "PUT", "/v1/customers", sh.tok, "{}", 405},
		{"not JSON", "POST", "/v1/customers", sh.tok, "{", 400},
		{"unknown offer", "GET", "/v1/offers/00000000-0000-0000-0000-000000000000?country=US", sh.tok, nil, 404},
		{"no country", "GET", "/v1/offers", sh.tok, nil, 400},
	} {
		st, _, b := s.do(c.method, c.path, c.token, c.body, nil)
		if st != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, st, c.status, b)
			continue
		}
		checkPCError(t, c.name, st, b)
	}
	// Injected faults, and the throttling exception.
	for _, mode := range []string{"error", "refuse", "throttle"} {
		if st, b := s.admin(http.MethodPost, "/_sim/faults", map[string]any{"api": "partnercenter", "path": "/v1/customers", "mode": mode, "count": 1}); st != http.StatusCreated {
			t.Fatalf("fault: %d %s", st, b)
		}
		st, _, b := s.do("GET", "/v1/customers", sh.tok, nil, nil)
		if st < 400 {
			t.Fatalf("%s fault: %d", mode, st)
		}
		checkPCError(t, mode+" fault", st, b)
	}
}

// Microsoft's address validation refuses a ZIP code of another state.
func TestUSPostalCodeBelongsToTheState(t *testing.T) {
	s := newSim(t, Options{})
	tok := s.pcToken(s.partner("global", true, "US"))
	for _, c := range []struct {
		state, zip, verdict string
	}{
		{"WA", "98052", addrVerifiedShippable}, {"WA", "99403-1234", addrVerifiedShippable}, {"CA", "94105", addrVerifiedShippable},
		{"NY", "10001", addrVerifiedShippable}, {"DC", "20500", addrVerifiedShippable}, {"VA", "20166", addrVerifiedShippable},
		{"MA", "02134", addrVerifiedShippable}, {"PR", "00901", addrVerifiedShippable},
		{"WA", "10001", addrNone}, {"NY", "98052", addrNone}, {"CA", "96201", addrNone}, {"DC", "20166", addrNone}, {"VT", "05501", addrNone},
	} {
		body := map[string]any{"addressLine1": "1 Main St", "city": "Somewhere", "state": c.state, "postalCode": c.zip, "country": "US"}
		st, _, b := s.do(http.MethodPost, "/v1/validations/address", tok, body, nil)
		out := decode[addressResult](t, b)
		if st != 200 || out.Status != c.verdict {
			t.Errorf("%s %s: %d %s, want %s", c.state, c.zip, st, b, c.verdict)
		}
		if c.verdict == addrNone && out.ValidationMessage != "Address field invalid for property: 'Region', 'PostalCode'" {
			t.Errorf("%s %s: message %q", c.state, c.zip, out.ValidationMessage)
		}
	}
}

func TestUSZIPTable(t *testing.T) {
	if len(usZIPPrefixes) != 51 {
		t.Fatalf("%d states, want 50 and DC", len(usZIPPrefixes))
	}
	owner := map[int]string{}
	for st, ranges := range usZIPPrefixes {
		if !slices.Contains(usStates, st) {
			t.Errorf("%s is not in the US state list", st)
		}
		for _, r := range ranges {
			for p := r[0]; p <= r[1]; p++ {
				if o, ok := owner[p]; ok {
					t.Errorf("prefix %03d belongs to %s and %s", p, o, st)
				}
				owner[p] = st
			}
		}
	}
	for _, c := range []struct {
		prefix int
		state  string
	}{{980, "WA"}, {994, "WA"}, {900, "CA"}, {961, "CA"}, {100, "NY"}, {149, "NY"}, {606, "IL"}, {770, "TX"}, {331, "FL"}, {802, "CO"}} {
		if owner[c.prefix] != c.state {
			t.Errorf("prefix %03d: %s, want %s", c.prefix, owner[c.prefix], c.state)
		}
	}
}

// A partner registered without countries sells wherever its cloud does:
// a 21Vianet partner in CN (it defaulted to the US, where the china
// catalog sells nothing).
func TestPartnersSellInTheirCloudsCountries(t *testing.T) {
	s := newSim(t, Options{})
	for cloud, want := range map[string][]string{"china": {"CN"}, "usgov": {"US"}} {
		st, b := s.admin(http.MethodPost, "/_sim/partners", map[string]any{"name": cloud, "cloud": cloud})
		if st != http.StatusCreated {
			t.Fatalf("%s partner: %d %s", cloud, st, b)
		}
		c := decode[creds](t, b)
		if got := s.state(c.TenantID)[0].Countries; !slices.Equal(got, want) {
			t.Errorf("%s partner sells in %v, want %v", cloud, got, want)
		}
	}
	st, b := s.admin(http.MethodPost, "/_sim/partners", map[string]any{"name": "g", "cloud": "global"})
	if st != http.StatusCreated {
		t.Fatal(st)
	}
	g := s.state(decode[creds](t, b).TenantID)[0].Countries
	for _, c := range []string{"US", "CA", "GB", "DE"} {
		if !slices.Contains(g, c) {
			t.Errorf("global partner does not sell in %s: %v", c, g)
		}
	}
	if slices.Contains(g, "CN") || slices.Contains(g, "RU") {
		t.Errorf("global partner sells in %v", g)
	}

	st, b = s.admin(http.MethodPost, "/_sim/partners", map[string]any{"name": "cn", "cloud": "china", "sandbox": true})
	if st != http.StatusCreated {
		t.Fatal(st)
	}
	cn := decode[creds](t, b)
	cn.Cloud = "china"
	tok := s.pcToken(cn)
	s.createCustomer(tok, customerBody("cnshop.partner.onmschina.cn", "CN"))
	code, _, b := s.do(http.MethodGet, "/v1/offers?country=CN", tok, nil, nil)
	if n := len(decode[struct {
		Items []any `json:"items"`
	}](t, b).Items); code != 200 || n != 4 {
		t.Fatalf("china offers in CN: %d, %d items", code, n)
	}
}
