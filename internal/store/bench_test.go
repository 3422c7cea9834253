package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// The two benchmarks insert one send_log row per operation into the same
// kind of SQLite file (WAL, synchronous=FULL), from many goroutines at once:
// once through Write's group commit, once with a transaction (and so an
// fsync) per insert on the single writer connection.

// benchParallelism is goroutines per GOMAXPROCS: a server has many
// requests in flight at once.
const benchParallelism = 16

func openBenchDB(b *testing.B) *DB {
	b.Helper()
	db, err := Open(context.Background(), Config{URL: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkWriteGroupCommit(b *testing.B) {
	db := openBenchDB(b)
	ctx := context.Background()
	idx := []byte("0123456789abcdef")
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.Write(ctx, func(tx verify.Tx) error { return tx.RecordSend(idx, nil, t0) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/float64(db.writer.batches.Load()), "writes/commit")
}

func BenchmarkWriteNaive(b *testing.B) {
	db := openBenchDB(b)
	ctx := context.Background()
	idx := []byte("0123456789abcdef")
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tx, err := db.w.BeginTx(ctx, nil)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO send_log (phone_index, ip_index, at) VALUES (?, ?, ?)`,
				idx, nil, t0.UnixMilli()); err != nil {
				_ = tx.Rollback()
				b.Error(err)
				return
			}
			if err := tx.Commit(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The audit benchmarks append one audit event per operation through Write's
// group commit, from many goroutines: once as an audit entry (gapless seq,
// Merkle leaf hash and keyed MAC), once as a plain insert of a row of the
// same size into the same table, with the database choosing the seq and the
// hash and MAC columns filled with constants. The ratio of their rates is the
// cost of the log; bench/README.md records it.

func benchEvent(i int) verify.Event {
	return verify.Event{Type: "verification.approved", Actor: "key_bdmjag4si3ude42574noj2jpry", Purpose: verify.PurposeSignup,
		VerificationID: "ve_bdmjag4si3ude42574noj2jpry", SubjectID: "sub_bdmjag4si3ude42574noj2jpry",
		PhoneIndex: []byte("0123456789abcdef0123456789abcdef0123"), Detail: "sms:dev", At: t0.Add(time.Duration(i))}
}

func BenchmarkAuditAppend(b *testing.B) {
	key := []byte("benchmark audit MAC key, 32 byte")
	db, err := Open(context.Background(), Config{URL: filepath.Join(b.TempDir(), "bench.db"),
		AuditMAC: func(msg []byte) []byte {
			h := hmac.New(sha256.New, key)
			h.Write(msg)
			return h.Sum([]byte{0, 0, 0, 1})
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	runAuditBench(b, db, func(tx *tx, e verify.Event) error { return tx.AppendEvents(e) })
}

func BenchmarkAuditPlainInsert(b *testing.B) {
	db := openBenchDB(b)
	leaf, mac := make([]byte, 32), make([]byte, 36)
	runAuditBench(b, db, func(tx *tx, e verify.Event) error {
		_, err := tx.exec(`INSERT INTO audit_events (type, actor, purpose, verification_id, subject_id, phone_index, detail, at, leaf_hash, mac)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Type, e.Actor, string(e.Purpose), e.VerificationID, e.SubjectID, e.PhoneIndex, e.Detail, millis(e.At), leaf, mac)
		return err
	})
}

func runAuditBench(b *testing.B, db *DB, insert func(*tx, verify.Event) error) {
	b.Helper()
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := benchEvent(int(n.Add(1)))
			if err := db.write(ctx, func(t *tx) error { return insert(t, e) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
