package audit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Row is one stored row of audit_events: the entry, and the leaf hash and
// MAC stored with it when it was appended.
type Row struct {
	Entry Entry
	// LeafHash is the stored LeafHash(Entry.LeafData()).
	LeafHash []byte
	// MAC is the stored MAC of RowMACMessage(seq, LeafHash) under a key kept
	// outside the database.
	MAC []byte
}

// RowSource reads the audit log for Verify.
type RowSource interface {
	// AuditRows yields every row in ascending seq order and then ends. A
	// read error is yielded once, with a zero Row, and ends the sequence.
	AuditRows(ctx context.Context) iter.Seq2[Row, error]
}

// Report says how much of a log Verify checked and found good, also when
// it returns an error.
type Report struct {
	// Rows is how many rows, from seq 1, passed every row check.
	Rows uint64
	// Checkpoints is how many checkpoints had the log's root at their size.
	Checkpoints int
	// Checkpointed is the largest size among those checkpoints: rows up to
	// it are attested by the signing key, whoever runs Verify.
	Checkpointed uint64
	// LastGood is the last seq up to which every row passed every check
	// Verify made. On success it is Rows; after a bad checkpoint it is the
	// size of the last good one, since any row after that may be the bad one.
	LastGood uint64
}

// BadEntryError names the first row of a log that fails a check.
type BadEntryError struct {
	// Seq is the seq of the bad row; for a missing row, the seq it had.
	Seq uint64
	// Reason says what is wrong, for people.
	Reason string
}

func (e *BadEntryError) Error() string {
	return fmt.Sprintf("audit: bad row at seq %d: %s", e.Seq, e.Reason)
}

// BadCheckpointError names a checkpoint that does not open or does not
// match the log.
type BadCheckpointError struct {
	// Size is the size the checkpoint claims (0 if it cannot be read).
	Size uint64
	// Index is the position of the checkpoint in the list given to Verify.
	Index int
	// Reason says what is wrong, for people.
	Reason string
	// Err is the cause from OpenCheckpoint (ErrCheckpointSignature...), if any.
	Err error
}

func (e *BadCheckpointError) Error() string {
	return fmt.Sprintf("audit: bad checkpoint of size %d (#%d): %s", e.Size, e.Index+1, e.Reason)
}

func (e *BadCheckpointError) Unwrap() error { return e.Err }

// opened is a checkpoint that OpenCheckpoint accepted, and its position.
type opened struct {
	Checkpoint
	index int
}

