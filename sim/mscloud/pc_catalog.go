package mscloud

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// Partner Center catalog: legacy offers (/v1/offers) and the new-commerce
// products → SKUs → availabilities tree (/v1/products). The data lives in
// catalog_data.go; what a partner sees depends on its cloud profile and the
// country asked for.

func (s *pcService) registerPCCatalog() {
	register(s.mux, "GET /v1/offers", s.pcListOffers)
	register(s.mux, "GET /v1/offers/{offerId}", s.pcGetOffer)
	register(s.mux, "GET /v1/products", s.pcListProducts)
	register(s.mux, "GET /v1/products/{productId}", s.withProduct(s.pcGetProduct))
	register(s.mux, "GET /v1/products/{productId}/skus", s.withProduct(s.pcListSkus))
	register(s.mux, "GET /v1/products/{productId}/skus/{skuId}", s.withSku(s.pcGetSku))
	register(s.mux, "GET /v1/products/{productId}/skus/{skuId}/availabilities", s.withSku(s.pcListAvailabilities))
	register(s.mux, "GET /v1/products/{productId}/skus/{skuId}/availabilities/{availabilityId}", s.withSku(s.pcGetAvailability))
}

const (
	publisherMicrosoft = "Microsoft Corporation"
	unitLicenses       = "Licenses"
)

// catalogCountry reads the mandatory ?country= (ISO alpha-2 of the built-in
// table; missing or unknown → 400 2000, simulated code).
func catalogCountry(r *http.Request) (string, *response) {
	raw := strings.TrimSpace(r.URL.Query().Get("country"))
	if raw == "" {
		return "", pcError(http.StatusBadRequest, codeInvalidInput, "The country parameter is required.", "country")
	}
	c := strings.ToUpper(raw)
	if countryTable[c] == nil {
		return "", pcError(http.StatusBadRequest, codeInvalidInput, "The country/region "+raw+" is not supported.", "country")
	}
	return c, nil
}

func localeOf(r *http.Request) string {
	if l := strings.TrimSpace(r.Header.Get("X-Locale")); l != "" {
		return l
	}
	return "en-US"
}

// currencyFor is the availability / order currency of a market.
func currencyFor(country string) (code, symbol string) {
	switch country {
	case "GB":
		return "GBP", "£"
	case "DE", "FR", "NL", "ES", "IT":
		return "EUR", "€"
	case "CA":
		return "CAD", "$"
	case "AU":
		return "AUD", "$"
	case "JP":
		return "JPY", "¥"
	case "CN":
		return "CNY", "¥"
	case "IN":
		return "INR", "₹"
	case "BR":
		return "BRL", "R$"
	}
	return "USD", "$"
}

func linkQ(uri, country string) map[string]any { return link(uri + "?country=" + country) }

// --- legacy offers ---

// looksNewCommerce: a catalog item id (product:sku[:availability]) or a
// new-commerce product id such as CFQ7TTC0LH18.
var newCommerceProductRe = regexp.MustCompile(`^(?i)[A-Z0-9]{12}$`)

func looksNewCommerce(id string) bool {
	return strings.Contains(id, ":") || newCommerceProductRe.MatchString(id)
}

