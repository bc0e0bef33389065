package mscloud

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Legacy upgrades (…/upgrades) and new-commerce transitions
// (…/transitionEligibilities, …/transitions). Both go to higher offers only
// (E1 → E3 → E5, Business Basic → Standard → Premium).

func (s *pcService) registerPCTransitions() {
	register(s.mux, "GET /v1/customers/{id}/subscriptions/{subId}/upgrades", s.withCommerce(s.withSubscription(s.pcListUpgrades)))
	register(s.mux, "POST /v1/customers/{id}/subscriptions/{subId}/upgrades", s.withCommerce(s.withSubscription(s.pcUpgrade)))
	register(s.mux, "GET /v1/customers/{id}/subscriptions/{subId}/transitionEligibilities", s.withCommerce(s.withSubscription(s.pcTransitionEligibilities)))
	register(s.mux, "POST /v1/customers/{id}/subscriptions/{subId}/transitions", s.withCommerce(s.withSubscription(s.pcTransition)))
	register(s.mux, "GET /v1/customers/{id}/subscriptions/{subId}/transitions", s.withCommerce(s.withSubscription(s.pcListTransitions)))
}

const (
	upgradeOnly                   = "upgrade_only"
	upgradeWithLicenseTransfer    = "upgrade_with_license_transfer"
	transitionOnly                = "transition_only"
	transitionWithLicenseTransfer = "transition_with_license_transfer"
)

type transition struct {
	ID                string
	FromSubscription  string
	ToSubscription    string
	FromCatalogItemID string
	ToCatalogItemID   string
	Quantity          int
	TermDuration      string
	BillingCycle      string
	Type              string
	Created           time.Time
	OrderID           string
}

// blockers says why sub cannot move to target now ("" code: it can).
// Add-ons must be able to follow their parent to the target.
func blockers(sub *subscription, target item) (code, msg string) {
	if sub.Status != subActive {
		return "subscription_status_not_active", "Subscription " + sub.ID + " is " + sub.Status + "; only active subscriptions can be upgraded."
	}
	for _, child := range sub.Customer.commerce.Subscriptions {
		if child.ParentID == sub.ID && (child.Status == subActive || child.Status == subSuspended) && !child.Item.acceptsParent(target) {
			return "subscription_addons_present", "Add-on subscription " + child.ID + " (" + child.Item.name() + ") is not available for " + target.name() + "."
		}
	}
	return "", ""
}

// moveAssigned moves assigned license units (at most n) from one license
// SKU to another, for transfers with licenses.
// Users holding the source SKU (creation order) get the target SKU instead
// (without disabled plans; graphService.moveLicenses), then units
// recorded without a user move. Caller holds s.mu.
func (s *pcService) moveAssigned(cu *customer, from, to *licenseSku, n int) {
	if from.ID == to.ID {
		return
	}
	n -= s.graph.moveLicenses(cu.ID, from.ID, to.ID, n)
	moved := min(cu.commerce.assigned[from.ID], n)
	cu.setUnassignedUnits(from.ID, cu.commerce.assigned[from.ID]-moved)
	cu.setUnassignedUnits(to.ID, cu.commerce.assigned[to.ID]+moved)
}

// recordOrder books a completed order for subscriptions created by an
// upgrade or a transition.
func recordOrder(cu *customer, sub *subscription, now time.Time) {
	o := &order{ID: newGUID(), AlternateID: newAlternateID(), Customer: cu, BillingCycle: sub.BillingCycle,
		Created: now, CompleteAt: now, Status: orderCompleted,
		Lines: []*orderLine{{Number: 0, OfferID: sub.Item.catalogItemID(), Sub: sub, FriendlyName: sub.FriendlyName,
			Quantity: sub.Quantity, TermDuration: sub.TermDuration, ParentID: sub.ParentID}}}
	sub.OrderID = o.ID
	cu.commerce.Orders = append(cu.commerce.Orders, o)
}

// --- legacy upgrades ---

func legacyTargets(sub *subscription) []*legacyOffer {
	if sub.Item.nce() {
		return nil
	}
	cat := catalogFor(sub.Customer.Partner)
	var out []*legacyOffer
	for _, id := range sub.Item.offer.Upgrades {
		if t := cat.offer(id); t != nil && t.soldIn(cat, sub.Customer.country()) {
			out = append(out, t)
		}
	}
	return out
}

