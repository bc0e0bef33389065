package partnercenter

import "encoding/json"

// UnmarshalJSON accepts both the flat and the wrapped list shapes.
func (r *CountryRules) UnmarshalJSON(b []byte) error {
	type plain CountryRules
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var lists map[string]json.RawMessage
	if err := json.Unmarshal(b, &lists); err != nil {
		return err
	}
	*r = CountryRules(p)
	r.SupportedStates = list(lists, "supportedStatesList", "states")
	r.SupportedLanguages = list(lists, "supportedLanguagesList", "supportedLanguages")
	r.SupportedCultures = list(lists, "supportedCulturesList", "supportedCultures")
	r.CountryCallingCodes = list(lists, "countryCallingCodesList", "countryCallingCodes")
	return nil
}

func list(m map[string]json.RawMessage, flat, wrapped string) []string {
	var out []string
	if raw, ok := m[flat]; ok && json.Unmarshal(raw, &out) == nil {
		return out
	}
	var w struct {
		Value []string `json:"value"`
	}
	if raw, ok := m[wrapped]; ok && json.Unmarshal(raw, &w) == nil {
		return w.Value
	}
	return nil
}
