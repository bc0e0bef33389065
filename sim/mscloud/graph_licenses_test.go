package mscloud

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func (tn *tenant) assign(user string, body any) (int, http.Header, []byte) {
	tn.s.t.Helper()
	return tn.g(http.MethodPost, "/v1.0/users/"+user+"/assignLicense", body)
}

func TestGraphAssignLicense(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	tn.buyOne(ciE3, 2)
	s.settings(map[string]any{"usage_location_lag_ms": 2000}) // the GET and the assign below fit in it on any machine
	e3, e5 := licE3.ID, licE5.ID

	// No usage location; then a PATCH that license assignment sees only after the lag.
	u1 := tn.createUser(tn.upn("u1"))
	code, hdr, b := tn.assign(u1.ID, assignBody([]string{e3}, nil))
	expectGraphErr(t, "no usage location", code, hdr, b, 400, "Request_BadRequest", msgInvalidUsageLoc)
	if code, _, b := tn.g(http.MethodPatch, "/v1.0/users/"+u1.ID, map[string]any{"usageLocation": "US"}); code != 204 {
		t.Fatalf("set usage location: %d %s", code, b)
	}
	if got := tn.getUser(u1.ID); got.UsageLocation == nil || *got.UsageLocation != "US" {
		t.Errorf("usage location not visible to GET at once: %+v", got)
	}
	code, hdr, b = tn.assign(u1.ID, assignBody([]string{e3}, nil))
	expectGraphErr(t, "inside the replication lag", code, hdr, b, 400, "Request_BadRequest", msgInvalidUsageLoc)
	time.Sleep(2050 * time.Millisecond)
	code, _, b = tn.assign(u1.ID, assignBody([]string{e3}, nil))
	got := decode[graphUserT](t, b)
	if code != 200 || len(got.AssignedLicenses) != 1 || got.AssignedLicenses[0].SkuID != e3 || got.Mail == nil || *got.Mail != u1.UserPrincipalName ||
		got.Context != s.url+"/v1.0/$metadata#users/$entity" || len(got.LicenseAssignmentStates) != 1 || got.LicenseAssignmentStates[0].State != "Active" {
		t.Fatalf("assign after the lag: %d %s", code, b)
	}
	// A usage location given at creation counts at once.
	u2 := tn.createUser(tn.upn("u2"), withProp("usageLocation", "US"))
	if code, _, b := tn.assign(u2.UserPrincipalName, assignBody([]string{e3}, nil)); code != 200 {
		t.Fatalf("assign to u2: %d %s", code, b)
	}
	// Two seats, both used: CountViolation.
	u3 := tn.createUser(tn.upn("u3"), withProp("usageLocation", "GB"))
	code, hdr, b = tn.assign(u3.ID, assignBody([]string{e3}, nil))
	expectGraphErr(t, "no seat left", code, hdr, b, 400, "Request_BadRequest", "Subscription with SKU "+e3+" does not have any available licenses.")
	if g := tn.getUser(u3.ID); len(g.AssignedLicenses) != 0 || len(g.LicenseAssignmentStates) != 1 ||
		g.LicenseAssignmentStates[0].Error != "CountViolation" || g.LicenseAssignmentStates[0].State != "Error" || g.LicenseAssignmentStates[0].SkuID != e3 {
		t.Errorf("CountViolation state: %+v", g)
	}
	withPlans := func(sku string, plans ...string) map[string]any {
		return map[string]any{"addLicenses": []any{map[string]any{"skuId": sku, "disabledPlans": plans}}, "removeLicenses": []string{}}
	}
	for _, tc := range []struct {
		name, user string
		body       any
		status     int
		code, msg  string
	}{
		{"SKU the tenant has not bought", u2.ID, assignBody([]string{e5}, nil), 400, "Request_BadRequest", "License " + e5 + " does not correspond to a valid company License."},
		{"made-up SKU", u2.ID, assignBody([]string{"00000000-1111-2222-3333-444444444444"}, nil), 400, "Request_BadRequest", "does not correspond to a valid company License."},
		{"removeLicenses missing", u2.ID, map[string]any{"addLicenses": []any{}}, 400, "Request_BadRequest", "The missing parameters are: removeLicenses."},
		{"both missing", u2.ID, map[string]any{}, 400, "Request_BadRequest", "The missing parameters are: addLicenses, removeLicenses."},
		{"plan not in the SKU", u2.ID, withPlans(e3, planPhoneSystem.ID), 400, "Request_BadRequest", "Service plan " + planPhoneSystem.ID + " is not part of license"},
		{"remove a license the user lacks", u3.ID, assignBody(nil, []string{e3}), 400, "Request_BadRequest", "User does not have a corresponding license."},
		{"add and remove the same", u2.ID, map[string]any{"addLicenses": []any{map[string]any{"skuId": e3}}, "removeLicenses": []string{e3}}, 400, "Request_BadRequest", "cannot be added and removed"},
		{"unknown user", newGUID(), assignBody([]string{e3}, nil), 404, "Request_ResourceNotFound", "does not exist"},
		{"not JSON", u2.ID, "[", 400, "BadRequest", "Unable to read JSON request payload."},
	} {
		code, hdr, b := tn.assign(tc.user, tc.body)
		expectGraphErr(t, tc.name, code, hdr, b, tc.status, tc.code, tc.msg)
	}
	// A licensed user keeps its usage location.
	code, hdr, b = tn.g(http.MethodPatch, "/v1.0/users/"+u2.ID, map[string]any{"usageLocation": nil})
	expectGraphErr(t, "clear usage location", code, hdr, b, 400, "Request_BadRequest", "Usage location cannot be removed")

	// Remove frees the seat; u3 gets it with a disabled plan and the violation clears.
	code, _, b = tn.assign(u2.ID, assignBody(nil, []string{strings.ToUpper(e3)}))
	if g := decode[graphUserT](t, b); code != 200 || len(g.AssignedLicenses) != 0 {
		t.Fatalf("remove: %d %s", code, b)
	}
	code, _, b = tn.assign(u3.ID, withPlans(e3, strings.ToUpper(planTeams.ID)))
	g := decode[graphUserT](t, b)
	if code != 200 || len(g.AssignedLicenses) != 1 || !slices.Equal(g.AssignedLicenses[0].DisabledPlans, []string{planTeams.ID}) ||
		len(g.LicenseAssignmentStates) != 1 || g.LicenseAssignmentStates[0].Error != "None" {
		t.Errorf("assign with a disabled plan: %d %s", code, b)
	}
	// Re-assigning a held SKU only updates its disabled plans (no seat needed).
	if code, _, b := tn.assign(u3.ID, withPlans(e3)); code != 200 || len(decode[graphUserT](t, b).AssignedLicenses[0].DisabledPlans) != 0 {
		t.Errorf("update disabled plans: %d %s", code, b)
	}
	st := s.graphState(tn.p.TenantID)
	licensed := map[string][]string{}
	for _, u := range st.Users {
		licensed[u.UserPrincipalName] = u.Licenses
	}
	if !slices.Equal(licensed[u1.UserPrincipalName], []string{e3}) || len(licensed[u2.UserPrincipalName]) != 0 || !slices.Equal(licensed[u3.UserPrincipalName], []string{e3}) {
		t.Errorf("state licenses: %v", licensed)
	}
	// Partner Center sees the same consumption.
	skus := decode[collT[subscribedSkuT]](t, must200(t, tn.shop, tn.cpath("/subscribedskus")))
	if len(skus.Items) != 1 || skus.Items[0].ConsumedUnits != 2 || skus.Items[0].AvailableUnits != 0 {
		t.Errorf("PC subscribedskus: %+v", skus.Items)
	}
}

