package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// holdWriter keeps SQLite's writer busy inside a Write until release is
// called, so that the Writes started meanwhile queue up and share the next
// batch. On Postgres it does nothing.
func holdWriter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	if db.writer == nil {
		return func() {}
	}
	started, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Write(context.Background(), func(verify.Tx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// waitQueued waits until n Writes are queued for SQLite's writer.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	if db.writer == nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(db.writer.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(db.writer.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWriteConcurrent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		const n = 200
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				v := newVerification(fmt.Sprintf("v%03d", i))
				err := db.Write(t.Context(), func(tx verify.Tx) error {
					if err := tx.InsertVerification(v); err != nil {
						return err
					}
					return tx.RecordSend(v.PhoneIndex, nil, t0)
				})
				if err != nil {
					t.Errorf("Write %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if got, err := db.CountVerifications(t.Context()); err != nil || got != n {
			t.Errorf("CountVerifications = %d, %v; want %d", got, err, n)
		}
		if got := count(t, db, "send_log"); got != n {
			t.Errorf("send_log has %d rows, want %d", got, n)
		}
		if db.writer != nil {
			t.Logf("%d writes in %d transactions", n, db.writer.batches.Load())
		}
	})
}

// One failing, erring or panicking fn in a batch undoes only its own work.
func TestWriteFailureIsolated(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		write(t, db, func(tx verify.Tx) error {
			return tx.InsertIdempotency(&verify.Idempotency{Key: []byte("taken"), Fingerprint: []byte("f"), VerificationID: "v", CreatedAt: t0})
		})
		var batchesBefore int64
		if db.writer != nil {
			batchesBefore = db.writer.batches.Load()
		}
		release := holdWriter(t, db)

		boom := errors.New("boom")
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = db.Write(t.Context(), func(tx verify.Tx) error {
					if err := tx.RecordSend([]byte(fmt.Sprintf("p%d", i)), nil, t0); err != nil {
						return err
					}
					switch i {
					case 3:
						return boom
					case 6: // a statement fails
						return tx.InsertIdempotency(&verify.Idempotency{Key: []byte("taken"), Fingerprint: []byte("g"), VerificationID: "w", CreatedAt: t0})
					case 8:
						panic("fn panicked on purpose")
					}
					return nil
				})
			})
		}
		waitQueued(t, db, n)
		release()
		wg.Wait()

		for i, err := range errs {
			switch i {
			case 3:
				if !errors.Is(err, boom) {
					t.Errorf("write 3: %v, want boom as is", err)
				}
			case 6:
				if err == nil {
					t.Error("write 6 (duplicate key) succeeded")
				}
			case 8:
				if err == nil || !strings.Contains(err.Error(), "panicked") {
					t.Errorf("write 8 (panic): %v", err)
				}
			default:
				if err != nil {
					t.Errorf("write %d: %v", i, err)
				}
			}
		}
		if got := count(t, db, "send_log"); got != n-3 {
			t.Errorf("send_log has %d rows, want %d", got, n-3)
		}
		if db.writer != nil {
			// The holding write, then all ten together.
			if got := db.writer.batches.Load() - batchesBefore; got != 2 {
				t.Errorf("%d transactions, want 2", got)
			}
		}
		// The writer survived the panic.
		write(t, db, func(tx verify.Tx) error { return tx.RecordSend([]byte("after"), nil, t0) })
	})
}

func TestWriteContextEnded(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		// Ended before Write: fn never runs.
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var ran atomic.Bool
		fn := func(tx verify.Tx) error {
			ran.Store(true)
			return tx.RecordSend([]byte("p"), nil, t0)
		}
		if err := db.Write(ctx, fn); !errors.Is(err, context.Canceled) {
			t.Errorf("Write with an ended ctx: %v", err)
		}

		// Ended while queued: the caller hears ctx.Err() at once and fn never runs.
		if db.writer != nil {
			release := holdWriter(t, db)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- db.Write(ctx, fn) }()
			waitQueued(t, db, 1)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Write cancelled while queued: %v", err)
			}
			release()
			write(t, db, func(verify.Tx) error { return nil }) // the writer has passed the abandoned request
		}
		if ran.Load() {
			t.Error("fn of a cancelled Write ran")
		}
		if got := count(t, db, "send_log"); got != 0 {
			t.Errorf("send_log has %d rows, want 0", got)
		}

		// Ended while fn runs: Write reports the outcome of the commit, never
		// success before it. SQLite commits fn's work; Postgres aborts it.
		ctx, cancel = context.WithCancel(t.Context())
		err := db.Write(ctx, func(tx verify.Tx) error {
			cancel()
			return tx.RecordSend([]byte("p"), nil, t0)
		})
		n := count(t, db, "send_log")
		if (err == nil) != (n == 1) {
			t.Errorf("Write = %v but send_log has %d rows", err, n)
		}
		if db.d == sqlite && err != nil {
			t.Errorf("SQLite Write cancelled during fn: %v, want the commit's nil", err)
		}
	})
}

// Close lets every queued write commit; writes after it fail.
func TestCloseDrainsWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ringfence.db")
	db, err := Open(t.Context(), Config{URL: path, MaxBatch: 8})
	if err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, db)
	const n = 50
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- db.Write(context.Background(), func(tx verify.Tx) error {
				return tx.RecordSend([]byte(fmt.Sprintf("p%d", i)), nil, t0)
			})
		}()
	}
	waitQueued(t, db, 8) // the queue holds MaxBatch; the rest wait to enter it
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	ok := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case !errors.Is(err, errClosed):
			t.Errorf("Write during Close: %v", err)
		}
	}
	if ok < 8 {
		t.Errorf("%d writes committed, want at least the 8 queued", ok)
	}
	db2 := openTestDB(t, Config{URL: path})
	if got := count(t, db2, "send_log"); got != ok {
		t.Errorf("%d writes succeeded but %d rows are stored", ok, got)
	}
}

