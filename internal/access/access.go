// Package access lets staff see a number only for a declared purpose, with approvals from other staff.
//
// Staff log in with a password (argon2id) and a TOTP code and get an opaque
// session token. Seeing a subject's full number is a reveal request: a
// purpose from a fixed list, a justification and a ticket; it needs the
// purpose's number of approvals from other staff of an eligible role, before
// its window ends, and is then usable once. Every step is an audit event.
package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Role is what a staff account may do.
type Role string

// The staff roles. Each role may do what the ones before it may:
// a viewer sees the reveal queue and masked data; a reviewer may also
// request reveals; an approver may also approve and deny them; an admin may
// also manage staff.
const (
	RoleViewer   Role = "viewer"
	RoleReviewer Role = "reviewer"
	RoleApprover Role = "approver"
	RoleAdmin    Role = "admin"
)

var roleRank = map[Role]int{RoleViewer: 1, RoleReviewer: 2, RoleApprover: 3, RoleAdmin: 4}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// atLeast reports whether r may do what min may.
func (r Role) atLeast(min Role) bool { return r.Valid() && roleRank[r] >= roleRank[min] }

// Purpose is why a staff member asks to see a number. The list is fixed:
// there is no purpose for marketing or sharing, and unknown purposes are
// refused.
type Purpose string

// The purposes of a reveal.
const (
	PurposeTOSReview       Purpose = "tos_review"       // a terms-of-service or abuse review
	PurposeLegal           Purpose = "legal"            // a legal request (subpoena, court order)
	PurposeRecoverySupport Purpose = "recovery_support" // helping the person recover their account
	PurposeUserExport      Purpose = "user_export"      // the person asked for their own data
)

// Purposes lists every purpose.
var Purposes = []Purpose{PurposeTOSReview, PurposeLegal, PurposeRecoverySupport, PurposeUserExport}

// Valid reports whether p is one of Purposes.
func (p Purpose) Valid() bool { return slices.Contains(Purposes, p) }

// Policy says what a reveal for a purpose needs.
type Policy struct {
	// Approvals is how many staff other than the requester must approve (at least 1).
	Approvals int
	// EligibleRoles may approve and deny.
	EligibleRoles []Role
	// Window is how long a request collects approvals after it is made;
	// then it and its approvals expire.
	Window time.Duration
	// UseWithin is how long an approved reveal may be used after the final approval.
	UseWithin time.Duration
}

// eligible reports whether staff of role r may approve under p.
func (p Policy) eligible(r Role) bool { return slices.Contains(p.EligibleRoles, r) }

// DefaultPolicies are the policies of Config by default: tos_review needs 2
// approvals, legal 3, recovery_support and user_export 1; approvers and
// admins approve; approvals expire after 24 hours and an approved reveal is
// usable for 1 hour.
func DefaultPolicies() map[Purpose]Policy {
	p := func(n int) Policy {
		return Policy{Approvals: n, EligibleRoles: []Role{RoleApprover, RoleAdmin}, Window: 24 * time.Hour, UseWithin: time.Hour}
	}
	return map[Purpose]Policy{
		PurposeTOSReview:       p(2),
		PurposeLegal:           p(3),
		PurposeRecoverySupport: p(1),
		PurposeUserExport:      p(1),
	}
}

// Argon2 holds the argon2id parameters of new password hashes; stored
// hashes carry their own.
type Argon2 struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// Config holds the rules of staff access.
type Config struct {
	Policies    map[Purpose]Policy // one for every purpose
	SessionTTL  time.Duration      // a session ends this long after login (default 12 h)
	SessionIdle time.Duration      // or after this long unused (default 30 min)
	MaxFailures int                // failed logins in a row that lock an account (default 5)
	Lockout     time.Duration      // how long a lock lasts (default 15 min)
	Argon2      Argon2             // default m=64 MiB, t=3, p=2
	Issuer      string             // the TOTP issuer shown by authenticator apps (default "ringfence")
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Policies:    DefaultPolicies(),
		SessionTTL:  12 * time.Hour,
		SessionIdle: 30 * time.Minute,
		MaxFailures: 5,
		Lockout:     15 * time.Minute,
		Argon2:      Argon2{Memory: 64 * 1024, Time: 3, Threads: 2},
		Issuer:      "ringfence",
	}
}

