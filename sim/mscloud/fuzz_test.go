package mscloud

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzRequest sends arbitrary requests (method, request target, extra
// header lines, body) to the login, Partner Center and Graph endpoints of
// a fresh simulator with a partner and a customer (newFuzzSim): the request
// parsers (JSON bodies, OData and Partner Center queries, the token
// endpoint's form).
// Whatever the request: no panic and no 5xx (no fault is injected). flags
// bit 0 leaves out the bearer token the path's API needs. In the target,
// headers and body, $PARTNER, $CLIENT, $SECRET, $CUSTOMER, $DOMAIN and
// $SUBSCRIPTION stand for the partner's tenant id, client id and secret,
// and the customer's id, initial domain and subscription id; $PGRAPH is
// a Graph token of the partner tenant and $GDAP a GDAP relationship id.
func FuzzRequest(f *testing.F) {
	customer := `{"companyProfile":{"domain":"fuzz2.onmicrosoft.com"},"billingProfile":{"email":"a@contoso.example","culture":"en-US","language":"en","companyName":"Contoso",` +
		`"defaultAddress":{"firstName":"Ann","lastName":"Lee","phoneNumber":"4255550100","addressLine1":"1 Microsoft Way","city":"Redmond","state":"WA","postalCode":"98052","country":"US"}}}`
	user := `{"accountEnabled":true,"displayName":"Ann","mailNickname":"ann","userPrincipalName":"ann@$DOMAIN","usageLocation":"US","passwordProfile":{"password":"Str0ng!Passw0rd","forceChangePasswordNextSignIn":true},"jobTitle":["x"]}`
	form := "Content-Type: application/x-www-form-urlencoded"
	for _, s := range []struct {
		method, target, headers, body string
		flags                         byte
	}{
		{"POST", "/$PARTNER/oauth2/v2.0/token", form, "grant_type=client_credentials&client_id=$CLIENT&client_secret=$SECRET&scope=https%3A%2F%2Fapi.partnercenter.microsoft.com%2F.default", 1},
		{"POST", "/$CUSTOMER/oauth2/v2.0/token", form, "grant_type=refresh_token&client_id=$CLIENT&refresh_token=x&scope=https://graph.microsoft.com/user_impersonation+openid", 1},
		{"POST", "/$DOMAIN/oauth2/v2.0/token", form + "\nAuthorization: Basic JENMSUVOVDokU0VDUkVU", "grant_type=client_credentials&scope=%zz", 1},
		{"GET", "/$PARTNER/v2.0/.well-known/openid-configuration", "", "", 1},
		{"GET", "/common/discovery/instance?api-version=1.1", "", "", 1},
		{"POST", "/v1/customers", "MS-RequestId: 6f0c1a52-0000-4000-8000-000000000001", customer, 0},
		{"GET", "/v1/customers?size=2&filter=%7B%22Field%22%3A%22Domain%22%2C%22Value%22%3A%22fuzz%22%2C%22Operator%22%3A%22starts_with%22%7D", "", "", 0},
		{"GET", "/v1/customers?size=2&seekOperation=Next", "MS-ContinuationToken: eyJvIjoxLCJzIjoyfQ", "", 0},
		{"GET", "/v1/customers/$CUSTOMER/subscriptions", "", "", 0},
		{"PUT", "/v1/customers/$CUSTOMER/profiles/billing", "If-Match: \"x\"", `{"defaultAddress":{"country":"US"},"attributes":{"etag":"x"}}`, 0},
		{"POST", "/v1/customers/$CUSTOMER/orders", "", `{"billingCycle":"monthly","lineItems":[{"lineItemNumber":0,"offerId":"91FD106F-4B2C-4938-95AC-F54F74E9A239","quantity":5}]}`, 0},
		{"POST", "/v1/customers/$CUSTOMER/carts", "", `{"lineItems":[{"id":0,"catalogItemId":"CFQ7TTC0LH18:0001:CFQ7TTC0LH18","quantity":1,"termDuration":"P1M","billingCycle":"Monthly"}]}`, 0},
		{"POST", "/v1/customers/$CUSTOMER/agreements", "", `{"primaryContact":{"firstName":"Ann","lastName":"Lee","email":"a@contoso.example"},"templateId":"117a77b0-9360-443b-8795-c6dedc750cf9","dateAgreed":"2026-11-20","type":"MicrosoftCustomerAgreement"}`, 0},
		{"POST", "/v1/validations/address", "", `{"AddressLine1":"1 Microsoft Way","City":"Redmond","State":"WA","PostalCode":"98052","Country":"US"}`, 0},
		{"GET", "/v1/countryvalidationrules/US", "", "", 0},
		{"GET", "/v1/offers?country=US", "", "", 0},
		{"GET", "/v1/products?country=US&targetView=OnlineServices", "", "", 0},
		{"HEAD", "/v1/domains/$DOMAIN", "", "", 0},
		{"PATCH", "/v1/customers/$CUSTOMER/subscriptions/$SUBSCRIPTION", "", `{"id":"$SUBSCRIPTION","quantity":7,"status":"active","autoRenewEnabled":true}`, 0},
		{"PATCH", "/v1/customers/$CUSTOMER/subscriptions/x", "", `{"quantity":-1}`, 0},
		{"GET", "/v1/customers/$CUSTOMER/subscriptions/$SUBSCRIPTION/upgrades", "", "", 0},
		{"GET", "/v1/customers/$CUSTOMER/subscriptions/$SUBSCRIPTION/transitionEligibilities?eligibilityType=immediate", "", "", 0},
		{"POST", "/v1/customers/$CUSTOMER/subscriptions/$SUBSCRIPTION/upgrades", "", `{"targetOffer":{"id":"796B6B5F-613C-4E24-A17C-EBA730D49C02"},"upgradeType":"upgrade_only","quantity":5}`, 0},
		{"POST", "/v1.0/users", "Content-Type: application/json", user, 0},
		{"GET", "/v1.0/users?$top=1&$select=id,userPrincipalName&$filter=userPrincipalName%20eq%20'ann@$DOMAIN'", "", "", 0},
		{"GET", "/v1.0/users?$skiptoken=c2ltLXVzZXJzOjE&$top=999", "", "", 0},
		{"PATCH", "/v1.0/users/ann@$DOMAIN", "", `{"usageLocation":"DE","passwordProfile":{"password":"An0ther!Passw0rd"}}`, 0},
		{"POST", "/v1.0/users/ann@$DOMAIN/assignLicense", "", `{"addLicenses":[{"skuId":"18181a46-0d4e-45cd-891e-60aabd171b4e","disabledPlans":[]}],"removeLicenses":[]}`, 0},
		{"POST", "/v1.0/domains", "", `{"id":"contoso.example"}`, 0},
		{"POST", "/v1.0/domains/contoso.example/verify", "", ``, 0},
		{"GET", "/v1.0/domains/contoso.example/verificationDnsRecords", "", "", 0},
		{"GET", "/v1.0/subscribedSkus", "", "", 0},
		{"DELETE", "/v1.0/users/ann@$DOMAIN", "", "", 0},
		{"GET", "/v1/customers", "Authorization: Bearer nope", "", 1},
		{"POST", "/v1.0/tenantRelationships/delegatedAdminRelationships", "Authorization: Bearer $PGRAPH", `{"displayName":"F","duration":"P1Y2W3D","customer":{"tenantId":"$CUSTOMER"},"accessDetails":{"unifiedRoles":[{"roleDefinitionId":"fe930be7-5e62-47db-91af-98c3a49a38b1"}]},"autoExtendDuration":"P180D"}`, 1},
		{"PATCH", "/v1.0/tenantRelationships/delegatedAdminRelationships/$GDAP", "Authorization: Bearer $PGRAPH\nIf-Match: *", `{"accessDetails":{"unifiedRoles":[{}]},"customer":null}`, 1},
		{"POST", "/v1.0/tenantRelationships/delegatedAdminRelationships/$GDAP/requests", "Authorization: Bearer $PGRAPH", `{"action":"lockForApproval"}`, 1},
		{"GET", "/v1.0/tenantRelationships/delegatedAdminRelationships?$filter=customer/tenantId%20eq%20'$CUSTOMER'", "Authorization: Bearer $PGRAPH", "", 1},
		{"GET", "/v1.0/applications?$filter=appId%20eq%20'$CLIENT'&$select=id,passwordCredentials", "Authorization: Bearer $PGRAPH", "", 1},
	} {
		f.Add(s.method, s.target, s.headers, []byte(s.body), s.flags)
	}
	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte, flags byte) {
		if path, _, _ := strings.Cut(target, "?"); apiOf(path) == apiAdmin {
			return // FuzzAdmin; an admin call could inject faults
		}
		fz := newFuzzSim(t)
		r, ok := fz.request(method, target, headers, body, flags&1 == 0)
		if !ok {
			return
		}
		w := httptest.NewRecorder()
		fz.srv.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s: status %d: %s", method, target, w.Code, w.Body)
		}
	})
}

