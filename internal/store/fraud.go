package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FraudState returns the saved snapshot of the fraud guard, or nil.
func (db *DB) FraudState(ctx context.Context) ([]byte, error) {
	var data []byte
	err := db.queryRow(ctx, `SELECT data FROM fraud_state WHERE id = 1`).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read fraud state: %w", err)
	}
	return data, nil
}

// SaveFraudState keeps a snapshot of the fraud guard.
func (db *DB) SaveFraudState(ctx context.Context, data []byte, at time.Time) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO fraud_state (id, data, updated_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`, data, millis(at))
		if err != nil {
			return fmt.Errorf("save fraud state: %w", err)
		}
		return nil
	})
}
