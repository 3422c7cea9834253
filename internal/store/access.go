package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/access"
)

var (
	_ access.Store = (*DB)(nil)
	_ access.Tx    = (*tx)(nil)
)

const staffColumns = `id, email, role, password_hash, totp_sealed, totp_last_step, failed_logins, locked_until, created_at, disabled_at`

func scanStaff(s scanner) (*access.Staff, error) {
	var (
		st                        access.Staff
		role                      string
		locked, created, disabled sql.NullInt64
	)
	if err := s.Scan(&st.ID, &st.Email, &role, &st.PasswordHash, &st.TOTPSealed, &st.TOTPLastStep, &st.FailedLogins,
		&locked, &created, &disabled); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, access.ErrNotFound
		}
		return nil, fmt.Errorf("read staff: %w", err)
	}
	st.Role = access.Role(role)
	st.LockedUntil, st.CreatedAt, st.DisabledAt = fromMillis(locked), fromMillis(created), fromMillis(disabled)
	return &st, nil
}

// Staff reads a staff account; access.ErrNotFound if missing.
func (db *DB) Staff(ctx context.Context, id string) (*access.Staff, error) {
	return scanStaff(db.queryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id))
}

// StaffByEmail reads the staff account of an email; access.ErrNotFound if none.
func (db *DB) StaffByEmail(ctx context.Context, email string) (*access.Staff, error) {
	return scanStaff(db.queryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE email = ?`, email))
}

// ListStaff lists every staff account, oldest first.
func (db *DB) ListStaff(ctx context.Context) ([]*access.Staff, error) {
	rows, err := db.query(ctx, `SELECT `+staffColumns+` FROM staff ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	defer rows.Close()
	var out []*access.Staff
	for rows.Next() {
		st, err := scanStaff(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// Staff reads a staff account for update.
func (t *tx) Staff(id string) (*access.Staff, error) {
	return scanStaff(t.queryRow(`SELECT `+staffColumns+` FROM staff WHERE id = ?`+t.d.forUpdate(), id))
}

// InsertStaff adds a staff account; access.ErrConflict if the email is taken.
func (t *tx) InsertStaff(s *access.Staff) error {
	_, err := t.exec(`INSERT INTO staff (`+staffColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Email, string(s.Role), s.PasswordHash, s.TOTPSealed, s.TOTPLastStep, s.FailedLogins,
		millis(s.LockedUntil), millis(s.CreatedAt), millis(s.DisabledAt))
	if isUniqueViolation(err) {
		return access.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("insert staff: %w", err)
	}
	return nil
}

// UpdateStaff rewrites a staff account's mutable fields.
func (t *tx) UpdateStaff(s *access.Staff) error {
	res, err := t.exec(`UPDATE staff SET role = ?, password_hash = ?, totp_sealed = ?, totp_last_step = ?, failed_logins = ?,
		locked_until = ?, disabled_at = ? WHERE id = ?`,
		string(s.Role), s.PasswordHash, s.TOTPSealed, s.TOTPLastStep, s.FailedLogins,
		millis(s.LockedUntil), millis(s.DisabledAt), s.ID)
	if err != nil {
		return fmt.Errorf("update staff: %w", err)
	}
	return oneRow(res, "update staff", access.ErrNotFound)
}

// Session reads a staff session by the hash of its token; access.ErrNotFound if none.
func (db *DB) Session(ctx context.Context, hash []byte) (*access.Session, error) {
	var (
		s                      access.Session
		created, expires, seen sql.NullInt64
	)
	err := db.queryRow(ctx, `SELECT hash, staff_id, created_at, expires_at, last_seen_at FROM staff_sessions WHERE hash = ?`,
		blob(hash)).Scan(&s.Hash, &s.StaffID, &created, &expires, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, access.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	s.CreatedAt, s.ExpiresAt, s.LastSeenAt = fromMillis(created), fromMillis(expires), fromMillis(seen)
	return &s, nil
}

// InsertSession adds a staff session.
func (t *tx) InsertSession(s *access.Session) error {
	if _, err := t.exec(`INSERT INTO staff_sessions (hash, staff_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?)`,
		s.Hash, s.StaffID, millis(s.CreatedAt), millis(s.ExpiresAt), millis(s.LastSeenAt)); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// TouchSession sets a session's last use.
func (t *tx) TouchSession(hash []byte, at time.Time) error {
	if _, err := t.exec(`UPDATE staff_sessions SET last_seen_at = ? WHERE hash = ?`, millis(at), blob(hash)); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes a session, if it exists.
func (t *tx) DeleteSession(hash []byte) error {
	if _, err := t.exec(`DELETE FROM staff_sessions WHERE hash = ?`, blob(hash)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteSessionsOf removes a staff member's sessions that expired by
// expiredBy or were last seen before idleBefore; all of them when both are zero.
func (t *tx) DeleteSessionsOf(staffID string, expiredBy, idleBefore time.Time) error {
	var err error
	if expiredBy.IsZero() && idleBefore.IsZero() {
		_, err = t.exec(`DELETE FROM staff_sessions WHERE staff_id = ?`, staffID)
	} else {
		_, err = t.exec(`DELETE FROM staff_sessions WHERE staff_id = ? AND (expires_at <= ? OR last_seen_at < ?)`,
			staffID, millis(expiredBy), millis(idleBefore))
	}
	if err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	return nil
}

const revealColumns = `id, subject_id, phone_index, masked, purpose, justification, ticket, requested_by, approvals_needed,
	status, created_at, expires_at, approved_at, use_by, used_at, denied_by, deny_reason, denied_at`

func scanReveal(s scanner) (*access.Reveal, error) {
	var (
		r                                                 access.Reveal
		purpose, status                                   string
		created, expires, approved, useBy, used, deniedAt sql.NullInt64
	)
	if err := s.Scan(&r.ID, &r.SubjectID, &r.PhoneIndex, &r.Masked, &purpose, &r.Justification, &r.Ticket, &r.RequestedBy,
		&r.ApprovalsNeeded, &status, &created, &expires, &approved, &useBy, &used, &r.DeniedBy, &r.DenyReason, &deniedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, access.ErrNotFound
		}
		return nil, fmt.Errorf("read reveal request: %w", err)
	}
	r.Purpose, r.Status = access.Purpose(purpose), access.Status(status)
	r.CreatedAt, r.ExpiresAt, r.ApprovedAt = fromMillis(created), fromMillis(expires), fromMillis(approved)
	r.UseBy, r.UsedAt, r.DeniedAt = fromMillis(useBy), fromMillis(used), fromMillis(deniedAt)
	return &r, nil
}

// querier is what reads reveal requests: the read pool or a transaction.
type querier func(query string, args ...any) (*sql.Rows, error)

// withApprovals fills in the approvals of rs, oldest first, in one query.
func withApprovals(q querier, rs []*access.Reveal) error {
	if len(rs) == 0 {
		return nil
	}
	byID := make(map[string]*access.Reveal, len(rs))
	args := make([]any, len(rs))
	for i, r := range rs {
		byID[r.ID] = r
		args[i] = r.ID
	}
	rows, err := q(`SELECT reveal_id, staff_id, at FROM reveal_approvals WHERE reveal_id IN (?`+
		strings.Repeat(", ?", len(rs)-1)+`) ORDER BY at, staff_id`, args...)
	if err != nil {
		return fmt.Errorf("read approvals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			a  access.Approval
			at sql.NullInt64
		)
		if err := rows.Scan(&id, &a.StaffID, &at); err != nil {
			return fmt.Errorf("read approvals: %w", err)
		}
		a.At = fromMillis(at)
		byID[id].Approvals = append(byID[id].Approvals, a)
	}
	return rows.Err()
}

func (db *DB) queryFn(ctx context.Context) querier {
	return func(query string, args ...any) (*sql.Rows, error) { return db.query(ctx, query, args...) }
}

// Reveal reads a reveal request and its approvals; access.ErrNotFound if missing.
func (db *DB) Reveal(ctx context.Context, id string) (*access.Reveal, error) {
	r, err := scanReveal(db.queryRow(ctx, `SELECT `+revealColumns+` FROM reveal_requests WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	return r, withApprovals(db.queryFn(ctx), []*access.Reveal{r})
}

// Reveals lists reveal requests by f, newest first, with their approvals.
// A pending request past its expiry and an approved one past its use-by
// time count as expired.
func (db *DB) Reveals(ctx context.Context, f access.RevealFilter) ([]*access.Reveal, error) {
	now := f.Now.UnixMilli()
	var (
		where string
		args  []any
	)
	switch f.Status {
	case "":
		where = `1 = 1`
	case access.StatusPending:
		where, args = `status = 'pending' AND expires_at > ?`, []any{now}
	case access.StatusApproved:
		where, args = `status = 'approved' AND use_by > ?`, []any{now}
	case access.StatusExpired:
		where, args = `(status = 'pending' AND expires_at <= ?) OR (status = 'approved' AND use_by <= ?)`, []any{now, now}
	default:
		where, args = `status = ?`, []any{string(f.Status)}
	}
	rows, err := db.query(ctx, `SELECT `+revealColumns+` FROM reveal_requests WHERE `+where+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list reveal requests: %w", err)
	}
	defer rows.Close()
	var out []*access.Reveal
	for rows.Next() {
		r, err := scanReveal(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list reveal requests: %w", err)
	}
	return out, withApprovals(db.queryFn(ctx), out)
}

// Reveal reads a reveal request and its approvals for update.
func (t *tx) Reveal(id string) (*access.Reveal, error) {
	r, err := scanReveal(t.queryRow(`SELECT `+revealColumns+` FROM reveal_requests WHERE id = ?`+t.d.forUpdate(), id))
	if err != nil {
		return nil, err
	}
	return r, withApprovals(t.query, []*access.Reveal{r})
}

// InsertReveal adds a reveal request.
func (t *tx) InsertReveal(r *access.Reveal) error {
	if _, err := t.exec(`INSERT INTO reveal_requests (`+revealColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.SubjectID, r.PhoneIndex, r.Masked, string(r.Purpose), r.Justification, r.Ticket, r.RequestedBy,
		r.ApprovalsNeeded, string(r.Status), millis(r.CreatedAt), millis(r.ExpiresAt), millis(r.ApprovedAt),
		millis(r.UseBy), millis(r.UsedAt), r.DeniedBy, r.DenyReason, millis(r.DeniedAt)); err != nil {
		return fmt.Errorf("insert reveal request: %w", err)
	}
	return nil
}

// InsertApproval records an approval; access.ErrAlreadyApproved if that
// staff member approved the request before.
func (t *tx) InsertApproval(revealID string, a access.Approval) error {
	_, err := t.exec(`INSERT INTO reveal_approvals (reveal_id, staff_id, at) VALUES (?, ?, ?)`, revealID, a.StaffID, millis(a.At))
	if isUniqueViolation(err) {
		return access.ErrAlreadyApproved
	}
	if err != nil {
		return fmt.Errorf("insert approval: %w", err)
	}
	return nil
}

// UpdateReveal writes a reveal request's status and times if its stored
// status is still from; access.ErrClosed if it is not (or it is missing).
func (t *tx) UpdateReveal(r *access.Reveal, from access.Status) error {
	res, err := t.exec(`UPDATE reveal_requests SET status = ?, approved_at = ?, use_by = ?, used_at = ?,
		denied_by = ?, deny_reason = ?, denied_at = ? WHERE id = ? AND status = ?`,
		string(r.Status), millis(r.ApprovedAt), millis(r.UseBy), millis(r.UsedAt),
		r.DeniedBy, r.DenyReason, millis(r.DeniedAt), r.ID, string(from))
	if err != nil {
		return fmt.Errorf("update reveal request: %w", err)
	}
	return oneRow(res, "update reveal request", access.ErrClosed)
}