func offerView(o *legacyOffer, cat *catalog, country, locale string) map[string]any {
	hasAddOns := false
	for _, x := range cat.Offers {
		if x.AddOn && x.soldIn(cat, country) && slices.ContainsFunc(x.Parents, func(p string) bool { return strings.EqualFold(p, o.ID) }) {
			hasAddOns = true
		}
	}
	prereq := []any{}
	for _, id := range o.Parents {
		if p := cat.offer(id); p != nil {
			prereq = append(prereq, map[string]any{"id": p.ID, "name": p.Name})
		}
	}
	targets := func(ids []string) []any {
		out := []any{}
		for _, id := range ids {
			if t := cat.offer(id); t != nil && t.soldIn(cat, country) {
				out = append(out, map[string]any{"id": t.ID, "name": t.Name})
			}
		}
		return out
	}
	limitUnit, limit := "None", 0
	if o.Trial {
		limitUnit, limit = "Lifetime", 1
	}
	return map[string]any{
		"id": o.ID, "name": o.Name, "description": o.Description,
		"minimumQuantity": o.Min, "maximumQuantity": o.Max, "rank": o.Rank,
		"uri": "/offers/" + o.ID + "?country=" + country, "locale": locale, "country": country,
		"category": map[string]any{
			"id": o.Category, "name": o.Category, "rank": o.Rank, "locale": locale, "country": country,
			"attributes": map[string]string{"objectType": "OfferCategory"},
		},
		"limitUnitOfMeasure": limitUnit, "limit": limit,
		"prerequisiteOffers": prereq, "isAddOn": o.AddOn, "hasAddOns": hasAddOns,
		"isAvailableForPurchase": true, "billing": "license",
		"supportedBillingCycles": o.Cycles, "isAutoRenewable": !o.Trial,
		"upgradeTargetOffers": targets(o.Upgrades), "conversionTargetOffers": targets(o.Conversions),
		"reselleeQualifications": []string{}, "resellerQualifications": []string{},
		"salesGroupId": "Office365", "isTrial": o.Trial,
		"product":  map[string]any{"id": o.License.ID, "name": o.License.Name, "unitType": unitLicenses},
		"unitType": unitLicenses,
		"links": map[string]any{
			"learnMore": map[string]any{"uri": "https://www.microsoft.com/microsoft-365", "method": "GET", "headers": []any{}},
			"self":      linkQ("/offers/"+o.ID, country),
		},
		"attributes": map[string]string{"objectType": "Offer"},
	}
}

// pcListOffers is GET /v1/offers?country=XX.
func (s *pcService) pcListOffers(r *http.Request, c *apiCall) *response {
	country, bad := catalogCountry(r)
	if bad != nil {
		return bad
	}
	cat := catalogFor(c.partner)
	var items []any
	for _, o := range cat.Offers {
		if o.soldIn(cat, country) {
			items = append(items, offerView(o, cat, country, localeOf(r)))
		}
	}
	out := collection(items)
	out["links"] = map[string]any{"self": linkQ("/offers", country)}
	return jsonResponse(http.StatusOK, out)
}

// pcGetOffer is GET /v1/offers/{id}?country=XX. New-catalog ids → 400 2100.
func (s *pcService) pcGetOffer(r *http.Request, c *apiCall) *response {
	id := strings.TrimSpace(r.PathValue("offerId"))
	if looksNewCommerce(id) {
		return pcError(http.StatusBadRequest, codeNewCatalogID,
			"The offer id "+id+" belongs to the new commerce catalog. Use the Products, SKUs and Availabilities APIs.")
	}
	country, bad := catalogCountry(r)
	if bad != nil {
		return bad
	}
	cat := catalogFor(c.partner)
	o := cat.offer(id)
	if o == nil || !o.soldIn(cat, country) {
		return pcError(http.StatusNotFound, codeOfferNotFound, "Offer "+id+" was not found for country/region "+country+".")
	}
	return jsonResponse(http.StatusOK, offerView(o, cat, country, localeOf(r)))
}

// --- new commerce ---

var knownTargetViews = []string{
	"Azure", "AzureReservations", "AzureReservationsVM", "AzureReservationsSQL", "AzureReservationsCosmosDb",
	"MicrosoftAzure", "OnlineServices", "Software", "SoftwareSUSELinux", "SoftwarePerpetual", "SoftwareSubscriptions",
	"SpecializedOffers", "MarketplaceSaaS", "AzureAzureReservationsSoftwareReservations",
}

var knownSegments = []string{"commercial", "education", "government", "nonprofit"}

var productTypeOnline = map[string]string{"id": "OnlineServices", "displayName": "OnlineServices"}

func productView(p *ncProduct, country string) map[string]any {
	return map[string]any{
		"id": p.ID, "title": p.Title, "description": p.Description,
		"productType":        productTypeOnline,
		"isMicrosoftProduct": true, "publisherName": publisherMicrosoft,
		"links": map[string]any{
			"skus": linkQ("/products/"+p.ID+"/skus", country),
			"self": linkQ("/products/"+p.ID, country),
		},
		"attributes": map[string]string{"objectType": "Product"},
	}
}

