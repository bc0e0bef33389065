// Package catalog reads what an instance can sell in a country from Partner
// Center (legacy offers, and new-commerce products → SKUs → availabilities),
// caches it per instance and country, and answers the offer facts that
// validation needs.
package catalog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Offer is one sellable offer.
type Offer struct {
	ID            string
	Name          string
	Kind          string
	Min, Max      int64
	Terms         []string
	BillingCycles []string
	IsAddOn       bool
	Parents       []string // legacy offer ids, or product:sku keys for new commerce
	Upgrades      []string // same forms
	SKUID         string   // license SKU GUID when the catalog tells it (legacy)
	ProductKey    string   // product:sku for new commerce
}

// Key is the product:sku part of a new-commerce catalog item id.
func Key(catalogItemID string) string {
	parts := strings.Split(catalogItemID, ":")
	if len(parts) >= 2 {
		return parts[0] + ":" + parts[1]
	}
	return catalogItemID
}

// Source is the part of Partner Center the catalog reads.
type Source interface {
	Offers(ctx context.Context, country string) ([]partnercenter.Offer, error)
	Products(ctx context.Context, country string) ([]partnercenter.Product, error)
	SKUs(ctx context.Context, productID, country string) ([]partnercenter.SKU, error)
	Availabilities(ctx context.Context, productID, skuID, country string) ([]partnercenter.Availability, error)
}

// Catalog caches offers per instance and country.
type Catalog struct {
	TTL time.Duration

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	at     time.Time
	offers []Offer
}

// Offers lists the offers an instance can sell in a country.
func (c *Catalog) Offers(ctx context.Context, src Source, instanceID, country string) ([]Offer, error) {
	key := instanceID + "|" + strings.ToUpper(country)
	c.mu.Lock()
	if e, ok := c.cache[key]; ok && time.Since(e.at) < c.TTL {
		c.mu.Unlock()
		return e.offers, nil
	}
	c.mu.Unlock()
	offers, err := load(ctx, src, strings.ToUpper(country))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string]entry{}
	}
	c.cache[key] = entry{at: time.Now(), offers: offers}
	c.mu.Unlock()
	return offers, nil
}

// Find returns one offer by id (case-insensitive), or nil.
func (c *Catalog) Find(ctx context.Context, src Source, instanceID, country, id string) (*Offer, error) {
	offers, err := c.Offers(ctx, src, instanceID, country)
	if err != nil {
		return nil, err
	}
	for i := range offers {
		if strings.EqualFold(offers[i].ID, id) {
			return &offers[i], nil
		}
	}
	return nil, nil
}

func load(ctx context.Context, src Source, country string) ([]Offer, error) {
	legacy, err := src.Offers(ctx, country)
	if err != nil {
		return nil, fmt.Errorf("legacy offers: %w", err)
	}
	var out []Offer
	for _, o := range legacy {
		if !o.IsAvailableForPurchase {
			continue
		}
		out = append(out, Offer{ID: o.ID, Name: o.Name, Kind: storage.KindLegacy, Min: o.MinimumQuantity, Max: o.MaximumQuantity,
			BillingCycles: o.SupportedBillingCycles, IsAddOn: o.IsAddOn, Parents: o.PrerequisiteOffers,
			Upgrades: o.UpgradeTargetOffers, SKUID: o.Product.ID})
	}
	products, err := src.Products(ctx, country)
	if err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	for _, p := range products {
		skus, err := src.SKUs(ctx, p.ID, country)
		if err != nil {
			return nil, fmt.Errorf("skus of %s: %w", p.ID, err)
		}
		for _, k := range skus {
			avs, err := src.Availabilities(ctx, p.ID, k.ID, country)
			if err != nil {
				return nil, fmt.Errorf("availabilities of %s:%s: %w", p.ID, k.ID, err)
			}
			for _, a := range avs {
				if !a.IsPurchasable || a.CatalogItemID == "" {
					continue
				}
				o := Offer{ID: a.CatalogItemID, Name: k.Title, Kind: storage.KindNewCommerce, Min: k.MinimumQuantity,
					Max: k.MaximumQuantity, BillingCycles: k.SupportedBillingCycles, ProductKey: p.ID + ":" + k.ID}
				if o.Name == "" {
					o.Name = p.Title
				}
				for _, t := range a.Terms {
					if !contains(o.Terms, t.Duration) {
						o.Terms = append(o.Terms, t.Duration)
					}
				}
				if v, ok := k.DynamicAttributes["isAddon"].(bool); ok {
					o.IsAddOn = v
				}
				o.Parents = stringList(k.DynamicAttributes["prerequisiteSkus"])
				if len(o.Parents) == 0 {
					o.Parents = k.PurchasePrerequisites
				}
				o.Upgrades = stringList(k.DynamicAttributes["upgradeTargetOffers"])
				out = append(out, o)
			}
		}
	}
	return out, nil
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// AllowsParent tells whether an add-on may be bought on a parent offer.
func (o *Offer) AllowsParent(parent *Offer) bool {
	for _, p := range o.Parents {
		if strings.EqualFold(p, parent.ID) || (parent.ProductKey != "" && strings.EqualFold(p, parent.ProductKey)) {
			return true
		}
	}
	return false
}

// AllowsUpgradeTo tells whether the offer can move to target.
func (o *Offer) AllowsUpgradeTo(target *Offer) bool {
	for _, u := range o.Upgrades {
		if strings.EqualFold(u, target.ID) || (target.ProductKey != "" && strings.EqualFold(u, target.ProductKey)) {
			return true
		}
	}
	return false
}

// SupportsTerm tells whether the offer is sold with a term (legacy offers have none).
func (o *Offer) SupportsTerm(term string) bool {
	return len(o.Terms) == 0 && term == "" || contains(o.Terms, term)
}

// SupportsCycle tells whether the offer is billed in a cycle.
func (o *Offer) SupportsCycle(cycle string) bool {
	return len(o.BillingCycles) == 0 || contains(o.BillingCycles, cycle)
}
