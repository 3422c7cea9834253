// Package audit makes the event log a tamper-evident Merkle tree with signed checkpoints.
//
// Each row of the audit_events table is an Entry. Its canonical encoding
// (Entry.LeafData) is hashed as an RFC 6962 leaf (LeafHash) and appended to a
// Merkle tree whose leaf index is seq-1 (Tree). The root at a size is signed
// as a C2SP tlog-checkpoint in a C2SP signed note with Ed25519
// (SignCheckpoint, OpenCheckpoint). Inclusion and consistency proofs are
// built from the stored leaf hashes (InclusionProof, ConsistencyProof), and
// Verify checks a whole log against its checkpoints and the row MACs, naming
// the first bad row.
//
// The package does no I/O: the store feeds it rows and leaf hashes through
// the small RowSource and NodeSource interfaces, and the caller computes row
// MACs with the vault.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the length in bytes of leaf hashes, node hashes and roots
// (SHA-256).
const HashSize = sha256.Size

// leafVersion is the first byte of LeafData; a new encoding gets a new one.
const leafVersion = 1

// rowMACVersion is the first byte of RowMACMessage.
const rowMACVersion = 1

// hasher is the RFC 6962 SHA-256 tree hasher of every tree in this package.
var hasher = rfc6962.DefaultHasher

// Errors returned by this package. BadEntryError and BadCheckpointError
// report what Verify finds wrong with a log.
var (
	// ErrHashSize means a leaf hash, node hash or saved tree state does not
	// have the size SHA-256 gives it.
	ErrHashSize = errors.New("audit: bad hash size")
	// ErrInvalidProof means an inclusion or consistency proof does not prove
	// what it was checked against.
	ErrInvalidProof = errors.New("audit: invalid proof")
	// ErrMalformedCheckpoint means a checkpoint or its signed note cannot be
	// parsed: truncated, badly formatted, or not a checkpoint.
	ErrMalformedCheckpoint = errors.New("audit: malformed checkpoint")
	// ErrCheckpointSignature means a checkpoint names the log's key but the
	// signature does not verify: the note was forged or altered after signing.
	ErrCheckpointSignature = errors.New("audit: invalid checkpoint signature")
	// ErrCheckpointKey means a checkpoint carries no signature by the log's
	// key, for example because another key signed it.
	ErrCheckpointKey = errors.New("audit: checkpoint not signed by the log's key")
	// ErrCheckpointOrigin means a checkpoint's origin line is not the name of
	// the key that signed it.
	ErrCheckpointOrigin = errors.New("audit: checkpoint origin does not match the log")
)

// Entry is one event of the audit log, as stored in a row of audit_events.
type Entry struct {
	// Seq is the position of the event, gapless from 1. The event is the
	// leaf with index Seq-1 of the tree.
	Seq uint64
	// Type is the kind of event, such as "number.reveal".
	Type string
	// Actor names who caused the event: a staff id, an API key id, "system".
	Actor string
	// Purpose is the declared purpose of an access to a number, if any.
	Purpose string
	// Ref is the verification (or reveal request) id the event is about.
	Ref string
	// Subject is the subject id the event is about, if any.
	Subject string
	// Index is the keyed blind index of the phone number, or a subject
	// commitment; never a number.
	Index []byte
	// Detail is free text without personal data.
	Detail string
	// At is when the event happened; only whole milliseconds are committed.
	At time.Time
	// Payload is an optional ciphertext under a per-subject key. Only its
	// SHA-256 is committed, so that destroying the key (erasure) leaves the
	// leaf provable. An empty payload is the same as none.
	Payload []byte
}

// LeafData returns the canonical encoding of e that the Merkle tree commits
// to. It is unambiguous: a version byte (1); Seq as 8 bytes big-endian; Type,
// Actor, Purpose, Ref, Subject, Index and Detail, each as a 4-byte big-endian length
// and the bytes; At as milliseconds since the Unix epoch in 8 bytes
// big-endian (two's complement); and the payload commitment as a 4-byte
// length and SHA-256(Payload), or a zero length when Payload is empty.
//
// A field of 4 GiB or more cannot be encoded and makes LeafData panic; no
// database column holds one.
func (e Entry) LeafData() []byte {
	n := 1 + 8 + 7*4 + len(e.Type) + len(e.Actor) + len(e.Purpose) + len(e.Ref) + len(e.Subject) +
		len(e.Index) + len(e.Detail) + 8 + 4 + HashSize
	b := make([]byte, 0, n)
	b = append(b, leafVersion)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = appendField(b, e.Type)
	b = appendField(b, e.Actor)
	b = appendField(b, e.Purpose)
	b = appendField(b, e.Ref)
	b = appendField(b, e.Subject)
	b = appendField(b, e.Index)
	b = appendField(b, e.Detail)
	b = binary.BigEndian.AppendUint64(b, uint64(e.At.UnixMilli()))
	if len(e.Payload) == 0 {
		return binary.BigEndian.AppendUint32(b, 0)
	}
	sum := sha256.Sum256(e.Payload)
	return appendField(b, sum[:])
}

// appendField appends the 4-byte big-endian length of f and f.
func appendField[T string | []byte](b []byte, f T) []byte {
	if uint64(len(f)) > 1<<32-1 {
		panic("audit: entry field of 4 GiB or more")
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
	return append(b, f...)
}

// LeafHash returns the RFC 6962 leaf hash of data: SHA-256(0x00 || data).
func LeafHash(data []byte) []byte {
	return hasher.HashLeaf(data)
}

// EmptyRoot returns the root of the empty tree: SHA-256 of nothing.
func EmptyRoot() []byte {
	return hasher.EmptyRoot()
}

// RowMACMessage returns the bytes a row MAC authenticates: a version byte
// (1), seq as 8 bytes big-endian, and the leaf hash. The caller MACs them
// under a key kept outside the database, stores the MAC in the row and hands
// Verify a rowMAC function that recomputes it. Because seq is inside, a
// valid row moved to another seq no longer matches.
func RowMACMessage(seq uint64, leafHash []byte) []byte {
	b := make([]byte, 0, 1+8+len(leafHash))
	b = append(b, rowMACVersion)
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, leafHash...)
}
