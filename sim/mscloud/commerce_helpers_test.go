package mscloud

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Catalog item ids used across the commerce tests.
const (
	ciBasic    = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
	ciStandard = "CFQ7TTC0LDPB:0001:CFQ7TTC0K5Q2"
	ciPremium  = "CFQ7TTC0LCHC:0002:CFQ7TTC0K5RZ"
	ciE1       = "CFQ7TTC0LF8R:0001:CFQ7TTC0K6HG"
	ciE3       = "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS"
	ciE5       = "CFQ7TTC0LF8Q:0001:CFQ7TTC0K8D3"
	ciArchive  = "CFQ7TTC0LHWP:0001:CFQ7TTC0K9TB"
	ciDefender = "CFQ7TTC0LHRD:0001:CFQ7TTC0K7Q4"
)

var domainSeq atomic.Int64

// newCommerceSim is a simulator without the default rate limits: the
// commerce tests fire many calls for one customer within a second.
func newCommerceSim(t *testing.T) *testSim {
	return newSim(t, Options{PartnerRPS: -1, CustomerRPS: -1})
}

// shop is a partner with a token and one customer, ready to buy.
type shop struct {
	s   *testSim
	p   creds
	tok string
	cid string
}

// newShop registers a partner of cloud (sandbox or not) and creates a
// customer in country; attest attests the MCA.
func newShop(t *testing.T, s *testSim, cloud string, sandbox bool, country string, attest bool) *shop {
	t.Helper()
	p := s.partner(cloud, sandbox, country, "DE", "GB")
	tok := s.pcToken(p)
	sh := &shop{s: s, p: p, tok: tok}
	sh.cid = sh.newCustomer(country, attest)
	return sh
}

func (sh *shop) newCustomer(country string, attest bool) string {
	sh.s.t.Helper()
	suffix := ".onmicrosoft.com"
	if sh.p.Cloud == "china" {
		suffix = ".partner.onmschina.cn"
	}
	domain := "shop" + strconv.FormatInt(domainSeq.Add(1), 10) + suffix
	id := sh.s.createCustomer(sh.tok, customerBody(domain, country))["id"].(string)
	if attest {
		sh.attest(id)
	}
	return id
}

func (sh *shop) attest(cid string) {
	sh.s.t.Helper()
	code, _, b := sh.s.do(http.MethodPost, "/v1/customers/"+cid+"/agreements", sh.tok, map[string]any{
		"primaryContact": map[string]any{"firstName": "Ann", "lastName": "Lee", "email": "ann@contoso.example"},
		"templateId":     mcaTemplateID, "dateAgreed": "2026-11-20", "type": "MicrosoftCustomerAgreement",
	}, nil)
	if code != http.StatusCreated {
		sh.s.t.Fatalf("attest: %d %s", code, b)
	}
}

// call sends a Partner Center request as the shop's partner.
func (sh *shop) call(method, path string, body any, hdr map[string]string) (int, http.Header, []byte) {
	sh.s.t.Helper()
	return sh.s.do(method, path, sh.tok, body, hdr)
}

func (sh *shop) cpath(rest string) string { return "/v1/customers/" + sh.cid + rest }

