package partnercenter

import "testing"

func TestUSStates(t *testing.T) {
	if len(usStates) != 51 {
		t.Fatalf("%d states, want 50 and DC", len(usStates))
	}
	owner := map[int]string{}
	for code, st := range usStates {
		for _, r := range st.prefixes {
			if r[0] > r[1] || r[0] < 0 || r[1] > 999 {
				t.Errorf("%s: range %v", code, r)
			}
			for p := r[0]; p <= r[1]; p++ {
				if o, ok := owner[p]; ok {
					t.Errorf("prefix %03d belongs to %s and %s", p, o, code)
				}
				owner[p] = code
			}
		}
		if got, ok := USStateCode(st.name); !ok || got != code {
			t.Errorf("%s: %q, %v", st.name, got, ok)
		}
	}
	for _, c := range []struct {
		state, zip string
		fits       bool
	}{
		{"WA", "98052", true}, {"wa", "98052-6399", true}, {"CA", "94105", true}, {"NY", "10001", true}, {"MA", "02134", true},
		{"DC", "20500", true}, {"VA", "20166", true}, {"TX", "88510", true},
		{"WA", "10001", false}, {"NY", "98052", false}, {"CA", "96201", false}, {"DC", "20166", false}, {"VT", "05501", false},
		{"PR", "00901", true}, // territories are not checked
		{"WA", "9805", true},  // not a ZIP code: the pattern decides
		{"WA", "ABCDE", true},
	} {
		if got := USZIPFitsState(c.state, c.zip); got != c.fits {
			t.Errorf("%s %s: %v, want %v", c.state, c.zip, got, c.fits)
		}
	}
	for in, want := range map[string]string{"Washington": "WA", "  new   york ": "NY", "district of columbia": "DC", "tx": "TX"} {
		if got, ok := USStateCode(in); !ok || got != want {
			t.Errorf("%q: %q %v", in, got, ok)
		}
	}
	if _, ok := USStateCode("Puerto Rico"); ok {
		t.Error("a territory by name")
	}
}
