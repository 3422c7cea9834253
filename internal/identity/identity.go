// Package identity turns approved verifications into accounts: one subject
// per number, sign-up, login, step-up, recovery, number change, recycled
// numbers, pseudonyms per product and signed "phone verified" tokens.
package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Level is how strongly a subject has been verified.
type Level string

// The verification levels of a subject.
const (
	LevelNone           Level = "none"
	LevelPhone          Level = "phone"
	LevelPhoneAndFactor Level = "phone_and_factor"
)

// Errors of the identity service.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Subject is an account: a random id, never derived from a number.
type Subject struct {
	ID                     string
	CreatedAt              time.Time
	UpdatedAt              time.Time
	FactorAt               time.Time // the application verified another factor
	StepUpAt               time.Time // last approved step-up
	ChangedAt              time.Time // last number change
	LostBindingAt          time.Time // its number went to a new owner (recycled)
	NeedsGuardian          bool
	GuardianConsentAt      time.Time
	GuardianMethod         string // channel the guardian verified by
	GuardianVerificationID string
}

// Binding ties a number (by its blind index) to one subject. The index is
// unique, so a number belongs to one subject at most.
type Binding struct {
	PhoneIndex     []byte
	SubjectID      string
	PhoneSealed    []byte // sealed E.164, aad "binding:"+SubjectID
	Masked         string
	Country        string
	LineType       string
	BoundAt        time.Time
	LastVerifiedAt time.Time
	// ReleaseAt is set on a subject's previous number after a number change
	// made without a fresh step-up; the binding ends then.
	ReleaseAt time.Time
}

// Released reports whether a binding has ended by now.
func (b *Binding) Released(now time.Time) bool {
	return !b.ReleaseAt.IsZero() && !now.Before(b.ReleaseAt)
}

// Audience is an AI product that sees subjects only by its own pseudonym.
type Audience struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Tx is the work identity does inside a verification's transaction; the
// store's transaction implements it beside verify.Tx.
type Tx interface {
	verify.Tx
	Subject(id string) (*Subject, error) // ErrNotFound
	InsertSubject(s *Subject) error
	UpdateSubject(s *Subject) error
	BindingByIndex(phoneIndex []byte) (*Binding, error) // ErrNotFound
	BindingsOf(subjectID string) ([]*Binding, error)    // newest first
	InsertBinding(b *Binding) error
	// UpdateBinding rewrites the binding with b.PhoneIndex, subject included.
	UpdateBinding(b *Binding) error
	DeleteBinding(phoneIndex []byte) error
	InsertAudience(a *Audience) error // ErrConflict on a duplicate name
	// SubjectKey returns a subject's wrapped data key; ErrNotFound if none.
	SubjectKey(subjectID string) ([]byte, error)
	// InsertSubjectKey stores a subject's wrapped data key; ErrConflict if it has one.
	InsertSubjectKey(subjectID string, wrapped []byte, at time.Time) error
	// EraseSubject destroys what e names; ErrNotFound if there is no subject.
	EraseSubject(e *Erasure) error
	// Erased returns when a subject was erased, or the zero time.
	Erased(subjectID string) (time.Time, error)
	// InsertTombstone keeps a tombstone index until expires.
	InsertTombstone(index []byte, at, expires time.Time) error
	// Tombstoned reports whether any of indexes has a live tombstone.
	Tombstoned(indexes [][]byte, now time.Time) (bool, error)
}

// Store keeps subjects, bindings and audiences. Write runs fn in one
// transaction whose Tx also implements identity.Tx.
type Store interface {
	Write(ctx context.Context, fn func(verify.Tx) error) error
	Subject(ctx context.Context, id string) (*Subject, error)
	BindingByIndex(ctx context.Context, phoneIndex []byte) (*Binding, error)
	BindingsOf(ctx context.Context, subjectID string) ([]*Binding, error)
	Audience(ctx context.Context, id string) (*Audience, error)
	Audiences(ctx context.Context) ([]Audience, error)
	SubjectKey(ctx context.Context, subjectID string) ([]byte, error) // ErrNotFound
	Tombstoned(ctx context.Context, indexes [][]byte, now time.Time) (bool, error)
	// Erased returns when a subject was erased, or the zero time.
	Erased(ctx context.Context, subjectID string) (time.Time, error)
}

