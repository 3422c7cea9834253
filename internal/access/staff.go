package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Password length limits, in characters. Long passphrases are welcome;
// the upper bound keeps hashing cheap to refuse.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// SessionPrefix starts every session token, so that an API can tell them
// from API keys.
const SessionPrefix = "rfs_"

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// sessionTokenLen is the length of a token: the prefix and 32 random bytes
// in 52 base32 characters.
const sessionTokenLen = len(SessionPrefix) + 52

// IsSessionToken reports whether s has the shape of a session token.
func IsSessionToken(s string) bool {
	if len(s) != sessionTokenLen || !strings.HasPrefix(s, SessionPrefix) {
		return false
	}
	for _, c := range s[len(SessionPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// tokenHash is what the store keeps of a session token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func newSessionToken() string {
	var b [32]byte
	rand.Read(b[:])
	return SessionPrefix + strings.ToLower(tokenEncoding.EncodeToString(b[:]))
}

// normalizeEmail trims and lower-cases an email and checks its shape; ok is
// false for anything that cannot be an address.
func normalizeEmail(email string) (string, bool) {
	e := strings.ToLower(strings.TrimSpace(email))
	local, domain, found := strings.Cut(e, "@")
	if !found || local == "" || domain == "" || len(e) > 254 || strings.Contains(domain, "@") {
		return "", false
	}
	for _, c := range e {
		if c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' {
			return "", false
		}
	}
	return e, utf8.ValidString(e)
}

// Enrollment is what a new staff member needs to set up their authenticator
// app. It is shown once; the secret is stored sealed.
type Enrollment struct {
	Secret string // base32
	URL    string // otpauth://totp/...
}

// CreateStaff adds a staff account with a password and a fresh TOTP secret.
// actor names who created it in the audit log. A bad email, role or
// password is ErrInvalidRequest; a taken email is ErrConflict.
func (s *Service) CreateStaff(ctx context.Context, actor, email string, role Role, password string) (*Staff, *Enrollment, error) {
	email, ok := normalizeEmail(email)
	if !ok || !role.Valid() {
		return nil, nil, ErrInvalidRequest
	}
	if n := utf8.RuneCountInString(password); n < MinPasswordLen || n > MaxPasswordLen || !utf8.ValidString(password) {
		return nil, nil, fmt.Errorf("%w: password must be %d to %d characters", ErrInvalidRequest, MinPasswordLen, MaxPasswordLen)
	}
	secret := newTOTPSecret()
	st := &Staff{
		ID:           vault.NewID("stf"),
		Email:        email,
		Role:         role,
		PasswordHash: hashPassword(password, s.cfg.Argon2),
		CreatedAt:    s.clock(),
	}
	st.TOTPSealed = s.keys.Seal(secret, totpAAD(st.ID))
	err := s.write(ctx, func(tx Tx) error {
		if err := tx.InsertStaff(st); err != nil {
			return err
		}
		return tx.AppendEvents(verify.Event{Type: "staff.created", Actor: actor, Detail: st.ID + " " + string(role), At: st.CreatedAt})
	})
	if err != nil {
		return nil, nil, err
	}
	return st, &Enrollment{Secret: totpEncoding.EncodeToString(secret), URL: otpauthURL(s.cfg.Issuer, email, secret)}, nil
}

func totpAAD(staffID string) []byte { return []byte("totp:" + staffID) }

// RekeyTOTP returns a staff member's sealed TOTP secret sealed again under
// the newest number key, and false if it already is; for re-encryption.
func RekeyTOTP(keys *vault.Keyring, staffID string, sealed []byte) ([]byte, bool, error) {
	if keys.SealedCurrent(sealed) {
		return nil, false, nil
	}
	secret, err := keys.Open(sealed, totpAAD(staffID))
	if err != nil {
		return nil, false, fmt.Errorf("open totp secret: %w", err)
	}
	return keys.Seal(secret, totpAAD(staffID)), true, nil
}

// Staff returns a staff account; ErrNotFound if unknown.
func (s *Service) Staff(ctx context.Context, id string) (*Staff, error) {
	if !vault.ValidID("stf", id) {
		return nil, ErrNotFound
	}
	return s.store.Staff(ctx, id)
}

// ListStaff lists every staff account, oldest first.
func (s *Service) ListStaff(ctx context.Context) ([]*Staff, error) { return s.store.ListStaff(ctx) }

// DisableStaff disables an account and ends its sessions; disabling a
// disabled account changes nothing.
func (s *Service) DisableStaff(ctx context.Context, actor, id string) (*Staff, error) {
	if !vault.ValidID("stf", id) {
		return nil, ErrNotFound
	}
	var out *Staff
	err := s.write(ctx, func(tx Tx) error {
		st, err := tx.Staff(id)
		if err != nil {
			return err
		}
		out = st
		if !st.DisabledAt.IsZero() {
			return nil
		}
		st.DisabledAt = s.clock()
		if err := tx.UpdateStaff(st); err != nil {
			return err
		}
		if err := tx.DeleteSessionsOf(id, time.Time{}, time.Time{}); err != nil {
			return err
		}
		return tx.AppendEvents(verify.Event{Type: "staff.disabled", Actor: actor, Detail: id, At: st.DisabledAt})
	})
	return out, err
}

// Login checks an email, a password and a TOTP code and opens a session,
// returning its token. Any wrong part is ErrBadLogin, whichever it was; an
// unknown email costs the same password hash and write as a known one. Failures in a
// row lock the account: the one that reaches MaxFailures sets the lock, and
// every login until it ends is a *LockedError. A TOTP code is accepted
// once.
func (s *Service) Login(ctx context.Context, email, password, code string) (string, *Session, *Staff, error) {
	email, ok := normalizeEmail(email)
	var st *Staff
	var err error
	if ok {
		st, err = s.store.StaffByEmail(ctx, email)
	}
	if !ok || errors.Is(err, ErrNotFound) {
		// The same work as a wrong password for a real account: one hash
		// and one write (the event names no email), so neither the time
		// nor the answer tells which emails have accounts.
		s.checkPassword(s.dummyHash, password)
		ev := verify.Event{Type: "staff.login_failed", Detail: "unknown_account", At: s.clock()}
		if err := s.write(ctx, func(tx Tx) error { return tx.AppendEvents(ev) }); err != nil {
			return "", nil, nil, err
		}
		return "", nil, nil, ErrBadLogin
	}
	if err != nil {
		return "", nil, nil, err
	}
	now := s.clock()
	if now.Before(st.LockedUntil) {
		return "", nil, nil, &LockedError{Until: st.LockedUntil}
	}
	passOK := s.checkPassword(st.PasswordHash, password)
	var (
		step   int64
		result = totpWrong
	)
	if passOK {
		secret, err := s.keys.Open(st.TOTPSealed, totpAAD(st.ID))
		if err != nil {
			return "", nil, nil, fmt.Errorf("open totp secret: %w", err)
		}
		step, result = checkTOTP(secret, code, now, st.TOTPLastStep)
	}

	token := newSessionToken()
	sess := &Session{Hash: tokenHash(token), StaffID: st.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL), LastSeenAt: now}
	var refused error
	err = s.write(ctx, func(tx Tx) error {
		refused = nil
		cur, err := tx.Staff(st.ID)
		if err != nil {
			return err
		}
		if now.Before(cur.LockedUntil) {
			refused = &LockedError{Until: cur.LockedUntil}
			return nil
		}
		if !cur.DisabledAt.IsZero() {
			refused = ErrBadLogin
			return nil
		}
		ev := verify.Event{Actor: cur.ID, At: now}
		// The replay check runs again on the row just locked, so two logins
		// with one code cannot both pass.
		r := result
		if r == totpOK && step <= cur.TOTPLastStep {
			r = totpReplay
		}
		if !passOK || r != totpOK {
			refused = ErrBadLogin
			cur.FailedLogins++
			ev.Type, ev.Detail = "staff.login_failed", failureDetail(passOK, r)
			events := []verify.Event{ev}
			if cur.FailedLogins >= s.cfg.MaxFailures {
				cur.FailedLogins = 0
				cur.LockedUntil = now.Add(s.cfg.Lockout)
				events = append(events, verify.Event{Type: "staff.locked", Actor: cur.ID, At: now})
			}
			if err := tx.UpdateStaff(cur); err != nil {
				return err
			}
			return tx.AppendEvents(events...)
		}
		cur.FailedLogins, cur.LockedUntil, cur.TOTPLastStep = 0, time.Time{}, step
		if err := tx.UpdateStaff(cur); err != nil {
			return err
		}
		if err := tx.DeleteSessionsOf(cur.ID, now, now.Add(-s.cfg.SessionIdle)); err != nil {
			return err
		}
		if err := tx.InsertSession(sess); err != nil {
			return err
		}
		st = cur
		ev.Type = "staff.login"
		return tx.AppendEvents(ev)
	})
	if err != nil {
		return "", nil, nil, err
	}
	if refused != nil {
		return "", nil, nil, refused
	}
	return token, sess, st, nil
}

