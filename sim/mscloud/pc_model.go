package mscloud

import "time"

// The Partner Center customer (pcService): its profiles, agreements,
// application consents and commerce state. Guarded by pcService.mu; only
// ID, CommerceID, Partner, Domain and CreatedAt are fixed at creation.

type address struct {
	FirstName    string `json:"firstName,omitempty"`
	LastName     string `json:"lastName,omitempty"`
	AddressLine1 string `json:"addressLine1,omitempty"`
	AddressLine2 string `json:"addressLine2,omitempty"`
	AddressLine3 string `json:"addressLine3,omitempty"`
	City         string `json:"city,omitempty"`
	State        string `json:"state,omitempty"`
	PostalCode   string `json:"postalCode,omitempty"`
	Country      string `json:"country,omitempty"`
	Region       string `json:"region,omitempty"`
	PhoneNumber  string `json:"phoneNumber,omitempty"`
}

type billingProfile struct {
	ID             string
	Email          string
	Culture        string
	Language       string
	CompanyName    string
	DefaultAddress address
	ETag           string
}

type agreement struct {
	PrimaryContact contact
	TemplateID     string
	DateAgreed     time.Time
	Type           string
	UserID         string
}

type contact struct {
	FirstName   string `json:"firstName"`
	LastName    string `json:"lastName"`
	Email       string `json:"email"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
}

// customer is a customer of one partner (reseller relationship).
type customer struct {
	ID                    string
	CommerceID            string
	Partner               *partner
	Domain                string
	CompanyName           string
	OrgRegistrationNumber string
	Billing               billingProfile
	EnableGDAPByDefault   bool
	AllowDelegatedAccess  bool
	Agreements            []*agreement
	MCAAttested           bool
	Consents              map[string]*appConsent // application consents by application id (pc_consents.go)
	CreatedAt             time.Time
	commerce              customerCommerce // orders, carts, subscriptions (pc_commerce.go)
	// The customer's Entra directory (users, domains) is Graph's: a tenant
	// record in graphService, kept in step by pcService.addCustomer,
	// removeCustomer and PUT billing profile (tenantOrgOf).
}

// tenantOrgOf is what the customer's directory knows of the customer's
// organisation (graph_tenants.go).
func tenantOrgOf(cu *customer) tenantOrg {
	a := cu.Billing.DefaultAddress
	return tenantOrg{CompanyName: cu.CompanyName, AdminFirstName: a.FirstName, AdminLastName: a.LastName, Country: a.Country}
}