// Config holds the account rules.
type Config struct {
	Dormancy   time.Duration // a binding unverified this long moves to a new signup (default 90 days, at least 45)
	CoolingOff time.Duration // after a number change, recovery waits this long without another factor (default 7 days)
	StepUpFor  time.Duration // a step-up this recent lets a number change release the old number at once (default 15 min)
	TokenTTL   time.Duration // lifetime of "phone verified" tokens (default 10 min)
	Issuer     string        // the tokens' iss
	// Tombstone is TombstoneOff, TombstoneRefuse or TombstoneFlag (default
	// refuse): what a signup with an erased subject's number gets.
	Tombstone string
	// TombstoneRetention is how long a tombstone is kept (default 365 days).
	TombstoneRetention time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Dormancy:   90 * 24 * time.Hour,
		CoolingOff: 7 * 24 * time.Hour,
		StepUpFor:  15 * time.Minute,
		TokenTTL:   10 * time.Minute,
		Issuer:     "ringfence",

		Tombstone:          TombstoneRefuse,
		TombstoneRetention: 365 * 24 * time.Hour,
	}
}

// MinDormancy is the shortest dormancy allowed: US carriers may reassign a
// number 45 days after it was given up.
const MinDormancy = 45 * 24 * time.Hour

// Service implements verify.Accounts and answers questions about subjects.
type Service struct {
	cfg   Config
	store Store
	keys  *vault.Keyring
	now   func() time.Time
}

var _ verify.Accounts = (*Service)(nil)

// NewService returns a Service; now may be nil for time.Now.
func NewService(cfg Config, store Store, keys *vault.Keyring, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	cfg.Dormancy = max(cfg.Dormancy, MinDormancy)
	if cfg.Tombstone == "" || keys.Newest(vault.PurposeTombstone) == 0 {
		cfg.Tombstone = TombstoneOff // without a tombstone key none is kept
	}
	return &Service{cfg: cfg, store: store, keys: keys, now: now}
}

func asTx(tx verify.Tx) (Tx, error) {
	t, ok := tx.(Tx)
	if !ok {
		return nil, errors.New("identity: store transaction does not implement identity.Tx")
	}
	return t, nil
}

// primary returns a subject's current number: its newest binding not
// released or on its way out.
func primary(bs []*Binding) *Binding {
	for _, b := range bs {
		if b.ReleaseAt.IsZero() {
			return b
		}
	}
	return nil
}

// Number implements verify.Accounts for step_up and recovery: the code goes
// to the subject's own number, so the application never holds it.
func (s *Service) Number(ctx context.Context, req verify.StartRequest) (string, error) {
	sub, err := s.store.Subject(ctx, req.SubjectID)
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%w: unknown subject", verify.ErrInvalidRequest)
	}
	if err != nil {
		return "", err
	}
	now := s.now()
	if req.Purpose == verify.PurposeRecovery && !req.SecondFactor &&
		!sub.ChangedAt.IsZero() && now.Before(sub.ChangedAt.Add(s.cfg.CoolingOff)) {
		return "", &verify.BlockedError{Reasons: []string{"recovery_cooling_off"}}
	}
	bs, err := s.store.BindingsOf(ctx, sub.ID)
	if err != nil {
		return "", err
	}
	b := primary(bs)
	if b == nil {
		return "", verify.ErrNoNumber
	}
	e164, err := s.openNumber(ctx, b)
	if err != nil {
		return "", fmt.Errorf("open binding: %w", err)
	}
	return string(e164), nil
}

// Deliverable implements verify.Accounts: a login code is sent only to a
// number that has an account, found under any index key version; with
// tombstones in refuse mode a signup for an erased number is blocked
// (reason erased_number).
func (s *Service) Deliverable(ctx context.Context, purpose verify.Purpose, e164 string) (bool, error) {
	switch purpose {
	case verify.PurposeSignup:
		if s.cfg.Tombstone != TombstoneRefuse {
			return true, nil
		}
		dead, err := s.tombstoned(ctx, e164)
		if err != nil {
			return false, err
		}
		if dead {
			return false, &verify.BlockedError{Reasons: []string{"erased_number"}}
		}
		return true, nil
	case verify.PurposeLogin:
	default:
		return true, nil
	}
	for _, ix := range oldestFirst(s.keys.BlindIndexes("phone", e164)) {
		b, err := s.store.BindingByIndex(ctx, ix)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		return !b.Released(s.now()), nil
	}
	return false, nil
}

