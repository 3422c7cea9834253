package access

import (
	"regexp"
	"strings"
	"testing"
)

var cheap = Argon2{Memory: 64, Time: 1, Threads: 1}

func TestPasswordHash(t *testing.T) {
	h := hashPassword("correct horse battery staple", cheap)
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q is not an argon2id PHC string", h)
	}
	if h2 := hashPassword("correct horse battery staple", cheap); h2 == h {
		t.Error("two hashes of one password are equal: no fresh salt")
	}
	if !verifyPassword(h, "correct horse battery staple") {
		t.Error("the password does not verify")
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple "} {
		if verifyPassword(h, wrong) {
			t.Errorf("%q verifies", wrong)
		}
	}
	// The parameters come from the stored hash, not from the config.
	strong := hashPassword("pw", Argon2{Memory: 128, Time: 2, Threads: 2})
	if !strings.Contains(strong, "m=128,t=2,p=2") || !verifyPassword(strong, "pw") {
		t.Errorf("hash with other parameters: %q", strong)
	}
}

func TestPasswordHashMalformed(t *testing.T) {
	good := hashPassword("pw", cheap)
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":         "",
		"argon2i":       strings.Replace(good, "argon2id", "argon2i", 1),
		"version":       strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":   strings.Replace(good, "m=64", "m=99999999", 1),
		"zero time":     strings.Replace(good, "t=1", "t=0", 1),
		"zero threads":  strings.Replace(good, "p=1", "p=0", 1),
		"param spacing": strings.Replace(good, "m=64,", "m=64, ", 1),
		"leading zero":  strings.Replace(good, "m=64", "m=064", 1),
		"bad salt":      strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!", parts[5]}, "$"),
		"short hash":    strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"extra field":   good + "$x",
	} {
		if verifyPassword(h, "pw") {
			t.Errorf("%s: %q verifies", name, h)
		}
	}
}
