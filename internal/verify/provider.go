package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
	"github.com/ringfence/ringfence/internal/vault"
)

// Provider makes, sends and checks codes itself (Twilio Verify, Vonage Verify
// v2). With one set (Service.SetProvider), ringfence makes no code: Start
// still applies every check and limit and queues the send in the outbox, the
// dispatcher asks the provider to send, and Check counts the attempt before
// it asks the provider; an approval goes through the same path as a local one.
//
// Its errors are *sms.Error (Temporary says whether asking again may help) or
// wrap the context's error.
type Provider interface {
	// Name names the provider in audit events and metrics.
	Name() string
	// SendCode asks the provider to send a code to the E.164 number to on channel
	// ("sms", "call", "whatsapp"). ref is "" for the first send, else the id
	// the previous send returned, and the provider sends again for it. It
	// returns the provider's id for the verification, which may differ from ref.
	SendCode(ctx context.Context, to, channel, ref string) (string, error)
	// CheckCode asks the provider about code for ref. It returns
	// sms.CheckApproved, sms.CheckWrong (the verification stays open),
	// sms.CheckExpired or sms.CheckFailed (the provider closed it: expired,
	// or out of attempts).
	CheckCode(ctx context.Context, ref, code string) (string, error)
	// Cancel ends ref at the provider, where its API allows.
	Cancel(ctx context.Context, ref string) error
}

// ProviderError is returned when the provider could not answer a check:
// Temporary says a later try may succeed. Code is the provider's error code,
// never its text.
type ProviderError struct {
	Provider  string
	Code      string
	Temporary bool
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("provider %s: %s (temporary %t)", e.Provider, e.Code, e.Temporary)
}

// SetProvider makes p make, send and check every code. Call it before serving.
func (s *Service) SetProvider(p Provider) { s.provider = p }

// providerError turns an error of a Provider into a *ProviderError.
func providerError(name string, err error) *ProviderError {
	pe := &ProviderError{Provider: name, Code: sms.CodeNetwork, Temporary: true}
	var se *sms.Error
	if errors.As(err, &se) {
		pe.Code, pe.Temporary = se.Code, se.Temporary
	}
	return pe
}

// providerCode is the code of a provider's error, for audit details.
func providerCode(err error) string {
	var se *sms.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return sms.CodeNetwork
}

// checkProvider checks code with the provider. The attempt is counted in one
// transaction first (beyond MaxChecks the verification fails without asking);
// the provider is asked outside any transaction; its answer is applied in a
// second one, to a verification that must still be pending, so an approval
// runs exactly once and through the same path as a local one.
func (s *Service) checkProvider(ctx context.Context, id, code, actor string) (*Verification, error) {
	var (
		out *Verification
		ask bool
	)
	err := s.store.Write(ctx, func(tx Tx) error {
		out, ask = nil, false
		v, now, compare, err := s.countCheck(tx, id)
		out = v
		if !compare {
			return err
		}
		if err := tx.UpdateVerification(v); err != nil {
			return err
		}
		if v.ProviderRef != "" {
			ask = true
			return nil
		}
		// No code has gone out yet: no code can be right.
		ev := s.event(v, "verification.checked", "wrong_code", now)
		ev.Actor = actor
		return tx.AppendEvents(ev)
	})
	if err != nil {
		if errors.Is(err, ErrClosed) && out != nil {
			return out, ErrClosed
		}
		return nil, err
	}
	if !ask {
		return out, nil
	}

	asked := time.Now()
	result, perr := s.provider.CheckCode(ctx, out.ProviderRef, code)
	s.noteLatency(time.Since(asked))
	var failure *ProviderError
	err = s.store.Write(ctx, func(tx Tx) error {
		failure = nil
		v, err := tx.Verification(id)
		if err != nil {
			return err
		}
		out = v
		now := s.now().UTC().Truncate(time.Millisecond)
		if v.Status != StatusPending {
			return ErrClosed // decided meanwhile by a concurrent check, a cancel or the expiry sweep
		}
		if perr != nil {
			failure = providerError(s.provider.Name(), perr)
			ev := s.event(v, "verification.check_failed", s.provider.Name()+":"+failure.Code, now)
			ev.Actor = actor
			return tx.AppendEvents(ev)
		}
		switch result {
		case sms.CheckApproved:
			return s.approve(tx, v, now)
		case sms.CheckExpired:
			return s.finish(tx, v, StatusExpired, "verification.expired", s.provider.Name()+":expired", now)
		case sms.CheckFailed:
			return s.finish(tx, v, StatusFailed, "verification.failed", s.provider.Name()+":max_attempts", now)
		}
		ev := s.event(v, "verification.checked", "wrong_code", now)
		ev.Actor = actor
		return tx.AppendEvents(ev)
	})
	switch {
	case errors.Is(err, ErrClosed) && out != nil:
		return out, ErrClosed
	case err != nil:
		return nil, err
	case failure != nil:
		return nil, failure
	}
	if out.Status == StatusApproved {
		s.converted(out)
	}
	return out, nil
}

