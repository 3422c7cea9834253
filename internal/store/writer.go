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

	batches atomic.Int64 // transactions begun, for tests

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
func (w *writer) commit(batch []*request) {
	// Statements never see a caller's context: interrupting one statement
	// can make SQLite roll back the whole transaction, everyone's work.
	ctx := context.Background()
	var (
		sqlTx *sql.Tx
		ran   []*request
		fatal error // the transaction cannot commit
	)
	for _, req := range batch {
		if !req.state.CompareAndSwap(queued, taken) {
			continue // the caller gave up and was answered
		}
		if fatal != nil {
			req.done <- fatal
			continue
		}
		if err := req.ctx.Err(); err != nil {
			req.done <- err
			continue
		}
		if sqlTx == nil {
			var err error
			if sqlTx, err = w.db.BeginTx(ctx, nil); err != nil {
				fatal = fmt.Errorf("begin: %w", err)
				req.done <- fatal
				continue
			}
		}
		ran = append(ran, req)
		req.err, fatal = w.runOne(ctx, sqlTx, req)
	}
	if sqlTx == nil {
		return
	}
	w.batches.Add(1)
	if fatal != nil {
		_ = sqlTx.Rollback() // fatal says why; a second error adds nothing
	} else if err := sqlTx.Commit(); err != nil {
		fatal = fmt.Errorf("commit: %w", err)
	} else if w.committed != nil {
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
