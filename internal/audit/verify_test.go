package audit

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"
)

// macKey stands for the row MAC key the vault keeps outside the database.
var macKey = []byte("test row MAC key, not in the database")

func testRowMAC(seq uint64, leafHash []byte) []byte {
	h := hmac.New(sha256.New, macKey)
	h.Write(RowMACMessage(seq, leafHash))
	return h.Sum(nil)
}

// testCheckMAC checks a stored MAC the way Verify's caller does with the vault.
func testCheckMAC(msg, stored []byte) bool {
	h := hmac.New(sha256.New, macKey)
	h.Write(msg)
	return hmac.Equal(h.Sum(nil), stored)
}

// rowSlice is a RowSource over rows in memory, yielded in slice order.
type rowSlice []Row

func (r rowSlice) AuditRows(ctx context.Context) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for _, row := range r {
			if !yield(row, nil) {
				return
			}
		}
	}
}

// failingRows yields n good rows and then an error.
type failingRows struct {
	rows rowSlice
	err  error
}

func (f failingRows) AuditRows(ctx context.Context) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for row, err := range f.rows.AuditRows(ctx) {
			if !yield(row, err) {
				return
			}
		}
		yield(Row{}, f.err)
	}
}

// makeRow stores e as the store would: leaf hash and MAC beside it.
func makeRow(e Entry) Row {
	lh := LeafHash(e.LeafData())
	return Row{Entry: e, LeafHash: lh, MAC: testRowMAC(e.Seq, lh)}
}

// rehash recomputes a row's leaf hash, as an operator without the MAC key
// can, and keeps its MAC.
func rehash(r Row) Row {
	r.LeafHash = LeafHash(r.Entry.LeafData())
	return r
}

func testLog(n int) rowSlice {
	rows := make(rowSlice, n)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	purposes := []string{"verification", "login", "recovery", "tos_review"}
	for i := range rows {
		seq := uint64(i + 1)
		e := Entry{
			Seq:     seq,
			Type:    "number.read",
			Actor:   fmt.Sprintf("st_%d", i%3),
			Purpose: purposes[i%len(purposes)],
			Ref:     fmt.Sprintf("ve_%04d", i),
			Index:   []byte{byte(i), 0xaa},
			Detail:  "",
			At:      at.Add(time.Duration(i) * time.Second),
		}
		if i%2 == 0 {
			e.Payload = []byte(fmt.Sprintf("ciphertext %d", i))
		}
		rows[i] = makeRow(e)
	}
	return rows
}

