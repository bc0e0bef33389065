package mscloud

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func setQty(q int) func(m map[string]any)        { return func(m map[string]any) { m["quantity"] = q } }
func setStatus(st string) func(m map[string]any) { return func(m map[string]any) { m["status"] = st } }

func TestPatchQuantityNCE(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	id := sh.buyOne(ciE3, 10)

	steps := []struct {
		name             string
		advance          string
		mod              func(m map[string]any)
		status, wantCode int
		wantQty          int
		wantRefundable   int
	}{
		{name: "increase", mod: setQty(15), status: 200, wantQty: 15, wantRefundable: 15},
		{name: "decrease inside window", mod: setQty(12), status: 200, wantQty: 12, wantRefundable: 12},
		{name: "above max", mod: setQty(10001), status: 400, wantCode: codeQuantityRange, wantQty: 12, wantRefundable: 12},
		{name: "zero", mod: setQty(0), status: 400, wantCode: codeQuantityRange, wantQty: 12, wantRefundable: 12},
		{name: "after the window", advance: "169h", mod: setQty(11), status: 400, wantCode: codeCannotDecrease, wantQty: 12, wantRefundable: 0},
		{name: "increase after the window", mod: setQty(16), status: 200, wantQty: 16, wantRefundable: 4},
		{name: "give back the new seats", mod: setQty(13), status: 200, wantQty: 13, wantRefundable: 1},
		{name: "more than the new seats", mod: setQty(11), status: 400, wantCode: codeCannotDecrease, wantQty: 13, wantRefundable: 1},
		{name: "new seats' own window closes", advance: "169h", mod: setQty(12), status: 400, wantCode: codeCannotDecrease, wantQty: 13, wantRefundable: 0},
	}
	for _, st := range steps {
		if st.advance != "" {
			sh.advance(st.advance)
		}
		code, _, b := sh.patch(id, st.mod)
		if st.wantCode != 0 {
			expectErr(t, st.name, code, b, st.status, st.wantCode)
			if st.wantCode == codeCannotDecrease && decode[pcErr](t, b).Description != "Subscription quantity cannot be decreased." {
				t.Errorf("%s: description %s", st.name, b)
			}
		} else if code != st.status || decode[subT](t, b).Quantity != st.wantQty {
			t.Errorf("%s: %d %s", st.name, code, b)
		}
		sub := sh.sub(id)
		if sub.Quantity != st.wantQty || sub.RefundableQuantity == nil || sub.RefundableQuantity.TotalQuantity != st.wantRefundable {
			t.Errorf("%s: quantity %d refundable %+v, want %d/%d", st.name, sub.Quantity, sub.RefundableQuantity, st.wantQty, st.wantRefundable)
		}
	}
	// Seats added later keep their own window in the details.
	sh.patch(id, setQty(14))
	sub := sh.sub(id)
	if len(sub.RefundableQuantity.Details) != 1 || sub.RefundableQuantity.Details[0].Quantity != 1 ||
		!mustTime(t, sub.RefundableQuantity.Details[0].AllowedUntilDateTime).After(mustTime(t, *sub.CancellationAllowedUntilDate)) {
		t.Errorf("details: %+v", sub.RefundableQuantity)
	}
}

func TestPatchLegacyAndSandbox(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	id := sh.buyOne(offerE3, 10)
	sh.advance("720h")
	// Legacy decreases are allowed at any time.
	if code, _, b := sh.patch(id, setQty(4)); code != 200 || decode[subT](t, b).Quantity != 4 {
		t.Errorf("legacy decrease: %d %s", code, b)
	}
	if code, _, b := sh.patch(id, setQty(25)); code != 200 {
		t.Errorf("sandbox up to 25: %d %s", code, b)
	}
	code, _, b := sh.patch(id, setQty(26))
	expectErr(t, "sandbox 26", code, b, 400, codeSandboxLimit)
	code, _, b = sh.patch(id, setStatus("deleted"))
	expectErr(t, "legacy delete", code, b, 400, codeLegacyDelete)
	if sub := sh.sub(id); sub.Status != "active" || sub.Quantity != 25 {
		t.Errorf("after refusals: %+v", sub)
	}
}