// Approved implements verify.Accounts: it runs in the check's transaction.
func (s *Service) Approved(vtx verify.Tx, v *verify.Verification, now time.Time) (*verify.Outcome, error) {
	tx, err := asTx(vtx)
	if err != nil {
		return nil, err
	}
	a := approval{s: s, tx: tx, v: v, now: now}
	switch v.Purpose {
	case verify.PurposeSignup:
		return a.signup()
	case verify.PurposeLogin, verify.PurposeRecovery:
		return a.login()
	case verify.PurposeStepUp:
		return a.stepUp()
	case verify.PurposePhoneChange:
		return a.phoneChange()
	case verify.PurposeGuardian:
		return a.guardian()
	}
	return nil, nil
}

// Subject returns a subject and its bindings.
func (s *Service) Subject(ctx context.Context, id string) (*Subject, []*Binding, error) {
	if !vault.ValidID("sub", id) {
		return nil, nil, ErrNotFound
	}
	sub, err := s.store.Subject(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	bs, err := s.store.BindingsOf(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	live := bs[:0]
	for _, b := range bs {
		if !b.Released(now) {
			live = append(live, b)
		}
	}
	return sub, live, nil
}

// oldestFirst reverses indexes (newest first, as BlindIndexes gives them).
// Lookups under several index key versions go oldest first: re-encryption
// only moves rows from an older version to the newest, so a row moved
// between two lookups is found by the later one.
func oldestFirst(indexes [][]byte) [][]byte {
	out := make([][]byte, len(indexes))
	for i, ix := range indexes {
		out[len(indexes)-1-i] = ix
	}
	return out
}

// LevelOf is a subject's verification level given its live bindings.
func LevelOf(sub *Subject, bindings []*Binding) Level {
	switch {
	case primary(bindings) == nil:
		return LevelNone
	case !sub.FactorAt.IsZero():
		return LevelPhoneAndFactor
	}
	return LevelPhone
}

// RecordFactor notes that the application verified another factor for the subject.
func (s *Service) RecordFactor(ctx context.Context, id, actor string) (*Subject, error) {
	return s.updateSubject(ctx, id, actor, "subject.factor", func(sub *Subject, now time.Time) {
		sub.FactorAt = now
	})
}

// RequireGuardian marks whether a subject needs a guardian's consent.
func (s *Service) RequireGuardian(ctx context.Context, id, actor string, required bool) (*Subject, error) {
	return s.updateSubject(ctx, id, actor, "subject.guardian_required", func(sub *Subject, now time.Time) {
		sub.NeedsGuardian = required
	})
}

func (s *Service) updateSubject(ctx context.Context, id, actor, event string, fn func(*Subject, time.Time)) (*Subject, error) {
	if !vault.ValidID("sub", id) {
		return nil, ErrNotFound
	}
	var out *Subject
	err := s.store.Write(ctx, func(vtx verify.Tx) error {
		tx, err := asTx(vtx)
		if err != nil {
			return err
		}
		sub, err := tx.Subject(id)
		if err != nil {
			return err
		}
		now := s.now().UTC().Truncate(time.Millisecond)
		fn(sub, now)
		sub.UpdatedAt = now
		if err := tx.UpdateSubject(sub); err != nil {
			return err
		}
		out = sub
		return tx.AppendEvents(verify.Event{Type: event, Actor: actor, SubjectID: id, At: now})
	})
	return out, err
}

// CreateAudience registers an AI product.
func (s *Service) CreateAudience(ctx context.Context, name, actor string) (*Audience, error) {
	a := &Audience{ID: vault.NewID("aud"), Name: name, CreatedAt: s.now().UTC().Truncate(time.Millisecond)}
	err := s.store.Write(ctx, func(vtx verify.Tx) error {
		tx, err := asTx(vtx)
		if err != nil {
			return err
		}
		if err := tx.InsertAudience(a); err != nil {
			return err
		}
		return tx.AppendEvents(verify.Event{Type: "audience.created", Actor: actor, Detail: a.ID, At: a.CreatedAt})
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Audience returns one registered AI product; ErrNotFound if unknown.
func (s *Service) Audience(ctx context.Context, id string) (*Audience, error) {
	if !vault.ValidID("aud", id) {
		return nil, ErrNotFound
	}
	return s.store.Audience(ctx, id)
}

// Audiences lists the registered AI products.
func (s *Service) Audiences(ctx context.Context) ([]Audience, error) { return s.store.Audiences(ctx) }

// Pseudonym is the name an audience knows a subject by: HMAC(audience key,
// subject id), stable for that audience, unlinkable across audiences.
func (s *Service) Pseudonym(audienceID, subjectID string) string {
	return s.keys.Pseudonym(audienceID, subjectID)
}
