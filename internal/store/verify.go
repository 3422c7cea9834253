package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

const verificationColumns = `id, phone_index, prefix_index, phone_sealed, masked, country, line_type, ip_index,
	channel, purpose, subject_id, status, code_mac, code_sealed, sends, checks, actor,
	created_at, updated_at, expires_at, last_sent_at, approved_at, provider, provider_ref`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanVerification(s scanner) (*verify.Verification, error) {
	var (
		v                                   verify.Verification
		created, updated, expires, lastSent sql.NullInt64
		approved                            sql.NullInt64
	)
	err := s.Scan(&v.ID, &v.PhoneIndex, &v.PrefixIndex, &v.PhoneSealed, &v.Masked, &v.Country, &v.LineType, &v.IPIndex,
		&v.Channel, &v.Purpose, &v.SubjectID, &v.Status, &v.CodeMAC, &v.CodeSealed, &v.Sends, &v.Checks, &v.Actor,
		&created, &updated, &expires, &lastSent, &approved, &v.Provider, &v.ProviderRef)
	if err != nil {
		return nil, err
	}
	v.CreatedAt = fromMillis(created)
	v.UpdatedAt = fromMillis(updated)
	v.ExpiresAt = fromMillis(expires)
	v.LastSentAt = fromMillis(lastSent)
	v.ApprovedAt = fromMillis(approved)
	return &v, nil
}

