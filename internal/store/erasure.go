package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/identity"
)

// SubjectKey reads a subject's wrapped data key; identity.ErrNotFound if it
// has none (a subject from before data keys, or an erased one).
func (db *DB) SubjectKey(ctx context.Context, subjectID string) ([]byte, error) {
	return scanSubjectKey(db.queryRow(ctx, `SELECT wrapped FROM subject_keys WHERE subject_id = ?`, subjectID))
}

// SubjectKey reads a subject's wrapped data key inside the transaction.
func (t *tx) SubjectKey(subjectID string) ([]byte, error) {
	return scanSubjectKey(t.queryRow(`SELECT wrapped FROM subject_keys WHERE subject_id = ?`+t.d.forUpdate(), subjectID))
}

func scanSubjectKey(row *sql.Row) ([]byte, error) {
	var wrapped []byte
	err := row.Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, identity.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read subject key: %w", err)
	}
	return wrapped, nil
}

// InsertSubjectKey stores a subject's wrapped data key; identity.ErrConflict
// if it has one.
func (t *tx) InsertSubjectKey(subjectID string, wrapped []byte, at time.Time) error {
	_, err := t.exec(`INSERT INTO subject_keys (subject_id, wrapped, created_at) VALUES (?, ?, ?)`,
		subjectID, wrapped, millis(at))
	if isUniqueViolation(err) {
		return identity.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("insert subject key: %w", err)
	}
	return nil
}

// Erased reports when a subject was erased; the zero time if it was not.
func (db *DB) Erased(ctx context.Context, subjectID string) (time.Time, error) {
	return scanErased(db.queryRow(ctx, `SELECT erased_at FROM erasures WHERE subject_id = ?`, subjectID))
}

// Erased reports, inside the transaction, when a subject was erased.
func (t *tx) Erased(subjectID string) (time.Time, error) {
	return scanErased(t.queryRow(`SELECT erased_at FROM erasures WHERE subject_id = ?`, subjectID))
}

func scanErased(row *sql.Row) (time.Time, error) {
	var at sql.NullInt64
	err := row.Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read erasure: %w", err)
	}
	return fromMillis(at), nil
}

// EraseSubject destroys a subject: its data key, its bindings, its call
// transcripts and the subject row go; the verifications of its numbers (by subject id or by any
// of e.PhoneIndexes) keep their ids and outcomes but lose their sealed
// number, sealed code and masked form, and pending ones are canceled with
// their unsent messages dropped; call records from its numbers lose the
// caller's index and pseudonym; reveal requests lose their masked form; the
// subject's consent records (with the blind index and receipt each holds)
// go. Their audit events stay. The erasure itself is recorded. identity.ErrNotFound if there is no subject.
func (t *tx) EraseSubject(e *identity.Erasure) error {
	if _, err := t.exec(`DELETE FROM subject_keys WHERE subject_id = ?`, e.SubjectID); err != nil {
		return fmt.Errorf("erase subject key: %w", err)
	}
	match := `subject_id = ?`
	args := []any{e.SubjectID}
	if len(e.PhoneIndexes) > 0 {
		match += ` OR phone_index IN (` + placeholders(len(e.PhoneIndexes)) + `)`
		for _, ix := range e.PhoneIndexes {
			args = append(args, ix)
		}
	}
	if _, err := t.exec(`UPDATE outbox SET state = 'dropped', lease_until = NULL
		WHERE state = 'pending' AND verification_id IN (SELECT id FROM verifications WHERE `+match+`)`, args...); err != nil {
		return fmt.Errorf("erase: drop messages: %w", err)
	}
	if _, err := t.exec(`UPDATE verifications SET
		status = CASE WHEN status = 'pending' THEN 'canceled' ELSE status END,
		phone_sealed = ?, code_sealed = NULL, masked = '', updated_at = ? WHERE `+match,
		append([]any{[]byte{}, millis(e.At)}, args...)...); err != nil {
		return fmt.Errorf("erase: verifications: %w", err)
	}
	if len(e.PhoneIndexes) > 0 {
		// Call records keep what the phone line needs to account for
		// itself (times, minutes, how each call ended) but no longer name
		// the caller: neither the number's index nor the pseudonym.
		ixs := args[1:] // the phone indexes, after the subject id
		if _, err := t.exec(`UPDATE calls SET caller_index = NULL, pseudonym = ''
			WHERE caller_index IN (`+placeholders(len(ixs))+`)`, ixs...); err != nil {
			return fmt.Errorf("erase: calls: %w", err)
		}
	}
	if _, err := t.exec(`UPDATE reveal_requests SET masked = '' WHERE subject_id = ?`, e.SubjectID); err != nil {
		return fmt.Errorf("erase: reveal requests: %w", err)
	}
	if _, err := t.exec(`DELETE FROM consents WHERE subject_id = ?`, e.SubjectID); err != nil {
		return fmt.Errorf("erase: consents: %w", err)
	}
	if _, err := t.exec(`DELETE FROM call_transcripts WHERE subject_id = ?`, e.SubjectID); err != nil {
		return fmt.Errorf("erase: transcripts: %w", err)
	}
	if _, err := t.exec(`DELETE FROM bindings WHERE subject_id = ?`, e.SubjectID); err != nil {
		return fmt.Errorf("erase: bindings: %w", err)
	}
	res, err := t.exec(`DELETE FROM subjects WHERE id = ?`, e.SubjectID)
	if err != nil {
		return fmt.Errorf("erase subject: %w", err)
	}
	if err := oneRow(res, "erase subject", identity.ErrNotFound); err != nil {
		return err
	}
	if _, err := t.exec(`INSERT INTO erasures (subject_id, erased_by, erased_at) VALUES (?, ?, ?)`,
		e.SubjectID, e.Actor, millis(e.At)); err != nil {
		return fmt.Errorf("record erasure: %w", err)
	}
	return nil
}

