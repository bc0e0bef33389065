package tenants

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// platformPhone is a phone number in the platform's own format,
// <country code>#<area code>#<number>#<extension> (e.g. 1#425#5550100#), as
// accounts and contacts carry it (telVoice, telFax).
type platformPhone struct {
	country, area, number, extension string
}

// phoneSeparators may group the digits of each part.
var phoneSeparators = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "")

// parsePlatformPhone reads a number in the platform's format: three or four
// #-separated parts (the trailing # is optional), each digits only once
// spaces, dashes, dots and parentheses are removed; the country code may
// start with + or 00 and has 1 to 3 digits; the number is required, the
// area code and the extension may be empty.
func parsePlatformPhone(s string) (platformPhone, bool) {
	parts := strings.Split(strings.TrimSpace(s), "#")
	if len(parts) == 5 && parts[4] == "" {
		parts = parts[:4]
	}
	if len(parts) < 3 || len(parts) > 4 {
		return platformPhone{}, false
	}
	for i := range parts {
		parts[i] = phoneSeparators.Replace(strings.TrimSpace(parts[i]))
	}
	cc := strings.TrimPrefix(parts[0], "+")
	if cc == parts[0] {
		cc = strings.TrimPrefix(cc, "00")
	}
	p := platformPhone{country: cc, area: parts[1], number: parts[2]}
	if len(parts) == 4 {
		p.extension = parts[3]
	}
	if len(p.country) < 1 || len(p.country) > 3 || p.number == "" ||
		!allDigits(p.country) || !allDigits(p.area) || !allDigits(p.number) || !allDigits(p.extension) {
		return platformPhone{}, false
	}
	return p, true
}

func allDigits(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}

// microsoftPhone turns a number in the platform's format into what Partner
// Center expects for the customer's country: the national number (area code
// and number, e.g. 4255550100 for 1#425#5550100# in the US) when the
// number's country code is one of the country's calling codes, else the
// international form +<country code><area code><number>; of the two forms
// the first that the country's phone pattern accepts is taken. The
// extension is dropped: Partner Center's phoneNumber has no place for one
// and its patterns refuse it. Any other text is returned as it is (the
// pattern check then judges it).
func microsoftPhone(raw string, r *partnercenter.CountryRules) string {
	p, ok := parsePlatformPhone(raw)
	if !ok {
		return raw
	}
	national := p.area + p.number
	international := "+" + p.country + national
	forms := []string{international}
	if r == nil || len(r.CountryCallingCodes) == 0 || slices.Contains(r.CountryCallingCodes, p.country) {
		forms = []string{national, international}
	}
	if r != nil && r.PhoneNumberRegex != "" {
		if re, err := regexp.Compile(r.PhoneNumberRegex); err == nil {
			for _, f := range forms {
				if re.MatchString(f) {
					return f
				}
			}
		}
	}
	return forms[0]
}

// mcaPhone turns the phone number of an MCA contact, when it is in the
// platform's format, into Microsoft's for the customer's country (m may
// be nil).
func (s *Service) mcaPhone(ctx context.Context, pc PartnerCenter, country string, m *storage.MCA) error {
	if m == nil {
		return nil
	}
	if _, ok := parsePlatformPhone(m.PhoneNumber); !ok {
		return nil
	}
	r, err := s.countryRules(ctx, pc, country)
	if err != nil {
		return err
	}
	m.PhoneNumber = microsoftPhone(m.PhoneNumber, r)
	return nil
}
