package mscloud

import "time"

// The Microsoft clouds the simulator stands in for, and the CSP partners
// registered in them. A partner's identity is shared by every part: it is
// fixed when the partner is registered (entra.go) and read without a lock.
// What each API keeps about a partner lives in that API's part: the app's
// client secrets and tokens in entraService, the customers in pcService,
// GDAP relationships in graphService, Graph 429 counts in graphBudgets.

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

// partner is a CSP partner and its multitenant application registration.
// Every field is set at registration and never changes.
type partner struct {
	TenantID    string
	Name        string
	Cloud       *cloudProfile
	Countries   []string
	Sandbox     bool
	ClientID    string // the application's appId
	AppObjectID string // the application's object id (GET /v1.0/applications)
	CreatedAt   time.Time
}

// sellsIn reports whether the partner may sell in country.
func (p *partner) sellsIn(country string) bool {
	for _, c := range p.Countries {
		if c == country {
			return true
		}
	}
	return false
}