// Verify checks the whole audit log of rows against its signed checkpoints
// (in any order) and, when checkMAC is not nil, against the row MACs.
// checkMAC reports whether stored is the MAC of msg (RowMACMessage of the
// row's seq and leaf hash) under a key kept outside the database; it gets
// the stored MAC so that it can use the key version the MAC names. Verify stops at the first problem, in seq order, and returns it
// with a Report of what passed before:
//
//   - a checkpoint that does not open under v: *BadCheckpointError, before
//     any row is read;
//   - a seq gap (a deleted row) or a seq repeated or out of order:
//     *BadEntryError naming the missing or repeated seq;
//   - a row whose contents do not hash to its stored leaf hash (an edited
//     row): *BadEntryError;
//   - a row whose MAC does not match (a forged, inserted or moved row, or an
//     edited row whose leaf hash was recomputed): *BadEntryError;
//   - a checkpoint whose signed root is not the root of the first Size rows:
//     *BadCheckpointError;
//   - a checkpoint larger than the log (a truncated log): *BadCheckpointError.
//
// Other errors come from rows or ctx.
//
// An operator with database access alone can change rows but cannot make
// MACs, so with checkMAC Verify names the first row changed in any way.
// Without the MAC key (checkMAC nil) anyone can still run Verify, but it only
// sees what the signed checkpoints and the row contents themselves show: it
// catches a gap or repeated seq, a row edited without updating its stored
// leaf hash, and any change, deletion, insertion or reordering of rows
// covered by a checkpoint, although it then names only the checkpoint, not
// the row. It cannot see rows after the last checkpoint being rewritten
// consistently (contents and leaf hash), fabricated or deleted from the end.
// Sign checkpoints often, and keep copies of them away from the database.
func Verify(ctx context.Context, rows RowSource, checkpoints [][]byte, v note.Verifier, checkMAC func(msg, stored []byte) bool) (*Report, error) {
	rep := &Report{}
	if v == nil && len(checkpoints) > 0 {
		return rep, errors.New("audit: verify: checkpoints but no verifier")
	}
	cps := make([]opened, 0, len(checkpoints))
	for i, msg := range checkpoints {
		c, err := OpenCheckpoint(msg, v)
		if err != nil {
			size, _ := uncheckedSize(msg)
			return rep, &BadCheckpointError{Size: size, Index: i, Reason: strings.TrimPrefix(err.Error(), "audit: "), Err: err}
		}
		cps = append(cps, opened{Checkpoint: c, index: i})
	}
	slices.SortStableFunc(cps, func(a, b opened) int { return cmp.Compare(a.Size, b.Size) })

	var t Tree
	// checkpointsAt checks the checkpoints of the tree's current size.
	checkpointsAt := func() error {
		var root []byte
		for len(cps) > 0 && cps[0].Size == t.Size() {
			c := cps[0]
			if root == nil {
				root = t.Root()
			}
			if !bytes.Equal(c.Root, root) {
				rep.LastGood = rep.Checkpointed
				return &BadCheckpointError{Size: c.Size, Index: c.index,
					Reason: fmt.Sprintf("signed root is not the log's root at size %d: a row from seq %d to %d was changed, inserted, deleted or moved", c.Size, rep.Checkpointed+1, c.Size)}
			}
			rep.Checkpoints++
			rep.Checkpointed = c.Size
			cps = cps[1:]
		}
		return nil
	}
	if err := checkpointsAt(); err != nil {
		return rep, err
	}

	next := uint64(1)
	for row, err := range rows.AuditRows(ctx) {
		if err != nil {
			return rep, fmt.Errorf("audit: read rows: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		seq := row.Entry.Seq
		switch {
		case seq > next:
			return rep, &BadEntryError{Seq: next, Reason: fmt.Sprintf("missing: the next row has seq %d (row deleted or moved)", seq)}
		case seq < next:
			return rep, &BadEntryError{Seq: seq, Reason: fmt.Sprintf("seq %d repeated or out of order after seq %d (row inserted or moved)", seq, next-1)}
		}
		lh := LeafHash(row.Entry.LeafData())
		if !bytes.Equal(lh, row.LeafHash) {
			return rep, &BadEntryError{Seq: seq, Reason: "contents do not match the stored leaf hash (row edited)"}
		}
		if checkMAC != nil {
			if !checkMAC(RowMACMessage(seq, lh), row.MAC) {
				return rep, &BadEntryError{Seq: seq, Reason: "MAC does not match (row forged, inserted, moved or edited)"}
			}
		}
		if err := t.Append(lh); err != nil {
			return rep, err // cannot happen: LeafHash is 32 bytes
		}
		rep.Rows, rep.LastGood = seq, seq
		if err := checkpointsAt(); err != nil {
			return rep, err
		}
		next++
	}
	if len(cps) > 0 {
		c := cps[0]
		missing := fmt.Sprintf("rows %d to %d are", t.Size()+1, c.Size)
		if c.Size == t.Size()+1 {
			missing = fmt.Sprintf("row %d is", c.Size)
		}
		return rep, &BadCheckpointError{Size: c.Size, Index: c.index,
			Reason: fmt.Sprintf("the log ends at seq %d: %s missing (log truncated)", t.Size(), missing)}
	}
	return rep, nil
}
