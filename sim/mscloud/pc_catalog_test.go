package mscloud

import (
	"net/http"
	"slices"
	"testing"
)

type offerT struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	MinimumQuantity        int      `json:"minimumQuantity"`
	MaximumQuantity        int      `json:"maximumQuantity"`
	URI                    string   `json:"uri"`
	Locale                 string   `json:"locale"`
	Country                string   `json:"country"`
	IsAddOn                bool     `json:"isAddOn"`
	HasAddOns              bool     `json:"hasAddOns"`
	IsTrial                bool     `json:"isTrial"`
	IsAvailableForPurchase bool     `json:"isAvailableForPurchase"`
	IsAutoRenewable        bool     `json:"isAutoRenewable"`
	Billing                string   `json:"billing"`
	UnitType               string   `json:"unitType"`
	SupportedBillingCycles []string `json:"supportedBillingCycles"`
	Category               struct {
		ID      string `json:"id"`
		Country string `json:"country"`
	} `json:"category"`
	PrerequisiteOffers  []struct{ ID string } `json:"prerequisiteOffers"`
	UpgradeTargetOffers []struct{ ID string } `json:"upgradeTargetOffers"`
	Product             struct {
		ID       string `json:"id"`
		UnitType string `json:"unitType"`
	} `json:"product"`
	Attributes map[string]string `json:"attributes"`
}

type collT[T any] struct {
	TotalCount int               `json:"totalCount"`
	Items      []T               `json:"items"`
	Attributes map[string]string `json:"attributes"`
}

func ids[T any](items []T, id func(T) string) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func TestLegacyOffers(t *testing.T) {
	s := newSim(t, Options{})
	tok := s.pcToken(s.partner("global", true, "US"))

	code, _, b := s.do(http.MethodGet, "/v1/offers?country=US", tok, nil, nil)
	list := decode[collT[offerT]](t, b)
	wantUS := []string{offerE1, offerE3, offerE5, offerBusinessBasic, offerBusinessStd, offerBusinessPrem, offerArchive, offerE3Trial}
	if got := ids(list.Items, func(o offerT) string { return o.ID }); code != 200 || list.TotalCount != 8 || !slices.Equal(got, wantUS) ||
		list.Attributes["objectType"] != "Collection" {
		t.Fatalf("US offers: %d %v", code, got)
	}
	byID := map[string]offerT{}
	for _, o := range list.Items {
		byID[o.ID] = o
	}
	e1 := byID[offerE1]
	if e1.Name != "Office 365 E1" || e1.MinimumQuantity != 1 || e1.MaximumQuantity != 10000 || e1.Billing != "license" ||
		e1.UnitType != "Licenses" || e1.Product.ID != "18181a46-0d4e-45cd-891e-60aabd171b4e" || e1.Product.UnitType != "Licenses" ||
		e1.Attributes["objectType"] != "Offer" || e1.Country != "US" || e1.Locale != "en-US" || e1.Category.ID != "Enterprise" ||
		!slices.Equal(e1.SupportedBillingCycles, []string{"monthly", "annual"}) || !e1.IsAvailableForPurchase || !e1.IsAutoRenewable ||
		len(e1.UpgradeTargetOffers) != 1 || e1.UpgradeTargetOffers[0].ID != offerE3 || !e1.HasAddOns || e1.IsAddOn {
		t.Errorf("E1: %+v", e1)
	}
	if e5 := byID[offerE5]; len(e5.UpgradeTargetOffers) != 0 || e5.HasAddOns {
		t.Errorf("E5 is the top of its path: %+v", e5)
	}
	if basic := byID[offerBusinessBasic]; basic.MaximumQuantity != 300 || basic.UpgradeTargetOffers[0].ID != offerBusinessStd {
		t.Errorf("Business Basic: %+v", basic)
	}
	eoa := byID[offerArchive]
	if !eoa.IsAddOn || len(eoa.PrerequisiteOffers) != 2 || eoa.PrerequisiteOffers[0].ID != offerE1 || eoa.PrerequisiteOffers[1].ID != offerE3 {
		t.Errorf("archive add-on: %+v", eoa)
	}
	if tr := byID[offerE3Trial]; !tr.IsTrial || tr.IsAutoRenewable || tr.MinimumQuantity != 25 || !slices.Equal(tr.SupportedBillingCycles, []string{"none"}) {
		t.Errorf("trial: %+v", tr)
	}

	// By id; lower-case ids work; the trial is not sold in DE.
	code, _, b = s.do(http.MethodGet, "/v1/offers/796b6b5f-613c-4e24-a17c-eba730d49c02?country=US", tok, nil, nil)
	if o := decode[offerT](t, b); code != 200 || o.ID != offerE3 || o.UpgradeTargetOffers[0].ID != offerE5 {
		t.Errorf("get E3: %d %s", code, b)
	}
	code, _, b = s.do(http.MethodGet, "/v1/offers?country=de", tok, nil, nil)
	if l := decode[collT[offerT]](t, b); code != 200 || l.TotalCount != 7 || slices.Contains(ids(l.Items, func(o offerT) string { return o.ID }), offerE3Trial) {
		t.Errorf("DE offers: %d %s", code, b)
	}
	// CN is not a market of the global catalog.
	if code, _, b := s.do(http.MethodGet, "/v1/offers?country=CN", tok, nil, nil); code != 200 || decode[collT[offerT]](t, b).TotalCount != 0 {
		t.Errorf("CN offers for a global partner: %d %s", code, b)
	}

	for _, tc := range []struct {
		name, path       string
		status, wantCode int
	}{
		{"missing country", "/v1/offers", 400, codeInvalidInput},
		{"unknown country", "/v1/offers?country=XX", 400, codeInvalidInput},
		{"catalog item id", "/v1/offers/" + ciBasic + "?country=US", 400, codeNewCatalogID},
		{"product id", "/v1/offers/CFQ7TTC0LH18?country=US", 400, codeNewCatalogID},
		{"unknown offer", "/v1/offers/" + newGUID() + "?country=US", 404, codeOfferNotFound},
		{"trial outside its markets", "/v1/offers/" + offerE3Trial + "?country=DE", 404, codeOfferNotFound},
		{"china offer", "/v1/offers/" + offerCNE1 + "?country=US", 404, codeOfferNotFound},
	} {
		code, _, b := s.do(http.MethodGet, tc.path, tok, nil, nil)
		expectErr(t, tc.name, code, b, tc.status, tc.wantCode)
	}
}