// skuView is the Sku resource; hasAddOns is computed from the catalog.
func skuView(k *ncSku, cat *catalog, country string) map[string]any {
	hasAddOns := false
	for _, p := range cat.Products {
		for _, x := range p.Skus {
			if x.AddOn && slices.Contains(x.Parents, k.key()) {
				hasAddOns = true
			}
		}
	}
	parents := append([]string{}, k.Parents...)
	upgrades := append([]string{}, k.Upgrades...)
	return map[string]any{
		"id": k.ID, "productId": k.product.ID, "title": k.Title, "description": k.Description,
		"minimumQuantity": k.Min, "maximumQuantity": k.Max, "isTrial": false,
		"supportedBillingCycles": []string{"annual", "monthly"},
		"purchasePrerequisites":  parents,
		"inventoryVariables":     []string{}, "provisioningVariables": []string{}, "actions": []string{},
		"consumptionType": "None",
		"dynamicAttributes": map[string]any{
			"isAddon": k.AddOn, "hasAddOns": hasAddOns, "prerequisiteSkus": parents,
			"upgradeTargetOffers": upgrades, "isMicrosoftProduct": true, "unitType": unitLicenses,
		},
		"links": map[string]any{
			"availabilities": linkQ("/products/"+k.product.ID+"/skus/"+k.ID+"/availabilities", country),
			"self":           linkQ("/products/"+k.product.ID+"/skus/"+k.ID, country),
		},
		"attributes": map[string]string{"objectType": "Sku"},
	}
}

func availabilityView(k *ncSku, a *ncAvailability, cat *catalog, country string) map[string]any {
	code, symbol := currencyFor(country)
	terms := []any{}
	for _, t := range a.Terms {
		terms = append(terms, map[string]any{"duration": t.Duration, "description": t.Description, "billingCycle": t.BillingCycle})
	}
	sku := skuView(k, cat, country)
	delete(sku, "links")
	prod := productView(k.product, country)
	delete(prod, "links")
	return map[string]any{
		"id": a.ID, "productId": k.product.ID, "skuId": k.ID,
		"catalogItemId":   k.key() + ":" + a.ID,
		"defaultCurrency": map[string]string{"code": code, "symbol": symbol},
		"segment":         "commercial", "country": country,
		"isPurchasable": true, "isRenewable": true, "renewalInstructions": []any{},
		"terms": terms, "product": prod, "sku": sku,
		"links":      map[string]any{"self": linkQ("/products/"+k.product.ID+"/skus/"+k.ID+"/availabilities/"+a.ID, country)},
		"attributes": map[string]string{"objectType": "Availability"},
	}
}

// pcListProducts is GET /v1/products?country=&targetView=[&targetSegment=].
// Only OnlineServices (commercial segment) has products; other known views
// and segments are empty; unknown ones are refused (400 2000, simulated).
func (s *pcService) pcListProducts(r *http.Request, c *apiCall) *response {
	country, bad := catalogCountry(r)
	if bad != nil {
		return bad
	}
	q := r.URL.Query()
	view := strings.TrimSpace(q.Get("targetView"))
	if view == "" {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The targetView parameter is required.", "targetView")
	}
	if !slices.ContainsFunc(knownTargetViews, func(v string) bool { return strings.EqualFold(v, view) }) {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The target view "+view+" is not valid.", "targetView")
	}
	segment := strings.TrimSpace(q.Get("targetSegment"))
	if segment != "" && !slices.ContainsFunc(knownSegments, func(v string) bool { return strings.EqualFold(v, segment) }) {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The target segment "+segment+" is not valid.", "targetSegment")
	}
	cat := catalogFor(c.partner)
	var items []any
	if strings.EqualFold(view, "OnlineServices") && (segment == "" || strings.EqualFold(segment, "commercial")) && cat.sellsIn(country) {
		for _, p := range cat.Products {
			items = append(items, productView(p, country))
		}
	}
	out := collection(items)
	out["links"] = map[string]any{"self": link("/products?country=" + country + "&targetView=" + view)}
	return jsonResponse(http.StatusOK, out)
}

func productNotFound(id string) *response {
	return pcError(http.StatusNotFound, codeProductNotFound, "Product "+id+" was not found.")
}

func skuNotFound(id string) *response {
	return pcError(http.StatusNotFound, codeSkuNotFound, "Sku "+id+" was not found.")
}

