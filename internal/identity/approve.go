package identity

import (
	"errors"
	"fmt"

	"time"

	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// approval is one approved verification acting on the accounts.
type approval struct {
	s   *Service
	tx  Tx
	v   *verify.Verification
	now time.Time

	e164    string   // the verified number, once number has run
	indexes [][]byte // its blind index under every index key version
}

func (a *approval) event(typ, subjectID, detail string) verify.Event {
	return verify.Event{Type: typ, Actor: a.v.Actor, Purpose: a.v.Purpose, VerificationID: a.v.ID,
		SubjectID: subjectID, PhoneIndex: a.v.PhoneIndex, Detail: detail, At: a.now}
}

// number opens the verified number and computes its blind index under
// every index key version, newest first, once per approval.
func (a *approval) number() (string, [][]byte, error) {
	if a.indexes == nil {
		e164, err := a.s.keys.Open(a.v.PhoneSealed, []byte("phone:"+a.v.ID))
		if err != nil {
			return "", nil, fmt.Errorf("open verification number: %w", err)
		}
		a.e164, a.indexes = string(e164), a.s.keys.BlindIndexes("phone", string(e164))
	}
	return a.e164, a.indexes, nil
}

// current returns the live binding of the verification's number, or nil;
// a binding whose release time has passed is removed on the way. The
// number is looked up (and locked) under every index key version, so a
// binding written before an index key rotation is found.
func (a *approval) current() (*Binding, error) {
	_, indexes, err := a.number()
	if err != nil {
		return nil, err
	}
	for _, ix := range indexes {
		if err := a.tx.Lock(ix); err != nil {
			return nil, err
		}
	}
	for _, ix := range oldestFirst(indexes) {
		b, err := a.tx.BindingByIndex(ix)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if b.Released(a.now) {
			if err := a.release(b, "released"); err != nil {
				return nil, err
			}
			return nil, nil
		}
		return b, nil
	}
	return nil, nil
}

func (a *approval) release(b *Binding, why string) error {
	if err := a.tx.DeleteBinding(b.PhoneIndex); err != nil {
		return err
	}
	ev := a.event("binding.released", b.SubjectID, why)
	ev.PhoneIndex = b.PhoneIndex
	return a.tx.AppendEvents(ev)
}

// dormant reports whether a binding has gone unverified long enough that
// the number may have been given to someone else.
func (a *approval) dormant(b *Binding) bool {
	return a.now.Sub(b.LastVerifiedAt) > a.s.cfg.Dormancy
}

// seal seals the verified number for a subject's binding, under the
// subject's own data key.
func (a *approval) seal(subjectID string) ([]byte, error) {
	e164, _, err := a.number()
	if err != nil {
		return nil, err
	}
	dk, err := DataKey(a.s.keys, a.tx, subjectID, a.now)
	if err != nil {
		return nil, err
	}
	return SealNumber(dk, subjectID, []byte(e164)), nil
}

func (a *approval) newSubject() (*Subject, error) {
	sub := &Subject{ID: vault.NewID("sub"), CreatedAt: a.now, UpdatedAt: a.now}
	if err := a.tx.InsertSubject(sub); err != nil {
		return nil, err
	}
	if _, err := DataKey(a.s.keys, a.tx, sub.ID, a.now); err != nil {
		return nil, err
	}
	evs := []verify.Event{a.event("subject.created", sub.ID, "")}
	if a.s.cfg.Tombstone == TombstoneFlag {
		e164, _, err := a.number()
		if err != nil {
			return nil, err
		}
		tombs, err := a.s.keys.TombstoneIndexes(e164)
		if err != nil {
			return nil, err
		}
		dead, err := a.tx.Tombstoned(tombs, a.now)
		if err != nil {
			return nil, err
		}
		if dead {
			evs = append(evs, a.event("tombstone.matched", sub.ID, "flagged"))
		}
	}
	return sub, a.tx.AppendEvents(evs...)
}

func (a *approval) bind(subjectID string) error {
	sealed, err := a.seal(subjectID)
	if err != nil {
		return err
	}
	_, indexes, err := a.number()
	if err != nil {
		return err
	}
	b := &Binding{PhoneIndex: indexes[0], SubjectID: subjectID, PhoneSealed: sealed, Masked: a.v.Masked,
		Country: a.v.Country, LineType: a.v.LineType, BoundAt: a.now, LastVerifiedAt: a.now}
	if err := a.tx.InsertBinding(b); err != nil {
		return err
	}
	return a.tx.AppendEvents(a.event("binding.created", subjectID, ""))
}

// recycle moves a dormant binding to a new owner: the old subject keeps its
// data, loses the number and is marked so the application can ask it for
// another factor.
func (a *approval) recycle(b *Binding, to string) error {
	old, err := a.tx.Subject(b.SubjectID)
	if err != nil {
		return err
	}
	old.LostBindingAt, old.UpdatedAt = a.now, a.now
	if err := a.tx.UpdateSubject(old); err != nil {
		return err
	}
	sealed, err := a.seal(to)
	if err != nil {
		return err
	}
	nb := *b
	nb.SubjectID, nb.PhoneSealed, nb.BoundAt, nb.LastVerifiedAt, nb.ReleaseAt = to, sealed, a.now, a.now, time.Time{}
	nb.Masked, nb.Country, nb.LineType = a.v.Masked, a.v.Country, a.v.LineType
	if err := a.tx.UpdateBinding(&nb); err != nil {
		return err
	}
	return a.tx.AppendEvents(
		a.event("subject.lost_binding", old.ID, "recycled"),
		a.event("binding.recycled", to, "from_dormant"),
	)
}

// touch records a fresh proof of possession on a binding.
func (a *approval) touch(b *Binding) error {
	b.LastVerifiedAt = a.now
	return a.tx.UpdateBinding(b)
}

// signup binds the number to a new subject, or names the subject that has it.
func (a *approval) signup() (*verify.Outcome, error) {
	b, err := a.current()
	if err != nil {
		return nil, err
	}
	if b != nil && !a.dormant(b) {
		return &verify.Outcome{SubjectID: b.SubjectID}, a.touch(b)
	}
	sub, err := a.newSubject()
	if err != nil {
		return nil, err
	}
	if b != nil {
		return &verify.Outcome{SubjectID: sub.ID, New: true, Recycled: true}, a.recycle(b, sub.ID)
	}
	return &verify.Outcome{SubjectID: sub.ID, New: true}, a.bind(sub.ID)
}

// login returns the subject bound to the number (also recovery, whose code
// went to the subject's own number).
func (a *approval) login() (*verify.Outcome, error) {
	b, err := a.current()
	if err != nil || b == nil {
		return &verify.Outcome{}, err
	}
	if a.v.SubjectID != "" && a.v.SubjectID != b.SubjectID {
		return &verify.Outcome{}, nil // the number moved since the start
	}
	return &verify.Outcome{SubjectID: b.SubjectID}, a.touch(b)
}

func (a *approval) stepUp() (*verify.Outcome, error) {
	out, err := a.login()
	if err != nil || out.SubjectID == "" {
		return out, err
	}
	sub, err := a.tx.Subject(out.SubjectID)
	if err != nil {
		return nil, err
	}
	sub.StepUpAt, sub.UpdatedAt = a.now, a.now
	return out, a.tx.UpdateSubject(sub)
}

// phoneChange binds the verified new number to the subject. The old number
// is released at once after a recent step-up on it, otherwise at the end of
// the cooling-off, during which recovery by the new number waits.
func (a *approval) phoneChange() (*verify.Outcome, error) {
	sub, err := a.tx.Subject(a.v.SubjectID)
	if err != nil {
		return nil, err
	}
	out := &verify.Outcome{SubjectID: sub.ID}
	b, err := a.current()
	if err != nil {
		return nil, err
	}
	switch {
	case b != nil && b.SubjectID == sub.ID:
		b.ReleaseAt = time.Time{}
		return out, a.touch(b)
	case b != nil && !a.dormant(b):
		out.Conflict = "number_in_use"
		return out, a.tx.AppendEvents(a.event("binding.conflict", sub.ID, "number_in_use"))
	}
	olds, err := a.tx.BindingsOf(sub.ID)
	if err != nil {
		return nil, err
	}
	if b != nil {
		err = a.recycle(b, sub.ID)
	} else {
		err = a.bind(sub.ID)
	}
	if err != nil {
		return nil, err
	}
	stepped := !sub.StepUpAt.IsZero() && a.now.Sub(sub.StepUpAt) <= a.s.cfg.StepUpFor
	for _, old := range olds {
		if stepped {
			if err := a.release(old, "phone_change_after_step_up"); err != nil {
				return nil, err
			}
			continue
		}
		if old.ReleaseAt.IsZero() {
			old.ReleaseAt = a.now.Add(a.s.cfg.CoolingOff)
			if err := a.tx.UpdateBinding(old); err != nil {
				return nil, err
			}
		}
	}
	sub.ChangedAt, sub.UpdatedAt = a.now, a.now
	if stepped {
		sub.ChangedAt = time.Time{} // the old number approved the change: no cooling-off
	}
	return out, a.tx.UpdateSubject(sub)
}

// guardian records a guardian's consent, proven by their own number.
func (a *approval) guardian() (*verify.Outcome, error) {
	sub, err := a.tx.Subject(a.v.SubjectID)
	if err != nil {
		return nil, err
	}
	sub.GuardianConsentAt, sub.GuardianMethod, sub.GuardianVerificationID = a.now, string(a.v.Channel), a.v.ID
	sub.UpdatedAt = a.now
	if err := a.tx.UpdateSubject(sub); err != nil {
		return nil, err
	}
	return &verify.Outcome{SubjectID: sub.ID}, a.tx.AppendEvents(a.event("guardian.consented", sub.ID, string(a.v.Channel)))
}