// signAt signs a checkpoint of the first size rows.
func signAt(t *testing.T, rows rowSlice, size int) []byte {
	t.Helper()
	var tr Tree
	for _, r := range rows[:size] {
		tr.Append(r.LeafHash)
	}
	msg, err := SignCheckpoint(Checkpoint{Origin: origin, Size: tr.Size(), Root: tr.Root()}, testSigner(t, origin, testKey("log")))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestVerifyClean(t *testing.T) {
	ctx := context.Background()
	v := testVerifier(t, origin, testKey("log"))
	rows := testLog(20)
	cps := [][]byte{signAt(t, rows, 20), signAt(t, rows, 0), signAt(t, rows, 5), signAt(t, rows, 10), signAt(t, rows, 10)}
	for _, mac := range []func([]byte, []byte) bool{testCheckMAC, nil} {
		rep, err := Verify(ctx, rows, cps, v, mac)
		if err != nil {
			t.Fatalf("Verify(clean, mac %v): %v", mac != nil, err)
		}
		if *rep != (Report{Rows: 20, Checkpoints: 5, Checkpointed: 20, LastGood: 20}) {
			t.Errorf("Report = %+v", *rep)
		}
	}

	// No checkpoints, no verifier: the row checks alone.
	rep, err := Verify(ctx, rows, nil, nil, testCheckMAC)
	if err != nil || *rep != (Report{Rows: 20, LastGood: 20}) {
		t.Errorf("Verify without checkpoints = %+v, %v", *rep, err)
	}
	// The empty log.
	rep, err = Verify(ctx, rowSlice{}, [][]byte{signAt(t, rows, 0)}, v, testCheckMAC)
	if err != nil || *rep != (Report{Checkpoints: 1}) {
		t.Errorf("Verify(empty) = %+v, %v", *rep, err)
	}
}

func TestVerifyTampering(t *testing.T) {
	ctx := context.Background()
	v := testVerifier(t, origin, testKey("log"))
	clean := testLog(20)
	cps := [][]byte{signAt(t, clean, 5), signAt(t, clean, 10), signAt(t, clean, 20)}

	type want struct {
		seq      uint64 // BadEntryError.Seq, or
		size     uint64 // BadCheckpointError.Size
		ok       bool   // no error: a documented blind spot
		lastGood uint64 // Report.LastGood after a bad row, if not seq-1
	}
	cases := []struct {
		name   string
		tamper func(rowSlice) rowSlice
		mac    want // with the row MAC key
		public want // without it
	}{
		{"edit one field", func(r rowSlice) rowSlice {
			r[6].Entry.Detail = "nothing to see"
			return r
		}, want{seq: 7}, want{seq: 7}},
		{"edit one field and its leaf hash", func(r rowSlice) rowSlice {
			r[6].Entry.Purpose = "legal"
			r[6] = rehash(r[6])
			return r
		}, want{seq: 7}, want{size: 10}},
		{"edit the timestamp and leaf hash", func(r rowSlice) rowSlice {
			r[1].Entry.At = r[1].Entry.At.Add(-time.Hour)
			r[1] = rehash(r[1])
			return r
		}, want{seq: 2}, want{size: 5}},
		{"replace the payload", func(r rowSlice) rowSlice {
			r[14].Entry.Payload = []byte("other ciphertext")
			r[14] = rehash(r[14])
			return r
		}, want{seq: 15}, want{size: 20}},
		{"delete a row", func(r rowSlice) rowSlice {
			return append(r[:6:6], r[7:]...)
		}, want{seq: 7}, want{seq: 7}},
		{"delete a row and renumber the rest", func(r rowSlice) rowSlice {
			r = append(r[:6:6], r[7:]...)
			for i := 6; i < len(r); i++ {
				r[i].Entry.Seq--
				r[i] = rehash(r[i])
			}
			return r
		}, want{seq: 7}, want{size: 10}},
		{"swap the contents of two rows", func(r rowSlice) rowSlice {
			r[3].Entry, r[8].Entry = r[8].Entry, r[3].Entry
			r[3].Entry.Seq, r[8].Entry.Seq = 4, 9
			r[3], r[8] = rehash(r[3]), rehash(r[8])
			return r
		}, want{seq: 4}, want{size: 5}},
		{"swap two whole rows", func(r rowSlice) rowSlice {
			r[3], r[8] = r[8], r[3]
			return r
		}, want{seq: 4}, want{seq: 4}},
		{"swap two rows and their seqs", func(r rowSlice) rowSlice {
			r[3], r[8] = r[8], r[3]
			r[3].Entry.Seq, r[8].Entry.Seq = 4, 9
			return r
		}, want{seq: 4}, want{seq: 4}},
		{"insert a row with a made-up MAC", func(r rowSlice) rowSlice {
			fake := r[0].Entry
			fake.Seq, fake.Actor = 8, "st_mallory"
			row := rehash(Row{Entry: fake, MAC: make([]byte, 32)})
			out := append(append(r[:7:7], row), r[7:]...)
			for i := 8; i < len(out); i++ {
				out[i].Entry.Seq++
				out[i] = rehash(out[i])
			}
			return out
		}, want{seq: 8}, want{size: 10}},
		{"append a row with a made-up MAC", func(r rowSlice) rowSlice {
			fake := r[19].Entry
			fake.Seq = 21
			return append(r, rehash(Row{Entry: fake, MAC: []byte("made up")}))
		}, want{seq: 21}, want{ok: true}},
		{"repeat a row", func(r rowSlice) rowSlice {
			return append(r[:5:5], r[4:]...)
		}, want{seq: 5, lastGood: 5}, want{seq: 5, lastGood: 5}},
		{"move a valid row to another seq", func(r rowSlice) rowSlice {
			moved := r[2]
			moved.Entry.Seq = 12
			r[11] = rehash(moved)
			return r
		}, want{seq: 12}, want{size: 20}},
		{"truncate the log under a checkpoint", func(r rowSlice) rowSlice {
			return r[:13]
		}, want{size: 20}, want{size: 20}},
		{"drop the last row", func(r rowSlice) rowSlice {
			return r[:19]
		}, want{size: 20}, want{size: 20}},
		{"start at seq 2", func(r rowSlice) rowSlice {
			return r[1:]
		}, want{seq: 1}, want{seq: 1}},
		{"rewrite the MAC only", func(r rowSlice) rowSlice {
			r[16].MAC[0] ^= 1
			return r
		}, want{seq: 17}, want{ok: true}},
	}
	for _, tc := range cases {
		for _, withMAC := range []bool{true, false} {
			name := tc.name + map[bool]string{true: " (MAC key)", false: " (public)"}[withMAC]
			rows := tc.tamper(copyRows(clean))
			w, mac := tc.public, (func([]byte, []byte) bool)(nil)
			if withMAC {
				w, mac = tc.mac, testCheckMAC
			}
			rep, err := Verify(ctx, rows, cps, v, mac)
			var be *BadEntryError
			var bc *BadCheckpointError
			switch {
			case w.ok:
				if err != nil {
					t.Errorf("%s: %v, want no error", name, err)
				}
			case w.seq != 0:
				if !errors.As(err, &be) || be.Seq != w.seq {
					t.Errorf("%s: %v, want a bad row at seq %d", name, err, w.seq)
				} else if lg := cmp.Or(w.lastGood, w.seq-1); rep.LastGood != lg {
					t.Errorf("%s: LastGood = %d, want %d", name, rep.LastGood, lg)
				}
			default:
				if !errors.As(err, &bc) || bc.Size != w.size {
					t.Errorf("%s: %v, want a bad checkpoint of size %d", name, err, w.size)
				}
			}
			if err != nil {
				t.Logf("%s: %v (report %+v)", name, err, *rep)
			}
		}
	}
}

func copyRows(rows rowSlice) rowSlice {
	out := make(rowSlice, len(rows))
	for i, r := range rows {
		r.MAC = append([]byte(nil), r.MAC...)
		r.LeafHash = append([]byte(nil), r.LeafHash...)
		out[i] = r
	}
	return out
}

func TestVerifyBadCheckpoints(t *testing.T) {
	ctx := context.Background()
	key := testKey("log")
	v := testVerifier(t, origin, key)
	rows := testLog(20)
	good := [][]byte{signAt(t, rows, 5), signAt(t, rows, 10), signAt(t, rows, 20)}

	edit := func(msg []byte, old, new string) []byte {
		return []byte(strings.Replace(string(msg), old, new, 1))
	}
	// A checkpoint the key holder signed for a different history (a fork).
	forked := copyRows(rows)
	forked[11].Entry.Detail = "rewritten"
	forked[11] = rehash(forked[11])
	fork := signAt(t, forked, 15)
	// Change one character of the root line of the size-10 checkpoint.
	lines := strings.SplitN(string(good[1]), "\n", 4)
	root := []byte(lines[2])
	root[5] = map[bool]byte{true: 'B', false: 'A'}[root[5] == 'A']
	rootEdited := []byte(lines[0] + "\n" + lines[1] + "\n" + string(root) + "\n" + lines[3])
	other, err := SignCheckpoint(Checkpoint{Origin: origin, Size: 10, Root: refLeaf(nil)}, testSigner(t, origin, testKey("other")))
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		extra    []byte
		size     uint64
		cause    error
		lastGood uint64
	}{
		{"size edited", edit(good[1], "\n10\n", "\n11\n"), 11, ErrCheckpointSignature, 0},
		{"root edited", rootEdited, 10, ErrCheckpointSignature, 0},
		{"signed by another key", other, 10, ErrCheckpointKey, 0},
		{"garbage", []byte("not a note"), 0, ErrMalformedCheckpoint, 0},
		{"signed fork", fork, 15, nil, 10},
		{"beyond the log", signAt(t, append(copyRows(rows), rows[0]), 21), 21, nil, 20},
	}
	for _, tc := range cases {
		cps := append(append([][]byte(nil), good...), tc.extra)
		rep, err := Verify(ctx, rows, cps, v, testCheckMAC)
		var bc *BadCheckpointError
		if !errors.As(err, &bc) || bc.Size != tc.size || bc.Index != 3 {
			t.Errorf("%s: %v, want a bad checkpoint #4 of size %d", tc.name, err, tc.size)
			continue
		}
		if tc.cause != nil && !errors.Is(err, tc.cause) {
			t.Errorf("%s: %v, want it to wrap %v", tc.name, err, tc.cause)
		}
		if rep.LastGood != tc.lastGood {
			t.Errorf("%s: LastGood = %d, want %d", tc.name, rep.LastGood, tc.lastGood)
		}
		t.Logf("%s: %v", tc.name, err)
	}
}

