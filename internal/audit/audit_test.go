package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The reference below implements RFC 6962 section 2.1 directly, to check
// this package (and the library under it) against.

func refLeaf(data []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, data...))
	return h[:]
}

func refNode(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// split returns the largest power of two smaller than n (n > 1).
func split(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// refRoot is MTH(D[n]) over leaf hashes.
func refRoot(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leaves[0]
	default:
		k := split(n)
		return refNode(refRoot(leaves[:k]), refRoot(leaves[k:]))
	}
}

// refPath is PATH(m, D[n]), the inclusion proof of leaf m.
func refPath(m int, leaves [][]byte) [][]byte {
	n := len(leaves)
	if n <= 1 {
		return [][]byte{}
	}
	k := split(n)
	if m < k {
		return append(refPath(m, leaves[:k]), refRoot(leaves[k:]))
	}
	return append(refPath(m-k, leaves[k:]), refRoot(leaves[:k]))
}

// refConsistency is PROOF(m, D[n]).
func refConsistency(m int, leaves [][]byte) [][]byte {
	if m == 0 || m == len(leaves) {
		return [][]byte{}
	}
	return refSubproof(m, leaves, true)
}

func refSubproof(m int, leaves [][]byte, b bool) [][]byte {
	n := len(leaves)
	if m == n {
		if b {
			return [][]byte{}
		}
		return [][]byte{refRoot(leaves)}
	}
	k := split(n)
	if m <= k {
		return append(refSubproof(m, leaves[:k], b), refRoot(leaves[k:]))
	}
	return append(refSubproof(m-k, leaves[k:], false), refRoot(leaves[:k]))
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// randomLeaves returns n leaf hashes of random data, the same for each n.
func randomLeaves(n int) [][]byte {
	r := rand.New(rand.NewPCG(uint64(n), 1))
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = refLeaf([]byte(strconv.FormatUint(r.Uint64(), 16)))
	}
	return leaves
}

func sampleEntry() Entry {
	return Entry{
		Seq:     42,
		Type:    "number.reveal",
		Actor:   "st_alice",
		Purpose: "tos_review",
		Ref:     "rv_bdmjag4si3ude42574noj2jpry",
		Subject: "sub_bdmjag4si3ude42574noj2jpry",
		Index:   []byte{0, 0, 0, 1, 0xaa, 0xbb},
		Detail:  "approved by st_bob",
		At:      time.UnixMilli(1767225600123).UTC(),
		Payload: []byte("ciphertext"),
	}
}

// TestLeafDataLayout rebuilds the documented encoding byte by byte.
func TestLeafDataLayout(t *testing.T) {
	e := sampleEntry()
	var want []byte
	want = append(want, 1)
	want = binary.BigEndian.AppendUint64(want, 42)
	for _, f := range []string{e.Type, e.Actor, e.Purpose, e.Ref, e.Subject, string(e.Index), e.Detail} {
		want = binary.BigEndian.AppendUint32(want, uint32(len(f)))
		want = append(want, f...)
	}
	want = binary.BigEndian.AppendUint64(want, 1767225600123)
	sum := sha256.Sum256([]byte("ciphertext"))
	want = binary.BigEndian.AppendUint32(want, 32)
	want = append(want, sum[:]...)
	if got := e.LeafData(); !bytes.Equal(got, want) {
		t.Fatalf("LeafData:\n got %x\nwant %x", got, want)
	}
	if bytes.Contains(e.LeafData(), e.Payload) {
		t.Error("LeafData contains the payload ciphertext, want only its hash")
	}
	// Pin the encoding: changing it breaks every stored leaf hash.
	const golden = "b929049da1bf9ffd3337a0ba29a1b19118ba246c5dc9191a8c0952f2421e5385"
	if got := hex.EncodeToString(LeafHash(e.LeafData())); got != golden {
		t.Errorf("LeafHash(sample) = %s, want %s", got, golden)
	}

	e.Payload = nil
	noPayload := e.LeafData()
	if !bytes.HasSuffix(noPayload, []byte{0, 0, 0, 0}) || len(noPayload) != len(want)-32 {
		t.Errorf("LeafData without payload = %x, want a zero-length payload field", noPayload)
	}
	e.Payload = []byte{}
	if !bytes.Equal(e.LeafData(), noPayload) {
		t.Error("an empty payload encodes differently from none")
	}
}

// TestLeafDataUnambiguous checks that every field, and every boundary
// between fields, changes the leaf.
func TestLeafDataUnambiguous(t *testing.T) {
	base := sampleEntry()
	edits := map[string]func(*Entry){
		"seq":          func(e *Entry) { e.Seq++ },
		"type":         func(e *Entry) { e.Type += "x" },
		"actor":        func(e *Entry) { e.Actor = "st_mallory" },
		"purpose":      func(e *Entry) { e.Purpose = "legal" },
		"ref":          func(e *Entry) { e.Ref = "" },
		"index":        func(e *Entry) { e.Index[5] ^= 1 },
		"index nil":    func(e *Entry) { e.Index = nil },
		"detail":       func(e *Entry) { e.Detail = "approved by st_eve" },
		"at":           func(e *Entry) { e.At = e.At.Add(time.Millisecond) },
		"payload":      func(e *Entry) { e.Payload = []byte("ciphertexT") },
		"payload nil":  func(e *Entry) { e.Payload = nil },
		"type/actor":   func(e *Entry) { e.Type, e.Actor = e.Type+e.Actor[:1], e.Actor[1:] },
		"detail/index": func(e *Entry) { e.Index, e.Detail = append(e.Index, e.Detail[0]), e.Detail[1:] },
		"ref/purpose":  func(e *Entry) { e.Purpose, e.Ref = e.Purpose+e.Ref, "" },
	}
	seen := map[string]string{string(base.LeafData()): "base"}
	for name, edit := range edits {
		e := sampleEntry()
		edit(&e)
		d := string(e.LeafData())
		if other, ok := seen[d]; ok {
			t.Errorf("edit %q encodes like %q", name, other)
		}
		seen[d] = name
	}

	// What is not committed: sub-millisecond time and the time zone.
	e := sampleEntry()
	e.At = e.At.Add(999 * time.Microsecond).In(time.FixedZone("x", 3600))
	if !bytes.Equal(e.LeafData(), base.LeafData()) {
		t.Error("sub-millisecond time or time zone changed the leaf")
	}
}

func TestLeafHash(t *testing.T) {
	for _, d := range [][]byte{nil, {0}, []byte("hello")} {
		if got, want := LeafHash(d), refLeaf(d); !bytes.Equal(got, want) {
			t.Errorf("LeafHash(%x) = %x, want %x", d, got, want)
		}
	}
	// RFC 6962 test vector: the leaf hash of the empty leaf.
	if got := hex.EncodeToString(LeafHash(nil)); got != "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d" {
		t.Errorf("LeafHash(empty) = %s", got)
	}
}

func TestRowMACMessage(t *testing.T) {
	lh := bytes.Repeat([]byte{0xab}, 32)
	got := RowMACMessage(0x0102030405060708, lh)
	want := append([]byte{1, 1, 2, 3, 4, 5, 6, 7, 8}, lh...)
	if !bytes.Equal(got, want) {
		t.Errorf("RowMACMessage = %x, want %x", got, want)
	}
	if bytes.Equal(RowMACMessage(1, lh), RowMACMessage(2, lh)) {
		t.Error("RowMACMessage does not depend on seq")
	}
}

// TestTreeKnownAnswers uses the RFC 6962 test vectors of the
// certificate-transparency reference implementation.
func TestTreeKnownAnswers(t *testing.T) {
	inputs := []string{"", "00", "10", "2021", "3031", "40414243",
		"5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	roots := []string{
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	var tr Tree
	for size := range roots {
		if size > 0 {
			if err := tr.Append(LeafHash(unhex(t, inputs[size-1]))); err != nil {
				t.Fatal(err)
			}
		}
		if tr.Size() != uint64(size) {
			t.Fatalf("Size = %d, want %d", tr.Size(), size)
		}
		if got := hex.EncodeToString(tr.Root()); got != roots[size] {
			t.Errorf("root of %d leaves = %s, want %s", size, got, roots[size])
		}
	}
	if !bytes.Equal(EmptyRoot(), unhex(t, roots[0])) {
		t.Error("EmptyRoot is not SHA-256 of the empty string")
	}
}

func TestTreeMatchesReference(t *testing.T) {
	leaves := randomLeaves(300)
	var tr Tree
	for i, l := range leaves {
		if err := tr.Append(l); err != nil {
			t.Fatal(err)
		}
		if got, want := tr.Root(), refRoot(leaves[:i+1]); !bytes.Equal(got, want) {
			t.Fatalf("root of %d leaves = %x, want %x", i+1, got, want)
		}
	}
}

func TestTreeRestore(t *testing.T) {
	leaves := randomLeaves(70)
	var tr Tree
	for size := 0; size <= len(leaves); size++ {
		state := tr.State()
		restored, err := RestoreTree(uint64(size), state)
		if err != nil {
			t.Fatalf("RestoreTree(%d): %v", size, err)
		}
		if !bytes.Equal(restored.Root(), tr.Root()) || restored.Size() != uint64(size) {
			t.Fatalf("restored tree of %d differs", size)
		}
		// The restored tree grows like the original.
		for _, l := range leaves[size:] {
			if err := restored.Append(l); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := restored.Root(), refRoot(leaves); !bytes.Equal(got, want) {
			t.Fatalf("tree restored at %d then grown: root %x, want %x", size, got, want)
		}
		// Saving and restoring did not alias: the original is unchanged.
		if got, want := tr.Root(), refRoot(leaves[:size]); !bytes.Equal(got, want) {
			t.Fatalf("original tree changed by its restored copy at %d", size)
		}
		if size < len(leaves) {
			if err := tr.Append(leaves[size]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestTreeBadInput(t *testing.T) {
	var tr Tree
	for _, n := range []int{0, 31, 33, 64} {
		if err := tr.Append(make([]byte, n)); !errors.Is(err, ErrHashSize) {
			t.Errorf("Append(%d bytes) = %v, want ErrHashSize", n, err)
		}
	}
	if tr.Size() != 0 {
		t.Errorf("Size after bad appends = %d", tr.Size())
	}

	// The tree keeps its own copy of an appended hash.
	h := refLeaf([]byte("a"))
	tr.Append(h)
	h[0] ^= 1
	if !bytes.Equal(tr.Root(), refLeaf([]byte("a"))) {
		t.Error("changing the caller's slice changed the tree")
	}

	for _, c := range []struct {
		size uint64
		n    int
	}{{0, 32}, {1, 0}, {1, 31}, {3, 32}, {3, 96}, {7, 64}, {1 << 40, 0}} {
		if _, err := RestoreTree(c.size, make([]byte, c.n)); !errors.Is(err, ErrHashSize) {
			t.Errorf("RestoreTree(%d, %d bytes) = %v, want ErrHashSize", c.size, c.n, err)
		}
	}
}

// TestImports checks that audit imports no other package of this module.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/ringfence/") {
				t.Errorf("%s imports %s; audit imports no package of ours", name, path)
			}
		}
	}
}

func BenchmarkAppendEntry(b *testing.B) {
	e := sampleEntry()
	e.Payload = make([]byte, 200)
	var tr Tree
	for b.Loop() {
		e.Seq++
		if err := tr.Append(LeafHash(e.LeafData())); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleTree() {
	var tr Tree
	for seq := uint64(1); seq <= 3; seq++ {
		e := Entry{Seq: seq, Type: "verification.start", Actor: "system", At: time.UnixMilli(0)}
		tr.Append(LeafHash(e.LeafData()))
	}
	fmt.Println(tr.Size(), len(tr.Root()))
	// Output: 3 32
}
