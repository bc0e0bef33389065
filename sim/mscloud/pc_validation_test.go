package mscloud

import (
	"net/http"
	"strings"
	"testing"
)

func TestDomainAvailability(t *testing.T) {
	s := newSim(t, Options{})
	a := s.partner("global", true, "US")
	b := s.partner("global", true, "US")
	ta, tb := s.pcToken(a), s.pcToken(b)
	head := func(tok, d string) int {
		st, _, body := s.do(http.MethodHead, "/v1/domains/"+d, tok, nil, nil)
		if len(body) != 0 {
			t.Errorf("HEAD %s returned a body %q", d, body)
		}
		return st
	}
	if st := head(ta, "contoso.onmicrosoft.com"); st != http.StatusOK {
		t.Errorf("reserved domain: %d, want 200", st)
	}
	if st := head(ta, "Microsoft.OnMicrosoft.com"); st != http.StatusOK {
		t.Errorf("reserved domain (case): %d, want 200", st)
	}
	if st := head(ta, "freshdomain1.onmicrosoft.com"); st != http.StatusNotFound {
		t.Errorf("free domain: %d, want 404", st)
	}
	cu := s.createCustomer(ta, customerBody("freshdomain1.onmicrosoft.com", "US"))
	// Taken for every partner, not only the owner.
	if st := head(tb, "freshdomain1.onmicrosoft.com"); st != http.StatusOK {
		t.Errorf("taken domain seen by another partner: %d, want 200", st)
	}
	if st, _, b := s.do(http.MethodDelete, "/v1/customers/"+cu["id"].(string), ta, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d %s", st, b)
	}
	if st := head(tb, "freshdomain1.onmicrosoft.com"); st != http.StatusNotFound {
		t.Errorf("domain after delete: %d, want 404", st)
	}
	if st := head("", "freshdomain1.onmicrosoft.com"); st != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", st)
	}
}

type addressResult struct {
	OriginalAddress    map[string]string   `json:"originalAddress"`
	SuggestedAddresses []map[string]string `json:"suggestedAddresses"`
	Status             string              `json:"status"`
	ValidationMessage  string              `json:"validationMessage"`
}

func TestAddressValidation(t *testing.T) {
	s := newSim(t, Options{})
	tok := s.pcToken(s.partner("global", true, "US"))
	cases := []struct {
		name        string
		body        string
		status      int
		verdict     string
		suggestions int
		message     string
		suggestLine string
		code        int
	}{
		{"verified (PascalCase)", `{"AddressLine1":"1 Microsoft Way","City":"Redmond","State":"wa","PostalCode":"98052","Country":"us"}`,
			200, "VerifiedShippable", 1, "", "1 Microsoft Way", 0},
		{"verified (camelCase, ZIP+4)", `{"addressLine1":"1  Microsoft   Way","city":"Redmond","state":"WA","postalCode":"98052-6399","country":"US"}`,
			200, "VerifiedShippable", 1, "", "1 Microsoft Way", 0},
		{"street partial", `{"addressLine1":"Microsoft Way","city":"Redmond","state":"WA","postalCode":"98052","country":"US"}`,
			200, "StreetPartial", 1, "Address field invalid for property: 'AddressLine1'", "1 Microsoft Way", 0},
		{"bad postal code", `{"addressLine1":"1 Microsoft Way","city":"Redmond","state":"WA","postalCode":"9805","country":"US"}`,
			200, "None", 0, "Address field invalid for property: 'PostalCode'", "", 0},
		{"bad state and postal", `{"addressLine1":"1 Microsoft Way","city":"Redmond","state":"XX","postalCode":"ABCDE","country":"US"}`,
			200, "None", 0, "Address field invalid for property: 'Region', 'PostalCode'", "", 0},
		{"GB postcode", `{"addressLine1":"2 Kingdom Street","city":"London","postalCode":"w2 6bd","country":"GB"}`,
			200, "VerifiedShippable", 1, "", "2 Kingdom Street", 0},
		{"CA bad postcode", `{"addressLine1":"1 Main St","city":"Toronto","state":"ON","postalCode":"12345","country":"CA"}`,
			200, "None", 0, "Address field invalid for property: 'PostalCode'", "", 0},
		{"AE without postal code", `{"addressLine1":"1 Sheikh Zayed Rd","city":"Dubai","state":"DU","country":"AE"}`,
			200, "VerifiedShippable", 1, "", "1 Sheikh Zayed Rd", 0},
		{"unknown country", `{"addressLine1":"1 Way","city":"London","postalCode":"W2 6BD","country":"UK"}`, 400, "", 0, "", "", 2040},
		{"missing country", `{"addressLine1":"1 Way","city":"London"}`, 400, "", 0, "", "", 2000},
		{"not JSON", `{`, 400, "", 0, "", "", 2000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, b := s.do(http.MethodPost, "/v1/validations/address", tok, tc.body, nil)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, b)
			}
			if tc.status != 200 {
				e := decode[pcErr](t, b)
				if e.Code != tc.code || e.Source != "PartnerFD" || e.Description == "" {
					t.Errorf("error %+v, want code %d", e, tc.code)
				}
				return
			}
			out := decode[addressResult](t, b)
			if out.Status != tc.verdict || len(out.SuggestedAddresses) != tc.suggestions || out.ValidationMessage != tc.message {
				t.Errorf("got %s", b)
			}
			if out.OriginalAddress["city"] == "" || out.OriginalAddress["addressLine1"] == "" {
				t.Errorf("originalAddress not echoed in camelCase: %s", b)
			}
			if tc.suggestions > 0 {
				sug := out.SuggestedAddresses[0]
				if sug["addressLine1"] != tc.suggestLine || sug["country"] != strings.ToUpper(out.OriginalAddress["country"]) {
					t.Errorf("suggestion %v, want addressLine1 %q", sug, tc.suggestLine)
				}
			}
		})
	}
}

