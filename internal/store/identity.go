package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/verify"
)

var (
	_ identity.Store = (*DB)(nil)
	_ identity.Tx    = (*tx)(nil)
)

const subjectColumns = `id, created_at, updated_at, factor_at, step_up_at, changed_at, lost_binding_at,
	needs_guardian, guardian_consent_at, guardian_method, guardian_verification_id`

func scanSubject(s scanner) (*identity.Subject, error) {
	var (
		sub                                                  identity.Subject
		created, updated, factor, stepUp, changed, lost, gAt sql.NullInt64
		needs                                                int64
	)
	if err := s.Scan(&sub.ID, &created, &updated, &factor, &stepUp, &changed, &lost,
		&needs, &gAt, &sub.GuardianMethod, &sub.GuardianVerificationID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, identity.ErrNotFound
		}
		return nil, fmt.Errorf("read subject: %w", err)
	}
	sub.CreatedAt, sub.UpdatedAt = fromMillis(created), fromMillis(updated)
	sub.FactorAt, sub.StepUpAt, sub.ChangedAt = fromMillis(factor), fromMillis(stepUp), fromMillis(changed)
	sub.LostBindingAt, sub.GuardianConsentAt = fromMillis(lost), fromMillis(gAt)
	sub.NeedsGuardian = needs != 0
	return &sub, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func subjectArgs(s *identity.Subject) []any {
	return []any{millis(s.UpdatedAt), millis(s.FactorAt), millis(s.StepUpAt), millis(s.ChangedAt), millis(s.LostBindingAt),
		boolInt(s.NeedsGuardian), millis(s.GuardianConsentAt), s.GuardianMethod, s.GuardianVerificationID}
}

// Subject reads a subject; identity.ErrNotFound if missing.
func (db *DB) Subject(ctx context.Context, id string) (*identity.Subject, error) {
	return scanSubject(db.queryRow(ctx, `SELECT `+subjectColumns+` FROM subjects WHERE id = ?`, id))
}

// Subject reads a subject for update.
func (t *tx) Subject(id string) (*identity.Subject, error) {
	return scanSubject(t.queryRow(`SELECT `+subjectColumns+` FROM subjects WHERE id = ?`+t.d.forUpdate(), id))
}

// InsertSubject adds a subject.
func (t *tx) InsertSubject(s *identity.Subject) error {
	args := append([]any{s.ID, millis(s.CreatedAt)}, subjectArgs(s)...)
	if _, err := t.exec(`INSERT INTO subjects (`+subjectColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		return fmt.Errorf("insert subject: %w", err)
	}
	return nil
}

// UpdateSubject rewrites a subject's mutable fields.
func (t *tx) UpdateSubject(s *identity.Subject) error {
	res, err := t.exec(`UPDATE subjects SET updated_at = ?, factor_at = ?, step_up_at = ?, changed_at = ?, lost_binding_at = ?,
		needs_guardian = ?, guardian_consent_at = ?, guardian_method = ?, guardian_verification_id = ? WHERE id = ?`,
		append(subjectArgs(s), s.ID)...)
	if err != nil {
		return fmt.Errorf("update subject: %w", err)
	}
	return oneRow(res, "update subject", identity.ErrNotFound)
}

const bindingColumns = `phone_index, subject_id, phone_sealed, masked, country, line_type, bound_at, last_verified_at, release_at`

func scanBinding(s scanner) (*identity.Binding, error) {
	var (
		b                      identity.Binding
		bound, verified, relAt sql.NullInt64
	)
	if err := s.Scan(&b.PhoneIndex, &b.SubjectID, &b.PhoneSealed, &b.Masked, &b.Country, &b.LineType, &bound, &verified, &relAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, identity.ErrNotFound
		}
		return nil, fmt.Errorf("read binding: %w", err)
	}
	b.BoundAt, b.LastVerifiedAt, b.ReleaseAt = fromMillis(bound), fromMillis(verified), fromMillis(relAt)
	return &b, nil
}

func scanBindings(rows *sql.Rows, err error) ([]*identity.Binding, error) {
	if err != nil {
		return nil, fmt.Errorf("read bindings: %w", err)
	}
	defer rows.Close()
	var bs []*identity.Binding
	for rows.Next() {
		b, err := scanBinding(rows)
		if err != nil {
			return nil, err
		}
		bs = append(bs, b)
	}
	return bs, rows.Err()
}

// BindingByIndex reads the binding of a number; identity.ErrNotFound if none.
func (db *DB) BindingByIndex(ctx context.Context, phoneIndex []byte) (*identity.Binding, error) {
	return scanBinding(db.queryRow(ctx, `SELECT `+bindingColumns+` FROM bindings WHERE phone_index = ?`, phoneIndex))
}

// BindingByIndex reads the binding of a number for update.
func (t *tx) BindingByIndex(phoneIndex []byte) (*identity.Binding, error) {
	return scanBinding(t.queryRow(`SELECT `+bindingColumns+` FROM bindings WHERE phone_index = ?`+t.d.forUpdate(), phoneIndex))
}