func TestPatchStatusAndFields(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	id := sh.buyOne(ciE1, 5)
	addon := sh.buy("monthly", line(ciArchive, 5, "termDuration", "P1M", "parentSubscriptionId", id)).LineItems[0].SubscriptionID
	etag := sh.sub(id).Attributes["etag"]

	code, _, b := sh.patch(id, func(m map[string]any) { m["status"] = "suspended"; m["quantity"] = 6 })
	expectErr(t, "quantity with status", code, b, 400, codeQuantityWithStatus)

	code, _, b = sh.patch(id, setStatus("suspended"))
	sub := decode[subT](t, b)
	if code != 200 || sub.Status != "suspended" || !slices.Equal(sub.SuspensionReasons, []string{"PartnerInitiated"}) ||
		!slices.Equal(sub.Actions, []string{"Reactivate"}) || sub.Attributes["etag"] == etag {
		t.Fatalf("suspend: %d %s", code, b)
	}
	if a := sh.sub(addon); a.Status != "suspended" {
		t.Errorf("add-on not suspended with its parent: %+v", a)
	}
	code, _, b = sh.patch(id, setQty(6))
	expectErr(t, "quantity while suspended", code, b, 400, codeSubscriptionState)
	code, _, b = sh.patch(addon, setStatus("active"))
	expectErr(t, "add-on before parent", code, b, 400, codeSubscriptionState)
	code, _, b = sh.patch(id, setStatus("expired"))
	expectErr(t, "unsupported status", code, b, 400, codeInvalidInput)

	code, _, b = sh.patch(id, setStatus("active"))
	if sub := decode[subT](t, b); code != 200 || sub.Status != "active" || len(sub.SuspensionReasons) != 0 {
		t.Fatalf("reactivate: %d %s", code, b)
	}
	if a := sh.sub(addon); a.Status != "active" {
		t.Errorf("add-on not reactivated: %+v", a)
	}

	// Auto-renew and friendly name; a stale etag and a missing id are fine.
	code, _, b = sh.patch(id, func(m map[string]any) {
		m["autoRenewEnabled"] = false
		m["friendlyName"] = "Front office"
		m["attributes"] = map[string]any{"etag": "stale", "objectType": "Subscription"}
		delete(m, "id")
	})
	if sub := decode[subT](t, b); code != 200 || sub.AutoRenewEnabled || sub.FriendlyName != "Front office" {
		t.Errorf("auto-renew/friendlyName: %d %s", code, b)
	}
	code, _, b = sh.patch(id, func(m map[string]any) { m["id"] = newGUID() })
	expectErr(t, "id mismatch", code, b, 400, codeInvalidInput)
	code, _, b = sh.call(http.MethodPatch, sh.cpath("/subscriptions/"+id), "{", nil)
	expectErr(t, "not JSON", code, b, 400, codeInvalidInput)
	// A body that changes nothing answers the subscription.
	if code, _, b := sh.patch(id, func(map[string]any) {}); code != 200 || decode[subT](t, b).ID != id {
		t.Errorf("no-op PATCH: %d %s", code, b)
	}
	if st := sh.state(); st.Subscriptions[0].AutoRenew || st.Subscriptions[1].ParentSubscriptionID != id {
		t.Errorf("state: %+v", st.Subscriptions)
	}
}

func TestPatchCancelNCE(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	early := sh.buyOne(ciBasic, 3)
	addon := sh.buy("monthly", line(ciDefender, 3, "termDuration", "P1M", "parentSubscriptionId", early)).LineItems[0].SubscriptionID
	late := sh.buyOne(ciStandard, 3)

	sh.advance("167h")
	code, _, b := sh.patch(early, setStatus("deleted"))
	if sub := decode[subT](t, b); code != 200 || sub.Status != "deleted" || sub.RefundableQuantity.TotalQuantity != 0 || sub.AutoRenewEnabled {
		t.Fatalf("cancel in window: %d %s", code, b)
	}
	if a := sh.sub(addon); a.Status != "deleted" {
		t.Errorf("add-on not cancelled with its parent: %+v", a)
	}
	code, _, b = sh.patch(early, setStatus("active"))
	expectErr(t, "change a deleted subscription", code, b, 400, codeSubscriptionState)

	sh.advance("2h")
	code, _, b = sh.patch(late, setStatus("deleted"))
	expectErr(t, "cancel after the window", code, b, 400, codeCancelWindowClosed)
	// Suspending an NCE subscription is allowed.
	if code, _, b := sh.patch(late, setStatus("suspended")); code != 200 {
		t.Errorf("NCE suspend: %d %s", code, b)
	}
	st := sh.state()
	if st.Subscriptions[0].Status != "deleted" || st.Subscriptions[1].Status != "deleted" || st.Subscriptions[2].Status != "suspended" {
		t.Errorf("state: %+v", st.Subscriptions)
	}
}

