package mscloud

import (
	"net/http"
	"testing"
	"time"
)

func TestCreateOrderSuccess(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)

	o := sh.buy("monthly",
		line(ciE3, 5, "termDuration", "P1M", "friendlyName", "E3 for sales"),
		line(offerE1, 3),
	)
	if o.Status != "completed" || o.ReferenceCustomerID != sh.cid || o.BillingCycle != "monthly" || o.TransactionType != "UserPurchase" ||
		o.CurrencyCode != "USD" || o.CurrencySymbol != "$" || o.Attributes["objectType"] != "Order" || len(o.AlternateID) != 12 ||
		o.Links["self"].URI != "/customers/"+sh.cid+"/orders/"+o.ID || o.Links["provisioningStatus"].URI != "/customers/"+sh.cid+"/orders/"+o.ID+"/provisioningstatus" ||
		len(o.LineItems) != 2 {
		t.Fatalf("order: %+v", o)
	}
	l0, l1 := o.LineItems[0], o.LineItems[1]
	if l0.LineItemNumber != 0 || l0.OfferID != ciE3 || l0.Quantity != 5 || l0.TermDuration != "P1M" || l0.FriendlyName != "E3 for sales" ||
		l0.TransactionType != "new" || l0.SubscriptionID == "" || l0.Links["subscription"].URI != "/customers/"+sh.cid+"/subscriptions/"+l0.SubscriptionID ||
		l0.Links["availability"].URI != "/products/CFQ7TTC0LFLZ/skus/0002/availabilities/CFQ7TTC0K4TS?country=US" {
		t.Errorf("NCE line: %+v", l0)
	}
	if l1.LineItemNumber != 1 || l1.OfferID != offerE1 || l1.TermDuration != "P1M" || l1.FriendlyName != "Office 365 E1" || l1.SubscriptionID == l0.SubscriptionID {
		t.Errorf("legacy line: %+v", l1)
	}
	created := mustTime(t, o.CreationDate)

	nce := sh.sub(l0.SubscriptionID)
	if nce.OfferID != "CFQ7TTC0LFLZ:0002" || nce.OfferName != "Office 365 E3" || nce.FriendlyName != "E3 for sales" || nce.Quantity != 5 ||
		nce.Status != "active" || nce.UnitType != "Licenses" || nce.BillingType != "license" || nce.BillingCycle != "monthly" ||
		nce.TermDuration != "P1M" || !nce.AutoRenewEnabled || nce.IsTrial || !nce.IsMicrosoftProduct || nce.PublisherName != "Microsoft Corporation" ||
		nce.OrderID != o.ID || nce.EntitlementID == "" || nce.ProductType.ID != "OnlineServicesNCE" || nce.ProductType.DisplayName != "OnlineServicesNCE" ||
		nce.CancellationAllowedUntilDate == nil || !mustTime(t, *nce.CancellationAllowedUntilDate).Equal(created.Add(168*time.Hour)) ||
		nce.RefundableQuantity == nil || nce.RefundableQuantity.TotalQuantity != 5 || len(nce.RefundableQuantity.Details) != 1 ||
		!mustTime(t, nce.CommitmentEndDate).Equal(created.AddDate(0, 1, 0)) || nce.Attributes["objectType"] != "Subscription" || nce.Attributes["etag"] == "" ||
		nce.Links["product"].URI != "/products/CFQ7TTC0LFLZ?country=US" || nce.Links["self"].URI != "/customers/"+sh.cid+"/subscriptions/"+nce.ID {
		t.Errorf("NCE subscription: %+v", nce)
	}
	leg := sh.sub(l1.SubscriptionID)
	if leg.OfferID != offerE1 || leg.ProductType.ID != "OnlineServices" || leg.CancellationAllowedUntilDate != nil || leg.RefundableQuantity != nil ||
		leg.Links["offer"].URI != "/offers/"+offerE1+"?country=US" {
		t.Errorf("legacy subscription: %+v", leg)
	}

	// Annual legacy, and a P1Y NCE term billed annually in the same order.
	o2 := sh.buy("annual", line(offerBusinessBasic, 2), line(ciBasic, 1, "termDuration", "P1Y"))
	if a := sh.sub(o2.LineItems[0].SubscriptionID); a.BillingCycle != "annual" || a.TermDuration != "P1Y" {
		t.Errorf("annual legacy: %+v", a)
	}
	if b := sh.sub(o2.LineItems[1].SubscriptionID); b.TermDuration != "P1Y" || !mustTime(t, b.CommitmentEndDate).Equal(mustTime(t, b.CreationDate).AddDate(1, 0, 0)) {
		t.Errorf("annual NCE: %+v", b)
	}

	// Lists and lookups.
	code, _, b := sh.call(http.MethodGet, sh.cpath("/orders"), nil, nil)
	if l := decode[collT[orderT]](t, b); code != 200 || l.TotalCount != 2 || l.Items[0].ID != o.ID || l.Items[1].ID != o2.ID {
		t.Errorf("list orders: %d %s", code, b)
	}
	code, _, b = sh.call(http.MethodGet, sh.cpath("/orders/"+o.ID), nil, nil)
	if g := decode[orderT](t, b); code != 200 || g.ID != o.ID || len(g.LineItems) != 2 {
		t.Errorf("get order: %d %s", code, b)
	}
	code, _, b = sh.call(http.MethodGet, sh.cpath("/subscriptions"), nil, nil)
	if l := decode[collT[subT]](t, b); code != 200 || l.TotalCount != 4 {
		t.Errorf("list subscriptions: %d %s", code, b)
	}
	code, _, b = sh.call(http.MethodGet, sh.cpath("/subscriptions?order_id="+o2.ID), nil, nil)
	if l := decode[collT[subT]](t, b); code != 200 || l.TotalCount != 2 || l.Items[0].ID != o2.LineItems[0].SubscriptionID {
		t.Errorf("subscriptions by order: %d %s", code, b)
	}
	code, _, b = sh.call(http.MethodGet, sh.cpath("/orders/"+newGUID()), nil, nil)
	expectErr(t, "unknown order", code, b, 404, codeOrderNotFound)
	code, _, b = sh.call(http.MethodGet, sh.cpath("/subscriptions/"+newGUID()), nil, nil)
	expectErr(t, "unknown subscription", code, b, 404, codeSubscriptionNotFound)

	// Another partner sees neither the customer nor its orders.
	other := s.pcToken(s.partner("global", true, "US"))
	code, _, b = s.do(http.MethodGet, sh.cpath("/orders"), other, nil, nil)
	expectErr(t, "foreign customer", code, b, 404, codeTenantNotFound)
	code, _, b = s.do(http.MethodPost, sh.cpath("/orders"), other, orderBody("monthly", line(offerE1, 1)), nil)
	expectErr(t, "foreign customer order", code, b, 404, codeTenantNotFound)

	// The state lists orders and subscriptions.
	st := sh.state()
	if len(st.Orders) != 2 || st.Orders[0].ID != o.ID || st.Orders[0].CustomerID != sh.cid || st.Orders[0].Status != "completed" ||
		len(st.Orders[0].LineItems) != 2 || st.Orders[0].LineItems[0].OfferID != ciE3 || st.Orders[0].LineItems[0].Quantity != 5 ||
		st.Orders[0].LineItems[0].SubscriptionID != l0.SubscriptionID {
		t.Errorf("state orders: %+v", st.Orders)
	}
	if len(st.Subscriptions) != 4 {
		t.Fatalf("state subscriptions: %+v", st.Subscriptions)
	}
	ss := st.Subscriptions[0]
	if ss.ID != l0.SubscriptionID || ss.CustomerID != sh.cid || ss.OfferID != "CFQ7TTC0LFLZ:0002" || ss.CatalogItemID != ciE3 ||
		ss.SkuID != "6fd2c87f-b296-42f0-b197-1e91e994b900" || ss.Quantity != 5 || ss.Status != "active" || !ss.AutoRenew ||
		ss.BillingCycle != "monthly" || ss.TermDuration != "P1M" || ss.ParentSubscriptionID != "" ||
		!mustTime(t, ss.CancellationAllowedUntil).Equal(created.Add(168*time.Hour)) {
		t.Errorf("state NCE subscription: %+v", ss)
	}
	if ls := st.Subscriptions[1]; ls.OfferID != offerE1 || ls.CatalogItemID != offerE1 || ls.CancellationAllowedUntil != "" || ls.SkuID != "18181a46-0d4e-45cd-891e-60aabd171b4e" {
		t.Errorf("state legacy subscription: %+v", ls)
	}
}