// Validate names the first bad field of c.
func (c Config) Validate() error {
	for _, p := range Purposes {
		pol, ok := c.Policies[p]
		switch {
		case !ok:
			return fmt.Errorf("access: no policy for purpose %s", p)
		case pol.Approvals < 1:
			return fmt.Errorf("access: policy %s: approvals must be at least 1", p)
		case len(pol.EligibleRoles) == 0:
			return fmt.Errorf("access: policy %s: no eligible roles", p)
		case pol.Window <= 0 || pol.UseWithin <= 0:
			return fmt.Errorf("access: policy %s: window and use_within must be positive", p)
		}
		for _, r := range pol.EligibleRoles {
			if !r.atLeast(RoleApprover) {
				return fmt.Errorf("access: policy %s: role %q may not approve", p, r)
			}
		}
	}
	for p := range c.Policies {
		if !p.Valid() {
			return fmt.Errorf("access: policy for unknown purpose %q", p)
		}
	}
	switch {
	case c.SessionTTL <= 0 || c.SessionIdle <= 0:
		return errors.New("access: session_ttl and session_idle must be positive")
	case c.MaxFailures < 1:
		return errors.New("access: max_failures must be at least 1")
	case c.Lockout <= 0:
		return errors.New("access: lockout must be positive")
	case c.Argon2.Memory < 8*uint32(c.Argon2.Threads) || c.Argon2.Time < 1 || c.Argon2.Threads < 1:
		return errors.New("access: bad argon2 parameters")
	}
	return nil
}

// Errors of the access service. The API maps each to a stable code.
var (
	ErrNotFound        = errors.New("access: not found")
	ErrConflict        = errors.New("access: email already taken")
	ErrInvalidRequest  = errors.New("access: invalid request")
	ErrInvalidPurpose  = errors.New("access: unknown purpose")
	ErrBadLogin        = errors.New("access: wrong email, password or code")
	ErrUnauthenticated = errors.New("access: no valid session")
	ErrForbidden       = errors.New("access: role not allowed")
	ErrSelfApproval    = errors.New("access: the requester cannot approve their own request")
	ErrAlreadyApproved = errors.New("access: already approved by this staff member")
	ErrClosed          = errors.New("access: reveal request is no longer pending")
	ErrNotApproved     = errors.New("access: reveal request is not approved")
	ErrDenied          = errors.New("access: reveal request was denied")
	ErrUsed            = errors.New("access: reveal was already used")
	ErrExpired         = errors.New("access: reveal request expired")
)

// LockedError refuses a login while the account is locked.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string { return "access: account locked" }

// Staff is a staff account of the console.
type Staff struct {
	ID           string // "stf_..."
	Email        string // lower case
	Role         Role
	PasswordHash string // argon2id PHC string
	TOTPSealed   []byte // TOTP secret sealed with the vault, aad "totp:"+ID
	TOTPLastStep int64  // the last accepted TOTP time step; a code is never accepted twice
	CreatedAt    time.Time
	DisabledAt   time.Time
	FailedLogins int // failed logins since the last success or lock
	LockedUntil  time.Time
}

// Session is a staff login. The token is never stored, only its SHA-256.
type Session struct {
	Hash       []byte
	StaffID    string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
}

// Status is where a reveal request stands.
type Status string

// The states of a reveal request.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusDenied   Status = "denied"
	StatusUsed     Status = "used"
	StatusExpired  Status = "expired" // never stored: a pending or approved request past its time
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusApproved, StatusDenied, StatusUsed, StatusExpired:
		return true
	}
	return false
}

// Reveal is a request to see a subject's full number once.
type Reveal struct {
	ID              string // "rev_..."
	SubjectID       string
	PhoneIndex      []byte // the binding the approvers saw; the reveal opens only it
	Masked          string
	Purpose         Purpose
	Justification   string
	Ticket          string
	RequestedBy     string // staff id
	ApprovalsNeeded int    // the policy's number at the time of the request
	Status          Status // as stored: pending, approved, denied or used
	CreatedAt       time.Time
	ExpiresAt       time.Time // approvals must all arrive before this
	ApprovedAt      time.Time
	UseBy           time.Time
	UsedAt          time.Time
	DeniedBy        string
	DenyReason      string
	DeniedAt        time.Time
	Approvals       []Approval // oldest first
}

// Approval is one staff member's approval of a reveal request.
type Approval struct {
	StaffID string
	At      time.Time
}

// StatusAt is the status of r at now: a pending request past ExpiresAt and
// an approved one past UseBy are expired.
func (r *Reveal) StatusAt(now time.Time) Status {
	switch {
	case r.Status == StatusPending && !now.Before(r.ExpiresAt),
		r.Status == StatusApproved && !now.Before(r.UseBy):
		return StatusExpired
	}
	return r.Status
}

// Remaining is how many approvals the request still needs.
func (r *Reveal) Remaining() int {
	if r.Status != StatusPending {
		return 0
	}
	return max(0, r.ApprovalsNeeded-len(r.Approvals))
}

func (r *Reveal) approvedBy(staffID string) bool {
	return slices.ContainsFunc(r.Approvals, func(a Approval) bool { return a.StaffID == staffID })
}

// RevealFilter selects reveal requests: by effective status at Now (all when
// Status is empty), newest first, at most Limit.
type RevealFilter struct {
	Status Status
	Now    time.Time
	Limit  int
}

