package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/verify"
)

var (
	_ audit.LogStore  = (*DB)(nil)
	_ audit.RowSource = (*DB)(nil)
)

// AuditEvent is one row of the append-only audit table: an event and its
// place in the log. Seq counts from 1 without gaps.
type AuditEvent struct {
	Seq int64
	verify.Event
}

// entry is the audit.Entry a row commits to.
func entry(seq uint64, e verify.Event, payload []byte) audit.Entry {
	return audit.Entry{Seq: seq, Type: e.Type, Actor: e.Actor, Purpose: string(e.Purpose), Ref: e.VerificationID,
		Subject: e.SubjectID, Index: e.PhoneIndex, Detail: e.Detail, At: e.At, Payload: payload}
}

// AppendEvents appends audit events in order, numbering them after the last.
// Each row stores its Merkle leaf hash and, when the store has a MAC key,
// the MAC of (seq, leaf hash), so no one with only the database can forge,
// move or insert a row.
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
	var last int64
	if err := t.queryRow(`SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&last); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	for i, e := range events {
		seq := uint64(last) + uint64(i) + 1
		e.At = e.At.UTC().Truncate(time.Millisecond)
		leaf := audit.LeafHash(entry(seq, e, nil).LeafData())
		var mac []byte
		if t.mac != nil {
			mac = t.mac(audit.RowMACMessage(seq, leaf))
		}
		if _, err := t.exec(`INSERT INTO audit_events (seq, type, actor, purpose, verification_id, subject_id, phone_index, detail, at, leaf_hash, mac)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			int64(seq), e.Type, e.Actor, string(e.Purpose), e.VerificationID, e.SubjectID, blob(e.PhoneIndex), e.Detail, millis(e.At),
			leaf, blob(mac)); err != nil {
			return fmt.Errorf("append event %s: %w", e.Type, err)
		}
	}
	return nil
}

const auditColumns = `seq, type, actor, purpose, verification_id, subject_id, phone_index, detail, at, payload, leaf_hash, mac`

func scanAudit(rows *sql.Rows) (audit.Row, error) {
	var (
		r       audit.Row
		seq     int64
		purpose string
		at      sql.NullInt64
	)
	e := &r.Entry
	if err := rows.Scan(&seq, &e.Type, &e.Actor, &purpose, &e.Ref, &e.Subject, &e.Index, &e.Detail, &at, &e.Payload, &r.LeafHash, &r.MAC); err != nil {
		return r, fmt.Errorf("read audit rows: %w", err)
	}
	e.Seq, e.Purpose, e.At = uint64(seq), purpose, fromMillis(at)
	return r, nil
}

// AuditEvents returns up to limit audit events with seq > afterSeq, in order.
func (db *DB) AuditEvents(ctx context.Context, afterSeq int64, limit int) ([]AuditEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	defer rows.Close()
	var es []AuditEvent
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		e := r.Entry
		es = append(es, AuditEvent{Seq: int64(e.Seq), Event: verify.Event{Type: e.Type, Actor: e.Actor, Purpose: verify.Purpose(e.Purpose),
			VerificationID: e.Ref, SubjectID: e.Subject, PhoneIndex: e.Index, Detail: e.Detail, At: e.At}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	return es, nil
}

// AuditRows yields every audit row in seq order, for audit.Verify. It reads
// in pages, so a long log is never held in memory.
func (db *DB) AuditRows(ctx context.Context) iter.Seq2[audit.Row, error] {
	return func(yield func(audit.Row, error) bool) {
		var after int64
		for {
			rows, err := db.query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 1000`, after)
			if err != nil {
				yield(audit.Row{}, fmt.Errorf("read audit rows: %w", err))
				return
			}
			n := 0
			for rows.Next() {
				r, err := scanAudit(rows)
				if err != nil {
					rows.Close()
					yield(audit.Row{}, err)
					return
				}
				n++
				after = int64(r.Entry.Seq)
				if !yield(r, nil) {
					rows.Close()
					return
				}
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				yield(audit.Row{}, fmt.Errorf("read audit rows: %w", err))
				return
			}
			if n < 1000 {
				return
			}
		}
	}
}

// AuditRow reads one audit row by seq; verify.ErrNotFound if there is none.
func (db *DB) AuditRow(ctx context.Context, seq uint64) (audit.Row, error) {
	rows, err := db.query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE seq = ?`, int64(seq))
	if err != nil {
		return audit.Row{}, fmt.Errorf("read audit row: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return audit.Row{}, fmt.Errorf("read audit row: %w", err)
		}
		return audit.Row{}, verify.ErrNotFound
	}
	return scanAudit(rows)
}

// LeafHashes returns the stored leaf hashes of leaves [from, to), that is of
// seq from+1 to to, for proofs and checkpoints.
func (db *DB) LeafHashes(ctx context.Context, from, to uint64) ([][]byte, error) {
	if to <= from {
		return nil, nil
	}
	rows, err := db.query(ctx, `SELECT seq, leaf_hash FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq`, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("read leaf hashes: %w", err)
	}
	defer rows.Close()
	out := make([][]byte, 0, to-from)
	want := int64(from) + 1
	for rows.Next() {
		var (
			seq int64
			h   []byte
		)
		if err := rows.Scan(&seq, &h); err != nil {
			return nil, fmt.Errorf("read leaf hashes: %w", err)
		}
		if seq != want {
			return nil, fmt.Errorf("read leaf hashes: seq %d missing", want)
		}
		want++
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read leaf hashes: %w", err)
	}
	if uint64(len(out)) != to-from {
		return nil, fmt.Errorf("read leaf hashes: %d of %d leaves", len(out), to-from)
	}
	return out, nil
}

// AuditSize returns the number of audit rows (the largest seq).
func (db *DB) AuditSize(ctx context.Context) (uint64, error) {
	var n int64
	if err := db.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit size: %w", err)
	}
	return uint64(n), nil
}

const checkpointColumns = `size, root, state, note, created_at`

func scanCheckpoint(s scanner) (*audit.Stored, error) {
	var (
		c    audit.Stored
		size int64
		note string
		at   sql.NullInt64
	)
	if err := s.Scan(&size, &c.Root, &c.State, &note, &at); err != nil {
		return nil, err
	}
	c.Size, c.Note, c.At = uint64(size), []byte(note), fromMillis(at)
	return &c, nil
}

// LatestCheckpoint returns the checkpoint of the largest size, or nil if none.
func (db *DB) LatestCheckpoint(ctx context.Context) (*audit.Stored, error) {
	c, err := scanCheckpoint(db.queryRow(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY size DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	return c, nil
}

// Checkpoint returns the checkpoint of a size; verify.ErrNotFound if none.
func (db *DB) Checkpoint(ctx context.Context, size uint64) (*audit.Stored, error) {
	c, err := scanCheckpoint(db.queryRow(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE size = ?`, int64(size)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, verify.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	return c, nil
}

// Checkpoints returns up to limit checkpoints, newest first.
func (db *DB) Checkpoints(ctx context.Context, limit int) ([]*audit.Stored, error) {
	rows, err := db.query(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY size DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	var cs []*audit.Stored
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// SaveCheckpoint keeps a signed checkpoint; one of the same size is kept as it was.
func (db *DB) SaveCheckpoint(ctx context.Context, c *audit.Stored) error {
	state := c.State
	if state == nil {
		state = []byte{} // the empty tree has an empty state, not a missing one
	}
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO audit_checkpoints (`+checkpointColumns+`) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (size) DO NOTHING`, int64(c.Size), c.Root, state, string(c.Note), millis(c.At))
		if err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
		return nil
	})
}
