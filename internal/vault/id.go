package vault

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"strings"
	"time"
)

// idAlphabet is lower-case RFC 4648 base32.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// idEncoding writes ids and pseudonyms.
var idEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

// idLen is the length of the random part of an id: 16 bytes in base32.
const idLen = 26

// NewID returns a new random id: prefix, "_", and 16 bytes from crypto/rand
// as 26 characters of lower-case base32 without padding, such as
// "ve_bdmjag4si3ude42574noj2jpry".
func NewID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// NewOrderedID returns an id of the same shape as NewID whose first 6 bytes
// are the time in unix milliseconds (big-endian) and the other 10 from
// crypto/rand: 80 random bits, as unguessable as an id needs to be, and ids
// made close in time share their first characters, so rows keyed by them
// are written to the same few pages of an index instead of anywhere in it.
// For ids whose time is no secret (a verification's is in its answer); a
// subject's id stays NewID.
func NewOrderedID(prefix string, now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// ValidID reports whether id has exactly the shape NewID(prefix) gives it.
// It rejects other prefixes, other lengths, upper case, characters outside
// base32, and a last character with nonzero padding bits, so that each id
// has a single spelling.
func ValidID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != idLen {
		return false
	}
	for i := 0; i < idLen; i++ {
		if strings.IndexByte(idAlphabet, rest[i]) < 0 {
			return false
		}
	}
	// 26 characters carry 130 bits; the last 2 are padding and must be zero.
	return strings.IndexByte(idAlphabet, rest[idLen-1])&3 == 0
}

// RandomDigits returns n decimal digits drawn uniformly from crypto/rand,
// for one-time codes. Leading zeros are kept. It panics unless 4 <= n <= 10.
func RandomDigits(n int) string {
	if n < 4 || n > 10 {
		panic("vault: RandomDigits length " + strconv.Itoa(n) + " outside 4..10")
	}
	out := make([]byte, 0, n)
	var buf [16]byte
	for len(out) < n {
		rand.Read(buf[:])
		for _, b := range buf {
			// Rejecting 250..255 leaves 250 values, 25 per digit: no modulo bias.
			if b < 250 && len(out) < n {
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out)
}
