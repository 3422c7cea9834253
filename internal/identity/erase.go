package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Errors of erasure.
var (
	// ErrErased means the subject was erased already.
	ErrErased = errors.New("subject erased")
	// ErrConfirm means an erasure did not carry the subject id (and, for
	// a person's own erasure, ConfirmWord) as its confirmation.
	ErrConfirm = errors.New("erasure not confirmed")
	// ErrEvidence means a person's own erasure did not come with a fresh,
	// approved verification of a number bound to the subject.
	ErrEvidence = errors.New("erasure evidence is not a fresh approved verification of the subject's number")
)

// Tombstone modes: what a signup with the number of an erased subject gets.
const (
	TombstoneOff    = "off"    // nothing is kept
	TombstoneRefuse = "refuse" // the signup start is refused (403 blocked, reason erased_number)
	TombstoneFlag   = "flag"   // the signup goes ahead and the audit log notes it
)

// Erasure is what the store destroys when a subject is erased.
type Erasure struct {
	SubjectID string
	// PhoneIndexes are the blind indexes, under every index key version, of
	// every number the subject had: verifications of those numbers lose
	// their sealed number too.
	PhoneIndexes [][]byte
	Actor        string
	At           time.Time
}

// dataKeyAAD binds a wrapped data key to its subject.
func dataKeyAAD(subjectID string) []byte { return []byte("subject-key:" + subjectID) }

// bindingAAD binds a sealed number to its binding's subject.
func bindingAAD(subjectID string) []byte { return []byte("binding:" + subjectID) }

// OpenBinding returns the number of a binding. wrapped is the subject's
// wrapped data key (nil if it has none), unwrapped by keys.Wrapper(): a
// number sealed under the data key is opened with it, one sealed before
// data keys with the keyring. A number whose data key is gone is
// vault.ErrErased.
func OpenBinding(keys *vault.Keyring, wrapped []byte, b *Binding) ([]byte, error) {
	if !vault.DataKeySealed(b.PhoneSealed) {
		return keys.Open(b.PhoneSealed, bindingAAD(b.SubjectID))
	}
	if wrapped == nil {
		return nil, vault.ErrErased
	}
	dk, err := openDataKey(keys.Wrapper(), b.SubjectID, wrapped)
	if err != nil {
		return nil, err
	}
	return dk.Open(b.PhoneSealed, bindingAAD(b.SubjectID))
}

func openDataKey(w vault.KeyWrapper, subjectID string, wrapped []byte) (*vault.DataKey, error) {
	raw, err := w.Unwrap(wrapped, dataKeyAAD(subjectID))
	if err != nil {
		return nil, fmt.Errorf("unwrap subject key: %w", err)
	}
	return vault.OpenDataKey(raw)
}

// RewrapDataKey returns a subject's wrapped data key rewrapped under the
// newest wrapping key, and false if it already is; for re-encryption.
func RewrapDataKey(w vault.KeyWrapper, subjectID string, wrapped []byte) ([]byte, bool, error) {
	if w.Current(wrapped) {
		return nil, false, nil
	}
	raw, err := w.Unwrap(wrapped, dataKeyAAD(subjectID))
	if err != nil {
		return nil, false, fmt.Errorf("unwrap subject key: %w", err)
	}
	out, err := w.Wrap(raw, dataKeyAAD(subjectID))
	if err != nil {
		return nil, false, fmt.Errorf("wrap subject key: %w", err)
	}
	return out, true, nil
}

// DataKeys reads and stores the subjects' wrapped data keys inside a
// transaction; the store's transaction implements it.
type DataKeys interface {
	SubjectKey(subjectID string) ([]byte, error) // ErrNotFound
	InsertSubjectKey(subjectID string, wrapped []byte, at time.Time) error
}

