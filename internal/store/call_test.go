package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/dialogue"
)

func TestCallMinutes(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		dec := time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)
		jan := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		key := "0000000a3f9c27e1"
		if used, err := db.Used(ctx, key, dec); err != nil || used != 0 {
			t.Fatalf("new caller: %v %v", used, err)
		}
		for range 2 {
			if err := db.Add(ctx, key, dec, 90*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if used, err := db.Used(ctx, key, time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)); err != nil || used != 0 {
			t.Fatalf("previous month: %v %v", used, err)
		}
		if used, _ := db.Used(ctx, key, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); used != 3*time.Minute {
			t.Fatalf("same month: %v, want 3m", used)
		}
		if used, _ := db.Used(ctx, key, jan); used != 0 {
			t.Fatalf("next month: %v", used)
		}
		if used, _ := db.Used(ctx, "other", dec); used != 0 {
			t.Fatalf("other caller: %v", used)
		}
		if err := db.Add(ctx, key, dec, -time.Second); err == nil {
			t.Error("negative time added")
		}
		for _, bad := range []string{"+14155550123", "415 555 0123"} {
			if err := db.Add(ctx, bad, dec, time.Second); !errors.Is(err, dialogue.ErrNotOpaque) {
				t.Errorf("Add(%q) = %v, want ErrNotOpaque", bad, err)
			}
			if _, err := db.Used(ctx, bad, dec); !errors.Is(err, dialogue.ErrNotOpaque) {
				t.Errorf("Used(%q) = %v, want ErrNotOpaque", bad, err)
			}
		}
	})
}

func TestSaveCall(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		start := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
		r := &dialogue.CallRecord{
			ID: "c1", Trunk: "pbx", CallerIndex: []byte{0, 0, 0, 1, 9, 8, 7}, Pseudonym: "abcdefghijklmnopqrstuvwxyz",
			Start: start, Duration: 75 * time.Second, Charged: 75 * time.Second,
			DisclosureHash: "aa11", Ended: dialogue.EndQuota, Turns: 3, Emergency: true,
		}
		if err := db.SaveCall(ctx, r); err != nil {
			t.Fatal(err)
		}
		anon := &dialogue.CallRecord{ID: "c2", Trunk: "pbx", Start: start.Add(time.Minute), DisclosureHash: "bb", Ended: dialogue.EndCallerHangup}
		if err := db.SaveCall(ctx, anon); err != nil {
			t.Fatal(err)
		}
		got, err := db.Calls(ctx, start)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d calls, want 2", len(got))
		}
		g := got[0]
		if g.ID != r.ID || g.Trunk != r.Trunk || !bytes.Equal(g.CallerIndex, r.CallerIndex) || g.Pseudonym != r.Pseudonym ||
			!g.Start.Equal(r.Start) || g.Duration != r.Duration || g.Charged != r.Charged || g.DisclosureHash != r.DisclosureHash ||
			g.Ended != r.Ended || g.Turns != r.Turns || g.Emergency != r.Emergency {
			t.Fatalf("read back %+v, want %+v", g, r)
		}
		if got[1].CallerIndex != nil || got[1].Emergency {
			t.Errorf("anonymous call read back %+v", got[1])
		}
		if err := db.SaveCall(ctx, r); err == nil {
			t.Error("a second record with one id was saved")
		}
		for _, bad := range []*dialogue.CallRecord{
			{Trunk: "pbx", Start: start, Ended: dialogue.EndError},
			{ID: "c3", Start: start},
			{ID: "c4", Start: start, Ended: dialogue.EndError, Pseudonym: "+14155550123"},
		} {
			if err := db.SaveCall(ctx, bad); err == nil {
				t.Errorf("bad record %+v saved", bad)
			}
		}
	})
}
