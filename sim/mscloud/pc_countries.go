package mscloud

import "regexp"

// countryRules is one entry of the built-in market table behind
// GET /v1/countryvalidationrules/{iso2}, address validation and the
// create-customer checks. Values are realistic, not copied from the service.
type countryRules struct {
	ISO2              string
	DefaultCulture    string
	StateRequired     bool
	States            []string
	Languages         []string
	Cultures          []string
	PostalRequired    bool
	PostalRegex       string
	CityRequired      bool
	VATSupported      bool
	VATRegex          string
	TaxIDSupported    bool
	TaxIDOptional     bool
	TaxIDFormat       string
	TaxIDSample       string
	PhoneRegex        string
	CallingCodes      []string
	postal            *regexp.Regexp
	registration      *regexp.Regexp // nil: no registration-number format check
	RegistrationRegex string
}

const genericPhone = `^\+?[0-9][0-9 ()./-]{5,19}$`

var (
	usStates = []string{"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
		"LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR",
		"PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "AS", "GU", "MP", "PR", "VI"}
	caStates = []string{"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
	auStates = []string{"ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA"}
	inStates = []string{"AN", "AP", "AR", "AS", "BR", "CH", "CT", "DH", "DL", "GA", "GJ", "HP", "HR", "JH", "JK", "KA", "KL", "LA",
		"LD", "MH", "ML", "MN", "MP", "MZ", "NL", "OR", "PB", "PY", "RJ", "SK", "TG", "TN", "TR", "UP", "UT", "WB"}
	aeStates = []string{"AZ", "AJ", "DU", "FU", "RK", "SH", "UQ"}
	brStates = []string{"AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA", "PB", "PE", "PI", "PR",
		"RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO"}
)

var countryTable = buildCountryTable([]*countryRules{
	{ISO2: "US", DefaultCulture: "en-US", StateRequired: true, States: usStates, Languages: []string{"en", "es"}, Cultures: []string{"en-US", "es-US"},
		PostalRequired: true, PostalRegex: `^\d{5}(-\d{4})?$`, CityRequired: true,
		PhoneRegex: `^\+?1?[ .-]?\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}$`, CallingCodes: []string{"1"}},
	{ISO2: "CA", DefaultCulture: "en-CA", StateRequired: true, States: caStates, Languages: []string{"en", "fr"}, Cultures: []string{"en-CA", "fr-CA"},
		PostalRequired: true, PostalRegex: `^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d$`, CityRequired: true,
		TaxIDSupported: true, TaxIDOptional: true, TaxIDFormat: "999999999RT9999", TaxIDSample: "123456789RT0001",
		PhoneRegex: `^\+?1?[ .-]?\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}$`, CallingCodes: []string{"1"}},
	{ISO2: "GB", DefaultCulture: "en-GB", Languages: []string{"en"}, Cultures: []string{"en-GB"},
		PostalRequired: true, PostalRegex: `^([A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|GIR ?0AA)$`, CityRequired: true,
		VATSupported: true, VATRegex: `^(GB)?(\d{9}|\d{12}|GD\d{3}|HA\d{3})$`, PhoneRegex: genericPhone, CallingCodes: []string{"44"}},
	{ISO2: "DE", DefaultCulture: "de-DE", Languages: []string{"de", "en"}, Cultures: []string{"de-DE", "en-GB"},
		PostalRequired: true, PostalRegex: `^\d{5}$`, CityRequired: true,
		VATSupported: true, VATRegex: `^(DE)?\d{9}$`, PhoneRegex: genericPhone, CallingCodes: []string{"49"}},
	{ISO2: "FR", DefaultCulture: "fr-FR", Languages: []string{"fr", "en"}, Cultures: []string{"fr-FR", "en-GB"},
		PostalRequired: true, PostalRegex: `^\d{5}$`, CityRequired: true,
		VATSupported: true, VATRegex: `^(FR)?[0-9A-HJ-NP-Z]{2}\d{9}$`, PhoneRegex: genericPhone, CallingCodes: []string{"33"}},
	{ISO2: "NL", DefaultCulture: "nl-NL", Languages: []string{"nl", "en"}, Cultures: []string{"nl-NL", "en-GB"},
		PostalRequired: true, PostalRegex: `^\d{4} ?[A-Z]{2}$`, CityRequired: true,
		VATSupported: true, VATRegex: `^(NL)?\d{9}B\d{2}$`, PhoneRegex: genericPhone, CallingCodes: []string{"31"}},
	{ISO2: "ES", DefaultCulture: "es-ES", Languages: []string{"es", "ca", "eu", "gl", "en"}, Cultures: []string{"es-ES", "ca-ES", "eu-ES", "gl-ES", "en-GB"},
		PostalRequired: true, PostalRegex: `^(0[1-9]|[1-4]\d|5[0-2])\d{3}$`, CityRequired: true,
		VATSupported: true, VATRegex: `^(ES)?[0-9A-Z]\d{7}[0-9A-Z]$`, PhoneRegex: genericPhone, CallingCodes: []string{"34"}},
	{ISO2: "IT", DefaultCulture: "it-IT", Languages: []string{"it", "en"}, Cultures: []string{"it-IT", "en-GB"},
		PostalRequired: true, PostalRegex: `^\d{5}$`, CityRequired: true,
		VATSupported: true, VATRegex: `^(IT)?\d{11}$`, PhoneRegex: genericPhone, CallingCodes: []string{"39"}},
	{ISO2: "AU", DefaultCulture: "en-AU", StateRequired: true, States: auStates, Languages: []string{"en"}, Cultures: []string{"en-AU"},
		PostalRequired: true, PostalRegex: `^\d{4}$`, CityRequired: true,
		TaxIDSupported: true, TaxIDOptional: true, TaxIDFormat: "99 999 999 999", TaxIDSample: "51 824 753 556",
		PhoneRegex: genericPhone, CallingCodes: []string{"61"}},
	{ISO2: "IN", DefaultCulture: "en-IN", StateRequired: true, States: inStates, Languages: []string{"en", "hi"}, Cultures: []string{"en-IN", "hi-IN"},
		PostalRequired: true, PostalRegex: `^[1-9]\d{5}$`, CityRequired: true,
		TaxIDSupported: true, TaxIDOptional: true, TaxIDFormat: "99AAAAA9999A9Z9", TaxIDSample: "27AAPFU0939F1ZV",
		PhoneRegex: genericPhone, CallingCodes: []string{"91"},
		RegistrationRegex: `^([LU]\d{5}[A-Z]{2}\d{4}[A-Z]{3}\d{6}|[A-Z]{5}\d{4}[A-Z])$`},
	{ISO2: "BR", DefaultCulture: "pt-BR", StateRequired: true, States: brStates, Languages: []string{"pt"}, Cultures: []string{"pt-BR"},
		PostalRequired: true, PostalRegex: `^\d{5}-?\d{3}$`, CityRequired: true,
		TaxIDSupported: true, TaxIDFormat: "99.999.999/9999-99", TaxIDSample: "11.222.333/0001-81",
		PhoneRegex: genericPhone, CallingCodes: []string{"55"}},
	{ISO2: "JP", DefaultCulture: "ja-JP", Languages: []string{"ja", "en"}, Cultures: []string{"ja-JP", "en-US"},
		PostalRequired: true, PostalRegex: `^\d{3}-?\d{4}$`, CityRequired: true,
		PhoneRegex: genericPhone, CallingCodes: []string{"81"}},
	{ISO2: "CN", DefaultCulture: "zh-CN", Languages: []string{"zh-Hans", "en"}, Cultures: []string{"zh-CN", "en-US"},
		PostalRequired: true, PostalRegex: `^\d{6}$`, CityRequired: true,
		TaxIDSupported: true, TaxIDOptional: true, TaxIDFormat: "999999999999999999", TaxIDSample: "91110000600037341L",
		PhoneRegex: genericPhone, CallingCodes: []string{"86"}},
	{ISO2: "AE", DefaultCulture: "ar-AE", StateRequired: true, States: aeStates, Languages: []string{"ar", "en"}, Cultures: []string{"ar-AE", "en-US"},
		CityRequired: true, VATSupported: true, VATRegex: `^\d{15}$`,
		PhoneRegex: genericPhone, CallingCodes: []string{"971"}},
	{ISO2: "HU", DefaultCulture: "hu-HU", Languages: []string{"hu", "en"}, Cultures: []string{"hu-HU", "en-GB"},
		PostalRequired: true, PostalRegex: `^[1-9]\d{3}$`, CityRequired: true,
		VATSupported: true, VATRegex: `^(HU)?\d{8}$`, PhoneRegex: genericPhone, CallingCodes: []string{"36"},
		RegistrationRegex: `^\d{8}-\d-\d{2}$`},
	{ISO2: "RU", DefaultCulture: "ru-RU", Languages: []string{"ru", "en"}, Cultures: []string{"ru-RU", "en-US"},
		PostalRequired: true, PostalRegex: `^\d{6}$`, CityRequired: true,
		TaxIDSupported: true, TaxIDFormat: "9999999999", TaxIDSample: "7707083893",
		PhoneRegex: genericPhone, CallingCodes: []string{"7"},
		RegistrationRegex: `^(\d{10}|\d{12})$`},
	{ISO2: "UA", DefaultCulture: "uk-UA", Languages: []string{"uk", "ru", "en"}, Cultures: []string{"uk-UA", "ru-RU", "en-US"},
		PostalRequired: true, PostalRegex: `^\d{5}$`, CityRequired: true,
		TaxIDSupported: true, TaxIDFormat: "99999999", TaxIDSample: "14360570",
		PhoneRegex: genericPhone, CallingCodes: []string{"380"},
		RegistrationRegex: `^(\d{8}|\d{10})$`},
	{ISO2: "PL", DefaultCulture: "pl-PL", Languages: []string{"pl", "en"}, Cultures: []string{"pl-PL", "en-GB"},
		PostalRequired: true, PostalRegex: `^\d{2}-\d{3}$`, CityRequired: true,
		VATSupported: true, VATRegex: `^(PL)?\d{10}$`, PhoneRegex: genericPhone, CallingCodes: []string{"48"}},
	{ISO2: "ZA", DefaultCulture: "en-ZA", Languages: []string{"en", "af"}, Cultures: []string{"en-ZA", "af-ZA"},
		PostalRequired: true, PostalRegex: `^\d{4}$`, CityRequired: true,
		VATSupported: true, VATRegex: `^4\d{9}$`, PhoneRegex: genericPhone, CallingCodes: []string{"27"}},
})

func buildCountryTable(list []*countryRules) map[string]*countryRules {
	m := make(map[string]*countryRules, len(list))
	for _, c := range list {
		if c.PostalRegex != "" {
			c.postal = regexp.MustCompile(c.PostalRegex)
		}
		if c.RegistrationRegex != "" {
			c.registration = regexp.MustCompile(c.RegistrationRegex)
		}
		m[c.ISO2] = c
	}
	return m
}

// Organization registration number rules (create customer). Required: the
// countries of the documented 600049 list. Accepted but optional (no format
// check): the further countries the 2023 company-profile table lists as
// taking a number. Anywhere else sending one fails with 600002.
var (
	regNumberRequired = map[string]bool{"AM": true, "AZ": true, "BY": true, "HU": true, "IN": true, "KZ": true,
		"KG": true, "MD": true, "RU": true, "TJ": true, "UZ": true, "UA": true}
	regNumberAccepted = map[string]bool{"BR": true, "ZA": true, "PL": true, "AE": true, "SA": true, "TR": true,
		"TH": true, "VN": true, "MM": true, "IQ": true, "SS": true, "VE": true}
)

func (c *countryRules) hasState(s string) bool {
	for _, st := range c.States {
		if st == s {
			return true
		}
	}
	return false
}

// wire is the flat shape the live service returns.
func (c *countryRules) wire() map[string]any {
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	list := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	return map[string]any{
		"iso2Code":                c.ISO2,
		"defaultCulture":          c.DefaultCulture,
		"isStateRequired":         c.StateRequired,
		"supportedStatesList":     list(c.States),
		"supportedLanguagesList":  list(c.Languages),
		"supportedCulturesList":   list(c.Cultures),
		"isPostalCodeRequired":    c.PostalRequired,
		"postalCodeRegex":         nullable(c.PostalRegex),
		"isCityRequired":          c.CityRequired,
		"isVatIdSupported":        c.VATSupported,
		"taxIdFormat":             nullable(c.TaxIDFormat),
		"taxIdSample":             nullable(c.TaxIDSample),
		"vatIdRegex":              nullable(c.VATRegex),
		"phoneNumberRegex":        nullable(c.PhoneRegex),
		"isTaxIdSupported":        c.TaxIDSupported,
		"isTaxIdOptional":         c.TaxIDOptional,
		"countryCallingCodesList": list(c.CallingCodes),
		"attributes":              map[string]string{"objectType": "CountryValidationRules"},
	}
}
