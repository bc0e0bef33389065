package mscloud

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Partner Center carts and checkout (BEHAVIOUR.md, "Commerce: carts and
// checkout"). Partner Center part (pcService).

func (s *pcService) registerPCCarts() {
	register(s.mux, "POST /v1/customers/{id}/carts", s.withCommerce(s.pcCreateCart))
	register(s.mux, "GET /v1/customers/{id}/carts/{cartId}", s.withCommerce(s.withCart(s.pcGetCart)))
	register(s.mux, "PUT /v1/customers/{id}/carts/{cartId}", s.withCommerce(s.withCart(s.pcUpdateCart)))
	register(s.mux, "POST /v1/customers/{id}/carts/{cartId}/checkout", s.withCommerce(s.withCart(s.pcCheckout)))
}

const (
	cartActive  = "Active"
	cartOrdered = "Ordered"
)

type cart struct {
	ID           string
	Customer     *customer
	Created      time.Time
	Modified     time.Time
	Expires      time.Time
	ModifiedUser string
	Status       string
	Lines        []*cartLine
}

type cartLine struct {
	ID                  int
	CatalogItemID       string
	FriendlyName        string
	Quantity            int
	BillingCycle        string
	TermDuration        string
	ProvisioningContext map[string]string
	PromotionID         *string
	ParentID            string
	OrderGroup          string
	Err                 *commerceErr
}

type cartLineIn struct {
	ID                   *int              `json:"id"`
	CatalogItemID        string            `json:"catalogItemId"`
	FriendlyName         string            `json:"friendlyName"`
	Quantity             int               `json:"quantity"`
	BillingCycle         string            `json:"billingCycle"`
	TermDuration         string            `json:"termDuration"`
	ProvisioningContext  map[string]string `json:"provisioningContext"`
	PromotionID          *string           `json:"promotionId"`
	ParentSubscriptionID string            `json:"parentSubscriptionId"`
}

type cartIn struct {
	LineItems []cartLineIn `json:"lineItems"`
}

// readCartLines parses a cart body into lines (400 2000 when malformed).
func readCartLines(r *http.Request) ([]*cartLine, *response) {
	var in cartIn
	if err := decodeJSON(r, &in); err != nil {
		return nil, pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not a valid cart: "+err.Error())
	}
	if len(in.LineItems) == 0 {
		return nil, pcError(http.StatusBadRequest, codeInvalidInput, "A cart needs at least one line item.", "lineItems")
	}
	lines := make([]*cartLine, 0, len(in.LineItems))
	for i, li := range in.LineItems {
		id := i
		if li.ID != nil {
			id = *li.ID
		}
		ctx := li.ProvisioningContext
		if ctx == nil {
			ctx = map[string]string{}
		}
		lines = append(lines, &cartLine{
			ID: id, CatalogItemID: strings.TrimSpace(li.CatalogItemID), FriendlyName: li.FriendlyName, Quantity: li.Quantity,
			BillingCycle: normCycle(li.BillingCycle), TermDuration: strings.ToUpper(strings.TrimSpace(li.TermDuration)),
			ProvisioningContext: ctx, PromotionID: li.PromotionID, ParentID: parentFrom(li.ParentSubscriptionID, ctx),
		})
	}
	return lines, nil
}

func (l *cartLine) request() lineRequest {
	return lineRequest{Number: l.ID, OfferID: l.CatalogItemID, Quantity: l.Quantity, TermDuration: l.TermDuration,
		BillingCycle: l.BillingCycle, FriendlyName: l.FriendlyName, ParentID: l.ParentID}
}

// validateCart sets each line's orderGroup (one group per distinct billing
// cycle, "0", "1", … in order of first appearance) and error (documented
// cart error codes), and returns the valid lines in order.
func (s *pcService) validateCart(p *partner, cu *customer, ct *cart) map[*cartLine]*resolvedLine {
	groups := map[string]string{}
	valid := map[*cartLine]*resolvedLine{}
	live := cu.liveSubscriptions()
	for _, l := range ct.Lines {
		g, ok := groups[l.BillingCycle]
		if !ok {
			g = strconv.Itoa(len(groups))
			groups[l.BillingCycle] = g
		}
		l.OrderGroup, l.Err = g, nil
		switch {
		case l.CatalogItemID == "":
			l.Err = &commerceErr{status: http.StatusBadRequest, code: codeInvalidInput, cart: cartCatalogItemInvalid, msg: "catalogItemId is required."}
		case l.BillingCycle == "":
			l.Err = &commerceErr{status: http.StatusBadRequest, code: codeInvalidInput, cart: cartInvalidInput, msg: "billingCycle is required."}
		case !cu.MCAAttested:
			l.Err = &commerceErr{status: http.StatusForbidden, code: codeMCANotAttested, cart: cartAttestation,
				msg: "Microsoft Customer Agreement acceptance must be attested before purchase."}
		}
		if l.Err != nil {
			continue
		}
		rl, e := s.validateLine(p, cu, l.request())
		if e == nil && p.Sandbox && live+1 > sandboxSubsPerCustomer {
			e = sandboxSubsErr()
		}
		if e != nil {
			l.Err = e
			continue
		}
		live++
		valid[l] = rl
	}
	return valid
}

func cartView(ct *cart) map[string]any {
	code, _ := currencyFor(ct.Customer.country())
	lines := []any{}
	for _, l := range ct.Lines {
		li := map[string]any{
			"id": l.ID, "catalogItemId": l.CatalogItemID, "friendlyName": l.FriendlyName, "quantity": l.Quantity,
			"currencyCode": code, "billingCycle": l.BillingCycle, "termDuration": l.TermDuration,
			"participants": []any{}, "provisioningContext": l.ProvisioningContext, "orderGroup": l.OrderGroup,
			"addonItems": []any{}, "promotionId": l.PromotionID,
		}
		if l.Err != nil {
			li["error"] = map[string]any{
				"errorCode": l.Err.cart.wire(), "errorDescription": l.Err.msg,
				"additionalInformation": map[string]any{},
			}
		}
		lines = append(lines, li)
	}
	return map[string]any{
		"id": ct.ID, "creationTimestamp": tsOf(ct.Created), "lastModifiedTimestamp": tsOf(ct.Modified),
		"expirationTimestamp": tsOf(ct.Expires), "lastModifiedUser": ct.ModifiedUser,
		"lineItems": lines, "status": ct.Status,
		"links":      map[string]any{"self": link("/customers/" + ct.Customer.ID + "/carts/" + ct.ID)},
		"attributes": map[string]string{"objectType": "Cart"},
	}
}

// pcCreateCart is POST /v1/customers/{id}/carts. The cart is created even
// when lines are invalid; each bad line carries its error.
func (s *pcService) pcCreateCart(r *http.Request, c *apiCall, cu *customer, now time.Time) *response {
	lines, bad := readCartLines(r)
	if bad != nil {
		return bad
	}
	ct := &cart{ID: newGUID(), Customer: cu, Created: now, Modified: now, Expires: now.Add(cartLifetime),
		ModifiedUser: c.token.ClientID, Status: cartActive, Lines: lines}
	s.validateCart(c.partner, cu, ct)
	cu.commerce.Carts = append(cu.commerce.Carts, ct)
	return jsonResponse(http.StatusCreated, cartView(ct))
}

type cartHandler func(r *http.Request, c *apiCall, cu *customer, now time.Time, ct *cart) *response

func (s *pcService) withCart(h cartHandler) func(*http.Request, *apiCall, *customer, time.Time) *response {
	return func(r *http.Request, c *apiCall, cu *customer, now time.Time) *response {
		id := r.PathValue("cartId")
		for _, ct := range cu.commerce.Carts {
			if strings.EqualFold(ct.ID, id) {
				return h(r, c, cu, now, ct)
			}
		}
		return pcError(http.StatusNotFound, codeCartNotFound, "Cart "+id+" was not found for this customer.")
	}
}

func (s *pcService) pcGetCart(_ *http.Request, _ *apiCall, _ *customer, _ time.Time, ct *cart) *response {
	return jsonResponse(http.StatusOK, cartView(ct))
}

// cartUsable refuses ordered (800105) and expired (800106) carts.
func cartUsable(ct *cart, now time.Time) *response {
	if ct.Status == cartOrdered {
		return pcError(http.StatusBadRequest, codeCartOrdered, "Cart "+ct.ID+" has already been checked out.")
	}
	if !now.Before(ct.Expires) {
		return pcError(http.StatusBadRequest, codeCartExpired, "Cart "+ct.ID+" expired at "+tsOf(ct.Expires)+". Create a new cart.")
	}
	return nil
}

// pcUpdateCart is PUT …/carts/{cartId}: the line items are replaced.
func (s *pcService) pcUpdateCart(r *http.Request, c *apiCall, cu *customer, now time.Time, ct *cart) *response {
	if bad := cartUsable(ct, now); bad != nil {
		return bad
	}
	lines, bad := readCartLines(r)
	if bad != nil {
		return bad
	}
	ct.Lines, ct.Modified, ct.ModifiedUser = lines, now, c.token.ClientID
	s.validateCart(c.partner, cu, ct)
	return jsonResponse(http.StatusOK, cartView(ct))
}

// pcCheckout is POST …/carts/{cartId}/checkout. MCA not attested → 403
// 13605 and nothing is created. Lines are validated again; every order
// group without a line error becomes one order, every group with one is
// reported in orderErrors (code = the line's cart error code). The cart
// becomes "Ordered" when at least one order was created.
func (s *pcService) pcCheckout(_ *http.Request, c *apiCall, cu *customer, now time.Time, ct *cart) *response {
	if bad := cartUsable(ct, now); bad != nil {
		return bad
	}
	if !cu.MCAAttested {
		return mcaErr()
	}
	valid := s.validateCart(c.partner, cu, ct)
	var groups []string
	byGroup := map[string][]*cartLine{}
	for _, l := range ct.Lines {
		if _, ok := byGroup[l.OrderGroup]; !ok {
			groups = append(groups, l.OrderGroup)
		}
		byGroup[l.OrderGroup] = append(byGroup[l.OrderGroup], l)
	}
	orders, orderErrors := []any{}, []any{}
	for _, g := range groups {
		var failed *cartLine
		for _, l := range byGroup[g] {
			if l.Err != nil {
				failed = l
				break
			}
		}
		if failed != nil {
			orderErrors = append(orderErrors, map[string]any{
				"orderGroupId": g, "code": failed.Err.cart.Num,
				"description": failed.Err.cart.wire() + ": " + failed.Err.msg,
			})
			continue
		}
		var lines []*resolvedLine
		for i, l := range byGroup[g] {
			rl := valid[l]
			rl.req.Number = i
			lines = append(lines, rl)
		}
		o := s.placeOrder(cu, byGroup[g][0].BillingCycle, lines, now)
		orders = append(orders, orderView(o))
	}
	if len(orders) > 0 {
		ct.Status = cartOrdered
	}
	ct.Modified, ct.ModifiedUser = now, c.token.ClientID
	return jsonResponse(http.StatusCreated, map[string]any{
		"orders": orders, "orderErrors": orderErrors,
		"attributes": map[string]string{"objectType": "CartCheckoutResult"},
	})
}