// Every rule is checked before anything is created.
func TestCreateOrderRules(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	e1 := sh.buyOne(offerE1, 2)
	ncE1Sub := sh.buyOne(ciE1, 2)
	basic := sh.buyOne(offerBusinessBasic, 1)
	unattested := sh.newCustomer("US", false)
	de := sh.newCustomer("DE", true)

	for _, tc := range []struct {
		name             string
		customer         string
		body             any
		status, wantCode int
	}{
		{"MCA not attested (NCE)", unattested, orderBody("monthly", line(ciE3, 1, "termDuration", "P1M")), 403, codeMCANotAttested},
		{"MCA not attested (legacy)", unattested, orderBody("monthly", line(offerE3, 1)), 403, codeMCANotAttested},
		{"quantity zero", "", orderBody("monthly", line(ciE3, 0, "termDuration", "P1M")), 400, codeQuantityRange},
		{"quantity above max", "", orderBody("monthly", line(ciBasic, 301, "termDuration", "P1M")), 400, codeQuantityRange},
		{"legacy quantity above max", "", orderBody("monthly", line(offerBusinessStd, 301)), 400, codeQuantityRange},
		{"trial below min", "", orderBody("none", line(offerE3Trial, 5)), 400, codeQuantityRange},
		{"sandbox 25 licenses", "", orderBody("monthly", line(ciE3, 26, "termDuration", "P1M")), 400, codeSandboxLimit},
		{"sandbox 25 licenses legacy", "", orderBody("monthly", line(offerE5, 30)), 400, codeSandboxLimit},
		{"offer not sold in DE", de, orderBody("none", line(offerE3Trial, 25)), 400, codeOfferNotInMarket},
		{"unknown legacy offer", "", orderBody("monthly", line(newGUID(), 1)), 400, codeOfferNotInMarket},
		{"china offer", "", orderBody("monthly", line(offerCNE1, 1)), 400, codeOfferNotInMarket},
		{"unknown product", "", orderBody("monthly", line("CFQ7TTC0ZZZZ:0001:CFQ7TTC0K971", 1, "termDuration", "P1M")), 404, codeProductNotFound},
		{"unknown sku", "", orderBody("monthly", line("CFQ7TTC0LH18:0009:CFQ7TTC0K971", 1, "termDuration", "P1M")), 404, codeSkuNotFound},
		{"unknown availability", "", orderBody("monthly", line("CFQ7TTC0LH18:0001:CFQ7TTC0ZZZZ", 1, "termDuration", "P1M")), 404, codeAvailabilityNotFound},
		{"no availability part", "", orderBody("monthly", line("CFQ7TTC0LH18:0001", 1, "termDuration", "P1M")), 404, codeAvailabilityNotFound},
		{"NCE without term", "", orderBody("monthly", line(ciE3, 1)), 400, codeTermNotSupported},
		{"NCE P1M annual", "", orderBody("annual", line(ciE3, 1, "termDuration", "P1M")), 400, codeTermNotSupported},
		{"NCE P3Y", "", orderBody("monthly", line(ciE3, 1, "termDuration", "P3Y")), 400, codeTermNotSupported},
		{"legacy cycle none", "", orderBody("none", line(offerE3, 1)), 400, codeTermNotSupported},
		{"legacy term mismatch", "", orderBody("monthly", line(offerE3, 1, "termDuration", "P1Y")), 400, codeTermNotSupported},
		{"trial cycle monthly", "", orderBody("monthly", line(offerE3Trial, 25)), 400, codeTermNotSupported},
		{"add-on without parent", "", orderBody("monthly", line(offerArchive, 1)), 400, codeAddOnParent},
		{"add-on wrong parent offer", "", orderBody("monthly", line(offerArchive, 1, "parentSubscriptionId", basic)), 400, codeAddOnParent},
		{"add-on unknown parent", "", orderBody("monthly", line(offerArchive, 1, "parentSubscriptionId", newGUID())), 400, codeAddOnParent},
		{"legacy add-on on NCE parent", "", orderBody("monthly", line(offerArchive, 1, "parentSubscriptionId", ncE1Sub)), 400, codeAddOnParent},
		{"NCE add-on on legacy parent", "", orderBody("monthly", line(ciArchive, 1, "termDuration", "P1M", "parentSubscriptionId", e1)), 400, codeAddOnParent},
		{"parent on a base offer", "", orderBody("monthly", line(offerE3, 1, "parentSubscriptionId", e1)), 400, codeAddOnParent},
		{"missing billingCycle", "", orderBody("", line(offerE3, 1)), 400, codeInvalidInput},
		{"no line items", "", map[string]any{"billingCycle": "monthly", "lineItems": []any{}}, 400, codeInvalidInput},
		{"missing offerId", "", orderBody("monthly", map[string]any{"quantity": 1}), 400, codeInvalidInput},
		{"duplicate line numbers", "", orderBody("monthly", line(offerE3, 1, "lineItemNumber", 0), line(offerE5, 1, "lineItemNumber", 0)), 400, codeInvalidInput},
		{"not JSON", "", "{", 400, codeInvalidInput},
		{"second line bad", "", orderBody("monthly", line(offerE3, 1), line(offerE5, 0)), 400, codeQuantityRange},
	} {
		cid := sh.cid
		if tc.customer != "" {
			cid = tc.customer
		}
		code, _, b := sh.call(http.MethodPost, "/v1/customers/"+cid+"/orders", tc.body, nil)
		expectErr(t, tc.name, code, b, tc.status, tc.wantCode)
	}
	if st := sh.state(); len(st.Orders) != 3 || len(st.Subscriptions) != 3 {
		t.Errorf("refused orders created something: %d orders, %d subscriptions", len(st.Orders), len(st.Subscriptions))
	}

	// Valid add-ons: legacy EOA on the legacy E1; NCE Defender on NCE Business Basic via provisioningContext.
	o := sh.buy("monthly", line(offerArchive, 2, "parentSubscriptionId", e1))
	if o.LineItems[0].ParentSubscriptionID != e1 || sh.sub(o.LineItems[0].SubscriptionID).ParentSubscriptionID != e1 {
		t.Errorf("legacy add-on: %+v", o)
	}
	// The sandbox holds 5 subscriptions per customer: 4 live now, a second line would make 6.
	code, _, b := sh.call(http.MethodPost, sh.cpath("/orders"), orderBody("monthly", line(offerE3, 1), line(offerE5, 1)), nil)
	expectErr(t, "sandbox 5 subscriptions", code, b, 400, codeSandboxLimit)
	sh.buyOne(offerE3, 1)
	code, _, b = sh.call(http.MethodPost, sh.cpath("/orders"), orderBody("monthly", line(offerE5, 1)), nil)
	expectErr(t, "sixth subscription", code, b, 400, codeSandboxLimit)

	// A production partner has no sandbox limits; a trial needs cycle none.
	prod := newShop(t, s, "global", false, "US", true)
	for range 6 {
		prod.buyOne(offerE3, 30)
	}
	tr := prod.sub(prod.buyOne(offerE3Trial, 25, "cycle", "none"))
	if !tr.IsTrial || tr.AutoRenewEnabled || tr.BillingCycle != "none" || tr.TermDuration != "P1M" {
		t.Errorf("trial subscription: %+v", tr)
	}
	nb := prod.buyOne(ciBasic, 3)
	def := prod.buy("monthly", line(ciDefender, 3, "termDuration", "P1M", "provisioningContext", map[string]string{"parentSubscriptionId": nb}))
	if d := prod.sub(def.LineItems[0].SubscriptionID); d.ParentSubscriptionID != nb || d.OfferID != "CFQ7TTC0LHRD:0001" {
		t.Errorf("NCE add-on: %+v", d)
	}
}

