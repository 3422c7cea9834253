package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/identity"
)

// SaveTranscript stores the sealed transcript of the call callID, started
// at start, for a subject. seal runs inside the transaction, after the
// subject is read (and locked on Postgres, so an erasure waits or goes
// first), and returns the sealed transcript; it may create the subject's
// data key through tx. identity.ErrNotFound if the subject is gone;
// identity.ErrConflict if the call has a transcript already.
func (db *DB) SaveTranscript(ctx context.Context, callID, subjectID string, start time.Time,
	seal func(tx identity.DataKeys) ([]byte, error)) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.Subject(subjectID); err != nil {
			return err
		}
		sealed, err := seal(t)
		if err != nil {
			return err
		}
		_, err = t.exec(`INSERT INTO call_transcripts (call_id, subject_id, started_at, sealed) VALUES (?, ?, ?, ?)`,
			callID, subjectID, start.UnixMilli(), sealed)
		if isUniqueViolation(err) {
			return identity.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("save transcript: %w", err)
		}
		return nil
	})
}

// TranscriptsOf returns the sealed transcripts kept for a subject, by call id.
func (db *DB) TranscriptsOf(ctx context.Context, subjectID string) (map[string][]byte, error) {
	rows, err := db.query(ctx, `SELECT call_id, sealed FROM call_transcripts WHERE subject_id = ?`, subjectID)
	if err != nil {
		return nil, fmt.Errorf("list transcripts: %w", err)
	}
	defer rows.Close()
	out := make(map[string][]byte)
	for rows.Next() {
		var id string
		var sealed []byte
		if err := rows.Scan(&id, &sealed); err != nil {
			return nil, fmt.Errorf("list transcripts: %w", err)
		}
		out[id] = sealed
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list transcripts: %w", err)
	}
	return out, nil
}

// PurgeTranscripts deletes the transcripts of calls started before before
// and returns how many.
func (db *DB) PurgeTranscripts(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`DELETE FROM call_transcripts WHERE started_at < ?`, before.UnixMilli())
		if err != nil {
			return fmt.Errorf("purge transcripts: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// CallsFrom lists the call records whose caller index is one of indexes,
// started from since, oldest first.
func (db *DB) CallsFrom(ctx context.Context, indexes [][]byte, since time.Time) ([]*dialogue.CallRecord, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(indexes)+1)
	for _, ix := range indexes {
		args = append(args, ix)
	}
	args = append(args, since.UnixMilli())
	return db.listCalls(ctx, `SELECT `+callColumns+` FROM calls WHERE caller_index IN (`+placeholders(len(indexes))+`)
		AND started_at >= ? ORDER BY started_at, id`, args...)
}
