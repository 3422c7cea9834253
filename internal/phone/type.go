package phone

import "github.com/nyaruka/phonenumbers"

// Type is the kind of line a telephone number belongs to, as phonenumbers
// tells it from the number's range. Its values are stable and may be stored.
type Type string

// The types of line. Their values are lower-case names fit for storage and
// for JSON.
const (
	// Mobile is a mobile (cellular) number.
	Mobile Type = "mobile"
	// FixedLine is a geographic landline number.
	FixedLine Type = "fixed_line"
	// FixedLineOrMobile is a number of a country, such as the United States,
	// whose mobile and fixed-line numbers share ranges.
	FixedLineOrMobile Type = "fixed_line_or_mobile"
	// VoIP is a number of a range set aside for voice over IP.
	VoIP Type = "voip"
	// TollFree is a number free to the caller, such as +1 800 ...
	TollFree Type = "toll_free"
	// PremiumRate is a number that charges the caller above the normal rate,
	// such as +1 900 ... or +44 909 ...
	PremiumRate Type = "premium_rate"
	// SharedCost is a number whose cost caller and recipient share.
	SharedCost Type = "shared_cost"
	// UAN is a universal access number, one number routed to a company's
	// offices.
	UAN Type = "uan"
	// Pager is a pager number.
	Pager Type = "pager"
	// Voicemail is a number for reaching a voicemail box.
	Voicemail Type = "voicemail"
	// PersonalNumber is a number tied to a person and forwarded to a mobile
	// or fixed line of their choosing.
	PersonalNumber Type = "personal_number"
	// Unknown is the type of the zero Number and of a number phonenumbers
	// cannot place in any range.
	Unknown Type = "unknown"
)

// typeOf maps a phonenumbers type to a Type.
func typeOf(t phonenumbers.PhoneNumberType) Type {
	switch t {
	case phonenumbers.MOBILE:
		return Mobile
	case phonenumbers.FIXED_LINE:
		return FixedLine
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return FixedLineOrMobile
	case phonenumbers.VOIP:
		return VoIP
	case phonenumbers.TOLL_FREE:
		return TollFree
	case phonenumbers.PREMIUM_RATE:
		return PremiumRate
	case phonenumbers.SHARED_COST:
		return SharedCost
	case phonenumbers.UAN:
		return UAN
	case phonenumbers.PAGER:
		return Pager
	case phonenumbers.VOICEMAIL:
		return Voicemail
	case phonenumbers.PERSONAL_NUMBER:
		return PersonalNumber
	}
	return Unknown
}
