package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// The store suite: every test that takes a *DB runs through forEachDB, on
// SQLite always and on Postgres when RINGFENCE_TEST_POSTGRES holds a URL
// (each test then gets a schema of its own).

const postgresEnv = "RINGFENCE_TEST_POSTGRES"

// forEachDB runs fn on a fresh SQLite database and, if configured, on a
// fresh Postgres schema.
func forEachDB(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, openTestDB(t, Config{URL: filepath.Join(t.TempDir(), "ringfence.db")}))
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv(postgresEnv)
		if base == "" {
			t.Skip(postgresEnv + " is not set: skipping the Postgres run of the store suite")
		}
		fn(t, openTestDB(t, Config{URL: postgresSchema(t, base)}))
	})
}

// openTestDB opens a DB that the test's cleanup closes.
func openTestDB(t *testing.T, cfg Config) *DB {
	t.Helper()
	db, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// reopen opens a second DB on the same database as db: another instance.
func reopen(t *testing.T, db *DB) *DB {
	t.Helper()
	return openTestDB(t, Config{URL: db.url})
}

// postgresSchema creates a schema only this test uses, drops it at cleanup,
// and returns base with search_path set to it.
func postgresSchema(t *testing.T, base string) string {
	t.Helper()
	admin, err := openPostgresPool(base)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "rf_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// write runs fn through Write and fails the test on an error.
func write(t *testing.T, db *DB, fn func(tx verify.Tx) error) {
	t.Helper()
	if err := db.Write(t.Context(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// count returns the number of rows of a table.
func count(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.r.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// t0 is the tests' clock; ms precision so values round-trip exactly.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

func TestOpenBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{
		{URL: ""},
		{URL: ":memory:"},
		{URL: "file::memory:"},
		{URL: "sqlite://"},
		{URL: filepath.Join(dir, "a.db") + "?mode=ro"},
		{URL: filepath.Join(dir, "missing", "a.db")},
		{URL: filepath.Join(dir, "b.db"), MaxBatch: -1},
	} {
		if db, err := Open(t.Context(), cfg); err == nil {
			db.Close()
			t.Errorf("Open(%+v) succeeded, want an error", cfg)
		}
	}
	// Nothing was created for the refused inputs.
	if _, err := os.Stat(filepath.Join(dir, "b.db")); !os.IsNotExist(err) {
		t.Errorf("b.db exists after a refused Open: %v", err)
	}
}

func TestOpenURLForms(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{
		filepath.Join(dir, "plain.db"),
		"sqlite://" + filepath.Join(dir, "prefixed.db"),
		"file:" + filepath.Join(dir, "uri.db"),
	} {
		db := openTestDB(t, Config{URL: u})
		if got := db.Dialect(); got != "sqlite" {
			t.Errorf("%s: Dialect = %q", u, got)
		}
		if err := db.Ping(t.Context()); err != nil {
			t.Errorf("%s: Ping: %v", u, err)
		}
	}
	for _, name := range []string{"plain.db", "prefixed.db", "uri.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSQLiteSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ringfence.db")
	db := openTestDB(t, Config{URL: path})
	write(t, db, func(tx verify.Tx) error { return tx.RecordSend([]byte("idx"), nil, t0) })

	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), mode)
		}
	}
	pragma := func(q *sql.DB, name string) string {
		t.Helper()
		var v string
		if err := q.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for name, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "temp_store": "2", "cache_size": "-32768",
		"wal_autocheckpoint": strconv.Itoa(walSafetyPages)} {
		if got := pragma(db.w, name); got != want {
			t.Errorf("writer %s = %s, want %s", name, got, want)
		}
	}
	if got := pragma(db.r, "query_only"); got != "1" {
		t.Errorf("reader query_only = %s, want 1", got)
	}
	if _, err := db.r.ExecContext(t.Context(), "DELETE FROM send_log"); err == nil {
		t.Error("a reader connection could write")
	}
	if n := count(t, db, "send_log"); n != 1 {
		t.Errorf("send_log has %d rows, want 1", n)
	}
}

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"a = '?' AND b = ? AND \"c?\" = ?", "a = '?' AND b = $1 AND \"c?\" = $2"},
		{"x IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "x IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
	} {
		if got := postgres.rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := sqlite.rebind(tc.in); got != tc.in {
			t.Errorf("sqlite rebind changed %q to %q", tc.in, got)
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, target string
		d          dialect
	}{
		{"postgres://u@h/db", "postgres://u@h/db", postgres},
		{"postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?sslmode=disable", postgres},
		{"/var/lib/ringfence/rf.db", "/var/lib/ringfence/rf.db", sqlite},
		{"sqlite:///var/lib/rf.db", "/var/lib/rf.db", sqlite},
		{"file:rf.db", "rf.db", sqlite},
	} {
		d, target, err := parseURL(tc.in)
		if err != nil || d != tc.d || target != tc.target {
			t.Errorf("parseURL(%q) = %v, %q, %v; want %v, %q", tc.in, d, target, err, tc.d, tc.target)
		}
	}
}

