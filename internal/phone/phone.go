// Package phone parses, normalises and classifies telephone numbers.
package phone

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid is returned, alone or wrapped, for every input Parse refuses.
// Its message and the messages of the errors wrapping it never contain the
// input.
var ErrInvalid = errors.New("invalid phone number")

// ErrRegion is returned by Parse for a region that is not a supported
// ISO 3166-1 alpha-2 code. It wraps ErrInvalid, so errors.Is(err, ErrInvalid)
// holds for it too; test for ErrRegion first to tell a bad region (usually a
// caller or configuration mistake) from a bad number.
var ErrRegion = fmt.Errorf("%w: unknown region", ErrInvalid)

// The reasons Parse gives; each wraps ErrInvalid and holds no digit.
var (
	errEmpty     = fmt.Errorf("%w: empty", ErrInvalid)
	errTooLong   = fmt.Errorf("%w: too long", ErrInvalid)
	errChar      = fmt.Errorf("%w: unexpected character", ErrInvalid)
	errNoRegion  = fmt.Errorf("%w: national number without region", ErrInvalid)
	errNotNumber = fmt.Errorf("%w: not a phone number", ErrInvalid)
	errExtension = fmt.Errorf("%w: extension not allowed", ErrInvalid)
	errNotValid  = fmt.Errorf("%w: not a valid number", ErrInvalid)
	errTooMany   = fmt.Errorf("%w: too many digits", ErrInvalid)
)

// maxLen is the longest raw input Parse looks at, in bytes.
const maxLen = 64

// maxDigits is the most digits, calling code included, E.164 allows.
// phonenumbers holds some longer numbers valid, such as German fixed lines
// with long direct-dial suffixes.
const maxDigits = 15

// nonGeoRegion is the region phonenumbers gives numbers of non-geographic
// calling codes such as +800 and +882.
const nonGeoRegion = "001"

// Number is a valid telephone number. The zero Number is no number; see
// IsZero. Numbers are comparable with ==.
//
// Printing a Number with fmt or log/slog shows its mask, never its digits.
type Number struct {
	e164   string
	region string // ISO 3166-1 alpha-2, or "" for non-geographic numbers
	typ    Type
	code   int    // country calling code
	mask   string // see Mask
}

// Parse parses raw, an untrusted telephone number as a person typed it, and
// returns it if phonenumbers holds it valid and it has no more than the 15
// digits E.164 allows.
//
// raw may hold ASCII digits, spaces and the separators - ( ) . / and start
// with '+'; it may be at most 64 bytes long. Letters (vanity numbers,
// extensions), non-ASCII digits and every other character are refused.
//
// region is the ISO 3166-1 alpha-2 code, in either case, of the country raw
// is dialled from; it lets raw be a national number ("(415) 555-0123" with
// "US") or use that country's international prefix ("011 44 ..." with "US").
// A leading "00" is also taken as '+' if the number is not valid otherwise.
// With an empty region raw must be international, starting with '+' or "00".
//
// Every error Parse returns wraps ErrInvalid; an unknown region gives
// ErrRegion.
func Parse(raw, region string) (Number, error) {
	s, err := clean(raw)
	if err != nil {
		return Number{}, err
	}
	region, err = normRegion(region)
	if err != nil {
		return Number{}, err
	}
	doubleZero := strings.HasPrefix(s, "00")
	if region == "" {
		switch {
		case s[0] == '+':
			return parse(s, "")
		case doubleZero:
			return parse("+"+s[2:], "")
		default:
			return Number{}, errNoRegion
		}
	}
	n, err := parse(s, region)
	if err != nil && doubleZero {
		return parse("+"+s[2:], "")
	}
	return n, err
}

// clean checks raw against the characters Parse accepts and returns it
// without leading and trailing spaces.
func clean(raw string) (string, error) {
	if len(raw) > maxLen {
		return "", errTooLong
	}
	s := strings.Trim(raw, " ")
	if s == "" {
		return "", errEmpty
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', c == ' ', c == '-', c == '(', c == ')', c == '.', c == '/':
		case c == '+' && i == 0:
		default:
			return "", errChar
		}
	}
	return s, nil
}

// normRegion returns region in upper case if phonenumbers knows it, "" if it
// is empty, and ErrRegion otherwise.
func normRegion(region string) (string, error) {
	if region == "" {
		return "", nil
	}
	if len(region) != 2 {
		return "", ErrRegion
	}
	var b [2]byte
	for i := range b {
		c := region[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			return "", ErrRegion
		}
		b[i] = c
	}
	r := string(b[:])
	if phonenumbers.GetCountryCodeForRegion(r) == 0 {
		return "", ErrRegion
	}
	return r, nil
}

// parse hands s to phonenumbers and builds the Number if the result is
// valid. region is upper case and known, or empty if s starts with '+'.
func parse(s, region string) (Number, error) {
	var pn phonenumbers.PhoneNumber
	if err := phonenumbers.ParseToNumber(s, region, &pn); err != nil {
		return Number{}, errNotNumber
	}
	if pn.GetExtension() != "" {
		return Number{}, errExtension
	}
	// A number is valid when its region's patterns give it a type:
	// IsValidNumberForRegion is exactly GetNumberType != UNKNOWN for the
	// region GetRegionCodeForNumber finds, so match the patterns once.
	region = phonenumbers.GetRegionCodeForNumber(&pn)
	pt := phonenumbers.GetNumberType(&pn)
	if region == "" || pt == phonenumbers.UNKNOWN {
		return Number{}, errNotValid
	}
	e164 := phonenumbers.Format(&pn, phonenumbers.E164)
	if len(e164)-1 > maxDigits {
		return Number{}, errTooMany
	}
	n := Number{
		e164:   e164,
		region: region,
		typ:    typeOf(pt),
		code:   int(pn.GetCountryCode()),
	}
	if n.region == nonGeoRegion {
		n.region = ""
	}
	n.mask = mask(phonenumbers.Format(&pn, phonenumbers.INTERNATIONAL), n.e164, n.code)
	return n, nil
}