func TestSlowPatch(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	id := sh.buyOne(ciE5, 10)
	s.settings(map[string]any{"slow_patch_seconds": 120})

	code, hdr, b := sh.patch(id, setQty(14))
	if code != http.StatusAccepted || hdr.Get("Location") != "/v1/customers/"+sh.cid+"/subscriptions/"+id || len(b) != 0 || hdr.Get("Retry-After") != "120" {
		t.Fatalf("slow PATCH: %d %v %s", code, hdr, b)
	}
	if sub := sh.sub(id); sub.Quantity != 10 {
		t.Errorf("visible before the delay: %+v", sub)
	}
	if st := sh.state(); st.Subscriptions[0].Quantity != 10 || st.Subscriptions[0].PendingQuantity == nil || *st.Subscriptions[0].PendingQuantity != 14 {
		t.Errorf("state while pending: %+v", st.Subscriptions[0])
	}
	// The same change again is accepted; another change or a status change waits.
	if code, hdr, _ := sh.patch(id, setQty(14)); code != http.StatusAccepted || hdr.Get("Location") == "" {
		t.Errorf("repeat: %d", code)
	}
	code, _, b = sh.patch(id, setQty(20))
	expectErr(t, "second change", code, b, 409, codeSubscriptionState)
	code, _, b = sh.patch(id, setStatus("suspended"))
	expectErr(t, "status while pending", code, b, 409, codeSubscriptionState)
	// Other fields still apply at once.
	if code, _, b := sh.patch(id, func(m map[string]any) { m["friendlyName"] = "E5 pool" }); code != 200 || decode[subT](t, b).FriendlyName != "E5 pool" {
		t.Errorf("friendlyName while pending: %d %s", code, b)
	}

	sh.advance("121s")
	if sub := sh.sub(id); sub.Quantity != 14 || sub.RefundableQuantity.TotalQuantity != 14 {
		t.Errorf("after the delay: %+v", sub)
	}
	if st := sh.state(); st.Subscriptions[0].PendingQuantity != nil {
		t.Errorf("pending kept: %+v", st.Subscriptions[0])
	}
	// Status changes are never slow.
	if code, _, _ := sh.patch(id, setStatus("suspended")); code != 200 {
		t.Errorf("suspend with slow_patch: %d", code)
	}
	// error_after_commit on PATCH: the change is made and stored for replay.
	s.settings(map[string]any{"slow_patch_seconds": 0})
	sh.patch(id, setStatus("active"))
	s.fault(map[string]any{"api": "partnercenter", "method": "PATCH", "path": "/v1/customers/", "mode": "error_after_commit", "status": 500, "count": 1})
	h := map[string]string{"MS-RequestId": newGUID()}
	body := decode[map[string]any](t, must200(t, sh, sh.cpath("/subscriptions/"+id)))
	body["quantity"] = 16
	code, _, b = sh.call(http.MethodPatch, sh.cpath("/subscriptions/"+id), body, h)
	expectErr(t, "PATCH error_after_commit", code, b, 500, 500)
	if sub := sh.sub(id); sub.Quantity != 16 {
		t.Errorf("PATCH not committed: %+v", sub)
	}
	code, _, b = sh.call(http.MethodPatch, sh.cpath("/subscriptions/"+id), body, h)
	if code != 200 || decode[subT](t, b).Quantity != 16 {
		t.Errorf("PATCH replay: %d %s", code, b)
	}
	// A plain error fault leaves the subscription alone.
	s.fault(map[string]any{"api": "partnercenter", "method": "PATCH", "path": "/v1/customers/", "mode": "error", "status": 503, "count": 1})
	body["quantity"] = 18
	code, _, b = sh.call(http.MethodPatch, sh.cpath("/subscriptions/"+id), body, nil)
	expectErr(t, "PATCH error fault", code, b, 503, 503)
	if sub := sh.sub(id); sub.Quantity != 16 {
		t.Errorf("error fault changed the quantity: %+v", sub)
	}
}

