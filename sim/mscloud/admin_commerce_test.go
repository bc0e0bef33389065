package mscloud

import (
	"net/http"
	"testing"
	"time"
)

func TestCommerceSettings(t *testing.T) {
	s := newSim(t, Options{OrderCompletion: 90 * time.Second, SlowPatch: 30 * time.Second})
	_, b := s.admin(http.MethodGet, "/_sim/settings", nil)
	if v := decode[settingsView](t, b); v.OrderCompletionSeconds != 90 || v.SlowPatchSeconds != 30 || v.ThrottlePurchaseRPS != 0 {
		t.Errorf("options: %s", b)
	}
	st, b := s.admin(http.MethodPost, "/_sim/settings", map[string]any{"order_completion_seconds": 0, "slow_patch_seconds": 5, "throttle_purchase_rps": 2})
	if v := decode[settingsView](t, b); st != 200 || v.OrderCompletionSeconds != 0 || v.SlowPatchSeconds != 5 || v.ThrottlePurchaseRPS != 2 ||
		v.ThrottlePartnerRPS != DefaultPartnerRPS {
		t.Errorf("set: %d %s", st, b)
	}
	for _, bad := range []string{
		`{"order_completion_seconds":-1}`, `{"slow_patch_seconds":-5}`, `{"throttle_purchase_rps":-1}`,
		`{"slow_patch_seconds":2592001}`, `{"order_completion_seconds":"soon"}`,
	} {
		if st, b := s.admin(http.MethodPost, "/_sim/settings", bad); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, st, b)
		}
	}
}

// Customer-scoped commerce calls count against the partner+customer bucket.
func TestCommerceThrottledPerCustomer(t *testing.T) {
	s := newSim(t, Options{})
	sh := newShop(t, s, "global", true, "US", true)
	other := sh.newCustomer("US", true)
	s.settings(map[string]any{"throttle_customer_rps": 0.1})
	must200(t, sh, sh.cpath("/subscriptions"))
	for _, path := range []string{"/orders", "/carts"} {
		code, hdr, b := sh.call(http.MethodPost, sh.cpath(path), map[string]any{}, nil)
		if code != 429 || hdr.Get("Retry-After") == "" {
			t.Errorf("POST %s: %d %s", path, code, b)
		}
	}
	if code, _, b := sh.call(http.MethodGet, "/v1/customers/"+other+"/subscribedskus", nil, nil); code != 200 {
		t.Errorf("other customer: %d %s", code, b)
	}
	if code, _, b := sh.call(http.MethodGet, "/v1/offers?country=US", nil, nil); code != 200 {
		t.Errorf("catalog is partner-level: %d %s", code, b)
	}
}

// The state lists carts and follows the clock without any Partner Center call.
func TestCommerceStateFollowsClock(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	sh.newCart(cline(0, ciE1, 2, "P1M", "monthly"), cline(1, ciE3, 30, "P1M", "monthly"))
	id := sh.buyOne(ciE1, 3)
	st := sh.state()
	if len(st.Carts) != 1 || st.Carts[0].CustomerID != sh.cid || st.Carts[0].Status != "Active" || len(st.Carts[0].LineItems) != 2 ||
		st.Carts[0].LineItems[0].Error != "" || st.Carts[0].LineItems[1].Error != "sandbox_limit_exceeded" || st.Carts[0].LineItems[1].Quantity != 30 {
		t.Errorf("carts: %+v", st.Carts)
	}
	s.settings(map[string]any{"slow_patch_seconds": 30})
	if code, _, b := sh.patch(id, setQty(5)); code != http.StatusAccepted {
		t.Fatalf("slow patch: %d %s", code, b)
	}
	s.advance("169h")
	st = sh.state()
	if sub := st.Subscriptions[0]; sub.Quantity != 5 || sub.PendingQuantity != nil {
		t.Errorf("state after clock advance: %+v", sub)
	}
	_, b := s.admin(http.MethodGet, "/_sim/state?partner="+sh.p.TenantID, nil)
	raw := decode[struct {
		Partners []struct {
			Subscriptions []map[string]any `json:"subscriptions"`
		} `json:"partners"`
	}](t, b)
	sub := raw.Partners[0].Subscriptions[0]
	for _, k := range []string{"id", "customer_id", "offer_id", "catalog_item_id", "quantity", "status", "auto_renew", "billing_cycle",
		"term_duration", "parent_subscription_id", "cancellation_allowed_until"} {
		if _, ok := sub[k]; !ok {
			t.Errorf("state subscription lacks %q: %v", k, sub)
		}
	}
	if sub["refundable_quantity"] != float64(0) {
		t.Errorf("window should be closed in the state: %v", sub)
	}
}