// noteLatency folds the time a provider check took into the moving average.
func (s *Service) noteLatency(d time.Duration) {
	for {
		old := s.checkLatency.Load()
		avg := int64(d)
		if old > 0 {
			avg = old - old/8 + int64(d)/8
		}
		if s.checkLatency.CompareAndSwap(old, avg) {
			return
		}
	}
}

// pace waits until a check started at start took as long as a provider
// check takes on average, or ctx ends.
func (s *Service) pace(ctx context.Context, start time.Time) {
	wait := time.Duration(s.checkLatency.Load()) - time.Since(start)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// cancelAtProvider ends v at its provider after it was canceled here. A
// failure is logged and changes nothing: the verification is closed here,
// so no code the provider still holds can approve it.
func (s *Service) cancelAtProvider(ctx context.Context, v *Verification) {
	if s.provider == nil || v.Provider == "" || v.ProviderRef == "" {
		return
	}
	if err := s.provider.Cancel(ctx, v.ProviderRef); err != nil {
		s.log.Warn("cancel at provider", "verification", v.ID, "provider", v.Provider, "code", providerCode(err))
	}
}

// sendProvider asks the provider to send (or send again) v's code, and keeps
// the provider's id with the verification. Errors are handled as for any
// send: temporary ones retry with backoff, a refusal fails the message and
// gives the send back, a lost answer leaves it unknown, still counted.
func (d *Dispatcher) sendProvider(ctx context.Context, m *Message, v *Verification) (string, error) {
	p := d.svc.provider
	m.Provider = p.Name()
	to, err := d.svc.keys.Open(v.PhoneSealed, []byte("phone:"+v.ID))
	if err != nil {
		return "", fmt.Errorf("open number: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	ref, sendErr := p.SendCode(sctx, string(to), string(m.Channel), v.ProviderRef)
	cancel()
	now := d.svc.now().UTC()
	if sendErr == nil {
		m.State, m.ProviderID, m.Error = MessageSent, ref, ""
		err := d.svc.store.Write(ctx, func(tx Tx) error {
			if err := tx.FinishMessage(m); err != nil {
				return err
			}
			cur, err := tx.Verification(v.ID)
			if err != nil {
				return err
			}
			if cur.ProviderRef != ref {
				cur.ProviderRef = ref
				if err := tx.UpdateVerification(cur); err != nil {
					return err
				}
			}
			ev := d.svc.event(cur, "verification.sent", m.Provider, now.Truncate(time.Millisecond))
			ev.Actor = "system"
			return tx.AppendEvents(ev)
		})
		return "sent", err
	}
	m.Error = providerCode(sendErr)
	var se *sms.Error
	if (!errors.As(sendErr, &se) || se.Temporary) && m.Attempts < d.cfg.MaxAttempts {
		m.State = MessagePending
		m.DueAt = now.Add(time.Duration(m.Attempts*m.Attempts) * time.Second)
		return "retry", d.finish(ctx, m, v, "", "", nil, now)
	}
	if !unsent(sendErr) {
		m.State = MessageUnknown
		return "unknown", d.finish(ctx, m, v, "send_unknown", m.Provider+":"+m.Error, nil, now)
	}
	return d.giveUp(ctx, m, v, m.Provider+":"+m.Error, now)
}

// providerCodeMAC is the code MAC of a verification whose code the provider
// makes: of a random value no code can equal, so a local comparison never
// approves it.
func (s *Service) providerCodeMAC(id string) []byte {
	return s.keys.CodeMAC(id, vault.NewID("provider"))
}