// pcListUpgrades is GET …/subscriptions/{subId}/upgrades (legacy only; a
// new-commerce subscription has none here, see transitions).
func (s *pcService) pcListUpgrades(r *http.Request, c *apiCall, cu *customer, _ time.Time, sub *subscription) *response {
	var items []any
	for _, t := range legacyTargets(sub) {
		code, msg := blockers(sub, item{offer: t})
		errs := []any{}
		if code != "" {
			errs = append(errs, map[string]any{"code": code, "description": msg, "additionalDetails": ""})
		}
		items = append(items, map[string]any{
			"targetOffer": offerView(t, catalogFor(c.partner), cu.country(), localeOf(r)),
			"upgradeType": upgradeWithLicenseTransfer, "isEligible": code == "", "quantity": sub.Quantity,
			"upgradeErrors": errs, "attributes": map[string]string{"objectType": "Upgrade"},
		})
	}
	return jsonResponse(http.StatusOK, collection(items))
}

// pcUpgrade is POST …/subscriptions/{subId}/upgrades with an upgrade item.
// The source is suspended, a new target subscription gets the quantity,
// add-ons move to it, and with upgrade_with_license_transfer the assigned
// licenses follow.
func (s *pcService) pcUpgrade(r *http.Request, c *apiCall, cu *customer, now time.Time, sub *subscription) *response {
	var in struct {
		TargetOffer struct {
			ID string `json:"id"`
		} `json:"targetOffer"`
		UpgradeType string `json:"upgradeType"`
		Quantity    *int   `json:"quantity"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not a valid upgrade: "+err.Error())
	}
	if strings.TrimSpace(in.TargetOffer.ID) == "" {
		return pcError(http.StatusBadRequest, codeInvalidInput, "targetOffer.id is required.", "targetOffer.id")
	}
	typ := strings.ToLower(strings.TrimSpace(in.UpgradeType))
	if typ == "" {
		typ = upgradeWithLicenseTransfer
	}
	if typ != upgradeOnly && typ != upgradeWithLicenseTransfer {
		return pcError(http.StatusBadRequest, codeInvalidInput, "upgradeType must be upgrade_only or upgrade_with_license_transfer.", "upgradeType")
	}
	if sub.Item.nce() {
		return pcError(http.StatusBadRequest, codeUpgradeNotEligible, "Subscription "+sub.ID+" is a new commerce subscription; use transitions.")
	}
	var target *legacyOffer
	for _, t := range legacyTargets(sub) {
		if strings.EqualFold(t.ID, in.TargetOffer.ID) {
			target = t
		}
	}
	if target == nil {
		return pcError(http.StatusBadRequest, codeUpgradeNotEligible, "Offer "+in.TargetOffer.ID+" is not an upgrade target of subscription "+sub.ID+".")
	}
	titem := item{offer: target}
	if code, msg := blockers(sub, titem); code != "" {
		return pcError(http.StatusBadRequest, codeUpgradeNotEligible, msg, code)
	}
	q := sub.Quantity
	if in.Quantity != nil {
		q = *in.Quantity
	}
	if q < target.Min || q > target.Max {
		return pcError(http.StatusBadRequest, codeQuantityRange, fmt.Sprintf("Quantity %d is outside the allowed range %d-%d.", q, target.Min, target.Max))
	}
	if c.partner.Sandbox && q > sandboxSeatsPerSub {
		return sandboxSeatsErr().response()
	}
	term, msg := titem.termFor(sub.BillingCycle, "")
	if msg != "" {
		return pcError(http.StatusBadRequest, codeTermNotSupported, msg)
	}
	tsub := s.newSubscription(cu, titem, q, sub.BillingCycle, term, "", now)
	recordOrder(cu, tsub, now)
	for _, child := range cu.commerce.Subscriptions {
		if child.ParentID == sub.ID {
			child.ParentID = tsub.ID
			child.ETag = newETag()
		}
	}
	sub.Status, sub.Pending, sub.ETag = subSuspended, nil, newETag()
	if typ == upgradeWithLicenseTransfer {
		s.moveAssigned(cu, sub.Item.license(), titem.license(), q)
	}
	return jsonResponse(http.StatusOK, map[string]any{
		"sourceSubscriptionId": sub.ID, "targetSubscriptionId": tsub.ID, "upgradeType": typ,
		"upgradeErrors": []any{}, "licenseUpgradeErrors": []any{},
		"attributes": map[string]string{"objectType": "UpgradeResult"},
	})
}

// --- new-commerce transitions ---

// nceTargets are the higher SKUs of sub the partner can buy for the
// customer, each with its first availability.
func nceTargets(sub *subscription) []item {
	if !sub.Item.nce() {
		return nil
	}
	cat := catalogFor(sub.Customer.Partner)
	if !cat.sellsIn(sub.Customer.country()) {
		return nil
	}
	var out []item
	for _, key := range sub.Item.sku.Upgrades {
		pid, kid, _ := strings.Cut(key, ":")
		p := cat.product(pid)
		if p == nil {
			continue
		}
		if k := p.sku(kid); k != nil && len(k.Availabilities) > 0 {
			out = append(out, item{sku: k, avail: k.Availabilities[0]})
		}
	}
	return out
}

// pcTransitionEligibilities is GET …/transitionEligibilities?eligibilityType=immediate|scheduled.
// Only immediate transitions are simulated: scheduled gives an empty list.
func (s *pcService) pcTransitionEligibilities(r *http.Request, _ *apiCall, _ *customer, _ time.Time, sub *subscription) *response {
	et := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("eligibilityType")))
	switch et {
	case "", "immediate":
	case "scheduled":
		return jsonResponse(http.StatusOK, collection(nil))
	default:
		return pcError(http.StatusBadRequest, codeInvalidInput, "eligibilityType must be immediate or scheduled.", "eligibilityType")
	}
	var items []any
	for _, t := range nceTargets(sub) {
		code, msg := blockers(sub, t)
		errs := []any{}
		if code != "" {
			errs = append(errs, map[string]any{"code": codeTransitionNotEligible, "description": msg})
		}
		var elig []any
		for _, typ := range []string{transitionOnly, transitionWithLicenseTransfer} {
			elig = append(elig, map[string]any{"isEligible": code == "", "transitionType": typ, "eligibilityType": "Immediate", "errors": errs})
		}
		items = append(items, map[string]any{
			"catalogItemId": t.catalogItemID(), "title": t.name(), "eligibilities": elig,
			"attributes": map[string]string{"objectType": "TransitionEligibility"},
		})
	}
	return jsonResponse(http.StatusOK, collection(items))
}

func transitionView(t *transition) map[string]any {
	return map[string]any{
		"id": t.ID, "fromCatalogItemId": t.FromCatalogItemID, "toCatalogItemId": t.ToCatalogItemID,
		"fromSubscriptionId": t.FromSubscription, "toSubscriptionId": t.ToSubscription,
		"quantity": t.Quantity, "termDuration": t.TermDuration, "billingCycle": t.BillingCycle,
		"transitionType": t.Type, "status": "completed", "creationDate": tsOf(t.Created), "orderId": t.OrderID,
		"attributes": map[string]string{"objectType": "Transition"},
	}
}

type transitionIn struct {
	FromCatalogItemID  string `json:"fromCatalogItemId"`
	FromSubscriptionID string `json:"fromSubscriptionId"`
	ToCatalogItemID    string `json:"toCatalogItemId"`
	ToSubscriptionID   string `json:"toSubscriptionId"`
	Quantity           *int   `json:"quantity"`
	TermDuration       string `json:"termDuration"`
	BillingCycle       string `json:"billingCycle"`
	TransitionType     string `json:"transitionType"`
}

// pcTransition is POST …/subscriptions/{subId}/transitions (immediate).
// Moving the whole quantity expires the source (assumed); a part keeps the
// source with the rest. The target is a new subscription (term aligned with
// the source's when the term is the same) or toSubscriptionId.
func (s *pcService) pcTransition(r *http.Request, c *apiCall, cu *customer, now time.Time, sub *subscription) *response {
	var in transitionIn
	if err := decodeJSON(r, &in); err != nil {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not a valid transition: "+err.Error())
	}
	typ := strings.ToLower(strings.TrimSpace(in.TransitionType))
	switch {
	case in.FromSubscriptionID != "" && !strings.EqualFold(in.FromSubscriptionID, sub.ID):
		return pcError(http.StatusBadRequest, codeInvalidInput, "fromSubscriptionId does not match the subscription in the path.", "fromSubscriptionId")
	case strings.TrimSpace(in.ToCatalogItemID) == "":
		return pcError(http.StatusBadRequest, codeInvalidInput, "toCatalogItemId is required.", "toCatalogItemId")
	case in.Quantity == nil:
		return pcError(http.StatusBadRequest, codeInvalidInput, "quantity is required.", "quantity")
	case typ != transitionOnly && typ != transitionWithLicenseTransfer:
		return pcError(http.StatusBadRequest, codeInvalidInput, "transitionType must be transition_only or transition_with_license_transfer.", "transitionType")
	}
	if !sub.Item.nce() {
		return pcError(http.StatusBadRequest, codeTransitionNotEligible, "Subscription "+sub.ID+" is a legacy subscription; use upgrades.")
	}
	if in.FromCatalogItemID != "" && !strings.HasPrefix(strings.ToUpper(in.FromCatalogItemID)+":", strings.ToUpper(sub.Item.offerID())+":") {
		return pcError(http.StatusBadRequest, codeInvalidInput, "fromCatalogItemId does not match the subscription.", "fromCatalogItemId")
	}
	target, e := resolveItem(catalogFor(c.partner), cu.country(), in.ToCatalogItemID)
	if e != nil {
		return e.response()
	}
	eligible := false
	for _, t := range nceTargets(sub) {
		eligible = eligible || t.sku == target.sku
	}
	if !eligible {
		return pcError(http.StatusBadRequest, codeTransitionNotEligible, "Catalog item "+in.ToCatalogItemID+" is not a transition target of subscription "+sub.ID+".")
	}
	q := *in.Quantity
	full := q == sub.Quantity
	if code, msg := blockers(sub, target); code != "" && (full || code == "subscription_status_not_active") {
		return pcError(http.StatusBadRequest, codeTransitionNotEligible, msg)
	}
	if q < 1 || q > sub.Quantity {
		return pcError(http.StatusBadRequest, codeQuantityRange, fmt.Sprintf("Quantity %d must be between 1 and the source quantity %d.", q, sub.Quantity))
	}
	cycle := normCycle(in.BillingCycle)
	if cycle == "" {
		cycle = sub.BillingCycle
	}
	termIn := in.TermDuration
	if strings.TrimSpace(termIn) == "" {
		termIn = sub.TermDuration
	}
	term, msg := target.termFor(cycle, termIn)
	if msg != "" {
		return pcError(http.StatusBadRequest, codeTermNotSupported, msg)
	}
	var to *subscription
	resulting := q
	if in.ToSubscriptionID != "" {
		to = cu.subscription(in.ToSubscriptionID)
		if to == nil || to.Status != subActive || !to.Item.nce() || to.Item.sku != target.sku {
			return pcError(http.StatusBadRequest, codeTransitionNotEligible, "toSubscriptionId "+in.ToSubscriptionID+" is not an active subscription of "+target.offerID()+".")
		}
		resulting += to.Quantity
	}
	lo, hi := target.limits()
	if resulting < lo || resulting > hi {
		return pcError(http.StatusBadRequest, codeQuantityRange, fmt.Sprintf("Quantity %d is outside the allowed range %d-%d.", resulting, lo, hi))
	}
	if c.partner.Sandbox && resulting > sandboxSeatsPerSub {
		return sandboxSeatsErr().response()
	}

	if to == nil {
		to = s.newSubscription(cu, target, q, cycle, term, "", now)
		if term == sub.TermDuration && sub.TermEnd.After(now) {
			to.TermEnd = sub.TermEnd
		}
		recordOrder(cu, to, now)
	} else {
		to.setQuantity(resulting, now)
		to.ETag = newETag()
	}
	if full {
		for _, child := range cu.commerce.Subscriptions {
			if child.ParentID == sub.ID && (child.Status == subActive || child.Status == subSuspended) {
				child.ParentID = to.ID
				child.ETag = newETag()
			}
		}
		sub.Status, sub.Lots, sub.AutoRenew = subExpired, nil, false
	} else {
		sub.takeSeats(q, now)
		sub.Quantity -= q
	}
	sub.Pending, sub.ETag = nil, newETag()
	if typ == transitionWithLicenseTransfer {
		s.moveAssigned(cu, sub.Item.license(), target.license(), q)
	}
	t := &transition{ID: newGUID(), FromSubscription: sub.ID, ToSubscription: to.ID,
		FromCatalogItemID: sub.Item.catalogItemID(), ToCatalogItemID: target.catalogItemID(),
		Quantity: q, TermDuration: term, BillingCycle: cycle, Type: typ, Created: now, OrderID: to.OrderID}
	cu.commerce.Transitions = append(cu.commerce.Transitions, t)
	return jsonResponse(http.StatusCreated, transitionView(t))
}

// pcListTransitions is GET …/subscriptions/{subId}/transitions: the
// transitions from or to the subscription.
func (s *pcService) pcListTransitions(_ *http.Request, _ *apiCall, cu *customer, _ time.Time, sub *subscription) *response {
	var items []any
	for _, t := range cu.commerce.Transitions {
		if t.FromSubscription == sub.ID || t.ToSubscription == sub.ID {
			items = append(items, transitionView(t))
		}
	}
	return jsonResponse(http.StatusOK, collection(items))
}