func TestGraphAssignLicenseChinaRefused(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "china", "CN")
	tn.buyOne(offerCNE1, 3)
	u := tn.createUser(tn.upn("li"), withProp("usageLocation", "CN"))
	code, hdr, b := tn.assign(u.ID, assignBody([]string{licE1.ID}, nil))
	expectGraphErr(t, "china assignLicense", code, hdr, b, 403, "Authorization_RequestDenied", "21Vianet")
	// subscribedSkus is readable there.
	code, _, b = tn.g(http.MethodGet, "/v1.0/subscribedSkus", nil)
	if list := decode[graphListT[map[string]any]](t, b); code != 200 || len(list.Value) != 1 || list.Value[0]["consumedUnits"] != float64(0) {
		t.Errorf("china subscribedSkus: %d %s", code, b)
	}
}

type graphSkuT struct {
	ID               string `json:"id"`
	AccountID        string `json:"accountId"`
	SkuID            string `json:"skuId"`
	SkuPartNumber    string `json:"skuPartNumber"`
	AppliesTo        string `json:"appliesTo"`
	CapabilityStatus string `json:"capabilityStatus"`
	ConsumedUnits    int    `json:"consumedUnits"`
	PrepaidUnits     struct {
		Enabled   int `json:"enabled"`
		Suspended int `json:"suspended"`
		Warning   int `json:"warning"`
		LockedOut int `json:"lockedOut"`
	} `json:"prepaidUnits"`
	ServicePlans []struct {
		ServicePlanID      string `json:"servicePlanId"`
		ServicePlanName    string `json:"servicePlanName"`
		ProvisioningStatus string `json:"provisioningStatus"`
		AppliesTo          string `json:"appliesTo"`
	} `json:"servicePlans"`
	SubscriptionIDs []string `json:"subscriptionIds"`
}

