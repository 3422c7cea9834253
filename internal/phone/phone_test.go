package phone

import (
	"bytes"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		region  string
		e164    string
		country string
		code    int
		typ     Type
		mask    string
		prefix  string
	}{
		// Mobile numbers of many countries, international and national.
		{"US intl", "+1 415 555 0123", "", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"US E.164", "+14155550123", "", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"US national", "(415) 555-0123", "US", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"US national dots", "415.555.0123", "US", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"US national with 1", "1 415 555 0123", "US", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"US region lower case", "(415) 555-0123", "us", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"US region mixed case", "(415) 555-0123", "uS", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"US surrounding spaces", "  +1 415 555 0123  ", "", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"US space after plus", "+ 1 415 555 0123", "", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"US number with CA region", "+1 415 555 0123", "CA", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"CA intl", "+1 506 234 5678", "", "+15062345678", "CA", 1, FixedLineOrMobile, "+1 ••• ••• 5678", "+1506234"},
		{"CA national from US", "506-234-5678", "US", "+15062345678", "CA", 1, FixedLineOrMobile, "+1 ••• ••• 5678", "+1506234"},
		{"GB intl", "+44 7400 123456", "", "+447400123456", "GB", 44, Mobile, "+44 •••• ••3456", "+44740012"},
		{"GB national", "07400 123456", "GB", "+447400123456", "GB", 44, Mobile, "+44 •••• ••3456", "+44740012"},
		{"GB intl with (0)", "+44 (0) 7400 123456", "", "+447400123456", "GB", 44, Mobile, "+44 •••• ••3456", "+44740012"},
		{"GB fixed", "+44 121 234 5678", "", "+441212345678", "GB", 44, FixedLine, "+44 ••• ••• 5678", "+44121234"},
		{"DE intl", "+49 1512 3456789", "", "+4915123456789", "DE", 49, Mobile, "+49 •••• •••6789", "+491512345"},
		{"DE national", "01512 3456789", "DE", "+4915123456789", "DE", 49, Mobile, "+49 •••• •••6789", "+491512345"},
		{"DE fifteen digits", "+49 30 12345678901", "", "+493012345678901", "DE", 49, FixedLine, "+49 •• •••••••8901", "+49301234567"},
		{"DE fixed short", "030 123456", "DE", "+4930123456", "DE", 49, FixedLine, "+49 •• ••3456", "+493012"},
		{"FR intl", "+33 6 12 34 56 78", "", "+33612345678", "FR", 33, Mobile, "+33 • •• •• 56 78", "+3361234"},
		{"FR national", "06 12 34 56 78", "FR", "+33612345678", "FR", 33, Mobile, "+33 • •• •• 56 78", "+3361234"},
		{"IN intl", "+91 81234 56789", "", "+918123456789", "IN", 91, Mobile, "+91 ••••• •6789", "+91812345"},
		{"IN national", "081234 56789", "IN", "+918123456789", "IN", 91, Mobile, "+91 ••••• •6789", "+91812345"},
		{"BR intl", "+55 11 96123-4567", "", "+5511961234567", "BR", 55, Mobile, "+55 •• ••••• 4567", "+551196123"},
		{"BR national", "(11) 96123-4567", "BR", "+5511961234567", "BR", 55, Mobile, "+55 •• ••••• 4567", "+551196123"},
		{"NG intl", "+234 802 123 4567", "", "+2348021234567", "NG", 234, Mobile, "+234 ••• ••• 4567", "+234802123"},
		{"NG national", "0802 123 4567", "NG", "+2348021234567", "NG", 234, Mobile, "+234 ••• ••• 4567", "+234802123"},
		{"JP intl", "+81 90-1234-5678", "", "+819012345678", "JP", 81, Mobile, "+81 •• •••• 5678", "+81901234"},
		{"JP national", "090-1234-5678", "JP", "+819012345678", "JP", 81, Mobile, "+81 •• •••• 5678", "+81901234"},
		{"AU intl", "+61 412 345 678", "", "+61412345678", "AU", 61, Mobile, "+61 ••• ••5 678", "+6141234"},
		{"AU national", "0412 345 678", "AU", "+61412345678", "AU", 61, Mobile, "+61 ••• ••5 678", "+6141234"},
		{"MX intl", "+52 222 123 4567", "", "+522221234567", "MX", 52, FixedLineOrMobile, "+52 ••• ••• 4567", "+52222123"},
		{"MX national", "222 123 4567", "MX", "+522221234567", "MX", 52, FixedLineOrMobile, "+52 ••• ••• 4567", "+52222123"},
		{"ZA intl", "+27 71 123 4567", "", "+27711234567", "ZA", 27, Mobile, "+27 •• ••• 4567", "+2771123"},
		{"ZA national", "071 123 4567", "ZA", "+27711234567", "ZA", 27, Mobile, "+27 •• ••• 4567", "+2771123"},
		{"IT leading zero", "+39 06 1234 5678", "", "+390612345678", "IT", 39, FixedLine, "+39 •• •••• 5678", "+39061234"},
		{"slash separator", "+49 30/123456", "", "+4930123456", "DE", 49, FixedLine, "+49 •• ••3456", "+493012"},

		// International prefixes: 00 everywhere, and the region's own.
		{"00 no region", "001 415 555 0123", "", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"00 spaced no region", "00 1 415 555 0123", "", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"00 region US", "001 415 555 0123", "US", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"00 region JP", "0044 7400 123456", "JP", "+447400123456", "GB", 44, Mobile, "+44 •••• ••3456", "+44740012"},
		{"011 region US", "011 44 7400 123456", "US", "+447400123456", "GB", 44, Mobile, "+44 •••• ••3456", "+44740012"},
		{"011 region CA", "011 61 412 345 678", "CA", "+61412345678", "AU", 61, Mobile, "+61 ••• ••5 678", "+6141234"},
		{"00 region GB", "00 1 415 555 0123", "GB", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},
		{"00 region DE", "0044 7400 123456", "DE", "+447400123456", "GB", 44, Mobile, "+44 •••• ••3456", "+44740012"},
		{"010 region JP", "010 1 415 555 0123", "JP", "+14155550123", "US", 1, FixedLineOrMobile, "+1 ••• ••• 0123", "+1415555"},

		// The other types, mostly phonenumbers' example numbers.
		{"US premium", "+1 900 234 5678", "", "+19002345678", "US", 1, PremiumRate, "+1 ••• ••• 5678", "+1900234"},
		{"GB premium 909", "+44 909 876 5432", "", "+449098765432", "GB", 44, PremiumRate, "+44 ••• ••• 5432", "+44909876"},
		{"JP premium", "+81 990-123-456", "", "+81990123456", "JP", 81, PremiumRate, "+81 ••• ••3 456", "+8199012"},
		{"US toll free", "+1 800 234 5678", "", "+18002345678", "US", 1, TollFree, "+1 ••• ••• 5678", "+1800234"},
		{"US toll free national", "1 (800) 234-5678", "US", "+18002345678", "US", 1, TollFree, "+1 ••• ••• 5678", "+1800234"},
		{"GB toll free", "0800 123 4567", "GB", "+448001234567", "GB", 44, TollFree, "+44 ••• ••• 4567", "+44800123"},
		{"DE shared cost", "+49 180 1 2345", "", "+4918012345", "DE", 49, SharedCost, "+49 ••• • 2345", "+491801"},
		{"AU shared cost", "1300 123 456", "AU", "+611300123456", "AU", 61, SharedCost, "+61 •••• ••3 456", "+61130012"},
		{"GB UAN", "+44 55 1234 5678", "", "+445512345678", "GB", 44, UAN, "+44 •• •••• 5678", "+44551234"},
		{"FR UAN", "+33 806 12 34 56", "", "+33806123456", "FR", 33, UAN, "+33 ••• •• 34 56", "+3380612"},
		{"CA UAN seven digits", "+1 310 1234", "", "+13101234", "CA", 1, UAN, "+1 ••• •234", "+1310"},
		{"GB pager", "+44 76 4012 3456", "", "+447640123456", "GB", 44, Pager, "+44 •• •••• 3456", "+44764012"},
		{"JP pager", "+81 20-1234-5678", "", "+812012345678", "JP", 81, Pager, "+81 •• •••• 5678", "+81201234"},
		{"DE voicemail", "+49 177 99 1234567", "", "+49177991234567", "DE", 49, Voicemail, "+49 ••• •• •••4567", "+4917799123"},
		{"GB VoIP", "+44 56 1234 5678", "", "+445612345678", "GB", 44, VoIP, "+44 •• •••• 5678", "+44561234"},
		{"JP VoIP", "050-1234-5678", "JP", "+815012345678", "JP", 81, VoIP, "+81 •• •••• 5678", "+81501234"},
		{"CA VoIP", "+1 600 201 2345", "", "+16002012345", "CA", 1, VoIP, "+1 ••• ••• 2345", "+1600201"},
		{"GB personal", "+44 70 1234 5678", "", "+447012345678", "GB", 44, PersonalNumber, "+44 •• •••• 5678", "+44701234"},
		{"US personal", "+1 500 234 5678", "", "+15002345678", "US", 1, PersonalNumber, "+1 ••• ••• 5678", "+1500234"},

		// Non-geographic calling codes have no country.
		{"intl freephone", "+800 1234 5678", "", "+80012345678", "", 800, TollFree, "+800 •••• 5678", "+8001234"},
		{"Inmarsat", "+870 301 234 567", "", "+870301234567", "", 870, Mobile, "+870 ••• ••4 567", "+87030123"},

		// Short national numbers: the mask shows at most half the digits.
		{"NU four digits", "+683 7012", "", "+6837012", "NU", 683, FixedLine, "+683 ••12", "+683"},
		{"AC five digits", "+247 40123", "", "+24740123", "AC", 247, Mobile, "+247 •••23", "+2474"},
		{"NC six digits dots", "+687 75.12.34", "", "+687751234", "NC", 687, Mobile, "+687 •• •2 34", "+68775"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.raw, tt.region)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.raw, tt.region, err)
			}
			if got := n.E164(); got != tt.e164 {
				t.Errorf("E164() = %q, want %q", got, tt.e164)
			}
			if got := n.Country(); got != tt.country {
				t.Errorf("Country() = %q, want %q", got, tt.country)
			}
			if got := n.CallingCode(); got != tt.code {
				t.Errorf("CallingCode() = %d, want %d", got, tt.code)
			}
			if got := n.Type(); got != tt.typ {
				t.Errorf("Type() = %q, want %q", got, tt.typ)
			}
			if got := n.Mask(); got != tt.mask {
				t.Errorf("Mask() = %q, want %q", got, tt.mask)
			}
			if got := n.Prefix(); got != tt.prefix {
				t.Errorf("Prefix() = %q, want %q", got, tt.prefix)
			}
			if n.IsZero() {
				t.Error("IsZero() = true")
			}
			checkNumber(t, n)
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		region string
		want   error
	}{
		{"empty", "", "", errEmpty},
		{"empty with region", "", "US", errEmpty},
		{"spaces only", "     ", "US", errEmpty},
		{"plus only", "+", "", errNotNumber},
		{"separators only", "()- ./", "US", errNotNumber},
		{"calling code only", "+1", "", errNotNumber},
		{"too short", "+1 415 555", "", errNotValid},
		{"too long number", "+1 415 555 0123 4", "", errNotValid},
		{"forty digits", "+" + strings.Repeat("1234567890", 4), "", errNotNumber},
		{"64 bytes of digits", "+1" + strings.Repeat("2", 62), "", errNotNumber},
		{"65 bytes", "+1 415 555 0123" + strings.Repeat(" ", 50), "", errTooLong},
		{"very long", strings.Repeat("1", 10000), "US", errTooLong},
		{"no such calling code", "+0 415 555 0123", "", errNotNumber},
		{"unassigned calling code", "+999 415 555 0123", "", errNotNumber},
		{"sixteen digits", "+49 30 123456789012", "", errTooMany},
		{"sixteen digits national", "030 123456789012", "DE", errTooMany},
		{"invalid US range", "+1 123 555 0123", "", errNotValid},
		{"00 only", "00", "", errNotNumber},
		{"00 then national", "00 415 555 0123", "", errNotValid},
		{"00 invalid with region", "0012 3456", "US", errNotValid},

		// National input needs a region.
		{"national without region", "(415) 555-0123", "", errNoRegion},
		{"011 without region", "011 44 7400 123456", "", errNoRegion},
		{"US national in GB", "(415) 555-0123", "GB", errNotValid},

		// Characters.
		{"letters", "abc", "US", errChar},
		{"vanity", "1-800-FLOWERS", "US", errChar},
		{"vanity intl", "+1 800 FLOWERS", "", errChar},
		{"extension x", "+1 415 555 0123 x12", "", errChar},
		{"extension ext", "+1 415 555 0123 ext. 12", "", errChar},
		{"extension hash", "+1 415 555 0123 - 123#", "", errChar},
		{"comma pause", "+1 415 555 0123,12", "", errChar},
		{"tel URI", "tel:+1-415-555-0123", "", errChar},
		{"full-width digits", "+１４１５５５５０１２３", "", errChar},
		{"Arabic-Indic digits", "+١٤١٥٥٥٥٠١٢٣", "", errChar},
		{"Eastern Arabic digits", "+۱۴۱۵۵۵۵۰۱۲۳", "", errChar},
		{"full-width plus", "＋14155550123", "", errChar},
		{"non-breaking space", "+1\u00a0415 555 0123", "", errChar},
		{"invalid UTF-8", "+1415555\xff0123", "", errChar},
		{"NUL", "+1415555\x000123", "", errChar},
		{"trailing NUL", "+14155550123\x00", "", errChar},
		{"tab", "\t+14155550123", "", errChar},
		{"newline", "+1415555\n0123", "", errChar},
		{"carriage return", "+14155550123\r", "", errChar},
		{"escape", "+1\x1b[31m4155550123", "", errChar},
		{"DEL", "+14155550123\x7f", "", errChar},
		{"double plus", "++14155550123", "", errChar},
		{"inner plus", "1+4155550123", "US", errChar},
		{"plus after paren", "(+44) 7400 123456", "", errChar},
		{"star", "*14155550123", "US", errChar},
		{"brackets", "+1 [415] 555 0123", "", errChar},
		{"tilde", "+1~4155550123", "", errChar},

		// Regions.
		{"unknown region", "(415) 555-0123", "ZZ", ErrRegion},
		{"unassigned region", "(415) 555-0123", "XX", ErrRegion},
		{"UK is not ISO", "07400 123456", "UK", ErrRegion},
		{"alpha-3 region", "(415) 555-0123", "USA", ErrRegion},
		{"one-letter region", "(415) 555-0123", "U", ErrRegion},
		{"numeric region", "(415) 555-0123", "001", ErrRegion},
		{"digit in region", "(415) 555-0123", "U5", ErrRegion},
		{"non-ASCII region", "(415) 555-0123", "ÜS", ErrRegion},
		{"space in region", "(415) 555-0123", "US ", ErrRegion},
		{"region with international input", "+1 415 555 0123", "ZZ", ErrRegion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.raw, tt.region)
			if err == nil {
				t.Fatalf("Parse(%q, %q) = %q, want error", tt.raw, tt.region, n.E164())
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse(%q, %q) error = %q, want %q", tt.raw, tt.region, err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if !n.IsZero() || n != (Number{}) {
				t.Errorf("Parse returned a non-zero Number with its error")
			}
			checkError(t, err)
		})
	}
}