type productT struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	ProductType struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	} `json:"productType"`
	IsMicrosoftProduct bool   `json:"isMicrosoftProduct"`
	PublisherName      string `json:"publisherName"`
	Links              struct {
		Skus struct {
			URI    string `json:"uri"`
			Method string `json:"method"`
		} `json:"skus"`
	} `json:"links"`
	Attributes map[string]string `json:"attributes"`
}

type skuT struct {
	ID                     string   `json:"id"`
	ProductID              string   `json:"productId"`
	Title                  string   `json:"title"`
	MinimumQuantity        int      `json:"minimumQuantity"`
	MaximumQuantity        int      `json:"maximumQuantity"`
	IsTrial                bool     `json:"isTrial"`
	SupportedBillingCycles []string `json:"supportedBillingCycles"`
	PurchasePrerequisites  []string `json:"purchasePrerequisites"`
	DynamicAttributes      struct {
		IsAddon             bool     `json:"isAddon"`
		HasAddOns           bool     `json:"hasAddOns"`
		PrerequisiteSkus    []string `json:"prerequisiteSkus"`
		UpgradeTargetOffers []string `json:"upgradeTargetOffers"`
	} `json:"dynamicAttributes"`
	Attributes map[string]string `json:"attributes"`
}

type availabilityT struct {
	ID              string            `json:"id"`
	ProductID       string            `json:"productId"`
	SkuID           string            `json:"skuId"`
	CatalogItemID   string            `json:"catalogItemId"`
	DefaultCurrency map[string]string `json:"defaultCurrency"`
	Segment         string            `json:"segment"`
	Country         string            `json:"country"`
	IsPurchasable   bool              `json:"isPurchasable"`
	IsRenewable     bool              `json:"isRenewable"`
	Terms           []struct {
		Duration     string `json:"duration"`
		Description  string `json:"description"`
		BillingCycle string `json:"billingCycle"`
	} `json:"terms"`
	Product    struct{ ID string } `json:"product"`
	Sku        struct{ ID string } `json:"sku"`
	Attributes map[string]string   `json:"attributes"`
}

