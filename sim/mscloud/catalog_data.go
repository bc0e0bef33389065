package mscloud

import (
	"maps"
	"slices"
	"strings"
)

// The built-in catalogs behind the Partner Center catalog, order, cart and
// subscription calls. Product ids, SKU ids and license SKU GUIDs follow the
// public ones where they are well known (see BEHAVIOUR.md); everything else
// (availability ids, most legacy offer ids, the add-on product ids) is made
// up but shaped like the real thing. Nothing here is copied from the service.

// licenseSku is what a subscription grants in the customer tenant: the
// Graph subscribedSku.skuId / Partner Center productSku.id GUID.
type licenseSku struct {
	ID         string
	PartNumber string
	Name       string
	Plans      []servicePlan
}

type servicePlan struct {
	ID, ServiceName, DisplayName string
}

// term is one purchasable term of an availability (new commerce).
type term struct {
	Duration     string // P1M, P1Y
	BillingCycle string // monthly, annual
	Description  string
}

// legacyOffer is a traditional (legacy) license-based offer.
type legacyOffer struct {
	ID          string // upper-case GUID
	Name        string
	Description string
	Category    string
	Rank        int
	Min, Max    int
	AddOn       bool
	Parents     []string // prerequisite (parent) offer ids, add-ons only
	Trial       bool
	Cycles      []string // supported billing cycles
	Upgrades    []string // higher offers only
	Conversions []string // trial → paid
	License     *licenseSku
	OnlyIn      []string // nil: every market of the catalog
}

// ncProduct, ncSku and ncAvailability are the new-commerce catalog.
type ncProduct struct {
	ID, Title, Description string
	Skus                   []*ncSku
}

type ncSku struct {
	ID, Title, Description string
	product                *ncProduct
	Min, Max               int
	AddOn                  bool
	Parents                []string // "product:sku" of allowed parents, add-ons only
	Upgrades               []string // "product:sku" of higher SKUs
	License                *licenseSku
	Availabilities         []*ncAvailability
}

type ncAvailability struct {
	ID    string
	Terms []term
}

// key is "productId:skuId", the offerId of a new-commerce subscription.
func (k *ncSku) key() string { return k.product.ID + ":" + k.ID }

// catalog is what the partners of one cloud profile can see and buy.
type catalog struct {
	Cloud    string
	Markets  map[string]bool
	Offers   []*legacyOffer
	Products []*ncProduct
}

func (c *catalog) sellsIn(country string) bool { return c.Markets[country] }

// markets lists the countries the catalog sells in, sorted.
func (c *catalog) markets() []string {
	return slices.Sorted(maps.Keys(c.Markets))
}

func (c *catalog) offer(id string) *legacyOffer {
	for _, o := range c.Offers {
		if strings.EqualFold(o.ID, id) {
			return o
		}
	}
	return nil
}

func (c *catalog) product(id string) *ncProduct {
	for _, p := range c.Products {
		if strings.EqualFold(p.ID, id) {
			return p
		}
	}
	return nil
}

func (o *legacyOffer) soldIn(c *catalog, country string) bool {
	return c.sellsIn(country) && (o.OnlyIn == nil || slices.Contains(o.OnlyIn, country))
}

// --- license SKUs and service plans ---

