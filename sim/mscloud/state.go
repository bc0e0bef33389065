package mscloud

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"strings"
	"time"

	"github.com/google/uuid"
)

// cloudProfile describes one Microsoft cloud the simulator stands in for.
type cloudProfile struct {
	Name                  string
	PartnerCenterAudience string
	GraphAudience         string
	RealLoginHost         string
	RealPartnerCenterHost string
	RealGraphHost         string
	InitialDomainSuffix   string
	CloudInstanceName     string
}

var cloudProfiles = map[string]*cloudProfile{
	"global": {
		Name:                  "global",
		PartnerCenterAudience: "https://api.partnercenter.microsoft.com",
		GraphAudience:         "https://graph.microsoft.com",
		RealLoginHost:         "https://login.microsoftonline.com",
		RealPartnerCenterHost: "https://api.partnercenter.microsoft.com",
		RealGraphHost:         "https://graph.microsoft.com",
		InitialDomainSuffix:   ".onmicrosoft.com",
		CloudInstanceName:     "microsoftonline.com",
	},
	"usgov": {
		Name:                  "usgov",
		PartnerCenterAudience: "https://api.partnercenter.microsoft.com",
		GraphAudience:         "https://graph.microsoft.us",
		RealLoginHost:         "https://login.microsoftonline.us",
		RealPartnerCenterHost: "https://api.partnercenter.microsoft.com",
		RealGraphHost:         "https://graph.microsoft.us",
		InitialDomainSuffix:   ".onmicrosoft.com",
		CloudInstanceName:     "microsoftonline.us",
	},
	"china": {
		Name:                  "china",
		PartnerCenterAudience: "https://partner.partnercenterapi.microsoftonline.cn",
		GraphAudience:         "https://microsoftgraph.chinacloudapi.cn",
		RealLoginHost:         "https://login.chinacloudapi.cn",
		RealPartnerCenterHost: "https://partner.partnercenterapi.microsoftonline.cn",
		RealGraphHost:         "https://microsoftgraph.chinacloudapi.cn",
		InitialDomainSuffix:   ".partner.onmschina.cn",
		CloudInstanceName:     "chinacloudapi.cn",
	},
}

var cloudNames = []string{"global", "china", "usgov"}

// reservedDomains are taken without belonging to any simulated customer.
var reservedDomains = map[string]bool{
	"contoso.onmicrosoft.com":          true,
	"fabrikam.onmicrosoft.com":         true,
	"microsoft.onmicrosoft.com":        true,
	"contoso.partner.onmschina.cn":     true,
	"microsoft.partner.onmschina.cn":   true,
	"partnercenter.onmicrosoft.com":    true,
	"sandboxpartner.onmicrosoft.com":   true,
	"testtesttest.onmicrosoft.com":     true,
	"adatum.onmicrosoft.com":           true,
	"wingtiptoys.onmicrosoft.com":      true,
	"tailspintoys.onmicrosoft.com":     true,
	"northwindtraders.onmicrosoft.com": true,
}

type partner struct {
	TenantID     string
	Name         string
	Cloud        *cloudProfile
	Countries    []string
	Sandbox      bool
	ClientID     string
	ClientSecret string // value of the app's first client secret (POST /_sim/partners); secrets holds them all
	CreatedAt    time.Time
	customers    []*customer // creation order
	// The partner's application (graph_applications.go): its object id
	// and its client secrets, creation order.
	AppObjectID string
	secrets     []*clientSecret
	// GDAP relationships with customers (graph_gdap.go), creation order.
	gdap []*gdapRelationship
	// graphThrottled counts the Graph 429 answers given to the partner's
	// app (budget exhaustion and injected throttle faults).
	graphThrottled int
}

func (p *partner) sellsIn(country string) bool {
	for _, c := range p.Countries {
		if c == country {
			return true
		}
	}
	return false
}

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
	dir                   *tenantDirectory // Entra directory: users and domains (graph_directory.go); nil until first used
}

// accessToken is an opaque bearer token kept in memory.
type accessToken struct {
	Partner  *partner
	TenantID string // issuing tenant: the partner's or one of its customers'
	Audience string
	ClientID string
	AppOnly  bool
	Expires  time.Time
}

type refreshToken struct {
	Partner  *partner
	ClientID string
	Expires  time.Time
}

const refreshTokenLifetime = 90 * 24 * time.Hour

// --- identifiers and secrets ---

func newGUID() string { return uuid.NewString() }

func randomString(n int, alphabet string) string {
	out := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		out[i] = alphabet[v.Int64()]
	}
	return string(out)
}

func randomToken(prefix string, nbytes int) string {
	b := make([]byte, nbytes)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

const (
	alphaNum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	secretChar = alphaNum + "_.-~"
)

// newClientSecret looks like an Entra client secret value (…8Q~…, 40 chars).
func newClientSecret() string {
	return randomString(3, alphaNum) + "8Q~" + randomString(34, secretChar)
}

// newPassword returns a strong initial password: upper, lower, digit and symbol.
func newPassword() string {
	return randomString(1, "ABCDEFGHJKLMNPQRSTUVWXYZ") + randomString(1, "abcdefghijkmnopqrstuvwxyz") +
		randomString(10, alphaNum) + randomString(1, "!#$%&*+-=?@") + randomString(3, "23456789")
}

// newMSCV mimics the correlation vector Partner Center returns in MS-CV.
func newMSCV() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) + ".0"
}

func newETag() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
