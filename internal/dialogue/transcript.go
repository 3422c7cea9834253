package dialogue

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Speaker says who a transcript line is from.
type Speaker string

// The speakers of a transcript.
const (
	SpeakerCaller    Speaker = "caller"    // the caller's words, or a note of the keys they pressed
	SpeakerAssistant Speaker = "assistant" // what the caller heard the assistant say
	SpeakerSystem    Speaker = "system"    // a note of the line itself
)

// Bounds of a Transcript: beyond them it ends with TranscriptCutNote.
const (
	MaxTranscriptLines = 400
	MaxTranscriptBytes = 32 << 10 // of text, the notes included
)

// TranscriptCutNote is the last line of a transcript that reached its bounds.
const TranscriptCutNote = "[transcript cut: too long]"

// TranscriptLine is one line of a transcript.
type TranscriptLine struct {
	At      time.Duration // from the start of the call
	Speaker Speaker
	Text    string
}

// transcriptLineJSON is how a line is encoded: at_ms, speaker, text.
type transcriptLineJSON struct {
	AtMillis int64   `json:"at_ms"`
	Speaker  Speaker `json:"speaker"`
	Text     string  `json:"text"`
}

// Transcript is what was said in one call, line by line: the caller's
// words; the assistant's words as far as the caller heard them; keyed
// digits only as "[keyed N digits]", never the digits. It holds at most
// MaxTranscriptLines lines and MaxTranscriptBytes of text, the last of
// them TranscriptCutNote when more was said. The zero value is empty and
// ready; it is not safe for concurrent use.
type Transcript struct {
	lines []TranscriptLine
	size  int  // bytes of text
	full  bool // TranscriptCutNote is in
	keyed int  // index+1 of the last line when it is a keyed note still growing
	keys  int  // keys counted in that note
}

// Caller adds what the caller said at at. Empty text adds nothing.
func (t *Transcript) Caller(at time.Duration, text string) {
	t.add(at, SpeakerCaller, strings.TrimSpace(text))
}

// Assistant adds what the caller heard of an answer that began at at;
// cut says the caller cut it (barge-in), and then it ends with "...".
// Nothing heard adds nothing.
func (t *Transcript) Assistant(at time.Duration, heard string, cut bool) {
	heard = strings.TrimSpace(heard)
	if heard != "" && cut {
		heard += "..."
	}
	t.add(at, SpeakerAssistant, heard)
}

// System adds a note of the line.
func (t *Transcript) System(at time.Duration, note string) {
	t.add(at, SpeakerSystem, strings.TrimSpace(note))
}

// Keyed notes one key pressed at at. Keys pressed with no other line
// between them make one note, "[keyed N digits]"; which keys they were is
// not kept.
func (t *Transcript) Keyed(at time.Duration) {
	if t.keyed != 0 && t.keyed == len(t.lines) && !t.full {
		l := &t.lines[t.keyed-1]
		next := keyedNote(t.keys + 1)
		if t.size-len(l.Text)+len(next) <= MaxTranscriptBytes-len(TranscriptCutNote) {
			t.size += len(next) - len(l.Text)
			l.Text = next
			t.keys++
			return
		}
	}
	if t.add(at, SpeakerCaller, keyedNote(1)) {
		t.keyed, t.keys = len(t.lines), 1
	}
}

func keyedNote(n int) string {
	if n == 1 {
		return "[keyed 1 digit]"
	}
	return "[keyed " + strconv.Itoa(n) + " digits]"
}

// add appends a line if it fits, leaving room for the cut note; the
// first line that does not fit ends the transcript with the note.
func (t *Transcript) add(at time.Duration, who Speaker, text string) bool {
	if text == "" || t.full {
		return false
	}
	if len(t.lines)+1 > MaxTranscriptLines-1 || t.size+len(text) > MaxTranscriptBytes-len(TranscriptCutNote) {
		t.full = true
		for _, l := range t.lines {
			at = max(at, l.At)
		}
		t.lines = append(t.lines, TranscriptLine{At: at, Speaker: SpeakerSystem, Text: TranscriptCutNote})
		t.size += len(TranscriptCutNote)
		return false
	}
	t.lines = append(t.lines, TranscriptLine{At: max(at, 0), Speaker: who, Text: text})
	t.size += len(text)
	return true
}

// Len returns the number of lines.
func (t *Transcript) Len() int { return len(t.lines) }

// Cut reports whether the transcript reached its bounds.
func (t *Transcript) Cut() bool { return t.full }

// Lines returns a copy of the lines in the order of their times; lines of
// one time keep the order they were added in, and the cut note is last.
func (t *Transcript) Lines() []TranscriptLine {
	out := slices.Clone(t.lines)
	body := out
	if t.full {
		body = out[:len(out)-1] // the cut note, always added last, stays last
	}
	slices.SortStableFunc(body, func(a, b TranscriptLine) int { return cmp.Compare(a.At, b.At) })
	return out
}

// MarshalJSON encodes the lines, in order, as an array of
// {"at_ms", "speaker", "text"}.
func (t *Transcript) MarshalJSON() ([]byte, error) {
	lines := t.Lines()
	out := make([]transcriptLineJSON, len(lines))
	for i, l := range lines {
		out[i] = transcriptLineJSON{AtMillis: l.At.Milliseconds(), Speaker: l.Speaker, Text: l.Text}
	}
	return json.Marshal(out)
}

// ParseTranscript decodes what MarshalJSON encoded.
func ParseTranscript(data []byte) ([]TranscriptLine, error) {
	var in []transcriptLineJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("dialogue: transcript: %w", err)
	}
	out := make([]TranscriptLine, len(in))
	for i, l := range in {
		switch l.Speaker {
		case SpeakerCaller, SpeakerAssistant, SpeakerSystem:
		default:
			return nil, fmt.Errorf("dialogue: transcript line %d: unknown speaker %q", i, l.Speaker)
		}
		out[i] = TranscriptLine{At: time.Duration(l.AtMillis) * time.Millisecond, Speaker: l.Speaker, Text: l.Text}
	}
	return out, nil
}

// Transcripts keeps call transcripts.
type Transcripts interface {
	// SaveTranscript keeps the transcript of the call r, made by a caller
	// whose number is bound to subjectID, sealed so that only that subject's
	// data key opens it. A subject that no longer exists keeps nothing.
	SaveTranscript(ctx context.Context, r *CallRecord, subjectID string, t *Transcript) error
}