var (
	planExchange1     = servicePlan{"9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD", "Exchange Online (Plan 1)"}
	planExchange2     = servicePlan{"efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE", "Exchange Online (Plan 2)"}
	planSharePoint1   = servicePlan{"c7699d2e-19aa-44de-8edf-1736da088ca1", "SHAREPOINTSTANDARD", "SharePoint (Plan 1)"}
	planSharePoint2   = servicePlan{"5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTENTERPRISE", "SharePoint (Plan 2)"}
	planTeams         = servicePlan{"57ff2da0-773e-42df-b2af-ffb7a2317929", "TEAMS1", "Microsoft Teams"}
	planAppsBusiness  = servicePlan{"094e7854-93fc-4d55-b2c0-3ab5369ebdc1", "OFFICE_BUSINESS", "Microsoft 365 Apps for business"}
	planAppsEnterpr   = servicePlan{"43de0ff5-c92c-492b-9116-175376d08c38", "OFFICESUBSCRIPTION", "Microsoft 365 Apps for enterprise"}
	planIntune        = servicePlan{"c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "INTUNE_A", "Microsoft Intune Plan 1"}
	planEntraP1       = servicePlan{"41781fb2-bc02-4b7c-bd55-b576c07bb09d", "AAD_PREMIUM", "Microsoft Entra ID P1"}
	planPhoneSystem   = servicePlan{"4828c8ec-dc2e-4779-b502-87ac9ce28ab7", "MCOEV", "Microsoft 365 Phone System"}
	planDefenderO365a = servicePlan{"f20fedf3-f3c3-43c3-8267-2bfdd51c0939", "ATP_ENTERPRISE", "Microsoft Defender for Office 365 (Plan 1)"}
	planDefenderO365b = servicePlan{"8e0c0a52-6a6c-4d40-8370-dd62790dcd70", "THREAT_INTELLIGENCE", "Microsoft Defender for Office 365 (Plan 2)"}
	planArchive       = servicePlan{"176a09a6-7ec5-4039-ac02-b2791c6ba793", "EXCHANGE_S_ARCHIVE_ADDON", "Exchange Online Archiving"}
)

var (
	licBusinessBasic = &licenseSku{"3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS", "Microsoft 365 Business Basic",
		[]servicePlan{planExchange1, planSharePoint1, planTeams}}
	licBusinessStandard = &licenseSku{"f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM", "Microsoft 365 Business Standard",
		[]servicePlan{planExchange1, planSharePoint1, planTeams, planAppsBusiness}}
	licBusinessPremium = &licenseSku{"cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB", "Microsoft 365 Business Premium",
		[]servicePlan{planExchange1, planSharePoint1, planTeams, planAppsBusiness, planIntune, planEntraP1, planDefenderO365a}}
	licE1 = &licenseSku{"18181a46-0d4e-45cd-891e-60aabd171b4e", "STANDARDPACK", "Office 365 E1",
		[]servicePlan{planExchange1, planSharePoint1, planTeams}}
	licE3 = &licenseSku{"6fd2c87f-b296-42f0-b197-1e91e994b900", "ENTERPRISEPACK", "Office 365 E3",
		[]servicePlan{planExchange2, planSharePoint2, planTeams, planAppsEnterpr}}
	licE5 = &licenseSku{"c7df2760-2c81-4ef7-b578-5b5392b571df", "ENTERPRISEPREMIUM", "Office 365 E5",
		[]servicePlan{planExchange2, planSharePoint2, planTeams, planAppsEnterpr, planPhoneSystem, planDefenderO365b}}
	licArchive = &licenseSku{"ee02fd1b-340e-4a4b-b355-4a514e4c8943", "EXCHANGEARCHIVE_ADDON", "Exchange Online Archiving for Exchange Online",
		[]servicePlan{planArchive}}
	licDefenderP1 = &licenseSku{"4ef96642-f096-40de-a3e9-d83fb2f90211", "ATP_ENTERPRISE", "Microsoft Defender for Office 365 (Plan 1)",
		[]servicePlan{planDefenderO365a}}
)

// --- legacy offers ---

// Legacy offer ids of the global catalog.
const (
	offerE1            = "91FD106F-4B2C-4938-95AC-F54F74E9A239"
	offerE3            = "796B6B5F-613C-4E24-A17C-EBA730D49C02"
	offerE5            = "DFB8A0CE-3E8B-4C4A-B9B7-3E7BE6F1C2B5"
	offerBusinessBasic = "3451A3B0-8CDA-44A7-BAD7-C30BE81C4AAA"
	offerBusinessStd   = "031C9E47-4802-4248-838E-778FB1D2CC05"
	offerBusinessPrem  = "5C9FD4CC-EDCE-44A8-8E91-07DF09744609"
	offerArchive       = "2828BE95-46BA-4F91-B2FD-0BEF192ECF60"
	offerE3Trial       = "F5C7F8D0-36D1-4E3D-8F0C-9E8B5A6B1D21"
	// 21Vianet (china) catalog.
	offerCNE1            = "6B4E1D6A-8F4C-4C2B-9D5E-2A1C0F3E7B11"
	offerCNE3            = "A3D9F2C4-5B7E-4E1A-8C6D-0F2B9E4A7C22"
	offerCNBusinessBasic = "C8E2A7B5-1D4F-4A9C-B3E6-7F0D2C5A9E33"
	offerCNBusinessStd   = "E1F6C3D8-2A5B-4C7E-9F1A-4B8D6E0C2F44"
)

var (
	monthlyAnnual = []string{"monthly", "annual"}

	legacyE1 = &legacyOffer{ID: offerE1, Name: "Office 365 E1", Category: "Enterprise", Rank: 10, Min: 1, Max: 10000,
		Description: "Email, file storage and sharing, Office for the web, meetings and IM.",
		Cycles:      monthlyAnnual, Upgrades: []string{offerE3}, License: licE1}
	legacyE3 = &legacyOffer{ID: offerE3, Name: "Office 365 E3", Category: "Enterprise", Rank: 20, Min: 1, Max: 10000,
		Description: "All the features of Office 365 E1 plus the Office desktop apps and advanced compliance.",
		Cycles:      monthlyAnnual, Upgrades: []string{offerE5}, License: licE3}
	legacyE5 = &legacyOffer{ID: offerE5, Name: "Office 365 E5", Category: "Enterprise", Rank: 30, Min: 1, Max: 10000,
		Description: "All the features of Office 365 E3 plus advanced security, analytics and voice.",
		Cycles:      monthlyAnnual, License: licE5}
	legacyBasic = &legacyOffer{ID: offerBusinessBasic, Name: "Microsoft 365 Business Basic", Category: "SMB", Rank: 40, Min: 1, Max: 300,
		Description: "Web and mobile Office apps, email, file storage and Teams for small businesses.",
		Cycles:      monthlyAnnual, Upgrades: []string{offerBusinessStd}, License: licBusinessBasic}
	legacyStandard = &legacyOffer{ID: offerBusinessStd, Name: "Microsoft 365 Business Standard", Category: "SMB", Rank: 50, Min: 1, Max: 300,
		Description: "Everything in Business Basic plus the desktop Office apps.",
		Cycles:      monthlyAnnual, Upgrades: []string{offerBusinessPrem}, License: licBusinessStandard}
	legacyPremium = &legacyOffer{ID: offerBusinessPrem, Name: "Microsoft 365 Business Premium", Category: "SMB", Rank: 60, Min: 1, Max: 300,
		Description: "Everything in Business Standard plus advanced security and device management.",
		Cycles:      monthlyAnnual, License: licBusinessPremium}
	legacyArchive = &legacyOffer{ID: offerArchive, Name: "Exchange Online Archiving for Exchange Online", Category: "AddOn", Rank: 70, Min: 1, Max: 10000,
		Description: "Unlimited archiving for Exchange Online mailboxes (add-on).",
		AddOn:       true, Parents: []string{offerE1, offerE3}, Cycles: monthlyAnnual, License: licArchive}
	legacyE3Trial = &legacyOffer{ID: offerE3Trial, Name: "Office 365 E3 Trial", Category: "Trial", Rank: 80, Min: 25, Max: 25,
		Description: "One-month trial of Office 365 E3 for 25 users.",
		Trial:       true, Cycles: []string{"none"}, Conversions: []string{offerE3}, License: licE3,
		OnlyIn: []string{"US", "CA", "GB", "AU"}}

	legacyCNE1 = &legacyOffer{ID: offerCNE1, Name: "Office 365 E1 (operated by 21Vianet)", Category: "Enterprise", Rank: 10, Min: 1, Max: 10000,
		Description: "Email, file storage and sharing, meetings and IM, operated by 21Vianet.",
		Cycles:      monthlyAnnual, Upgrades: []string{offerCNE3}, License: licE1}
	legacyCNE3 = &legacyOffer{ID: offerCNE3, Name: "Office 365 E3 (operated by 21Vianet)", Category: "Enterprise", Rank: 20, Min: 1, Max: 10000,
		Description: "Office 365 E1 plus the Office desktop apps, operated by 21Vianet.",
		Cycles:      monthlyAnnual, License: licE3}
	legacyCNBasic = &legacyOffer{ID: offerCNBusinessBasic, Name: "Microsoft 365 Business Basic (operated by 21Vianet)", Category: "SMB", Rank: 40, Min: 1, Max: 300,
		Description: "Web and mobile Office apps, email and file storage, operated by 21Vianet.",
		Cycles:      monthlyAnnual, Upgrades: []string{offerCNBusinessStd}, License: licBusinessBasic}
	legacyCNStandard = &legacyOffer{ID: offerCNBusinessStd, Name: "Microsoft 365 Business Standard (operated by 21Vianet)", Category: "SMB", Rank: 50, Min: 1, Max: 300,
		Description: "Business Basic plus the desktop Office apps, operated by 21Vianet.",
		Cycles:      monthlyAnnual, License: licBusinessStandard}
)

// --- new commerce ---

// ncTerms: P1M billed monthly, P1Y billed monthly or annually.
var ncTerms = []term{
	{Duration: "P1M", BillingCycle: "monthly", Description: "One-Month commitment for monthly billing"},
	{Duration: "P1Y", BillingCycle: "monthly", Description: "One-Year commitment for monthly/yearly billing"},
	{Duration: "P1Y", BillingCycle: "annual", Description: "One-Year commitment for monthly/yearly billing"},
}

func newProduct(id, title, desc string, skus ...*ncSku) *ncProduct {
	p := &ncProduct{ID: id, Title: title, Description: desc, Skus: skus}
	for _, k := range skus {
		k.product = p
	}
	return p
}

func availability(id string) []*ncAvailability {
	return []*ncAvailability{{ID: id, Terms: ncTerms}}
}

// New-commerce product ids.
const (
	productBusinessBasic = "CFQ7TTC0LH18"
	productBusinessStd   = "CFQ7TTC0LDPB"
	productBusinessPrem  = "CFQ7TTC0LCHC"
	productE1            = "CFQ7TTC0LF8R"
	productE3            = "CFQ7TTC0LFLZ"
	productE5            = "CFQ7TTC0LF8Q"
	productArchive       = "CFQ7TTC0LHWP"
	productDefenderP1    = "CFQ7TTC0LHRD"
)

var (
	ncBusinessBasic = newProduct(productBusinessBasic, "Microsoft 365 Business Basic",
		"Web and mobile Office apps, email, file storage and Teams for small businesses.",
		&ncSku{ID: "0001", Title: "Microsoft 365 Business Basic", Description: "Microsoft 365 Business Basic", Min: 1, Max: 300,
			Upgrades: []string{productBusinessStd + ":0001", productBusinessPrem + ":0002"}, License: licBusinessBasic,
			Availabilities: availability("CFQ7TTC0K971")})
	ncBusinessStd = newProduct(productBusinessStd, "Microsoft 365 Business Standard",
		"Everything in Business Basic plus the desktop Office apps.",
		&ncSku{ID: "0001", Title: "Microsoft 365 Business Standard", Description: "Microsoft 365 Business Standard", Min: 1, Max: 300,
			Upgrades: []string{productBusinessPrem + ":0002"}, License: licBusinessStandard,
			Availabilities: availability("CFQ7TTC0K5Q2")})
	ncBusinessPrem = newProduct(productBusinessPrem, "Microsoft 365 Business Premium",
		"Everything in Business Standard plus advanced security and device management.",
		&ncSku{ID: "0002", Title: "Microsoft 365 Business Premium", Description: "Microsoft 365 Business Premium", Min: 1, Max: 300,
			License: licBusinessPremium, Availabilities: availability("CFQ7TTC0K5RZ")})
	ncE1 = newProduct(productE1, "Office 365 E1",
		"Email, file storage and sharing, Office for the web, meetings and IM.",
		&ncSku{ID: "0001", Title: "Office 365 E1", Description: "Office 365 E1", Min: 1, Max: 10000,
			Upgrades: []string{productE3 + ":0002", productE5 + ":0001"}, License: licE1,
			Availabilities: availability("CFQ7TTC0K6HG")})
	ncE3 = newProduct(productE3, "Office 365 E3",
		"Office 365 E1 plus the Office desktop apps and advanced compliance.",
		&ncSku{ID: "0002", Title: "Office 365 E3", Description: "Office 365 E3", Min: 1, Max: 10000,
			Upgrades: []string{productE5 + ":0001"}, License: licE3,
			Availabilities: availability("CFQ7TTC0K4TS")})
	ncE5 = newProduct(productE5, "Office 365 E5",
		"Office 365 E3 plus advanced security, analytics and voice.",
		&ncSku{ID: "0001", Title: "Office 365 E5", Description: "Office 365 E5", Min: 1, Max: 10000,
			License: licE5, Availabilities: availability("CFQ7TTC0K8D3")})
	ncArchive = newProduct(productArchive, "Exchange Online Archiving for Exchange Online",
		"Unlimited archiving for Exchange Online mailboxes (add-on).",
		&ncSku{ID: "0001", Title: "Exchange Online Archiving for Exchange Online", Description: "Add-on for Office 365 E1 and E3",
			Min: 1, Max: 10000, AddOn: true, Parents: []string{productE1 + ":0001", productE3 + ":0002"}, License: licArchive,
			Availabilities: availability("CFQ7TTC0K9TB")})
	ncDefenderP1 = newProduct(productDefenderP1, "Microsoft Defender for Office 365 (Plan 1)",
		"Protection against phishing and malware in email and collaboration tools (add-on).",
		&ncSku{ID: "0001", Title: "Microsoft Defender for Office 365 (Plan 1)", Description: "Add-on for Microsoft 365 Business Basic and Business Standard",
			Min: 1, Max: 300, AddOn: true, Parents: []string{productBusinessBasic + ":0001", productBusinessStd + ":0001"}, License: licDefenderP1,
			Availabilities: availability("CFQ7TTC0K7Q4")})
)

// globalMarkets: every country of the built-in table except CN (21Vianet)
// and RU (no sales).
func globalMarkets() map[string]bool {
	m := map[string]bool{}
	for c := range countryTable {
		if c != "CN" && c != "RU" {
			m[c] = true
		}
	}
	return m
}

// catalogs by cloud profile. usgov sees a reduced, enterprise-only subset of
// the global ids (US only); china sees its own smaller legacy catalog and no
// new-commerce products.
var catalogs = map[string]*catalog{
	"global": {
		Cloud:   "global",
		Markets: globalMarkets(),
		Offers:  []*legacyOffer{legacyE1, legacyE3, legacyE5, legacyBasic, legacyStandard, legacyPremium, legacyArchive, legacyE3Trial},
		Products: []*ncProduct{ncBusinessBasic, ncBusinessStd, ncBusinessPrem, ncE1, ncE3, ncE5,
			ncArchive, ncDefenderP1},
	},
	"usgov": {
		Cloud:    "usgov",
		Markets:  map[string]bool{"US": true},
		Offers:   []*legacyOffer{legacyE1, legacyE3, legacyE5, legacyArchive},
		Products: []*ncProduct{ncE1, ncE3, ncE5, ncArchive},
	},
	"china": {
		Cloud:   "china",
		Markets: map[string]bool{"CN": true},
		Offers:  []*legacyOffer{legacyCNE1, legacyCNE3, legacyCNBasic, legacyCNStandard},
	},
}

// allOffers and allProducts index every catalog, to tell an unknown id
// (404) from one the partner's cloud or the customer's country cannot buy
// (800070).
var (
	allOffers   = map[string]*legacyOffer{}
	allProducts = map[string]*ncProduct{}
	allLicenses = map[string]*licenseSku{}
)

func init() {
	for _, c := range catalogs {
		for _, o := range c.Offers {
			allOffers[strings.ToUpper(o.ID)] = o
			allLicenses[o.License.ID] = o.License
		}
		for _, p := range c.Products {
			allProducts[strings.ToUpper(p.ID)] = p
			for _, k := range p.Skus {
				allLicenses[k.License.ID] = k.License
			}
		}
	}
}

func catalogFor(p *partner) *catalog { return catalogs[p.Cloud.Name] }
