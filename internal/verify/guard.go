package verify

import (
	"context"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ringfence/ringfence/internal/fraud"
	"github.com/ringfence/ringfence/internal/phone"
	"github.com/ringfence/ringfence/internal/vault"
)

// guarded remembers what the fraud guard allowed for a verification's
// latest send, so a send the provider refuses can be given back.
type guarded struct {
	req fraud.Request
	dec fraud.Decision
}

// guardState is the service's link to the fraud guard.
type guardState struct {
	g    *fraud.Guard
	mu   sync.Mutex
	sent map[string]guarded // by verification id, while pending
	// prefixes labels prefix keys for operators: the prefix itself (a
	// range of numbers, not a number).
	prefixes map[string]string
}

// SetGuard makes every paid send ask the fraud guard first. Call it before serving.
func (s *Service) SetGuard(g *fraud.Guard) {
	s.guard = &guardState{g: g, sent: map[string]guarded{}, prefixes: map[string]string{}}
}

// Guard returns the fraud guard, or nil.
func (s *Service) Guard() *fraud.Guard {
	if s.guard == nil {
		return nil
	}
	return s.guard.g
}

func key(b []byte) string { return hex.EncodeToString(b) }

// guardRequest describes a send of v for the guard: opaque keys only.
func guardRequest(v *Verification, pow string, now time.Time) fraud.Request {
	return fraud.Request{
		Number: key(v.PhoneIndex), Prefix: key(v.PrefixIndex), IP: key(v.IPIndex), Subject: v.SubjectID,
		Country: v.Country, Type: phone.Type(v.LineType), Channel: string(v.Channel), PoWSolution: pow, Now: now,
	}
}

// admit asks the guard about a paid send of v. A refusal is a
// *BlockedError and is recorded in the audit log. An allowed send comes
// back as a record to keep (keep) or to give back if it is not made (undo).
func (s *Service) admit(ctx context.Context, v *Verification, pow string, now time.Time) (*guarded, error) {
	if s.guard == nil {
		return nil, nil
	}
	req := guardRequest(v, pow, now)
	d := s.guard.g.Check(req)
	if !d.Allow {
		if s.OnRefusal != nil {
			for _, r := range d.Reasons {
				s.OnRefusal(r)
			}
		}
		ev := s.event(v, "fraud.refused", strings.Join(d.Reasons, ","), now)
		if werr := s.store.Write(ctx, func(tx Tx) error { return tx.AppendEvents(ev) }); werr != nil {
			s.log.Error("record fraud refusal", "err", werr)
		}
		return nil, &BlockedError{Reasons: d.Reasons, Challenge: d.Challenge}
	}
	return &guarded{req: req, dec: d}, nil
}

// undo gives back a send the guard allowed but that was not made.
func (s *Service) undo(gd *guarded) {
	if gd != nil {
		s.guard.g.Failed(gd.req, gd.dec)
	}
}

// keep remembers the guard's decision for v's latest send.
func (s *Service) keep(v *Verification, gd *guarded) {
	if gd == nil {
		return
	}
	s.guard.mu.Lock()
	s.guard.sent[v.ID] = *gd
	s.guard.mu.Unlock()
}

// refund gives back the latest send of a verification the provider refused.
func (s *Service) refund(v *Verification) {
	if s.guard == nil {
		return
	}
	s.guard.mu.Lock()
	gd, ok := s.guard.sent[v.ID]
	delete(s.guard.sent, v.ID)
	s.guard.mu.Unlock()
	if ok {
		s.guard.g.Failed(gd.req, gd.dec)
	}
}

// converted tells the guard a code was approved, and forgets the send.
func (s *Service) converted(v *Verification) {
	if s.guard == nil {
		return
	}
	s.guard.mu.Lock()
	delete(s.guard.sent, v.ID)
	s.guard.mu.Unlock()
	s.guard.g.Approved(key(v.PhoneIndex), key(v.PrefixIndex), v.Country, v.ApprovedAt)
}

// forgetStale drops decisions of verifications past their lifetime.
func (s *Service) forgetStale(now time.Time) {
	if s.guard == nil {
		return
	}
	cut := now.Add(-2 * s.cfg.Lifetime)
	s.guard.mu.Lock()
	for id, gd := range s.guard.sent {
		if gd.req.Now.Before(cut) {
			delete(s.guard.sent, id)
		}
	}
	s.guard.mu.Unlock()
}

// GuardKey turns what an operator types into the guard's key of a kind: a
// number or IP becomes its keyed index, a prefix ("+1900555") its keyed
// index, a country its upper-case code, a subject its id. label is what
// may be shown for the entry (a masked number, the prefix, the code).
func (s *Service) GuardKey(kind fraud.Kind, value string) (k, label string, err error) {
	value = strings.TrimSpace(value)
	switch kind {
	case fraud.KindNumber:
		n, err := phone.Parse(value, s.cfg.DefaultCountry)
		if err != nil {
			return "", "", ErrInvalidPhone
		}
		return key(s.keys.BlindIndex("phone", n.E164())), n.Mask(), nil
	case fraud.KindPrefix:
		if len(value) < 3 || len(value) > 16 || value[0] != '+' || strings.Trim(value[1:], "0123456789") != "" {
			return "", "", ErrInvalidRequest
		}
		return key(s.keys.BlindIndex("prefix", value)), value, nil
	case fraud.KindCountry:
		cc := strings.ToUpper(value)
		if !validRegion(cc) {
			return "", "", ErrInvalidRequest
		}
		return cc, cc, nil
	case fraud.KindIP:
		addr, err := netip.ParseAddr(value)
		if err != nil || addr.Zone() != "" {
			return "", "", ErrInvalidRequest
		}
		return key(s.keys.BlindIndex("ip", addr.Unmap().String())), addr.Unmap().String(), nil
	case fraud.KindSubject:
		if !vault.ValidID("sub", value) {
			return "", "", ErrInvalidRequest
		}
		return value, value, nil
	}
	return "", "", ErrInvalidRequest
}

// PrefixLabel returns the prefix whose guard key is k, if a send to it was
// seen since the start (breakers are keyed by opaque prefix keys).
func (s *Service) PrefixLabel(k string) string {
	if s.guard == nil {
		return ""
	}
	s.guard.mu.Lock()
	defer s.guard.mu.Unlock()
	return s.guard.prefixes[k]
}

// notePrefix remembers the label of a prefix key, in a bounded map.
func (s *Service) notePrefix(k, prefix string) {
	s.guard.mu.Lock()
	defer s.guard.mu.Unlock()
	if _, ok := s.guard.prefixes[k]; ok {
		return
	}
	if len(s.guard.prefixes) >= 100_000 {
		clear(s.guard.prefixes)
	}
	s.guard.prefixes[k] = prefix
}
