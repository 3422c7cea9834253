package console

// country is one entry of the demo page's country picker.
type country struct {
	Code, Name, Dial string
}

// countries lists the picker's entries; any other country works with a +
// number, since the server parses international input without a country.
var countries = []country{
	{"US", "United States", "+1"}, {"CA", "Canada", "+1"}, {"GB", "United Kingdom", "+44"},
	{"IE", "Ireland", "+353"}, {"DE", "Germany", "+49"}, {"FR", "France", "+33"},
	{"ES", "Spain", "+34"}, {"IT", "Italy", "+39"}, {"NL", "Netherlands", "+31"},
	{"BE", "Belgium", "+32"}, {"CH", "Switzerland", "+41"}, {"AT", "Austria", "+43"},
	{"SE", "Sweden", "+46"}, {"NO", "Norway", "+47"}, {"DK", "Denmark", "+45"},
	{"FI", "Finland", "+358"}, {"PL", "Poland", "+48"}, {"PT", "Portugal", "+351"},
	{"IN", "India", "+91"}, {"JP", "Japan", "+81"}, {"KR", "South Korea", "+82"},
	{"SG", "Singapore", "+65"}, {"AU", "Australia", "+61"}, {"NZ", "New Zealand", "+64"},
	{"BR", "Brazil", "+55"}, {"MX", "Mexico", "+52"}, {"AR", "Argentina", "+54"},
	{"ZA", "South Africa", "+27"}, {"NG", "Nigeria", "+234"}, {"KE", "Kenya", "+254"},
	{"IL", "Israel", "+972"}, {"AE", "United Arab Emirates", "+971"},
}