func TestGraphSubscribedSkusFollowPartnerCenter(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	nce := tn.buyOne(ciE3, 5)
	legacy := tn.buyOne(offerE3, 3)
	basic := tn.buyOne(ciBasic, 2)
	cancelled := tn.buyOne(ciPremium, 7)
	tn.patch(legacy, setStatus("suspended"))
	tn.patch(basic, setStatus("suspended"))
	tn.patch(cancelled, setStatus("deleted"))
	var users []string
	for _, n := range []string{"a", "b"} {
		u := tn.createUser(tn.upn(n), withProp("usageLocation", "US"))
		if code, _, b := tn.assign(u.ID, assignBody([]string{licE3.ID}, nil)); code != 200 {
			t.Fatalf("assign: %d %s", code, b)
		}
		users = append(users, u.ID)
	}
	check := func(when string, consumed int) {
		t.Helper()
		code, _, b := tn.g(http.MethodGet, "/v1.0/subscribedSkus", nil)
		list := decode[graphListT[graphSkuT]](t, b)
		if code != 200 || len(list.Value) != 2 || list.Context != s.url+"/v1.0/$metadata#subscribedSkus" {
			t.Fatalf("%s: %d %s", when, code, b)
		}
		want := []struct {
			sku, pn, status              string
			enabled, suspended, consumed int
			subs                         []string
		}{
			{licE3.ID, "ENTERPRISEPACK", "Enabled", 5, 3, consumed, []string{nce, legacy}},
			{licBusinessBasic.ID, "O365_BUSINESS_ESSENTIALS", "Suspended", 0, 2, 0, []string{basic}},
		}
		for i, w := range want {
			g := list.Value[i]
			if g.ID != tn.cid+"_"+w.sku || g.SkuID != w.sku || g.SkuPartNumber != w.pn || g.AppliesTo != "User" || g.CapabilityStatus != w.status ||
				g.ConsumedUnits != w.consumed || g.PrepaidUnits.Enabled != w.enabled || g.PrepaidUnits.Suspended != w.suspended ||
				g.PrepaidUnits.Warning != 0 || g.PrepaidUnits.LockedOut != 0 || g.AccountID != tn.cid || !slices.Equal(g.SubscriptionIDs, w.subs) {
				t.Errorf("%s: sku %d: %+v", when, i, g)
			}
		}
		if p := list.Value[0].ServicePlans[0]; p.ServicePlanID != planExchange2.ID || p.ServicePlanName != "EXCHANGE_S_ENTERPRISE" ||
			p.ProvisioningStatus != "Success" || p.AppliesTo != "User" || len(list.Value[0].ServicePlans) != len(licE3.Plans) {
			t.Errorf("%s: service plans %+v", when, list.Value[0].ServicePlans)
		}
		pc := decode[collT[subscribedSkuT]](t, must200(t, tn.shop, tn.cpath("/subscribedskus")))
		for i, g := range list.Value {
			p := pc.Items[i]
			if p.ProductSku.ID != g.SkuID || p.ConsumedUnits != g.ConsumedUnits || p.ActiveUnits != g.PrepaidUnits.Enabled ||
				p.SuspendedUnits != g.PrepaidUnits.Suspended || p.AvailableUnits != g.PrepaidUnits.Enabled-g.ConsumedUnits || p.CapabilityStatus != g.CapabilityStatus {
				t.Errorf("%s: PC %+v vs Graph %+v", when, p, g)
			}
		}
	}
	check("two users licensed", 2)
	code, _, b := tn.g(http.MethodGet, "/v1.0/subscribedSkus/"+tn.cid+"_"+licE3.ID, nil)
	if one := decode[graphSkuT](t, b); code != 200 || one.SkuID != licE3.ID || one.ConsumedUnits != 2 {
		t.Errorf("get one: %d %s", code, b)
	}
	code, hdr, b := tn.g(http.MethodGet, "/v1.0/subscribedSkus/"+tn.cid+"_"+licE5.ID, nil)
	expectGraphErr(t, "unknown subscribedSku", code, hdr, b, 404, "Request_ResourceNotFound", "does not exist")
	if code, _, b := tn.g(http.MethodDelete, "/v1.0/users/"+users[0], nil); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	check("one licensed user deleted", 1)

	// Seats of a pending order are not there yet.
	s.settings(map[string]any{"order_completion_seconds": 60})
	tn.buyOne(ciE5, 1)
	u := tn.createUser(tn.upn("c"), withProp("usageLocation", "US"))
	code, hdr, b = tn.assign(u.ID, assignBody([]string{licE5.ID}, nil))
	expectGraphErr(t, "pending subscription", code, hdr, b, 400, "Request_BadRequest", "does not correspond to a valid company License.")
	s.advance("61s")
	if code, _, b := tn.assign(u.ID, assignBody([]string{licE5.ID}, nil)); code != 200 {
		t.Errorf("after the order completed: %d %s", code, b)
	}
}