// InsertTombstone keeps the tombstone index of an erased number until
// expires; an existing one is extended.
func (t *tx) InsertTombstone(index []byte, at, expires time.Time) error {
	if _, err := t.exec(`INSERT INTO tombstones (tomb_index, purpose, created_at, expires_at) VALUES (?, 'abuse_prevention', ?, ?)
		ON CONFLICT (tomb_index) DO UPDATE SET expires_at = excluded.expires_at`,
		index, millis(at), millis(expires)); err != nil {
		return fmt.Errorf("insert tombstone: %w", err)
	}
	return nil
}

// Tombstoned reports whether any of indexes has a tombstone that has not
// expired by now.
func (db *DB) Tombstoned(ctx context.Context, indexes [][]byte, now time.Time) (bool, error) {
	return tombstoned(db.queryRow, ctx, indexes, now)
}

// Tombstoned reports, inside the transaction, whether any of indexes has a
// live tombstone.
func (t *tx) Tombstoned(indexes [][]byte, now time.Time) (bool, error) {
	return tombstoned(func(_ context.Context, q string, args ...any) *sql.Row { return t.queryRow(q, args...) }, t.ctx, indexes, now)
}

func tombstoned(queryRow func(context.Context, string, ...any) *sql.Row, ctx context.Context, indexes [][]byte, now time.Time) (bool, error) {
	if len(indexes) == 0 {
		return false, nil
	}
	args := make([]any, 0, len(indexes)+1)
	for _, ix := range indexes {
		args = append(args, ix)
	}
	args = append(args, millis(now))
	var n int
	if err := queryRow(ctx, `SELECT COUNT(*) FROM tombstones WHERE tomb_index IN (`+placeholders(len(indexes))+`) AND expires_at > ?`,
		args...).Scan(&n); err != nil {
		return false, fmt.Errorf("read tombstones: %w", err)
	}
	return n > 0, nil
}

// PurgeTombstones deletes tombstones that expired by now and returns how many.
func (db *DB) PurgeTombstones(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`DELETE FROM tombstones WHERE expires_at <= ?`, millis(now))
		if err != nil {
			return fmt.Errorf("purge tombstones: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// Compact makes deleted data leave the database files. On SQLite, where
// deleted rows are already zeroed (secure_delete), it checkpoints the WAL
// into the database and truncates it, retrying for a while if readers hold
// it. On Postgres it vacuums subject_keys, so a destroyed data key leaves
// the table's pages at once; other dead rows wait for autovacuum, and WAL
// archives keep what they hold. Erasure calls it.
func (db *DB) Compact(ctx context.Context) error {
	if db.d == postgres {
		if _, err := db.w.ExecContext(ctx, "VACUUM subject_keys"); err != nil {
			return fmt.Errorf("vacuum subject_keys: %w", err)
		}
		return nil
	}
	for try := 0; ; try++ {
		var busy, logPages, done int
		if err := db.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		if try == 40 {
			db.log.Warn("store: WAL checkpoint after an erasure stayed busy; erased pages leave the WAL at the next checkpoint")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
