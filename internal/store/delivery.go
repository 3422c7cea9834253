package store

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/ringfence/ringfence/internal/verify"
)

const deliveryColumns = `provider, provider_id, message_id, step, receipt, error, sent_at, receipt_at`

// Message reads an outbox row for update; verify.ErrNotFound if missing.
func (t *tx) Message(id string) (*verify.Message, error) {
	m, err := scanMessage(t.queryRow(`SELECT `+messageColumns+` FROM outbox WHERE id = ?`+t.d.forUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, verify.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	return &m, nil
}

// MoveMessage writes a sent message's state, channel, step, provider,
// provider id, attempts, error, due time and receipt due time, only while it
// is still sent under providerID; verify.ErrReceiptDone otherwise.
func (t *tx) MoveMessage(m *verify.Message, providerID string) error {
	res, err := t.exec(`UPDATE outbox SET state = ?, channel = ?, step = ?, provider = ?, provider_id = ?,
			attempts = ?, error = ?, due_at = ?, receipt_due = ?, lease_until = NULL
		WHERE id = ? AND state = ? AND provider_id = ?`,
		m.State, string(m.Channel), m.Step, m.Provider, m.ProviderID,
		m.Attempts, m.Error, millis(m.DueAt), millis(m.ReceiptDue),
		m.ID, verify.MessageSent, providerID)
	if err != nil {
		return fmt.Errorf("move message: %w", err)
	}
	return oneRow(res, "move message", verify.ErrReceiptDone)
}

// InsertDelivery records a handover of a message to a provider.
func (t *tx) InsertDelivery(d *verify.Delivery) error {
	if _, err := t.exec(`INSERT INTO deliveries (`+deliveryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Provider, d.ProviderID, d.MessageID, d.Step, d.Receipt, d.Error, millis(d.SentAt), millis(d.ReceiptAt)); err != nil {
		return fmt.Errorf("insert delivery: %w", err)
	}
	return nil
}

// Delivery reads the delivery provider knows by providerID, for update;
// verify.ErrNotFound if there is none.
func (t *tx) Delivery(provider, providerID string) (*verify.Delivery, error) {
	var (
		d            verify.Delivery
		sent, rcpted sql.NullInt64
	)
	err := t.queryRow(`SELECT `+deliveryColumns+` FROM deliveries WHERE provider = ? AND provider_id = ?`+t.d.forUpdate(),
		provider, providerID).Scan(&d.Provider, &d.ProviderID, &d.MessageID, &d.Step, &d.Receipt, &d.Error, &sent, &rcpted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, verify.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read delivery: %w", err)
	}
	d.SentAt = fromMillis(sent)
	d.ReceiptAt = fromMillis(rcpted)
	return &d, nil
}

// SetReceipt records d's final receipt, error and receipt time, only if it
// had none; verify.ErrReceiptDone otherwise.
func (t *tx) SetReceipt(d *verify.Delivery) error {
	res, err := t.exec(`UPDATE deliveries SET receipt = ?, error = ?, receipt_at = ?
		WHERE provider = ? AND provider_id = ? AND receipt = ''`,
		d.Receipt, d.Error, millis(d.ReceiptAt), d.Provider, d.ProviderID)
	if err != nil {
		return fmt.Errorf("set receipt: %w", err)
	}
	return oneRow(res, "set receipt", verify.ErrReceiptDone)
}
