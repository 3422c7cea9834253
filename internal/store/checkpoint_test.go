package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// TestBackgroundCheckpoint: what the writer commits reaches the database
// file without the writer checkpointing (its own threshold is far above
// what this test writes), and the WAL stops growing: it is reused from its
// start once checkpointed.
func TestBackgroundCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ringfence.db")
	db := openTestDB(t, Config{URL: path})
	size := func(p string) int64 {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size(path)
	round := func(r int) {
		for i := range 200 {
			write(t, db, func(tx verify.Tx) error {
				for j := range 20 {
					if err := tx.RecordSend([]byte(fmt.Sprintf("index-%d-%d-%d-%0100d", r, i, j, 0)), nil, t0); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	round(0)
	deadline := time.Now().Add(10 * time.Second)
	for size(path) <= before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if size(path) <= before {
		t.Fatalf("the database file stayed at %d bytes after 4000 rows: nothing was checkpointed", before)
	}
	// Let the checkpointer finish, then write as much again: the WAL is
	// reused from its start instead of doubling.
	time.Sleep(3 * checkpointEvery)
	wal := size(path + "-wal")
	for r := 1; r <= 3; r++ {
		round(r)
		time.Sleep(3 * checkpointEvery)
	}
	if got := size(path + "-wal"); got > 2*wal {
		t.Errorf("the WAL grew from %d to %d bytes over three more rounds: it is not being reused", wal, got)
	}
	if n := count(t, db, "send_log"); n != 16000 {
		t.Errorf("send_log has %d rows, want 16000", n)
	}
}
