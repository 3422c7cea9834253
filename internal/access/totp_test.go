package access

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// rfcSecret is the SHA-1 seed of the test vectors of RFC 4226 and RFC 6238.
var rfcSecret = []byte("12345678901234567890")

func TestHOTPVectors(t *testing.T) {
	// RFC 4226 appendix D.
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := hotp(rfcSecret, uint64(i), 6); got != w {
			t.Errorf("HOTP(%d) = %s, want %s", i, got, w)
		}
	}
}

func TestTOTPVectors(t *testing.T) {
	// RFC 6238 appendix B, SHA-1 rows: 8 digits there; our 6 are their last 6.
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		at := time.Unix(tc.unix, 0)
		if got := hotp(rfcSecret, uint64(totpStep(at)), 8); got != tc.want {
			t.Errorf("TOTP-8 at %d = %s, want %s", tc.unix, got, tc.want)
		}
		if got := totpCode(rfcSecret, at); got != tc.want[2:] {
			t.Errorf("TOTP-6 at %d = %s, want %s", tc.unix, got, tc.want[2:])
		}
	}
}

func TestCheckTOTP(t *testing.T) {
	now := time.Unix(1111111111, 0)
	step := totpStep(now)
	code := func(d time.Duration) string { return totpCode(rfcSecret, now.Add(d)) }
	for _, tc := range []struct {
		name     string
		code     string
		last     int64
		want     totpResult
		wantStep int64
	}{
		{"now", code(0), 0, totpOK, step},
		{"one step early", code(-30 * time.Second), 0, totpOK, step - 1},
		{"one step late", code(30 * time.Second), 0, totpOK, step + 1},
		{"two steps early", code(-60 * time.Second), 0, totpWrong, 0},
		{"two steps late", code(60 * time.Second), 0, totpWrong, 0},
		{"replay of the last step", code(0), step, totpReplay, step},
		{"older than the last step", code(-30 * time.Second), step, totpReplay, step - 1},
		{"newer than the last step", code(30 * time.Second), step, totpOK, step + 1},
		{"wrong", "000000", 0, totpWrong, 0},
		{"short", code(0)[:5], 0, totpWrong, 0},
		{"long", code(0) + "0", 0, totpWrong, 0},
		{"not digits", "12345a", 0, totpWrong, 0},
		{"empty", "", 0, totpWrong, 0},
	} {
		if tc.name == "wrong" && code(0) == "000000" {
			continue
		}
		gotStep, got := checkTOTP(rfcSecret, tc.code, now, tc.last)
		if got != tc.want || (got != totpWrong && gotStep != tc.wantStep) {
			t.Errorf("%s: checkTOTP = %d, %v; want %d, %v", tc.name, gotStep, got, tc.wantStep, tc.want)
		}
	}
}

func TestOTPAuthURL(t *testing.T) {
	u, err := url.Parse(otpauthURL("ringfence", "ann@example.com", rfcSecret))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || !strings.HasSuffix(u.Path, "ringfence:ann@example.com") ||
		q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("digits") != "6" || q.Get("period") != "30" ||
		q.Get("algorithm") != "SHA1" || q.Get("issuer") != "ringfence" {
		t.Errorf("otpauth URL %s", u)
	}
}
