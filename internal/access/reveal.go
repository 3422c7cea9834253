package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Limits on the free text of a reveal request, in characters.
const (
	MinJustificationLen = 10
	MaxJustificationLen = 2000
	MaxTicketLen        = 200
	MaxReasonLen        = 500
)

// Request is what a reviewer asks for.
type Request struct {
	SubjectID     string
	Purpose       Purpose
	Justification string // why, in words
	Ticket        string // the case or ticket it belongs to
}

// Revealed is the answer of a reveal's one use.
type Revealed struct {
	Reveal *Reveal
	E164   string // the full number; never log it
}

// text trims s and checks that it has min to max characters and no
// control characters.
func text(s string, min, max int) (string, bool) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if n < min || n > max || !utf8.ValidString(s) {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return "", false
		}
	}
	return s, true
}

// RequestReveal opens a reveal request for a subject's current number. The
// actor must be a reviewer or above. The purpose must be one of Purposes
// (else ErrInvalidPurpose); the justification needs at least
// MinJustificationLen characters and the ticket is required. An unknown
// subject is ErrNotFound; one without a number is verify.ErrNoNumber.
func (s *Service) RequestReveal(ctx context.Context, actor *Staff, req Request) (*Reveal, error) {
	if !actor.Role.atLeast(RoleReviewer) {
		return nil, ErrForbidden
	}
	pol, ok := s.cfg.Policies[req.Purpose]
	if !ok || !req.Purpose.Valid() {
		return nil, ErrInvalidPurpose
	}
	justification, ok1 := text(req.Justification, MinJustificationLen, MaxJustificationLen)
	ticket, ok2 := text(req.Ticket, 1, MaxTicketLen)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: justification (%d+ characters) and ticket are required", ErrInvalidRequest, MinJustificationLen)
	}
	if !vault.ValidID("sub", req.SubjectID) {
		return nil, ErrNotFound
	}
	if _, err := s.store.Subject(ctx, req.SubjectID); errors.Is(err, identity.ErrNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	bs, err := s.store.BindingsOf(ctx, req.SubjectID)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	b := current(bs)
	if b == nil {
		return nil, verify.ErrNoNumber
	}
	r := &Reveal{
		ID: vault.NewID("rev"), SubjectID: req.SubjectID, PhoneIndex: b.PhoneIndex, Masked: b.Masked,
		Purpose: req.Purpose, Justification: justification, Ticket: ticket, RequestedBy: actor.ID,
		ApprovalsNeeded: pol.Approvals, Status: StatusPending, CreatedAt: now, ExpiresAt: now.Add(pol.Window),
	}
	err = s.write(ctx, func(tx Tx) error {
		if err := tx.InsertReveal(r); err != nil {
			return err
		}
		return tx.AppendEvents(s.event("reveal.requested", actor, r, now))
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// current is a subject's current number: its newest binding that is not
// on its way out, as identity sees it (bs is newest first).
func current(bs []*identity.Binding) *identity.Binding {
	for _, b := range bs {
		if b.ReleaseAt.IsZero() {
			return b
		}
	}
	return nil
}

// event is the audit event of a step of r by actor.
func (s *Service) event(typ string, actor *Staff, r *Reveal, now time.Time) verify.Event {
	return verify.Event{Type: typ, Actor: actor.ID, Purpose: verify.Purpose(r.Purpose),
		VerificationID: r.ID, SubjectID: r.SubjectID, At: now}
}

// refusals are the errors of a step on a reveal request that the audit log
// records as a "reveal.refused" event, with the word in Detail.
var refusals = []struct {
	err  error
	word string
}{
	{ErrSelfApproval, "self_approval"},
	{ErrForbidden, "forbidden"},
	{ErrAlreadyApproved, "already_approved"},
	{ErrClosed, "closed"},
	{ErrNotApproved, "not_approved"},
	{ErrDenied, "denied"},
	{ErrUsed, "used"},
	{ErrExpired, "expired"},
}

// step runs fn on reveal id in one transaction. If fn refuses the step, the
// refusal is recorded in the audit log in a transaction of its own, and the
// refusal is returned.
func (s *Service) step(ctx context.Context, actor *Staff, id string, fn func(tx Tx, r *Reveal) error) (*Reveal, error) {
	if !vault.ValidID("rev", id) {
		return nil, ErrNotFound
	}
	var seen *Reveal
	err := s.write(ctx, func(tx Tx) error {
		r, err := tx.Reveal(id)
		if err != nil {
			return err
		}
		seen = r
		return fn(tx, r)
	})
	if err == nil || seen == nil {
		return seen, err
	}
	for _, ref := range refusals {
		if errors.Is(err, ref.err) {
			ev := s.event("reveal.refused", actor, seen, s.clock())
			ev.Detail = ref.word
			if werr := s.write(ctx, func(tx Tx) error { return tx.AppendEvents(ev) }); werr != nil {
				return nil, fmt.Errorf("record refusal: %w", werr)
			}
			break
		}
	}
	return nil, err
}

// Approve records actor's approval of a pending request; the approval that
// reaches the policy's number approves the request, which is then usable
// for UseWithin. The requester can never approve (ErrSelfApproval), even
// with an eligible role; other roles are ErrForbidden; a second approval by
// the same staff member is ErrAlreadyApproved; a request past its window is
// ErrExpired, one no longer pending ErrClosed.
func (s *Service) Approve(ctx context.Context, actor *Staff, id string) (*Reveal, error) {
	return s.step(ctx, actor, id, func(tx Tx, r *Reveal) error {
		now := s.clock()
		switch r.StatusAt(now) {
		case StatusExpired:
			return ErrExpired
		case StatusPending:
		default:
			return ErrClosed
		}
		if actor.ID == r.RequestedBy {
			return ErrSelfApproval
		}
		if pol, ok := s.cfg.Policies[r.Purpose]; !ok || !pol.eligible(actor.Role) {
			return ErrForbidden
		}
		if r.approvedBy(actor.ID) {
			return ErrAlreadyApproved
		}
		a := Approval{StaffID: actor.ID, At: now}
		if err := tx.InsertApproval(r.ID, a); err != nil {
			return err
		}
		r.Approvals = append(r.Approvals, a)
		events := []verify.Event{s.event("reveal.approved", actor, r, now)}
		if len(r.Approvals) >= r.ApprovalsNeeded {
			r.Status, r.ApprovedAt = StatusApproved, now
			r.UseBy = now.Add(s.cfg.Policies[r.Purpose].UseWithin)
			if err := tx.UpdateReveal(r, StatusPending); err != nil {
				return err
			}
			events[0].Detail = "final"
		}
		return tx.AppendEvents(events...)
	})
}

// Deny closes a pending request for good. Staff who may approve it may deny
// it, and the requester may withdraw it; reason is required.
func (s *Service) Deny(ctx context.Context, actor *Staff, id, reason string) (*Reveal, error) {
	reason, ok := text(reason, 1, MaxReasonLen)
	if !ok {
		return nil, fmt.Errorf("%w: a reason is required", ErrInvalidRequest)
	}
	return s.step(ctx, actor, id, func(tx Tx, r *Reveal) error {
		now := s.clock()
		switch r.StatusAt(now) {
		case StatusExpired:
			return ErrExpired
		case StatusPending:
		default:
			return ErrClosed
		}
		if pol, ok := s.cfg.Policies[r.Purpose]; actor.ID != r.RequestedBy && (!ok || !pol.eligible(actor.Role)) {
			return ErrForbidden
		}
		r.Status, r.DeniedBy, r.DenyReason, r.DeniedAt = StatusDenied, actor.ID, reason, now
		if err := tx.UpdateReveal(r, StatusPending); err != nil {
			return err
		}
		return tx.AppendEvents(s.event("reveal.denied", actor, r, now))
	})
}

// Use opens the number of an approved reveal for its requester, once: the
// request becomes used in the same transaction, so of two concurrent uses
// exactly one succeeds. A pending request is ErrNotApproved, a denied one
// ErrDenied, a used one ErrUsed, one past its time ErrExpired; anyone but
// the requester is ErrForbidden. If the number the approvers saw is no
// longer the subject's, it is verify.ErrNoNumber and the reveal stays
// unused.
func (s *Service) Use(ctx context.Context, actor *Staff, id string) (*Revealed, error) {
	var e164 string
	r, err := s.step(ctx, actor, id, func(tx Tx, r *Reveal) error {
		now := s.clock()
		if actor.ID != r.RequestedBy || !actor.Role.atLeast(RoleReviewer) {
			return ErrForbidden
		}
		switch r.StatusAt(now) {
		case StatusPending:
			return ErrNotApproved
		case StatusDenied:
			return ErrDenied
		case StatusUsed:
			return ErrUsed
		case StatusExpired:
			return ErrExpired
		}
		b, err := tx.BindingByIndex(r.PhoneIndex)
		if errors.Is(err, identity.ErrNotFound) {
			return verify.ErrNoNumber
		}
		if err != nil {
			return err
		}
		if b.SubjectID != r.SubjectID || b.Released(now) {
			return verify.ErrNoNumber
		}
		wrapped, err := tx.SubjectKey(b.SubjectID)
		if errors.Is(err, identity.ErrNotFound) {
			wrapped, err = nil, nil
		}
		if err != nil {
			return err
		}
		pt, err := identity.OpenBinding(s.keys, wrapped, b)
		if err != nil {
			return fmt.Errorf("open binding: %w", err)
		}
		r.Status, r.UsedAt = StatusUsed, now
		if err := tx.UpdateReveal(r, StatusApproved); errors.Is(err, ErrClosed) {
			return ErrUsed
		} else if err != nil {
			return err
		}
		ev := s.event("reveal.used", actor, r, now)
		ev.PhoneIndex = b.PhoneIndex
		if err := tx.AppendEvents(ev); err != nil {
			return err
		}
		e164 = string(pt)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Revealed{Reveal: r, E164: e164}, nil
}

// StatusOf is the status of r now (see Reveal.StatusAt).
func (s *Service) StatusOf(r *Reveal) Status { return r.StatusAt(s.clock()) }

// Reveal returns a reveal request to any staff member.
func (s *Service) Reveal(ctx context.Context, actor *Staff, id string) (*Reveal, error) {
	if !actor.Role.atLeast(RoleViewer) {
		return nil, ErrForbidden
	}
	if !vault.ValidID("rev", id) {
		return nil, ErrNotFound
	}
	return s.store.Reveal(ctx, id)
}

// MaxList is the most reveal requests Reveals returns.
const MaxList = 500

// Reveals lists reveal requests of a status (all when empty), newest first,
// at most limit (MaxList when limit is 0 or more than MaxList). With
// StatusPending it is the approval queue.
func (s *Service) Reveals(ctx context.Context, actor *Staff, status Status, limit int) ([]*Reveal, error) {
	if !actor.Role.atLeast(RoleViewer) {
		return nil, ErrForbidden
	}
	if status != "" && !status.Valid() {
		return nil, ErrInvalidRequest
	}
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	return s.store.Reveals(ctx, RevealFilter{Status: status, Now: s.clock(), Limit: limit})
}
