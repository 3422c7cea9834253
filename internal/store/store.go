// Package store keeps ringfence's data in SQLite or Postgres.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ringfence/ringfence/internal/apikey"
	"github.com/ringfence/ringfence/internal/verify"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

var (
	_ verify.Store = (*DB)(nil)
	_ verify.Tx    = (*tx)(nil)
	_ apikey.Store = (*DB)(nil)
)

// DefaultMaxBatch is how many Write calls share one SQLite transaction at most
// when Config.MaxBatch is zero.
const DefaultMaxBatch = 256

// Config says which database to open and how.
type Config struct {
	// URL is "postgres://..." or "postgresql://..." for Postgres. Anything
	// else is the path of a SQLite file, optionally prefixed "sqlite://" or
	// "file:"; the file is created with mode 0600 if missing.
	URL string
	// MaxBatch caps how many Write calls share one SQLite transaction
	// (group commit); 0 means DefaultMaxBatch.
	MaxBatch int
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// AuditMAC computes the MAC stored with each audit row, under a key kept
	// outside the database (audit.RowMACMessage of seq and leaf hash); nil
	// stores no MAC, and then only the signed checkpoints protect the log.
	AuditMAC func(msg []byte) []byte
}

// DB is ringfence's database. On SQLite it has one writer connection, fed by
// a group-commit goroutine, and a pool of read-only connections; on
// Postgres one pool serves both. It is safe for concurrent use.
type DB struct {
	d      dialect
	url    string
	w      *sql.DB       // writes: SQLite's one connection, or the Postgres pool
	r      *sql.DB       // reads: SQLite's query_only pool, or the Postgres pool
	writer *writer       // SQLite group commit; nil on Postgres
	reads  *readStmts    // SQLite's prepared reads; nil on Postgres (pgx caches its own)
	ckpt   *checkpointer // SQLite's WAL checkpoints off the writer; nil on Postgres
	log    *slog.Logger
	mac    func([]byte) []byte

	closeOnce sync.Once
	closeErr  error
}

// Log attribute keys.
const (
	logKeyDialect = "dialect"
	logKeyVersion = "version"
	logKeyPanic   = "panic"
	logKeyStack   = "stack"
)

// Open connects to the database cfg names and applies pending migrations.
// The caller must Close the DB.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	d, target, err := parseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	maxBatch := cfg.MaxBatch
	switch {
	case maxBatch == 0:
		maxBatch = DefaultMaxBatch
	case maxBatch < 0:
		return nil, fmt.Errorf("open store: MaxBatch %d is negative", maxBatch)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{d: d, url: cfg.URL, log: log, mac: cfg.AuditMAC}
	if d == postgres {
		err = db.openPostgres(ctx, target)
	} else {
		err = db.openSQLite(ctx, target)
	}
	if err != nil {
		db.closeConns()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.closeConns()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if d == sqlite {
		if db.ckpt, err = newCheckpointer(target, log); err != nil {
			db.closeConns()
			return nil, fmt.Errorf("open store: checkpointer: %w", err)
		}
		db.writer = newWriter(db.w, maxBatch, log)
		db.writer.mac = cfg.AuditMAC
		db.writer.committed = db.ckpt.wake
		db.reads = &readStmts{db: db.r, m: make(map[string]*sql.Stmt)}
	}
	return db, nil
}

func (db *DB) openSQLite(ctx context.Context, path string) error {
	// Create the file ourselves so it is private from the start; SQLite gives
	// its -wal and -shm files the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("protect database file: %w", err)
	}

	if db.w, err = sql.Open("sqlite", sqliteDSN(path, true)); err != nil {
		return err
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("open writer: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open writer: journal_mode is %q, want wal", mode)
	}

	if db.r, err = sql.Open("sqlite", sqliteDSN(path, false)); err != nil {
		return err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.r.SetMaxOpenConns(n)
	db.r.SetMaxIdleConns(n)
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("open readers: %w", err)
	}
	return nil
}

func (db *DB) openPostgres(ctx context.Context, url string) error {
	pool, err := openPostgresPool(url)
	if err != nil {
		return err
	}
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(16)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db.w, db.r = pool, pool
	if err := pool.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	return nil
}

// Close waits for queued writes to commit, stops the writer and closes every
// connection. Later calls return the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.writer != nil {
			db.writer.close()
		}
		if db.reads != nil {
			db.reads.close()
		}
		if db.ckpt != nil {
			db.ckpt.close()
		}
		db.closeErr = db.closeConns()
	})
	return db.closeErr
}

func (db *DB) closeConns() error {
	var errs []error
	if db.r != nil && db.r != db.w {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	return errors.Join(errs...)
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.d.String() }

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", db.d, err)
	}
	return nil
}

// errClosed is returned by writes to a closed DB.
var errClosed = errors.New("store is closed")

// Write runs fn in one write transaction: on SQLite together with other
// queued writes in one group commit, on Postgres in its own transaction,
// retried up to 3 times on a serialization failure or deadlock (so fn may
// run more than once and must do nothing but database work). An error or a
// panic in fn undoes everything fn did; fn's error is returned as is. Write
// returns nil only once the transaction is durably committed. A Write whose
// ctx ends before fn starts returns ctx.Err() and fn never runs; once fn has
// started, Write waits for the commit. fn must not call Write, and must not
// keep tx after it returns.
func (db *DB) Write(ctx context.Context, fn func(tx verify.Tx) error) error {
	return db.write(ctx, func(t *tx) error { return fn(t) })
}

// write is Write for the store's own methods, which use the concrete tx.
func (db *DB) write(ctx context.Context, fn func(t *tx) error) error {
	if db.writer != nil {
		return db.writer.do(ctx, fn)
	}
	return db.writePostgres(ctx, fn)
}