func availabilityNotFound(id string) *response {
	return pcError(http.StatusNotFound, codeAvailabilityNotFound, "Availability "+id+" was not found.")
}

type catalogHandler func(r *http.Request, cat *catalog, country string, p *ncProduct, k *ncSku) *response

// withProduct resolves ?country= and {productId} in the partner's catalog.
func (s *pcService) withProduct(h catalogHandler) apiHandler {
	return func(r *http.Request, c *apiCall) *response {
		country, bad := catalogCountry(r)
		if bad != nil {
			return bad
		}
		cat := catalogFor(c.partner)
		p := cat.product(r.PathValue("productId"))
		if p == nil || !cat.sellsIn(country) {
			return productNotFound(r.PathValue("productId"))
		}
		return h(r, cat, country, p, nil)
	}
}

// withSku additionally resolves {skuId}.
func (s *pcService) withSku(h catalogHandler) apiHandler {
	return s.withProduct(func(r *http.Request, cat *catalog, country string, p *ncProduct, _ *ncSku) *response {
		k := p.sku(r.PathValue("skuId"))
		if k == nil {
			return skuNotFound(r.PathValue("skuId"))
		}
		return h(r, cat, country, p, k)
	})
}

func (p *ncProduct) sku(id string) *ncSku {
	for _, k := range p.Skus {
		if strings.EqualFold(k.ID, id) {
			return k
		}
	}
	return nil
}

func (k *ncSku) availability(id string) *ncAvailability {
	for _, a := range k.Availabilities {
		if strings.EqualFold(a.ID, id) {
			return a
		}
	}
	return nil
}

func (s *pcService) pcGetProduct(_ *http.Request, _ *catalog, country string, p *ncProduct, _ *ncSku) *response {
	return jsonResponse(http.StatusOK, productView(p, country))
}

func (s *pcService) pcListSkus(_ *http.Request, cat *catalog, country string, p *ncProduct, _ *ncSku) *response {
	var items []any
	for _, k := range p.Skus {
		items = append(items, skuView(k, cat, country))
	}
	return jsonResponse(http.StatusOK, collection(items))
}

func (s *pcService) pcGetSku(_ *http.Request, cat *catalog, country string, _ *ncProduct, k *ncSku) *response {
	return jsonResponse(http.StatusOK, skuView(k, cat, country))
}

func (s *pcService) pcListAvailabilities(_ *http.Request, cat *catalog, country string, _ *ncProduct, k *ncSku) *response {
	var items []any
	for _, a := range k.Availabilities {
		items = append(items, availabilityView(k, a, cat, country))
	}
	return jsonResponse(http.StatusOK, collection(items))
}

func (s *pcService) pcGetAvailability(r *http.Request, cat *catalog, country string, _ *ncProduct, k *ncSku) *response {
	a := k.availability(r.PathValue("availabilityId"))
	if a == nil {
		return availabilityNotFound(r.PathValue("availabilityId"))
	}
	return jsonResponse(http.StatusOK, availabilityView(k, a, cat, country))
}

// --- purchasable items ---

// item is one purchasable thing: a legacy offer, or a new-commerce SKU
// availability.
type item struct {
	offer *legacyOffer
	sku   *ncSku
	avail *ncAvailability
}

func (it item) nce() bool { return it.sku != nil }

// offerID is the subscription offerId: the legacy offer id, or productId:skuId.
func (it item) offerID() string {
	if it.nce() {
		return it.sku.key()
	}
	return it.offer.ID
}

// catalogItemID is the legacy offer id or productId:skuId:availabilityId.
func (it item) catalogItemID() string {
	if it.nce() {
		return it.sku.key() + ":" + it.avail.ID
	}
	return it.offer.ID
}

func (it item) name() string {
	if it.nce() {
		return it.sku.Title
	}
	return it.offer.Name
}

func (it item) limits() (lo, hi int) {
	if it.nce() {
		return it.sku.Min, it.sku.Max
	}
	return it.offer.Min, it.offer.Max
}

func (it item) addOn() bool { return (it.nce() && it.sku.AddOn) || (!it.nce() && it.offer.AddOn) }

func (it item) trial() bool { return !it.nce() && it.offer.Trial }

