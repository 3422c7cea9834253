package dialogue

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestTranscriptBounds(t *testing.T) {
	t.Run("lines", func(t *testing.T) {
		var tr Transcript
		for i := range 1000 {
			tr.Caller(time.Duration(i)*time.Second, "hello")
		}
		ls := tr.Lines()
		if len(ls) != MaxTranscriptLines || !tr.Cut() {
			t.Fatalf("%d lines, cut %v; want %d, cut", len(ls), tr.Cut(), MaxTranscriptLines)
		}
		last := ls[len(ls)-1]
		if last.Text != TranscriptCutNote || last.Speaker != SpeakerSystem {
			t.Fatalf("last line %+v, want the cut note", last)
		}
		if ls[len(ls)-2].Text != "hello" {
			t.Fatalf("line before the note is %+v", ls[len(ls)-2])
		}
		tr.Assistant(time.Hour, "more", false)
		tr.Keyed(time.Hour)
		if tr.Len() != MaxTranscriptLines {
			t.Fatalf("a cut transcript grew to %d lines", tr.Len())
		}
	})
	t.Run("bytes", func(t *testing.T) {
		var tr Transcript
		word := strings.Repeat("x", 1000)
		for i := range 100 {
			tr.Assistant(time.Duration(i)*time.Second, word, false)
		}
		size := 0
		for _, l := range tr.Lines() {
			size += len(l.Text)
		}
		if size > MaxTranscriptBytes || !tr.Cut() {
			t.Fatalf("%d bytes, cut %v", size, tr.Cut())
		}
		if n := tr.Len(); n != 32+1 { // 32 lines of 1000 bytes leave no room for a 33rd and the note
			t.Fatalf("%d lines, want 33", n)
		}
		data, err := json.Marshal(&tr)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > MaxTranscriptBytes+MaxTranscriptLines*64 {
			t.Fatalf("encoded %d bytes", len(data))
		}
	})
	t.Run("keyed notes count against it", func(t *testing.T) {
		var tr Transcript
		for i := range 2000 {
			tr.Keyed(time.Duration(i) * time.Millisecond)
			tr.Caller(time.Duration(i)*time.Millisecond, "x")
		}
		if tr.Len() != MaxTranscriptLines || !tr.Cut() {
			t.Fatalf("%d lines, cut %v", tr.Len(), tr.Cut())
		}
	})
	t.Run("one huge line", func(t *testing.T) {
		var tr Transcript
		tr.Caller(0, "short")
		tr.Caller(time.Second, strings.Repeat("y", MaxTranscriptBytes))
		tr.Caller(2*time.Second, "after")
		ls := tr.Lines()
		if len(ls) != 2 || ls[0].Text != "short" || ls[1].Text != TranscriptCutNote || ls[1].At != time.Second {
			t.Fatalf("lines %+v", ls)
		}
	})
}

func TestTranscriptOrderAndKeyed(t *testing.T) {
	var tr Transcript
	tr.Assistant(0, "Hello, I am an AI.", false)
	tr.Caller(5*time.Second, "  what is the weather  ")
	tr.Caller(6*time.Second, "   ") // nothing said
	// The answer began at 8 s but is added once it ended, after the
	// caller keyed digits over it at 9 s and 9.5 s.
	tr.Keyed(9 * time.Second)
	tr.Keyed(9500 * time.Millisecond)
	tr.Assistant(8*time.Second, "It is sunny", true)
	tr.Keyed(11 * time.Second)
	tr.Keyed(11 * time.Second)
	tr.Keyed(12 * time.Second)
	tr.Caller(13*time.Second, "thanks")
	tr.Keyed(14 * time.Second)
	tr.Assistant(15*time.Second, "", true) // cut before a word was heard
	tr.System(16*time.Second, "[emergency tripwire]")

	want := []TranscriptLine{
		{0, SpeakerAssistant, "Hello, I am an AI."},
		{5 * time.Second, SpeakerCaller, "what is the weather"},
		{8 * time.Second, SpeakerAssistant, "It is sunny..."},
		{9 * time.Second, SpeakerCaller, "[keyed 2 digits]"},
		{11 * time.Second, SpeakerCaller, "[keyed 3 digits]"},
		{13 * time.Second, SpeakerCaller, "thanks"},
		{14 * time.Second, SpeakerCaller, "[keyed 1 digit]"},
		{16 * time.Second, SpeakerSystem, "[emergency tripwire]"},
	}
	got := tr.Lines()
	if len(got) != len(want) {
		t.Fatalf("got %d lines %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	data, err := json.Marshal(&tr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `{"at_ms":8000,"speaker":"assistant","text":"It is sunny..."}`) {
		t.Errorf("encoding: %s", data)
	}
	back, err := ParseTranscript(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if back[i] != want[i] {
			t.Errorf("decoded line %d = %+v, want %+v", i, back[i], want[i])
		}
	}
	for _, bad := range []string{`{}`, `[{"at_ms":1,"speaker":"user","text":"x"}]`, `[`} {
		if _, err := ParseTranscript([]byte(bad)); err == nil {
			t.Errorf("ParseTranscript(%s) accepted it", bad)
		}
	}
}

// The assistant's line in a call is what Conversation.Said says was heard.
func TestTranscriptHeardAnswer(t *testing.T) {
	c := newPolicy(t, Config{}).NewConversation()
	heard, cut := c.Said([]Spoken{{Text: "The weather today is fine.", Played: 100, Total: 100},
		{Text: "Tomorrow it will rain heavily.", Played: 50, Total: 100}})
	var tr Transcript
	tr.Assistant(time.Second, heard, cut)
	if got := tr.Lines()[0].Text; got != "The weather today is fine. Tomorrow it..." {
		t.Fatalf("assistant line %q", got)
	}
}