func TestOrderCloudProfiles(t *testing.T) {
	s := newCommerceSim(t)
	cn := newShop(t, s, "china", true, "CN", true)
	code, _, b := cn.call(http.MethodPost, cn.cpath("/orders"), orderBody("monthly", line(ciE3, 1, "termDuration", "P1M")), nil)
	expectErr(t, "china NCE", code, b, 400, codeOfferNotInMarket)
	code, _, b = cn.call(http.MethodPost, cn.cpath("/orders"), orderBody("monthly", line(offerE3, 1)), nil)
	expectErr(t, "china buying a global offer", code, b, 400, codeOfferNotInMarket)
	if sub := cn.sub(cn.buyOne(offerCNE1, 2)); sub.OfferID != offerCNE1 || sub.Quantity != 2 {
		t.Errorf("china legacy: %+v", sub)
	}

	gov := newShop(t, s, "usgov", true, "US", true)
	code, _, b = gov.call(http.MethodPost, gov.cpath("/orders"), orderBody("monthly", line(ciBasic, 1, "termDuration", "P1M")), nil)
	expectErr(t, "usgov business basic", code, b, 400, codeOfferNotInMarket)
	gov.buyOne(ciE5, 1)
}

func TestOrderReplayAndErrorAfterCommit(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	body := orderBody("monthly", line(ciE1, 2, "termDuration", "P1M"))

	h := map[string]string{"MS-RequestId": newGUID()}
	c1, _, b1 := sh.call(http.MethodPost, sh.cpath("/orders"), body, h)
	c2, _, b2 := sh.call(http.MethodPost, sh.cpath("/orders"), body, h)
	if c1 != 201 || c2 != 201 || decode[orderT](t, b1).ID != decode[orderT](t, b2).ID {
		t.Fatalf("replay: %d %s / %d %s", c1, b1, c2, b2)
	}
	if st := sh.state(); len(st.Orders) != 1 || len(st.Subscriptions) != 1 {
		t.Fatalf("replay created %d orders", len(st.Orders))
	}

	// error_after_commit: the order exists once; the retry gets the stored answer.
	s.fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers/", "mode": "error_after_commit", "status": 503, "count": 1})
	h2 := map[string]string{"MS-RequestId": newGUID()}
	code, _, b := sh.call(http.MethodPost, sh.cpath("/orders"), body, h2)
	expectErr(t, "error_after_commit", code, b, 503, 503)
	st := sh.state()
	if len(st.Orders) != 2 {
		t.Fatalf("error_after_commit did not commit: %d orders", len(st.Orders))
	}
	code, _, b = sh.call(http.MethodPost, sh.cpath("/orders"), body, h2)
	if code != 201 || decode[orderT](t, b).ID != st.Orders[1].ID {
		t.Errorf("retry after error_after_commit: %d %s", code, b)
	}
	if n := len(sh.state().Orders); n != 2 {
		t.Errorf("%d orders after retry, want 2", n)
	}
	// A plain error fault does nothing; throttle and delay pass through to the route.
	s.fault(map[string]any{"api": "partnercenter", "path": "/v1/customers/", "method": "POST", "mode": "error", "status": 500, "count": 1})
	code, _, b = sh.call(http.MethodPost, sh.cpath("/orders"), body, nil)
	expectErr(t, "error fault", code, b, 500, 500)
	s.fault(map[string]any{"api": "partnercenter", "path": "/v1/customers/" + sh.cid + "/orders", "mode": "throttle", "retry_after_seconds": 9, "count": 1})
	if code, hdr, _ := sh.call(http.MethodPost, sh.cpath("/orders"), body, nil); code != 429 || hdr.Get("Retry-After") != "9" {
		t.Errorf("throttle fault: %d", code)
	}
	s.fault(map[string]any{"api": "partnercenter", "path": "/v1/customers/", "mode": "delay", "delay_ms": 200, "count": 1})
	start := time.Now()
	if code, _, _ := sh.call(http.MethodPost, sh.cpath("/orders"), body, nil); code != 201 || time.Since(start) < 200*time.Millisecond {
		t.Errorf("delay fault: %d after %v", code, time.Since(start))
	}
	if n := len(sh.state().Orders); n != 3 {
		t.Errorf("%d orders, want 3", n)
	}
}

