package tenants

import (
	"testing"

	"github.com/o365gateway/gateway/services/shared/partnercenter"
)

func TestPlatformPhone(t *testing.T) {
	us := &partnercenter.CountryRules{CountryCallingCodes: []string{"1"},
		PhoneNumberRegex: `^\+?1?[ .-]?\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}$`}
	gb := &partnercenter.CountryRules{CountryCallingCodes: []string{"44"}, PhoneNumberRegex: `^\+?[0-9][0-9 ()./-]{5,19}$`}
	nationalOnly := &partnercenter.CountryRules{CountryCallingCodes: []string{"49"}, PhoneNumberRegex: `^0?[1-9]\d{5,12}$`}
	internationalOnly := &partnercenter.CountryRules{CountryCallingCodes: []string{"33"}, PhoneNumberRegex: `^\+33\d{9}$`}
	for _, c := range []struct {
		raw   string
		rules *partnercenter.CountryRules
		want  string
	}{
		{"1#425#5550100#", us, "4255550100"},
		{"1#425#5550100", us, "4255550100"},
		{"1#425#555-0100#123", us, "4255550100"}, // the extension has no place at Microsoft
		{"+1#(425)#555 0100#", us, "4255550100"},
		{"001#425#5550100#", us, "4255550100"},
		{"44#20#79460000#", gb, "2079460000"},
		{"1#425#5550100#", gb, "+14255550100"}, // a foreign number stays international
		{"49#30#1234567#", nationalOnly, "301234567"},
		{"33#1#23456789#", internationalOnly, "+33123456789"},                                             // the form the country's pattern takes
		{"852##21234567#", &partnercenter.CountryRules{CountryCallingCodes: []string{"852"}}, "21234567"}, // no area code
		{"1#425#5550100#", nil, "4255550100"},
		// Not the platform's format: left to the pattern check.
		{"4255550100", us, "4255550100"},
		{"+1 425 555 0100", us, "+1 425 555 0100"},
		{"", us, ""},
		{"1#425", us, "1#425"},
		{"1#425#555x0100#", us, "1#425#555x0100#"},
		{"1234#425#5550100#", us, "1234#425#5550100#"},
		{"1#425##", us, "1#425##"},
		{"1#2#3#4#5", us, "1#2#3#4#5"},
	} {
		if got := microsoftPhone(c.raw, c.rules); got != c.want {
			t.Errorf("%q: %q, want %q", c.raw, got, c.want)
		}
	}
}