// FuzzAdmin sends arbitrary requests to the admin API of a fresh simulator
// each time: no panic and no 5xx.
func FuzzAdmin(f *testing.F) {
	for _, s := range []struct{ method, target, body string }{
		{"POST", "/_sim/partners", `{"name":"P","cloud":"global","countries":["US","DE"],"sandbox":true}`},
		{"POST", "/_sim/partners/$PARTNER/customers", `{"domain":"fuzz3","company_name":"Fabrikam","country":"de"}`},
		{"POST", "/_sim/faults", `{"api":"graph","method":"POST","path":"/v1.0/users","mode":"delay","delay_ms":1,"count":1}`},
		{"POST", "/_sim/faults", `{"api":"partnercenter","mode":"error","status":700,"retry_after_seconds":-1}`},
		{"DELETE", "/_sim/faults/f1", ``},
		{"POST", "/_sim/settings", `{"throttle_partner_rps":-1,"graph_write_limit":0,"graph_ru_scale":1e308,"token_lifetime_seconds":-5}`},
		{"POST", "/_sim/clock", `{"advance":"2562047h"}`},
		{"POST", "/_sim/dns", `{"domain":"contoso.example","txt":"MS=ms1"}`},
		{"POST", "/_sim/customers/$CUSTOMER/users", `{"user_principal_name":"bob@$DOMAIN","display_name":"Bob"}`},
		{"POST", "/_sim/gdap/$GDAP/approve", ``},
		{"POST", "/_sim/partners/$PARTNER/secrets", `{"expires_in":"1h","display_name":"x"}`},
		{"GET", "/_sim/state", ``},
		{"GET", "/_sim/", ``},
		{"PUT", "/_sim/faults", `{}`},
	} {
		f.Add(s.method, s.target, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		fz := newFuzzSim(t)
		r, ok := fz.request(method, target, "Content-Type: application/json", body, false)
		if !ok {
			return
		}
		w := httptest.NewRecorder()
		fz.srv.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s: status %d: %s", method, target, w.Code, w.Body)
		}
	})
}

