package mscloud

import (
	"net/http"
	"testing"
)

type upgradeT struct {
	TargetOffer struct {
		ID string `json:"id"`
	} `json:"targetOffer"`
	UpgradeType   string `json:"upgradeType"`
	IsEligible    bool   `json:"isEligible"`
	Quantity      int    `json:"quantity"`
	UpgradeErrors []struct {
		Code string `json:"code"`
	} `json:"upgradeErrors"`
}

func TestLegacyUpgrades(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	e1 := sh.buyOne(offerE1, 6)
	archive := sh.buy("monthly", line(offerArchive, 6, "parentSubscriptionId", e1)).LineItems[0].SubscriptionID
	s.srv.pc.mu.Lock()
	s.srv.pc.setAssignedUnits(s.srv.pc.customers[sh.cid], licE1.ID, 4)
	s.srv.pc.mu.Unlock()

	code, _, b := sh.call(http.MethodGet, sh.cpath("/subscriptions/"+e1+"/upgrades"), nil, nil)
	ups := decode[collT[upgradeT]](t, b)
	if code != 200 || ups.TotalCount != 1 || ups.Items[0].TargetOffer.ID != offerE3 || !ups.Items[0].IsEligible ||
		ups.Items[0].UpgradeType != "upgrade_with_license_transfer" || ups.Items[0].Quantity != 6 || len(ups.Items[0].UpgradeErrors) != 0 {
		t.Fatalf("upgrades: %d %s", code, b)
	}
	for _, tc := range []struct {
		name             string
		body             any
		status, wantCode int
	}{
		{"skip a level", map[string]any{"targetOffer": map[string]any{"id": offerE5}, "upgradeType": "upgrade_only"}, 400, codeUpgradeNotEligible},
		{"downgrade", map[string]any{"targetOffer": map[string]any{"id": offerE1}}, 400, codeUpgradeNotEligible},
		{"no target", map[string]any{"upgradeType": "upgrade_only"}, 400, codeInvalidInput},
		{"bad type", map[string]any{"targetOffer": map[string]any{"id": offerE3}, "upgradeType": "sideways"}, 400, codeInvalidInput},
		{"quantity above max", map[string]any{"targetOffer": map[string]any{"id": offerE3}, "quantity": 10001}, 400, codeQuantityRange},
	} {
		code, _, b := sh.call(http.MethodPost, sh.cpath("/subscriptions/"+e1+"/upgrades"), tc.body, nil)
		expectErr(t, tc.name, code, b, tc.status, tc.wantCode)
	}

	code, _, b = sh.call(http.MethodPost, sh.cpath("/subscriptions/"+e1+"/upgrades"), map[string]any{
		"targetOffer": map[string]any{"id": offerE3}, "upgradeType": "upgrade_with_license_transfer", "quantity": 6,
	}, nil)
	res := decode[map[string]any](t, b)
	target, _ := res["targetSubscriptionId"].(string)
	if code != 200 || res["sourceSubscriptionId"] != e1 || target == "" || res["upgradeType"] != "upgrade_with_license_transfer" ||
		len(res["upgradeErrors"].([]any)) != 0 || res["attributes"].(map[string]any)["objectType"] != "UpgradeResult" {
		t.Fatalf("upgrade: %d %s", code, b)
	}
	src, tgt := sh.sub(e1), sh.sub(target)
	if src.Status != "suspended" || tgt.Status != "active" || tgt.OfferID != offerE3 || tgt.Quantity != 6 || tgt.BillingCycle != "monthly" || tgt.OrderID == "" {
		t.Errorf("after upgrade: source %+v target %+v", src, tgt)
	}
	if a := sh.sub(archive); a.ParentSubscriptionID != target || a.Status != "active" {
		t.Errorf("add-on did not follow: %+v", a)
	}
	// The assigned licenses moved from E1 to E3.
	skus := decode[collT[subscribedSkuT]](t, must200(t, sh, sh.cpath("/subscribedskus")))
	consumed := map[string]int{}
	for _, k := range skus.Items {
		consumed[k.ProductSku.SkuPartNumber] = k.ConsumedUnits
	}
	if consumed["STANDARDPACK"] != 0 || consumed["ENTERPRISEPACK"] != 4 {
		t.Errorf("license transfer: %+v", consumed)
	}
	// The suspended source is not eligible any more; E3 → E5 is blocked by the archive add-on (E5 is not its parent).
	ups = decode[collT[upgradeT]](t, must200(t, sh, sh.cpath("/subscriptions/"+e1+"/upgrades")))
	if ups.Items[0].IsEligible || ups.Items[0].UpgradeErrors[0].Code != "subscription_status_not_active" {
		t.Errorf("suspended source: %+v", ups)
	}
	ups = decode[collT[upgradeT]](t, must200(t, sh, sh.cpath("/subscriptions/"+target+"/upgrades")))
	if ups.TotalCount != 1 || ups.Items[0].TargetOffer.ID != offerE5 || ups.Items[0].IsEligible || ups.Items[0].UpgradeErrors[0].Code != "subscription_addons_present" {
		t.Errorf("E3 with add-on: %+v", ups)
	}
	code, _, b = sh.call(http.MethodPost, sh.cpath("/subscriptions/"+target+"/upgrades"), map[string]any{"targetOffer": map[string]any{"id": offerE5}}, nil)
	expectErr(t, "add-on blocks", code, b, 400, codeUpgradeNotEligible)
	// E5 is the top; a new-commerce subscription has no legacy upgrades.
	e5 := sh.buyOne(offerE5, 1)
	if l := decode[collT[upgradeT]](t, must200(t, sh, sh.cpath("/subscriptions/"+e5+"/upgrades"))); l.TotalCount != 0 {
		t.Errorf("E5 upgrades: %+v", l)
	}
	nce := sh.buyOne(ciE1, 1)
	if l := decode[collT[upgradeT]](t, must200(t, sh, sh.cpath("/subscriptions/"+nce+"/upgrades"))); l.TotalCount != 0 {
		t.Errorf("NCE upgrades: %+v", l)
	}
	code, _, b = sh.call(http.MethodPost, sh.cpath("/subscriptions/"+nce+"/upgrades"), map[string]any{"targetOffer": map[string]any{"id": offerE3}}, nil)
	expectErr(t, "NCE through upgrades", code, b, 400, codeUpgradeNotEligible)

	// Business Basic → Standard, upgrade_only keeps the licenses where they are.
	basic := sh.buyOne(offerBusinessBasic, 2, "cycle", "annual")
	code, _, b = sh.call(http.MethodPost, sh.cpath("/subscriptions/"+basic+"/upgrades"), map[string]any{"targetOffer": map[string]any{"id": offerBusinessStd}, "upgradeType": "upgrade_only"}, nil)
	if code != 200 {
		t.Fatalf("basic upgrade: %d %s", code, b)
	}
	if std := sh.sub(decode[map[string]any](t, b)["targetSubscriptionId"].(string)); std.OfferID != offerBusinessStd || std.Quantity != 2 || std.BillingCycle != "annual" || std.TermDuration != "P1Y" {
		t.Errorf("standard: %+v", std)
	}
}

