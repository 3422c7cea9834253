package audit

import (
	"bytes"
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// leafBatch is how many leaf hashes a proof asks its NodeSource for at once.
const leafBatch = 4096

// NodeSource gives the stored leaf hashes of the log to the proof builders.
type NodeSource interface {
	// LeafHashes returns the leaf hashes of leaf indices [from, to), that
	// is of seq from+1 to seq to, in order. It returns an error if any of
	// them does not exist.
	LeafHashes(ctx context.Context, from, to uint64) ([][]byte, error)
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index (seq-1)
// in the tree of the given size, computed from the leaf hashes of src. It
// reads every leaf below size once: O(size) time, O(log size) memory.
func InclusionProof(ctx context.Context, src NodeSource, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	p, err := fetchProof(ctx, src, nodes)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of %d in %d: %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of size1 and size2 (size1 <= size2), computed from the leaf hashes of src.
// It reads every leaf below size2 once at most.
func ConsistencyProof(ctx context.Context, src NodeSource, size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	p, err := fetchProof(ctx, src, nodes)
	if err != nil {
		return nil, fmt.Errorf("consistency proof from %d to %d: %w", size1, size2, err)
	}
	return p, nil
}

// fetchProof gets the hash of every node the proof names and folds the
// ephemeral node, as proof.Nodes describes.
func fetchProof(ctx context.Context, src NodeSource, nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := nodeHash(ctx, src, id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// nodeHash returns the hash of the perfect subtree id, computed from its
// leaves. It is the one place that turns node ids into hashes: a cache of
// node hashes (written by Tree.Append's visitor) would be consulted here.
func nodeHash(ctx context.Context, src NodeSource, id compact.NodeID) ([]byte, error) {
	begin, end := id.Coverage()
	r := factory.NewEmptyRange(begin)
	for from := begin; from < end; from += leafBatch {
		to := min(from+leafBatch, end)
		leaves, err := src.LeafHashes(ctx, from, to)
		if err != nil {
			return nil, fmt.Errorf("leaf hashes [%d, %d): %w", from, to, err)
		}
		if uint64(len(leaves)) != to-from {
			return nil, fmt.Errorf("leaf hashes [%d, %d): got %d, want %d", from, to, len(leaves), to-from)
		}
		for i, l := range leaves {
			if len(l) != HashSize {
				return nil, fmt.Errorf("%w: leaf %d has %d bytes", ErrHashSize, from+uint64(i), len(l))
			}
			if err := r.Append(l, nil); err != nil {
				return nil, err
			}
		}
	}
	hashes := r.Hashes()
	if len(hashes) != 1 { // cannot happen: proof nodes are perfect subtrees
		return nil, fmt.Errorf("node %d/%d is not a perfect subtree", id.Level, id.Index)
	}
	return hashes[0], nil
}

// VerifyInclusion checks that proof shows leafHash at leaf index (seq-1) in
// the tree of the given size and root. The error wraps ErrInvalidProof.
func VerifyInclusion(leafHash []byte, index, size uint64, p [][]byte, root []byte) error {
	if err := proof.VerifyInclusion(hasher, index, size, leafHash, p, root); err != nil {
		return fmt.Errorf("%w: inclusion of %d in %d: %v", ErrInvalidProof, index, size, err)
	}
	return nil
}

// VerifyConsistency checks that proof shows the tree of size1 and root1 to
// be a prefix of the tree of size2 and root2. The error wraps
// ErrInvalidProof.
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	if size1 == 0 && !bytes.Equal(root1, EmptyRoot()) {
		// proof.VerifyConsistency accepts any root for size 0.
		return fmt.Errorf("%w: root of size 0 is not the empty root", ErrInvalidProof)
	}
	if err := proof.VerifyConsistency(hasher, size1, size2, p, root1, root2); err != nil {
		return fmt.Errorf("%w: consistency from %d to %d: %v", ErrInvalidProof, size1, size2, err)
	}
	return nil
}
