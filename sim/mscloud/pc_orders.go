package mscloud

import (
	"net/http"
	"strings"
	"time"
)

// Partner Center orders (BEHAVIOUR.md, "Commerce: orders"). Partner
// Center part (pcService).

func (s *pcService) registerPCOrders() {
	register(s.mux, "POST /v1/customers/{id}/orders", s.withCommerce(s.pcCreateOrder))
	register(s.mux, "GET /v1/customers/{id}/orders", s.withCommerce(s.pcListOrders))
	register(s.mux, "GET /v1/customers/{id}/orders/{orderId}", s.withCommerce(s.withOrder(s.pcGetOrder)))
	register(s.mux, "GET /v1/customers/{id}/orders/{orderId}/provisioningstatus", s.withCommerce(s.withOrder(s.pcOrderProvisioning)))
}

type orderLineIn struct {
	LineItemNumber       *int              `json:"lineItemNumber"`
	OfferID              string            `json:"offerId"`
	Quantity             int               `json:"quantity"`
	TermDuration         string            `json:"termDuration"`
	FriendlyName         string            `json:"friendlyName"`
	ParentSubscriptionID string            `json:"parentSubscriptionId"`
	ProvisioningContext  map[string]string `json:"provisioningContext"`
}

type orderIn struct {
	ReferenceCustomerID string        `json:"referenceCustomerId"`
	BillingCycle        string        `json:"billingCycle"`
	LineItems           []orderLineIn `json:"lineItems"`
}