// maxRetries is how many times a Postgres transaction that ran into another
// one is run again.
const maxRetries = 3

func (db *DB) writePostgres(ctx context.Context, fn func(t *tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := db.writeOnce(ctx, fn)
		if err == nil || !db.d.retryable(err) || attempt == maxRetries {
			return err
		}
		// A short pause lets the transaction we ran into finish.
		t := time.NewTimer(time.Duration(attempt+1) * 5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (db *DB) writeOnce(ctx context.Context, fn func(t *tx) error) (err error) {
	sqlTx, err := db.w.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = sqlTx.Rollback() // the error that brought us here matters more
		}
	}()
	if err := callFn(db.log, fn, &tx{ctx: ctx, q: sqlTx, d: db.d, mac: db.mac}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// callFn runs fn, turning a panic into an error so the caller's transaction,
// and SQLite's writer goroutine, survive it.
func callFn(log *slog.Logger, fn func(t *tx) error, t *tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("store: write panicked", logKeyPanic, fmt.Sprint(p), logKeyStack, string(debug.Stack()))
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return fn(t)
}

// tx is the verify.Tx of one Write. All its statements run with ctx.
type tx struct {
	ctx   context.Context
	q     *sql.Tx
	d     dialect
	mac   func([]byte) []byte // audit row MAC, or nil
	stmts *stmtCache          // the SQLite writer's prepared statements, or nil
	// wrote is set once a statement that may change the database has run
	// (anything but a plain SELECT), so the writer knows whether a failed
	// fn left work to undo.
	wrote bool
}

// readOnly reports whether query only reads: it starts with SELECT.
func readOnly(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	t.wrote = true
	if s := t.stmt(query); s != nil {
		return s.ExecContext(t.ctx, args...)
	}
	return t.q.ExecContext(t.ctx, t.d.rebind(query), args...)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	t.wrote = t.wrote || !readOnly(query)
	if s := t.stmt(query); s != nil {
		return s.QueryContext(t.ctx, args...)
	}
	return t.q.QueryContext(t.ctx, t.d.rebind(query), args...)
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	t.wrote = t.wrote || !readOnly(query)
	if s := t.stmt(query); s != nil {
		return s.QueryRowContext(t.ctx, args...)
	}
	return t.q.QueryRowContext(t.ctx, t.d.rebind(query), args...)
}

// stmt returns query prepared on the writer connection and bound to this
// transaction, or nil when there is no cache (or it could not prepare; the
// plain call then reports the error).
func (t *tx) stmt(query string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	s := t.stmts.get(t.ctx, query)
	if s == nil {
		return nil
	}
	return t.q.StmtContext(t.ctx, s)
}

// stmtCache keeps the statements of the SQLite writer prepared: parsing SQL
// costs the single writer as much as running it. The writer pool has one
// connection, so a statement prepared on the pool is bound to a transaction
// without being prepared again. It can only be prepared while no
// transaction holds that connection: a query met for the first time runs
// unprepared and is prepared after the commit (prepareWanted). Only the
// writer goroutine uses the cache.
type stmtCache struct {
	db     *sql.DB
	m      map[string]*sql.Stmt
	wanted []string
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// maxCachedStmts bounds the cache; the store has far fewer distinct queries,
// so reaching it means queries are being built with values in them.
const maxCachedStmts = 512

func (c *stmtCache) get(_ context.Context, query string) *sql.Stmt {
	if s, ok := c.m[query]; ok {
		return s
	}
	if len(c.m)+len(c.wanted) < maxCachedStmts && !slices.Contains(c.wanted, query) {
		c.wanted = append(c.wanted, query)
	}
	return nil
}

// prepareWanted prepares the queries met since the last call; the writer
// calls it between transactions. A query that does not prepare is left to
// run unprepared, which reports its error.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	for _, q := range c.wanted {
		if s, err := c.db.PrepareContext(ctx, q); err == nil {
			c.m[q] = s
		}
	}
	c.wanted = c.wanted[:0]
}

func (c *stmtCache) close() {
	for _, s := range c.m {
		s.Close()
	}
	clear(c.m)
}

// Lock serialises transactions that touch the same key across Postgres
// instances until this transaction ends; on SQLite it does nothing, since
// there is one writer.
func (t *tx) Lock(key []byte) error {
	s := t.d.lockSQL()
	if s == "" {
		return nil
	}
	if _, err := t.exec(s, lockKey(key)); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}

// Reads outside transactions go to the read pool.

func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s := db.reads.get(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.r.QueryRowContext(ctx, db.d.rebind(query), args...)
}

func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := db.reads.get(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.r.QueryContext(ctx, db.d.rebind(query), args...)
}

// readStmts keeps SQLite's reads prepared on the read pool, for the same
// reason as stmtCache: a read on the request path (the API key, the
// tombstone check) costs as much to parse as to run. database/sql prepares
// a statement again on each pool connection it meets. Safe for concurrent
// use; a nil *readStmts prepares nothing.
type readStmts struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func (c *readStmts) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	s, ok := c.m[query]
	c.mu.RUnlock()
	if ok {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[query]; ok {
		return s
	}
	if len(c.m) >= maxCachedStmts {
		return nil
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain call reports the error
	}
	c.m[query] = s
	return s
}

func (c *readStmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	clear(c.m)
}

// Times are stored as INTEGER (BIGINT) unix milliseconds in UTC, so both
// engines compare them exactly alike; the zero time is NULL. Times read back
// are UTC, truncated to the millisecond.

func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

// blob keeps a nil slice NULL in both engines.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