func TestVerifyOtherErrors(t *testing.T) {
	ctx := context.Background()
	rows := testLog(5)
	boom := errors.New("disk on fire")
	rep, err := Verify(ctx, failingRows{rows: rows[:3], err: boom}, nil, nil, testCheckMAC)
	if !errors.Is(err, boom) || rep.Rows != 3 {
		t.Errorf("Verify with a failing source = %+v, %v", *rep, err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Verify(canceled, rows, nil, nil, testCheckMAC); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a canceled context = %v", err)
	}
	if _, err := Verify(ctx, rows, [][]byte{signAt(t, rows, 1)}, nil, nil); err == nil {
		t.Error("Verify with checkpoints and no verifier succeeded")
	}
}

func BenchmarkVerify(b *testing.B) {
	const n = 10000
	rows := make(rowSlice, n)
	var tr Tree
	for i := range rows {
		e := sampleEntry()
		e.Seq = uint64(i + 1)
		rows[i] = makeRow(e)
		tr.Append(rows[i].LeafHash)
	}
	key := testKey("log")
	msg, _ := SignCheckpoint(Checkpoint{Origin: origin, Size: n, Root: tr.Root()}, testSigner(b, origin, key))
	v := testVerifier(b, origin, key)
	ctx := context.Background()
	for b.Loop() {
		if _, err := Verify(ctx, rows, [][]byte{msg}, v, testCheckMAC); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
}