func line(offer string, qty int, kv ...any) map[string]any {
	m := map[string]any{"offerId": offer, "quantity": qty}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func orderBody(cycle string, lines ...map[string]any) map[string]any {
	for i, l := range lines {
		if _, ok := l["lineItemNumber"]; !ok {
			l["lineItemNumber"] = i
		}
	}
	return map[string]any{"billingCycle": cycle, "lineItems": lines}
}

type orderT struct {
	ID                  string `json:"id"`
	AlternateID         string `json:"alternateId"`
	ReferenceCustomerID string `json:"referenceCustomerId"`
	BillingCycle        string `json:"billingCycle"`
	TransactionType     string `json:"transactionType"`
	CurrencyCode        string `json:"currencyCode"`
	CurrencySymbol      string `json:"currencySymbol"`
	CreationDate        string `json:"creationDate"`
	Status              string `json:"status"`
	LineItems           []struct {
		LineItemNumber       int    `json:"lineItemNumber"`
		OfferID              string `json:"offerId"`
		SubscriptionID       string `json:"subscriptionId"`
		ParentSubscriptionID string `json:"parentSubscriptionId"`
		FriendlyName         string `json:"friendlyName"`
		Quantity             int    `json:"quantity"`
		TermDuration         string `json:"termDuration"`
		TransactionType      string `json:"transactionType"`
		Links                map[string]struct {
			URI string `json:"uri"`
		} `json:"links"`
	} `json:"lineItems"`
	Links map[string]struct {
		URI string `json:"uri"`
	} `json:"links"`
	Attributes map[string]string `json:"attributes"`
}

// buy places an order and returns it (fails the test unless 201).
func (sh *shop) buy(cycle string, lines ...map[string]any) orderT {
	sh.s.t.Helper()
	code, _, b := sh.call(http.MethodPost, sh.cpath("/orders"), orderBody(cycle, lines...), nil)
	if code != http.StatusCreated {
		sh.s.t.Fatalf("order: %d %s", code, b)
	}
	return decode[orderT](sh.s.t, b)
}

// buyOne buys one line and returns its subscription id.
func (sh *shop) buyOne(offer string, qty int, kv ...any) string {
	sh.s.t.Helper()
	cycle := "monthly"
	l := line(offer, qty, kv...)
	if c, ok := l["cycle"]; ok {
		cycle = c.(string)
		delete(l, "cycle")
	}
	if _, ok := l["termDuration"]; !ok && strings.Contains(offer, ":") {
		l["termDuration"] = "P1M"
	}
	return sh.buy(cycle, l).LineItems[0].SubscriptionID
}

type subT struct {
	ID                           string   `json:"id"`
	OfferID                      string   `json:"offerId"`
	EntitlementID                string   `json:"entitlementId"`
	OfferName                    string   `json:"offerName"`
	FriendlyName                 string   `json:"friendlyName"`
	Quantity                     int      `json:"quantity"`
	UnitType                     string   `json:"unitType"`
	ParentSubscriptionID         string   `json:"parentSubscriptionId"`
	CreationDate                 string   `json:"creationDate"`
	EffectiveStartDate           string   `json:"effectiveStartDate"`
	CommitmentEndDate            string   `json:"commitmentEndDate"`
	Status                       string   `json:"status"`
	AutoRenewEnabled             bool     `json:"autoRenewEnabled"`
	BillingType                  string   `json:"billingType"`
	BillingCycle                 string   `json:"billingCycle"`
	TermDuration                 string   `json:"termDuration"`
	IsTrial                      bool     `json:"isTrial"`
	IsMicrosoftProduct           bool     `json:"isMicrosoftProduct"`
	PublisherName                string   `json:"publisherName"`
	OrderID                      string   `json:"orderId"`
	CancellationAllowedUntilDate *string  `json:"cancellationAllowedUntilDate"`
	SuspensionReasons            []string `json:"suspensionReasons"`
	Actions                      []string `json:"actions"`
	ProductType                  struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	} `json:"productType"`
	RefundableQuantity *struct {
		TotalQuantity int `json:"totalQuantity"`
		Details       []struct {
			Quantity             int    `json:"quantity"`
			AllowedUntilDateTime string `json:"allowedUntilDateTime"`
		} `json:"details"`
	} `json:"refundableQuantity"`
	Links map[string]struct {
		URI string `json:"uri"`
	} `json:"links"`
	Attributes map[string]string `json:"attributes"`
}

func (sh *shop) sub(id string) subT {
	sh.s.t.Helper()
	code, _, b := sh.call(http.MethodGet, sh.cpath("/subscriptions/"+id), nil, nil)
	if code != http.StatusOK {
		sh.s.t.Fatalf("get subscription: %d %s", code, b)
	}
	return decode[subT](sh.s.t, b)
}

