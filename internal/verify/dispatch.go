package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
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
	// Chain is the delivery chain: a message starts at the first step for its
	// channel and country, and moves to the next step serving its country when
	// a send fails, a receipt says it failed, or no receipt came within
	// ReceiptTimeout. Empty means one step: the sender given to NewDispatcher,
	// on every channel, for every country.
	Chain []Step
	// ReceiptTimeout is how long a message sent through a step with receipts
	// awaits one before it moves on (default 2m).
	ReceiptTimeout time.Duration
}

// Dispatcher sends queued messages through a Sender. A message is claimed
// under a lease, sent, then marked; a message in flight when an instance dies
// is sent again only if the sender's receiving end drops repeats
// (sms.Deduplicator), so no one gets a code twice.
type Dispatcher struct {
	svc   *Service
	chain []Step
	cfg   DispatchConfig
	log   *slog.Logger
	// OnSend, when set, observes each send outcome ("sent", "retry",
	// "failover", "failed", "dropped") and receipt ("delivered", and
	// "failover" or "failed" again).
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
	if cfg.ReceiptTimeout <= 0 {
		cfg.ReceiptTimeout = 2 * time.Minute
	}
	chain := cfg.Chain
	if len(chain) == 0 {
		chain = []Step{{Sender: sender}}
	}
	return &Dispatcher{svc: svc, chain: chain, cfg: cfg, log: svc.log}
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
	// A message abandoned in flight may go again only when every provider
	// it could have gone to drops repeats.
	retry := d.svc.provider == nil // a provider's send cannot be told apart from a repeat
	for _, st := range d.chain {
		dd, ok := st.Sender.(sms.Deduplicator)
		retry = retry && ok && dd.Deduplicates()
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
	d.overdueReceipts(ctx, now)
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
	d.observe(m.Provider, outcome)
}

func (d *Dispatcher) observe(provider, outcome string) {
	if d.OnSend != nil && outcome != "" {
		if provider == "" {
			provider = "none"
		}
		d.OnSend(provider, outcome)
	}
}

func (d *Dispatcher) send(ctx context.Context, m *Message) (string, error) {
	v, err := d.svc.store.Verification(ctx, m.VerificationID)
	if err != nil {
		return "", fmt.Errorf("load verification: %w", err)
	}
	now := d.svc.now().UTC()
	m.Attempts++
	if v.Status != StatusPending || !now.Before(v.ExpiresAt) || (v.CodeSealed == nil && v.Provider == "") {
		m.State = MessageDropped
		return "dropped", d.finish(ctx, m, v, "", "", nil, now)
	}
	if v.Provider != "" && d.svc.provider != nil {
		return d.sendProvider(ctx, m, v)
	}
	if m.Provider == "" {
		step, ok := d.firstStep(m.Channel, v.Country)
		if !ok {
			m.Error = "no_route"
			return d.giveUp(ctx, m, v, "none:no_route", now)
		}
		d.route(m, step)
	}
	st := d.chain[m.Step]
	keys := d.svc.keys
	to, err := keys.Open(v.PhoneSealed, []byte("phone:"+v.ID))
	if err != nil {
		return "", fmt.Errorf("open number: %w", err)
	}
	code, err := keys.Open(v.CodeSealed, []byte("code:"+v.ID))
	if err != nil {
		return "", fmt.Errorf("open code: %w", err)
	}
	// Each step is a new message to its provider: a gateway that drops
	// repeats of an id must not drop the failover.
	id := m.ID
	if m.Step > 0 {
		id += "." + strconv.Itoa(m.Step)
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	res, sendErr := st.Sender.Send(sctx, sms.Message{ID: id, To: string(to), Channel: sms.Channel(m.Channel), Body: d.Body(string(code))})
	cancel()
	now = d.svc.now().UTC()
	if sendErr == nil {
		m.State = MessageSent
		m.ProviderID = res.ProviderID
		m.Error = ""
		var dl *Delivery
		if res.ProviderID != "" {
			dl = &Delivery{Provider: m.Provider, ProviderID: res.ProviderID, MessageID: m.ID, Step: m.Step, SentAt: now.Truncate(time.Millisecond)}
			if st.Receipts {
				m.ReceiptDue = now.Add(d.cfg.ReceiptTimeout)
			}
		}
		return "sent", d.finish(ctx, m, v, "sent", m.Provider, dl, now)
	}
	var pe *sms.Error
	temporary := true
	m.Error = sms.CodeNetwork
	if errors.As(sendErr, &pe) {
		temporary = pe.Temporary
		m.Error = pe.Code
	}
	if temporary && m.Attempts < d.cfg.MaxAttempts {
		m.State = MessagePending
		m.DueAt = now.Add(time.Duration(m.Attempts*m.Attempts) * time.Second)
		return "retry", d.finish(ctx, m, v, "", "", nil, now)
	}
	if !unsent(sendErr) {
		// The request may have reached the provider and its answer got lost:
		// the message may be delivered and paid for. Another provider would
		// charge a second time, so it stops here, still counted; the person
		// can ask for a resend.
		m.State = MessageUnknown
		return "unknown", d.finish(ctx, m, v, "send_unknown", m.Provider+":"+m.Error, nil, now)
	}
	return d.fail(ctx, m, v, now)
}

// unsent reports whether a send error means the provider certainly did not
// take the message: it answered with a refusal, the message was refused
// before any request, or the connection was never made (a dial error).
func unsent(err error) bool {
	var pe *sms.Error
	if !errors.As(err, &pe) {
		return false // the context ended: the outcome is unknown
	}
	switch pe.Code {
	case sms.CodeNetwork:
		var op *net.OpError
		return errors.As(pe.Err, &op) && op.Op == "dial"
	case sms.CodeBadResponse:
		return pe.Status >= 400 // a 2xx whose body was unreadable may have been accepted
	}
	return true // the provider's own refusal code, or refused before any request
}

// route puts m on a step of the chain.
func (d *Dispatcher) route(m *Message, step int) {
	st := d.chain[step]
	m.Step, m.Channel, m.Provider = step, st.channel(m.Channel), st.Sender.Name()
}

// advance moves m to the next step serving v's country, if v still waits
// for its code and there is one. The code stays sealed in the verification,
// so the next provider sends the same code.
func (d *Dispatcher) advance(m *Message, v *Verification, now time.Time) bool {
	if v.Status != StatusPending || !now.Before(v.ExpiresAt) || v.CodeSealed == nil {
		return false
	}
	next, ok := d.nextStep(m.Step, v.Country)
	if !ok {
		return false
	}
	d.route(m, next)
	m.State, m.Attempts, m.ProviderID, m.DueAt, m.ReceiptDue = MessagePending, 0, "", now, time.Time{}
	return true
}

// fail handles a send the provider refused for good: the message moves to
// the next step, or, at the end of the chain, fails. Either way it is paid
// for once: the send record stays for the next step and goes when the chain
// is exhausted, so a failed send never counts against the person's limits.
func (d *Dispatcher) fail(ctx context.Context, m *Message, v *Verification, now time.Time) (string, error) {
	from := m.Provider + ":" + m.Error
	if d.advance(m, v, now) {
		return "failover", d.finish(ctx, m, v, "send_failover", from+">"+m.Provider, nil, now)
	}
	return d.giveUp(ctx, m, v, from, now)
}

// giveUp fails a message for good and gives its send back.
func (d *Dispatcher) giveUp(ctx context.Context, m *Message, v *Verification, from string, now time.Time) (string, error) {
	m.State = MessageFailed
	if err := d.finish(ctx, m, v, "send_failed", from, nil, now); err != nil {
		return "failed", err
	}
	// A refused send costs nothing: it counts neither against the person's
	// limits nor in the fraud guard.
	d.svc.refund(v)
	return "failed", nil
}

// finish records a message's outcome under its lease, the delivery it
// started if any, and an audit event when there is one. A failed message
// no longer counts against the person's send limits.
func (d *Dispatcher) finish(ctx context.Context, m *Message, v *Verification, outcome, detail string, dl *Delivery, now time.Time) error {
	return d.svc.store.Write(ctx, func(tx Tx) error {
		if err := tx.FinishMessage(m); err != nil {
			return err
		}
		if dl != nil {
			if err := tx.InsertDelivery(dl); err != nil {
				return err
			}
		}
		if m.State == MessageFailed {
			if err := tx.UnrecordSend(v.PhoneIndex, m.CreatedAt); err != nil {
				return err
			}
		}
		if outcome == "" {
			return nil
		}
		ev := d.svc.event(v, "verification."+outcome, detail, now.Truncate(time.Millisecond))
		ev.Actor = "system"
		return tx.AppendEvents(ev)
	})
}
