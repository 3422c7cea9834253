package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

// DispatchConfig tunes the outbox dispatcher.
type DispatchConfig struct {
	Workers     int           // concurrent sends (default 4)
	SendTimeout time.Duration // per send (default 10s)
	MaxAttempts int           // tries for temporary errors (default 3)
	Poll        time.Duration // how often to look for due messages without a wake-up (default 1s)
	AppName     string        // shown in the message
	WebOTP      string        // domain for "@domain #code", or ""
}

// Dispatcher sends queued messages through a Sender. A message is claimed
// under a lease, sent, then marked; a message in flight when an instance dies
// is sent again only if the sender's receiving end drops repeats
// (sms.Deduplicator), so no one gets a code twice.
type Dispatcher struct {
	svc    *Service
	sender sms.Sender
	cfg    DispatchConfig
	log    *slog.Logger
	// OnSend, when set, observes each send outcome ("sent", "retry", "failed", "dropped").
	OnSend func(provider, outcome string)
}

// NewDispatcher returns a Dispatcher for the service's outbox.
func NewDispatcher(svc *Service, sender sms.Sender, cfg DispatchConfig) *Dispatcher {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.AppName == "" {
		cfg.AppName = "ringfence"
	}
	return &Dispatcher{svc: svc, sender: sender, cfg: cfg, log: svc.log}
}

func (s *Service) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// lease is how long a claimed message may stay in flight before it counts as
// abandoned; well above the send timeout.
func (d *Dispatcher) lease() time.Duration { return 3*d.cfg.SendTimeout + 5*time.Second }

// Run sends messages until ctx ends, then waits for sends in flight.
func (d *Dispatcher) Run(ctx context.Context) error {
	retry := false
	if dd, ok := d.sender.(sms.Deduplicator); ok {
		retry = dd.Deduplicates()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, d.cfg.Workers)
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	lastSweep := time.Time{}
	for {
		now := d.svc.now()
		if now.Sub(lastSweep) >= 10*d.cfg.Poll {
			lastSweep = now
			d.sweep(ctx, now, retry)
		}
		for {
			free := d.cfg.Workers - len(sem)
			if free == 0 {
				break
			}
			msgs, err := d.svc.store.ClaimMessages(ctx, d.svc.now().UTC(), d.lease(), free)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Error("claim messages", "err", err)
				}
				break
			}
			for _, m := range msgs {
				sem <- struct{}{}
				wg.Add(1)
				go func(m Message) {
					defer func() { <-sem; wg.Done(); d.svc.wake() }()
					d.deliver(context.WithoutCancel(ctx), m)
				}(m)
			}
			if len(msgs) < free {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.svc.notify:
		case <-tick.C:
		}
	}
}

// sweep releases abandoned messages, expires stale verifications and purges old rows.
func (d *Dispatcher) sweep(ctx context.Context, now time.Time, retry bool) {
	if n, err := d.svc.store.ReleaseStale(ctx, now.UTC(), retry); err != nil {
		if ctx.Err() == nil {
			d.log.Error("release stale messages", "err", err)
		}
	} else if n > 0 {
		d.log.Warn("messages abandoned in flight", "count", n, "resent", retry)
	}
	d.svc.forgetStale(now)
	if err := d.svc.ExpireStale(ctx); err != nil && ctx.Err() == nil {
		d.log.Error("expire verifications", "err", err)
	}
	if err := d.svc.store.Purge(ctx, now.UTC().Add(-48*time.Hour)); err != nil && ctx.Err() == nil {
		d.log.Error("purge", "err", err)
	}
}

// ExpireStale marks pending verifications past their expiry as expired and
// drops their sealed codes, in batches.
func (s *Service) ExpireStale(ctx context.Context) error {
	for {
		n := 0
		err := s.store.Write(ctx, func(tx Tx) error {
			now := s.now().UTC().Truncate(time.Millisecond)
			vs, err := tx.ExpiredPending(now, 100)
			if err != nil {
				return err
			}
			n = len(vs)
			for _, v := range vs {
				if err := s.finish(tx, v, StatusExpired, "verification.expired", "", now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || n < 100 {
			return err
		}
	}
}

// Body returns the text of a code message.
func (d *Dispatcher) Body(code string) string {
	b := fmt.Sprintf("Your %s verification code is %s. Do not share it with anyone.", d.cfg.AppName, code)
	if d.cfg.WebOTP != "" {
		b += "\n\n@" + d.cfg.WebOTP + " #" + code
	}
	return b
}

func (d *Dispatcher) deliver(ctx context.Context, m Message) {
	outcome, err := d.send(ctx, &m)
	if err != nil {
		d.log.Error("deliver message", "message", m.ID, "verification", m.VerificationID, "err", err)
	}
	if d.OnSend != nil && outcome != "" {
		d.OnSend(d.sender.Name(), outcome)
	}
}

func (d *Dispatcher) send(ctx context.Context, m *Message) (string, error) {
	v, err := d.svc.store.Verification(ctx, m.VerificationID)
	if err != nil {
		return "", fmt.Errorf("load verification: %w", err)
	}
	now := d.svc.now().UTC()
	m.Attempts++
	if v.Status != StatusPending || !now.Before(v.ExpiresAt) || v.CodeSealed == nil {
		m.State = MessageDropped
		return "dropped", d.finish(ctx, m, v, "", now)
	}
	keys := d.svc.keys
	to, err := keys.Open(v.PhoneSealed, []byte("phone:"+v.ID))
	if err != nil {
		return "", fmt.Errorf("open number: %w", err)
	}
	code, err := keys.Open(v.CodeSealed, []byte("code:"+v.ID))
	if err != nil {
		return "", fmt.Errorf("open code: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	res, sendErr := d.sender.Send(sctx, sms.Message{ID: m.ID, To: string(to), Channel: sms.Channel(m.Channel), Body: d.Body(string(code))})
	cancel()
	now = d.svc.now().UTC()
	if sendErr == nil {
		m.State = MessageSent
		m.ProviderID = res.ProviderID
		return "sent", d.finish(ctx, m, v, "sent", now)
	}
	var pe *sms.Error
	temporary := true
	m.Error = "network"
	if errors.As(sendErr, &pe) {
		temporary = pe.Temporary
		m.Error = pe.Code
	}
	if temporary && m.Attempts < d.cfg.MaxAttempts {
		m.State = MessagePending
		m.DueAt = now.Add(time.Duration(m.Attempts*m.Attempts) * time.Second)
		return "retry", d.finish(ctx, m, v, "", now)
	}
	m.State = MessageFailed
	if err := d.finish(ctx, m, v, "send_failed", now); err != nil {
		return "failed", err
	}
	// A refused send costs nothing: it counts neither against the person's
	// limits nor in the fraud guard.
	d.svc.refund(v)
	return "failed", d.svc.store.Write(ctx, func(tx Tx) error { return tx.UnrecordSend(v.PhoneIndex, m.CreatedAt) })
}

// finish records a message's outcome, and an audit event when there is one.
func (d *Dispatcher) finish(ctx context.Context, m *Message, v *Verification, outcome string, now time.Time) error {
	return d.svc.store.Write(ctx, func(tx Tx) error {
		if err := tx.FinishMessage(m); err != nil {
			return err
		}
		if outcome == "" {
			return nil
		}
		detail := d.sender.Name()
		if m.Error != "" {
			detail += ":" + m.Error
		}
		ev := d.svc.event(v, "verification."+outcome, detail, now.Truncate(time.Millisecond))
		ev.Actor = "system"
		return tx.AppendEvents(ev)
	})
}
