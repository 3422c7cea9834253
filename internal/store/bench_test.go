package store

import (
	"context"
	"path/filepath"
	"testing"

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
