package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/verify"
)

var (
	_ privacy.Store       = (*DB)(nil)
	_ privacy.ExportStore = (*DB)(nil)
	_ privacy.Tx          = (*tx)(nil)
)

const consentColumns = `id, subject_id, purpose, channel, action, method, evidence, phone_index, actor, at, audit_seq, receipt`

func scanConsents(rows *sql.Rows, err error) ([]*privacy.Consent, error) {
	if err != nil {
		return nil, fmt.Errorf("read consents: %w", err)
	}
	defer rows.Close()
	var cs []*privacy.Consent
	for rows.Next() {
		var (
			c                        privacy.Consent
			purpose, channel, action string
			at                       sql.NullInt64
			seq                      int64
			receipt                  string
		)
		if err := rows.Scan(&c.ID, &c.SubjectID, &purpose, &channel, &action, &c.Method, &c.Evidence, &c.PhoneIndex,
			&c.Actor, &at, &seq, &receipt); err != nil {
			return nil, fmt.Errorf("read consents: %w", err)
		}
		c.Purpose, c.Channel, c.Action = privacy.Purpose(purpose), privacy.Channel(channel), privacy.Action(action)
		c.At, c.AuditSeq, c.Receipt = fromMillis(at), uint64(seq), []byte(receipt)
		cs = append(cs, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read consents: %w", err)
	}
	return cs, nil
}

// Consents lists a subject's consent records, oldest first.
func (db *DB) Consents(ctx context.Context, subjectID string) ([]*privacy.Consent, error) {
	return scanConsents(db.query(ctx, `SELECT `+consentColumns+` FROM consents WHERE subject_id = ? ORDER BY audit_seq`, subjectID))
}

// ConsentsOf lists a subject's consent records, oldest first, inside a write.
func (t *tx) ConsentsOf(subjectID string) ([]*privacy.Consent, error) {
	return scanConsents(t.query(`SELECT `+consentColumns+` FROM consents WHERE subject_id = ? ORDER BY audit_seq`, subjectID))
}

// InsertConsent appends a record to the consent ledger.
func (t *tx) InsertConsent(c *privacy.Consent) error {
	_, err := t.exec(`INSERT INTO consents (`+consentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.SubjectID, string(c.Purpose), string(c.Channel), string(c.Action), c.Method, c.Evidence, blob(c.PhoneIndex),
		c.Actor, millis(c.At), int64(c.AuditSeq), string(c.Receipt))
	if err != nil {
		return fmt.Errorf("insert consent: %w", err)
	}
	return nil
}

// AuditSize returns the seq of the last audit event, counting those this
// transaction appended.
func (t *tx) AuditSize() (uint64, error) {
	var n int64
	if err := t.queryRow(`SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit size: %w", err)
	}
	return uint64(n), nil
}

// VerificationsOf lists the verifications that name a subject, oldest first.
func (db *DB) VerificationsOf(ctx context.Context, subjectID string) ([]*verify.Verification, error) {
	rows, err := db.query(ctx, `SELECT `+verificationColumns+` FROM verifications WHERE subject_id = ? ORDER BY created_at, id`, subjectID)
	if err != nil {
		return nil, fmt.Errorf("read verifications: %w", err)
	}
	defer rows.Close()
	var vs []*verify.Verification
	for rows.Next() {
		v, err := scanVerification(rows)
		if err != nil {
			return nil, fmt.Errorf("read verifications: %w", err)
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}
