package tenants

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// subdomainRe is the initial-subdomain rule: letters and digits only, as
// Microsoft requires for *.onmicrosoft.com names, at most 27 characters.
var subdomainRe = regexp.MustCompile(`^[a-z0-9]{1,27}$`)

// registrationNumberCountries need organizationRegistrationNumber (Partner
// Center's create-customer company-profile table).
var registrationNumberCountries = []string{"AM", "AZ", "BY", "HU", "KZ", "KG", "MD", "RU", "TJ", "UZ", "UA", "IN",
	"BR", "ZA", "PL", "AE", "SA", "TR", "TH", "VN", "MM", "IQ", "SS", "VE"}

// CheckSubdomain validates and normalises an initial subdomain.
func CheckSubdomain(sub string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(sub))
	if !subdomainRe.MatchString(s) {
		return "", apierr.Invalid("initial_subdomain %q is not valid: use 1 to 27 letters and digits only (no dots, hyphens or spaces).", sub)
	}
	return s, nil
}

func invalidAddress(format string, args ...any) error {
	return apierr.New(codes.InvalidArgument, apierr.InvalidAddress, format, args...)
}

// normalise trims the customer data and checks what needs no Microsoft call.
func normalise(c *storage.Company, a *storage.Address) error {
	trim := func(p *string) { *p = strings.TrimSpace(*p) }
	for _, p := range []*string{&c.Name, &c.Email, &c.Culture, &c.Language, &c.RegistrationNumber} {
		trim(p)
	}
	for _, p := range []*string{&a.FirstName, &a.LastName, &a.AddressLine1, &a.AddressLine2, &a.City, &a.State, &a.PostalCode, &a.Country, &a.PhoneNumber} {
		trim(p)
	}
	a.Country = strings.ToUpper(a.Country)
	var missing []string
	need := func(v, name string) {
		if v == "" {
			missing = append(missing, name)
		}
	}
	need(c.Name, "company.name")
	need(c.Email, "company.email")
	need(a.FirstName, "address.first_name")
	need(a.LastName, "address.last_name")
	need(a.AddressLine1, "address.address_line1")
	need(a.Country, "address.country")
	if len(missing) > 0 {
		return apierr.Invalid("Customer data is missing: %s.", strings.Join(missing, ", "))
	}
	if _, err := mail.ParseAddress(c.Email); err != nil || !strings.Contains(c.Email, "@") {
		return apierr.Invalid("company.email %q is not a valid e-mail address.", c.Email)
	}
	if len(a.Country) != 2 || a.Country[0] < 'A' || a.Country[0] > 'Z' || a.Country[1] < 'A' || a.Country[1] > 'Z' {
		return invalidAddress("address.country %q is not an ISO 3166 alpha-2 code (e.g. GB, not UK).", a.Country)
	}
	if len(c.Name) > 255 || len(a.FirstName) > 50 || len(a.LastName) > 50 || len(a.AddressLine1) > 200 || len(a.AddressLine2) > 200 {
		return apierr.Invalid("Customer data is too long: company name up to 255, names up to 50, address lines up to 200 characters.")
	}
	if c.Language == "" {
		c.Language = "en"
	}
	if len(c.Language) != 2 {
		return apierr.Invalid("company.language %q must be a two-letter language code.", c.Language)
	}
	c.Language = strings.ToLower(c.Language)
	return nil
}

// checkCountry refuses countries outside the instance's sales countries.
func checkCountry(inst *storage.Instance, country string) error {
	if len(inst.SalesCountries) > 0 && !slices.Contains(inst.SalesCountries, country) {
		return apierr.New(codes.FailedPrecondition, apierr.CustomerCountryNotSupported, apierr.CountryNotSupportedMessage)
	}
	return nil
}

// countryRules returns Microsoft's rules of a country (cached for a day).
func (s *Service) countryRules(ctx context.Context, pc PartnerCenter, country string) (*partnercenter.CountryRules, error) {
	s.rulesMu.Lock()
	if c, ok := s.rules[country]; ok && time.Since(c.at) < 24*time.Hour {
		s.rulesMu.Unlock()
		return c.rules, nil
	}
	s.rulesMu.Unlock()
	r, err := pc.CountryRules(ctx, country)
	if err != nil {
		if e, ok := partnercenter.AsError(err); ok && (e.StatusCode == 400 || e.StatusCode == 404) {
			return nil, invalidAddress("Microsoft has no rules for the country %q: %s", country, e.Description)
		}
		return nil, mserr.Sync(err, "read the country rules")
	}
	s.rulesMu.Lock()
	if s.rules == nil {
		s.rules = map[string]cachedRules{}
	}
	s.rules[country] = cachedRules{at: time.Now(), rules: r}
	s.rulesMu.Unlock()
	return r, nil
}

