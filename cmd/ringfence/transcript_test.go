package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/llm"
	"github.com/ringfence/ringfence/internal/voice/media"
)

// TestPhoneLineBaresipTranscript: a caller who signed up calls the phone
// line with baresip, says hello, asks for a story and hangs up while it
// plays. The subject's export then holds the call with its transcript,
// the story cut where the caller stopped hearing it; no word of it, and
// no digit of the number, is in the data folder or the logs.
func TestPhoneLineBaresipTranscript(t *testing.T) {
	for _, tool := range []string{"baresip", "sox", "espeak-ng"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: skipping the phone call test", tool)
		}
	}
	engines := fakeEngines(t)
	var logs syncBuffer
	dir := t.TempDir()
	m, stopMain := startMain(t, dir, &logs, phoneConfig(engines.URL, 10*time.Minute))
	stop := sync.OnceFunc(stopMain)
	defer stop()
	c := client{t: t, base: m.URL(), key: m.DevKey}
	const number = "+14155550123"
	st, out := c.do("POST", "/v1/verifications", map[string]any{"phone": number, "channel": "sms", "purpose": "signup"})
	if st != 201 {
		t.Fatalf("start: %d %v", st, out)
	}
	ve := out["id"].(string)
	if st, out = c.do("POST", "/v1/verifications/"+ve+"/check", map[string]any{"code": c.devCode(number)}); st != 200 || out["subject_id"] == nil {
		t.Fatalf("check: %d %v", st, out)
	}
	sub := out["subject_id"].(string)
	udp, _ := m.Phone.Addr()

	// Silent 3 s, "hello", silent 3 s, "tell me a story", then listen:
	// the caller hangs up about 2 s into the 4 s story.
	var say []int16
	say = append(say, make([]int16, 3*8000)...)
	say = append(say, media.Tone(e2eHello, 800*time.Millisecond, 0.3)...)
	say = append(say, make([]int16, 3*8000)...)
	say = append(say, media.Tone(e2eStoryAsk, 800*time.Millisecond, 0.3)...)
	say = append(say, make([]int16, 60*8000)...)
	pcm := baresipRun(t, fmt.Sprintf("sip:assistant@%s", udp), number, llm.EncodeWAV(say, 8000), 60*time.Second, 11500*time.Millisecond)
	heard := heardSequence(pcm)
	t.Logf("heard %v", heard)
	if !subsequence(heard, []float64{e2eDisclosure, e2eAnswer, e2eStory}) {
		t.Fatalf("heard %v, want the disclosure, the answer to hello, then the story", heard)
	}

	// The call ends when the line sees the caller's BYE.
	var recs []*dialogue.CallRecord
	for deadline := time.Now().Add(20 * time.Second); len(recs) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if recs, err = m.DB.Calls(context.Background(), time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if len(recs) != 1 || recs[0].Ended != dialogue.EndCallerHangup {
		t.Fatalf("call records %+v: want one, ended by the caller", recs)
	}
	// The transcript is saved right after the record.
	var calls []any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		st, out := c.do("GET", "/v1/subjects/"+sub+"/export?evidence="+ve, nil)
		if st != 200 {
			t.Fatalf("export: %d %v", st, out)
		}
		calls, _ = out["export"].(map[string]any)["calls"].([]any)
		if len(calls) == 1 && calls[0].(map[string]any)["transcript"] != nil {
			break
		}
	}
	if len(calls) != 1 {
		t.Fatalf("export calls %v", calls)
	}
	call := calls[0].(map[string]any)
	if call["id"] != recs[0].ID || call["from"] != "+1 ••• ••• 0123" || call["ended"] != dialogue.EndCallerHangup {
		t.Errorf("exported call %v", call)
	}
	lines, _ := call["transcript"].([]any)
	var got []string
	for _, l := range lines {
		l := l.(map[string]any)
		got = append(got, fmt.Sprintf("%s: %s", l["speaker"], l["text"]))
	}
	t.Logf("transcript:\n%s", strings.Join(got, "\n"))
	want := []string{
		"assistant: " + dialogue.DefaultDisclosure,
		"caller: hello",
		"assistant: Hi there, this is the assistant.",
		"caller: tell me a story",
	}
	if len(got) != len(want)+1 {
		t.Fatalf("%d transcript lines, want %d", len(got), len(want)+1)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("line %d = %q, want %q", i, got[i], w)
		}
	}
	if story := got[len(want)]; !strings.HasPrefix(story, "assistant: Once") || !strings.HasSuffix(story, "...") || strings.Contains(story, "everyone") {
		t.Errorf("story line %q: want the part heard before the hang-up, cut", story)
	}

	stop()
	words := []string{"this is the assistant", "tell me a story", "Once upon", "told stories"}
	eachFile(t, dir, func(path string, b []byte) {
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				t.Errorf("%s holds %q of the transcript", path, w)
			}
		}
	})
	for _, w := range words {
		if strings.Contains(logs.String(), w) {
			t.Errorf("the logs hold %q of the transcript", w)
		}
	}
	assertNoDigits(t, dir, logs.String(), "4155550123", "14155550123")
}