func TestNewCommerceCatalog(t *testing.T) {
	s := newSim(t, Options{})
	tok := s.pcToken(s.partner("global", false, "US"))
	get := func(path string) (int, []byte) {
		code, _, b := s.do(http.MethodGet, path, tok, nil, nil)
		return code, b
	}

	code, b := get("/v1/products?country=US&targetView=OnlineServices&targetSegment=commercial")
	list := decode[collT[productT]](t, b)
	want := []string{productBusinessBasic, productBusinessStd, productBusinessPrem, productE1, productE3, productE5, productArchive, productDefenderP1}
	if got := ids(list.Items, func(p productT) string { return p.ID }); code != 200 || !slices.Equal(got, want) || list.TotalCount != 8 {
		t.Fatalf("products: %d %v", code, got)
	}
	p0 := list.Items[0]
	if p0.Title != "Microsoft 365 Business Basic" || p0.ProductType.ID != "OnlineServices" || p0.ProductType.DisplayName != "OnlineServices" ||
		!p0.IsMicrosoftProduct || p0.PublisherName != "Microsoft Corporation" || p0.Links.Skus.URI != "/products/CFQ7TTC0LH18/skus?country=US" ||
		p0.Links.Skus.Method != "GET" || p0.Attributes["objectType"] != "Product" {
		t.Errorf("product: %+v", p0)
	}

	for _, tc := range []struct {
		name, path string
		count      int
	}{
		{"no segment", "/v1/products?country=US&targetView=OnlineServices", 8},
		{"other view", "/v1/products?country=US&targetView=Azure", 0},
		{"view case-insensitive", "/v1/products?country=US&targetView=onlineservices", 8},
		{"other segment", "/v1/products?country=US&targetView=OnlineServices&targetSegment=education", 0},
		{"non-market", "/v1/products?country=CN&targetView=OnlineServices", 0},
	} {
		code, b := get(tc.path)
		if l := decode[collT[productT]](t, b); code != 200 || l.TotalCount != tc.count || len(l.Items) != tc.count {
			t.Errorf("%s: %d %s", tc.name, code, b)
		}
	}

	code, b = get("/v1/products/CFQ7TTC0LF8R?country=US")
	if p := decode[productT](t, b); code != 200 || p.ID != productE1 || p.Title != "Office 365 E1" {
		t.Errorf("product by id: %d %s", code, b)
	}
	code, b = get("/v1/products/CFQ7TTC0LFLZ/skus?country=US")
	skus := decode[collT[skuT]](t, b)
	if code != 200 || skus.TotalCount != 1 || skus.Items[0].ID != "0002" || skus.Items[0].ProductID != productE3 ||
		skus.Items[0].MaximumQuantity != 10000 || skus.Items[0].MinimumQuantity != 1 || skus.Items[0].Attributes["objectType"] != "Sku" ||
		!skus.Items[0].DynamicAttributes.HasAddOns || skus.Items[0].DynamicAttributes.IsAddon ||
		!slices.Equal(skus.Items[0].DynamicAttributes.UpgradeTargetOffers, []string{"CFQ7TTC0LF8Q:0001"}) {
		t.Errorf("E3 skus: %d %s", code, b)
	}
	code, b = get("/v1/products/CFQ7TTC0LHWP/skus/0001?country=US")
	eoa := decode[skuT](t, b)
	parents := []string{"CFQ7TTC0LF8R:0001", "CFQ7TTC0LFLZ:0002"}
	if code != 200 || !eoa.DynamicAttributes.IsAddon || !slices.Equal(eoa.DynamicAttributes.PrerequisiteSkus, parents) ||
		!slices.Equal(eoa.PurchasePrerequisites, parents) {
		t.Errorf("archive sku: %d %s", code, b)
	}
	code, b = get("/v1/products/CFQ7TTC0LHRD/skus/0001?country=US")
	if d := decode[skuT](t, b); code != 200 || !slices.Equal(d.DynamicAttributes.PrerequisiteSkus, []string{"CFQ7TTC0LH18:0001", "CFQ7TTC0LDPB:0001"}) || d.MaximumQuantity != 300 {
		t.Errorf("defender sku: %d %s", code, b)
	}
	code, b = get("/v1/products/CFQ7TTC0LH18/skus/0001/availabilities?country=US")
	avs := decode[collT[availabilityT]](t, b)
	if code != 200 || avs.TotalCount != 1 {
		t.Fatalf("availabilities: %d %s", code, b)
	}
	a := avs.Items[0]
	terms := ids(a.Terms, func(x struct {
		Duration     string `json:"duration"`
		Description  string `json:"description"`
		BillingCycle string `json:"billingCycle"`
	}) string {
		return x.Duration + "/" + x.BillingCycle
	})
	if a.ID != "CFQ7TTC0K971" || a.CatalogItemID != ciBasic || a.ProductID != productBusinessBasic || a.SkuID != "0001" ||
		a.DefaultCurrency["code"] != "USD" || a.DefaultCurrency["symbol"] != "$" || a.Segment != "commercial" || a.Country != "US" ||
		!a.IsPurchasable || !a.IsRenewable || a.Product.ID != productBusinessBasic || a.Sku.ID != "0001" ||
		!slices.Equal(terms, []string{"P1M/monthly", "P1Y/monthly", "P1Y/annual"}) || a.Attributes["objectType"] != "Availability" {
		t.Errorf("availability: %+v", a)
	}
	code, b = get("/v1/products/CFQ7TTC0LF8Q/skus/0001/availabilities/CFQ7TTC0K8D3?country=GB")
	if a := decode[availabilityT](t, b); code != 200 || a.CatalogItemID != ciE5 || a.DefaultCurrency["code"] != "GBP" || a.Country != "GB" {
		t.Errorf("availability by id: %d %s", code, b)
	}

	for _, tc := range []struct {
		name, path       string
		status, wantCode int
	}{
		{"unknown view", "/v1/products?country=US&targetView=Bananas", 400, codeInvalidInput},
		{"missing view", "/v1/products?country=US", 400, codeInvalidInput},
		{"bad segment", "/v1/products?country=US&targetView=OnlineServices&targetSegment=retail", 400, codeInvalidInput},
		{"missing country", "/v1/products?targetView=OnlineServices", 400, codeInvalidInput},
		{"unknown product", "/v1/products/CFQ7TTC0ZZZZ?country=US", 404, codeProductNotFound},
		{"unknown product skus", "/v1/products/CFQ7TTC0ZZZZ/skus?country=US", 404, codeProductNotFound},
		{"unknown sku", "/v1/products/CFQ7TTC0LH18/skus/0009?country=US", 404, codeSkuNotFound},
		{"unknown sku availabilities", "/v1/products/CFQ7TTC0LH18/skus/0009/availabilities?country=US", 404, codeSkuNotFound},
		{"unknown availability", "/v1/products/CFQ7TTC0LH18/skus/0001/availabilities/CFQ7TTC0ZZZZ?country=US", 404, codeAvailabilityNotFound},
		{"product outside market", "/v1/products/CFQ7TTC0LH18?country=CN", 404, codeProductNotFound},
	} {
		code, b := get(tc.path)
		expectErr(t, tc.name, code, b, tc.status, tc.wantCode)
	}
}