// mask returns intl, the international format of the number whose E.164 form
// is e164, with the digits after the calling code code replaced by "•" except
// the last few (see Number.Mask), and its separators turned into spaces.
func mask(intl, e164 string, code int) string {
	cc := "+" + strconv.Itoa(code)
	nsn := e164[len(cc):]
	rest, ok := strings.CutPrefix(intl, cc)
	if !ok || !strings.HasPrefix(rest, " ") || countDigits(rest) != len(nsn) {
		// Not the shape phonenumbers has always given; mask the bare
		// national number rather than trust the format.
		rest = " " + nsn
	}
	hide := len(nsn) - shown(len(nsn))
	var b strings.Builder
	b.Grow(len(cc) + 3*len(rest))
	b.WriteString(cc)
	i := 0
	for _, c := range []byte(rest) {
		switch {
		case '0' <= c && c <= '9':
			if i < hide {
				b.WriteString("•")
			} else {
				b.WriteByte(c)
			}
			i++
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// shown returns how many trailing digits of a national significant number of
// length n the mask shows: four, but never more than half of them.
func shown(n int) int {
	return min(4, n/2)
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			n++
		}
	}
	return n
}

// E164 returns the number in E.164 form, such as "+14155550123". It is the
// number's canonical form: store and compare this, never log it.
func (n Number) E164() string { return n.e164 }

// Country returns the ISO 3166-1 alpha-2 code of the country or territory
// the number belongs to, such as "US"; it is the number's own, not the region
// given to Parse. It is "" for numbers of non-geographic calling codes such
// as +800 and +882.
func (n Number) Country() string { return n.region }

// CallingCode returns the number's country calling code, such as 1 or 44.
func (n Number) CallingCode() int { return n.code }

// Type returns the kind of line the number belongs to, as far as its digits
// tell. A number ported between networks keeps the type of its range.
func (n Number) Type() Type {
	if n.IsZero() {
		return Unknown
	}
	return n.typ
}

// Mask returns the number in international format with every digit after the
// country calling code replaced by "•" except the last four and separators
// turned into spaces, such as "+1 ••• ••• 0123" or "+44 •••• ••3456". For
// national numbers shorter than eight digits it shows only the last half,
// rounded down, so that it never shows most of a number. Mask is what a log
// line or a console may show. It is "" for the zero Number.
func (n Number) Mask() string { return n.mask }

// Prefix returns the E.164 form without its last four digits, such as
// "+1415555", for counting and limiting by number range; for national numbers
// of four digits or fewer it is the calling code alone. Prefix is not a
// masked form: with Mask it gives the whole number, so never log both.
func (n Number) Prefix() string {
	if n.IsZero() {
		return ""
	}
	cc := len(strconv.Itoa(n.code)) + 1
	return n.e164[:max(cc, len(n.e164)-4)]
}

// IsZero reports whether n is the zero Number, which Parse returns with every
// error.
func (n Number) IsZero() bool { return n.e164 == "" }

// String returns Mask, so that a Number printed by accident shows no digits
// but the last four.
func (n Number) String() string { return n.mask }

// Format implements fmt.Formatter so that every verb, %#v and %d included,
// prints the mask and never the fields of n.
func (n Number) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", n.mask)
	default:
		fmt.Fprint(f, n.mask)
	}
}

// LogValue implements slog.LogValuer: a Number logs as its mask.
func (n Number) LogValue() slog.Value { return slog.StringValue(n.mask) }

// CanReceiveSMS reports whether a verification code may be sent to n by SMS,
// judging by its type alone:
//
//   - Mobile, FixedLineOrMobile and PersonalNumber: true.
//   - FixedLine: true, as many fixed-line networks read SMS out as a voice
//     call, and numbers of some mobile ranges are typed fixed-line.
//   - VoIP: allowVoIP; VoIP numbers receive SMS but are cheap to obtain in
//     bulk, so the caller decides.
//   - TollFree, PremiumRate, SharedCost, UAN, Pager and Voicemail: false;
//     they do not take SMS or are the targets of toll fraud.
//   - Unknown: true only for a valid number, which every Number but the
//     zero one is. phonenumbers holds no number of unknown type valid, so
//     Parse never returns one today; the rule is for future metadata.
//
// It is false for the zero Number.
func (n Number) CanReceiveSMS(allowVoIP bool) bool {
	if n.IsZero() {
		return false
	}
	switch n.typ {
	case Mobile, FixedLineOrMobile, PersonalNumber, FixedLine:
		return true
	case VoIP:
		return allowVoIP
	case TollFree, PremiumRate, SharedCost, UAN, Pager, Voicemail:
		return false
	case Unknown:
		// Every Number but the zero one is valid, checked by Parse.
		return true
	}
	return false
}
