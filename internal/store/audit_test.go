package store

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

func event(i int) verify.Event {
	return verify.Event{
		Type:           fmt.Sprintf("test.event%d", i),
		Actor:          "key-1",
		Purpose:        verify.PurposeLogin,
		VerificationID: fmt.Sprintf("v%d", i),
		PhoneIndex:     []byte(fmt.Sprintf("idx%d", i)),
		Detail:         "sms:dev",
		At:             t0.Add(time.Duration(i) * time.Second),
	}
}

func TestAuditAppend(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		bare := verify.Event{Type: "test.bare", At: t0} // no verification, no index
		write(t, db, func(tx verify.Tx) error { return tx.AppendEvents(event(1), event(2), event(3)) })
		// A failed write appends nothing and leaves no gap behind.
		err := db.Write(ctx, func(tx verify.Tx) error {
			if err := tx.AppendEvents(event(99)); err != nil {
				return err
			}
			return errors.New("changed my mind")
		})
		if err == nil {
			t.Fatal("failing write succeeded")
		}
		write(t, db, func(tx verify.Tx) error { return tx.AppendEvents() })
		write(t, db, func(tx verify.Tx) error { return tx.AppendEvents(event(4), bare) })

		got, err := db.AuditEvents(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []AuditEvent{{1, event(1)}, {2, event(2)}, {3, event(3)}, {4, event(4)}, {5, bare}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("AuditEvents:\n got %+v\nwant %+v", got, want)
		}
		page, err := db.AuditEvents(ctx, 2, 2)
		if err != nil || len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
			t.Errorf("AuditEvents(2, 2) = %+v, %v", page, err)
		}
		if rest, err := db.AuditEvents(ctx, 5, 10); err != nil || len(rest) != 0 {
			t.Errorf("AuditEvents past the end = %+v, %v", rest, err)
		}
	})
}

// The table refuses every change to what was appended, in the database itself.
func TestAuditAppendOnly(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		write(t, db, func(tx verify.Tx) error { return tx.AppendEvents(event(1), event(2)) })
		stmts := []string{
			`UPDATE audit_events SET detail = 'forged' WHERE seq = 1`,
			`UPDATE audit_events SET seq = 7 WHERE seq = 2`,
			`DELETE FROM audit_events WHERE seq = 2`,
			`DELETE FROM audit_events`,
		}
		if db.d == postgres {
			stmts = append(stmts, `TRUNCATE audit_events`)
		}
		for _, s := range stmts {
			err := db.write(t.Context(), func(t *tx) error {
				_, err := t.exec(s)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want an append-only error", s, err)
			}
		}
		got, err := db.AuditEvents(t.Context(), 0, 10)
		if err != nil || !reflect.DeepEqual(got, []AuditEvent{{1, event(1)}, {2, event(2)}}) {
			t.Errorf("after refused changes: %+v, %v", got, err)
		}
	})
}

// Concurrent appenders (two instances) get one gapless sequence.
func TestAuditConcurrentGapless(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		instances := []*DB{db, reopen(t, db)}
		const writers, each = 20, 5
		var wg sync.WaitGroup
		for w := range writers {
			inst := instances[w%2]
			wg.Go(func() {
				events := make([]verify.Event, each)
				for i := range events {
					events[i] = event(w*each + i)
				}
				if err := inst.Write(t.Context(), func(tx verify.Tx) error { return tx.AppendEvents(events...) }); err != nil {
					t.Errorf("append: %v", err)
				}
			})
		}
		wg.Wait()
		got, err := db.AuditEvents(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != writers*each {
			t.Fatalf("%d events, want %d", len(got), writers*each)
		}
		for i, e := range got {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
		}
		// Each write's events are contiguous and in order.
		for i := 0; i < len(got); i += each {
			first := got[i].Type
			for j := 1; j < each; j++ {
				var a, b int
				fmt.Sscanf(first, "test.event%d", &a)
				fmt.Sscanf(got[i+j].Type, "test.event%d", &b)
				if b != a+j {
					t.Errorf("seq %d: %s follows %s", got[i+j].Seq, got[i+j].Type, first)
				}
			}
		}
	})
}
