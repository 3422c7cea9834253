package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/ringfence/ringfence/internal/rekey"
)

var _ rekey.Store = (*DB)(nil)

// identifier reports whether s is a plain SQL name, so that table and
// column names from a rekey.Table cannot inject SQL.
func identifier(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// CountRows returns how many rows a table holds.
func (db *DB) CountRows(ctx context.Context, table string) (int, error) {
	if !identifier(table) {
		return 0, fmt.Errorf("count rows: bad table name %q", table)
	}
	var n int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// RekeyBatch implements rekey.Store: one batch of a re-encryption, in one
// write transaction. Rows are read in primary key order after after; each
// row fn rewrites is written back only if every column read still holds
// what was read (compare and swap), so a verification checked or a binding
// changed meanwhile is never overwritten: it counts as a conflict and the
// next pass takes it up.
func (db *DB) RekeyBatch(ctx context.Context, t rekey.Table, after any, limit int, fn rekey.Func) (rekey.Batch, error) {
	names := append([]string{t.Name, t.Key}, t.Cols...)
	for _, n := range names {
		if !identifier(n) {
			return rekey.Batch{}, fmt.Errorf("rekey: bad name %q", n)
		}
	}
	if t.Write < 1 || t.Write > len(t.Cols) || limit <= 0 {
		return rekey.Batch{}, fmt.Errorf("rekey %s: bad batch", t.Name)
	}
	var b rekey.Batch
	err := db.write(ctx, func(tx *tx) error {
		b = rekey.Batch{}
		type row struct {
			key  any
			vals []any
		}
		q := `SELECT ` + t.Key + `, ` + strings.Join(t.Cols, ", ") + ` FROM ` + t.Name
		var args []any
		if after != nil {
			q += ` WHERE ` + t.Key + ` > ?`
			args = append(args, after)
		}
		rs, err := tx.query(q+` ORDER BY `+t.Key+` LIMIT ?`, append(args, limit)...)
		if err != nil {
			return fmt.Errorf("read %s: %w", t.Name, err)
		}
		var batch []row
		for rs.Next() {
			r := row{vals: make([]any, len(t.Cols))}
			dest := []any{&r.key}
			for i := range r.vals {
				dest = append(dest, &r.vals[i])
			}
			if err := rs.Scan(dest...); err != nil {
				rs.Close()
				return fmt.Errorf("read %s: %w", t.Name, err)
			}
			batch = append(batch, r)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return fmt.Errorf("read %s: %w", t.Name, err)
		}

		set := make([]string, t.Write)
		for i, c := range t.Cols[:t.Write] {
			set[i] = c + ` = ?`
		}
		where := []string{t.Key + ` = ?`}
		for _, c := range t.Cols {
			where = append(where, c+` `+tx.d.isNotDistinct()+` ?`)
		}
		update := `UPDATE ` + t.Name + ` SET ` + strings.Join(set, ", ") + ` WHERE ` + strings.Join(where, " AND ")
		for _, r := range batch {
			b.Seen++
			b.Next = r.key
			out, lock, err := fn(tx, r.vals)
			if err != nil {
				return err
			}
			if out == nil {
				continue
			}
			if len(out) != t.Write {
				return fmt.Errorf("rekey %s: rewrite gave %d values, want %d", t.Name, len(out), t.Write)
			}
			if lock != nil {
				if err := tx.Lock(lock); err != nil {
					return err
				}
			}
			args := append(append(append([]any{}, out...), r.key), r.vals...)
			res, err := tx.exec(update, args...)
			if err != nil {
				return fmt.Errorf("rewrite %s: %w", t.Name, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("rewrite %s: %w", t.Name, err)
			} else if n == 0 {
				b.Conflict++
				continue
			}
			b.Changed++
			if old, ok := r.vals[0].([]byte); ok && t.Also != "" {
				if nb, ok := out[0].([]byte); ok && !bytes.Equal(nb, old) {
					if _, err := tx.exec(t.Also, nb, old); err != nil {
						return fmt.Errorf("rewrite %s: %w", t.Name, err)
					}
				}
			}
		}
		if b.Seen < limit {
			b.Next = nil
		}
		return nil
	})
	if err != nil {
		return rekey.Batch{}, err
	}
	return b, nil
}