// checkError fails t if err's message holds a digit: Parse's errors must
// never repeat any part of the number they refuse.
func checkError(t testing.TB, err error) {
	t.Helper()
	if msg := err.Error(); strings.ContainsAny(msg, "0123456789") {
		t.Errorf("error message %q contains a digit", msg)
	}
}

func TestErrorsHoldNoDigits(t *testing.T) {
	for _, err := range []error{ErrInvalid, ErrRegion, errEmpty, errTooLong, errChar, errNoRegion, errNotNumber, errExtension, errNotValid, errTooMany} {
		checkError(t, err)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%q does not wrap ErrInvalid", err)
		}
	}
}

// checkNumber fails t if n breaks an invariant every parsed Number keeps.
func checkNumber(t testing.TB, n Number) {
	t.Helper()
	e := n.E164()
	cc := "+" + strconv.Itoa(n.CallingCode())
	if !strings.HasPrefix(e, cc) || len(e) <= len(cc) || len(e) > 16 {
		t.Fatalf("E164() = %q with calling code %d", e, n.CallingCode())
	}
	for _, c := range e[1:] {
		if c < '0' || c > '9' {
			t.Fatalf("E164() = %q holds a non-digit", e)
		}
	}
	if pn, err := phonenumbers.Parse(e, ""); err != nil || !phonenumbers.IsValidNumber(pn) {
		t.Fatalf("phonenumbers does not hold %s valid: %v", n.Mask(), err)
	}
	again, err := Parse(e, "")
	if err != nil {
		t.Fatalf("Parse(E164()) of %s: %v", n.Mask(), err)
	}
	if again != n {
		t.Fatalf("Parse(E164()) = %+v, want %+v", again.fields(), n.fields())
	}
	if n.Country() != "" {
		if len(n.Country()) != 2 || phonenumbers.GetCountryCodeForRegion(n.Country()) != n.CallingCode() {
			t.Errorf("Country() = %q for calling code %d", n.Country(), n.CallingCode())
		}
	}
	if n.Type() == Unknown {
		t.Errorf("Type() = Unknown")
	}

	m := n.Mask()
	rest, ok := strings.CutPrefix(m, cc+" ")
	if !ok {
		t.Fatalf("Mask() = %q, want prefix %q", m, cc+" ")
	}
	nsn := e[len(cc):]
	digits := 0
	var masked []rune
	for _, c := range rest {
		switch {
		case c == '•':
			masked = append(masked, c)
		case '0' <= c && c <= '9':
			digits++
			masked = append(masked, c)
		case c != ' ':
			t.Fatalf("Mask() = %q holds %q", m, c)
		}
	}
	if digits > 4 || digits > len(nsn)/2 {
		t.Errorf("Mask() = %q shows %d of %d digits", m, digits, len(nsn))
	}
	if len(masked) != len(nsn) {
		t.Errorf("Mask() = %q has %d places for %d digits", m, len(masked), len(nsn))
	}
	if shown := string(masked[len(masked)-digits:]); !strings.HasSuffix(nsn, shown) {
		t.Errorf("Mask() = %q does not end in the number's last digits", m)
	}
	if n.String() != m {
		t.Errorf("String() = %q, want Mask() %q", n.String(), m)
	}

	p := n.Prefix()
	if !strings.HasPrefix(e, p) || !strings.HasPrefix(p, cc) {
		t.Errorf("Prefix() = %q is not a prefix of E164() with the calling code", p)
	}
	if len(nsn) >= 4 && len(e)-len(p) != 4 {
		t.Errorf("Prefix() = %q drops %d digits, want 4", p, len(e)-len(p))
	}
}

