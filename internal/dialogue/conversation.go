package dialogue

import (
	"strings"
	"time"
	"unicode"
)

// Conversation is one call's or chat's history under a Policy: what the
// caller said and what the assistant said that the caller heard. It is
// not safe for concurrent use; Prompt hands out a copy for the model.
type Conversation struct {
	p       *Policy
	history []Message
	digits  strings.Builder // the keypad sequence so far
	last    time.Time       // when its last digit came
}

// maxDigits bounds a keypad sequence; longer ones match nothing.
const maxDigits = 16

// NewConversation starts an empty conversation under p.
func (p *Policy) NewConversation() *Conversation { return &Conversation{p: p} }

// Policy returns the conversation's Policy.
func (c *Conversation) Policy() *Policy { return c.p }

// Disclosure returns what must be said first, before anything else.
func (c *Conversation) Disclosure() string { return c.p.cfg.Disclosure }

// Hear takes what the caller said (a final transcript) and decides what
// follows; see Policy.Check. The words go into the history, and so does
// the fixed message of an Emergency or Refuse decision. Empty text is
// ignored: Wait.
func (c *Conversation) Hear(text string) Decision {
	text = strings.TrimSpace(text)
	if text == "" {
		return Decision{Action: Wait}
	}
	d := c.p.Check(text)
	c.add(User, text)
	if d.Action != Answer {
		c.add(Assistant, d.Say)
	}
	return d
}

// Digit takes a keypad digit pressed at at. Digits make a sequence until
// * or #, or a pause of DigitGap; every sequence is checked as it grows,
// so an emergency number trips at its last digit (Emergency), when the
// sequence is exactly that number. Otherwise Digit returns Wait.
func (c *Conversation) Digit(d rune, at time.Time) Decision {
	if d == '*' || d == '#' || c.digits.Len() > 0 && at.Sub(c.last) > c.p.cfg.DigitGap {
		c.digits.Reset()
	}
	c.last = at
	if d < '0' || d > '9' {
		return Decision{Action: Wait}
	}
	if c.digits.Len() < maxDigits {
		c.digits.WriteRune(d)
	}
	dec := c.p.CheckDigits(c.digits.String())
	if dec.Action == Emergency {
		c.digits.Reset()
		c.add(User, "(keyed "+dec.Rule+")")
		c.add(Assistant, dec.Say)
	}
	return dec
}

// Spoken is one clause the assistant began to say, and how many of its
// samples were played before it ended or was cut (barge-in).
type Spoken struct {
	Text          string
	Played, Total int
}

// Said records what the caller heard of an answer, clause by clause, and
// returns it: whole clauses, and of a cut clause the words played in full,
// by their share of its length. A cut answer ends with "..." in the
// history so that the model knows. Nothing heard records nothing.
func (c *Conversation) Said(parts []Spoken) (heard string, cut bool) {
	var b []string
	for _, s := range parts {
		h := Heard(s.Text, s.Played, s.Total)
		if h != "" {
			b = append(b, h)
		}
		if h != strings.TrimSpace(s.Text) {
			cut = true
			break
		}
	}
	heard = strings.Join(b, " ")
	if heard != "" {
		if cut {
			c.add(Assistant, heard+"...")
		} else {
			c.add(Assistant, heard)
		}
	}
	return heard, cut
}

// Heard returns the part of text a listener heard when played of total
// samples of its speech were played: the words that end within that share
// of its characters.
func Heard(text string, played, total int) string {
	text = strings.TrimSpace(text)
	switch {
	case played >= total:
		return text
	case played <= 0:
		return ""
	}
	end := int(int64(len(text)) * int64(played) / int64(total))
	if end < len(text) && !unicode.IsSpace(rune(text[end])) {
		// Mid-word: back to the end of the previous word.
		end = strings.LastIndexFunc(text[:end], unicode.IsSpace)
		if end < 0 {
			return ""
		}
	}
	return strings.TrimRightFunc(text[:end], func(r rune) bool { return unicode.IsSpace(r) || r == ',' })
}

// Prompt returns the messages for the model: the instructions, then the
// last MaxHistory messages, consecutive ones of one role joined. It is a
// copy, safe to hand to another goroutine.
func (c *Conversation) Prompt() []Message {
	h := c.history[max(0, len(c.history)-c.p.cfg.MaxHistory):]
	msgs := make([]Message, 1, len(h)+1)
	msgs[0] = Message{Role: System, Content: c.p.cfg.Instructions}
	for _, m := range h {
		if last := &msgs[len(msgs)-1]; len(msgs) > 1 && last.Role == m.Role {
			last.Content += " " + m.Content
			continue
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// History returns a copy of the conversation so far, without the
// instructions.
func (c *Conversation) History() []Message {
	return append([]Message(nil), c.history...)
}

func (c *Conversation) add(r Role, text string) {
	c.history = append(c.history, Message{Role: r, Content: text})
}