func TestOrderPendingCompletion(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	s.settings(map[string]any{"order_completion_seconds": 600})
	o := sh.buy("monthly", line(ciE3, 4, "termDuration", "P1M"))
	subID := o.LineItems[0].SubscriptionID
	if o.Status != "pending" || sh.sub(subID).Status != "pending" {
		t.Fatalf("pending order: %+v", o)
	}
	code, _, b := sh.call(http.MethodGet, sh.cpath("/orders/"+o.ID+"/provisioningstatus"), nil, nil)
	ps := decode[collT[map[string]any]](t, b)
	if code != 200 || ps.TotalCount != 1 || ps.Items[0]["status"] != "PrefulfillmentPending" || ps.Items[0]["lineItemNumber"] != float64(0) {
		t.Errorf("provisioning while pending: %d %s", code, b)
	}
	code, _, b = sh.patch(subID, func(m map[string]any) { m["quantity"] = 6 })
	expectErr(t, "PATCH pending subscription", code, b, 400, codeSubscriptionState)
	if st := sh.state(); st.Orders[0].Status != "pending" || st.Subscriptions[0].Status != "pending" {
		t.Errorf("state while pending: %+v", st)
	}
	// Pending subscriptions give no units yet.
	code, _, b = sh.call(http.MethodGet, sh.cpath("/subscribedskus"), nil, nil)
	if decode[collT[map[string]any]](t, b).TotalCount != 0 {
		t.Errorf("subscribedskus while pending: %s", b)
	}
	s.advance("599s")
	if g := decode[orderT](t, must200(t, sh, sh.cpath("/orders/"+o.ID))); g.Status != "pending" {
		t.Errorf("completed too early: %+v", g)
	}
	s.advance("2s")
	if g := decode[orderT](t, must200(t, sh, sh.cpath("/orders/"+o.ID))); g.Status != "completed" {
		t.Errorf("not completed after the delay: %+v", g)
	}
	if sub := sh.sub(subID); sub.Status != "active" {
		t.Errorf("subscription after completion: %+v", sub)
	}
	ps = decode[collT[map[string]any]](t, must200(t, sh, sh.cpath("/orders/"+o.ID+"/provisioningstatus")))
	if ps.Items[0]["status"] != "Fulfilled" {
		t.Errorf("provisioning after completion: %+v", ps)
	}
	// The state completes orders on its own read as well.
	s.settings(map[string]any{"order_completion_seconds": 60})
	sh.buy("monthly", line(offerE1, 1))
	s.advance("61s")
	if st := sh.state(); st.Orders[1].Status != "completed" || st.Subscriptions[1].Status != "active" {
		t.Errorf("state after clock advance: %+v", st.Orders)
	}
}