// fields lays out n's fields for a failure message of a test.
func (n Number) fields() string {
	return fmt.Sprintf("{%s %s %s %d %s}", n.e164, n.region, n.typ, n.code, n.mask)
}

// TestExampleNumbers parses every example number phonenumbers has, in
// international and national format, and checks the result agrees with
// phonenumbers.
func TestExampleNumbers(t *testing.T) {
	var regions []string
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	if len(regions) < 200 {
		t.Fatalf("phonenumbers knows only %d regions", len(regions))
	}
	var parsed, national int
	seen := map[Type]bool{}
	for _, r := range regions {
		for pt := phonenumbers.FIXED_LINE; pt < phonenumbers.UNKNOWN; pt++ {
			ex := phonenumbers.GetExampleNumberForType(r, pt)
			if ex == nil || !phonenumbers.IsValidNumber(ex) {
				continue
			}
			e164 := phonenumbers.Format(ex, phonenumbers.E164)
			intl := phonenumbers.Format(ex, phonenumbers.INTERNATIONAL)
			n, err := Parse(intl, "")
			if err != nil {
				t.Errorf("%s %d: Parse(%q): %v", r, pt, intl, err)
				continue
			}
			parsed++
			if n.E164() != e164 {
				t.Errorf("%s %d: E164() = %q, want %q", r, pt, n.E164(), e164)
			}
			if want := typeOf(phonenumbers.GetNumberType(ex)); n.Type() != want {
				t.Errorf("%s %d: Type() = %q, want %q", r, pt, n.Type(), want)
			}
			seen[n.Type()] = true
			checkNumber(t, n)

			// National format, dialled from the number's own region.
			// phonenumbers formats Argentine mobiles nationally as
			// "09 15-..." but cannot parse that back.
			if phonenumbers.GetRegionCodeForNumber(ex) != r || r == "AR" && pt == phonenumbers.MOBILE {
				continue
			}
			nat := phonenumbers.Format(ex, phonenumbers.NATIONAL)
			if strings.Trim(nat, "0123456789 -()./") != "" {
				continue // a few national formats hold other marks
			}
			m, err := Parse(nat, r)
			if err != nil {
				t.Errorf("%s %d: Parse(%q, %q): %v", r, pt, nat, r, err)
				continue
			}
			national++
			if m != n {
				t.Errorf("%s %d: national %+v, international %+v", r, pt, m.fields(), n.fields())
			}
		}
	}
	for _, typ := range []Type{Mobile, FixedLine, FixedLineOrMobile, VoIP, TollFree, PremiumRate, SharedCost, UAN, Pager, Voicemail, PersonalNumber} {
		if !seen[typ] {
			t.Errorf("no example number of type %q", typ)
		}
	}
	t.Logf("%d example numbers, %d also in national format", parsed, national)
}

