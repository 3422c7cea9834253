package dialogue

import (
	"context"
	"strings"
	"unicode"
)

// Splitter cuts a stream of tokens into clauses to speak: at ., !, ? or ;
// followed by a space (closing quotes and brackets may come between), at
// a line break, or after a number of words without one, so that speech
// can start before the answer is complete. "3.5" is not cut.
type Splitter struct {
	words int
	buf   strings.Builder
}

// NewSplitter returns a Splitter that cuts after words words at most.
func NewSplitter(words int) *Splitter { return &Splitter{words: max(words, 1)} }

// Add appends a token and returns the clauses it completed.
func (s *Splitter) Add(token string) []string {
	s.buf.WriteString(token)
	var out []string
	for {
		text := s.buf.String()
		cut := s.boundary(text)
		if cut < 0 {
			return out
		}
		if c := strings.TrimSpace(text[:cut]); speakable(c) {
			out = append(out, c)
		}
		s.buf.Reset()
		s.buf.WriteString(strings.TrimLeftFunc(text[cut:], unicode.IsSpace))
	}
}

// Flush returns what is left, the end of the answer, or "".
func (s *Splitter) Flush() string {
	c := strings.TrimSpace(s.buf.String())
	s.buf.Reset()
	if !speakable(c) {
		return ""
	}
	return c
}

// boundary returns where the first clause of text ends, or -1.
func (s *Splitter) boundary(text string) int {
	words := 0
	inWord := false
	for i, r := range text {
		switch {
		case r == '\n':
			return i
		case strings.ContainsRune(".!?;", r):
			j := i + 1
			for j < len(text) && strings.ContainsRune(`.!?;"')]”’`, rune(text[j])) {
				j++
			}
			if j < len(text) && unicode.IsSpace(rune(text[j])) {
				return j
			}
		}
		space := unicode.IsSpace(r)
		if inWord && space {
			if words++; words == s.words {
				return i
			}
		}
		inWord = !space
	}
	return -1
}

// speakable reports whether a clause has something to say.
func speakable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// Clause is a piece of an answer, screened and ready to speak.
type Clause struct {
	Text string
	// Refusal marks the RefusalMessage said instead of a clause that
	// touched a restricted topic; the answer ends with it. Rule is the topic.
	Refusal bool
	Rule    string
}

// Stream asks m for the answer to msgs (see Conversation.Prompt) and hands
// it to onClause clause by clause, as soon as each is complete (see
// Splitter). Each clause is screened with what came before it: at a
// restricted topic the model is cancelled and onClause gets the refusal
// instead, the last clause. Stream returns m's error, if any, after the
// clauses completed before it; the caller cancels ctx to stop it
// (barge-in). It touches only its arguments and p, so it may run in its
// own goroutine.
func (p *Policy) Stream(ctx context.Context, m Model, msgs []Message, onClause func(Clause)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sp := NewSplitter(p.cfg.ClauseWords)
	var said strings.Builder
	stopped := false
	emit := func(text string) {
		if stopped || ctx.Err() != nil {
			return
		}
		said.WriteString(text)
		said.WriteByte(' ')
		if d := p.Screen(said.String()); d.Action == Refuse {
			stopped = true
			cancel()
			onClause(Clause{Text: d.Say, Refusal: true, Rule: d.Rule})
			return
		}
		onClause(Clause{Text: text})
	}
	_, err := m.Chat(ctx, msgs, func(token string) {
		for _, c := range sp.Add(token) {
			emit(c)
		}
	})
	if stopped {
		return nil
	}
	if err != nil {
		return err
	}
	if rest := sp.Flush(); rest != "" {
		emit(rest)
	}
	return nil
}