func must200(t *testing.T, sh *shop, path string) []byte {
	t.Helper()
	code, _, b := sh.call(http.MethodGet, path, nil, nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, b)
	}
	return b
}

// A purchase-only bucket throttles orders and checkout per customer.
func TestPurchaseThrottle(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	other := sh.newCustomer("US", true)
	s.settings(map[string]any{"throttle_purchase_rps": 0.1})
	sh.buyOne(offerE1, 1)
	code, hdr, b := sh.call(http.MethodPost, sh.cpath("/orders"), orderBody("monthly", line(offerE3, 1)), nil)
	if m := decode[map[string]any](t, b); code != 429 || hdr.Get("Retry-After") == "" || m["statusCode"] != float64(429) {
		t.Errorf("second order: %d %s", code, b)
	}
	must200(t, sh, sh.cpath("/subscriptions"))
	if code, _, b := sh.call(http.MethodPost, "/v1/customers/"+other+"/orders", orderBody("monthly", line(offerE3, 1)), nil); code != 201 {
		t.Errorf("other customer: %d %s", code, b)
	}
	s.advance("10s")
	sh.buyOne(offerE3, 1)
	if got := s.srv.settingsView().ThrottlePurchaseRPS; got != 0.1 {
		t.Errorf("settings view: %v", got)
	}
}
