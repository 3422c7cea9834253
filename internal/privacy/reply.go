package privacy

import (
	"context"
	"errors"
	"strings"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/phone"
)

// Keyword is an opt-out or opt-in word a person texts to the service.
type Keyword string

// The keywords Reply acts on.
const (
	KeywordNone  Keyword = ""
	KeywordStop  Keyword = "stop"
	KeywordStart Keyword = "start"
)

// ParseKeyword returns the keyword a text is, if the whole text (trimmed,
// any case, an ending full stop or exclamation mark ignored) is one of the
// carrier words: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT,
// REVOKE for stop; START, UNSTOP, YES for start. Anything longer is not a
// keyword, so a sentence that mentions "stop" changes nothing.
func ParseKeyword(body string) Keyword {
	w := strings.ToUpper(strings.TrimRight(strings.TrimSpace(body), ".!"))
	switch w {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE":
		return KeywordStop
	case "START", "UNSTOP", "YES":
		return KeywordStart
	}
	return KeywordNone
}

// Reply handles a text a person sent to the service's number. STOP
// withdraws every consent the sender's subject has granted on SMS; START
// grants again those that an earlier STOP withdrew. Each change is a ledger
// record with method sms_reply and the message as evidence. providerID is
// the provider's message id (such as "twilio:SM..."): a repeat of it
// changes nothing. A text that is no keyword, a sender with no account, or
// one with nothing to change writes nothing and is not an error; the
// caller answers every text alike. It returns the keyword and the changes.
func (s *Service) Reply(ctx context.Context, from, body, providerID string) (Keyword, []*Consent, error) {
	kw := ParseKeyword(body)
	if kw == KeywordNone {
		return kw, nil, nil
	}
	if providerID == "" || len(providerID) > 64 {
		return kw, nil, ErrInvalidRequest
	}
	num, err := phone.Parse(from, "")
	if err != nil {
		return kw, nil, nil
	}
	index := s.keys.BlindIndex("phone", num.E164())
	var out []*Consent
	err = s.write(ctx, func(tx Tx) error {
		out = nil
		now := s.clock()
		fresh, err := tx.RecordInbound("consent:"+providerID, now)
		if err != nil || !fresh {
			return err
		}
		b, err := tx.BindingByIndex(index)
		if errors.Is(err, identity.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if b.Released(now) {
			return nil
		}
		if err := tx.Lock([]byte("consent:" + b.SubjectID)); err != nil {
			return err
		}
		records, err := tx.ConsentsOf(b.SubjectID)
		if err != nil {
			return err
		}
		for _, st := range Current(records) {
			if st.Channel != ChannelSMS {
				continue
			}
			var action Action
			switch {
			case kw == KeywordStop && st.Granted:
				action = ActionWithdraw
			case kw == KeywordStart && !st.Granted && st.Latest.Method == MethodSMSReply:
				action = ActionGrant
			default:
				continue
			}
			c := &Consent{SubjectID: b.SubjectID, Purpose: st.Purpose, Channel: ChannelSMS, Action: action,
				Method: MethodSMSReply, Evidence: "sms:" + providerID, PhoneIndex: b.PhoneIndex, Actor: "sms", At: now}
			rec, err := s.record(tx, c, b.Masked)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return kw, nil, err
	}
	return kw, out, nil
}