func TestCountryValidationRules(t *testing.T) {
	s := newSim(t, Options{})
	tok := s.pcToken(s.partner("global", true, "US"))
	for _, code := range []string{"US", "CA", "GB", "DE", "FR", "NL", "ES", "IT", "AU", "IN", "BR", "JP", "CN", "AE", "HU", "RU", "UA", "PL", "ZA"} {
		st, _, b := s.do(http.MethodGet, "/v1/countryvalidationrules/"+code, tok, nil, nil)
		if st != http.StatusOK {
			t.Fatalf("%s: %d %s", code, st, b)
		}
		r := decode[map[string]any](t, b)
		for _, k := range []string{"iso2Code", "defaultCulture", "isStateRequired", "supportedStatesList", "supportedLanguagesList",
			"supportedCulturesList", "isPostalCodeRequired", "postalCodeRegex", "isCityRequired", "isVatIdSupported", "taxIdFormat",
			"taxIdSample", "vatIdRegex", "phoneNumberRegex", "isTaxIdSupported", "isTaxIdOptional", "countryCallingCodesList", "attributes"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%s: field %s missing", code, k)
			}
		}
		if r["iso2Code"] != code || r["attributes"].(map[string]any)["objectType"] != "CountryValidationRules" {
			t.Errorf("%s: %s", code, b)
		}
		states := r["supportedStatesList"].([]any)
		switch code {
		case "US", "CA", "AU", "IN", "AE", "BR":
			if len(states) == 0 || r["isStateRequired"] != true {
				t.Errorf("%s: expected a state list", code)
			}
		}
	}
	st, _, b := s.do(http.MethodGet, "/v1/countryvalidationrules/US", tok, nil, nil)
	us := decode[map[string]any](t, b)
	if st != 200 || len(us["supportedStatesList"].([]any)) < 50 || us["postalCodeRegex"] == nil || us["countryCallingCodesList"].([]any)[0] != "1" {
		t.Errorf("US rules: %s", b)
	}

	st, _, b = s.do(http.MethodGet, "/v1/countryvalidationrules/UK", tok, nil, nil)
	e := decode[pcErr](t, b)
	if st != http.StatusBadRequest || e.Description != "No validation rules were found for the country/region UK" || e.Code != codeNoCountryRules {
		t.Errorf("UK: %d %s", st, b)
	}
}
