package mscloud

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Domains of a customer tenant:
//
//	POST   /v1.0/domains                                 201 domain, unverified
//	GET    /v1.0/domains
//	GET    /v1.0/domains/{id}
//	DELETE /v1.0/domains/{id}                            204
//	GET    /v1.0/domains/{id}/verificationDnsRecords     TXT and MX records
//	POST   /v1.0/domains/{id}/verify                     200 domain, when the TXT record is published
//
// "Published" means POST /_sim/dns {"domain","txt"} put the domain's
// verification text on the simulated DNS. A domain whose parent domain is
// in the same tenant is not a root domain: it is verified with its root.

func (s *graphService) registerGraphDomains() {
	s.tenantRoute("POST /v1.0/domains", s.graphAddDomain)
	s.tenantRoute("GET /v1.0/domains", s.graphListDomains)
	s.tenantRoute("GET /v1.0/domains/{id}", s.withDomain(s.graphGetDomain))
	s.tenantRoute("DELETE /v1.0/domains/{id}", s.withDomain(s.graphDeleteDomain))
	s.tenantRoute("GET /v1.0/domains/{id}/verificationDnsRecords", s.withDomain(s.graphDomainRecords))
	s.tenantRoute("POST /v1.0/domains/{id}/verify", s.withDomain(s.graphVerifyDomain))
}

var domainNameRe = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// newDomainTXT is a verification text such as MS=ms12345678.
func newDomainTXT() string { return "MS=ms" + randomString(8, "0123456789") }

// mxHostFor is the Exchange Online mail exchanger of a domain
// (contoso.com → contoso-com.mail.protection.outlook.com).
func mxHostFor(cloud *cloudProfile, domain string) string {
	host := strings.ReplaceAll(domain, ".", "-")
	if cloud.Name == "china" {
		return host + ".mail.protection.partner.outlook.cn"
	}
	return host + ".mail.protection.outlook.com"
}

// initialSuffixes are reserved for initial domains in every cloud.
var initialSuffixes = []string{".onmicrosoft.com", ".partner.onmschina.cn", ".onmicrosoft.us"}

// parentOf is the nearest domain of the tenant of which dm is a subdomain.
func (d *tenantDirectory) parentOf(name string) *dirDomain {
	var best *dirDomain
	for _, o := range d.domains {
		if strings.HasSuffix(name, "."+o.Name) && (best == nil || len(o.Name) > len(best.Name)) {
			best = o
		}
	}
	return best
}

func (d *tenantDirectory) subdomainsOf(name string) []*dirDomain {
	var out []*dirDomain
	for _, o := range d.domains {
		if strings.HasSuffix(o.Name, "."+name) {
			out = append(out, o)
		}
	}
	return out
}

func domainView(d *tenantDirectory, dm *dirDomain) map[string]any {
	services := []string{}
	if dm.Initial {
		services = []string{"Email", "OfficeCommunicationsOnline"}
	}
	return map[string]any{
		"id": dm.Name, "authenticationType": "Managed", "availabilityStatus": nil, "isAdminManaged": true,
		"isDefault": dm.Default, "isInitial": dm.Initial, "isRoot": d.parentOf(dm.Name) == nil, "isVerified": dm.Verified,
		"supportedServices": services, "passwordNotificationWindowInDays": nil, "passwordValidityPeriodInDays": nil, "state": nil,
	}
}

// domainElsewhere reports whether another tenant (any partner's customer,
// or the reserved names) holds name or has verified a parent of it. Caller
// holds s.mu.
func (s *graphService) domainElsewhere(name string, t *graphTenant) bool {
	if reservedDomains[name] {
		return true
	}
	for _, other := range s.tenants {
		if other == t {
			continue
		}
		if other.Domain == name {
			return true // another tenant's initial domain
		}
		if other.dir == nil {
			continue
		}
		for _, dm := range other.dir.domains {
			if dm.Name == name || (dm.Verified && strings.HasSuffix(name, "."+dm.Name)) {
				return true
			}
		}
	}
	return false
}

func invalidDomainProp(name string) string {
	return "Invalid value specified for property '" + name + "' of resource 'Domain'."
}

func (s *graphService) graphAddDomain(r *http.Request, c *apiCall, cu *tenantCall, now time.Time) *response {
	m, ok := decodeObject(r)
	if !ok {
		return s.gerr(c, http.StatusBadRequest, "BadRequest", msgBadJSON)
	}
	var raw []byte
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "@"):
		case strings.EqualFold(k, "id"):
			raw = v
		default:
			return s.badRequest(c, "Property '"+k+"' cannot be set when a domain is created; only id can.") // simulated message
		}
	}
	name := ""
	if raw == nil || !jsonString(raw, &name) {
		return s.badRequest(c, invalidDomainProp("id"))
	}
	name = strings.TrimSuffix(lower(name), ".")
	if len(name) > 253 || !domainNameRe.MatchString(name) {
		return s.badRequest(c, invalidDomainProp("id"))
	}
	for _, suf := range initialSuffixes {
		if strings.HasSuffix(name, suf) || name == suf[1:] {
			return s.badRequest(c, "Domain "+name+" cannot be added: names under "+suf[1:]+" are reserved for initial domains.") // simulated message
		}
	}
	d := cu.directory()
	if d.domain(name) != nil {
		return s.badRequest(c, "Another object with the same value for property id already exists.")
	}
	if s.domainElsewhere(name, cu.graphTenant) {
		return s.badRequest(c, "Domain "+name+" is already in use by another tenant. A domain can belong to only one Microsoft Entra tenant; remove it there first.") // simulated message
	}
	dm := &dirDomain{Name: name, TXT: newDomainTXT(), MX: mxHostFor(cu.Partner.Cloud, name), Created: now}
	if p := d.parentOf(name); p != nil && p.Verified {
		dm.Verified = true
	}
	d.domains = append(d.domains, dm)
	view := domainView(d, dm)
	view["@odata.context"] = odataContext(r, "domains/$entity")
	resp := graphJSON(http.StatusCreated, view)
	resp.header.Set("Location", baseURL(r)+"/v1.0/domains/"+name)
	return resp
}

