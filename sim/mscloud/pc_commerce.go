package mscloud

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// Partner Center commerce shared by orders, carts, subscriptions, upgrades
// and transitions: error codes, the per-customer state, line validation and
// the lazy "settle" step that lets simulated time complete orders, apply
// slow PATCHes, close windows and renew terms.

// Commerce error codes. Documented codes are used as the public table has
// them; "simulated code" marks the invented ones.
const (
	codeQuantityWithStatus    = 2001   // documented: quantity change together with a status change
	codeQuantityRange         = 2002   // documented: quantity outside min–max
	codeNewCatalogID          = 2100   // documented: the Offers API rejects new-catalog ids
	codeMCANotAttested        = 13605  // documented (403): MCA acceptance must be attested before purchase
	codeProductNotFound       = 400013 // documented (404)
	codeSkuNotFound           = 400018 // documented (404)
	codeAvailabilityNotFound  = 400019 // documented (404)
	codeOfferNotInMarket      = 800070 // documented: offer not available in the country/region
	codeCannotDecrease        = 800090 // documented: "Subscription quantity cannot be decreased."
	codeTermNotSupported      = 800100 // simulated code: billing cycle / term not supported by the item (400)
	codeAddOnParent           = 800101 // simulated code: add-on without an active allowed parent subscription (400)
	codeSubscriptionState     = 800102 // simulated code: change not allowed in the subscription's status (400; 409 while a change is in progress)
	codeCancelWindowClosed    = 800103 // simulated code: NCE cancellation after the 7-day window (400)
	codeLegacyDelete          = 800104 // simulated code: legacy subscriptions cannot be deleted, suspend them (400)
	codeCartOrdered           = 800105 // simulated code: cart already checked out (400)
	codeCartExpired           = 800106 // simulated code: cart expired (400)
	codeUpgradeNotEligible    = 800107 // simulated code: legacy upgrade not eligible (400)
	codeTransitionNotEligible = 800108 // simulated code: NCE transition not eligible (400)
	codeSubscriptionNotFound  = 800109 // simulated code: unknown subscription (404)
	codeOrderNotFound         = 800110 // simulated code: unknown order (404)
	codeCartNotFound          = 800111 // simulated code: unknown cart (404)
	codeOfferNotFound         = 800112 // simulated code: GET /v1/offers/{id} for an unknown offer (404)
)

// cartErrCode is a documented CartErrorCode: name and value. On the wire
// (lineItems[].error.errorCode) the name is written in snake case, as
// Partner Center writes its other enums ("upgrade_only", "one_time") and as
// Microsoft's Java SDK reads this one ("catalog_item_id_is_not_valid").
type cartErrCode struct {
	Num  int
	Name string
}

