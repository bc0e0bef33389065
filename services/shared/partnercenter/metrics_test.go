package partnercenter

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Every segment of every path the client calls is either a path word
// (kept in the metrics' operation) or an id the caller passed (written
// {id}): a call added without its words fails here.
func TestPathWordsCoverEveryCall(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		_, _ = w.Write([]byte(`{}`))
	})
	ctx := context.Background()
	ids := []string{"ID1", "ID2", "ID3", "ID4.example.com", "US"}
	_, _ = c.Offers(ctx, "US")
	_, _ = c.Products(ctx, "US")
	_, _ = c.SKUs(ctx, "ID1", "US")
	_, _ = c.Availabilities(ctx, "ID1", "ID2", "US")
	_, _ = c.CreateOrder(ctx, "ID1", Order{})
	_, _ = c.Orders(ctx, "ID1")
	_, _ = c.CreateCart(ctx, "ID1", Cart{})
	_, _ = c.GetCart(ctx, "ID1", "ID2")
	_, _ = c.Checkout(ctx, "ID1", "ID2")
	_, _ = c.Subscriptions(ctx, "ID1")
	_, _ = c.GetSubscription(ctx, "ID1", "ID2")
	_, _ = c.PatchSubscription(ctx, "ID1", Subscription{ID: "ID2"}, func(*Subscription) bool { return true })
	_, _ = c.Upgrades(ctx, "ID1", "ID2")
	_, _ = c.Upgrade(ctx, "ID1", "ID2", UpgradeTarget{})
	_, _ = c.Transition(ctx, "ID1", "ID2", Transition{})
	_, _ = c.Transitions(ctx, "ID1", "ID2")
	_, _ = c.SubscribedSKUs(ctx, "ID1")
	_, _ = c.DomainExists(ctx, "ID4.example.com")
	_, _ = c.ValidateAddress(ctx, Address{})
	_, _ = c.CountryRules(ctx, "US")
	_, _ = c.CreateCustomer(ctx, Customer{})
	_, _ = c.GetCustomer(ctx, "ID1")
	_, _ = c.FindCustomerByDomain(ctx, "ID4.example.com")
	_ = c.DeleteCustomer(ctx, "ID1")
	_, _ = c.GetBillingProfile(ctx, "ID1")
	_, _ = c.UpdateBillingProfile(ctx, "ID1", BillingProfile{})
	_, _ = c.MCATemplateID(ctx)
	_ = c.AttestAgreement(ctx, "ID1", Agreement{})
	_ = c.GrantApplicationConsent(ctx, "ID1", "ID3", nil)
	_, _ = c.ListCustomers(ctx, 10, "")
	_, _ = c.SubscriptionCount(ctx, "ID1")
	if len(paths) < 30 {
		t.Fatalf("only %d calls reached the server", len(paths))
	}
	for _, p := range paths {
		for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
			if !slices.Contains(pathWords, seg) && !slices.Contains(ids, seg) {
				t.Errorf("%s: the segment %q is neither a path word nor an id", p, seg)
			}
		}
	}
}