// applyRules checks the address against Microsoft's country rules.
func applyRules(r *partnercenter.CountryRules, c *storage.Company, a *storage.Address) error {
	if r.IsStateRequired && a.State == "" {
		return invalidAddress("address.state is required for customers in %s.", a.Country)
	}
	if a.State != "" && len(r.SupportedStates) > 0 {
		found := false
		state := a.State
		if code, ok := partnercenter.USStateCode(state); ok && a.Country == "US" {
			state = code // the platform may name the state ("Washington")
		}
		for _, st := range r.SupportedStates {
			if strings.EqualFold(st, state) {
				a.State = st
				found = true
			}
		}
		if !found {
			return invalidAddress("State %s is not valid in country %s; use one of: %s.", a.State, a.Country, strings.Join(r.SupportedStates, ", "))
		}
	}
	if r.IsCityRequired && a.City == "" {
		return invalidAddress("address.city is required for customers in %s.", a.Country)
	}
	if r.IsPostalCodeRequired && a.PostalCode == "" {
		return invalidAddress("address.postal_code is required for customers in %s.", a.Country)
	}
	if a.PostalCode != "" && r.PostalCodeRegex != "" {
		if re, err := regexp.Compile(r.PostalCodeRegex); err == nil && !re.MatchString(a.PostalCode) {
			return invalidAddress("Postal code %q is not valid in %s.", a.PostalCode, a.Country)
		}
	}
	if a.Country == "US" && !partnercenter.USZIPFitsState(a.State, a.PostalCode) {
		return invalidAddress("Postal code %q is not a ZIP code of %s; check address.state and address.postal_code.", a.PostalCode, a.State)
	}
	a.PhoneNumber = microsoftPhone(a.PhoneNumber, r)
	if a.PhoneNumber != "" && r.PhoneNumberRegex != "" {
		if re, err := regexp.Compile(r.PhoneNumberRegex); err == nil && !re.MatchString(a.PhoneNumber) {
			return invalidAddress("Phone number %q is not valid in %s.", a.PhoneNumber, a.Country)
		}
	}
	needsReg := slices.Contains(registrationNumberCountries, a.Country)
	switch {
	case needsReg && c.RegistrationNumber == "":
		return apierr.Invalid("company.registration_number is required for customers in %s.", a.Country)
	case !needsReg && c.RegistrationNumber != "":
		return apierr.Invalid("company.registration_number is not accepted for customers in %s; leave it empty.", a.Country)
	case needsReg && a.PhoneNumber == "":
		return invalidAddress("address.phone_number is required for customers in %s.", a.Country)
	}
	if c.Culture == "" {
		c.Culture = r.DefaultCulture
	}
	if c.Culture == "" {
		c.Culture = "en-US"
	}
	if len(r.SupportedCultures) > 0 && !containsFold(r.SupportedCultures, c.Culture) {
		return apierr.Invalid("company.culture %q is not supported in %s; use one of: %s.", c.Culture, a.Country, strings.Join(r.SupportedCultures, ", "))
	}
	return nil
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// validateAddress asks Microsoft whether the address exists.
func validateAddress(ctx context.Context, pc PartnerCenter, a storage.Address) error {
	v, err := pc.ValidateAddress(ctx, pcAddress(a))
	if err != nil {
		if e, ok := partnercenter.AsError(err); ok && e.StatusCode == 400 {
			return invalidAddress("Microsoft refused the address: %s", e.Description)
		}
		return mserr.Sync(err, "validate the address")
	}
	switch v.Status {
	case "Verified", "VerifiedShippable", "NotValidated", "":
		return nil
	}
	msg := fmt.Sprintf("Microsoft could not verify the address (%s)", v.Status)
	if v.ValidationMessage != "" {
		msg += ": " + v.ValidationMessage
	}
	if len(v.SuggestedAddresses) > 0 {
		s := v.SuggestedAddresses[0]
		msg += fmt.Sprintf(". Suggested: %s, %s %s %s, %s", s.AddressLine1, s.City, s.State, s.PostalCode, s.Country)
	}
	return invalidAddress("%s.", msg)
}

func pcAddress(a storage.Address) partnercenter.Address {
	return partnercenter.Address{FirstName: a.FirstName, LastName: a.LastName, AddressLine1: a.AddressLine1,
		AddressLine2: a.AddressLine2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country,
		PhoneNumber: a.PhoneNumber}
}