// TestGraphLicenseTransferMovesUsers: an upgrade with license transfer
// moves the users' licenses to the target SKU.
func TestGraphLicenseTransferMovesUsers(t *testing.T) {
	s := newCommerceSim(t)
	tn := newTenant(t, s, "global", "US")
	e1 := tn.buyOne(offerE1, 6)
	var ids []string
	for _, n := range []string{"x", "y"} {
		u := tn.createUser(tn.upn(n), withProp("usageLocation", "US"))
		if code, _, b := tn.assign(u.ID, assignBody([]string{licE1.ID}, nil)); code != 200 {
			t.Fatalf("assign: %d %s", code, b)
		}
		ids = append(ids, u.ID)
	}
	code, _, b := tn.call(http.MethodPost, tn.cpath("/subscriptions/"+e1+"/upgrades"), map[string]any{
		"targetOffer": map[string]any{"id": offerE3}, "upgradeType": "upgrade_with_license_transfer", "quantity": 6,
	}, nil)
	if code != 200 {
		t.Fatalf("upgrade: %d %s", code, b)
	}
	for _, id := range ids {
		if g := tn.getUser(id); len(g.AssignedLicenses) != 1 || g.AssignedLicenses[0].SkuID != licE3.ID {
			t.Errorf("user %s after the transfer: %+v", id, g.AssignedLicenses)
		}
	}
	consumed := map[string]int{}
	for _, k := range decode[collT[subscribedSkuT]](t, must200(t, tn.shop, tn.cpath("/subscribedskus"))).Items {
		consumed[k.ProductSku.SkuPartNumber] = k.ConsumedUnits
	}
	if consumed["STANDARDPACK"] != 0 || consumed["ENTERPRISEPACK"] != 2 {
		t.Errorf("consumption after the transfer: %v", consumed)
	}
}