func TestMask(t *testing.T) {
	tests := []struct {
		intl, e164 string
		code       int
		want       string
	}{
		{"+1 415-555-0123", "+14155550123", 1, "+1 ••• ••• 0123"},
		{"+44 7400 123456", "+447400123456", 44, "+44 •••• ••3456"},
		{"+687 75.12.34", "+687751234", 687, "+687 •• •2 34"},
		{"+683 7012", "+6837012", 683, "+683 ••12"},
		{"+247 40123", "+24740123", 247, "+247 •••23"},
		{"+298 211234", "+298211234", 298, "+298 •••234"},
		{"+1 310-1234", "+13101234", 1, "+1 ••• •234"},
		// Formats phonenumbers does not give: mask the bare number.
		{"1 415-555-0123", "+14155550123", 1, "+1 ••••••0123"},
		{"+1 415-555-01234", "+14155550123", 1, "+1 ••••••0123"},
		{"+1 415-555", "+14155550123", 1, "+1 ••••••0123"},
		{"+14 415-555-0123", "+14155550123", 1, "+1 ••••••0123"},
		{"", "+14155550123", 1, "+1 ••••••0123"},
	}
	for _, tt := range tests {
		if got := mask(tt.intl, tt.e164, tt.code); got != tt.want {
			t.Errorf("mask(%q, %q, %d) = %q, want %q", tt.intl, tt.e164, tt.code, got, tt.want)
		}
	}
}