// patch sends a PATCH with the current subscription modified by mod.
func (sh *shop) patch(id string, mod func(m map[string]any)) (int, http.Header, []byte) {
	sh.s.t.Helper()
	_, _, b := sh.call(http.MethodGet, sh.cpath("/subscriptions/"+id), nil, nil)
	m := decode[map[string]any](sh.s.t, b)
	mod(m)
	return sh.call(http.MethodPatch, sh.cpath("/subscriptions/"+id), m, nil)
}

func (s *testSim) advance(d string) {
	s.t.Helper()
	if st, b := s.admin(http.MethodPost, "/_sim/clock", map[string]string{"advance": d}); st != http.StatusOK {
		s.t.Fatalf("advance: %d %s", st, b)
	}
}

// advance moves the clock and takes a fresh token (the old one expires).
func (sh *shop) advance(d string) {
	sh.s.t.Helper()
	sh.s.advance(d)
	sh.tok = sh.s.pcToken(sh.p)
}

func (s *testSim) settings(m map[string]any) {
	s.t.Helper()
	if st, b := s.admin(http.MethodPost, "/_sim/settings", m); st != http.StatusOK {
		s.t.Fatalf("settings: %d %s", st, b)
	}
}

// commerceState is the typed commerce part of GET /_sim/state for one partner.
type commerceState struct {
	Orders []struct {
		ID         string `json:"id"`
		CustomerID string `json:"customer_id"`
		Status     string `json:"status"`
		LineItems  []struct {
			OfferID        string `json:"offer_id"`
			Quantity       int    `json:"quantity"`
			SubscriptionID string `json:"subscription_id"`
		} `json:"line_items"`
	} `json:"orders"`
	Subscriptions []struct {
		ID                       string `json:"id"`
		CustomerID               string `json:"customer_id"`
		OfferID                  string `json:"offer_id"`
		CatalogItemID            string `json:"catalog_item_id"`
		SkuID                    string `json:"sku_id"`
		Quantity                 int    `json:"quantity"`
		PendingQuantity          *int   `json:"pending_quantity"`
		Status                   string `json:"status"`
		AutoRenew                bool   `json:"auto_renew"`
		BillingCycle             string `json:"billing_cycle"`
		TermDuration             string `json:"term_duration"`
		ParentSubscriptionID     string `json:"parent_subscription_id"`
		CancellationAllowedUntil string `json:"cancellation_allowed_until"`
	} `json:"subscriptions"`
	Carts []struct {
		ID         string `json:"id"`
		CustomerID string `json:"customer_id"`
		Status     string `json:"status"`
		LineItems  []struct {
			CatalogItemID string `json:"catalog_item_id"`
			Quantity      int    `json:"quantity"`
			OrderGroup    string `json:"order_group"`
			Error         string `json:"error"`
		} `json:"line_items"`
	} `json:"carts"`
}

func (sh *shop) state() commerceState {
	sh.s.t.Helper()
	st, b := sh.s.admin(http.MethodGet, "/_sim/state?partner="+sh.p.TenantID, nil)
	if st != http.StatusOK {
		sh.s.t.Fatalf("state: %d %s", st, b)
	}
	parts := decode[struct {
		Partners []commerceState `json:"partners"`
	}](sh.s.t, b).Partners
	if len(parts) != 1 {
		sh.s.t.Fatalf("state: %s", b)
	}
	return parts[0]
}

// expectErr asserts a Partner Center error status and code.
func expectErr(t *testing.T, what string, code int, b []byte, wantStatus, wantCode int) {
	t.Helper()
	if code != wantStatus {
		t.Errorf("%s: status %d, want %d: %s", what, code, wantStatus, b)
		return
	}
	e := decode[pcErr](t, b)
	if e.Code != wantCode || e.Source != "PartnerFD" || e.Description == "" {
		t.Errorf("%s: code %d, want %d: %s", what, e.Code, wantCode, b)
	}
}

func mustTime(t *testing.T, v string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("time %q: %v", v, err)
	}
	return tm
}
