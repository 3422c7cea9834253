package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// memLeaves is a NodeSource over leaf hashes in memory; it counts reads.
type memLeaves struct {
	leaves [][]byte
	reads  int
}

func (m *memLeaves) LeafHashes(_ context.Context, from, to uint64) ([][]byte, error) {
	m.reads++
	if from > to || to > uint64(len(m.leaves)) {
		return nil, fmt.Errorf("no leaves [%d, %d) in %d", from, to, len(m.leaves))
	}
	return m.leaves[from:to], nil
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// corrupt returns copies of p with one change each.
func corrupt(p [][]byte) [][][]byte {
	var out [][][]byte
	for i := range p {
		q := make([][]byte, len(p))
		copy(q, p)
		q[i] = append([]byte(nil), p[i]...)
		q[i][i%32] ^= 0x40
		out = append(out, q)
	}
	out = append(out, append(append([][]byte(nil), p...), make([]byte, 32))) // one too many
	if len(p) > 0 {
		out = append(out, p[:len(p)-1]) // one too few
	}
	return out
}

func TestInclusionProofs(t *testing.T) {
	ctx := context.Background()
	leaves := randomLeaves(40)
	src := &memLeaves{leaves: leaves}
	for size := 1; size <= 40; size++ {
		root := refRoot(leaves[:size])
		for index := range size {
			p, err := InclusionProof(ctx, src, uint64(index), uint64(size))
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
			}
			if want := refPath(index, leaves[:size]); !equalProofs(p, want) {
				t.Fatalf("InclusionProof(%d, %d) differs from RFC 6962 PATH", index, size)
			}
			if err := VerifyInclusion(leaves[index], uint64(index), uint64(size), p, root); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d): %v", index, size, err)
			}
			for _, bad := range corrupt(p) {
				if err := VerifyInclusion(leaves[index], uint64(index), uint64(size), bad, root); !errors.Is(err, ErrInvalidProof) {
					t.Fatalf("VerifyInclusion(%d, %d) of a corrupt proof = %v", index, size, err)
				}
			}
			other := leaves[(index+1)%size]
			if size > 1 && VerifyInclusion(other, uint64(index), uint64(size), p, root) == nil {
				t.Fatalf("proof of %d in %d verifies another leaf", index, size)
			}
			if size > 1 && VerifyInclusion(leaves[index], uint64((index+1)%size), uint64(size), p, root) == nil && len(p) > 0 {
				t.Fatalf("proof of %d in %d verifies at another index", index, size)
			}
			// The proof does not bind the size by itself (the signed
			// checkpoint binds size and root), but it does bind the root.
			if size > 1 && VerifyInclusion(leaves[index], uint64(index), uint64(size), p, refRoot(leaves[:size-1])) == nil {
				t.Fatalf("proof of %d in %d verifies against the root of size %d", index, size, size-1)
			}
		}
	}
}

func TestConsistencyProofs(t *testing.T) {
	ctx := context.Background()
	leaves := randomLeaves(40)
	src := &memLeaves{leaves: leaves}
	for size2 := 0; size2 <= 40; size2++ {
		root2 := refRoot(leaves[:size2])
		for size1 := 0; size1 <= size2; size1++ {
			root1 := refRoot(leaves[:size1])
			p, err := ConsistencyProof(ctx, src, uint64(size1), uint64(size2))
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size2, err)
			}
			if want := refConsistency(size1, leaves[:size2]); !equalProofs(p, want) {
				t.Fatalf("ConsistencyProof(%d, %d) differs from RFC 6962 PROOF", size1, size2)
			}
			if err := VerifyConsistency(uint64(size1), uint64(size2), p, root1, root2); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", size1, size2, err)
			}
			for _, bad := range corrupt(p) {
				if err := VerifyConsistency(uint64(size1), uint64(size2), bad, root1, root2); !errors.Is(err, ErrInvalidProof) {
					t.Fatalf("VerifyConsistency(%d, %d) of a corrupt proof = %v", size1, size2, err)
				}
			}
			// A forked history: another tree of size1 is not a prefix.
			forked := refRoot(append(append([][]byte(nil), leaves[:size1]...), refLeaf([]byte("fork")))[1:])
			if size1 > 0 && VerifyConsistency(uint64(size1), uint64(size2), p, forked, root2) == nil {
				t.Fatalf("VerifyConsistency(%d, %d) accepts a forked root1", size1, size2)
			}
			wrong2 := refNode(root2, root2)
			if VerifyConsistency(uint64(size1), uint64(size2), p, root1, wrong2) == nil && size1 > 0 {
				t.Fatalf("VerifyConsistency(%d, %d) accepts a wrong root2", size1, size2)
			}
		}
	}
	if err := VerifyConsistency(0, 5, nil, refLeaf(nil), refRoot(leaves[:5])); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("VerifyConsistency from size 0 with a non-empty root = %v, want ErrInvalidProof", err)
	}
}

