package partnercenter

// Address is a Partner Center address (billing profile defaultAddress).
type Address struct {
	FirstName    string `json:"firstName,omitempty"`
	LastName     string `json:"lastName,omitempty"`
	AddressLine1 string `json:"addressLine1,omitempty"`
	AddressLine2 string `json:"addressLine2,omitempty"`
	City         string `json:"city,omitempty"`
	State        string `json:"state,omitempty"`
	PostalCode   string `json:"postalCode,omitempty"`
	Country      string `json:"country,omitempty"`
	PhoneNumber  string `json:"phoneNumber,omitempty"`
}

// Attributes is the attributes block of a resource.
type Attributes struct {
	Etag       string `json:"etag,omitempty"`
	ObjectType string `json:"objectType,omitempty"`
}

// CompanyProfile of a customer.
type CompanyProfile struct {
	TenantID                       string `json:"tenantId,omitempty"`
	Domain                         string `json:"domain,omitempty"`
	CompanyName                    string `json:"companyName,omitempty"`
	OrganizationRegistrationNumber string `json:"organizationRegistrationNumber,omitempty"`
}

// BillingProfile of a customer.
type BillingProfile struct {
	ID             string     `json:"id,omitempty"`
	Email          string     `json:"email,omitempty"`
	Culture        string     `json:"culture,omitempty"`
	Language       string     `json:"language,omitempty"`
	CompanyName    string     `json:"companyName,omitempty"`
	DefaultAddress Address    `json:"defaultAddress"`
	Attributes     Attributes `json:"attributes,omitempty"`
}

// UserCredentials of the first admin, returned once on creation.
type UserCredentials struct {
	UserName string `json:"userName,omitempty"`
	Password string `json:"password,omitempty"`
}

// Customer is a Partner Center customer.
type Customer struct {
	ID                    string           `json:"id,omitempty"`
	CommerceID            string           `json:"commerceId,omitempty"`
	CompanyProfile        CompanyProfile   `json:"companyProfile"`
	BillingProfile        BillingProfile   `json:"billingProfile"`
	RelationshipToPartner string           `json:"relationshipToPartner,omitempty"`
	EnableGDAPByDefault   *bool            `json:"enableGDAPByDefault,omitempty"`
	AssociatedPartnerID   string           `json:"associatedPartnerId,omitempty"`
	UserCredentials       *UserCredentials `json:"userCredentials,omitempty"`
	Attributes            Attributes       `json:"attributes,omitempty"`
}

// AddressValidation is the answer of POST /v1/validations/address.
type AddressValidation struct {
	OriginalAddress    Address   `json:"originalAddress"`
	SuggestedAddresses []Address `json:"suggestedAddresses"`
	Status             string    `json:"status"`
	ValidationMessage  string    `json:"validationMessage"`
}

// Verified tells whether Microsoft accepts the address as it is.
func (v *AddressValidation) Verified() bool {
	return v.Status == "Verified" || v.Status == "VerifiedShippable"
}

// CountryRules is Microsoft's validation data for one country. Lists are
// accepted both flat (live service) and wrapped in {"value": [...]} (the docs).
type CountryRules struct {
	ISO2Code             string   `json:"iso2Code"`
	DefaultCulture       string   `json:"defaultCulture"`
	IsStateRequired      bool     `json:"isStateRequired"`
	SupportedStates      []string `json:"-"`
	SupportedLanguages   []string `json:"-"`
	SupportedCultures    []string `json:"-"`
	IsPostalCodeRequired bool     `json:"isPostalCodeRequired"`
	PostalCodeRegex      string   `json:"postalCodeRegex"`
	IsCityRequired       bool     `json:"isCityRequired"`
	PhoneNumberRegex     string   `json:"phoneNumberRegex"`
	IsTaxIDSupported     bool     `json:"isTaxIdSupported"`
	IsTaxIDOptional      bool     `json:"isTaxIdOptional"`
	TaxIDFormat          string   `json:"taxIdFormat"`
	VatIDRegex           string   `json:"vatIdRegex"`
	CountryCallingCodes  []string `json:"-"`
}

// Agreement is an attestation of a customer agreement.
type Agreement struct {
	PrimaryContact Contact `json:"primaryContact"`
	TemplateID     string  `json:"templateId"`
	DateAgreed     string  `json:"dateAgreed"`
	Type           string  `json:"type"`
}

// Contact is an agreement's primary contact.
type Contact struct {
	FirstName   string `json:"firstName"`
	LastName    string `json:"lastName"`
	Email       string `json:"email"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
}

// Link of a collection.
type Link struct {
	URI     string `json:"uri"`
	Method  string `json:"method"`
	Headers []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"headers"`
}

// collection is a Partner Center collection page.
type collection[T any] struct {
	TotalCount int `json:"totalCount"`
	Items      []T `json:"items"`
	Links      struct {
		Next *Link `json:"next"`
	} `json:"links"`
}