// China partners see a smaller legacy-only catalog; usgov an enterprise subset.
func TestCatalogCloudProfiles(t *testing.T) {
	s := newSim(t, Options{})
	cn := s.pcToken(s.partner("china", true, "CN"))
	gov := s.pcToken(s.partner("usgov", true, "US"))

	code, _, b := s.do(http.MethodGet, "/v1/offers?country=CN", cn, nil, nil)
	l := decode[collT[offerT]](t, b)
	if got := ids(l.Items, func(o offerT) string { return o.ID }); code != 200 ||
		!slices.Equal(got, []string{offerCNE1, offerCNE3, offerCNBusinessBasic, offerCNBusinessStd}) || l.Items[0].UpgradeTargetOffers[0].ID != offerCNE3 {
		t.Errorf("china offers: %d %s", code, b)
	}
	if code, _, b := s.do(http.MethodGet, "/v1/products?country=CN&targetView=OnlineServices", cn, nil, nil); code != 200 || decode[collT[productT]](t, b).TotalCount != 0 {
		t.Errorf("china products: %d %s", code, b)
	}
	if code, _, b := s.do(http.MethodGet, "/v1/offers?country=US", cn, nil, nil); code != 200 || decode[collT[offerT]](t, b).TotalCount != 0 {
		t.Errorf("china partner, US market: %d %s", code, b)
	}
	code, _, b = s.do(http.MethodGet, "/v1/products/CFQ7TTC0LF8R?country=CN", cn, nil, nil)
	expectErr(t, "china product by id", code, b, 404, codeProductNotFound)

	code, _, b = s.do(http.MethodGet, "/v1/offers?country=US", gov, nil, nil)
	if got := ids(decode[collT[offerT]](t, b).Items, func(o offerT) string { return o.ID }); code != 200 ||
		!slices.Equal(got, []string{offerE1, offerE3, offerE5, offerArchive}) {
		t.Errorf("usgov offers: %d %v", code, got)
	}
	code, _, b = s.do(http.MethodGet, "/v1/products?country=US&targetView=OnlineServices", gov, nil, nil)
	if got := ids(decode[collT[productT]](t, b).Items, func(p productT) string { return p.ID }); code != 200 ||
		!slices.Equal(got, []string{productE1, productE3, productE5, productArchive}) {
		t.Errorf("usgov products: %d %v", code, got)
	}
	code, _, b = s.do(http.MethodGet, "/v1/products/CFQ7TTC0LH18?country=US", gov, nil, nil)
	expectErr(t, "usgov business basic", code, b, 404, codeProductNotFound)
	if code, _, b := s.do(http.MethodGet, "/v1/offers?country=GB", gov, nil, nil); code != 200 || decode[collT[offerT]](t, b).TotalCount != 0 {
		t.Errorf("usgov outside US: %d %s", code, b)
	}
}

