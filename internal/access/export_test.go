package access

import "time"

// TOTPCode is the code of a base32 TOTP secret at t, for tests that play
// the authenticator app.
func TOTPCode(secret string, t time.Time) string {
	b, err := totpEncoding.DecodeString(secret)
	if err != nil {
		panic(err)
	}
	return totpCode(b, t)
}

// CountPasswordChecks makes s count its password hash verifications in n.
func CountPasswordChecks(s *Service, n *int) {
	check := s.checkPassword
	s.checkPassword = func(hash, password string) bool {
		*n++
		return check(hash, password)
	}
}
