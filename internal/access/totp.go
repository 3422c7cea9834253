package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"net/url"
	"strconv"
	"time"
)

// TOTP as in RFC 6238 with the parameters every authenticator app supports:
// HMAC-SHA-1 (RFC 4226), 6 digits, 30-second steps from the Unix epoch. A
// code is accepted for the current step and one step either side, and only
// for a step after the last one accepted, so a code is never used twice.
const (
	totpDigits    = 6
	totpPeriod    = 30 // seconds
	totpSkew      = 1  // steps accepted either side of now
	totpSecretLen = 20 // bytes: 160 bits, as RFC 4226 recommends
)

// totpEncoding writes secrets as authenticator apps expect them.
var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newTOTPSecret returns a fresh random secret.
func newTOTPSecret() []byte {
	b := make([]byte, totpSecretLen)
	rand.Read(b)
	return b
}

// hotp is the HOTP value of RFC 4226 with the given number of digits (1-9).
func hotp(secret []byte, counter uint64, digits int) string {
	mac := hmac.New(sha1.New, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	s := strconv.FormatUint(uint64(bin%mod), 10)
	for len(s) < digits {
		s = "0" + s
	}
	return s
}

// totpStep is the time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpCode is the code of secret at t.
func totpCode(secret []byte, t time.Time) string {
	return hotp(secret, uint64(totpStep(t)), totpDigits)
}

// totpResult is the outcome of checking a code.
type totpResult int

const (
	totpWrong  totpResult = iota // no step near now has this code
	totpOK                       // accepted: step is new
	totpReplay                   // the code is right but its step was already used
)

// checkTOTP compares code, in constant time, with the codes of the steps
// around now and returns the newest matching step. last is the last step
// accepted before.
func checkTOTP(secret []byte, code string, now time.Time, last int64) (int64, totpResult) {
	if len(code) != totpDigits {
		return 0, totpWrong
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, totpWrong
		}
	}
	cur := totpStep(now)
	var match int64 = -1
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if step < 0 {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(step), totpDigits)), []byte(code)) == 1 {
			match = step
		}
	}
	switch {
	case match < 0:
		return 0, totpWrong
	case match <= last:
		return match, totpReplay
	}
	return match, totpOK
}

// otpauthURL is the provisioning URI authenticator apps read from a QR code.
func otpauthURL(issuer, account string, secret []byte) string {
	q := url.Values{}
	q.Set("secret", totpEncoding.EncodeToString(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", strconv.Itoa(totpDigits))
	q.Set("period", strconv.Itoa(totpPeriod))
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?" + q.Encode()
}