// TestProofsLarge crosses the leaf batch size of the proof builders.
func TestProofsLarge(t *testing.T) {
	ctx := context.Background()
	const n = 2*leafBatch + 123
	leaves := randomLeaves(n)
	var tr Tree
	for _, l := range leaves {
		tr.Append(l)
	}
	src := &memLeaves{leaves: leaves}
	for _, index := range []uint64{0, 1, leafBatch - 1, leafBatch, leafBatch + 1, n - 124, n - 1} {
		p, err := InclusionProof(ctx, src, index, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyInclusion(leaves[index], index, n, p, tr.Root()); err != nil {
			t.Errorf("index %d: %v", index, err)
		}
	}
	for _, size1 := range []uint64{1, 7, leafBatch, leafBatch + 1, n - 1} {
		p, err := ConsistencyProof(ctx, src, size1, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyConsistency(size1, n, p, refRoot(leaves[:size1]), tr.Root()); err != nil {
			t.Errorf("size1 %d: %v", size1, err)
		}
	}
	src.reads = 0
	if _, err := InclusionProof(ctx, src, 5, n); err != nil {
		t.Fatal(err)
	}
	if limit := n/leafBatch + 20; src.reads > limit {
		t.Errorf("inclusion proof read %d batches, want at most %d", src.reads, limit)
	}
}

// shortLeaves returns fewer leaf hashes than asked, or bad ones.
type shortLeaves struct{ bad bool }

func (s shortLeaves) LeafHashes(_ context.Context, from, to uint64) ([][]byte, error) {
	if s.bad {
		out := make([][]byte, to-from)
		for i := range out {
			out[i] = make([]byte, 20)
		}
		return out, nil
	}
	return make([][]byte, to-from-1), nil
}

func TestProofErrors(t *testing.T) {
	ctx := context.Background()
	src := &memLeaves{leaves: randomLeaves(10)}
	cases := []struct {
		name string
		f    func() ([][]byte, error)
	}{
		{"index beyond size", func() ([][]byte, error) { return InclusionProof(ctx, src, 5, 5) }},
		{"empty tree", func() ([][]byte, error) { return InclusionProof(ctx, src, 0, 0) }},
		{"size beyond source", func() ([][]byte, error) { return InclusionProof(ctx, src, 3, 11) }},
		{"size1 > size2", func() ([][]byte, error) { return ConsistencyProof(ctx, src, 6, 5) }},
		{"size2 beyond source", func() ([][]byte, error) { return ConsistencyProof(ctx, src, 3, 12) }},
		{"short source", func() ([][]byte, error) { return InclusionProof(ctx, shortLeaves{}, 3, 8) }},
		{"bad hashes", func() ([][]byte, error) { return ConsistencyProof(ctx, shortLeaves{bad: true}, 3, 8) }},
	}
	for _, c := range cases {
		if p, err := c.f(); err == nil {
			t.Errorf("%s: got proof %x, want an error", c.name, p)
		}
	}
	if err := VerifyInclusion(make([]byte, 32), 3, 3, nil, make([]byte, 32)); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("VerifyInclusion(index = size) = %v", err)
	}
	if err := VerifyConsistency(4, 3, nil, nil, nil); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("VerifyConsistency(size1 > size2) = %v", err)
	}
}

func BenchmarkInclusionProof(b *testing.B) {
	ctx := context.Background()
	const n = 1 << 16
	src := &memLeaves{leaves: randomLeaves(n)}
	for b.Loop() {
		if _, err := InclusionProof(ctx, src, n/3, n); err != nil {
			b.Fatal(err)
		}
	}
}
