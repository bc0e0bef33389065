package mscloud

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Partner Center subscriptions and subscribed SKUs (BEHAVIOUR.md,
// "Commerce: subscriptions" and "Commerce: subscribed SKUs and license
// units"). Partner Center part (pcService).

func (s *pcService) registerPCSubscriptions() {
	register(s.mux, "GET /v1/customers/{id}/subscriptions", s.withCommerce(s.pcListSubscriptions))
	register(s.mux, "GET /v1/customers/{id}/subscriptions/{subId}", s.withCommerce(s.withSubscription(s.pcGetSubscription)))
	register(s.mux, "PATCH /v1/customers/{id}/subscriptions/{subId}", s.withCommerce(s.withSubscription(s.pcPatchSubscription)))
	register(s.mux, "GET /v1/customers/{id}/subscribedskus", s.withCommerce(s.pcSubscribedSkus))
}

var productTypeNCE = map[string]string{"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"}

// hasPurchasableAddons: an add-on of the partner's catalog accepts sub as parent.
func hasPurchasableAddons(sub *subscription) bool {
	cat := catalogFor(sub.Customer.Partner)
	country := sub.Customer.country()
	for _, o := range cat.Offers {
		if o.AddOn && o.soldIn(cat, country) && (item{offer: o}).acceptsParent(sub.Item) {
			return true
		}
	}
	for _, p := range cat.Products {
		for _, k := range p.Skus {
			if k.AddOn && len(k.Availabilities) > 0 && (item{sku: k, avail: k.Availabilities[0]}).acceptsParent(sub.Item) {
				return true
			}
		}
	}
	return false
}

// subscriptionActions lists what can be done now (simulated values).
func subscriptionActions(sub *subscription, now time.Time) []string {
	out := []string{}
	switch sub.Status {
	case subActive:
		out = append(out, "ChangeQuantity", "Suspend")
		if len(sub.Item.upgrades()) > 0 {
			out = append(out, "Upgrade")
		}
		if sub.Item.nce() && now.Before(sub.CancelUntil) {
			out = append(out, "Cancel")
		}
	case subSuspended:
		out = append(out, "Reactivate")
	}
	return out
}

func subscriptionView(sub *subscription, now time.Time) map[string]any {
	country := sub.Customer.country()
	links := map[string]any{"self": link(subPath(sub))}
	itemLinks(sub.Item, country, links)
	reasons := []string{}
	if sub.Status == subSuspended {
		reasons = append(reasons, "PartnerInitiated")
	}
	out := map[string]any{
		"id": sub.ID, "entitlementId": sub.EntitlementID, "offerId": sub.Item.offerID(), "offerName": sub.Item.name(),
		"friendlyName": sub.FriendlyName, "quantity": sub.Quantity, "unitType": unitLicenses,
		"hasPurchasableAddons": hasPurchasableAddons(sub),
		"creationDate":         tsOf(sub.Created), "effectiveStartDate": tsOf(sub.TermStart), "commitmentEndDate": tsOf(sub.TermEnd),
		"status": sub.Status, "autoRenewEnabled": sub.AutoRenew, "isTrial": sub.Item.trial(),
		"billingType": "license", "billingCycle": sub.BillingCycle, "termDuration": sub.TermDuration,
		"isMicrosoftProduct": true, "publisherName": publisherMicrosoft, "contractType": "subscription",
		"orderId": sub.OrderID, "partnerId": "", "suspensionReasons": reasons,
		"actions": subscriptionActions(sub, now), "productType": productTypeOnline,
		"links":      links,
		"attributes": map[string]string{"etag": sub.ETag, "objectType": "Subscription"},
	}
	if sub.ParentID != "" {
		out["parentSubscriptionId"] = sub.ParentID
	}
	if sub.Item.nce() {
		out["productType"] = productTypeNCE
		out["renewalTermDuration"] = sub.TermDuration
		out["cancellationAllowedUntilDate"] = tsOf(sub.CancelUntil)
		details := []any{}
		total := 0
		refundOptions := []any{}
		if sub.Status == subActive || sub.Status == subSuspended {
			for _, l := range sub.Lots {
				if now.Before(l.Until) && l.Quantity > 0 {
					total += l.Quantity
					details = append(details, map[string]any{"quantity": l.Quantity, "allowedUntilDateTime": tsOf(l.Until)})
				}
			}
			if now.Before(sub.CancelUntil) {
				refundOptions = append(refundOptions, map[string]any{"type": "Full", "expiresAt": tsOf(sub.CancelUntil)})
			}
		}
		out["refundableQuantity"] = map[string]any{"totalQuantity": total, "details": details}
		out["refundOptions"] = refundOptions
	}
	return out
}

func (s *pcService) pcListSubscriptions(r *http.Request, _ *apiCall, cu *customer, now time.Time) *response {
	orderID := r.URL.Query().Get("order_id")
	var items []any
	for _, sub := range cu.commerce.Subscriptions {
		if orderID == "" || strings.EqualFold(orderID, sub.OrderID) {
			items = append(items, subscriptionView(sub, now))
		}
	}
	out := collection(items)
	out["links"] = map[string]any{"self": link("/customers/" + cu.ID + "/subscriptions")}
	return jsonResponse(http.StatusOK, out)
}

type subHandler func(r *http.Request, c *apiCall, cu *customer, now time.Time, sub *subscription) *response

func (s *pcService) withSubscription(h subHandler) func(*http.Request, *apiCall, *customer, time.Time) *response {
	return func(r *http.Request, c *apiCall, cu *customer, now time.Time) *response {
		sub := cu.subscription(r.PathValue("subId"))
		if sub == nil {
			return pcError(http.StatusNotFound, codeSubscriptionNotFound, "Subscription "+r.PathValue("subId")+" was not found for this customer.")
		}
		return h(r, c, cu, now, sub)
	}
}

func (s *pcService) pcGetSubscription(_ *http.Request, _ *apiCall, _ *customer, now time.Time, sub *subscription) *response {
	resp := jsonResponse(http.StatusOK, subscriptionView(sub, now))
	resp.header.Set("ETag", `"`+sub.ETag+`"`)
	return resp
}

// subscriptionPatch holds the fields of a PATCH body that matter; absent
// fields change nothing.
type subscriptionPatch struct {
	ID               *string `json:"id"`
	Quantity         *int    `json:"quantity"`
	Status           *string `json:"status"`
	AutoRenewEnabled *bool   `json:"autoRenewEnabled"`
	FriendlyName     *string `json:"friendlyName"`
}

func stateErr(status int, msg string) *response {
	return pcError(status, codeSubscriptionState, msg)
}

// pcPatchSubscription is PATCH …/subscriptions/{subId} with the (full)
// subscription. The etag is not checked. Order of checks: body (2000), id
// matches (2000), quantity and status changed together (2001), subscription
// status allows a change (800102), status transition (800103, 800104,
// 800102), quantity (800102 while suspended, 2002, 800018, 800090).
func (s *pcService) pcPatchSubscription(r *http.Request, c *apiCall, cu *customer, now time.Time, sub *subscription) *response {
	var in subscriptionPatch
	if err := decodeJSON(r, &in); err != nil {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not a valid subscription: "+err.Error())
	}
	if in.ID != nil && *in.ID != "" && !strings.EqualFold(*in.ID, sub.ID) {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The subscription id in the body does not match the path.", "id")
	}
	// What would change. A quantity equal to the visible quantity, or to
	// the one already on its way, is no change.
	newStatus := ""
	if in.Status != nil {
		if v := strings.ToLower(strings.TrimSpace(*in.Status)); v != "" && v != sub.Status {
			newStatus = v
		}
	}
	newQty, qtyChange := 0, false
	if in.Quantity != nil && *in.Quantity != sub.Quantity {
		newQty, qtyChange = *in.Quantity, true
	}
	repeatOfPending := qtyChange && sub.Pending != nil && sub.Pending.Quantity == newQty
	autoRenewChange := in.AutoRenewEnabled != nil && *in.AutoRenewEnabled != sub.AutoRenew
	nameChange := in.FriendlyName != nil && strings.TrimSpace(*in.FriendlyName) != "" && strings.TrimSpace(*in.FriendlyName) != sub.FriendlyName

	if newStatus != "" && qtyChange {
		return pcError(http.StatusBadRequest, codeQuantityWithStatus, "The quantity cannot be changed together with the subscription status.")
	}
	if newStatus == "" && !qtyChange && !autoRenewChange && !nameChange {
		return s.pcGetSubscription(r, c, cu, now, sub)
	}
	switch sub.Status {
	case subPending:
		return stateErr(http.StatusBadRequest, "Subscription "+sub.ID+" is still being provisioned; retry when its order has completed.")
	case subDeleted, subExpired:
		return stateErr(http.StatusBadRequest, "Subscription "+sub.ID+" is "+sub.Status+" and cannot be changed.")
	}
	if sub.Pending != nil && (newStatus != "" || (qtyChange && !repeatOfPending)) {
		return stateErr(http.StatusConflict, "A quantity change of subscription "+sub.ID+" is still in progress; retry later.")
	}
	if newStatus != "" {
		if resp := s.checkStatusChange(sub, newStatus, now); resp != nil {
			return resp
		}
	}
	if qtyChange && !repeatOfPending {
		if sub.Status != subActive {
			return stateErr(http.StatusBadRequest, "The quantity of a "+sub.Status+" subscription cannot be changed.")
		}
		lo, hi := sub.Item.limits()
		if newQty < lo || newQty > hi {
			return pcError(http.StatusBadRequest, codeQuantityRange, fmt.Sprintf("Quantity %d is outside the allowed range %d-%d.", newQty, lo, hi))
		}
		if c.partner.Sandbox && newQty > sandboxSeatsPerSub && newQty > sub.Quantity {
			return sandboxSeatsErr().response()
		}
		if sub.Item.nce() && newQty < sub.Quantity && sub.Quantity-newQty > sub.refundable(now) {
			return pcError(http.StatusBadRequest, codeCannotDecrease, "Subscription quantity cannot be decreased.",
				fmt.Sprintf("Only %d seats can still be given back; the reduction window has closed for the others.", sub.refundable(now)))
		}
	}

	// Apply.
	if nameChange {
		sub.FriendlyName = strings.TrimSpace(*in.FriendlyName)
	}
	if autoRenewChange {
		sub.AutoRenew = *in.AutoRenewEnabled
	}
	if newStatus != "" {
		s.applyStatus(sub, newStatus)
	}
	sub.ETag = newETag()
	if qtyChange {
		if d := s.settings.get().SlowPatch; d > 0 {
			if !repeatOfPending {
				sub.Pending = &pendingQuantity{Quantity: newQty, Requested: now, At: now.Add(d)}
			}
			resp := emptyResponse(http.StatusAccepted)
			resp.header.Set("Location", "/v1"+subPath(sub))
			resp.header.Set("Retry-After", strconv.Itoa(max(1, int(sub.Pending.At.Sub(now).Seconds()+0.999))))
			return resp
		}
		sub.Pending = nil
		sub.setQuantity(newQty, now)
	}
	return jsonResponse(http.StatusOK, subscriptionView(sub, now))
}

// checkStatusChange validates moving sub to status.
func (s *pcService) checkStatusChange(sub *subscription, status string, now time.Time) *response {
	switch status {
	case subSuspended:
		if sub.Status != subActive {
			return stateErr(http.StatusBadRequest, "Only an active subscription can be suspended.")
		}
	case subActive:
		if sub.Status != subSuspended {
			return stateErr(http.StatusBadRequest, "Only a suspended subscription can be reactivated.")
		}
		if sub.ParentID != "" {
			if p := sub.Customer.subscription(sub.ParentID); p == nil || p.Status != subActive {
				return stateErr(http.StatusBadRequest, "An add-on cannot be reactivated while its parent subscription is not active.")
			}
		}
	case subDeleted:
		if !sub.Item.nce() {
			return pcError(http.StatusBadRequest, codeLegacyDelete, "Legacy subscriptions cannot be cancelled through status deleted; suspend the subscription instead.")
		}
		if !now.Before(sub.CancelUntil) {
			return pcError(http.StatusBadRequest, codeCancelWindowClosed,
				"Subscription cannot be cancelled: the cancellation window closed at "+tsOf(sub.CancelUntil)+".")
		}
	default:
		return pcError(http.StatusBadRequest, codeInvalidInput, "Status "+status+" cannot be set; use active, suspended or deleted.", "status")
	}
	return nil
}

// applyStatus moves sub (and its add-ons) to status.
func (s *pcService) applyStatus(sub *subscription, status string) {
	sub.Status = status
	if status == subDeleted {
		sub.Lots = nil
		sub.AutoRenew = false
	}
	for _, child := range sub.Customer.commerce.Subscriptions {
		if child.ParentID != sub.ID || child == sub {
			continue
		}
		switch {
		case status == subSuspended && child.Status == subActive,
			status == subActive && child.Status == subSuspended,
			status == subDeleted && (child.Status == subActive || child.Status == subSuspended):
			child.Status = status
			if status == subDeleted {
				child.Lots = nil
				child.AutoRenew = false
			}
			child.Pending = nil
			child.ETag = newETag()
		}
	}
}

// pcSubscribedSkus is GET /v1/customers/{id}/subscribedskus. The service
// documents App+User only; the simulator also accepts app-only tokens.
func (s *pcService) pcSubscribedSkus(_ *http.Request, _ *apiCall, cu *customer, _ time.Time) *response {
	var items []any
	for _, u := range s.licenseUnits(cu) {
		status := skuCapability(u)
		plans := []any{}
		for _, p := range u.License.Plans {
			plans = append(plans, map[string]any{
				"displayName": p.DisplayName, "serviceName": p.ServiceName, "id": p.ID,
				"capabilityStatus": status, "targetType": "User",
			})
		}
		total := u.Active
		items = append(items, map[string]any{
			"availableUnits": total - u.Consumed, "activeUnits": u.Active, "consumedUnits": u.Consumed,
			"suspendedUnits": u.Suspended, "totalUnits": total, "warningUnits": 0,
			"productSku": map[string]any{
				"id": u.License.ID, "name": u.License.Name, "skuPartNumber": u.License.PartNumber,
				"targetType": "User", "licenseGroupId": "group1",
			},
			"servicePlans": plans, "capabilityStatus": status,
			"attributes": map[string]string{"objectType": "SubscribedSku"},
		})
	}
	return jsonResponse(http.StatusOK, collection(items))
}