func (s *graphService) graphListDomains(r *http.Request, _ *apiCall, cu *tenantCall, _ time.Time) *response {
	d := cu.directory()
	value := []any{}
	for _, dm := range d.domains {
		value = append(value, domainView(d, dm))
	}
	return graphJSON(http.StatusOK, map[string]any{"@odata.context": odataContext(r, "domains"), "value": value})
}

type domainHandler func(r *http.Request, c *apiCall, cu *tenantCall, d *tenantDirectory, dm *dirDomain) *response

func (s *graphService) withDomain(h domainHandler) tenantHandler {
	return func(r *http.Request, c *apiCall, cu *tenantCall, _ time.Time) *response {
		d := cu.directory()
		dm := d.domain(strings.TrimSuffix(r.PathValue("id"), "."))
		if dm == nil {
			return s.notFound(c, r.PathValue("id"))
		}
		return h(r, c, cu, d, dm)
	}
}

func (s *graphService) graphGetDomain(r *http.Request, _ *apiCall, _ *tenantCall, d *tenantDirectory, dm *dirDomain) *response {
	view := domainView(d, dm)
	view["@odata.context"] = odataContext(r, "domains/$entity")
	return graphJSON(http.StatusOK, view)
}

// graphDeleteDomain refuses the initial domain, a domain some live user's
// userPrincipalName is in, and a domain with subdomains in the tenant (all
// simulated messages).
func (s *graphService) graphDeleteDomain(_ *http.Request, c *apiCall, _ *tenantCall, d *tenantDirectory, dm *dirDomain) *response {
	if dm.Initial {
		return s.badRequest(c, "The initial domain "+dm.Name+" cannot be deleted.") // simulated message
	}
	users := 0
	for _, u := range d.users {
		if _, domain, _ := splitUPN(u.UPN); domain == dm.Name {
			users++
		}
	}
	if users > 0 {
		return s.badRequest(c, "Unable to delete domain "+dm.Name+": "+strconv.Itoa(users)+
			" user(s) still use it in their userPrincipalName. Rename or delete them first.") // simulated message
	}
	if subs := d.subdomainsOf(dm.Name); len(subs) > 0 {
		return s.badRequest(c, "Unable to delete domain "+dm.Name+": delete its subdomains (such as "+subs[0].Name+") first.") // simulated message
	}
	for i, x := range d.domains {
		if x == dm {
			d.domains = append(d.domains[:i:i], d.domains[i+1:]...)
			break
		}
	}
	return emptyResponse(http.StatusNoContent)
}

func (s *graphService) graphDomainRecords(r *http.Request, _ *apiCall, cu *tenantCall, _ *tenantDirectory, dm *dirDomain) *response {
	value := []any{
		map[string]any{
			"@odata.type": "#microsoft.graph.domainDnsTxtRecord", "id": recordID(cu.ID, dm.Name, "txt"),
			"isOptional": false, "label": dm.Name, "recordType": "Txt", "supportedService": "Email", "ttl": 3600, "text": dm.TXT,
		},
		map[string]any{
			"@odata.type": "#microsoft.graph.domainDnsMxRecord", "id": recordID(cu.ID, dm.Name, "mx"),
			"isOptional": false, "label": dm.Name, "recordType": "Mx", "supportedService": "Email", "ttl": 3600,
			"mailExchange": dm.MX, "preference": 0,
		},
	}
	return graphJSON(http.StatusOK, map[string]any{
		"@odata.context": odataContext(r, "domains('"+dm.Name+"')/verificationDnsRecords"), "value": value,
	})
}

// recordID is a stable GUID-shaped id for a domain's DNS record.
func recordID(tenantID, domain, kind string) string {
	return uuidFromName(tenantID + "/" + domain + "/" + kind)
}

// graphVerifyDomain verifies dm when its TXT record is published; a root
// domain's subdomains in the tenant are verified with it. A verified
// domain answers 200 again (assumed: the docs call verify for unverified
// domains only).
func (s *graphService) graphVerifyDomain(r *http.Request, c *apiCall, _ *tenantCall, d *tenantDirectory, dm *dirDomain) *response {
	if !dm.Verified {
		if p := d.parentOf(dm.Name); p != nil {
			return s.badRequest(c, "Domain verification failed. "+dm.Name+" is a subdomain of "+p.Name+
				"; verify the root domain and its subdomains are verified with it.") // simulated message
		}
		if !s.dns.has(dm.Name, dm.TXT) {
			return s.badRequest(c, "Domain verification failed. The DNS TXT record "+dm.TXT+" was not found for "+dm.Name+
				"; add it at the domain's DNS host and try again.") // simulated message
		}
		dm.Verified = true
		for _, sub := range d.subdomainsOf(dm.Name) {
			sub.Verified = true
		}
	}
	view := domainView(d, dm)
	view["@odata.context"] = odataContext(r, "domains/$entity")
	return graphJSON(http.StatusOK, view)
}