func TestCanReceiveSMS(t *testing.T) {
	tests := []struct {
		typ           Type
		noVoIP, voIP  bool
		exampleNumber string
	}{
		{Mobile, true, true, "+44 7400 123456"},
		{FixedLineOrMobile, true, true, "+1 415 555 0123"},
		{PersonalNumber, true, true, "+44 70 1234 5678"},
		{FixedLine, true, true, "+44 121 234 5678"},
		{VoIP, false, true, "+44 56 1234 5678"},
		{TollFree, false, false, "+1 800 234 5678"},
		{PremiumRate, false, false, "+1 900 234 5678"},
		{SharedCost, false, false, "+49 180 1 2345"},
		{UAN, false, false, "+44 55 1234 5678"},
		{Pager, false, false, "+44 76 4012 3456"},
		{Voicemail, false, false, "+49 177 99 1234567"},
		{Unknown, true, true, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			n := Number{e164: "+10000000000", typ: tt.typ, code: 1}
			if tt.exampleNumber != "" {
				var err error
				if n, err = Parse(tt.exampleNumber, ""); err != nil {
					t.Fatal(err)
				}
				if n.Type() != tt.typ {
					t.Fatalf("Type() = %q, want %q", n.Type(), tt.typ)
				}
			}
			if got := n.CanReceiveSMS(false); got != tt.noVoIP {
				t.Errorf("CanReceiveSMS(false) = %v, want %v", got, tt.noVoIP)
			}
			if got := n.CanReceiveSMS(true); got != tt.voIP {
				t.Errorf("CanReceiveSMS(true) = %v, want %v", got, tt.voIP)
			}
		})
	}
	t.Run("zero", func(t *testing.T) {
		var n Number
		if n.CanReceiveSMS(false) || n.CanReceiveSMS(true) {
			t.Error("zero Number can receive SMS")
		}
	})
}