// wire is the snake-case name, e.g. "sandbox_limit_exceeded".
func (c cartErrCode) wire() string {
	var b strings.Builder
	for i, r := range c.Name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 && !(c.Name[i-1] >= 'A' && c.Name[i-1] <= 'Z') {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

var (
	cartCatalogItemInvalid  = cartErrCode{10001, "CatalogItemIdIsNotValid"}
	cartSubscriptionInvalid = cartErrCode{10007, "SubscriptionIsNotValid"}
	cartSandboxLimit        = cartErrCode{10009, "SandboxLimitExceeded"}
	cartInvalidInput        = cartErrCode{10010, "InvalidInput"}
	cartAttestation         = cartErrCode{10012, "AttestationNotAccepted"}
	cartMaxSeats            = cartErrCode{10015, "MaxAllowedSeatsPerSubscriptionExceeded"}
)

// commerceErr is one refusal, as an order/PATCH error (status, code) and as
// a cart line error (cart).
type commerceErr struct {
	status int
	code   int
	cart   cartErrCode
	msg    string
}

func (e *commerceErr) response() *response { return pcError(e.status, e.code, e.msg) }

const (
	cancelWindow           = 7 * 24 * time.Hour // NCE cancellation / seat-reduction window
	cartLifetime           = 7 * 24 * time.Hour
	sandboxSubsPerCustomer = 5
	sandboxSeatsPerSub     = 25
)

// Subscription and order statuses.
const (
	subActive    = "active"
	subSuspended = "suspended"
	subDeleted   = "deleted"
	subExpired   = "expired"
	subPending   = "pending"

	orderPending   = "pending"
	orderCompleted = "completed"
)

// customerCommerce is a customer's commerce state; it lives and dies with
// the customer.
type customerCommerce struct {
	Orders        []*order
	Subscriptions []*subscription
	Carts         []*cart
	Transitions   []*transition
	// assigned counts license units assigned without a directory user per
	// license SKU GUID (part of consumedUnits, licensing.go): set by tests
	// of Partner Center alone (setAssignedUnits, addAssignedUnits) and
	// moved by license transfers (moveAssigned).
	assigned map[string]int
}

type order struct {
	ID, AlternateID string
	Customer        *customer
	BillingCycle    string
	Created         time.Time
	CompleteAt      time.Time
	Status          string
	Lines           []*orderLine
}

type orderLine struct {
	Number       int
	OfferID      string // as sent: legacy offer id or full catalog item id
	Sub          *subscription
	FriendlyName string
	Quantity     int
	TermDuration string
	ParentID     string
}

// seatLot is a batch of seats that may be given back until Until (NCE).
type seatLot struct {
	Quantity int
	Until    time.Time
}

type subscription struct {
	ID, EntitlementID string
	Customer          *customer
	Item              item
	FriendlyName      string
	Quantity          int
	Status            string
	AutoRenew         bool
	BillingCycle      string
	TermDuration      string
	ParentID          string
	Created           time.Time
	TermStart         time.Time
	TermEnd           time.Time
	CancelUntil       time.Time // NCE only
	Lots              []seatLot // NCE only
	OrderID           string
	ETag              string
	Pending           *pendingQuantity // slow PATCH in flight
}

type pendingQuantity struct {
	Quantity  int
	Requested time.Time
	At        time.Time
}

func (cu *customer) country() string { return cu.Billing.DefaultAddress.Country }

func (cu *customer) subscription(id string) *subscription {
	for _, sub := range cu.commerce.Subscriptions {
		if strings.EqualFold(sub.ID, id) {
			return sub
		}
	}
	return nil
}

// --- license units (subscribedskus; licensing.go) ---

// seats is the commerce half of cu's license units (licensing.go), copied.
// Caller holds s.mu and has settled cu.
func (cu *customer) seats() *commerceSeats {
	cs := &commerceSeats{Unassigned: maps.Clone(cu.commerce.assigned)}
	for _, sub := range cu.commerce.Subscriptions {
		cs.Subs = append(cs.Subs, seatSub{ID: sub.ID, License: sub.Item.license(), Status: sub.Status, Quantity: sub.Quantity})
	}
	return cs
}

// licenseUnits is cu's license units, with the users' half from the
// directory. Caller holds s.mu and has settled cu.
func (s *pcService) licenseUnits(cu *customer) []*skuUnits {
	return licenseUnits(cu.seats(), s.graph.heldLicenses(cu.ID))
}

// setAssignedUnits makes the assigned units of skuID n by recording the
// units the directory's users do not account for (never fewer than the
// users hold). Caller holds s.mu.
func (s *pcService) setAssignedUnits(cu *customer, skuID string, n int) {
	cu.setUnassignedUnits(skuID, n-s.graph.heldLicenses(cu.ID).users[lower(skuID)])
}

// addAssignedUnits adds delta (may be negative) to the assigned units of
// skuID. Caller holds s.mu.
func (s *pcService) addAssignedUnits(cu *customer, skuID string, delta int) {
	held := s.graph.heldLicenses(cu.ID).users[lower(skuID)]
	s.setAssignedUnits(cu, skuID, held+cu.commerce.assigned[lower(skuID)]+delta)
}

// setUnassignedUnits sets the units recorded without a user (n < 0 counts as 0).
func (cu *customer) setUnassignedUnits(skuID string, n int) {
	if cu.commerce.assigned == nil {
		cu.commerce.assigned = map[string]int{}
	}
	cu.commerce.assigned[lower(skuID)] = max(0, n)
}

// --- time ---

func addTerm(t time.Time, termDuration string) time.Time {
	switch termDuration {
	case "P1Y":
		return t.AddDate(1, 0, 0)
	case "P3Y":
		return t.AddDate(3, 0, 0)
	}
	return t.AddDate(0, 1, 0)
}

// settle brings cu's commerce state to now: pending orders complete, slow
// quantity changes land, terms renew (auto-renew) or expire. Caller holds s.mu.
func (s *pcService) settle(cu *customer, now time.Time) {
	for _, o := range cu.commerce.Orders {
		if o.Status == orderPending && !now.Before(o.CompleteAt) {
			o.Status = orderCompleted
			for _, l := range o.Lines {
				if l.Sub.Status == subPending {
					l.Sub.Status = subActive
					l.Sub.ETag = newETag()
				}
			}
		}
	}
	for _, sub := range cu.commerce.Subscriptions {
		if p := sub.Pending; p != nil && !now.Before(p.At) {
			sub.Pending = nil
			if sub.Status == subActive {
				sub.setQuantity(p.Quantity, p.Requested)
			}
			sub.ETag = newETag()
		}
		for sub.Status == subActive && !now.Before(sub.TermEnd) {
			if !sub.AutoRenew {
				sub.Status = subExpired
				sub.ETag = newETag()
				break
			}
			sub.TermStart = sub.TermEnd
			sub.TermEnd = addTerm(sub.TermStart, sub.TermDuration)
			if sub.Item.nce() {
				sub.CancelUntil = sub.TermStart.Add(cancelWindow)
				sub.Lots = []seatLot{{Quantity: sub.Quantity, Until: sub.CancelUntil}}
			}
			sub.ETag = newETag()
		}
	}
}

// --- seats ---

// refundable is the number of seats that may still be given back at now.
func (sub *subscription) refundable(now time.Time) int {
	n := 0
	for _, l := range sub.Lots {
		if now.Before(l.Until) {
			n += l.Quantity
		}
	}
	return n
}

// setQuantity changes the quantity as of at. New-commerce seats added get
// their own 7-day window; seats removed come off the newest refundable lots.
func (sub *subscription) setQuantity(q int, at time.Time) {
	if sub.Item.nce() {
		switch {
		case q > sub.Quantity:
			sub.Lots = append(sub.Lots, seatLot{Quantity: q - sub.Quantity, Until: at.Add(cancelWindow)})
		case q < sub.Quantity:
			sub.takeSeats(sub.Quantity-q, at)
		}
	}
	sub.Quantity = q
}

// takeSeats removes n seats from the lots, newest refundable first, then
// from any lot (transitions may move seats that are no longer refundable).
func (sub *subscription) takeSeats(n int, at time.Time) {
	for pass := 0; pass < 2 && n > 0; pass++ {
		for i := len(sub.Lots) - 1; i >= 0 && n > 0; i-- {
			l := &sub.Lots[i]
			if pass == 0 && !at.Before(l.Until) {
				continue
			}
			d := min(n, l.Quantity)
			l.Quantity -= d
			n -= d
		}
	}
	kept := sub.Lots[:0]
	for _, l := range sub.Lots {
		if l.Quantity > 0 {
			kept = append(kept, l)
		}
	}
	sub.Lots = kept
}

// --- validation shared by orders and carts ---

// lineRequest is one order or cart line as asked.
type lineRequest struct {
	Number       int
	OfferID      string
	Quantity     int
	TermDuration string
	BillingCycle string
	FriendlyName string
	ParentID     string
}

// resolvedLine is a validated line, ready to become a subscription.
type resolvedLine struct {
	req    lineRequest
	item   item
	term   string
	parent *subscription
}

// liveSubscriptions counts the subscriptions that hold a sandbox slot.
func (cu *customer) liveSubscriptions() int {
	n := 0
	for _, sub := range cu.commerce.Subscriptions {
		switch sub.Status {
		case subActive, subPending, subSuspended:
			n++
		}
	}
	return n
}

// validateLine checks one line: item known and sold (404 4000xx / 800070),
// quantity within min–max (2002), billing cycle and term (800100), add-on
// parent (800101), sandbox seats per subscription (800018).
func (s *pcService) validateLine(p *partner, cu *customer, lr lineRequest) (*resolvedLine, *commerceErr) {
	it, e := resolveItem(catalogFor(p), cu.country(), lr.OfferID)
	if e != nil {
		return nil, e
	}
	lo, hi := it.limits()
	if lr.Quantity < lo || lr.Quantity > hi {
		ce := cartInvalidInput
		if lr.Quantity > hi {
			ce = cartMaxSeats
		}
		return nil, &commerceErr{status: http.StatusBadRequest, code: codeQuantityRange, cart: ce,
			msg: fmt.Sprintf("Quantity %d is outside the allowed range %d-%d for %s.", lr.Quantity, lo, hi, it.catalogItemID())}
	}
	term, msg := it.termFor(lr.BillingCycle, lr.TermDuration)
	if msg != "" {
		return nil, &commerceErr{status: http.StatusBadRequest, code: codeTermNotSupported, cart: cartInvalidInput, msg: msg}
	}
	rl := &resolvedLine{req: lr, item: it, term: term}
	if it.addOn() {
		parent := cu.subscription(lr.ParentID)
		switch {
		case lr.ParentID == "":
			return nil, &commerceErr{status: http.StatusBadRequest, code: codeAddOnParent, cart: cartSubscriptionInvalid,
				msg: it.name() + " is an add-on: parentSubscriptionId must name an active subscription of " + strings.Join(it.parents(), ", ") + "."}
		case parent == nil || parent.Status != subActive || !it.acceptsParent(parent.Item):
			return nil, &commerceErr{status: http.StatusBadRequest, code: codeAddOnParent, cart: cartSubscriptionInvalid,
				msg: "Parent subscription " + lr.ParentID + " is not an active subscription of " + strings.Join(it.parents(), ", ") + "."}
		}
		rl.parent = parent
	} else if lr.ParentID != "" {
		return nil, &commerceErr{status: http.StatusBadRequest, code: codeAddOnParent, cart: cartSubscriptionInvalid,
			msg: it.name() + " is not an add-on and cannot take a parentSubscriptionId."}
	}
	if p.Sandbox && lr.Quantity > sandboxSeatsPerSub {
		return nil, sandboxSeatsErr()
	}
	return rl, nil
}

func sandboxSeatsErr() *commerceErr {
	return &commerceErr{status: http.StatusBadRequest, code: codeSandboxLimit, cart: cartSandboxLimit,
		msg: fmt.Sprintf("Sandbox limit reached: an integration sandbox subscription can have at most %d licenses.", sandboxSeatsPerSub)}
}

func sandboxSubsErr() *commerceErr {
	return &commerceErr{status: http.StatusBadRequest, code: codeSandboxLimit, cart: cartSandboxLimit,
		msg: fmt.Sprintf("Sandbox limit reached: an integration sandbox customer can have at most %d subscriptions.", sandboxSubsPerCustomer)}
}

func mcaErr() *response {
	return pcError(http.StatusForbidden, codeMCANotAttested, "Microsoft Customer Agreement acceptance must be attested before purchase.")
}

// --- creation ---

func newAlternateID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// placeOrder creates an order and one subscription per line. Lines were
// validated. The order completes after the order_completion delay (its
// subscriptions stay "pending" until then). Caller holds s.mu.
func (s *pcService) placeOrder(cu *customer, cycle string, lines []*resolvedLine, now time.Time) *order {
	completion := s.settings.get().OrderCompletion
	o := &order{ID: newGUID(), AlternateID: newAlternateID(), Customer: cu, BillingCycle: cycle, Created: now,
		CompleteAt: now.Add(completion), Status: orderCompleted}
	status := subActive
	if completion > 0 {
		o.Status, status = orderPending, subPending
	}
	for _, rl := range lines {
		sub := s.newSubscription(cu, rl.item, rl.req.Quantity, cycle, rl.term, rl.req.FriendlyName, now)
		sub.Status, sub.OrderID = status, o.ID
		if rl.parent != nil {
			sub.ParentID = rl.parent.ID
		}
		o.Lines = append(o.Lines, &orderLine{Number: rl.req.Number, OfferID: rl.item.catalogItemID(), Sub: sub, FriendlyName: sub.FriendlyName,
			Quantity: sub.Quantity, TermDuration: sub.TermDuration, ParentID: sub.ParentID})
	}
	cu.commerce.Orders = append(cu.commerce.Orders, o)
	return o
}

// newSubscription adds an active subscription to cu.
func (s *pcService) newSubscription(cu *customer, it item, q int, cycle, term, friendly string, now time.Time) *subscription {
	if strings.TrimSpace(friendly) == "" {
		friendly = it.name()
	}
	sub := &subscription{
		ID: newGUID(), EntitlementID: newGUID(), Customer: cu, Item: it, FriendlyName: strings.TrimSpace(friendly),
		Quantity: q, Status: subActive, AutoRenew: !it.trial(), BillingCycle: cycle, TermDuration: term,
		Created: now, TermStart: now, TermEnd: addTerm(now, term), ETag: newETag(),
	}
	if it.nce() {
		sub.CancelUntil = now.Add(cancelWindow)
		sub.Lots = []seatLot{{Quantity: q, Until: sub.CancelUntil}}
	}
	cu.commerce.Subscriptions = append(cu.commerce.Subscriptions, sub)
	return sub
}

// normCycle lower-cases a billing cycle ("Monthly" → "monthly").
func normCycle(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// withCommerce resolves the customer and settles its commerce state first.
func (s *pcService) withCommerce(h func(r *http.Request, c *apiCall, cu *customer, now time.Time) *response) apiHandler {
	return s.withCustomer(func(r *http.Request, c *apiCall, cu *customer) *response {
		now := s.clock.Now()
		s.settle(cu, now)
		return h(r, c, cu, now)
	})
}

func tsOf(t time.Time) string { return t.UTC().Format(time.RFC3339) }
