package mscloud

import (
	"net/http"
	"testing"
	"time"
)

type cartT struct {
	ID                    string `json:"id"`
	CreationTimestamp     string `json:"creationTimestamp"`
	LastModifiedTimestamp string `json:"lastModifiedTimestamp"`
	ExpirationTimestamp   string `json:"expirationTimestamp"`
	LastModifiedUser      string `json:"lastModifiedUser"`
	Status                string `json:"status"`
	LineItems             []struct {
		ID                  int               `json:"id"`
		CatalogItemID       string            `json:"catalogItemId"`
		Quantity            int               `json:"quantity"`
		CurrencyCode        string            `json:"currencyCode"`
		BillingCycle        string            `json:"billingCycle"`
		TermDuration        string            `json:"termDuration"`
		OrderGroup          string            `json:"orderGroup"`
		ProvisioningContext map[string]string `json:"provisioningContext"`
		Error               *struct {
			ErrorCode        string `json:"errorCode"`
			ErrorDescription string `json:"errorDescription"`
		} `json:"error"`
	} `json:"lineItems"`
	Attributes map[string]string `json:"attributes"`
}

type checkoutT struct {
	Orders      []orderT `json:"orders"`
	OrderErrors []struct {
		OrderGroupID string `json:"orderGroupId"`
		Code         int    `json:"code"`
		Description  string `json:"description"`
	} `json:"orderErrors"`
}

