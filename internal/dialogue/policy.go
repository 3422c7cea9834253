package dialogue

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Action is what a Decision asks the caller of the Policy to do.
type Action uint8

// The actions of a Decision.
const (
	// Answer lets the model answer.
	Answer Action = iota
	// Emergency pre-empts the model: say the Decision's fixed message
	// at once, cancelling any answer in progress.
	Emergency
	// Refuse says the Decision's fixed message instead of an answer.
	Refuse
	// Wait means nothing to do yet: a digit sequence is not complete.
	Wait
)

// String returns the action's name, as records show it.
func (a Action) String() string {
	switch a {
	case Emergency:
		return "emergency"
	case Refuse:
		return "restricted"
	case Wait:
		return "wait"
	}
	return "answer"
}

// Decision is the Policy's verdict on some words.
type Decision struct {
	Action Action
	// Say is the fixed message for Emergency and Refuse.
	Say string
	// Rule is what matched: the emergency number, the emergency phrase or
	// the restricted topic, as configured.
	Rule string
}

// Policy is the compiled Config: the checks run on every caller's words
// and every clause of the model. It is immutable and safe for concurrent
// use.
type Policy struct {
	cfg        Config
	numbers    map[string]bool
	phrases    []phrase
	restricted []phrase
}

// phrase is a configured phrase and its words.
type phrase struct {
	text  string
	words []string
}

// NewPolicy returns the Policy of cfg, or an error naming every bad field.
func NewPolicy(cfg Config) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Policy{cfg: cfg, numbers: make(map[string]bool)}
	for _, n := range cfg.EmergencyNumbers {
		p.numbers[n] = true
	}
	for _, s := range cfg.EmergencyPhrases {
		p.phrases = append(p.phrases, phrase{s, words(s)})
	}
	for _, s := range cfg.RestrictedTopics {
		p.restricted = append(p.restricted, phrase{s, words(s)})
	}
	return p, nil
}

// Config returns the Policy's configuration with the defaults filled in.
func (p *Policy) Config() Config { return p.cfg }

// Allowance returns a caller's monthly talk time.
func (p *Policy) Allowance(verified bool) time.Duration {
	if verified {
		return p.cfg.VerifiedAllowance
	}
	return p.cfg.Allowance
}

// Check decides on what the caller said: Emergency when it names an
// emergency number or phrase, Refuse when it touches a restricted topic,
// otherwise Answer.
func (p *Policy) Check(text string) Decision {
	ws := words(text)
	for _, n := range numbers(ws) {
		if p.numbers[n] {
			return Decision{Action: Emergency, Say: p.cfg.EmergencyMessage, Rule: n}
		}
	}
	for _, ph := range p.phrases {
		if contains(ws, ph.words) {
			return Decision{Action: Emergency, Say: p.cfg.EmergencyMessage, Rule: ph.text}
		}
	}
	return p.screen(ws)
}

// Screen decides on what the model is about to say: Refuse when it
// touches a restricted topic, otherwise Answer.
func (p *Policy) Screen(text string) Decision { return p.screen(words(text)) }

func (p *Policy) screen(ws []string) Decision {
	for _, ph := range p.restricted {
		if contains(ws, ph.words) {
			return Decision{Action: Refuse, Say: p.cfg.RefusalMessage, Rule: ph.text}
		}
	}
	return Decision{Action: Answer}
}

// CheckDigits decides on a sequence of keypad digits: Emergency when it is
// an emergency number, otherwise Wait.
func (p *Policy) CheckDigits(seq string) Decision {
	if p.numbers[seq] {
		return Decision{Action: Emergency, Say: p.cfg.EmergencyMessage, Rule: seq}
	}
	return Decision{Action: Wait}
}

// Remaining returns how much of this month's allowance the caller has
// left at now, never less than zero. callerKey must be an opaque key (a
// blind index): one that looks like a phone number is refused with
// ErrNotOpaque before the Quota sees it.
func (p *Policy) Remaining(ctx context.Context, q Quota, callerKey string, verified bool, now time.Time) (time.Duration, error) {
	if err := CheckOpaque(callerKey); err != nil {
		return 0, err
	}
	used, err := q.Used(ctx, callerKey, Month(now))
	if err != nil {
		return 0, err
	}
	return max(p.Allowance(verified)-used, 0), nil
}

// numberWords are the spoken digits transcripts may spell out.
var numberWords = map[string]string{
	"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
	"five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}

// numbers returns the whole numbers in a text's words: each run of digits
// ("911"), and each run of two or more single digits or digit words
// ("9 1 1", "nine one one"), joined. A longer number containing an
// emergency number ("1911", "9110") is not that number.
func numbers(ws []string) []string {
	var out []string
	var run strings.Builder
	n := 0
	flush := func() {
		if n >= 2 {
			out = append(out, run.String())
		}
		run.Reset()
		n = 0
	}
	for _, w := range ws {
		d, ok := numberWords[w]
		if !ok && len(w) == 1 && allDigits(w) {
			d, ok = w, true
		}
		if ok {
			run.WriteString(d)
			n++
			continue
		}
		flush()
		if allDigits(w) {
			out = append(out, w)
		}
	}
	flush()
	return out
}

// words splits text into lower-case words of letters, digits and inner
// apostrophes. Digits joined by a hyphen ("9-1-1") or by a thousands
// separator ("10,000", "1.000") make one word; other punctuation and
// spaces separate words.
func words(text string) []string {
	rs := []rune(strings.ToLower(text))
	isDigit := func(i int) bool { return i >= 0 && i < len(rs) && rs[i] >= '0' && rs[i] <= '9' }
	var out []string
	var w strings.Builder
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			w.WriteRune(r)
			continue
		case (r == '\'' || r == '’') && w.Len() > 0 && i+1 < len(rs) && unicode.IsLetter(rs[i+1]):
			w.WriteRune('\'')
			continue
		case r == '-' && isDigit(i-1) && isDigit(i+1):
			continue
		case (r == ',' || r == '.') && isDigit(i-1) && isDigit(i+1) && isDigit(i+2) && isDigit(i+3) && !isDigit(i+4):
			continue
		}
		if w.Len() > 0 {
			out = append(out, w.String())
			w.Reset()
		}
	}
	if w.Len() > 0 {
		out = append(out, w.String())
	}
	return out
}

// contains reports whether ws holds the words of phrase in a row.
func contains(ws, phrase []string) bool {
	if len(phrase) == 0 {
		return false
	}
	for i := 0; i+len(phrase) <= len(ws); i++ {
		if slices.Equal(ws[i:i+len(phrase)], phrase) {
			return true
		}
	}
	return false
}

// Fingerprint returns the SHA-256 of pcm as 16-bit little-endian samples,
// in hex: the call record's proof of the disclosure audio played.
func Fingerprint(pcm []int16) string {
	h := sha256.New()
	var buf [4096]byte
	for len(pcm) > 0 {
		n := min(len(pcm), len(buf)/2)
		for i, s := range pcm[:n] {
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(s))
		}
		h.Write(buf[:2*n])
		pcm = pcm[n:]
	}
	return hex.EncodeToString(h.Sum(nil))
}