func TestSubscriptionRenewal(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	renew := sh.buyOne(ciBasic, 3)
	stop := sh.buyOne(ciStandard, 3)
	if code, _, b := sh.patch(stop, func(m map[string]any) { m["autoRenewEnabled"] = false }); code != 200 {
		t.Fatalf("auto-renew off: %d %s", code, b)
	}
	first := sh.sub(renew)
	sh.advance("745h") // past one month
	r := sh.sub(renew)
	if r.Status != "active" || !mustTime(t, r.EffectiveStartDate).Equal(mustTime(t, first.CommitmentEndDate)) ||
		!mustTime(t, r.CommitmentEndDate).Equal(mustTime(t, first.CommitmentEndDate).AddDate(0, 1, 0)) ||
		!mustTime(t, *r.CancellationAllowedUntilDate).Equal(mustTime(t, first.CommitmentEndDate).Add(168*time.Hour)) ||
		r.RefundableQuantity.TotalQuantity != 3 {
		t.Errorf("renewed: %+v", r)
	}
	if x := sh.sub(stop); x.Status != "expired" {
		t.Errorf("not renewed: %+v", x)
	}
	code, _, b := sh.patch(stop, setQty(5))
	expectErr(t, "PATCH expired", code, b, 400, codeSubscriptionState)
}

type subscribedSkuT struct {
	AvailableUnits int `json:"availableUnits"`
	ActiveUnits    int `json:"activeUnits"`
	ConsumedUnits  int `json:"consumedUnits"`
	SuspendedUnits int `json:"suspendedUnits"`
	TotalUnits     int `json:"totalUnits"`
	WarningUnits   int `json:"warningUnits"`
	ProductSku     struct {
		ID             string `json:"id"`
		Name           string `json:"name"`
		SkuPartNumber  string `json:"skuPartNumber"`
		TargetType     string `json:"targetType"`
		LicenseGroupID string `json:"licenseGroupId"`
	} `json:"productSku"`
	ServicePlans []struct {
		ServiceName      string `json:"serviceName"`
		ID               string `json:"id"`
		CapabilityStatus string `json:"capabilityStatus"`
	} `json:"servicePlans"`
	CapabilityStatus string `json:"capabilityStatus"`
}

func TestSubscribedSkus(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", false, "US", true)
	sh.buyOne(ciE3, 5)
	legacyE3 := sh.buyOne(offerE3, 3)
	basic := sh.buyOne(ciBasic, 2)
	cancelled := sh.buyOne(ciPremium, 7)
	sh.patch(legacyE3, setStatus("suspended"))
	sh.patch(cancelled, setStatus("deleted"))
	sh.patch(basic, setStatus("suspended"))

	s.srv.pc.mu.Lock()
	cu := s.srv.pc.customers[sh.cid]
	s.srv.pc.setAssignedUnits(cu, "6FD2C87F-B296-42F0-B197-1E91E994B900", 4)
	s.srv.pc.addAssignedUnits(cu, licE5.ID, 1)
	s.srv.pc.mu.Unlock()

	code, _, b := sh.call(http.MethodGet, sh.cpath("/subscribedskus"), nil, nil)
	list := decode[collT[subscribedSkuT]](t, b)
	if code != 200 || list.TotalCount != 3 {
		t.Fatalf("subscribedskus: %d %s", code, b)
	}
	want := []struct {
		id, pn, status                     string
		active, suspended, consumed, avail int
	}{
		{"6fd2c87f-b296-42f0-b197-1e91e994b900", "ENTERPRISEPACK", "Enabled", 5, 3, 4, 1},
		{"3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS", "Suspended", 0, 2, 0, 0},
		{"c7df2760-2c81-4ef7-b578-5b5392b571df", "ENTERPRISEPREMIUM", "Enabled", 0, 0, 1, -1},
	}
	for i, w := range want {
		g := list.Items[i]
		if g.ProductSku.ID != w.id || g.ProductSku.SkuPartNumber != w.pn || g.ActiveUnits != w.active || g.SuspendedUnits != w.suspended ||
			g.ConsumedUnits != w.consumed || g.AvailableUnits != w.avail || g.TotalUnits != w.active || g.WarningUnits != 0 ||
			g.CapabilityStatus != w.status || g.ProductSku.TargetType != "User" || g.ProductSku.LicenseGroupID != "group1" || len(g.ServicePlans) == 0 {
			t.Errorf("sku %d: %+v", i, g)
		}
	}
	if list.Items[0].ServicePlans[0].ServiceName != "EXCHANGE_S_ENTERPRISE" || list.Items[1].ServicePlans[0].CapabilityStatus != "Suspended" {
		t.Errorf("service plans: %+v", list.Items)
	}
}