func TestTypes(t *testing.T) {
	seen := map[Type]phonenumbers.PhoneNumberType{}
	for pt := phonenumbers.FIXED_LINE; pt <= phonenumbers.UNKNOWN; pt++ {
		typ := typeOf(pt)
		if prev, ok := seen[typ]; ok {
			t.Errorf("phonenumbers types %d and %d both map to %q", prev, pt, typ)
		}
		seen[typ] = pt
		if (typ == Unknown) != (pt == phonenumbers.UNKNOWN) {
			t.Errorf("typeOf(%d) = %q", pt, typ)
		}
	}
	if got := typeOf(phonenumbers.UNKNOWN + 1); got != Unknown {
		t.Errorf("typeOf(out of range) = %q, want Unknown", got)
	}
}

func TestZero(t *testing.T) {
	var n Number
	if !n.IsZero() {
		t.Error("IsZero() = false")
	}
	if n.E164() != "" || n.Country() != "" || n.CallingCode() != 0 || n.Mask() != "" || n.Prefix() != "" || n.String() != "" {
		t.Errorf("zero Number has fields %s, prefix %q", n.fields(), n.Prefix())
	}
	if n.Type() != Unknown {
		t.Errorf("Type() = %q, want Unknown", n.Type())
	}
}

// TestPrinting checks that no way of printing or logging a Number by accident
// shows its digits.
func TestPrinting(t *testing.T) {
	n, err := Parse("+44 7400 123456", "")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "74001"
	const mask = "+44 •••• ••3456"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%X", "%q", "%10v", "%-20s"} {
		got := fmt.Sprintf(verb, n)
		if strings.Contains(got, secret) {
			t.Errorf("Sprintf(%q) = %q shows the number", verb, got)
		}
		if !strings.Contains(got, "••3456") {
			t.Errorf("Sprintf(%q) = %q, want the mask", verb, got)
		}
	}
	if got := fmt.Sprintf("%v", []Number{n}); got != "["+mask+"]" {
		t.Errorf("Sprintf of a slice = %q", got)
	}
	if got := fmt.Sprintf("%+v", struct{ N Number }{n}); got != "{N:"+mask+"}" {
		t.Errorf("Sprintf of a struct = %q", got)
	}
	if got := fmt.Sprint(n); got != mask {
		t.Errorf("Sprint = %q, want %q", got, mask)
	}

	var buf bytes.Buffer
	text := slog.New(slog.NewTextHandler(&buf, nil))
	text.Info("sent", "number", n, slog.Any("any", n), slog.Group("g", "n", n))
	json := slog.New(slog.NewJSONHandler(&buf, nil))
	json.Info("sent", "number", n)
	out := buf.String()
	if strings.Contains(out, secret) {
		t.Errorf("log output shows the number: %s", out)
	}
	if c := strings.Count(out, mask); c != 4 {
		t.Errorf("log output holds the mask %d times, want 4: %s", c, out)
	}
}

