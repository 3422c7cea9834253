package store

import (
	"errors"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// A message is sent, its delivery recorded, its receipt set once, and it
// moves to the next step only while it is still sent under the same id.
func TestDeliveries(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		now := t0.Add(time.Minute)
		enqueue(t, db, newMessage("m1", now))
		ms, err := db.ClaimMessages(ctx, now, 30*time.Second, 1)
		if err != nil || len(ms) != 1 {
			t.Fatalf("claim: %v %v", ms, err)
		}
		m := ms[0]
		m.State, m.Provider, m.ProviderID, m.Step = verify.MessageSent, "twilio", "SM1", 0
		m.ReceiptDue = now.Add(2 * time.Minute)
		d := &verify.Delivery{Provider: "twilio", ProviderID: "SM1", MessageID: "m1", SentAt: now}
		write(t, db, func(tx verify.Tx) error {
			if err := tx.FinishMessage(&m); err != nil {
				return err
			}
			return tx.InsertDelivery(d)
		})
		if got := message(t, db, "m1"); got.Provider != "twilio" || got.ProviderID != "SM1" || !got.ReceiptDue.Equal(m.ReceiptDue) {
			t.Fatalf("sent message %+v", got)
		}

		// Not overdue yet, then overdue.
		if due, err := db.OverdueReceipts(ctx, now.Add(time.Minute), 10); err != nil || len(due) != 0 {
			t.Fatalf("overdue early: %v %v", due, err)
		}
		if due, err := db.OverdueReceipts(ctx, now.Add(2*time.Minute), 10); err != nil || len(due) != 1 || due[0].ID != "m1" {
			t.Fatalf("overdue: %v %v", due, err)
		}

		// Unknown ids are not found.
		write(t, db, func(tx verify.Tx) error {
			if _, err := tx.Delivery("twilio", "SM2"); !errors.Is(err, verify.ErrNotFound) {
				t.Errorf("unknown id: %v", err)
			}
			if _, err := tx.Delivery("vonage", "SM1"); !errors.Is(err, verify.ErrNotFound) {
				t.Errorf("another provider's id: %v", err)
			}
			if _, err := tx.Message("m9"); !errors.Is(err, verify.ErrNotFound) {
				t.Errorf("unknown message: %v", err)
			}
			return nil
		})

		// The receipt is set once; the message moves to step 1 once.
		write(t, db, func(tx verify.Tx) error {
			got, err := tx.Delivery("twilio", "SM1")
			if err != nil {
				return err
			}
			if got.MessageID != "m1" || got.Receipt != "" || !got.SentAt.Equal(now) {
				t.Errorf("delivery %+v", got)
			}
			got.Receipt, got.Error, got.ReceiptAt = verify.ReceiptFailed, "30003", now.Add(time.Minute)
			if err := tx.SetReceipt(got); err != nil {
				return err
			}
			if err := tx.SetReceipt(got); !errors.Is(err, verify.ErrReceiptDone) {
				t.Errorf("second receipt: %v", err)
			}
			msg, err := tx.Message("m1")
			if err != nil {
				return err
			}
			msg.State, msg.Step, msg.Provider, msg.ProviderID, msg.Attempts = verify.MessagePending, 1, "vonage", "", 0
			msg.Channel, msg.DueAt, msg.ReceiptDue = verify.ChannelCall, now.Add(time.Minute), time.Time{}
			if err := tx.MoveMessage(msg, "SM1"); err != nil {
				return err
			}
			if err := tx.MoveMessage(msg, "SM1"); !errors.Is(err, verify.ErrReceiptDone) {
				t.Errorf("second move: %v", err)
			}
			return nil
		})
		got := message(t, db, "m1")
		if got.State != verify.MessagePending || got.Step != 1 || got.Provider != "vonage" || got.ProviderID != "" || got.Channel != verify.ChannelCall || !got.ReceiptDue.IsZero() {
			t.Fatalf("moved message %+v", got)
		}
		if due, err := db.OverdueReceipts(ctx, now.Add(time.Hour), 10); err != nil || len(due) != 0 {
			t.Fatalf("overdue after the move: %v %v", due, err)
		}
		// The next step claims it again.
		if ms, err := db.ClaimMessages(ctx, now.Add(time.Minute), 30*time.Second, 1); err != nil || len(ms) != 1 || ms[0].Step != 1 {
			t.Fatalf("claim after the move: %v %v", ms, err)
		}
		// Purge forgets old deliveries.
		if err := db.Purge(ctx, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "deliveries"); n != 0 {
			t.Errorf("%d deliveries after purge", n)
		}
	})
}
