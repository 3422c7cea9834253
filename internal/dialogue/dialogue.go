// Package dialogue runs the assistant's side of a conversation under policies enforced in code.
//
// The model only ever answers what the Policy let through, and only its
// screened words are spoken. What the model cannot change lives here: the
// disclosure that the caller is talking with an AI, said before anything
// else; the monthly allowance of minutes per caller; the emergency
// tripwire on the caller's words and keypad digits; the restricted topics;
// and a history that keeps only what the caller actually heard.
package dialogue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Role says who wrote a Message.
type Role string

// The roles of a conversation.
const (
	System    Role = "system"    // the instructions, first
	User      Role = "user"      // the caller
	Assistant Role = "assistant" // the assistant, as heard by the caller
)

// Message is one message of a conversation.
type Message struct {
	Role    Role
	Content string
}

// Model is a language model answering a conversation.
type Model interface {
	// Chat returns the assistant's next message after msgs, the first of
	// which is the System instructions, handing each piece of text to
	// onToken as soon as it is generated. When ctx ends it stops at once
	// and returns an error wrapping ctx.Err().
	Chat(ctx context.Context, msgs []Message, onToken func(string)) (string, error)
}

// STT turns speech into text.
type STT interface {
	// Transcribe returns the words spoken in pcm, 8 kHz 16-bit mono
	// samples, or "" when there were none. It returns an error wrapping
	// ctx.Err() when ctx ended first.
	Transcribe(ctx context.Context, pcm []int16) (string, error)
}

// TTS turns text into speech.
type TTS interface {
	// Synthesize returns text spoken as 8 kHz 16-bit mono samples. It
	// returns an error wrapping ctx.Err() when ctx ended first.
	Synthesize(ctx context.Context, text string) ([]int16, error)
}

// Default texts of Config. The WarningMessage matches DefaultWarnBefore.
const (
	DefaultInstructions = "You are a helpful assistant on a phone call. Answer briefly, in plain spoken " +
		"sentences, without lists, markdown or emoji. You are an AI: never claim to be a person."
	DefaultDisclosure = "You are talking with an AI assistant, not a person. It can make mistakes. " +
		"In an emergency, hang up and call your local emergency number."
	DefaultEmergencyMessage = "This line cannot help in an emergency. Please hang up now and dial your local " +
		"emergency number, such as 911 in the US. If you are in crisis or thinking about suicide in the US, " +
		"call or text 988."
	DefaultRefusalMessage     = "Sorry, I can't help with that on this line."
	DefaultWarningMessage     = "You have about one minute left on this line this month."
	DefaultGoodbyeMessage     = "You have used this month's minutes. Thank you for calling. Goodbye."
	DefaultNoMinutesMessage   = "You have no minutes left this month. Please call again next month. Goodbye."
	DefaultUnavailableMessage = "Sorry, the assistant cannot take calls right now. Please try again later. Goodbye."
	DefaultErrorMessage       = "Sorry, I could not answer that. Please try again."
)

// Default limits of Config.
const (
	DefaultAllowance         = 15 * time.Minute
	DefaultVerifiedAllowance = 60 * time.Minute
	DefaultWarnBefore        = time.Minute
	DefaultDigitGap          = 3 * time.Second
	DefaultClauseWords       = 12
	DefaultMaxHistory        = 40
)

// DefaultEmergencyNumbers are the emergency and crisis numbers the
// tripwire knows: North America (911, 988), Europe and GSM phones (112),
// the UK (999, 111), Australia (000).
var DefaultEmergencyNumbers = []string{"911", "112", "999", "988", "000", "111"}

// DefaultEmergencyPhrases are the words that trip the tripwire in what a
// caller says, matched whole-word and case-insensitively.
var DefaultEmergencyPhrases = []string{
	"call an ambulance", "need an ambulance", "send an ambulance",
	"call the police", "call the fire department", "emergency services",
	"heart attack", "having a stroke", "can't breathe", "cannot breathe", "not breathing",
	"overdose", "overdosed", "suicide", "suicidal", "kill myself", "end my life",
	"want to die", "hurt myself", "being attacked", "house is on fire",
}

