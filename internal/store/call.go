package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/dialogue"
)

var (
	_ dialogue.Quota   = (*DB)(nil)
	_ dialogue.Records = (*DB)(nil)
)

// Used returns a caller's talk time in a calendar month.
func (db *DB) Used(ctx context.Context, callerKey string, month time.Time) (time.Duration, error) {
	if err := dialogue.CheckOpaque(callerKey); err != nil {
		return 0, err
	}
	var ms int64
	err := db.queryRow(ctx, `SELECT used_ms FROM call_minutes WHERE caller_key = ? AND month = ?`,
		callerKey, dialogue.Month(month).UnixMilli()).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read call minutes: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Add adds talk time to a caller's calendar month.
func (db *DB) Add(ctx context.Context, callerKey string, month time.Time, d time.Duration) error {
	if err := dialogue.CheckOpaque(callerKey); err != nil {
		return err
	}
	if d < 0 {
		return errors.New("add call minutes: negative talk time")
	}
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO call_minutes (caller_key, month, used_ms) VALUES (?, ?, ?)
			ON CONFLICT (caller_key, month) DO UPDATE SET used_ms = call_minutes.used_ms + excluded.used_ms`,
			callerKey, dialogue.Month(month).UnixMilli(), d.Milliseconds())
		if err != nil {
			return fmt.Errorf("add call minutes: %w", err)
		}
		return nil
	})
}

const callColumns = `id, trunk, caller_index, pseudonym, started_at, duration_ms, charged_ms,
	disclosure_hash, ended, turns, emergency`

// SaveCall stores a call record.
func (db *DB) SaveCall(ctx context.Context, r *dialogue.CallRecord) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO calls (`+callColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Trunk, r.CallerIndex, r.Pseudonym, r.Start.UnixMilli(), r.Duration.Milliseconds(),
			r.Charged.Milliseconds(), r.DisclosureHash, r.Ended, int64(r.Turns), boolInt(r.Emergency))
		if err != nil {
			return fmt.Errorf("save call: %w", err)
		}
		return nil
	})
}

// Calls lists the call records started from since, oldest first.
func (db *DB) Calls(ctx context.Context, since time.Time) ([]*dialogue.CallRecord, error) {
	return db.listCalls(ctx, `SELECT `+callColumns+` FROM calls WHERE started_at >= ? ORDER BY started_at, id`, since.UnixMilli())
}

// listCalls runs a query of callColumns.
func (db *DB) listCalls(ctx context.Context, query string, args ...any) ([]*dialogue.CallRecord, error) {
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	defer rows.Close()
	var out []*dialogue.CallRecord
	for rows.Next() {
		var (
			r                                 dialogue.CallRecord
			start, dur, charged, turns, emerg int64
		)
		if err := rows.Scan(&r.ID, &r.Trunk, &r.CallerIndex, &r.Pseudonym, &start, &dur, &charged,
			&r.DisclosureHash, &r.Ended, &turns, &emerg); err != nil {
			return nil, fmt.Errorf("list calls: %w", err)
		}
		r.Start = time.UnixMilli(start).UTC()
		r.Duration, r.Charged = time.Duration(dur)*time.Millisecond, time.Duration(charged)*time.Millisecond
		r.Turns, r.Emergency = int(turns), emerg != 0
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	return out, nil
}

// CallsTranscribedFor lists the call records whose transcript is kept for
// a subject, oldest first.
func (db *DB) CallsTranscribedFor(ctx context.Context, subjectID string) ([]*dialogue.CallRecord, error) {
	return db.listCalls(ctx, `SELECT `+callColumns+` FROM calls
		WHERE id IN (SELECT call_id FROM call_transcripts WHERE subject_id = ?) ORDER BY started_at, id`, subjectID)
}