// Tx is the work access does in one write transaction; the store's
// transaction implements it beside verify.Tx and identity.Tx.
type Tx interface {
	AppendEvents(events ...verify.Event) error
	// BindingByIndex reads a binding for update; identity.ErrNotFound if none.
	BindingByIndex(phoneIndex []byte) (*identity.Binding, error)
	// SubjectKey reads a subject's wrapped data key; identity.ErrNotFound if none.
	SubjectKey(subjectID string) ([]byte, error)
	// Staff reads a staff account for update; ErrNotFound if missing.
	Staff(id string) (*Staff, error)
	// InsertStaff adds an account; ErrConflict if its email is taken.
	InsertStaff(s *Staff) error
	// UpdateStaff writes every mutable field of s by ID; ErrNotFound if missing.
	UpdateStaff(s *Staff) error
	InsertSession(s *Session) error
	// TouchSession sets a session's LastSeenAt.
	TouchSession(hash []byte, at time.Time) error
	// DeleteSession removes a session, if it exists.
	DeleteSession(hash []byte) error
	// DeleteSessionsOf removes a staff member's sessions that expired by
	// expiredBy or were last seen before idleBefore; all of them when both
	// times are zero.
	DeleteSessionsOf(staffID string, expiredBy, idleBefore time.Time) error
	// Reveal reads a reveal request and its approvals for update; ErrNotFound if missing.
	Reveal(id string) (*Reveal, error)
	InsertReveal(r *Reveal) error
	// InsertApproval records an approval; ErrAlreadyApproved if that staff
	// member approved the request before.
	InsertApproval(revealID string, a Approval) error
	// UpdateReveal writes r's status and times if its stored status is still
	// from; ErrClosed if it is not.
	UpdateReveal(r *Reveal, from Status) error
}

// Store keeps staff, sessions and reveal requests. Write runs fn in one
// transaction whose Tx also implements access.Tx.
type Store interface {
	Write(ctx context.Context, fn func(verify.Tx) error) error
	// Staff reads a staff account; ErrNotFound if missing.
	Staff(ctx context.Context, id string) (*Staff, error)
	// StaffByEmail reads the account of an email; ErrNotFound if none.
	StaffByEmail(ctx context.Context, email string) (*Staff, error)
	// ListStaff lists every account, oldest first.
	ListStaff(ctx context.Context) ([]*Staff, error)
	// Session reads a session by the hash of its token; ErrNotFound if none.
	Session(ctx context.Context, hash []byte) (*Session, error)
	// Reveal reads a reveal request and its approvals; ErrNotFound if missing.
	Reveal(ctx context.Context, id string) (*Reveal, error)
	// Reveals lists reveal requests by f, with their approvals.
	Reveals(ctx context.Context, f RevealFilter) ([]*Reveal, error)
	// Subject reads a subject; identity.ErrNotFound if missing.
	Subject(ctx context.Context, id string) (*identity.Subject, error)
	// BindingsOf lists a subject's bindings, newest first.
	BindingsOf(ctx context.Context, subjectID string) ([]*identity.Binding, error)
}

// Service runs staff logins and reveal requests.
type Service struct {
	cfg   Config
	store Store
	keys  *vault.Keyring
	now   func() time.Time

	// dummyHash is verified for unknown emails, so a login for an email
	// without an account takes as long as one with a wrong password.
	dummyHash string
	// checkPassword is verifyPassword; tests count its calls.
	checkPassword func(hash, password string) bool
}

// NewService returns a Service; now may be nil for time.Now. It refuses a
// config that does not Validate.
func NewService(cfg Config, store Store, keys *vault.Keyring, now func() time.Time) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "ringfence"
	}
	if now == nil {
		now = time.Now
	}
	s := &Service{cfg: cfg, store: store, keys: keys, now: now, checkPassword: verifyPassword}
	s.dummyHash = hashPassword(vault.NewID("dummy"), cfg.Argon2)
	return s, nil
}

// Policy returns the policy of a purpose; false for an unknown purpose.
func (s *Service) Policy(p Purpose) (Policy, bool) {
	pol, ok := s.cfg.Policies[p]
	return pol, ok
}

// clock returns now in UTC, at the millisecond precision the store keeps.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func asTx(tx verify.Tx) (Tx, error) {
	t, ok := tx.(Tx)
	if !ok {
		return nil, errors.New("access: store transaction does not implement access.Tx")
	}
	return t, nil
}

// write runs fn in one transaction of the store.
func (s *Service) write(ctx context.Context, fn func(tx Tx) error) error {
	return s.store.Write(ctx, func(vtx verify.Tx) error {
		tx, err := asTx(vtx)
		if err != nil {
			return err
		}
		return fn(tx)
	})
}
