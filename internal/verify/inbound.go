package verify

import (
	"context"
	"errors"
	"time"

	"github.com/ringfence/ringfence/internal/phone"
)

// ErrReplay is returned for an inbound message the service has already handled.
var ErrReplay = errors.New("inbound message already handled")

// Inbound handles a text a person sent to the service's number for an
// inbound_sms verification: the sender's number, matched through the blind
// index, and the code in the text approve it. providerID is the provider's
// message id; a repeat of it is refused with ErrReplay. It returns the
// approved verification, or ErrNotFound when the text approves nothing (each
// pending verification for the sender counts the attempt).
func (s *Service) Inbound(ctx context.Context, from, body, providerID string) (*Verification, error) {
	if providerID == "" || len(providerID) > 64 {
		return nil, ErrInvalidRequest
	}
	num, err := phone.Parse(from, "")
	if err != nil {
		return nil, ErrInvalidPhone
	}
	code := findCode(body, s.cfg.CodeLength)
	indexes := s.keys.BlindIndexes("phone", num.E164())
	var out *Verification
	err = s.store.Write(ctx, func(tx Tx) error {
		out = nil
		now := s.now().UTC().Truncate(time.Millisecond)
		fresh, err := tx.RecordInbound(providerID, now)
		if err != nil {
			return err
		}
		if !fresh {
			return ErrReplay
		}
		if code == "" {
			return nil
		}
		// Oldest index key first: re-encryption moves rows only to the
		// newest, so a row moved meanwhile is found by a later lookup.
		var vs []*Verification
		seen := make(map[string]bool)
		for i := len(indexes) - 1; i >= 0; i-- {
			more, err := tx.PendingByIndex(indexes[i], ChannelInboundSMS)
			if err != nil {
				return err
			}
			for _, v := range more {
				if !seen[v.ID] {
					seen[v.ID] = true
					vs = append(vs, v)
				}
			}
		}
		for _, v := range vs {
			if !now.Before(v.ExpiresAt) {
				if err := s.finish(tx, v, StatusExpired, "verification.expired", "", now); err != nil {
					return err
				}
				continue
			}
			v.Checks++
			v.UpdatedAt = now
			if v.Checks > s.cfg.MaxChecks {
				if err := s.finish(tx, v, StatusFailed, "verification.failed", "max_checks", now); err != nil {
					return err
				}
				continue
			}
			if out == nil && s.keys.CheckCode(v.CodeMAC, v.ID, code) {
				out = v
				if err := s.approve(tx, v, now); err != nil {
					return err
				}
				continue
			}
			if err := tx.UpdateVerification(v); err != nil {
				return err
			}
			if err := tx.AppendEvents(s.event(v, "verification.checked", "wrong_code", now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, ErrNotFound
	}
	s.converted(out)
	return out, nil
}

// findCode returns the first run of exactly n ASCII digits in a text.
func findCode(body string, n int) string {
	run := 0
	for i := 0; i <= len(body); i++ {
		if i < len(body) && body[i] >= '0' && body[i] <= '9' {
			run++
			continue
		}
		if run == n {
			return body[i-n : i]
		}
		run = 0
	}
	return ""
}