// fuzzSim is a fresh simulator with one partner (global cloud,
// unthrottled) and one customer that has accepted the MCA, bought 5 seats
// of Office 365 E1 and has a user ann besides its admin, a GDAP
// relationship (created) with that customer; and tokens for both APIs.
type fuzzSim struct {
	srv          *Server
	placeholders *strings.Replacer
	pcToken      string
	graphToken   string
}

func newFuzzSim(tb testing.TB) *fuzzSim {
	tb.Helper()
	s := New(Options{PartnerRPS: -1, CustomerRPS: -1})
	call := func(method, target, token, contentType, body string) map[string]any {
		r := httptest.NewRequest(method, "https://sim.test"+target, strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		var out map[string]any
		if w.Code >= 300 || json.Unmarshal(w.Body.Bytes(), &out) != nil {
			tb.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
		return out
	}
	get := func(v any, path ...any) string {
		for _, k := range path {
			switch k := k.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[k]
			case int:
				l, _ := v.([]any)
				if k >= len(l) {
					return ""
				}
				v = l[k]
			}
		}
		str, _ := v.(string)
		return str
	}
	const jsonType = "application/json"
	p := call("POST", "/_sim/partners", "", jsonType, `{"name":"Fuzz","cloud":"global","countries":["US","DE"]}`)
	partner, client, secret := get(p, "tenant_id"), get(p, "client_id"), get(p, "client_secret")
	call("POST", "/_sim/settings", "", jsonType, `{"graph_write_limit":1000000,"graph_write_window_seconds":1,"graph_ru_scale":1000}`)
	cu := call("POST", "/_sim/partners/"+partner+"/customers", "", jsonType, `{"domain":"fuzz1","company_name":"Fuzz","country":"US"}`)
	customer, domain := get(cu, "id"), get(cu, "companyProfile", "domain")
	token := func(tenant, scope string) string {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}, "scope": {scope}}
		return get(call("POST", "/"+tenant+"/oauth2/v2.0/token", "", "application/x-www-form-urlencoded", form.Encode()), "access_token")
	}
	global := cloudProfiles["global"]
	fz := &fuzzSim{srv: s, pcToken: token(partner, global.PartnerCenterAudience+"/.default"), graphToken: token(customer, global.GraphAudience+"/.default")}
	call("POST", "/v1/customers/"+customer+"/agreements", fz.pcToken, jsonType, `{"primaryContact":{"firstName":"Ann","lastName":"Lee","email":"a@contoso.example"},`+
		`"templateId":"`+mcaTemplateID+`","dateAgreed":"2026-11-20","type":"MicrosoftCustomerAgreement"}`)
	order := call("POST", "/v1/customers/"+customer+"/orders", fz.pcToken, jsonType,
		`{"billingCycle":"monthly","lineItems":[{"lineItemNumber":0,"offerId":"`+offerE1+`","quantity":5}]}`)
	call("POST", "/v1.0/users", fz.graphToken, jsonType, `{"accountEnabled":true,"displayName":"Ann","mailNickname":"ann","userPrincipalName":"ann@`+domain+
		`","usageLocation":"US","passwordProfile":{"password":"Str0ng!Passw0rd"}}`)
	pgraph := token(partner, global.GraphAudience+"/.default")
	rel := call("POST", "/v1.0/tenantRelationships/delegatedAdminRelationships", pgraph, jsonType, `{"displayName":"Fuzz","duration":"P730D",`+
		`"customer":{"tenantId":"`+customer+`"},"accessDetails":{"unifiedRoles":[{"roleDefinitionId":"`+roleUserAdministrator+`"}]}}`)
	fz.placeholders = strings.NewReplacer("$PARTNER", partner, "$CLIENT", client, "$SECRET", secret, "$CUSTOMER", customer,
		"$DOMAIN", domain, "$SUBSCRIPTION", get(order, "lineItems", 0, "subscriptionId"), "$PGRAPH", pgraph, "$GDAP", get(rel, "id"))
	return fz
}

