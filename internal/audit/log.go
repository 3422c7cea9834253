package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Stored is a signed checkpoint as the store keeps it, with the tree state
// that lets a restarted service continue the tree without rehashing it.
type Stored struct {
	Size  uint64
	Root  []byte
	State []byte // Tree.State at Size
	Note  []byte // the signed note
	At    time.Time
}

// LogStore is what a Log needs from the database.
type LogStore interface {
	NodeSource
	// AuditSize is the number of rows, which is the seq of the last one.
	AuditSize(ctx context.Context) (uint64, error)
	// LatestCheckpoint returns the checkpoint of the largest size, or nil.
	LatestCheckpoint(ctx context.Context) (*Stored, error)
	// SaveCheckpoint keeps a checkpoint; one of the same size already kept
	// (another instance made it) is not an error.
	SaveCheckpoint(ctx context.Context, c *Stored) error
}

// Log signs checkpoints of the audit log as it grows.
type Log struct {
	store  LogStore
	signer note.Signer
	origin string
	now    func() time.Time

	mu   sync.Mutex
	tree *Tree
}

// NewLog returns a Log that signs checkpoints named origin with signer.
func NewLog(store LogStore, origin string, signer note.Signer, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{store: store, signer: signer, origin: origin, now: now}
}

// Origin is the name in the log's checkpoints.
func (l *Log) Origin() string { return l.origin }

// Checkpoint brings the tree up to the log's current size and, when the log
// has grown since the latest checkpoint (or has none), signs and saves a
// new one, which it returns; otherwise it returns the latest.
func (l *Log) Checkpoint(ctx context.Context) (*Stored, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	latest, err := l.store.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	if l.tree == nil || (latest != nil && latest.Size > l.tree.Size()) {
		// Start from the latest checkpoint (perhaps another instance's).
		l.tree = &Tree{}
		if latest != nil {
			if l.tree, err = RestoreTree(latest.Size, latest.State); err != nil {
				return nil, err
			}
			if !bytes.Equal(l.tree.Root(), latest.Root) {
				return nil, errors.New("audit: saved tree state does not match its checkpoint's root")
			}
		}
	}
	size, err := l.store.AuditSize(ctx)
	if err != nil {
		return nil, err
	}
	if size < l.tree.Size() {
		return nil, fmt.Errorf("audit: the log has %d rows, fewer than the %d already checkpointed", size, l.tree.Size())
	}
	for from := l.tree.Size(); from < size; {
		to := min(size, from+4096)
		hashes, err := l.store.LeafHashes(ctx, from, to)
		if err != nil {
			return nil, err
		}
		for _, h := range hashes {
			if err := l.tree.Append(h); err != nil {
				return nil, err
			}
		}
		from = to
	}
	if latest != nil && latest.Size == l.tree.Size() {
		return latest, nil
	}
	cp := Checkpoint{Origin: l.origin, Size: l.tree.Size(), Root: l.tree.Root()}
	signed, err := SignCheckpoint(cp, l.signer)
	if err != nil {
		return nil, err
	}
	st := &Stored{Size: cp.Size, Root: cp.Root, State: l.tree.State(), Note: signed, At: l.now().UTC().Truncate(time.Millisecond)}
	if err := l.store.SaveCheckpoint(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

// Run signs a checkpoint every interval until ctx ends. Failures are
// reported to onErr and retried at the next tick.
func (l *Log) Run(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := l.Checkpoint(ctx); err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
