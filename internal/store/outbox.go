package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

const messageColumns = `id, verification_id, channel, state, attempts, due_at, lease_until, created_at, provider_id, error,
	step, provider, receipt_due`

func scanMessage(s scanner) (verify.Message, error) {
	var (
		m                   verify.Message
		due, lease, created sql.NullInt64
		receiptDue          sql.NullInt64
	)
	if err := s.Scan(&m.ID, &m.VerificationID, &m.Channel, &m.State, &m.Attempts,
		&due, &lease, &created, &m.ProviderID, &m.Error,
		&m.Step, &m.Provider, &receiptDue); err != nil {
		return verify.Message{}, err
	}
	m.ReceiptDue = fromMillis(receiptDue)
	m.DueAt = fromMillis(due)
	m.LeaseUntil = fromMillis(lease)
	m.CreatedAt = fromMillis(created)
	return m, nil
}

// EnqueueMessage adds m to the outbox in state pending (and sets m.State so).
func (t *tx) EnqueueMessage(m *verify.Message) error {
	m.State = verify.MessagePending
	if _, err := t.exec(`INSERT INTO outbox (`+messageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.VerificationID, string(m.Channel), m.State, m.Attempts,
		millis(m.DueAt), millis(m.LeaseUntil), millis(m.CreatedAt), m.ProviderID, m.Error,
		m.Step, m.Provider, millis(m.ReceiptDue)); err != nil {
		return fmt.Errorf("enqueue message: %w", err)
	}
	return nil
}

// FinishMessage sets a message's state, channel, attempts, provider id,
// error, due time, step, provider and receipt due time, only while the
// caller still holds the lease it claimed the message under (m.LeaseUntil);
// verify.ErrLeaseLost otherwise.
func (t *tx) FinishMessage(m *verify.Message) error {
	res, err := t.exec(`UPDATE outbox SET state = ?, channel = ?, attempts = ?, provider_id = ?, error = ?, due_at = ?,
			step = ?, provider = ?, receipt_due = ?
		WHERE id = ? AND state = ? AND lease_until = ?`,
		m.State, string(m.Channel), m.Attempts, m.ProviderID, m.Error, millis(m.DueAt),
		m.Step, m.Provider, millis(m.ReceiptDue),
		m.ID, verify.MessageSending, millis(m.LeaseUntil))
	if err != nil {
		return fmt.Errorf("finish message: %w", err)
	}
	return oneRow(res, "finish message", verify.ErrLeaseLost)
}

// OverdueReceipts lists up to limit sent messages still awaiting a receipt
// that was due at or before now, earliest first.
func (db *DB) OverdueReceipts(ctx context.Context, now time.Time, limit int) ([]verify.Message, error) {
	rows, err := db.query(ctx, `SELECT `+messageColumns+` FROM outbox
		WHERE state = '`+verify.MessageSent+`' AND receipt_due <= ? ORDER BY receipt_due, id LIMIT ?`,
		now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("overdue receipts: %w", err)
	}
	defer rows.Close()
	var ms []verify.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("overdue receipts: %w", err)
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// ClaimMessages moves up to limit pending messages due at or before now to
// sending, leased until now+lease, and returns them, earliest due first.
// Several instances never claim the same message: on Postgres the rows are
// picked with FOR UPDATE SKIP LOCKED, on SQLite the single writer runs one
// claim at a time.
func (db *DB) ClaimMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]verify.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	var ms []verify.Message
	err := db.write(ctx, func(t *tx) error {
		ms = ms[:0]
		rows, err := t.query(`UPDATE outbox SET state = ?, lease_until = ?
			WHERE id IN (SELECT id FROM outbox WHERE state = '`+verify.MessagePending+`' AND due_at <= ?
				ORDER BY due_at, id LIMIT ?`+t.d.skipLocked()+`)
			RETURNING `+messageColumns,
			verify.MessageSending, now.Add(lease).UnixMilli(), now.UnixMilli(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			ms = append(ms, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	// RETURNING keeps no order.
	sort.Slice(ms, func(i, j int) bool {
		if !ms[i].DueAt.Equal(ms[j].DueAt) {
			return ms[i].DueAt.Before(ms[j].DueAt)
		}
		return ms[i].ID < ms[j].ID
	})
	return ms, nil
}

// ReleaseStale handles messages whose lease ran out at or before now (their
// sender died): back to pending if retry, else to unknown. It returns how many.
func (db *DB) ReleaseStale(ctx context.Context, now time.Time, retry bool) (int, error) {
	state := verify.MessageUnknown
	if retry {
		state = verify.MessagePending
	}
	var n int64
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`UPDATE outbox SET state = ?, lease_until = NULL WHERE state = '`+verify.MessageSending+`' AND lease_until <= ?`,
			state, now.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release stale messages: %w", err)
	}
	return int(n), nil
}

// Purge deletes send records, idempotency records and finished messages
// (sent, failed, unknown, dropped) created before before.
func (db *DB) Purge(ctx context.Context, before time.Time) error {
	b := before.UnixMilli()
	err := db.write(ctx, func(t *tx) error {
		if _, err := t.exec(`DELETE FROM send_log WHERE at < ?`, b); err != nil {
			return err
		}
		if _, err := t.exec(`DELETE FROM deliveries WHERE sent_at < ?`, b); err != nil {
			return err
		}
		if _, err := t.exec(`DELETE FROM idempotency WHERE created_at < ?`, b); err != nil {
			return err
		}
		// Inbound ids outlive every verification they could approve.
		if _, err := t.exec(`DELETE FROM inbound_messages WHERE at < ?`, b); err != nil {
			return err
		}
		_, err := t.exec(`DELETE FROM outbox WHERE state IN (?, ?, ?, ?) AND created_at < ?`,
			verify.MessageSent, verify.MessageFailed, verify.MessageUnknown, verify.MessageDropped, b)
		return err
	})
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	return nil
}