// parents are the offer ids (legacy ids or productId:skuId) an add-on may attach to.
func (it item) parents() []string {
	if it.nce() {
		return it.sku.Parents
	}
	return it.offer.Parents
}

// upgrades are the higher offer ids (legacy) or productId:skuId (new commerce).
func (it item) upgrades() []string {
	if it.nce() {
		return it.sku.Upgrades
	}
	return it.offer.Upgrades
}

func (it item) license() *licenseSku {
	if it.nce() {
		return it.sku.License
	}
	return it.offer.License
}

// acceptsParent reports whether the add-on it may attach to a subscription of parent.
func (it item) acceptsParent(parent item) bool {
	return slices.ContainsFunc(it.parents(), func(p string) bool { return strings.EqualFold(p, parent.offerID()) })
}

// legacyTerm is the term a legacy subscription gets for a billing cycle.
func legacyTerm(cycle string) string {
	if cycle == "annual" {
		return "P1Y"
	}
	return "P1M"
}

// termFor checks billing cycle and term against what it supports and
// returns the term the subscription gets ("" and a message when refused).
func (it item) termFor(cycle, termDuration string) (string, string) {
	termDuration = strings.ToUpper(strings.TrimSpace(termDuration))
	if !it.nce() {
		if !slices.Contains(it.offer.Cycles, cycle) {
			return "", "Billing cycle " + cycle + " is not supported by offer " + it.offer.ID + "; supported: " + strings.Join(it.offer.Cycles, ", ") + "."
		}
		want := legacyTerm(cycle)
		if termDuration != "" && termDuration != want {
			return "", "Term duration " + termDuration + " is not supported with billing cycle " + cycle + " for offer " + it.offer.ID + "."
		}
		return want, ""
	}
	if termDuration == "" {
		return "", "termDuration is required for catalog item " + it.catalogItemID() + "."
	}
	for _, t := range it.avail.Terms {
		if t.Duration == termDuration && t.BillingCycle == cycle {
			return termDuration, ""
		}
	}
	return "", "Term duration " + termDuration + " with billing cycle " + cycle + " is not available for catalog item " + it.catalogItemID() + "."
}

// resolveItem finds id (legacy offer id or productId:skuId:availabilityId)
// for a customer in country of a partner whose catalog is cat.
func resolveItem(cat *catalog, country, id string) (item, *commerceErr) {
	id = strings.TrimSpace(id)
	notSold := func() *commerceErr {
		return &commerceErr{status: http.StatusBadRequest, code: codeOfferNotInMarket, cart: cartCatalogItemInvalid,
			msg: "The offer " + id + " is not available in the specified country/region " + country + "."}
	}
	if strings.Contains(id, ":") {
		parts := strings.Split(id, ":")
		if len(parts) > 3 {
			return item{}, &commerceErr{status: http.StatusBadRequest, code: codeInvalidInput, cart: cartCatalogItemInvalid,
				msg: "The catalog item id " + id + " is not valid: it must be productId:skuId:availabilityId."}
		}
		p := allProducts[strings.ToUpper(parts[0])]
		if p == nil {
			return item{}, &commerceErr{status: http.StatusNotFound, code: codeProductNotFound, cart: cartCatalogItemInvalid,
				msg: "Product " + parts[0] + " was not found."}
		}
		k := p.sku(parts[1])
		if k == nil {
			return item{}, &commerceErr{status: http.StatusNotFound, code: codeSkuNotFound, cart: cartCatalogItemInvalid,
				msg: "Sku " + parts[1] + " of product " + p.ID + " was not found."}
		}
		var a *ncAvailability
		if len(parts) == 3 {
			a = k.availability(parts[2])
		}
		if a == nil {
			return item{}, &commerceErr{status: http.StatusNotFound, code: codeAvailabilityNotFound, cart: cartCatalogItemInvalid,
				msg: "Availability of " + id + " was not found. Get the SKU's availabilities again and retry."}
		}
		if cat.product(p.ID) == nil || !cat.sellsIn(country) {
			return item{}, notSold()
		}
		return item{sku: k, avail: a}, nil
	}
	o := cat.offer(id)
	if o == nil || !o.soldIn(cat, country) {
		return item{}, notSold()
	}
	return item{offer: o}, nil
}