// TestServePurgesTranscripts: the keeper seals a transcript for a bound
// caller's subject and keeps nothing for an erased one; serve, started
// again, purges transcripts older than sip.transcript_retention.
func TestServePurgesTranscripts(t *testing.T) {
	dir := t.TempDir()
	retention := func(c *config.Config) { c.SIP.TranscriptRetention = 2 * time.Hour }
	m, stop := startMain(t, dir, io.Discard, retention)
	c := client{t: t, base: m.URL(), key: m.DevKey}
	sub := signupOK(t, c, "+14155550123")
	gone := signupOK(t, c, "+14155550124")
	if _, err := m.Identity.Erase(context.Background(), gone, gone, "test"); err != nil {
		t.Fatal(err)
	}
	k := &transcriptKeeper{keys: m.Keys, db: m.DB}
	ctx := context.Background()
	var tr dialogue.Transcript
	tr.Caller(time.Second, "hello")
	for id, age := range map[string]time.Duration{"call_old": 3 * time.Hour, "call_new": time.Hour} {
		rec := &dialogue.CallRecord{ID: id, Trunk: "pbx", Start: time.Now().Add(-age), Ended: dialogue.EndCallerHangup}
		if err := m.DB.SaveCall(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := k.SaveTranscript(ctx, rec, sub, &tr); err != nil {
			t.Fatal(err)
		}
	}
	rec := &dialogue.CallRecord{ID: "call_erased", Trunk: "pbx", Start: time.Now(), Ended: dialogue.EndCallerHangup}
	if err := k.SaveTranscript(ctx, rec, gone, &tr); err != nil {
		t.Errorf("transcript of an erased subject: %v, want nothing kept and no error", err)
	}
	if got, err := m.DB.TranscriptsOf(ctx, gone); err != nil || len(got) != 0 {
		t.Errorf("an erased subject has %d transcripts (%v)", len(got), err)
	}
	if got, err := m.DB.TranscriptsOf(ctx, sub); err != nil || len(got) != 2 {
		t.Fatalf("before the restart: %d transcripts, %v", len(got), err)
	}
	stop()

	m, stop = startMain(t, dir, io.Discard, retention)
	defer stop()
	// Run purges before it serves; it runs beside this test.
	if resp, err := http.Get(m.URL() + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	got, err := m.DB.TranscriptsOf(ctx, sub)
	if err != nil || len(got) != 1 || got["call_new"] == nil {
		t.Errorf("after the restart: %d transcripts, %v; want call_new alone", len(got), err)
	}
}

// TestTranscriptsSetting: sip.transcripts "off" gives the line no keeper,
// so no call keeps a transcript; "subject" gives it one.
func TestTranscriptsSetting(t *testing.T) {
	if transcriptsFor(config.TranscriptsOff, nil, nil) != nil {
		t.Error(`sip.transcripts "off" keeps transcripts`)
	}
	if _, ok := transcriptsFor(config.TranscriptsSubject, nil, nil).(*transcriptKeeper); !ok {
		t.Error(`sip.transcripts "subject" keeps none`)
	}
}
