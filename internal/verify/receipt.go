package verify

import (
	"context"
	"errors"
	"time"
)

// Delivery states a provider's receipt may report, as every package under
// internal/sms normalises them.
const (
	// DeliveryDelivered: the handset has the message.
	DeliveryDelivered = "delivered"
	// DeliveryFailed: the message will not be delivered.
	DeliveryFailed = "failed"
)

// Receipt records a provider's delivery receipt for the message it knows by
// providerID. state is the provider package's normalised status: "delivered"
// and "failed" are final; any other ("submitted", "sent", "unknown") is
// progress and changes nothing. A failed receipt moves the message to the
// next step of the chain (same code, sent once more, the send still counted
// once) or, at the chain's end, fails it and gives the send back.
//
// It returns the outcome ("progress", "delivered", "failover", "failed" or
// "late" when the message had already moved on), ErrNotFound when no
// delivery has that id, and ErrReceiptDone when the delivery already has its
// final receipt (a replayed callback); in both error cases nothing changes.
// errCode is the provider's numeric error code and must hold nothing else.
func (d *Dispatcher) Receipt(ctx context.Context, provider, providerID, state, errCode string) (string, error) {
	receipt := ""
	switch state {
	case DeliveryDelivered:
		receipt = ReceiptDelivered
	case DeliveryFailed:
		receipt = ReceiptFailed
		if errCode == "" {
			errCode = "undelivered"
		}
	}
	if provider == "" || providerID == "" {
		return "", ErrNotFound
	}
	outcome, v, err := d.conclude(ctx, provider, providerID, receipt, errCode)
	if err != nil {
		return "", err
	}
	d.settled(v, provider, outcome)
	return outcome, nil
}

// overdueReceipts moves on every sent message whose receipt did not come in
// time, as if its provider had reported it failed. It handles at most a
// thousand a sweep; the next sweep takes the rest.
func (d *Dispatcher) overdueReceipts(ctx context.Context, now time.Time) {
	for range 10 {
		ms, err := d.svc.store.OverdueReceipts(ctx, now.UTC(), 100)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("overdue receipts", "err", err)
			}
			return
		}
		for _, m := range ms {
			outcome, v, err := d.conclude(ctx, m.Provider, m.ProviderID, ReceiptTimeout, "timeout")
			if errors.Is(err, ErrReceiptDone) || errors.Is(err, ErrNotFound) {
				// Its delivery is settled or gone: it awaits nothing more.
				err = d.stopAwaiting(ctx, m)
			}
			if err != nil {
				if ctx.Err() == nil {
					d.log.Error("receipt timeout", "message", m.ID, "err", err)
				}
				return
			}
			if v != nil {
				d.settled(v, m.Provider, outcome)
			}
		}
		if len(ms) < 100 {
			return
		}
	}
}

// stopAwaiting clears the receipt time of a message still sent as m was.
func (d *Dispatcher) stopAwaiting(ctx context.Context, m Message) error {
	return d.svc.store.Write(ctx, func(tx Tx) error {
		cur, err := tx.Message(m.ID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		cur.ReceiptDue = time.Time{}
		if err := tx.MoveMessage(cur, m.ProviderID); !errors.Is(err, ErrReceiptDone) {
			return err
		}
		return nil
	})
}

// conclude records a delivery's receipt (none, for progress) and settles its
// message, in one transaction.
func (d *Dispatcher) conclude(ctx context.Context, provider, providerID, receipt, errCode string) (string, *Verification, error) {
	var (
		outcome string
		v       *Verification
	)
	err := d.svc.store.Write(ctx, func(tx Tx) error {
		outcome, v = "", nil
		now := d.svc.now().UTC().Truncate(time.Millisecond)
		dl, err := tx.Delivery(provider, providerID)
		if err != nil {
			return err
		}
		if dl.Receipt != "" {
			return ErrReceiptDone
		}
		if receipt == "" {
			outcome = "progress"
			return nil
		}
		dl.Receipt, dl.ReceiptAt = receipt, now
		if receipt != ReceiptDelivered {
			dl.Error = errCode
		}
		if err := tx.SetReceipt(dl); err != nil {
			return err
		}
		m, err := tx.Message(dl.MessageID)
		if errors.Is(err, ErrNotFound) {
			outcome = "late"
			return nil
		}
		if err != nil {
			return err
		}
		if m.State != MessageSent || m.ProviderID != providerID {
			// A receipt for a handover the message has already moved on from
			// (its receipt timed out): recorded, nothing more.
			outcome = "late"
			return nil
		}
		if v, err = tx.Verification(m.VerificationID); err != nil {
			return err
		}
		outcome, err = d.settle(tx, m, v, receipt, errCode, now)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return outcome, v, nil
}

// settle moves a sent message on by its final receipt: delivered ends it,
// failed or timeout sends it to the next step or fails it.
func (d *Dispatcher) settle(tx Tx, m *Message, v *Verification, receipt, errCode string, now time.Time) (string, error) {
	prev := m.ProviderID
	var outcome, detail string
	switch {
	case receipt == ReceiptDelivered:
		m.ReceiptDue = time.Time{}
		outcome, detail = "delivered", m.Provider
	default:
		m.Error = errCode
		from := m.Provider + ":" + errCode
		if d.advance(m, v, now) {
			outcome, detail = "send_failover", from+">"+m.Provider
		} else {
			m.State, m.ReceiptDue = MessageFailed, time.Time{}
			outcome, detail = "send_failed", from
			if err := tx.UnrecordSend(v.PhoneIndex, m.CreatedAt); err != nil {
				return "", err
			}
		}
	}
	if err := tx.MoveMessage(m, prev); err != nil {
		return "", err
	}
	ev := d.svc.event(v, "verification."+outcome, detail, now)
	ev.Actor = "system"
	if err := tx.AppendEvents(ev); err != nil {
		return "", err
	}
	switch outcome {
	case "send_failover":
		return "failover", nil
	case "send_failed":
		return "failed", nil
	}
	return outcome, nil
}

// settled acts on a committed receipt: a failover wakes the dispatcher, a
// failed send is given back to the fraud guard.
func (d *Dispatcher) settled(v *Verification, provider, outcome string) {
	switch outcome {
	case "failover":
		d.svc.wake()
	case "failed":
		d.svc.refund(v)
	}
	if outcome != "progress" && outcome != "late" {
		d.observe(provider, outcome)
	}
}
