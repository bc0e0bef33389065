package mscloud

import (
	"net/http"
	"regexp"
	"strings"
)

// Partner Center validations: domain availability, address validation and
// country rules (BEHAVIOUR.md, "Address validation verdicts"). Partner
// Center part (pcService).

func (s *pcService) registerPCValidation() {
	register(s.mux, "HEAD /v1/domains/{domain}", s.pcDomainExists)
	register(s.mux, "POST /v1/validations/address", s.pcValidateAddress)
	register(s.mux, "GET /v1/countryvalidationrules/{country}", s.pcCountryRules)
}

// domainTaken reports whether any customer of any partner, or the reserved
// list, owns domain. Caller holds s.mu.
func (s *pcService) domainTaken(domain string) bool {
	d := lower(domain)
	return reservedDomains[d] || s.domains[d] != nil
}

// pcDomainExists is HEAD /v1/domains/{domain}: 200 taken, 404 free, no body.
func (s *pcService) pcDomainExists(r *http.Request, _ *apiCall) *response {
	if s.domainTaken(r.PathValue("domain")) {
		return emptyResponse(http.StatusOK)
	}
	return emptyResponse(http.StatusNotFound)
}

func noCountryRules(country string) *response {
	return pcError(http.StatusBadRequest, codeNoCountryRules, "No validation rules were found for the country/region "+country)
}

func (s *pcService) pcCountryRules(r *http.Request, _ *apiCall) *response {
	code := strings.ToUpper(r.PathValue("country"))
	rules := countryTable[code]
	if rules == nil {
		return noCountryRules(r.PathValue("country"))
	}
	return jsonResponse(http.StatusOK, rules.wire())
}

// Address validation statuses.
const (
	addrVerifiedShippable = "VerifiedShippable"
	addrStreetPartial     = "StreetPartial"
	addrNone              = "None"
)

type addressCheck struct {
	status     string
	invalid    []string // property names as the service reports them
	suggestion *address
}

var hasDigit = regexp.MustCompile(`\d`)

// checkAddress is the deterministic address verdict used by address
// validation, create customer and billing-profile updates (see BEHAVIOUR.md).
func checkAddress(a address, rules *countryRules) addressCheck {
	n := normaliseAddress(a)
	var invalid []string
	if n.AddressLine1 == "" {
		invalid = append(invalid, "AddressLine1")
	}
	if rules.CityRequired && n.City == "" {
		invalid = append(invalid, "City")
	}
	if rules.StateRequired && !rules.hasState(n.State) {
		invalid = append(invalid, "Region")
	}
	switch {
	case n.PostalCode == "" && rules.PostalRequired:
		invalid = append(invalid, "PostalCode")
	case n.PostalCode != "" && rules.postal != nil && !rules.postal.MatchString(n.PostalCode):
		invalid = append(invalid, "PostalCode")
	case rules.ISO2 == "US" && rules.hasState(n.State) && !usZIPFitsState(n.State, n.PostalCode):
		// A ZIP code of another state: which of the two is wrong is not
		// known, so both are named.
		invalid = append(invalid, "Region", "PostalCode")
	}
	if len(invalid) > 0 {
		return addressCheck{status: addrNone, invalid: invalid}
	}
	if !hasDigit.MatchString(n.AddressLine1) {
		sug := n
		sug.AddressLine1 = "1 " + n.AddressLine1
		return addressCheck{status: addrStreetPartial, invalid: []string{"AddressLine1"}, suggestion: &sug}
	}
	return addressCheck{status: addrVerifiedShippable, suggestion: &n}
}

func normaliseAddress(a address) address {
	clean := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	return address{
		FirstName: clean(a.FirstName), LastName: clean(a.LastName),
		AddressLine1: clean(a.AddressLine1), AddressLine2: clean(a.AddressLine2), AddressLine3: clean(a.AddressLine3),
		City: clean(a.City), State: strings.ToUpper(clean(a.State)), PostalCode: strings.ToUpper(clean(a.PostalCode)),
		Country: strings.ToUpper(clean(a.Country)), Region: clean(a.Region), PhoneNumber: clean(a.PhoneNumber),
	}
}

func invalidMessage(props []string) string {
	return "Address field invalid for property: '" + strings.Join(props, "', '") + "'"
}

// pcValidateAddress is POST /v1/validations/address.
func (s *pcService) pcValidateAddress(r *http.Request, _ *apiCall) *response {
	var in address
	if err := decodeJSON(r, &in); err != nil {
		return pcError(http.StatusBadRequest, codeInvalidInput, "The request body is not valid JSON: "+err.Error())
	}
	if strings.TrimSpace(in.Country) == "" {
		return pcError(http.StatusBadRequest, codeInvalidInput, "Field country is required.", "country")
	}
	rules := countryTable[strings.ToUpper(strings.TrimSpace(in.Country))]
	if rules == nil {
		return noCountryRules(in.Country)
	}
	// The response never echoes contact fields.
	in.FirstName, in.LastName, in.PhoneNumber = "", "", ""
	chk := checkAddress(in, rules)
	suggestions := []address{}
	if chk.suggestion != nil {
		sug := *chk.suggestion
		sug.FirstName, sug.LastName, sug.PhoneNumber = "", "", ""
		suggestions = append(suggestions, sug)
	}
	out := map[string]any{"originalAddress": in, "suggestedAddresses": suggestions, "status": chk.status}
	if len(chk.invalid) > 0 {
		out["validationMessage"] = invalidMessage(chk.invalid)
	}
	return jsonResponse(http.StatusOK, out)
}