// Every catalog entry maps to its license SKU GUID and part number.
func TestCatalogLicenseSkus(t *testing.T) {
	for _, tc := range []struct {
		it        item
		guid, pn  string
		offerID   string
		catalogID string
	}{
		{item{sku: ncBusinessBasic.Skus[0], avail: ncBusinessBasic.Skus[0].Availabilities[0]}, "3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS", "CFQ7TTC0LH18:0001", ciBasic},
		{item{sku: ncBusinessStd.Skus[0], avail: ncBusinessStd.Skus[0].Availabilities[0]}, "f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM", "CFQ7TTC0LDPB:0001", ciStandard},
		{item{sku: ncBusinessPrem.Skus[0], avail: ncBusinessPrem.Skus[0].Availabilities[0]}, "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB", "CFQ7TTC0LCHC:0002", ciPremium},
		{item{sku: ncE1.Skus[0], avail: ncE1.Skus[0].Availabilities[0]}, "18181a46-0d4e-45cd-891e-60aabd171b4e", "STANDARDPACK", "CFQ7TTC0LF8R:0001", ciE1},
		{item{sku: ncE3.Skus[0], avail: ncE3.Skus[0].Availabilities[0]}, "6fd2c87f-b296-42f0-b197-1e91e994b900", "ENTERPRISEPACK", "CFQ7TTC0LFLZ:0002", ciE3},
		{item{sku: ncE5.Skus[0], avail: ncE5.Skus[0].Availabilities[0]}, "c7df2760-2c81-4ef7-b578-5b5392b571df", "ENTERPRISEPREMIUM", "CFQ7TTC0LF8Q:0001", ciE5},
		{item{offer: legacyBasic}, "3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS", offerBusinessBasic, offerBusinessBasic},
		{item{offer: legacyE3Trial}, "6fd2c87f-b296-42f0-b197-1e91e994b900", "ENTERPRISEPACK", offerE3Trial, offerE3Trial},
		{item{offer: legacyCNE1}, "18181a46-0d4e-45cd-891e-60aabd171b4e", "STANDARDPACK", offerCNE1, offerCNE1},
	} {
		if tc.it.license().ID != tc.guid || tc.it.license().PartNumber != tc.pn || tc.it.offerID() != tc.offerID || tc.it.catalogItemID() != tc.catalogID {
			t.Errorf("%s: %s %s %s %s", tc.catalogID, tc.it.license().ID, tc.it.license().PartNumber, tc.it.offerID(), tc.it.catalogItemID())
		}
	}
}