// request builds the request net/http's server would read from the wire,
// with the bearer token of the path's API when withToken is set.
func (fz *fuzzSim) request(method, target, headers string, body []byte, withToken bool) (*http.Request, bool) {
	target = fz.placeholders.Replace(target)
	headers = fz.placeholders.Replace(headers)
	body = []byte(fz.placeholders.Replace(string(body)))
	var raw bytes.Buffer
	raw.WriteString(method + " " + target + " HTTP/1.1\r\nHost: sim.test\r\n")
	if withToken {
		path, _, _ := strings.Cut(target, "?")
		switch apiOf(path) {
		case apiPartnerCenter:
			raw.WriteString("Authorization: Bearer " + fz.pcToken + "\r\n")
		case apiGraph:
			raw.WriteString("Authorization: Bearer " + fz.graphToken + "\r\n")
		}
	}
	for _, line := range strings.Split(headers, "\n") {
		if line = strings.TrimRight(line, "\r"); line != "" {
			raw.WriteString(line + "\r\n")
		}
	}
	raw.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	raw.Write(body)
	r, err := http.ReadRequest(bufio.NewReader(&raw))
	if err != nil || r.Header.Get("Transfer-Encoding") != "" {
		return nil, false
	}
	r.RemoteAddr = "192.0.2.1:40000"
	return r, true
}
