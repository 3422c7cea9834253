package dialogue

import (
	"context"
	"errors"
	"time"
)

// How a call ended, in CallRecord.Ended.
const (
	EndCallerHangup = "caller_hangup" // the caller hung up
	EndQuota        = "quota"         // the allowance ran out mid-call: goodbye and hang-up
	EndNoMinutes    = "no_minutes"    // the caller had no minutes left
	EndUnavailable  = "unavailable"   // the caller or the allowance could not be looked up
	EndMediaTimeout = "media_timeout" // the caller's audio stopped
	EndShutdown     = "shutdown"      // the service stopped
	EndError        = "error"         // anything else
)

// CallRecord is what is kept of one call: who called by pseudonym or blind
// index only, never the number, and what the policy did.
type CallRecord struct {
	ID    string // random, the call's id in logs
	Trunk string // the trunk's name
	// CallerIndex is the blind index of the caller's number, nil when the
	// number was withheld or not a number.
	CallerIndex []byte
	// Pseudonym is the subject's pseudonym when the number is bound to
	// one, else "".
	Pseudonym string
	Start     time.Time     // when the call was answered
	Duration  time.Duration // from Start to the end
	Charged   time.Duration // talk time added to the caller's month
	// DisclosureHash is Fingerprint of the disclosure audio played first.
	DisclosureHash string
	Ended          string // one of the End constants
	Turns          int    // the caller's turns answered
	Emergency      bool   // the emergency tripwire tripped
}

// Validate reports a record that must not be kept: no id, no end, or a
// pseudonym that looks like a phone number.
func (r *CallRecord) Validate() error {
	switch {
	case r.ID == "":
		return errors.New("dialogue: call record without id")
	case r.Ended == "":
		return errors.New("dialogue: call record without its end")
	case r.Start.IsZero():
		return errors.New("dialogue: call record without start")
	case r.Pseudonym != "" && CheckOpaque(r.Pseudonym) != nil:
		return ErrNotOpaque
	}
	return nil
}

// Records keeps call records.
type Records interface {
	// SaveCall stores a call record; it refuses an invalid one.
	SaveCall(ctx context.Context, r *CallRecord) error
}
