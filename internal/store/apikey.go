package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/apikey"
)

const apiKeyColumns = `id, name, role, created_at, revoked_at`

func scanAPIKey(s scanner) (apikey.Key, error) {
	var (
		k                apikey.Key
		created, revoked sql.NullInt64
	)
	if err := s.Scan(&k.ID, &k.Name, &k.Role, &created, &revoked); err != nil {
		return apikey.Key{}, err
	}
	k.CreatedAt = fromMillis(created)
	k.RevokedAt = fromMillis(revoked)
	return k, nil
}

// CreateAPIKey stores k with the hash of its secret. A hash or id already
// stored is an error.
func (db *DB) CreateAPIKey(ctx context.Context, k apikey.Key, hash []byte) error {
	if len(hash) == 0 {
		return errors.New("create api key: empty hash")
	}
	err := db.write(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO api_keys (id, name, role, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, k.Name, string(k.Role), hash, millis(k.CreatedAt), millis(k.RevokedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

// APIKeyByHash returns the active key with that hash, or apikey.ErrNotFound
// (also for a revoked key).
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (apikey.Key, error) {
	k, err := scanAPIKey(db.queryRow(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ? AND revoked_at IS NULL`, blob(hash)))
	if errors.Is(err, sql.ErrNoRows) {
		return apikey.Key{}, apikey.ErrNotFound
	}
	if err != nil {
		return apikey.Key{}, fmt.Errorf("read api key: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, newest first.
func (db *DB) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	rows, err := db.query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var ks []apikey.Key
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list api keys: %w", err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return ks, nil
}

// RevokeAPIKey marks a key revoked at the given time; apikey.ErrNotFound if
// unknown. Revoking a revoked key keeps the first time.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return errors.New("revoke api key: zero time")
	}
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, at.UnixMilli(), id)
		if err != nil {
			return err
		}
		return oneRow(res, "revoke api key", apikey.ErrNotFound)
	})
	if errors.Is(err, apikey.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	return nil
}
