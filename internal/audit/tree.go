package audit

import (
	"fmt"
	"math/bits"

	"github.com/transparency-dev/merkle/compact"
)

// factory makes every compact range of this package: RFC 6962 SHA-256 nodes.
// It holds no state; compact ranges only merge with ranges of the same factory.
var factory = &compact.RangeFactory{Hash: hasher.HashChildren}

// Tree is an append-only RFC 6962 Merkle tree that keeps only its compact
// range: the roots of the perfect subtrees covering it, at most one per
// level, so appending costs O(log n) time and memory whatever the size. The
// zero Tree is empty and ready to use. A Tree is not safe for concurrent use.
type Tree struct {
	r *compact.Range
}

// RestoreTree returns the tree of the given size whose State was state, so
// that a service need not rehash the whole log when it starts. The caller
// should check the restored Root against the latest signed checkpoint.
func RestoreTree(size uint64, state []byte) (*Tree, error) {
	n := bits.OnesCount64(size)
	if len(state) != n*HashSize {
		return nil, fmt.Errorf("%w: tree state of %d bytes for size %d, want %d", ErrHashSize, len(state), size, n*HashSize)
	}
	hashes := make([][]byte, n)
	for i := range hashes {
		hashes[i] = append([]byte(nil), state[i*HashSize:(i+1)*HashSize]...)
	}
	r, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("restore tree: %w", err)
	}
	return &Tree{r: r}, nil
}

func (t *Tree) rng() *compact.Range {
	if t.r == nil {
		t.r = factory.NewEmptyRange(0)
	}
	return t.r
}

// Append adds a leaf hash (LeafHash of an entry's LeafData) as the next
// leaf. The error is ErrHashSize if leafHash is not 32 bytes long.
func (t *Tree) Append(leafHash []byte) error {
	if len(leafHash) != HashSize {
		return fmt.Errorf("%w: leaf hash of %d bytes", ErrHashSize, len(leafHash))
	}
	return t.rng().Append(append([]byte(nil), leafHash...), nil)
}

// Size returns the number of leaves, which is the seq of the last entry.
func (t *Tree) Size() uint64 {
	if t.r == nil {
		return 0
	}
	return t.r.End()
}

// Root returns the RFC 6962 root hash of the tree; for the empty tree it is
// EmptyRoot.
func (t *Tree) Root() []byte {
	if t.Size() == 0 {
		return EmptyRoot()
	}
	// GetRootHash fails only for ranges that do not begin at 0.
	root, _ := t.r.GetRootHash(nil)
	return root
}

// State returns the tree's compact range, to save beside its size and give
// back to RestoreTree: the hashes of the perfect subtrees covering the tree,
// left to right, each 32 bytes, one per bit set in the size.
func (t *Tree) State() []byte {
	if t.r == nil {
		return nil
	}
	hashes := t.r.Hashes()
	b := make([]byte, 0, len(hashes)*HashSize)
	for _, h := range hashes {
		b = append(b, h...)
	}
	return b
}
