package partnercenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Offer is a legacy catalog offer.
type Offer struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	MinimumQuantity        int64    `json:"minimumQuantity"`
	MaximumQuantity        int64    `json:"maximumQuantity"`
	PrerequisiteOffers     IDs      `json:"prerequisiteOffers"`
	IsAddOn                bool     `json:"isAddOn"`
	IsAvailableForPurchase bool     `json:"isAvailableForPurchase"`
	SupportedBillingCycles []string `json:"supportedBillingCycles"`
	IsAutoRenewable        bool     `json:"isAutoRenewable"`
	UpgradeTargetOffers    IDs      `json:"upgradeTargetOffers"`
	IsTrial                bool     `json:"isTrial"`
	Product                struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"product"`
}

// IDs is a list of offer references, accepted as plain ids or as objects
// with an "id" (Partner Center uses both).
type IDs []string

// UnmarshalJSON implements json.Unmarshaler.
func (ids *IDs) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil // null or an unexpected shape: no references
	}
	out := IDs{}
	for _, r := range raw {
		var s string
		if json.Unmarshal(r, &s) == nil {
			out = append(out, s)
			continue
		}
		var o struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(r, &o) == nil && o.ID != "" {
			out = append(out, o.ID)
		}
	}
	*ids = out
	return nil
}

// Product is a new-commerce catalog product.
type Product struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// SKU of a product.
type SKU struct {
	ID                     string         `json:"id"`
	ProductID              string         `json:"productId"`
	Title                  string         `json:"title"`
	MinimumQuantity        int64          `json:"minimumQuantity"`
	MaximumQuantity        int64          `json:"maximumQuantity"`
	IsTrial                bool           `json:"isTrial"`
	SupportedBillingCycles []string       `json:"supportedBillingCycles"`
	PurchasePrerequisites  []string       `json:"purchasePrerequisites"`
	DynamicAttributes      map[string]any `json:"dynamicAttributes"`
}

// Availability of a SKU; CatalogItemID goes into carts and orders.
type Availability struct {
	ID            string `json:"id"`
	ProductID     string `json:"productId"`
	SKUID         string `json:"skuId"`
	CatalogItemID string `json:"catalogItemId"`
	IsPurchasable bool   `json:"isPurchasable"`
	Terms         []struct {
		Duration     string `json:"duration"`
		Description  string `json:"description"`
		BillingCycle string `json:"billingCycle,omitempty"`
	} `json:"terms"`
}

// OrderLineItem of an order.
type OrderLineItem struct {
	LineItemNumber       int    `json:"lineItemNumber"`
	OfferID              string `json:"offerId"`
	SubscriptionID       string `json:"subscriptionId,omitempty"`
	ParentSubscriptionID string `json:"parentSubscriptionId,omitempty"`
	FriendlyName         string `json:"friendlyName,omitempty"`
	Quantity             int64  `json:"quantity"`
	TermDuration         string `json:"termDuration,omitempty"`
}

// Order is a Partner Center order.
type Order struct {
	ID           string          `json:"id,omitempty"`
	BillingCycle string          `json:"billingCycle,omitempty"`
	LineItems    []OrderLineItem `json:"lineItems"`
	Status       string          `json:"status,omitempty"`
	CreationDate *time.Time      `json:"creationDate,omitempty"`
}

// CartLineItem of a cart.
type CartLineItem struct {
	ID                  int               `json:"id"`
	CatalogItemID       string            `json:"catalogItemId"`
	FriendlyName        string            `json:"friendlyName,omitempty"`
	Quantity            int64             `json:"quantity"`
	TermDuration        string            `json:"termDuration,omitempty"`
	BillingCycle        string            `json:"billingCycle,omitempty"`
	ProvisioningContext map[string]string `json:"provisioningContext,omitempty"`
	Error               *struct {
		ErrorCode        CartErrorCode `json:"errorCode"`
		ErrorDescription string        `json:"errorDescription"`
	} `json:"error,omitempty"`
}

// CartErrorCode is a cart line error code. Partner Center's SDKs read it as
// a snake_case enum name ("sandbox_limit_exceeded"); the docs list numbers
// (10009). Both are accepted and kept as the number.
type CartErrorCode int

var cartErrorNames = map[string]int{
	"currency_is_not_supported": 10000, "catalog_item_id_is_not_valid": 10001, "quota_not_available": 10002,
	"inventory_not_available": 10003, "participants_is_not_supported_for_partner": 10004,
	"unable_to_process_cart_line_item": 10006, "subscription_is_not_valid": 10007,
	"subscription_is_not_enabled_for_r_i": 10008, "sandbox_limit_exceeded": 10009, "invalid_input": 10010,
	"subscription_not_registered": 10011, "attestation_not_accepted": 10012,
	"max_allowed_seats_per_subscription_exceeded": 10015,
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *CartErrorCode) UnmarshalJSON(b []byte) error {
	var n int
	if json.Unmarshal(b, &n) == nil {
		*c = CartErrorCode(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil
	}
	key := strings.ToLower(strings.ReplaceAll(s, "-", "_"))
	if v, ok := cartErrorNames[key]; ok {
		*c = CartErrorCode(v)
		return nil
	}
	// CamelCase names (SandboxLimitExceeded) as in the docs' table.
	var snake strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				snake.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		snake.WriteRune(r)
	}
	*c = CartErrorCode(cartErrorNames[snake.String()])
	return nil
}

// Cart is a new-commerce cart.
type Cart struct {
	ID        string         `json:"id,omitempty"`
	LineItems []CartLineItem `json:"lineItems"`
	Status    string         `json:"status,omitempty"`
}

// CheckoutResult is the answer of a checkout.
type CheckoutResult struct {
	Orders      []Order `json:"orders"`
	OrderErrors []struct {
		OrderGroupID string `json:"orderGroupId"`
		Code         int    `json:"code"`
		Description  string `json:"description"`
	} `json:"orderErrors"`
}

// Subscription is a Partner Center subscription. Unknown fields are kept in
// Raw so that a PATCH sends the full resource back, as Partner Center asks.
type Subscription struct {
	ID                           string     `json:"id"`
	OfferID                      string     `json:"offerId"`
	OfferName                    string     `json:"offerName,omitempty"`
	FriendlyName                 string     `json:"friendlyName,omitempty"`
	Quantity                     int64      `json:"quantity"`
	ParentSubscriptionID         string     `json:"parentSubscriptionId,omitempty"`
	Status                       string     `json:"status"`
	AutoRenewEnabled             bool       `json:"autoRenewEnabled"`
	BillingCycle                 string     `json:"billingCycle,omitempty"`
	TermDuration                 string     `json:"termDuration,omitempty"`
	OrderID                      string     `json:"orderId,omitempty"`
	CancellationAllowedUntilDate *time.Time `json:"cancellationAllowedUntilDate,omitempty"`
	CommitmentEndDate            *time.Time `json:"commitmentEndDate,omitempty"`
	RefundableQuantity           *struct {
		TotalQuantity int64 `json:"totalQuantity"`
	} `json:"refundableQuantity,omitempty"`
	Attributes Attributes `json:"attributes,omitempty"`
	// Raw holds every field as read, so that nothing is dropped on PATCH.
	Raw map[string]json.RawMessage `json:"-"`
}

type plainSubscription Subscription

// UnmarshalJSON keeps every field in Raw.
func (s *Subscription) UnmarshalJSON(b []byte) error {
	var p plainSubscription
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Subscription(p)
	return json.Unmarshal(b, &s.Raw)
}

// MarshalJSON writes the fields read (Raw) with the typed fields on top.
func (s Subscription) MarshalJSON() ([]byte, error) {
	typed, err := json.Marshal(plainSubscription(s))
	if err != nil {
		return nil, err
	}
	if len(s.Raw) == 0 {
		return typed, nil
	}
	var over map[string]json.RawMessage
	if err := json.Unmarshal(typed, &over); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(s.Raw)+len(over))
	for k, v := range s.Raw {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return json.Marshal(out)
}

// SubscribedSKU is the license usage of one SKU of a customer.
type SubscribedSKU struct {
	AvailableUnits int64 `json:"availableUnits"`
	ActiveUnits    int64 `json:"activeUnits"`
	ConsumedUnits  int64 `json:"consumedUnits"`
	SuspendedUnits int64 `json:"suspendedUnits"`
	TotalUnits     int64 `json:"totalUnits"`
	ProductSKU     struct {
		ID            string `json:"id"`
		Name          string `json:"name"`
		SKUPartNumber string `json:"skuPartNumber"`
	} `json:"productSku"`
}

// Offers lists the legacy offers of a country.
func (c *Client) Offers(ctx context.Context, country string) ([]Offer, error) {
	var col collection[Offer]
	_, err := c.do(ctx, http.MethodGet, "/v1/offers", map[string]string{"country": country}, nil, nil, &col)
	return col.Items, err
}

// Products lists the new-commerce online-services products of a country.
func (c *Client) Products(ctx context.Context, country string) ([]Product, error) {
	var col collection[Product]
	_, err := c.do(ctx, http.MethodGet, "/v1/products", map[string]string{"country": country, "targetView": "OnlineServices"}, nil, nil, &col)
	return col.Items, err
}

// SKUs lists a product's SKUs in a country.
func (c *Client) SKUs(ctx context.Context, productID, country string) ([]SKU, error) {
	var col collection[SKU]
	_, err := c.do(ctx, http.MethodGet, "/v1/products/"+url.PathEscape(productID)+"/skus", map[string]string{"country": country}, nil, nil, &col)
	return col.Items, err
}

// Availabilities lists a SKU's availabilities in a country.
func (c *Client) Availabilities(ctx context.Context, productID, skuID, country string) ([]Availability, error) {
	var col collection[Availability]
	_, err := c.do(ctx, http.MethodGet, "/v1/products/"+url.PathEscape(productID)+"/skus/"+url.PathEscape(skuID)+"/availabilities",
		map[string]string{"country": country}, nil, nil, &col)
	return col.Items, err
}

func customerPath(customerID string, rest ...string) string {
	p := "/v1/customers/" + url.PathEscape(customerID)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// CreateOrder places an order; ctx must carry the step's MS-RequestId.
func (c *Client) CreateOrder(ctx context.Context, customerID string, o Order) (*Order, error) {
	var out Order
	_, err := c.do(ctx, http.MethodPost, customerPath(customerID, "orders"), nil, nil, o, &out)
	return &out, err
}

// Orders lists a customer's orders.
func (c *Client) Orders(ctx context.Context, customerID string) ([]Order, error) {
	var col collection[Order]
	_, err := c.do(ctx, http.MethodGet, customerPath(customerID, "orders"), nil, nil, nil, &col)
	return col.Items, err
}

// CreateCart creates a cart; ctx must carry the step's MS-RequestId.
func (c *Client) CreateCart(ctx context.Context, customerID string, cart Cart) (*Cart, error) {
	var out Cart
	_, err := c.do(ctx, http.MethodPost, customerPath(customerID, "carts"), nil, nil, cart, &out)
	return &out, err
}

// GetCart reads a cart.
func (c *Client) GetCart(ctx context.Context, customerID, cartID string) (*Cart, error) {
	var out Cart
	_, err := c.do(ctx, http.MethodGet, customerPath(customerID, "carts", cartID), nil, nil, nil, &out)
	return &out, err
}

// Checkout checks a cart out; ctx must carry the step's MS-RequestId.
func (c *Client) Checkout(ctx context.Context, customerID, cartID string) (*CheckoutResult, error) {
	var out CheckoutResult
	_, err := c.do(ctx, http.MethodPost, customerPath(customerID, "carts", cartID, "checkout"), nil, nil, nil, &out)
	return &out, err
}

// Subscriptions lists a customer's subscriptions.
func (c *Client) Subscriptions(ctx context.Context, customerID string) ([]Subscription, error) {
	var col collection[Subscription]
	_, err := c.do(ctx, http.MethodGet, customerPath(customerID, "subscriptions"), nil, nil, nil, &col)
	return col.Items, err
}

// GetSubscription reads one subscription.
func (c *Client) GetSubscription(ctx context.Context, customerID, subID string) (*Subscription, error) {
	var out Subscription
	_, err := c.do(ctx, http.MethodGet, customerPath(customerID, "subscriptions", subID), nil, nil, nil, &out)
	return &out, err
}

// PatchSubscription sends the full subscription with changes. A slow change
// answered 202 + Location is followed until the subscription shows it
// (done reports whether it does) or ctx ends.
func (c *Client) PatchSubscription(ctx context.Context, customerID string, s Subscription, done func(*Subscription) bool) (*Subscription, error) {
	var out Subscription
	resp, err := c.do(ctx, http.MethodPatch, customerPath(customerID, "subscriptions", s.ID), nil, nil, s, &out)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return &out, nil
	}
	loc := resp.Header.Get("Location")
	path := customerPath(customerID, "subscriptions", s.ID)
	if u, err := url.Parse(loc); err == nil && strings.Contains(u.Path, "/subscriptions/") {
		path = "/v1/" + strings.TrimPrefix(strings.TrimPrefix(u.Path, "/"), "v1/")
	}
	delay, deadline := time.Second, time.Now().Add(c.pollFor)
	for {
		var cur Subscription
		if _, err := c.do(ctx, http.MethodGet, path, nil, nil, nil, &cur); err != nil {
			return nil, err
		}
		if done == nil || done(&cur) {
			return &cur, nil
		}
		if time.Now().Add(delay).After(deadline) {
			return nil, fmt.Errorf("subscription %s: %w", s.ID, ErrStillRunning)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// ErrStillRunning: Microsoft accepted a change (202) and has not finished it
// within the client's poll bound; a job looks again later.
var ErrStillRunning = errors.New("partner center: the change is still being applied")

// UpgradeTarget is one legacy upgrade possibility.
type UpgradeTarget struct {
	TargetOffer Offer  `json:"targetOffer"`
	UpgradeType string `json:"upgradeType"`
	IsEligible  bool   `json:"isEligible"`
	Quantity    int64  `json:"quantity"`
}

// UpgradeResult is the answer of a legacy upgrade.
type UpgradeResult struct {
	SourceSubscriptionID string `json:"sourceSubscriptionId"`
	TargetSubscriptionID string `json:"targetSubscriptionId"`
	UpgradeType          string `json:"upgradeType"`
	UpgradeErrors        []struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"upgradeErrors"`
}