func TestParseConcurrent(t *testing.T) {
	inputs := [][2]string{{"+14155550123", ""}, {"07400 123456", "GB"}, {"011 44 7400 123456", "US"}, {"abc", ""}, {"090-1234-5678", "JP"}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				for _, in := range inputs {
					_, _ = Parse(in[0], in[1])
				}
			}
		})
	}
	wg.Wait()
}

// TestImports keeps phone a leaf: the standard library, no I/O, and
// phonenumbers.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"errors": true, "fmt": true, "log/slog": true, "strconv": true, "strings": true,
		"github.com/nyaruka/phonenumbers": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range [][2]string{
		{"+1 415 555 0123", ""}, {"(415) 555-0123", "US"}, {"001 415 555 0123", "US"}, {"011 44 7400 123456", "us"},
		{"07400 123456", "GB"}, {"+49 1512 3456789", ""}, {"06 12 34 56 78", "FR"}, {"+91 81234 56789", ""},
		{"(11) 96123-4567", "BR"}, {"0802 123 4567", "NG"}, {"090-1234-5678", "JP"}, {"0412 345 678", "AU"},
		{"+52 222 123 4567", ""}, {"071 123 4567", "ZA"}, {"+683 7012", ""}, {"+687 75.12.34", ""}, {"+800 1234 5678", ""},
		{"+39 06 1234 5678", ""}, {"+1 310 1234", ""}, {"+44 (0) 7400 123456", ""}, {"00", "ZZ"}, {"+", ""},
		{"abc", ""}, {"+１４１５５５５０１２３", ""}, {"+1415555\x000123", ""}, {"1-800-FLOWERS", "US"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		n, err := Parse(raw, region)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			if !n.IsZero() {
				t.Fatalf("non-zero Number with error")
			}
			checkError(t, err)
			return
		}
		if n.IsZero() {
			t.Fatal("zero Number without error")
		}
		checkNumber(t, n)
	})
}

func BenchmarkParse(b *testing.B) {
	for _, bm := range []struct{ name, raw, region string }{
		{"e164", "+14155550123", ""},
		{"international", "+44 7400 123456", ""},
		{"national", "(415) 555-0123", "US"},
		{"00 retry", "001 415 555 0123", "US"},
		{"invalid", "+1 415 555", ""},
		{"bad character", "1-800-FLOWERS", "US"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Parse(bm.raw, bm.region)
			}
		})
	}
}
