package mscloud

import "strconv"

// usZIPPrefixes are the three-digit ZIP code prefixes (USPS sectional
// center facilities) of the 50 states and DC, as ranges. Address validation
// refuses a US postal code whose prefix is not one of its state's, as
// Microsoft's does. Ranges are coarse (a few unassigned prefixes inside a
// range are accepted) but no prefix belongs to two states. The territories
// (AS, GU, MP, PR, VI) are not checked.
var usZIPPrefixes = map[string][][2]int{
	"AL": {{350, 369}},
	"AK": {{995, 999}},
	"AZ": {{850, 865}},
	"AR": {{716, 729}},
	"CA": {{900, 961}},
	"CO": {{800, 816}},
	"CT": {{60, 69}},
	"DE": {{197, 199}},
	"DC": {{200, 200}, {202, 205}, {569, 569}},
	"FL": {{320, 349}},
	"GA": {{300, 319}, {398, 399}},
	"HI": {{967, 968}},
	"ID": {{832, 838}},
	"IL": {{600, 629}},
	"IN": {{460, 479}},
	"IA": {{500, 528}},
	"KS": {{660, 679}},
	"KY": {{400, 427}},
	"LA": {{700, 714}},
	"ME": {{39, 49}},
	"MD": {{206, 219}},
	"MA": {{10, 27}, {55, 55}},
	"MI": {{480, 499}},
	"MN": {{550, 567}},
	"MS": {{386, 397}},
	"MO": {{630, 658}},
	"MT": {{590, 599}},
	"NE": {{680, 693}},
	"NV": {{889, 898}},
	"NH": {{30, 38}},
	"NJ": {{70, 89}},
	"NM": {{870, 884}},
	"NY": {{5, 5}, {100, 149}},
	"NC": {{270, 289}},
	"ND": {{580, 588}},
	"OH": {{430, 459}},
	"OK": {{730, 749}},
	"OR": {{970, 979}},
	"PA": {{150, 196}},
	"RI": {{28, 29}},
	"SC": {{290, 299}},
	"SD": {{570, 577}},
	"TN": {{370, 385}},
	"TX": {{750, 799}, {885, 885}},
	"UT": {{840, 847}},
	"VT": {{50, 54}, {56, 59}},
	"VA": {{201, 201}, {220, 246}},
	"WA": {{980, 994}},
	"WV": {{247, 268}},
	"WI": {{530, 549}},
	"WY": {{820, 831}},
}

// usZIPFitsState tells whether a US postal code (five digits, optionally
// ZIP+4) belongs to state. States outside the table (territories) and
// codes that are not ZIP codes are not judged here (true).
func usZIPFitsState(state, zip string) bool {
	ranges, ok := usZIPPrefixes[state]
	if !ok || len(zip) < 5 {
		return true
	}
	p, err := strconv.Atoi(zip[:3])
	if err != nil {
		return true
	}
	for _, r := range ranges {
		if p >= r[0] && p <= r[1] {
			return true
		}
	}
	return false
}