type eligibilityT struct {
	CatalogItemID string `json:"catalogItemId"`
	Title         string `json:"title"`
	Eligibilities []struct {
		IsEligible     bool   `json:"isEligible"`
		TransitionType string `json:"transitionType"`
		Errors         []any  `json:"errors"`
	} `json:"eligibilities"`
}

type transitionT struct {
	ID                 string `json:"id"`
	FromCatalogItemID  string `json:"fromCatalogItemId"`
	ToCatalogItemID    string `json:"toCatalogItemId"`
	FromSubscriptionID string `json:"fromSubscriptionId"`
	ToSubscriptionID   string `json:"toSubscriptionId"`
	Quantity           int    `json:"quantity"`
	TermDuration       string `json:"termDuration"`
	BillingCycle       string `json:"billingCycle"`
	TransitionType     string `json:"transitionType"`
	Status             string `json:"status"`
}

func TestNCETransitions(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	basic := sh.buyOne(ciBasic, 10)
	s.srv.pc.mu.Lock()
	s.srv.pc.setAssignedUnits(s.srv.pc.customers[sh.cid], licBusinessBasic.ID, 7)
	s.srv.pc.mu.Unlock()

	code, _, b := sh.call(http.MethodGet, sh.cpath("/subscriptions/"+basic+"/transitionEligibilities?eligibilityType=immediate"), nil, nil)
	el := decode[collT[eligibilityT]](t, b)
	if code != 200 || el.TotalCount != 2 || el.Items[0].CatalogItemID != ciStandard || el.Items[1].CatalogItemID != ciPremium ||
		el.Items[0].Title != "Microsoft 365 Business Standard" || len(el.Items[0].Eligibilities) != 2 || !el.Items[0].Eligibilities[0].IsEligible ||
		el.Items[0].Eligibilities[0].TransitionType != "transition_only" || el.Items[0].Eligibilities[1].TransitionType != "transition_with_license_transfer" {
		t.Fatalf("eligibilities: %d %s", code, b)
	}
	if l := decode[collT[eligibilityT]](t, must200(t, sh, sh.cpath("/subscriptions/"+basic+"/transitionEligibilities?eligibilityType=scheduled"))); l.TotalCount != 0 {
		t.Errorf("scheduled: %+v", l)
	}
	code, _, b = sh.call(http.MethodGet, sh.cpath("/subscriptions/"+basic+"/transitionEligibilities?eligibilityType=someday"), nil, nil)
	expectErr(t, "bad eligibilityType", code, b, 400, codeInvalidInput)

	tr := func(q int, to string, extra ...any) map[string]any {
		m := map[string]any{"fromCatalogItemId": ciBasic, "fromSubscriptionId": basic, "toCatalogItemId": to, "quantity": q,
			"termDuration": "P1M", "billingCycle": "monthly", "transitionType": "transition_with_license_transfer"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name             string
		body             any
		status, wantCode int
	}{
		{"downgrade target", tr(1, ciE1), 400, codeTransitionNotEligible},
		{"unknown target", tr(1, "CFQ7TTC0ZZZZ:0001:CFQ7TTC0K971"), 404, codeProductNotFound},
		{"more than the source", tr(11, ciStandard), 400, codeQuantityRange},
		{"zero", tr(0, ciStandard), 400, codeQuantityRange},
		{"bad type", tr(1, ciStandard, "transitionType", "upgrade"), 400, codeInvalidInput},
		{"other source", tr(1, ciStandard, "fromSubscriptionId", newGUID()), 400, codeInvalidInput},
		{"wrong from item", tr(1, ciStandard, "fromCatalogItemId", ciE1), 400, codeInvalidInput},
		{"missing quantity", map[string]any{"toCatalogItemId": ciStandard, "transitionType": "transition_only"}, 400, codeInvalidInput},
		{"unsupported term", tr(1, ciStandard, "termDuration", "P3Y"), 400, codeTermNotSupported},
		{"bad toSubscription", tr(1, ciStandard, "toSubscriptionId", basic), 400, codeTransitionNotEligible},
	} {
		code, _, b := sh.call(http.MethodPost, sh.cpath("/subscriptions/"+basic+"/transitions"), tc.body, nil)
		expectErr(t, tc.name, code, b, tc.status, tc.wantCode)
	}

	// Partial: 4 seats to Standard; the source keeps 6.
	code, _, b = sh.call(http.MethodPost, sh.cpath("/subscriptions/"+basic+"/transitions"), tr(4, ciStandard), nil)
	t1 := decode[transitionT](t, b)
	if code != http.StatusCreated || t1.Status != "completed" || t1.FromSubscriptionID != basic || t1.ToSubscriptionID == "" ||
		t1.FromCatalogItemID != ciBasic || t1.ToCatalogItemID != ciStandard || t1.Quantity != 4 || t1.TransitionType != "transition_with_license_transfer" {
		t.Fatalf("partial transition: %d %s", code, b)
	}
	src, std := sh.sub(basic), sh.sub(t1.ToSubscriptionID)
	if src.Status != "active" || src.Quantity != 6 || src.RefundableQuantity.TotalQuantity != 6 ||
		std.OfferID != "CFQ7TTC0LDPB:0001" || std.Quantity != 4 || std.Status != "active" || std.CommitmentEndDate != src.CommitmentEndDate {
		t.Errorf("after partial: source %+v target %+v", src, std)
	}
	// The rest joins the same Standard subscription (toSubscriptionId): a full transition expires the source.
	code, _, b = sh.call(http.MethodPost, sh.cpath("/subscriptions/"+basic+"/transitions"), tr(6, ciStandard, "toSubscriptionId", t1.ToSubscriptionID, "transitionType", "transition_only"), nil)
	t2 := decode[transitionT](t, b)
	if code != http.StatusCreated || t2.ToSubscriptionID != t1.ToSubscriptionID {
		t.Fatalf("full transition: %d %s", code, b)
	}
	if src, std = sh.sub(basic), sh.sub(t1.ToSubscriptionID); src.Status != "expired" || std.Quantity != 10 {
		t.Errorf("after full: source %+v target %+v", src, std)
	}
	code, _, b = sh.call(http.MethodPost, sh.cpath("/subscriptions/"+basic+"/transitions"), tr(1, ciStandard), nil)
	expectErr(t, "expired source", code, b, 400, codeTransitionNotEligible)
	// 4 licenses moved with the license transfer, 3 stayed (transition_only).
	consumed := map[string]int{}
	for _, k := range decode[collT[subscribedSkuT]](t, must200(t, sh, sh.cpath("/subscribedskus"))).Items {
		consumed[k.ProductSku.SkuPartNumber] = k.ConsumedUnits
	}
	if consumed["O365_BUSINESS_ESSENTIALS"] != 3 || consumed["O365_BUSINESS_PREMIUM"] != 4 {
		t.Errorf("license transfer: %+v", consumed)
	}
	list := decode[collT[transitionT]](t, must200(t, sh, sh.cpath("/subscriptions/"+basic+"/transitions")))
	if list.TotalCount != 2 || list.Items[0].ID != t1.ID || list.Items[1].ID != t2.ID {
		t.Errorf("transitions of source: %+v", list)
	}
	if l := decode[collT[transitionT]](t, must200(t, sh, sh.cpath("/subscriptions/"+t1.ToSubscriptionID+"/transitions"))); l.TotalCount != 2 {
		t.Errorf("transitions of target: %+v", l)
	}
	// Standard → Premium only; a legacy subscription has no transitions here.
	if l := decode[collT[eligibilityT]](t, must200(t, sh, sh.cpath("/subscriptions/"+t1.ToSubscriptionID+"/transitionEligibilities"))); l.TotalCount != 1 || l.Items[0].CatalogItemID != ciPremium {
		t.Errorf("standard eligibilities: %+v", l)
	}
	leg := sh.buyOne(offerE1, 1)
	if l := decode[collT[eligibilityT]](t, must200(t, sh, sh.cpath("/subscriptions/"+leg+"/transitionEligibilities"))); l.TotalCount != 0 {
		t.Errorf("legacy eligibilities: %+v", l)
	}
	code, _, b = sh.call(http.MethodPost, sh.cpath("/subscriptions/"+leg+"/transitions"), map[string]any{"toCatalogItemId": ciE3, "quantity": 1, "transitionType": "transition_only"}, nil)
	expectErr(t, "legacy source", code, b, 400, codeTransitionNotEligible)

	// A sandbox partner may not end up with more than 25 seats on the target.
	sb := newShop(t, s, "global", true, "US", true)
	e1 := sb.buyOne(ciE1, 20)
	e3 := sb.buyOne(ciE3, 10)
	code, _, b = sb.call(http.MethodPost, sb.cpath("/subscriptions/"+e1+"/transitions"), map[string]any{
		"toCatalogItemId": ciE3, "toSubscriptionId": e3, "quantity": 20, "transitionType": "transition_only"}, nil)
	expectErr(t, "sandbox target seats", code, b, 400, codeSandboxLimit)
	// Full transition to a new subscription: the add-on follows when the target accepts it; E5 does not accept the archive.
	sb.buy("monthly", line(ciArchive, 2, "termDuration", "P1M", "parentSubscriptionId", e1))
	code, _, b = sb.call(http.MethodPost, sb.cpath("/subscriptions/"+e1+"/transitions"), map[string]any{"toCatalogItemId": ciE5, "quantity": 20, "transitionType": "transition_only"}, nil)
	expectErr(t, "add-on cannot follow", code, b, 400, codeTransitionNotEligible)
	code, _, b = sb.call(http.MethodPost, sb.cpath("/subscriptions/"+e1+"/transitions"), map[string]any{"toCatalogItemId": ciE3, "quantity": 20, "transitionType": "transition_only"}, nil)
	if code != 201 {
		t.Fatalf("E1 → E3: %d %s", code, b)
	}
	newE3 := decode[transitionT](t, b).ToSubscriptionID
	if st := sb.state(); st.Subscriptions[2].ParentSubscriptionID != newE3 || st.Subscriptions[0].Status != "expired" {
		t.Errorf("state after transition: %+v", st.Subscriptions)
	}
}
