package access

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Passwords are hashed with argon2id (RFC 9106) and stored as PHC strings:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>, salt and hash in unpadded
// standard base64.

const (
	saltLen = 16
	hashLen = 32
	// Limits on the parameters read back from a stored hash, so that a
	// corrupt row cannot make one login take minutes or gigabytes.
	maxMemory  = 1 << 21 // KiB: 2 GiB
	maxTime    = 32
	maxThreads = 64
)

var b64 = base64.RawStdEncoding

// hashPassword returns the PHC string of password under fresh salt.
func hashPassword(password string, p Argon2) string {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, hashLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// verifyPassword reports whether password matches a PHC string made by
// hashPassword, comparing in constant time. A malformed hash matches nothing.
func verifyPassword(phc, password string) bool {
	p, salt, want, ok := parsePHC(phc)
	if !ok {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// parsePHC parses an argon2id PHC string, refusing other algorithms and
// versions and parameters beyond sane limits.
func parsePHC(phc string) (p Argon2, salt, hash []byte, ok bool) {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, false
	}
	var m, t, th uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", m, t, th) != parts[3] {
		return p, nil, nil, false
	}
	if th < 1 || th > maxThreads || t < 1 || t > maxTime || m < 8*th || m > maxMemory {
		return p, nil, nil, false
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, false
	}
	hash, err = b64.DecodeString(parts[5])
	if err != nil || len(hash) < 16 || len(hash) > 64 {
		return p, nil, nil, false
	}
	return Argon2{Memory: m, Time: t, Threads: uint8(th)}, salt, hash, true
}
