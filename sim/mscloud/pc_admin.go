package mscloud

import (
	"net/http"
	"strings"
)

// The admin API's Partner Center side (the rest of GET /_sim/state is in
// pc_state.go).

// POST /_sim/partners/{partnerTenantId}/customers {"domain", "company_name",
// "country"} creates a customer the way a partner does in the Partner Center
// portal, outside the platform (for linking and import): 201 with the
// Partner Center customer. domain is the initial domain, or its prefix.
func (s *pcService) adminCreateCustomer(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Domain      string `json:"domain"`
		CompanyName string `json:"company_name"`
		Country     string `json:"country"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	p := s.entra.partner(lower(r.PathValue("partnerTenantId")))
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == nil {
		adminError(w, http.StatusNotFound, "no partner with tenant_id "+r.PathValue("partnerTenantId"))
		return
	}
	domain := lower(strings.TrimSpace(in.Domain))
	if !strings.HasSuffix(domain, p.Cloud.InitialDomainSuffix) {
		domain += p.Cloud.InitialDomainSuffix
	}
	if prefix := strings.TrimSuffix(domain, p.Cloud.InitialDomainSuffix); !domainPrefixRe.MatchString(prefix) {
		adminError(w, http.StatusBadRequest, "domain must be 1-27 letters or digits, optionally followed by "+p.Cloud.InitialDomainSuffix)
		return
	}
	if s.domainTaken(domain) {
		adminError(w, http.StatusConflict, "the domain "+domain+" already exists")
		return
	}
	country := strings.ToUpper(strings.TrimSpace(in.Country))
	if country == "" {
		country = "US"
	}
	if !iso2Re.MatchString(country) {
		adminError(w, http.StatusBadRequest, `country "`+in.Country+`" is not an ISO 3166 alpha-2 code`)
		return
	}
	name := strings.TrimSpace(in.CompanyName)
	if name == "" {
		name = domain
	}
	cu := &customer{
		ID: newGUID(), CommerceID: newGUID(), Partner: p, Domain: domain, CompanyName: name,
		Billing:              billingProfile{ID: newGUID(), CompanyName: name, DefaultAddress: address{Country: country}, ETag: newETag()},
		AllowDelegatedAccess: true, CreatedAt: s.clock.Now(),
	}
	s.addCustomer(cu)
	jsonResponse(http.StatusCreated, customerView(cu, true)).writeTo(w)
}