// Upgrades lists the legacy upgrade targets of a subscription.
func (c *Client) Upgrades(ctx context.Context, customerID, subID string) ([]UpgradeTarget, error) {
	var col collection[UpgradeTarget]
	_, err := c.do(ctx, http.MethodGet, customerPath(customerID, "subscriptions", subID, "upgrades"), nil, nil, nil, &col)
	return col.Items, err
}

// Upgrade performs a legacy upgrade; ctx must carry the step's MS-RequestId.
func (c *Client) Upgrade(ctx context.Context, customerID, subID string, target UpgradeTarget) (*UpgradeResult, error) {
	var out UpgradeResult
	_, err := c.do(ctx, http.MethodPost, customerPath(customerID, "subscriptions", subID, "upgrades"), nil, nil, target, &out)
	return &out, err
}

// Transition is a new-commerce transition.
type Transition struct {
	ID                 string `json:"id,omitempty"`
	FromCatalogItemID  string `json:"fromCatalogItemId,omitempty"`
	FromSubscriptionID string `json:"fromSubscriptionId"`
	ToCatalogItemID    string `json:"toCatalogItemId"`
	ToSubscriptionID   string `json:"toSubscriptionId,omitempty"`
	Quantity           int64  `json:"quantity"`
	TermDuration       string `json:"termDuration,omitempty"`
	BillingCycle       string `json:"billingCycle,omitempty"`
	TransitionType     string `json:"transitionType"`
	Status             string `json:"status,omitempty"`
}

// Transition moves a new-commerce subscription to another catalog item; ctx
// must carry the step's MS-RequestId.
func (c *Client) Transition(ctx context.Context, customerID, subID string, t Transition) (*Transition, error) {
	var out Transition
	_, err := c.do(ctx, http.MethodPost, customerPath(customerID, "subscriptions", subID, "transitions"), nil, nil, t, &out)
	return &out, err
}

// Transitions lists the transitions from or to a new-commerce subscription
// (the read-back of a transition whose outcome is unknown).
func (c *Client) Transitions(ctx context.Context, customerID, subID string) ([]Transition, error) {
	var col collection[Transition]
	_, err := c.do(ctx, http.MethodGet, customerPath(customerID, "subscriptions", subID, "transitions"), nil, nil, nil, &col)
	return col.Items, err
}

// SubscribedSKUs lists a customer's license SKUs with their usage.
func (c *Client) SubscribedSKUs(ctx context.Context, customerID string) ([]SubscribedSKU, error) {
	var col collection[SubscribedSKU]
	_, err := c.do(ctx, http.MethodGet, customerPath(customerID, "subscribedskus"), nil, nil, nil, &col)
	return col.Items, err
}