// BindingsOf lists a subject's bindings, newest first.
func (db *DB) BindingsOf(ctx context.Context, subjectID string) ([]*identity.Binding, error) {
	return scanBindings(db.query(ctx, `SELECT `+bindingColumns+` FROM bindings WHERE subject_id = ? ORDER BY bound_at DESC`, subjectID))
}

// BindingsOf lists a subject's bindings, newest first, for update.
func (t *tx) BindingsOf(subjectID string) ([]*identity.Binding, error) {
	return scanBindings(t.query(`SELECT `+bindingColumns+` FROM bindings WHERE subject_id = ? ORDER BY bound_at DESC`+t.d.forUpdate(), subjectID))
}

// InsertBinding adds a binding; identity.ErrConflict if the number is bound.
func (t *tx) InsertBinding(b *identity.Binding) error {
	_, err := t.exec(`INSERT INTO bindings (`+bindingColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.PhoneIndex, b.SubjectID, b.PhoneSealed, b.Masked, b.Country, b.LineType,
		millis(b.BoundAt), millis(b.LastVerifiedAt), millis(b.ReleaseAt))
	if isUniqueViolation(err) {
		return identity.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("insert binding: %w", err)
	}
	return nil
}

// UpdateBinding rewrites the binding of b.PhoneIndex.
func (t *tx) UpdateBinding(b *identity.Binding) error {
	res, err := t.exec(`UPDATE bindings SET subject_id = ?, phone_sealed = ?, masked = ?, country = ?, line_type = ?,
		bound_at = ?, last_verified_at = ?, release_at = ? WHERE phone_index = ?`,
		b.SubjectID, b.PhoneSealed, b.Masked, b.Country, b.LineType,
		millis(b.BoundAt), millis(b.LastVerifiedAt), millis(b.ReleaseAt), b.PhoneIndex)
	if err != nil {
		return fmt.Errorf("update binding: %w", err)
	}
	return oneRow(res, "update binding", identity.ErrNotFound)
}

// DeleteBinding removes the binding of a number.
func (t *tx) DeleteBinding(phoneIndex []byte) error {
	res, err := t.exec(`DELETE FROM bindings WHERE phone_index = ?`, phoneIndex)
	if err != nil {
		return fmt.Errorf("delete binding: %w", err)
	}
	return oneRow(res, "delete binding", identity.ErrNotFound)
}

// InsertAudience adds an audience; identity.ErrConflict on a taken name.
func (t *tx) InsertAudience(a *identity.Audience) error {
	_, err := t.exec(`INSERT INTO audiences (id, name, created_at) VALUES (?, ?, ?)`, a.ID, a.Name, millis(a.CreatedAt))
	if isUniqueViolation(err) {
		return identity.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("insert audience: %w", err)
	}
	return nil
}

// Audience reads an audience; identity.ErrNotFound if missing.
func (db *DB) Audience(ctx context.Context, id string) (*identity.Audience, error) {
	var (
		a  identity.Audience
		at sql.NullInt64
	)
	err := db.queryRow(ctx, `SELECT id, name, created_at FROM audiences WHERE id = ?`, id).Scan(&a.ID, &a.Name, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, identity.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read audience: %w", err)
	}
	a.CreatedAt = fromMillis(at)
	return &a, nil
}

// Audiences lists every audience, oldest first.
func (db *DB) Audiences(ctx context.Context) ([]identity.Audience, error) {
	rows, err := db.query(ctx, `SELECT id, name, created_at FROM audiences ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("read audiences: %w", err)
	}
	defer rows.Close()
	var as []identity.Audience
	for rows.Next() {
		var (
			a  identity.Audience
			at sql.NullInt64
		)
		if err := rows.Scan(&a.ID, &a.Name, &at); err != nil {
			return nil, fmt.Errorf("read audiences: %w", err)
		}
		a.CreatedAt = fromMillis(at)
		as = append(as, a)
	}
	return as, rows.Err()
}

// PendingByIndex lists pending verifications on a channel for a number, oldest first.
func (t *tx) PendingByIndex(phoneIndex []byte, channel verify.Channel) ([]*verify.Verification, error) {
	rows, err := t.query(`SELECT `+verificationColumns+` FROM verifications
		WHERE phone_index = ? AND channel = ? AND status = ? ORDER BY created_at, id`+t.d.forUpdate(),
		phoneIndex, string(channel), string(verify.StatusPending))
	if err != nil {
		return nil, fmt.Errorf("read pending verifications: %w", err)
	}
	defer rows.Close()
	var vs []*verify.Verification
	for rows.Next() {
		v, err := scanVerification(rows)
		if err != nil {
			return nil, fmt.Errorf("read pending verifications: %w", err)
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// RecordInbound remembers an inbound message id; false if already recorded.
func (t *tx) RecordInbound(providerID string, at time.Time) (bool, error) {
	res, err := t.exec(`INSERT INTO inbound_messages (provider_id, at) VALUES (?, ?) ON CONFLICT (provider_id) DO NOTHING`,
		providerID, millis(at))
	if err != nil {
		return false, fmt.Errorf("record inbound message: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