// DataKey returns a subject's data key, creating and storing one, wrapped
// by keys.Wrapper(), if the subject has none yet.
func DataKey(keys *vault.Keyring, tx DataKeys, subjectID string, now time.Time) (*vault.DataKey, error) {
	wrapped, err := tx.SubjectKey(subjectID)
	if err == nil {
		return openDataKey(keys.Wrapper(), subjectID, wrapped)
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	raw := vault.NewDataKey()
	if wrapped, err = keys.Wrapper().Wrap(raw, dataKeyAAD(subjectID)); err != nil {
		return nil, fmt.Errorf("wrap subject key: %w", err)
	}
	if err := tx.InsertSubjectKey(subjectID, wrapped, now); err != nil {
		return nil, err
	}
	return vault.OpenDataKey(raw)
}

// SealNumber seals a binding's number under its subject's data key.
func SealNumber(dk *vault.DataKey, subjectID string, e164 []byte) []byte {
	return dk.Seal(e164, bindingAAD(subjectID))
}

// openNumber opens a binding's number from outside a transaction.
func (s *Service) openNumber(ctx context.Context, b *Binding) ([]byte, error) {
	wrapped, err := s.store.SubjectKey(ctx, b.SubjectID)
	if errors.Is(err, ErrNotFound) {
		wrapped, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return OpenBinding(s.keys, wrapped, b)
}

// Erased is what an erasure did.
type Erased struct {
	SubjectID  string
	At         time.Time
	Numbers    int // bindings destroyed
	Tombstones int // tombstones written
}

// Erase destroys a subject: its data key, so that every number and call
// transcript sealed under it is unreadable everywhere; its bindings and
// transcripts; the sealed numbers and codes of
// its numbers' verifications. The audit log keeps its events, which never
// held a number. With tombstones on, each of its numbers leaves a tombstone
// index for the configured retention, itself an audit event. confirm must
// repeat the subject id (ErrConfirm). An unknown subject is ErrNotFound, an
// erased one ErrErased.
func (s *Service) Erase(ctx context.Context, id, confirm, actor string) (*Erased, error) {
	if !vault.ValidID("sub", id) {
		return nil, ErrNotFound
	}
	if confirm != id {
		return nil, ErrConfirm
	}
	return s.erase(ctx, id, verify.Event{Actor: actor}, nil)
}

// ConfirmWord is what a person types, beside their subject id, to confirm
// the erasure of their own account.
const ConfirmWord = "DELETE"

// EraseFreshness is how recently the verification that authorises a
// person's own erasure must have been approved; the same as an export's.
const EraseFreshness = 15 * time.Minute

// PurposeUserErasure is the purpose of the subject.erased event of an
// erasure the person asked for themself.
const PurposeUserErasure = "user_erasure"

// OwnErasure is a person's request to erase their own account.
type OwnErasure struct {
	SubjectID string
	// Verification is the id of the approved verification the person
	// signed in with: it must name the subject, be of a number still bound
	// to it and be at most EraseFreshness old.
	Verification string
	Word         string // must be ConfirmWord
	Confirm      string // must repeat SubjectID
	Actor        string
}

// EraseOwn erases a subject at its own request, as Erase does, with the
// purpose PurposeUserErasure and the verification as the event's reference.
// A word or confirmation that is not exactly right is ErrConfirm; a
// verification that is not approved, not the subject's, not of a number
// bound to it or too old is ErrEvidence; an erased subject is ErrErased.
// A refused erasure changes nothing.
func (s *Service) EraseOwn(ctx context.Context, req OwnErasure) (*Erased, error) {
	if !vault.ValidID("sub", req.SubjectID) {
		return nil, ErrNotFound
	}
	if req.Word != ConfirmWord || req.Confirm != req.SubjectID {
		return nil, ErrConfirm
	}
	if !vault.ValidID("ve", req.Verification) {
		return nil, ErrEvidence
	}
	ev := verify.Event{Actor: req.Actor, Purpose: PurposeUserErasure, VerificationID: req.Verification}
	return s.erase(ctx, req.SubjectID, ev, func(tx Tx, now time.Time) error {
		v, err := tx.Verification(req.Verification)
		if errors.Is(err, verify.ErrNotFound) {
			return ErrEvidence
		}
		if err != nil {
			return err
		}
		if v.Status != verify.StatusApproved || v.SubjectID != req.SubjectID || now.Sub(v.ApprovedAt) > EraseFreshness {
			return ErrEvidence
		}
		b, err := tx.BindingByIndex(v.PhoneIndex)
		if errors.Is(err, ErrNotFound) {
			return ErrEvidence
		}
		if err != nil {
			return err
		}
		if b.SubjectID != req.SubjectID || b.Released(now) {
			return ErrEvidence
		}
		return nil
	})
}

// Erased reports whether a subject was erased.
func (s *Service) Erased(ctx context.Context, subjectID string) (bool, error) {
	at, err := s.store.Erased(ctx, subjectID)
	if err != nil {
		return false, err
	}
	return !at.IsZero(), nil
}

// erase destroys subject id in one transaction, after check (if any)
// accepts; ev gives the subject.erased event its actor, purpose and
// reference.
func (s *Service) erase(ctx context.Context, id string, ev verify.Event, check func(tx Tx, now time.Time) error) (*Erased, error) {
	actor := ev.Actor
	var out *Erased
	err := s.store.Write(ctx, func(vtx verify.Tx) error {
		tx, err := asTx(vtx)
		if err != nil {
			return err
		}
		if _, err := tx.Subject(id); errors.Is(err, ErrNotFound) {
			if at, err := tx.Erased(id); err != nil {
				return err
			} else if !at.IsZero() {
				return ErrErased
			}
			return ErrNotFound
		} else if err != nil {
			return err
		}
		now := s.now().UTC().Truncate(time.Millisecond)
		if check != nil {
			if err := check(tx, now); err != nil {
				return err
			}
		}
		bs, err := tx.BindingsOf(id)
		if err != nil {
			return err
		}
		wrapped, err := tx.SubjectKey(id)
		if errors.Is(err, ErrNotFound) {
			wrapped, err = nil, nil
		}
		if err != nil {
			return err
		}
		e := &Erasure{SubjectID: id, Actor: actor, At: now}
		out = &Erased{SubjectID: id, At: now, Numbers: len(bs)}
		var events []verify.Event
		for _, b := range bs {
			e164, err := OpenBinding(s.keys, wrapped, b)
			if err != nil {
				return fmt.Errorf("erase: open binding: %w", err)
			}
			e.PhoneIndexes = append(e.PhoneIndexes, s.keys.BlindIndexes("phone", string(e164))...)
			if s.cfg.Tombstone == TombstoneOff {
				continue
			}
			tombs, err := s.keys.TombstoneIndexes(string(e164))
			if err != nil {
				return err
			}
			if err := tx.InsertTombstone(tombs[0], now, now.Add(s.cfg.TombstoneRetention)); err != nil {
				return err
			}
			out.Tombstones++
			events = append(events, verify.Event{Type: "tombstone.created", Actor: actor, Purpose: "abuse_prevention",
				SubjectID: id, PhoneIndex: b.PhoneIndex, Detail: s.cfg.Tombstone, At: now})
		}
		if err := tx.EraseSubject(e); err != nil {
			return err
		}
		ev.Type, ev.SubjectID, ev.Detail, ev.At = "subject.erased", id, fmt.Sprintf("bindings:%d", len(bs)), now
		events = append(events, ev)
		return tx.AppendEvents(events...)
	})
	if err != nil {
		return nil, err
	}
	if c, ok := s.store.(compacter); ok {
		if err := c.Compact(ctx); err != nil {
			return nil, fmt.Errorf("erase: %w", err)
		}
	}
	return out, nil
}

// compacter is a store that can make deleted data leave its files.
type compacter interface {
	Compact(ctx context.Context) error
}

// tombstoned reports whether a number was erased within the retention.
func (s *Service) tombstoned(ctx context.Context, e164 string) (bool, error) {
	if s.cfg.Tombstone == TombstoneOff {
		return false, nil
	}
	idx, err := s.keys.TombstoneIndexes(e164)
	if err != nil {
		return false, err
	}
	return s.store.Tombstoned(ctx, idx, s.now())
}

// Tombstone returns what an erasure leaves of a number: the tombstone mode
// (TombstoneOff, TombstoneRefuse, TombstoneFlag) and how long it is kept.
func (s *Service) Tombstone() (mode string, retention time.Duration) {
	return s.cfg.Tombstone, s.cfg.TombstoneRetention
}
