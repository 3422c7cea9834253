package store

import (
	"encoding/binary"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// dialect is the database engine behind a DB. Every difference between
// SQLite and Postgres that the SQL of this package sees is a method here.
type dialect int

const (
	sqlite dialect = iota
	postgres
)

func (d dialect) String() string {
	if d == postgres {
		return "postgres"
	}
	return "sqlite"
}

// parseURL tells the dialect of a Config.URL and returns what the driver
// needs: the Postgres URL as is, or the SQLite file path.
func parseURL(raw string) (dialect, string, error) {
	switch {
	case raw == "":
		return 0, "", errors.New("empty database URL")
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return postgres, raw, nil
	}
	path := raw
	if p, ok := strings.CutPrefix(path, "sqlite://"); ok {
		path = p
	} else if p, ok := strings.CutPrefix(path, "file:"); ok {
		path = p
	}
	switch {
	case path == "":
		return 0, "", errors.New("empty SQLite path")
	case path == ":memory:" || strings.Contains(path, "mode=memory"):
		return 0, "", errors.New("in-memory SQLite is not supported: the store needs a file")
	case strings.ContainsAny(path, "?#"):
		// The store sets every pragma itself; a query string would be
		// ambiguous with the path.
		return 0, "", errors.New("SQLite path must not contain '?' or '#'")
	}
	return sqlite, path, nil
}

// sqliteDSN returns the modernc.org/sqlite data source name for the one
// writer connection or for a connection of the read pool.
//
// synchronous=FULL makes the WAL fsync on every commit, so what is committed
// survives a crash or a power loss; group commit (writer.go) pays for it.
// temp_store=MEMORY keeps the savepoint sub-journals of a group commit in
// memory (by default SQLite writes them to a temporary file, a write system
// call per page touched), and the page cache holds a whole batch, so pages
// are not spilled to the WAL before the commit.
func sqliteDSN(path string, write bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "FULL")
	q.Add("_pragma", "temp_store(memory)")
	q.Add("_pragma", "cache_size(-32768)")
	// Deleted rows are overwritten with zeros, so an erased subject's
	// wrapped data key does not linger in free pages.
	q.Add("_pragma", "secure_delete(1)")
	if write {
		q.Set("_journal_mode", "WAL")
		q.Set("_txlock", "immediate")
		// checkpoint.go checkpoints in the background; this is the
		// writer's fallback if that falls behind.
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(walSafetyPages)+")")
	} else {
		q.Set("_query_only", "1")
	}
	return path + "?" + q.Encode()
}

// rebind turns the ? placeholders of a query into Postgres's $1..$n. The
// queries of this package are written once, with ?. Quoted strings and
// identifiers are copied as they are.
func (d dialect) rebind(query string) string {
	if d != postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// forUpdate is appended to a SELECT that reads rows the transaction will
// write: Postgres locks them; SQLite's single writer needs nothing.
func (d dialect) forUpdate() string {
	if d == postgres {
		return " FOR UPDATE"
	}
	return ""
}

// skipLocked is appended to a SELECT that picks work among rows other
// instances may be picking too; each row goes to one of them only.
func (d dialect) skipLocked() string {
	if d == postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// lockSQL is the statement that takes a transaction-scoped lock on an
// int64 key, or "" when the single writer already serialises everything.
func (d dialect) lockSQL() string {
	if d == postgres {
		return "SELECT pg_advisory_xact_lock(?)"
	}
	return ""
}

// lockKey is the advisory lock id for a key: its first 8 bytes, big-endian,
// zero-padded. Keys are blind indexes and hashes, so these bytes are uniform.
func lockKey(key []byte) int64 {
	var b [8]byte
	copy(b[:], key)
	return int64(binary.BigEndian.Uint64(b[:]))
}

// Lock ids for the store's own serialisation on Postgres. They live in the
// same space as lockKey's, where a collision costs only a little waiting.
var (
	migrateLockKey = []byte("rf:migrate")
	auditLockKey   = []byte("rf:audit")
)

// retryable reports whether a transaction failed only because it ran into
// another one (serialization failure or deadlock) and may simply run again.
func (d dialect) retryable(err error) bool {
	if d != postgres {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}

// isNotDistinct is the comparison that treats two NULLs as equal.
func (d dialect) isNotDistinct() string {
	if d == postgres {
		return "IS NOT DISTINCT FROM"
	}
	return "IS"
}

// placeholders returns n comma-separated ? placeholders.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY conflict.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
