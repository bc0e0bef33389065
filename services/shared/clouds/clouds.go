// Package clouds is the one table of Microsoft endpoints per national cloud.
// A deployment serves exactly one cloud; nothing here is shared between them.
package clouds

import (
	"fmt"
	"strings"
)

// Name of a Microsoft cloud as the APS `cloud` property spells it.
type Name string

// The clouds a deployment can serve.
const (
	Global Name = "global"
	China  Name = "china"
	USGov  Name = "usgov"
)

// Endpoints of one cloud. Audiences are the token audiences: they stay the
// real ones even when the URLs are pointed at the simulator.
type Endpoints struct {
	Cloud Name
	// LoginAuthority is the Entra authority host (with trailing slash).
	LoginAuthority string
	// PartnerCenterURL is the Partner Center REST base (without /v1).
	PartnerCenterURL string
	// PartnerCenterAudience is the token audience of Partner Center.
	PartnerCenterAudience string
	// GraphURL is the Microsoft Graph base including the version (/v1.0).
	GraphURL string
	// GraphAudience is the token audience of Graph.
	GraphAudience string
	// InitialDomainSuffix is appended to initial subdomains.
	InitialDomainSuffix string
	// AdminCenterURL is the Microsoft 365 admin center where customers
	// approve a partner's delegated admin relationship.
	AdminCenterURL string
	// PasswordResetSupported tells whether partners may reset customer users' passwords.
	PasswordResetSupported bool
	// LicenseManagementSupported tells whether partners may assign licenses.
	LicenseManagementSupported bool
}

var table = map[Name]Endpoints{
	Global: {
		Cloud:                      Global,
		LoginAuthority:             "https://login.microsoftonline.com/",
		PartnerCenterURL:           "https://api.partnercenter.microsoft.com",
		PartnerCenterAudience:      "https://api.partnercenter.microsoft.com",
		GraphURL:                   "https://graph.microsoft.com/v1.0",
		GraphAudience:              "https://graph.microsoft.com",
		InitialDomainSuffix:        "onmicrosoft.com",
		AdminCenterURL:             "https://admin.microsoft.com",
		PasswordResetSupported:     true,
		LicenseManagementSupported: true,
	},
	China: {
		Cloud:                 China,
		LoginAuthority:        "https://login.chinacloudapi.cn/",
		PartnerCenterURL:      "https://partner.partnercenterapi.microsoftonline.cn",
		PartnerCenterAudience: "https://partner.partnercenterapi.microsoftonline.cn",
		GraphURL:              "https://microsoftgraph.chinacloudapi.cn/v1.0",
		GraphAudience:         "https://microsoftgraph.chinacloudapi.cn",
		InitialDomainSuffix:   "partner.onmschina.cn",
		AdminCenterURL:        "https://portal.partner.microsoftonline.cn",
		// 21Vianet: no programmatic password reset, no partner license management.
		PasswordResetSupported:     false,
		LicenseManagementSupported: false,
	},
	USGov: {
		Cloud:                      USGov,
		LoginAuthority:             "https://login.microsoftonline.us/",
		PartnerCenterURL:           "https://api.partnercenter.microsoft.com",
		PartnerCenterAudience:      "https://api.partnercenter.microsoft.com",
		GraphURL:                   "https://graph.microsoft.us/v1.0",
		GraphAudience:              "https://graph.microsoft.us",
		InitialDomainSuffix:        "onmicrosoft.com",
		AdminCenterURL:             "https://admin.microsoft.com",
		PasswordResetSupported:     false,
		LicenseManagementSupported: true,
	},
}

// Lookup returns the endpoints of a cloud.
func Lookup(name string) (Endpoints, error) {
	e, ok := table[Name(strings.ToLower(strings.TrimSpace(name)))]
	if !ok {
		return Endpoints{}, fmt.Errorf("unknown cloud %q (want global, china or usgov)", name)
	}
	return e, nil
}

// Override points the endpoints at other URLs (the simulator); empty values
// keep the table's. Audiences and the domain suffix never change.
func (e Endpoints) Override(login, partnerCenter, graph string) Endpoints {
	if login != "" {
		if !strings.HasSuffix(login, "/") {
			login += "/"
		}
		e.LoginAuthority = login
	}
	if partnerCenter != "" {
		e.PartnerCenterURL = strings.TrimRight(partnerCenter, "/")
	}
	if graph != "" {
		e.GraphURL = strings.TrimRight(graph, "/")
	}
	return e
}

// InitialDomain is the full initial domain of a subdomain in this cloud.
func (e Endpoints) InitialDomain(subdomain string) string {
	return strings.ToLower(subdomain) + "." + e.InitialDomainSuffix
}
