package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// SQLite's write throughput is bounded by one fsync per commit, since
// synchronous=FULL makes every commit durable. The writer groups commits:
// one goroutine owns the single writer connection, takes whatever Write calls
// are queued (up to a cap) and runs them in one transaction, each inside its
// own savepoint, then commits once and answers them all. Under load many
// writes share an fsync; alone, a write costs what it would have anyway.

// States of a request, moved by compare-and-swap so that exactly one of the
// caller (giving up) and the writer (starting fn) wins.
const (
	queued int32 = iota
	taken
	abandoned
)

// request is one Write waiting for the writer.
type request struct {
	ctx   context.Context // the caller's; checked before fn starts, never passed to SQL
	fn    func(t *tx) error
	state atomic.Int32
	err   error      // fn's result, set by the writer
	done  chan error // receives the final result exactly once, if taken
}

// writer is the group-commit goroutine of a SQLite DB.
type writer struct {
	db   *sql.DB // the one writer connection
	max  int
	log  *slog.Logger
	mac  func([]byte) []byte // audit row MAC, or nil
	reqs chan *request
	stmt *stmtCache // used by the writer goroutine only
	// committed, if set, is called after each commit (it must not block).
	committed func()

	batches  atomic.Int64 // batches run, for tests
	isolated atomic.Int64 // batches run again with savepoints, for tests

	mu      sync.RWMutex // held for reading while sending on reqs; for writing to close it
	closed  bool
	stopped chan struct{}
}

func newWriter(db *sql.DB, maxBatch int, log *slog.Logger) *writer {
	w := &writer{
		db:      db,
		max:     maxBatch,
		log:     log,
		reqs:    make(chan *request, maxBatch),
		stmt:    newStmtCache(db),
		stopped: make(chan struct{}),
	}
	go w.run()
	return w
}

// do queues fn and waits for its result.
func (w *writer) do(ctx context.Context, fn func(t *tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if err := w.enqueue(ctx, req); err != nil {
		return err
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err() // fn will not run
		}
		// fn has started: its fate is the batch's, and the caller must
		// not hear success or failure before the commit decides it.
		return <-req.done
	}
}

func (w *writer) enqueue(ctx context.Context, req *request) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return errClosed
	}
	select {
	case w.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close lets the writer finish every queued request and waits for it to stop.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.reqs)
	}
	w.mu.Unlock()
	<-w.stopped
}

func (w *writer) run() {
	defer close(w.stopped)
	defer w.stmt.close()
	batch := make([]*request, 0, w.max)
	for req := range w.reqs {
		batch = append(batch[:0], req)
	fill:
		for len(batch) < w.max {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.commit(batch)
		clear(batch)
	}
}

// commit runs the batch in one transaction and answers every request.
//
// It first runs every fn one after the other with no savepoints: a
// savepoint copies each page a fn touches into a sub-journal and costs two
// statements, for the rare fn that fails after writing. A fn that fails
// before writing anything (a limit, a closed verification) leaves nothing
// to undo. Only when a fn fails after writing is that transaction rolled
// back and the batch run again with a savepoint around each fn (runIsolated),
// which Write's contract allows: fn may run more than once.
func (w *writer) commit(batch []*request) {
	// Statements never see a caller's context: interrupting one statement
	// can make SQLite roll back the whole transaction, everyone's work.
	ctx := context.Background()
	ran := make([]*request, 0, len(batch))
	for _, req := range batch {
		if !req.state.CompareAndSwap(queued, taken) {
			continue // the caller gave up and was answered
		}
		if err := req.ctx.Err(); err != nil {
			req.done <- err
			continue
		}
		ran = append(ran, req)
	}
	if len(ran) == 0 {
		return
	}
	w.batches.Add(1)
	fatal, ok := w.runFast(ctx, ran)
	if !ok {
		w.isolated.Add(1)
		fatal = w.runIsolated(ctx, ran)
	}
	if fatal == nil && w.committed != nil {
		w.committed()
	}
	for _, req := range ran {
		if req.err == nil {
			req.err = fatal
		}
		req.done <- req.err
	}
	// The connection is free again: prepare what this batch met first.
	w.stmt.prepareWanted(ctx)
}

// runFast runs the batch without savepoints and commits it. ok is false,
// with the transaction rolled back and every req.err cleared, when a fn
// failed after writing; fatal is set when the transaction could not begin
// or commit.
func (w *writer) runFast(ctx context.Context, ran []*request) (fatal error, ok bool) {
	sqlTx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err), true
	}
	for _, req := range ran {
		t := &tx{ctx: ctx, q: sqlTx, d: sqlite, mac: w.mac, stmts: w.stmt}
		req.err = callFn(w.log, req.fn, t)
		if req.err != nil && t.wrote {
			_ = sqlTx.Rollback() // the batch runs again, isolated
			for _, r := range ran {
				r.err = nil
			}
			return nil, false
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err), true
	}
	return nil, true
}

// runIsolated runs the batch with each fn inside its own savepoint, so a
// failing fn undoes only its own work, and commits it. A fn after a fatal
// error does not run.
func (w *writer) runIsolated(ctx context.Context, ran []*request) (fatal error) {
	sqlTx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for _, req := range ran {
		if req.err, fatal = w.runOne(ctx, sqlTx, req); fatal != nil {
			break
		}
	}
	if fatal != nil {
		_ = sqlTx.Rollback() // fatal says why; a second error adds nothing
		return fatal
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// runOne runs one request's fn inside a savepoint, so that its failure undoes
// only its own work. fatal is set when the transaction itself broke.
func (w *writer) runOne(ctx context.Context, sqlTx *sql.Tx, req *request) (fnErr, fatal error) {
	if err := w.exec(ctx, sqlTx, "SAVEPOINT w"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	fnErr = callFn(w.log, req.fn, &tx{ctx: ctx, q: sqlTx, d: sqlite, mac: w.mac, stmts: w.stmt})
	if fnErr != nil {
		if err := w.exec(ctx, sqlTx, "ROLLBACK TO w"); err != nil {
			return fnErr, fmt.Errorf("roll back to savepoint: %w", err)
		}
	}
	if err := w.exec(ctx, sqlTx, "RELEASE w"); err != nil {
		return fnErr, fmt.Errorf("release savepoint: %w", err)
	}
	return fnErr, nil
}

// exec runs query in sqlTx, prepared once when the cache has it.
func (w *writer) exec(ctx context.Context, sqlTx *sql.Tx, query string) error {
	var err error
	if s := w.stmt.get(ctx, query); s != nil {
		_, err = sqlTx.StmtContext(ctx, s).ExecContext(ctx)
	} else {
		_, err = sqlTx.ExecContext(ctx, query)
	}
	return err
}
