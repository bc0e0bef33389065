package accounts

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzAccount maps arbitrary JSON, as the APS controller's
// /aps/2/resources/{id} answer is decoded, to a company and an address.
// Whatever the input: no panic; every field is trimmed UTF-8 text without
// control characters; the country is upper case; a property given as an
// integer number reads as that integer in decimal.
func FuzzAccount(f *testing.F) {
	for _, s := range []string{
		`{"companyName":"Contoso Ltd","addressPostal":{"streetAddress":"1 Main St","extendedAddress":"","locality":"Redmond","region":"WA","postalCode":"98052","countryName":"us"},
		  "techContact":{"email":"it@contoso.example","givenName":"Ann","familyName":"Lee","telVoice":"1#425#5550100#"}}`,
		`{"companyName":"  x  ","adminContact":{"email":"a@b.example"},"techContact":{}}`,
		`{"companyName":null,"addressPostal":[1,2],"techContact":"nobody"}`,
		`{"companyName":"Tab\there\u0000NUL\u2028","addressPostal":{"postalCode":98052.5,"countryName":"\u00df"}}`,
		`{"addressPostal":{"postalCode":1e21},"techContact":{"telVoice":-0}}`,
		`[]`, `null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var res map[string]any
		if json.Unmarshal(data, &res) != nil {
			return // apscclient refuses what is not a JSON object
		}
		c, a := fromAccount(res)
		addr, _ := res["addressPostal"].(map[string]any)
		contact, _ := res["techContact"].(map[string]any)
		if len(contact) == 0 {
			contact, _ = res["adminContact"].(map[string]any)
		}
		for _, p := range []struct {
			in  any
			out string
		}{
			{res["companyName"], c.Name}, {contact["email"], c.Email}, {contact["givenName"], a.FirstName},
			{contact["familyName"], a.LastName}, {addr["streetAddress"], a.AddressLine1}, {addr["extendedAddress"], a.AddressLine2},
			{addr["locality"], a.City}, {addr["region"], a.State}, {addr["postalCode"], a.PostalCode},
			{addr["countryName"], a.Country}, {contact["telVoice"], a.PhoneNumber},
		} {
			if !utf8.ValidString(p.out) || p.out != strings.TrimSpace(p.out) || strings.IndexFunc(p.out, unicode.IsControl) >= 0 {
				t.Fatalf("%v read as %q, not clean text", p.in, p.out)
			}
			if n, ok := p.in.(float64); ok && n == math.Trunc(n) && math.Abs(n) < 1e15 {
				if got, err := strconv.ParseInt(p.out, 10, 64); err != nil || got != int64(n) {
					t.Fatalf("number %v read as %q", n, p.out)
				}
			}
		}
		if a.Country != strings.ToUpper(a.Country) {
			t.Fatalf("country %q is not upper case", a.Country)
		}
	})
}

// Numbers are plain decimals and control characters never reach Partner
// Center or the database: a phone number given as the JSON number
// 4255550100 was read as "4.2555501e+09", and a NUL was kept.
func TestAccountText(t *testing.T) {
	c, a := fromAccount(map[string]any{
		"companyName":   "Contoso\u0000 Ltd\n",
		"addressPostal": map[string]any{"postalCode": float64(1234567), "countryName": " us"},
		"techContact":   map[string]any{"telVoice": float64(4255550100)},
	})
	if c.Name != "Contoso  Ltd" || a.PostalCode != "1234567" || a.PhoneNumber != "4255550100" || a.Country != "US" {
		t.Fatalf("%+v %+v", c, a)
	}
}