// Verification reads a verification from the read pool; verify.ErrNotFound if missing.
func (db *DB) Verification(ctx context.Context, id string) (*verify.Verification, error) {
	v, err := scanVerification(db.queryRow(ctx, `SELECT `+verificationColumns+` FROM verifications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, verify.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read verification: %w", err)
	}
	return v, nil
}

// CountVerifications returns how many verifications the database holds.
func (db *DB) CountVerifications(ctx context.Context) (int, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM verifications`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count verifications: %w", err)
	}
	return n, nil
}

// Verification reads a verification for update (on Postgres the row stays
// locked until the transaction ends); verify.ErrNotFound if missing.
func (t *tx) Verification(id string) (*verify.Verification, error) {
	v, err := scanVerification(t.queryRow(`SELECT `+verificationColumns+` FROM verifications WHERE id = ?`+t.d.forUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, verify.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read verification: %w", err)
	}
	return v, nil
}

// InsertVerification adds v; its ID must be new.
func (t *tx) InsertVerification(v *verify.Verification) error {
	_, err := t.exec(`INSERT INTO verifications (`+verificationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, blob(v.PhoneIndex), blob(v.PrefixIndex), blob(v.PhoneSealed), v.Masked, v.Country, v.LineType, blob(v.IPIndex),
		string(v.Channel), string(v.Purpose), v.SubjectID, string(v.Status), blob(v.CodeMAC), blob(v.CodeSealed),
		v.Sends, v.Checks, v.Actor,
		millis(v.CreatedAt), millis(v.UpdatedAt), millis(v.ExpiresAt), millis(v.LastSentAt), millis(v.ApprovedAt),
		v.Provider, v.ProviderRef)
	if err != nil {
		return fmt.Errorf("insert verification: %w", err)
	}
	return nil
}

// UpdateVerification writes the mutable fields of v (status, code fields,
// counters, times) by ID; verify.ErrNotFound if there is no such row.
func (t *tx) UpdateVerification(v *verify.Verification) error {
	res, err := t.exec(`UPDATE verifications SET status = ?, subject_id = ?, code_mac = ?, code_sealed = ?, sends = ?, checks = ?,
		updated_at = ?, expires_at = ?, last_sent_at = ?, approved_at = ?, provider_ref = ? WHERE id = ?`,
		string(v.Status), v.SubjectID, blob(v.CodeMAC), blob(v.CodeSealed), v.Sends, v.Checks,
		millis(v.UpdatedAt), millis(v.ExpiresAt), millis(v.LastSentAt), millis(v.ApprovedAt), v.ProviderRef, v.ID)
	if err != nil {
		return fmt.Errorf("update verification: %w", err)
	}
	return oneRow(res, "update verification", verify.ErrNotFound)
}

// ExpiredPending lists up to limit pending verifications whose ExpiresAt <=
// now, soonest expired first. On Postgres they are locked for update, and
// rows another transaction holds are skipped: that one is deciding them.
func (t *tx) ExpiredPending(now time.Time, limit int) ([]*verify.Verification, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := t.query(`SELECT `+verificationColumns+` FROM verifications
		WHERE status = ? AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`+t.d.skipLocked(),
		string(verify.StatusPending), now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("expired verifications: %w", err)
	}
	defer rows.Close()
	var vs []*verify.Verification
	for rows.Next() {
		v, err := scanVerification(rows)
		if err != nil {
			return nil, fmt.Errorf("expired verifications: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("expired verifications: %w", err)
	}
	return vs, nil
}

// RecordSend notes a paid send for rate limits; ipIndex may be nil.
func (t *tx) RecordSend(phoneIndex, ipIndex []byte, at time.Time) error {
	if _, err := t.exec(`INSERT INTO send_log (phone_index, ip_index, at) VALUES (?, ?, ?)`,
		blob(phoneIndex), blob(ipIndex), millis(at)); err != nil {
		return fmt.Errorf("record send: %w", err)
	}
	return nil
}

// UnrecordSend forgets one send to a number made at a time, if there is one.
func (t *tx) UnrecordSend(phoneIndex []byte, at time.Time) error {
	if _, err := t.exec(`DELETE FROM send_log WHERE id = (SELECT id FROM send_log WHERE phone_index = ? AND at = ? LIMIT 1)`,
		blob(phoneIndex), millis(at)); err != nil {
		return fmt.Errorf("unrecord send: %w", err)
	}
	return nil
}

// SendsSince counts sends to a number at or after since, and the oldest of them.
func (t *tx) SendsSince(phoneIndex []byte, since time.Time) (int, time.Time, error) {
	return t.countSends(`SELECT COUNT(*), MIN(at) FROM send_log WHERE phone_index = ? AND at >= ?`, phoneIndex, since)
}

// IPSendsSince counts sends for a client IP at or after since, and the oldest of them.
func (t *tx) IPSendsSince(ipIndex []byte, since time.Time) (int, time.Time, error) {
	return t.countSends(`SELECT COUNT(*), MIN(at) FROM send_log WHERE ip_index = ? AND at >= ?`, ipIndex, since)
}

func (t *tx) countSends(query string, index []byte, since time.Time) (int, time.Time, error) {
	var (
		n      int
		oldest sql.NullInt64
	)
	if err := t.queryRow(query, blob(index), since.UnixMilli()).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("count sends: %w", err)
	}
	return n, fromMillis(oldest), nil
}

// Idempotency returns the record for key, or verify.ErrNotFound.
func (t *tx) Idempotency(key []byte) (*verify.Idempotency, error) {
	var (
		rec     verify.Idempotency
		created sql.NullInt64
	)
	err := t.queryRow(`SELECT key, fingerprint, verification_id, created_at FROM idempotency WHERE key = ?`, blob(key)).
		Scan(&rec.Key, &rec.Fingerprint, &rec.VerificationID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, verify.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency record: %w", err)
	}
	rec.CreatedAt = fromMillis(created)
	return &rec, nil
}

// InsertIdempotency adds rec; an existing key is an error.
func (t *tx) InsertIdempotency(rec *verify.Idempotency) error {
	if _, err := t.exec(`INSERT INTO idempotency (key, fingerprint, verification_id, created_at) VALUES (?, ?, ?, ?)`,
		blob(rec.Key), blob(rec.Fingerprint), rec.VerificationID, millis(rec.CreatedAt)); err != nil {
		return fmt.Errorf("insert idempotency record: %w", err)
	}
	return nil
}

// oneRow returns notFound (wrapped in phrase) unless res touched a row.
func oneRow(res sql.Result, phrase string, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", phrase, err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}
