package catalog_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/logging"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/sim/mscloud"
	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"

	"github.com/o365gateway/gateway/services/subscription/internal/catalog"
	"github.com/o365gateway/gateway/services/subscription/internal/storage"
)

// Offers of the simulator's global catalog.
const (
	e1            = "91FD106F-4B2C-4938-95AC-F54F74E9A239"
	e3            = "796B6B5F-613C-4E24-A17C-EBA730D49C02"
	e5            = "DFB8A0CE-3E8B-4C4A-B9B7-3E7BE6F1C2B5"
	archive       = "2828BE95-46BA-4F91-B2FD-0BEF192ECF60"
	businessBasic = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
	nceE1         = "CFQ7TTC0LF8R:0001:CFQ7TTC0K6HG"
	nceArchive    = "CFQ7TTC0LHWP:0001:CFQ7TTC0K9TB"
)

// counting is a catalog source that counts the catalog reads.
type counting struct {
	catalog.Source
	offers atomic.Int32
}

func (c *counting) Offers(ctx context.Context, country string) ([]partnercenter.Offer, error) {
	c.offers.Add(1)
	return c.Source.Offers(ctx, country)
}

// simulator returns the real Partner Center client of a partner of the
// simulator, counting catalog loads.
func simulator(t *testing.T) *counting {
	t.Helper()
	sim := mscloudtest.Start(t, mscloud.Options{})
	p := sim.RegisterPartner("global", "US", "CA")
	base, _ := clouds.Lookup("global")
	f := &msclients.Factory{Endpoints: base.Override(sim.URL, sim.URL, ""), Simulated: true, HTTP: sim.Client,
		Log: logging.New(io.Discard, "error", "subscription")}
	pc, err := f.PartnerCenter(msclients.Credentials{InstanceID: "i", PartnerTenantID: p.TenantID, ClientID: p.ClientID,
		ClientSecret: secret.New(p.ClientSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return &counting{Source: pc}
}

func find(t *testing.T, c *catalog.Catalog, src catalog.Source, id string) *catalog.Offer {
	t.Helper()
	o, err := c.Find(context.Background(), src, "i1", "US", id)
	if err != nil {
		t.Fatal(err)
	}
	if o == nil {
		t.Fatalf("offer %s not found", id)
	}
	return o
}

// The catalog reads legacy offers and new-commerce availabilities into the
// facts validation needs.
func TestOffersFromPartnerCenter(t *testing.T) {
	src := simulator(t)
	c := &catalog.Catalog{TTL: time.Hour}
	legacy := find(t, c, src, strings.ToLower(e1))
	if legacy.ID != e1 || legacy.Kind != storage.KindLegacy || legacy.Min != 1 || legacy.Max != 10000 || legacy.SKUID == "" ||
		!legacy.SupportsCycle("Monthly") || !legacy.SupportsTerm("") || legacy.SupportsTerm("P1M") || legacy.IsAddOn {
		t.Fatalf("legacy E1: %+v", legacy)
	}
	if !legacy.AllowsUpgradeTo(find(t, c, src, e3)) || legacy.AllowsUpgradeTo(find(t, c, src, e5)) {
		t.Fatalf("legacy E1 upgrades: %v", legacy.Upgrades)
	}
	addOn := find(t, c, src, archive)
	if !addOn.IsAddOn || !addOn.AllowsParent(legacy) || addOn.AllowsParent(find(t, c, src, e5)) {
		t.Fatalf("legacy add-on: %+v", addOn)
	}
	basic := find(t, c, src, businessBasic)
	if basic.Kind != storage.KindNewCommerce || basic.Name != "Microsoft 365 Business Basic" || basic.ProductKey != "CFQ7TTC0LH18:0001" ||
		basic.Min != 1 || basic.Max != 300 || !basic.SupportsTerm("p1y") || !basic.SupportsTerm("P1M") || basic.SupportsTerm("P3Y") ||
		!basic.SupportsCycle("annual") || basic.SupportsCycle("triennial") {
		t.Fatalf("Business Basic: %+v", basic)
	}
	ncE1 := find(t, c, src, nceE1)
	if !ncE1.AllowsUpgradeTo(&catalog.Offer{ID: "x", ProductKey: "CFQ7TTC0LFLZ:0002"}) || ncE1.AllowsUpgradeTo(basic) {
		t.Fatalf("new-commerce E1 upgrades: %v", ncE1.Upgrades)
	}
	ncArchive := find(t, c, src, nceArchive)
	if !ncArchive.IsAddOn || !ncArchive.AllowsParent(ncE1) || ncArchive.AllowsParent(basic) {
		t.Fatalf("new-commerce add-on: %+v", ncArchive)
	}
	if o, err := c.Find(context.Background(), src, "i1", "US", "NOT-AN-OFFER"); o != nil || err != nil {
		t.Fatalf("unknown offer: %+v %v", o, err)
	}
	if got := catalog.Key(businessBasic); got != "CFQ7TTC0LH18:0001" || catalog.Key(e1) != e1 {
		t.Fatalf("Key: %s", got)
	}
}

// The catalog is read once per instance and country while the TTL lasts
// (the country in any case), again after it.
func TestCaching(t *testing.T) {
	src := simulator(t)
	ctx := context.Background()
	c := &catalog.Catalog{TTL: time.Hour}
	first, err := c.Offers(ctx, src, "i1", "US")
	if err != nil || len(first) == 0 {
		t.Fatalf("offers: %d %v", len(first), err)
	}
	if _, err := c.Offers(ctx, src, "i1", "us"); err != nil {
		t.Fatal(err)
	}
	find(t, c, src, e1)
	if n := src.offers.Load(); n != 1 {
		t.Fatalf("%d catalog loads for one instance and country", n)
	}
	if _, err := c.Offers(ctx, src, "i2", "US"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Offers(ctx, src, "i1", "CA"); err != nil {
		t.Fatal(err)
	}
	if n := src.offers.Load(); n != 3 {
		t.Fatalf("%d catalog loads for three instance/country pairs", n)
	}

	short := &catalog.Catalog{TTL: 20 * time.Millisecond}
	if _, err := short.Offers(ctx, src, "i1", "US"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if _, err := short.Offers(ctx, src, "i1", "US"); err != nil {
		t.Fatal(err)
	}
	if n := src.offers.Load(); n != 5 {
		t.Fatalf("an expired entry was not reloaded: %d loads", n)
	}

	// Concurrent readers share the cache safely.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if o, err := c.Find(ctx, src, "i1", "US", businessBasic); err != nil || o == nil {
				t.Errorf("concurrent find: %v %v", o, err)
			}
		}()
	}
	wg.Wait()
	if n := src.offers.Load(); n != 5 {
		t.Fatalf("cached reads loaded the catalog: %d loads", n)
	}
}

// fake is a catalog source answering from fixed lists.
type fake struct {
	offers         []partnercenter.Offer
	products       []partnercenter.Product
	skus           map[string][]partnercenter.SKU
	availabilities map[string][]partnercenter.Availability
	skuErrs        int // SKUs fails this many times first
}

func (f *fake) Offers(context.Context, string) ([]partnercenter.Offer, error) { return f.offers, nil }
func (f *fake) Products(context.Context, string) ([]partnercenter.Product, error) {
	return f.products, nil
}

func (f *fake) SKUs(_ context.Context, productID, _ string) ([]partnercenter.SKU, error) {
	if f.skuErrs > 0 {
		f.skuErrs--
		return nil, errors.New("connection reset")
	}
	return f.skus[productID], nil
}

func (f *fake) Availabilities(_ context.Context, productID, skuID, _ string) ([]partnercenter.Availability, error) {
	return f.availabilities[productID+":"+skuID], nil
}

func availability(item string, purchasable bool, terms ...string) partnercenter.Availability {
	a := partnercenter.Availability{CatalogItemID: item, IsPurchasable: purchasable}
	for _, d := range terms {
		a.Terms = append(a.Terms, struct {
			Duration     string `json:"duration"`
			Description  string `json:"description"`
			BillingCycle string `json:"billingCycle,omitempty"`
		}{Duration: d})
	}
	return a
}

// What cannot be bought is left out; names, terms and parents fall back as
// Partner Center's variants require; a failed load is not cached.
func TestLoadRules(t *testing.T) {
	src := &fake{
		offers:   []partnercenter.Offer{{ID: "L1", Name: "Sold", IsAvailableForPurchase: true}, {ID: "L2", Name: "Retired"}},
		products: []partnercenter.Product{{ID: "P", Title: "Product title"}},
		skus: map[string][]partnercenter.SKU{"P": {
			{ID: "S1", PurchasePrerequisites: []string{"Q:1"}},
			{ID: "S2", Title: "Add-on", DynamicAttributes: map[string]any{"isAddon": true, "prerequisiteSkus": []any{"Q:2"},
				"upgradeTargetOffers": []any{"R:1", 7}}},
		}},
		availabilities: map[string][]partnercenter.Availability{
			"P:S1": {availability("P:S1:A", true, "P1M", "P1Y", "p1y"), availability("P:S1:B", false, "P1M"), availability("", true)},
			"P:S2": {availability("P:S2:A", true, "P1Y")},
		},
		skuErrs: 1,
	}
	c := &catalog.Catalog{TTL: time.Hour}
	if _, err := c.Offers(context.Background(), src, "i", "US"); err == nil || !strings.Contains(err.Error(), "skus of P") {
		t.Fatalf("failed load: %v", err)
	}
	offers, err := c.Offers(context.Background(), src, "i", "US")
	if err != nil {
		t.Fatalf("a failed load was cached: %v", err)
	}
	var ids []string
	for _, o := range offers {
		ids = append(ids, o.ID)
	}
	if !slices.Equal(ids, []string{"L1", "P:S1:A", "P:S2:A"}) {
		t.Fatalf("offers %v", ids)
	}
	s1, s2 := offers[1], offers[2]
	if s1.Name != "Product title" || !slices.Equal(s1.Terms, []string{"P1M", "P1Y"}) || !slices.Equal(s1.Parents, []string{"Q:1"}) ||
		s1.IsAddOn || s1.ProductKey != "P:S1" {
		t.Fatalf("S1: %+v", s1)
	}
	if s2.Name != "Add-on" || !s2.IsAddOn || !slices.Equal(s2.Parents, []string{"Q:2"}) || !slices.Equal(s2.Upgrades, []string{"R:1"}) {
		t.Fatalf("S2: %+v", s2)
	}
}
