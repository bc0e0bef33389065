package accounts

import "testing"

// The account's address in the platform's formats: a multi-line street, a
// ZIP code given as a number (its leading zero lost), a phone number in
// <country code>#<area code>#<number>#<extension> (kept as it is: the
// tenant service turns it into Microsoft's form for the country).
func TestAccountAddress(t *testing.T) {
	c, a := fromAccount(map[string]any{
		"companyName": "Contoso Ltd",
		"addressPostal": map[string]any{"streetAddress": "1 Main St\r\nBuilding 4\n", "extendedAddress": "Suite 200",
			"locality": "Boston", "region": "Massachusetts", "postalCode": float64(2134), "countryName": "us"},
		"techContact":  map[string]any{"email": "it@contoso.example", "givenName": "Ann", "familyName": "Lee"},
		"adminContact": map[string]any{"telVoice": "1#617#5550100#"},
	})
	if c.Name != "Contoso Ltd" || a.AddressLine1 != "1 Main St" || a.AddressLine2 != "Building 4, Suite 200" || a.City != "Boston" ||
		a.State != "Massachusetts" || a.PostalCode != "02134" || a.Country != "US" || a.PhoneNumber != "1#617#5550100#" {
		t.Fatalf("%+v %+v", c, a)
	}
	// One line stays as it was; only US ZIP codes are padded.
	_, a = fromAccount(map[string]any{
		"addressPostal": map[string]any{"streetAddress": "2 Kingdom Street", "postalCode": float64(1117), "countryName": "hu"},
		"techContact":   map[string]any{"telVoice": "36#1#2345678#"},
	})
	if a.AddressLine1 != "2 Kingdom Street" || a.AddressLine2 != "" || a.PostalCode != "1117" || a.PhoneNumber != "36#1#2345678#" {
		t.Fatalf("%+v", a)
	}
}