// randomKey returns a lock key no other test run uses.
func randomKey() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// Lock on Postgres makes a second transaction wait for the first.
func TestLockSerialises(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		key := randomKey()
		if db.d != postgres {
			write(t, db, func(tx verify.Tx) error { return tx.Lock(key) })
			return
		}
		holding, unblock := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- db.Write(t.Context(), func(tx verify.Tx) error {
				if err := tx.Lock(key); err != nil {
					return err
				}
				close(holding)
				<-unblock
				return tx.RecordSend([]byte("first"), nil, t0)
			})
		}()
		<-holding
		second := make(chan error, 1)
		go func() {
			second <- db.Write(t.Context(), func(tx verify.Tx) error {
				if err := tx.Lock(key); err != nil {
					return err
				}
				return tx.RecordSend([]byte("second"), nil, t0.Add(time.Second))
			})
		}()
		// Wait until Postgres shows the second waiting for our key.
		k := uint64(lockKey(key))
		deadline := time.Now().Add(10 * time.Second)
		for {
			var waiting int
			if err := db.r.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pg_locks
				WHERE locktype = 'advisory' AND NOT granted AND classid = $1 AND objid = $2`,
				int64(k>>32), int64(uint32(k))).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the second transaction never waited for the lock")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := count(t, db, "send_log"); n != 0 {
			t.Errorf("send_log has %d rows while the lock is held", n)
		}
		close(unblock)
		if err := <-first; err != nil {
			t.Errorf("first: %v", err)
		}
		if err := <-second; err != nil {
			t.Errorf("second: %v", err)
		}
		if n := count(t, db, "send_log"); n != 2 {
			t.Errorf("send_log has %d rows, want 2", n)
		}
	})
}

// A Postgres deadlock aborts one of the transactions; Write runs it again.
func TestWriteRetriesDeadlock(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		if db.d != postgres {
			t.Skip("deadlocks need two writers: Postgres only")
		}
		k1, k2 := randomKey(), randomKey()
		var attempts atomic.Int32
		aHolds, bHolds := make(chan struct{}), make(chan struct{})
		fn := func(first, second []byte, mine, theirs chan struct{}) func(verify.Tx) error {
			var n atomic.Int32
			return func(tx verify.Tx) error {
				attempts.Add(1)
				if err := tx.Lock(first); err != nil {
					return err
				}
				if n.Add(1) == 1 {
					close(mine)
					<-theirs
				}
				return tx.Lock(second)
			}
		}
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() { errA = db.Write(t.Context(), fn(k1, k2, aHolds, bHolds)) })
		wg.Go(func() { errB = db.Write(t.Context(), fn(k2, k1, bHolds, aHolds)) })
		wg.Wait()
		if errA != nil || errB != nil {
			t.Errorf("writes = %v, %v; want both retried to success", errA, errB)
		}
		if got := attempts.Load(); got != 3 {
			t.Errorf("%d attempts, want 3 (one retry)", got)
		}
	})
}

// A batch whose failing fns failed before writing commits in one pass; one
// whose failing fn had written runs again with savepoints, and in both the
// failures undo only their own work.
func TestWriteSavepointsOnlyWhenNeeded(t *testing.T) {
	db := openTestDB(t, Config{URL: filepath.Join(t.TempDir(), "ringfence.db")})
	refused := errors.New("refused")
	batch := func(failAfterWrite bool) []error {
		t.Helper()
		release := holdWriter(t, db)
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = db.Write(t.Context(), func(tx verify.Tx) error {
					if _, _, err := tx.SendsSince([]byte("p"), t0); err != nil {
						return err
					}
					if i%3 == 1 && !failAfterWrite {
						return refused // read, then refused: nothing to undo
					}
					if err := tx.RecordSend([]byte(fmt.Sprintf("p%v-%d", failAfterWrite, i)), nil, t0); err != nil {
						return err
					}
					if i%3 == 1 {
						return refused // wrote, then refused: undo
					}
					return nil
				})
			})
		}
		waitQueued(t, db, n)
		release()
		wg.Wait()
		return errs
	}
	check := func(errs []error) {
		t.Helper()
		for i, err := range errs {
			if want := i%3 == 1; errors.Is(err, refused) != want || (!want && err != nil) {
				t.Errorf("write %d: %v", i, err)
			}
		}
	}
	before := db.writer.isolated.Load()
	check(batch(false))
	if got := db.writer.isolated.Load() - before; got != 0 {
		t.Errorf("a batch whose failures wrote nothing ran again %d times", got)
	}
	check(batch(true))
	if got := db.writer.isolated.Load() - before; got != 1 {
		t.Errorf("a batch with a failure after a write ran again %d times, want 1", got)
	}
	if n := count(t, db, "send_log"); n != 4+4 {
		t.Errorf("send_log has %d rows, want 8: the 4 writes of each batch that succeeded", n)
	}
}

// readOnly decides whether a failed fn left work to undo, so it must never
// call a statement that writes read-only; a read taken for a write only
// costs a savepoint pass.
func TestReadOnly(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1": true, "\n\t  select count(*) FROM send_log": true, "SeLeCt x": true,
		"": false, "SEL": false, "UPDATE outbox SET state = ? RETURNING id": false,
		"INSERT INTO t SELECT 1": false, "WITH x AS (SELECT 1) SELECT * FROM x": false,
		"DELETE FROM send_log": false, "PRAGMA wal_checkpoint": false,
	} {
		if got := readOnly(q); got != want {
			t.Errorf("readOnly(%q) = %v, want %v", q, got, want)
		}
	}
}
