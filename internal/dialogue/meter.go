package dialogue

import "time"

// Kinds of Utterance, as call records and metrics name them.
const (
	KindDisclosure = "disclosure"
	KindNoMinutes  = "no_minutes"
	KindWarning    = "warning"
	KindGoodbye    = "goodbye"
	KindEmergency  = "emergency"
	KindRefusal    = "refusal"
	KindAnswer     = "answer"
	KindError      = "error"
)

// Utterance is something the assistant says that the policy decided, not
// the model: the disclosure, the quota messages, the emergency message and
// refusals.
type Utterance struct {
	Kind string
	Text string
	// Interruptible is false for what the caller must hear whole: the
	// disclosure, the quota messages and the emergency message. Barge-in
	// does not cut them.
	Interruptible bool
	// Hangup ends the call once the utterance is said.
	Hangup bool
}

// Opening returns what a call says first, before any turn: the disclosure,
// never interruptible, and, for a caller with no time left this month,
// the NoMinutesMessage followed by the end of the call.
func (c *Conversation) Opening(left time.Duration) []Utterance {
	out := []Utterance{{Kind: KindDisclosure, Text: c.p.cfg.Disclosure}}
	if left <= 0 {
		out = append(out, Utterance{Kind: KindNoMinutes, Text: c.p.cfg.NoMinutesMessage, Hangup: true})
	}
	return out
}

// Utterance returns the Utterance of a Decision of Hear or Digit: the emergency
// message, not interruptible, or the refusal. It reports false for Answer
// and Wait, which say nothing fixed.
func (d Decision) Utterance() (Utterance, bool) {
	switch d.Action {
	case Emergency:
		return Utterance{Kind: KindEmergency, Text: d.Say}, true
	case Refuse:
		return Utterance{Kind: KindRefusal, Text: d.Say, Interruptible: true}, true
	}
	return Utterance{}, false
}

// Meter counts one call's talk time against what the caller had left of
// this month's allowance when it started, and says when to warn and when
// to end. It keeps no clock: the caller passes the time elapsed since the
// call was answered. It is not safe for concurrent use.
type Meter struct {
	left, warnBefore time.Duration
	warned, ended    bool
	warning, goodbye string
}

// NewMeter returns the Meter of a call whose caller has left of this
// month's allowance.
func (p *Policy) NewMeter(left time.Duration) *Meter {
	return &Meter{left: left, warnBefore: p.cfg.WarnBefore, warning: p.cfg.WarningMessage, goodbye: p.cfg.GoodbyeMessage}
}

// Left returns the allowance the call started with.
func (m *Meter) Left() time.Duration { return m.left }

// Check returns what is due at elapsed: the WarningMessage once, from
// WarnBefore before the end (at once for a call that started with less),
// then the GoodbyeMessage and the end of the call once, at the end. It
// reports false when nothing is due. A call with nothing left gets no
// warning: its Opening ends it.
func (m *Meter) Check(elapsed time.Duration) (Utterance, bool) {
	switch {
	case m.ended || m.left <= 0:
		return Utterance{}, false
	case elapsed >= m.left:
		m.ended, m.warned = true, true
		return Utterance{Kind: KindGoodbye, Text: m.goodbye, Hangup: true}, true
	case !m.warned && elapsed >= m.left-m.warnBefore:
		m.warned = true
		return Utterance{Kind: KindWarning, Text: m.warning}, true
	}
	return Utterance{}, false
}

// Next returns the elapsed time at which Check will next have something
// to say, or false when it never will.
func (m *Meter) Next() (time.Duration, bool) {
	switch {
	case m.ended || m.left <= 0:
		return 0, false
	case !m.warned:
		return max(m.left-m.warnBefore, 0), true
	}
	return m.left, true
}

// Charge returns the talk time to add to the caller's month for a call
// that lasted elapsed: all of it, whole seconds rounded up.
func Charge(elapsed time.Duration) time.Duration {
	if elapsed <= 0 {
		return 0
	}
	return (elapsed + time.Second - 1).Truncate(time.Second)
}
