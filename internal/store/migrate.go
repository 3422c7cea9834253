package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations are numbered .sql files, one folder per dialect, embedded in the
// binary and applied forward only: NNNN_name.sql, from 0001, without gaps,
// with the same numbers in both folders. Each runs in its own transaction,
// which also records it in schema_migrations.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string // file name, for errors
	sql     string
}

// migrations returns the dialect's migrations in order, or an error if
// their numbering is broken.
func migrations(d dialect) ([]migration, error) {
	return readMigrations(migrationFiles, path.Join("migrations", d.String()))
}

func readMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_name.sql", dir, name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s/%s: version %d, want %d (gap or duplicate)", dir, m.name, m.version, i+1)
		}
	}
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at BIGINT  NOT NULL
)`

// Migrate applies the migrations the database lacks, each in its own
// transaction. It is safe to run again, and on Postgres from several
// instances at once. It refuses a database migrated by a newer ringfence.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := migrations(db.d)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		applied, err := db.migrateOne(ctx, m, len(ms))
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if applied {
			db.log.Info("store: applied migration", logKeyDialect, db.d.String(), logKeyVersion, m.version)
		}
	}
	return nil
}

func (db *DB) migrateOne(ctx context.Context, m migration, latest int) (applied bool, err error) {
	// On SQLite this is the writer connection, so BEGIN IMMEDIATE: another
	// process migrating the same file waits for us.
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil || !applied {
			_ = sqlTx.Rollback() // nothing to keep; err says what went wrong
		}
	}()
	t := &tx{ctx: ctx, q: sqlTx, d: db.d}
	if err := t.Lock(migrateLockKey); err != nil {
		return false, err
	}
	if _, err := t.exec(createMigrationsTable); err != nil {
		return false, err
	}
	v, err := migrationVersion(t.queryRow("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
	if err != nil {
		return false, err
	}
	if v > latest {
		return false, fmt.Errorf("database is at version %d, newer than this binary's %d", v, latest)
	}
	if v >= m.version {
		return false, nil
	}
	if v != m.version-1 {
		return false, fmt.Errorf("database is at version %d, cannot apply %d", v, m.version)
	}
	if _, err := sqlTx.ExecContext(ctx, m.sql); err != nil {
		return false, err
	}
	if _, err := t.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
		m.version, time.Now().UnixMilli()); err != nil {
		return false, err
	}
	if err := sqlTx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return true, nil
}

// MigrationVersion returns the version of the last migration applied, 0 if none.
func (db *DB) MigrationVersion(ctx context.Context) (int, error) {
	v, err := migrationVersion(db.queryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
	if err != nil {
		return 0, fmt.Errorf("migration version: %w", err)
	}
	return v, nil
}

func migrationVersion(row *sql.Row) (int, error) {
	var v int
	err := row.Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
