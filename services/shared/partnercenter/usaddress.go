package partnercenter

import (
	"strconv"
	"strings"
)

// usState is one of the 50 states or DC: its name and the three-digit
// prefixes (USPS sectional center facilities) of its ZIP codes, as ranges.
type usState struct {
	name     string
	prefixes [][2]int
}

// usStates: Microsoft's address validation refuses a ZIP code of another
// state, so the gateway checks it before asking. The ranges are coarse (a
// few unassigned prefixes inside a range pass) but no prefix belongs to
// two states. The territories (AS, GU, MP, PR, VI) are not checked.
var usStates = map[string]usState{
	"AL": {"Alabama", [][2]int{{350, 369}}},
	"AK": {"Alaska", [][2]int{{995, 999}}},
	"AZ": {"Arizona", [][2]int{{850, 865}}},
	"AR": {"Arkansas", [][2]int{{716, 729}}},
	"CA": {"California", [][2]int{{900, 961}}},
	"CO": {"Colorado", [][2]int{{800, 816}}},
	"CT": {"Connecticut", [][2]int{{60, 69}}},
	"DE": {"Delaware", [][2]int{{197, 199}}},
	"DC": {"District of Columbia", [][2]int{{200, 200}, {202, 205}, {569, 569}}},
	"FL": {"Florida", [][2]int{{320, 349}}},
	"GA": {"Georgia", [][2]int{{300, 319}, {398, 399}}},
	"HI": {"Hawaii", [][2]int{{967, 968}}},
	"ID": {"Idaho", [][2]int{{832, 838}}},
	"IL": {"Illinois", [][2]int{{600, 629}}},
	"IN": {"Indiana", [][2]int{{460, 479}}},
	"IA": {"Iowa", [][2]int{{500, 528}}},
	"KS": {"Kansas", [][2]int{{660, 679}}},
	"KY": {"Kentucky", [][2]int{{400, 427}}},
	"LA": {"Louisiana", [][2]int{{700, 714}}},
	"ME": {"Maine", [][2]int{{39, 49}}},
	"MD": {"Maryland", [][2]int{{206, 219}}},
	"MA": {"Massachusetts", [][2]int{{10, 27}, {55, 55}}},
	"MI": {"Michigan", [][2]int{{480, 499}}},
	"MN": {"Minnesota", [][2]int{{550, 567}}},
	"MS": {"Mississippi", [][2]int{{386, 397}}},
	"MO": {"Missouri", [][2]int{{630, 658}}},
	"MT": {"Montana", [][2]int{{590, 599}}},
	"NE": {"Nebraska", [][2]int{{680, 693}}},
	"NV": {"Nevada", [][2]int{{889, 898}}},
	"NH": {"New Hampshire", [][2]int{{30, 38}}},
	"NJ": {"New Jersey", [][2]int{{70, 89}}},
	"NM": {"New Mexico", [][2]int{{870, 884}}},
	"NY": {"New York", [][2]int{{5, 5}, {100, 149}}},
	"NC": {"North Carolina", [][2]int{{270, 289}}},
	"ND": {"North Dakota", [][2]int{{580, 588}}},
	"OH": {"Ohio", [][2]int{{430, 459}}},
	"OK": {"Oklahoma", [][2]int{{730, 749}}},
	"OR": {"Oregon", [][2]int{{970, 979}}},
	"PA": {"Pennsylvania", [][2]int{{150, 196}}},
	"RI": {"Rhode Island", [][2]int{{28, 29}}},
	"SC": {"South Carolina", [][2]int{{290, 299}}},
	"SD": {"South Dakota", [][2]int{{570, 577}}},
	"TN": {"Tennessee", [][2]int{{370, 385}}},
	"TX": {"Texas", [][2]int{{750, 799}, {885, 885}}},
	"UT": {"Utah", [][2]int{{840, 847}}},
	"VT": {"Vermont", [][2]int{{50, 54}, {56, 59}}},
	"VA": {"Virginia", [][2]int{{201, 201}, {220, 246}}},
	"WA": {"Washington", [][2]int{{980, 994}}},
	"WV": {"West Virginia", [][2]int{{247, 268}}},
	"WI": {"Wisconsin", [][2]int{{530, 549}}},
	"WY": {"Wyoming", [][2]int{{820, 831}}},
}

// USStateCode returns the two-letter code of a state or DC given by code
// or by name, in any case ("wa", "Washington", "district of columbia").
func USStateCode(s string) (string, bool) {
	s = strings.Join(strings.Fields(s), " ")
	if _, ok := usStates[strings.ToUpper(s)]; ok {
		return strings.ToUpper(s), true
	}
	for code, st := range usStates {
		if strings.EqualFold(st.name, s) {
			return code, true
		}
	}
	return "", false
}

// USZIPFitsState tells whether a ZIP code (five digits, optionally ZIP+4)
// is one of state's. A state outside the table (a territory) or a postal
// code that is not a ZIP code is not judged here (true): the country's
// postal code pattern decides those.
func USZIPFitsState(state, zip string) bool {
	st, ok := usStates[strings.ToUpper(state)]
	if !ok || len(zip) < 5 {
		return true
	}
	p, err := strconv.Atoi(zip[:3])
	if err != nil || p < 0 {
		return true
	}
	for _, r := range st.prefixes {
		if p >= r[0] && p <= r[1] {
			return true
		}
	}
	return false
}
