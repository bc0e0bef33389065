package mscloud

import "time"

// Commerce entries of GET /_sim/state (admin.go), filled in by the Partner
// Center part.

type stateOrderLine struct {
	OfferID        string `json:"offer_id"`
	Quantity       int    `json:"quantity"`
	SubscriptionID string `json:"subscription_id"`
}

type stateOrder struct {
	ID         string           `json:"id"`
	CustomerID string           `json:"customer_id"`
	Status     string           `json:"status"`
	CreatedAt  string           `json:"created_at"`
	LineItems  []stateOrderLine `json:"line_items"`
}

type stateSubscription struct {
	ID                       string `json:"id"`
	CustomerID               string `json:"customer_id"`
	OfferID                  string `json:"offer_id"`
	CatalogItemID            string `json:"catalog_item_id"`
	OfferName                string `json:"offer_name"`
	SkuID                    string `json:"sku_id"` // license SKU GUID
	Quantity                 int    `json:"quantity"`
	PendingQuantity          *int   `json:"pending_quantity,omitempty"`
	Status                   string `json:"status"`
	AutoRenew                bool   `json:"auto_renew"`
	BillingCycle             string `json:"billing_cycle"`
	TermDuration             string `json:"term_duration"`
	ParentSubscriptionID     string `json:"parent_subscription_id"`
	OrderID                  string `json:"order_id"`
	CancellationAllowedUntil string `json:"cancellation_allowed_until"` // "" for legacy
	RefundableQuantity       int    `json:"refundable_quantity"`
}

type stateCartLine struct {
	CatalogItemID string `json:"catalog_item_id"`
	Quantity      int    `json:"quantity"`
	OrderGroup    string `json:"order_group"`
	Error         string `json:"error,omitempty"`
}

type stateCart struct {
	ID         string          `json:"id"`
	CustomerID string          `json:"customer_id"`
	Status     string          `json:"status"`
	ExpiresAt  string          `json:"expires_at"`
	LineItems  []stateCartLine `json:"line_items"`
}

// appendCommerceState adds cu's orders, subscriptions and carts. Caller
// holds s.mu and has settled cu.
func (s *pcService) appendCommerceState(sp *statePartner, cu *customer, now time.Time) {
	for _, o := range cu.commerce.Orders {
		so := stateOrder{ID: o.ID, CustomerID: cu.ID, Status: o.Status, CreatedAt: tsOf(o.Created), LineItems: []stateOrderLine{}}
		for _, l := range o.Lines {
			so.LineItems = append(so.LineItems, stateOrderLine{OfferID: l.OfferID, Quantity: l.Quantity, SubscriptionID: l.Sub.ID})
		}
		sp.Orders = append(sp.Orders, so)
	}
	for _, sub := range cu.commerce.Subscriptions {
		ss := stateSubscription{
			ID: sub.ID, CustomerID: cu.ID, OfferID: sub.Item.offerID(), CatalogItemID: sub.Item.catalogItemID(),
			OfferName: sub.Item.name(), SkuID: sub.Item.license().ID, Quantity: sub.Quantity, Status: sub.Status,
			AutoRenew: sub.AutoRenew, BillingCycle: sub.BillingCycle, TermDuration: sub.TermDuration,
			ParentSubscriptionID: sub.ParentID, OrderID: sub.OrderID, RefundableQuantity: sub.refundable(now),
		}
		if sub.Pending != nil {
			q := sub.Pending.Quantity
			ss.PendingQuantity = &q
		}
		if sub.Item.nce() {
			ss.CancellationAllowedUntil = tsOf(sub.CancelUntil)
		}
		sp.Subscriptions = append(sp.Subscriptions, ss)
	}
	for _, ct := range cu.commerce.Carts {
		sc := stateCart{ID: ct.ID, CustomerID: cu.ID, Status: ct.Status, ExpiresAt: tsOf(ct.Expires), LineItems: []stateCartLine{}}
		for _, l := range ct.Lines {
			scl := stateCartLine{CatalogItemID: l.CatalogItemID, Quantity: l.Quantity, OrderGroup: l.OrderGroup}
			if l.Err != nil {
				scl.Error = l.Err.cart.wire()
			}
			sc.LineItems = append(sc.LineItems, scl)
		}
		sp.Carts = append(sp.Carts, sc)
	}
}