func failureDetail(passOK bool, r totpResult) string {
	switch {
	case !passOK:
		return "password"
	case r == totpReplay:
		return "totp_replay"
	}
	return "totp"
}

// touchEvery is how stale a session's LastSeenAt may grow before a request
// writes it again; it bounds the writes sessions cost.
const touchEvery = time.Minute

// Authenticate returns the staff member of a session token: one that has
// not expired, been idle too long, or been logged out, of an account that
// is not disabled. Anything else is ErrUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, token string) (*Staff, error) {
	if !IsSessionToken(token) {
		return nil, ErrUnauthenticated
	}
	hash := tokenHash(token)
	sess, err := s.store.Session(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	now := s.clock()
	if !now.Before(sess.ExpiresAt) || !now.Before(sess.LastSeenAt.Add(s.cfg.SessionIdle)) {
		return nil, ErrUnauthenticated
	}
	st, err := s.store.Staff(ctx, sess.StaffID)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if !st.DisabledAt.IsZero() {
		return nil, ErrUnauthenticated
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.write(ctx, func(tx Tx) error { return tx.TouchSession(hash, now) }); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Logout ends the session of a token; an unknown token changes nothing.
func (s *Service) Logout(ctx context.Context, token string) error {
	if !IsSessionToken(token) {
		return nil
	}
	return s.write(ctx, func(tx Tx) error { return tx.DeleteSession(tokenHash(token)) })
}
