package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// message reads one outbox row.
func message(t *testing.T, db *DB, id string) verify.Message {
	t.Helper()
	m, err := scanMessage(db.queryRow(t.Context(), `SELECT `+messageColumns+` FROM outbox WHERE id = ?`, id))
	if err != nil {
		t.Fatalf("message %s: %v", id, err)
	}
	return m
}

func enqueue(t *testing.T, db *DB, ms ...*verify.Message) {
	t.Helper()
	write(t, db, func(tx verify.Tx) error {
		if err := tx.InsertVerification(newVerification("v1")); err != nil {
			return err
		}
		for _, m := range ms {
			if err := tx.EnqueueMessage(m); err != nil {
				return err
			}
		}
		return nil
	})
}

func newMessage(id string, due time.Time) *verify.Message {
	return &verify.Message{ID: id, VerificationID: "v1", Channel: verify.ChannelSMS, DueAt: due, CreatedAt: t0}
}

func TestOutbox(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		now := t0.Add(time.Minute)
		lease := 30 * time.Second
		enqueue(t, db,
			newMessage("m-late", now),
			newMessage("m-early", now.Add(-time.Second)),
			newMessage("m-future", now.Add(time.Millisecond)))
		if m := message(t, db, "m-late"); m.State != verify.MessagePending || !m.LeaseUntil.IsZero() || !m.DueAt.Equal(now) {
			t.Errorf("enqueued: %+v", m)
		}

		got, err := db.ClaimMessages(ctx, now, lease, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "m-early" || got[1].ID != "m-late" {
			t.Fatalf("ClaimMessages = %+v, want m-early, m-late", got)
		}
		for _, m := range got {
			if m.State != verify.MessageSending || !m.LeaseUntil.Equal(now.Add(lease)) {
				t.Errorf("claimed %s: state %s lease %v", m.ID, m.State, m.LeaseUntil)
			}
		}
		if again, err := db.ClaimMessages(ctx, now, lease, 10); err != nil || len(again) != 0 {
			t.Errorf("second claim = %v, %v; want nothing", again, err)
		}

		// The sender finishes one.
		sent := got[0]
		sent.State, sent.Attempts, sent.ProviderID = verify.MessageSent, 1, "SM123"
		write(t, db, func(tx verify.Tx) error { return tx.FinishMessage(&sent) })
		if m := message(t, db, sent.ID); m.State != verify.MessageSent || m.Attempts != 1 || m.ProviderID != "SM123" {
			t.Errorf("finished: %+v", m)
		}
		err = db.Write(ctx, func(tx verify.Tx) error { return tx.FinishMessage(newMessage("m-missing", now)) })
		if !errors.Is(err, verify.ErrLeaseLost) {
			t.Errorf("FinishMessage of a missing message: %v", err)
		}
		if err := db.Write(ctx, func(tx verify.Tx) error { return tx.FinishMessage(&sent) }); !errors.Is(err, verify.ErrLeaseLost) {
			t.Errorf("FinishMessage of a message no longer leased: %v", err)
		}
		stale := got[1] // its sender will outlive its lease below

		// The other one's sender dies. Before the lease runs out nothing moves.
		if n, err := db.ReleaseStale(ctx, now.Add(lease-time.Millisecond), true); err != nil || n != 0 {
			t.Errorf("ReleaseStale before the lease ends = %d, %v", n, err)
		}
		if n, err := db.ReleaseStale(ctx, now.Add(lease), true); err != nil || n != 1 {
			t.Errorf("ReleaseStale(retry) = %d, %v; want 1", n, err)
		}
		if m := message(t, db, "m-late"); m.State != verify.MessagePending || !m.LeaseUntil.IsZero() {
			t.Errorf("released for retry: %+v", m)
		}
		later := now.Add(time.Minute)
		got, err = db.ClaimMessages(ctx, later, lease, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("claim after release = %+v, %v; want m-late and m-future", got, err)
		}
		stale.State = verify.MessageSent
		if err := db.Write(ctx, func(tx verify.Tx) error { return tx.FinishMessage(&stale) }); !errors.Is(err, verify.ErrLeaseLost) {
			t.Errorf("a sender whose lease ran out overwrote the new claim: %v", err)
		}
		if n, err := db.ReleaseStale(ctx, later.Add(lease), false); err != nil || n != 2 {
			t.Errorf("ReleaseStale(no retry) = %d, %v; want 2", n, err)
		}
		if m := message(t, db, "m-future"); m.State != verify.MessageUnknown {
			t.Errorf("released without retry: %+v", m)
		}
		if got, _ := db.ClaimMessages(ctx, later.Add(time.Hour), lease, 10); len(got) != 0 {
			t.Errorf("unknown messages were claimed again: %+v", got)
		}

		// Purge removes finished messages older than the cut, and nothing else.
		enqueueMore := func(m *verify.Message) {
			write(t, db, func(tx verify.Tx) error { return tx.EnqueueMessage(m) })
		}
		fresh := newMessage("m-fresh-pending", later)
		enqueueMore(fresh)
		newSent := newMessage("m-new-sent", later)
		newSent.CreatedAt = t0.Add(2 * time.Hour)
		enqueueMore(newSent)
		claimed, err := db.ClaimMessages(ctx, later, lease, 10)
		if err != nil {
			t.Fatal(err)
		}
		for i := range claimed {
			if claimed[i].ID == newSent.ID {
				newSent = &claimed[i]
			}
		}
		newSent.State = verify.MessageSent
		write(t, db, func(tx verify.Tx) error { return tx.FinishMessage(newSent) })
		write(t, db, func(tx verify.Tx) error {
			if err := tx.RecordSend([]byte("p"), nil, t0); err != nil {
				return err
			}
			if err := tx.RecordSend([]byte("p"), nil, t0.Add(2*time.Hour)); err != nil {
				return err
			}
			if err := tx.InsertIdempotency(&verify.Idempotency{Key: []byte("old"), Fingerprint: []byte("f"), VerificationID: "v1", CreatedAt: t0}); err != nil {
				return err
			}
			return tx.InsertIdempotency(&verify.Idempotency{Key: []byte("new"), Fingerprint: []byte("f"), VerificationID: "v1", CreatedAt: t0.Add(2 * time.Hour)})
		})
		if err := db.Purge(ctx, t0.Add(time.Hour)); err != nil {
			t.Fatalf("Purge: %v", err)
		}
		var left []string
		rows, err := db.query(ctx, `SELECT id FROM outbox ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			left = append(left, id)
		}
		if fmt.Sprint(left) != "[m-fresh-pending m-new-sent]" {
			t.Errorf("after Purge the outbox holds %v", left)
		}
		if n := count(t, db, "send_log"); n != 1 {
			t.Errorf("after Purge send_log has %d rows, want 1", n)
		}
		if n := count(t, db, "idempotency"); n != 1 {
			t.Errorf("after Purge idempotency has %d rows, want 1", n)
		}
	})
}

func TestOutboxRefusesUnknownVerification(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		m := newMessage("m1", t0)
		m.VerificationID = "nope"
		if err := db.Write(t.Context(), func(tx verify.Tx) error { return tx.EnqueueMessage(m) }); err == nil {
			t.Error("a message for a missing verification was enqueued")
		}
	})
}

// Two instances, each with several claimers, never claim the same message.
func TestClaimConcurrent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		const total = 300
		var ms []*verify.Message
		for i := range total {
			ms = append(ms, newMessage(fmt.Sprintf("m%03d", i), t0))
		}
		enqueue(t, db, ms...)
		instances := []*DB{db, reopen(t, db)}

		var (
			mu      sync.Mutex
			claimed = map[string]int{}
			wg      sync.WaitGroup
		)
		for i := range 8 {
			inst := instances[i%len(instances)]
			wg.Go(func() {
				for {
					got, err := inst.ClaimMessages(t.Context(), t0.Add(time.Minute), time.Minute, 7)
					if err != nil {
						t.Errorf("ClaimMessages: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, m := range got {
						claimed[m.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(claimed) != total {
			t.Errorf("%d messages claimed, want %d", len(claimed), total)
		}
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("%s claimed %d times", id, n)
			}
		}
	})
}