func cline(id int, catalogItemID string, qty int, term, cycle string, kv ...any) map[string]any {
	m := map[string]any{"id": id, "catalogItemId": catalogItemID, "quantity": qty, "termDuration": term,
		"billingCycle": cycle, "provisioningContext": map[string]string{}, "promotionId": nil}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func cartBody(lines ...map[string]any) map[string]any { return map[string]any{"lineItems": lines} }

func (sh *shop) newCart(lines ...map[string]any) cartT {
	sh.s.t.Helper()
	code, _, b := sh.call(http.MethodPost, sh.cpath("/carts"), cartBody(lines...), nil)
	if code != http.StatusCreated {
		sh.s.t.Fatalf("create cart: %d %s", code, b)
	}
	return decode[cartT](sh.s.t, b)
}

func (sh *shop) checkout(cartID string, hdr map[string]string) (int, []byte) {
	sh.s.t.Helper()
	code, _, b := sh.call(http.MethodPost, sh.cpath("/carts/"+cartID+"/checkout"), nil, hdr)
	return code, b
}

func TestCartCheckoutGroups(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	ct := sh.newCart(
		cline(0, ciE3, 3, "P1M", "monthly"),
		cline(1, ciBasic, 2, "P1Y", "annual"),
		cline(2, ciE1, 1, "P1Y", "Monthly"),
	)
	created := mustTime(t, ct.CreationTimestamp)
	if ct.Status != "Active" || !mustTime(t, ct.ExpirationTimestamp).Equal(created.Add(7*24*time.Hour)) || ct.LastModifiedUser != sh.p.ClientID ||
		ct.Attributes["objectType"] != "Cart" || len(ct.LineItems) != 3 {
		t.Fatalf("cart: %+v", ct)
	}
	for i, want := range []string{"0", "1", "0"} {
		if l := ct.LineItems[i]; l.OrderGroup != want || l.Error != nil || l.CurrencyCode != "USD" || l.ProvisioningContext == nil {
			t.Errorf("line %d: %+v", i, l)
		}
	}
	if ct.LineItems[2].BillingCycle != "monthly" {
		t.Errorf("billing cycle not normalised: %+v", ct.LineItems[2])
	}
	code, _, b := sh.call(http.MethodGet, sh.cpath("/carts/"+ct.ID), nil, nil)
	if g := decode[cartT](t, b); code != 200 || g.ID != ct.ID || len(g.LineItems) != 3 {
		t.Errorf("get cart: %d %s", code, b)
	}

	code, b = sh.checkout(ct.ID, nil)
	res := decode[checkoutT](t, b)
	if code != http.StatusCreated || len(res.Orders) != 2 || len(res.OrderErrors) != 0 {
		t.Fatalf("checkout: %d %s", code, b)
	}
	monthly, annual := res.Orders[0], res.Orders[1]
	if monthly.BillingCycle != "monthly" || len(monthly.LineItems) != 2 || monthly.LineItems[0].OfferID != ciE3 || monthly.LineItems[1].OfferID != ciE1 ||
		monthly.LineItems[1].LineItemNumber != 1 || monthly.LineItems[1].TermDuration != "P1Y" || monthly.Status != "completed" {
		t.Errorf("monthly order: %+v", monthly)
	}
	if annual.BillingCycle != "annual" || len(annual.LineItems) != 1 || annual.LineItems[0].OfferID != ciBasic || annual.LineItems[0].LineItemNumber != 0 {
		t.Errorf("annual order: %+v", annual)
	}
	if sub := sh.sub(annual.LineItems[0].SubscriptionID); sub.BillingCycle != "annual" || sub.TermDuration != "P1Y" || sub.Quantity != 2 || sub.OrderID != annual.ID {
		t.Errorf("annual subscription: %+v", sub)
	}
	st := sh.state()
	if len(st.Orders) != 2 || len(st.Subscriptions) != 3 || len(st.Carts) != 1 || st.Carts[0].Status != "Ordered" ||
		st.Carts[0].LineItems[1].OrderGroup != "1" || st.Carts[0].LineItems[1].CatalogItemID != ciBasic {
		t.Errorf("state after checkout: %+v", st)
	}

	// Second checkout and updates of an ordered cart are refused.
	code, b = sh.checkout(ct.ID, nil)
	expectErr(t, "second checkout", code, b, 400, codeCartOrdered)
	code, _, b = sh.call(http.MethodPut, sh.cpath("/carts/"+ct.ID), cartBody(cline(0, ciE5, 1, "P1M", "monthly")), nil)
	expectErr(t, "update ordered cart", code, b, 400, codeCartOrdered)
	if n := len(sh.state().Orders); n != 2 {
		t.Errorf("%d orders after second checkout", n)
	}
	code, b = sh.checkout(newGUID(), nil)
	expectErr(t, "unknown cart", code, b, 404, codeCartNotFound)
	code, _, b = sh.call(http.MethodPost, sh.cpath("/carts"), cartBody(), nil)
	expectErr(t, "empty cart", code, b, 400, codeInvalidInput)
}

func TestCartLineErrors(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	base := sh.buyOne(ciE1, 2)

	for _, tc := range []struct {
		name string
		line map[string]any
		want string
	}{
		{"unknown product", cline(0, "CFQ7TTC0ZZZZ:0001:CFQ7TTC0K971", 1, "P1M", "monthly"), "catalog_item_id_is_not_valid"},
		{"unknown availability", cline(0, "CFQ7TTC0LH18:0001:CFQ7TTC0ZZZZ", 1, "P1M", "monthly"), "catalog_item_id_is_not_valid"},
		{"unknown legacy", cline(0, newGUID(), 1, "P1M", "monthly"), "catalog_item_id_is_not_valid"},
		{"over max", cline(0, ciBasic, 301, "P1M", "monthly"), "max_allowed_seats_per_subscription_exceeded"},
		{"zero", cline(0, ciBasic, 0, "P1M", "monthly"), "invalid_input"},
		{"sandbox seats", cline(0, ciE3, 26, "P1M", "monthly"), "sandbox_limit_exceeded"},
		{"bad term", cline(0, ciE3, 1, "P3Y", "monthly"), "invalid_input"},
		{"missing cycle", cline(0, ciE3, 1, "P1M", ""), "invalid_input"},
		{"add-on without parent", cline(0, ciArchive, 1, "P1M", "monthly"), "subscription_is_not_valid"},
		{"add-on with parent", cline(0, ciArchive, 1, "P1M", "monthly", "provisioningContext", map[string]string{"parentSubscriptionId": base}), ""},
	} {
		ct := sh.newCart(tc.line)
		l := ct.LineItems[0]
		switch {
		case tc.want == "" && l.Error != nil:
			t.Errorf("%s: unexpected error %+v", tc.name, l.Error)
		case tc.want != "" && (l.Error == nil || l.Error.ErrorCode != tc.want || l.Error.ErrorDescription == ""):
			t.Errorf("%s: error %+v, want %s", tc.name, l.Error, tc.want)
		}
	}

	// One bad group, one good group: one order, one orderError with the cart code.
	ct := sh.newCart(
		cline(0, ciE3, 2, "P1M", "monthly"),
		cline(1, "CFQ7TTC0LH18:0009:CFQ7TTC0K971", 1, "P1Y", "annual"),
	)
	if ct.LineItems[1].Error == nil || ct.LineItems[1].Error.ErrorCode != "catalog_item_id_is_not_valid" {
		t.Fatalf("bad line: %+v", ct.LineItems[1])
	}
	code, b := sh.checkout(ct.ID, nil)
	res := decode[checkoutT](t, b)
	if code != http.StatusCreated || len(res.Orders) != 1 || len(res.OrderErrors) != 1 || res.OrderErrors[0].OrderGroupID != "1" ||
		res.OrderErrors[0].Code != 10001 || res.OrderErrors[0].Description == "" || res.Orders[0].LineItems[0].OfferID != ciE3 {
		t.Errorf("partial checkout: %d %s", code, b)
	}
	if st := sh.state(); st.Carts[len(st.Carts)-1].Status != "Ordered" || st.Carts[len(st.Carts)-1].LineItems[1].Error != "catalog_item_id_is_not_valid" {
		t.Errorf("state cart: %+v", st.Carts)
	}

	// Only bad lines: no order, the cart stays Active and can be fixed with PUT.
	ct = sh.newCart(cline(0, ciE5, 26, "P1M", "monthly"))
	code, b = sh.checkout(ct.ID, nil)
	res = decode[checkoutT](t, b)
	if code != http.StatusCreated || len(res.Orders) != 0 || len(res.OrderErrors) != 1 || res.OrderErrors[0].Code != 10009 {
		t.Errorf("failing checkout: %d %s", code, b)
	}
	code, _, b = sh.call(http.MethodPut, sh.cpath("/carts/"+ct.ID), cartBody(cline(7, ciE5, 5, "P1M", "monthly")), nil)
	upd := decode[cartT](t, b)
	if code != 200 || upd.Status != "Active" || len(upd.LineItems) != 1 || upd.LineItems[0].ID != 7 || upd.LineItems[0].Quantity != 5 || upd.LineItems[0].Error != nil {
		t.Fatalf("update cart: %d %s", code, b)
	}
	code, b = sh.checkout(ct.ID, nil)
	if res := decode[checkoutT](t, b); code != 201 || len(res.Orders) != 1 || res.Orders[0].LineItems[0].Quantity != 5 {
		t.Errorf("checkout after fix: %d %s", code, b)
	}

	// The sandbox subscription count is checked line by line: 3 live, 3 lines → the third fails.
	if n := len(sh.state().Subscriptions); n != 3 {
		t.Fatalf("setup: %d subscriptions", n)
	}
	ct = sh.newCart(cline(0, ciE1, 1, "P1M", "monthly"), cline(1, ciE3, 1, "P1M", "monthly"), cline(2, ciE5, 1, "P1M", "monthly"))
	if ct.LineItems[0].Error != nil || ct.LineItems[1].Error != nil || ct.LineItems[2].Error == nil || ct.LineItems[2].Error.ErrorCode != "sandbox_limit_exceeded" {
		t.Errorf("sandbox subscription count: %+v", ct.LineItems)
	}
}

func TestCartAttestationAndExpiry(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", false)
	ct := sh.newCart(cline(0, ciBasic, 1, "P1M", "monthly"))
	if l := ct.LineItems[0]; l.Error == nil || l.Error.ErrorCode != "attestation_not_accepted" {
		t.Fatalf("unattested line: %+v", l)
	}
	code, b := sh.checkout(ct.ID, nil)
	expectErr(t, "checkout without MCA", code, b, 403, codeMCANotAttested)
	if st := sh.state(); len(st.Orders) != 0 || st.Carts[0].Status != "Active" {
		t.Fatalf("refused checkout created something: %+v", st)
	}
	sh.attest(sh.cid)
	// Checkout validates again: the attestation now counts.
	code, b = sh.checkout(ct.ID, nil)
	if res := decode[checkoutT](t, b); code != 201 || len(res.Orders) != 1 || len(res.OrderErrors) != 0 {
		t.Fatalf("checkout after attesting: %d %s", code, b)
	}

	// Carts expire after 7 days (simulated clock).
	ct = sh.newCart(cline(0, ciBasic, 1, "P1M", "monthly"))
	sh.advance("167h")
	code, _, b = sh.call(http.MethodPut, sh.cpath("/carts/"+ct.ID), cartBody(cline(0, ciBasic, 2, "P1M", "monthly")), nil)
	if code != 200 {
		t.Errorf("update before expiry: %d %s", code, b)
	}
	sh.advance("2h")
	code, b = sh.checkout(ct.ID, nil)
	expectErr(t, "expired checkout", code, b, 400, codeCartExpired)
	code, _, b = sh.call(http.MethodPut, sh.cpath("/carts/"+ct.ID), cartBody(cline(0, ciBasic, 2, "P1M", "monthly")), nil)
	expectErr(t, "expired update", code, b, 400, codeCartExpired)
	if n := len(sh.state().Orders); n != 1 {
		t.Errorf("%d orders", n)
	}
}

// error_after_commit on checkout orders once; the MS-RequestId retry gets the result.
func TestCheckoutErrorAfterCommit(t *testing.T) {
	s := newCommerceSim(t)
	sh := newShop(t, s, "global", true, "US", true)
	ct := sh.newCart(cline(0, ciStandard, 4, "P1M", "monthly"))
	s.fault(map[string]any{"api": "partnercenter", "method": "POST", "path": "/v1/customers/" + sh.cid + "/carts/", "mode": "error_after_commit", "status": 504, "count": 1})
	h := map[string]string{"MS-RequestId": newGUID()}
	code, b := sh.checkout(ct.ID, h)
	expectErr(t, "checkout error_after_commit", code, b, 504, 504)
	st := sh.state()
	if len(st.Orders) != 1 || st.Carts[0].Status != "Ordered" {
		t.Fatalf("not committed: %+v", st)
	}
	code, b = sh.checkout(ct.ID, h)
	if res := decode[checkoutT](t, b); code != 201 || len(res.Orders) != 1 || res.Orders[0].ID != st.Orders[0].ID {
		t.Errorf("replayed checkout: %d %s", code, b)
	}
	if n := len(sh.state().Orders); n != 1 {
		t.Errorf("%d orders after retry", n)
	}
	// Without the MS-RequestId the retry is a new checkout of an ordered cart.
	code, b = sh.checkout(ct.ID, nil)
	expectErr(t, "checkout again", code, b, 400, codeCartOrdered)
}