// Config sets the policy of every conversation. Zero fields take the
// defaults; a list that is set replaces its default.
type Config struct {
	// Instructions is the model's system message.
	Instructions string
	// Disclosure is said first in every call, before anything else, and
	// cannot be interrupted.
	Disclosure string

	// EmergencyNumbers are numbers (2 to 6 digits) that trip the
	// emergency tripwire when the caller says them as a whole number or
	// keys them in.
	EmergencyNumbers []string
	// EmergencyPhrases trip the tripwire when the caller says them.
	EmergencyPhrases []string
	// EmergencyMessage is said instead of any answer when the tripwire
	// trips: it tells the caller to hang up and dial their local emergency
	// number. It cannot be interrupted.
	EmergencyMessage string

	// RestrictedTopics are words and phrases the assistant does not
	// discuss: a caller's words containing one are not given to the model,
	// and an answer containing one is cut before it. None by default.
	RestrictedTopics []string
	// RefusalMessage is said instead, for a restricted topic.
	RefusalMessage string

	// Allowance is the talk time per caller per calendar month (UTC).
	Allowance time.Duration
	// VerifiedAllowance is the allowance of callers whose number is
	// verified; it is at least Allowance.
	VerifiedAllowance time.Duration
	// WarnBefore is how long before the allowance runs out the
	// WarningMessage is said.
	WarnBefore time.Duration
	// WarningMessage, GoodbyeMessage and NoMinutesMessage are said when the
	// allowance is about to run out, when it has (then the call ends), and
	// to a caller who has none left (then the call ends).
	WarningMessage, GoodbyeMessage, NoMinutesMessage string
	// UnavailableMessage is said before ending a call that cannot be
	// served (the caller or the allowance could not be looked up).
	UnavailableMessage string
	// ErrorMessage is said when no answer could be given.
	ErrorMessage string

	// DigitGap ends a sequence of keypad digits: a digit after this long
	// starts a new one, as do * and #.
	DigitGap time.Duration
	// ClauseWords is how many words an answer may run without a clause
	// boundary (. ! ? ;) before it is cut there for speaking.
	ClauseWords int
	// MaxHistory is how many messages of the conversation are given to the
	// model, the instructions not counted.
	MaxHistory int
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	str := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	str(&c.Instructions, DefaultInstructions)
	str(&c.Disclosure, DefaultDisclosure)
	str(&c.EmergencyMessage, DefaultEmergencyMessage)
	str(&c.RefusalMessage, DefaultRefusalMessage)
	str(&c.WarningMessage, DefaultWarningMessage)
	str(&c.GoodbyeMessage, DefaultGoodbyeMessage)
	str(&c.NoMinutesMessage, DefaultNoMinutesMessage)
	str(&c.UnavailableMessage, DefaultUnavailableMessage)
	str(&c.ErrorMessage, DefaultErrorMessage)
	if len(c.EmergencyNumbers) == 0 {
		c.EmergencyNumbers = DefaultEmergencyNumbers
	}
	if len(c.EmergencyPhrases) == 0 {
		c.EmergencyPhrases = DefaultEmergencyPhrases
	}
	dur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	dur(&c.Allowance, DefaultAllowance)
	dur(&c.VerifiedAllowance, max(DefaultVerifiedAllowance, c.Allowance))
	dur(&c.WarnBefore, DefaultWarnBefore)
	dur(&c.DigitGap, DefaultDigitGap)
	if c.ClauseWords == 0 {
		c.ClauseWords = DefaultClauseWords
	}
	if c.MaxHistory == 0 {
		c.MaxHistory = DefaultMaxHistory
	}
	return c
}

// Validate reports every field of c that is out of range.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf("dialogue: "+format, a...)) }
	for _, n := range c.EmergencyNumbers {
		if len(n) < 2 || len(n) > 6 || !allDigits(n) {
			add("EmergencyNumbers: %q is not 2 to 6 digits", n)
		}
	}
	for _, p := range c.EmergencyPhrases {
		if len(words(p)) == 0 {
			add("EmergencyPhrases: %q has no words", p)
		}
	}
	for _, p := range c.RestrictedTopics {
		if len(words(p)) == 0 {
			add("RestrictedTopics: %q has no words", p)
		}
	}
	for name, d := range map[string]time.Duration{
		"Allowance": c.Allowance, "VerifiedAllowance": c.VerifiedAllowance,
		"WarnBefore": c.WarnBefore, "DigitGap": c.DigitGap,
	} {
		if d < 0 {
			add("%s %v is negative", name, d)
		}
	}
	if c.VerifiedAllowance != 0 && c.VerifiedAllowance < c.withDefaults().Allowance {
		add("VerifiedAllowance %v is less than Allowance", c.VerifiedAllowance)
	}
	if c.ClauseWords < 0 || c.ClauseWords > 100 {
		add("ClauseWords %d is outside 1-100", c.ClauseWords)
	}
	if c.MaxHistory < 0 {
		add("MaxHistory %d is negative", c.MaxHistory)
	}
	return errors.Join(errs...)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