func TestMigrationFiles(t *testing.T) {
	versions := func(d dialect) []int {
		ms, err := migrations(d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		var vs []int
		for i, m := range ms {
			if m.version != i+1 {
				t.Errorf("%s: migration %d is %s: gap", d, i+1, m.name)
			}
			vs = append(vs, m.version)
		}
		return vs
	}
	lite, pg := versions(sqlite), versions(postgres)
	if len(lite) == 0 || !slices.Equal(lite, pg) {
		t.Errorf("migration versions differ: sqlite %v, postgres %v", lite, pg)
	}

	// The loader itself refuses gaps, duplicates and bad names.
	for name, files := range map[string][]string{
		"gap":       {"0001_a.sql", "0003_c.sql"},
		"duplicate": {"0001_a.sql", "0001_b.sql"},
		"zero":      {"0000_a.sql"},
		"name":      {"0001_a.sql", "second.sql"},
	} {
		fsys := fstest.MapFS{}
		for _, f := range files {
			fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		}
		if _, err := readMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: readMigrations accepted %v", name, files)
		}
	}
}

func TestMigrateIdempotent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ms, _ := migrations(db.d)
		v, err := db.MigrationVersion(t.Context())
		if err != nil || v != len(ms) {
			t.Fatalf("MigrationVersion = %d, %v; want %d", v, err, len(ms))
		}
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
		db2 := reopen(t, db)
		if v2, err := db2.MigrationVersion(t.Context()); err != nil || v2 != v {
			t.Errorf("after reopen MigrationVersion = %d, %v; want %d", v2, err, v)
		}
		if n := count(t, db, "schema_migrations"); n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
	})
}

func TestMigrateRefusesNewerDatabase(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		if _, err := db.w.ExecContext(t.Context(), db.d.rebind(
			"INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"), 9999, 0); err != nil {
			t.Fatal(err)
		}
		err := db.Migrate(t.Context())
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("Migrate on a newer database: %v", err)
		}
	})
}

func TestDurableAcrossReopen(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		v := newVerification("v-durable")
		write(t, db, func(tx verify.Tx) error { return tx.InsertVerification(v) })
		url := db.url
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := db.Write(t.Context(), func(verify.Tx) error { return nil }); err == nil {
			t.Error("Write after Close succeeded")
		}
		db2 := openTestDB(t, Config{URL: url})
		got, err := db2.Verification(t.Context(), v.ID)
		if err != nil {
			t.Fatalf("after reopen: %v", err)
		}
		assertVerification(t, got, v)
	})
}

func TestPing(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		if err := db.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		want := "sqlite"
		if os.Getenv(postgresEnv) != "" && strings.Contains(t.Name(), "postgres") {
			want = "postgres"
		}
		if got := db.Dialect(); got != want {
			t.Errorf("Dialect = %q, want %q", got, want)
		}
	})
}
