package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ringfence/ringfence/internal/verify"
)

// AuditEvent is one row of the append-only audit table: an event and its
// place in the log. Seq counts from 1 without gaps.
type AuditEvent struct {
	Seq int64
	verify.Event
}

// AppendEvents appends audit events in order, numbering them after the last.
//
// seq is assigned as max+1 rather than by a sequence, because sequences
// leave gaps when a transaction rolls back and the numbers become Merkle
// leaf indexes. SQLite's single writer makes max+1 safe; Postgres
// transactions that append take one advisory lock, held to their end.
func (t *tx) AppendEvents(events ...verify.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := t.Lock(auditLockKey); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	for _, e := range events {
		if _, err := t.exec(`INSERT INTO audit_events (seq, type, actor, purpose, verification_id, subject_id, phone_index, detail, at)
			VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events), ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Type, e.Actor, string(e.Purpose), e.VerificationID, e.SubjectID, blob(e.PhoneIndex), e.Detail, millis(e.At)); err != nil {
			return fmt.Errorf("append event %s: %w", e.Type, err)
		}
	}
	return nil
}

// AuditEvents returns up to limit audit events with seq > afterSeq, in order.
func (db *DB) AuditEvents(ctx context.Context, afterSeq int64, limit int) ([]AuditEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.query(ctx, `SELECT seq, type, actor, purpose, verification_id, subject_id, phone_index, detail, at
		FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	defer rows.Close()
	var es []AuditEvent
	for rows.Next() {
		var (
			e  AuditEvent
			at sql.NullInt64
		)
		if err := rows.Scan(&e.Seq, &e.Type, &e.Actor, &e.Purpose, &e.VerificationID, &e.SubjectID, &e.PhoneIndex, &e.Detail, &at); err != nil {
			return nil, fmt.Errorf("read audit events: %w", err)
		}
		e.At = fromMillis(at)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	return es, nil
}