// parentFrom takes the add-on parent from the field or provisioningContext.
func parentFrom(field string, ctx map[string]string) string {
	if v := strings.TrimSpace(field); v != "" {
		return v
	}
	for k, v := range ctx {
		if strings.EqualFold(k, "parentSubscriptionId") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// pcCreateOrder is POST /v1/customers/{id}/orders. Checks, all before
// anything is created: body (2000), MCA attested (403 13605), each line
// (see validateLine), sandbox subscriptions per customer (800018).
func (s *pcService) pcCreateOrder(r *http.Request, c *apiCall, cu *customer, now time.Time) *response {
	var in orderIn
	if err := decodeJSON(r, &in); err != nil {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not a valid order: "+err.Error())
	}
	if in.ReferenceCustomerID != "" && !strings.EqualFold(in.ReferenceCustomerID, cu.ID) {
		return pcError(http.StatusBadRequest, codeInvalidInput, "referenceCustomerId does not match the customer in the path.", "referenceCustomerId")
	}
	cycle := normCycle(in.BillingCycle)
	if cycle == "" {
		return pcError(http.StatusBadRequest, codeInvalidInput, "billingCycle is required.", "billingCycle")
	}
	if len(in.LineItems) == 0 {
		return pcError(http.StatusBadRequest, codeInvalidInput, "An order needs at least one line item.", "lineItems")
	}
	seen := map[int]bool{}
	reqs := make([]lineRequest, 0, len(in.LineItems))
	for i, li := range in.LineItems {
		n := i
		if li.LineItemNumber != nil {
			n = *li.LineItemNumber
		}
		if seen[n] || n < 0 {
			return pcError(http.StatusBadRequest, codeInvalidInput, "lineItemNumber values must be unique and not negative.", "lineItems.lineItemNumber")
		}
		seen[n] = true
		if strings.TrimSpace(li.OfferID) == "" {
			return pcError(http.StatusBadRequest, codeInvalidInput, "offerId is required on every line item.", "lineItems.offerId")
		}
		reqs = append(reqs, lineRequest{Number: n, OfferID: li.OfferID, Quantity: li.Quantity, TermDuration: li.TermDuration,
			BillingCycle: cycle, FriendlyName: li.FriendlyName, ParentID: parentFrom(li.ParentSubscriptionID, li.ProvisioningContext)})
	}
	if !cu.MCAAttested {
		return mcaErr()
	}
	lines := make([]*resolvedLine, 0, len(reqs))
	for _, lr := range reqs {
		rl, e := s.validateLine(c.partner, cu, lr)
		if e != nil {
			return e.response()
		}
		lines = append(lines, rl)
	}
	if c.partner.Sandbox && cu.liveSubscriptions()+len(lines) > sandboxSubsPerCustomer {
		return sandboxSubsErr().response()
	}
	o := s.placeOrder(cu, cycle, lines, now)
	return jsonResponse(http.StatusCreated, orderView(o))
}

func orderPath(o *order) string { return "/customers/" + o.Customer.ID + "/orders/" + o.ID }

func subPath(sub *subscription) string {
	return "/customers/" + sub.Customer.ID + "/subscriptions/" + sub.ID
}

// itemLinks are the product/sku/availability links of a new-commerce item.
func itemLinks(it item, country string, into map[string]any) {
	if !it.nce() {
		into["offer"] = linkQ("/offers/"+it.offer.ID, country)
		return
	}
	base := "/products/" + it.sku.product.ID
	into["product"] = linkQ(base, country)
	into["sku"] = linkQ(base+"/skus/"+it.sku.ID, country)
	into["availability"] = linkQ(base+"/skus/"+it.sku.ID+"/availabilities/"+it.avail.ID, country)
}

func orderView(o *order) map[string]any {
	code, symbol := currencyFor(o.Customer.country())
	lines := []any{}
	for _, l := range o.Lines {
		links := map[string]any{
			"subscription":       link(subPath(l.Sub)),
			"provisioningStatus": link(orderPath(o) + "/provisioningstatus"),
		}
		itemLinks(l.Sub.Item, o.Customer.country(), links)
		li := map[string]any{
			"lineItemNumber": l.Number, "offerId": l.OfferID, "subscriptionId": l.Sub.ID,
			"friendlyName": l.FriendlyName, "quantity": l.Quantity, "termDuration": l.TermDuration,
			"transactionType": "new", "provisioningContext": map[string]string{}, "links": links,
		}
		if l.ParentID != "" {
			li["parentSubscriptionId"] = l.ParentID
		}
		lines = append(lines, li)
	}
	return map[string]any{
		"id": o.ID, "alternateId": o.AlternateID, "referenceCustomerId": o.Customer.ID,
		"billingCycle": o.BillingCycle, "transactionType": "UserPurchase",
		"currencyCode": code, "currencySymbol": symbol,
		"creationDate": tsOf(o.Created), "status": o.Status, "lineItems": lines,
		"links": map[string]any{
			"self":               link(orderPath(o)),
			"provisioningStatus": link(orderPath(o) + "/provisioningstatus"),
		},
		"attributes": map[string]string{"objectType": "Order"},
	}
}

func (s *pcService) pcListOrders(_ *http.Request, _ *apiCall, cu *customer, _ time.Time) *response {
	var items []any
	for _, o := range cu.commerce.Orders {
		items = append(items, orderView(o))
	}
	out := collection(items)
	out["links"] = map[string]any{"self": link("/customers/" + cu.ID + "/orders")}
	return jsonResponse(http.StatusOK, out)
}

type orderHandler func(r *http.Request, c *apiCall, cu *customer, now time.Time, o *order) *response

func (s *pcService) withOrder(h orderHandler) func(*http.Request, *apiCall, *customer, time.Time) *response {
	return func(r *http.Request, c *apiCall, cu *customer, now time.Time) *response {
		id := r.PathValue("orderId")
		for _, o := range cu.commerce.Orders {
			if strings.EqualFold(o.ID, id) {
				return h(r, c, cu, now, o)
			}
		}
		return pcError(http.StatusNotFound, codeOrderNotFound, "Order "+id+" was not found for this customer.")
	}
}

func (s *pcService) pcGetOrder(_ *http.Request, _ *apiCall, _ *customer, _ time.Time, o *order) *response {
	return jsonResponse(http.StatusOK, orderView(o))
}

// pcOrderProvisioning is GET …/orders/{orderId}/provisioningstatus: one
// entry per line item, "Fulfilled" once the order completed, else
// "PrefulfillmentPending".
func (s *pcService) pcOrderProvisioning(_ *http.Request, _ *apiCall, _ *customer, _ time.Time, o *order) *response {
	status := "Fulfilled"
	if o.Status == orderPending {
		status = "PrefulfillmentPending"
	}
	var items []any
	for _, l := range o.Lines {
		items = append(items, map[string]any{
			"lineItemNumber": l.Number, "status": status,
			"quantityProvisioningInformation": []any{map[string]any{"quantity": l.Quantity, "provisioningStatus": status}},
			"resourceUri":                     subPath(l.Sub),
			"attributes":                      map[string]string{"objectType": "OrderLineItemProvisioningStatus"},
		})
	}
	return jsonResponse(http.StatusOK, collection(items))
}
