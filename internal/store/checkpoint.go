package store

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// checkpointer copies the SQLite WAL back into the database file on a
// connection of its own, so that the writer goroutine, which every write
// waits for, does not: with SQLite's automatic checkpoint the commit that
// crosses the threshold copies a thousand pages and syncs the database
// before anyone in its batch hears back. The writer kicks it after each
// commit; it runs a PASSIVE checkpoint (which never blocks the writer or
// readers) at most every checkpointEvery. The writer connection keeps an
// automatic checkpoint at a much higher threshold (walSafetyPages) in case
// this one falls behind.
type checkpointer struct {
	db      *sql.DB
	log     *slog.Logger
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

const (
	checkpointEvery = 100 * time.Millisecond
	// walSafetyPages is the writer's own automatic checkpoint threshold.
	walSafetyPages = 20000
)

func newCheckpointer(path string, log *slog.Logger) (*checkpointer, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	c := &checkpointer{db: db, log: log, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c, nil
}

// wake asks for a checkpoint soon; it never blocks.
func (c *checkpointer) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.stopped)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		var busy, logPages, done int
		if err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done); err != nil {
			c.log.Warn("store: background WAL checkpoint failed", "err", err)
		}
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// close stops the goroutine and closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.stopped
	return c.db.Close()
}
