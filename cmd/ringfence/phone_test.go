package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/llm"
	"github.com/ringfence/ringfence/internal/voice/media"
)

// The tones of the end-to-end phone tests: what the caller says is a tone
// the fake speech-to-text hears as words; what the line says is text the
// fake text-to-speech speaks as a tone.
const (
	e2eDisclosure = 500.0
	e2eHello      = 600.0 // the caller says "hello"
	e2eAnswer     = 700.0 // "Hi there, this is the assistant."
	e2eWarning    = 900.0
	e2eGoodbye    = 1100.0
	e2eNoMinutes  = 1300.0
	e2eStoryAsk   = 1000.0 // the caller says "tell me a story"
	e2eSOS        = 800.0  // the caller says "please call 911"
	e2eEmergency  = 1500.0
	e2eStory      = 2500.0 // the story, 4 s long
	e2eOther      = 1700.0 // any other text
)

const e2eStoryText = "Once upon a time a phone line told stories to everyone."

var e2eTones = []float64{e2eDisclosure, e2eHello, e2eAnswer, e2eWarning, e2eGoodbye, e2eNoMinutes,
	e2eStoryAsk, e2eSOS, e2eEmergency, e2eStory, e2eOther}

// fakeEngines serves the OpenAI-compatible speech-to-text, chat and
// text-to-speech APIs with tones for words.
func fakeEngines(t *testing.T) *httptest.Server {
	t.Helper()
	speech := map[string]float64{
		dialogue.DefaultDisclosure:         e2eDisclosure,
		"Hi there, this is the assistant.": e2eAnswer,
		dialogue.DefaultWarningMessage:     e2eWarning,
		dialogue.DefaultGoodbyeMessage:     e2eGoodbye,
		dialogue.DefaultNoMinutesMessage:   e2eNoMinutes,
		dialogue.DefaultEmergencyMessage:   e2eEmergency,
		e2eStoryText:                       e2eStory,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/audio/transcriptions", func(w http.ResponseWriter, r *http.Request) {
		f, _, err := r.FormFile("file")
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		wav, _ := io.ReadAll(f)
		pcm, rate, err := llm.DecodeWAV(wav)
		if err != nil || rate != 8000 {
			http.Error(w, fmt.Sprintf("wav: %v rate %d", err, rate), 400)
			return
		}
		tone, _ := media.DetectTone(pcm, e2eHello, e2eStoryAsk, e2eSOS)
		text := map[float64]string{e2eHello: "hello", e2eStoryAsk: "tell me a story", e2eSOS: "please call 911"}[tone]
		json.NewEncoder(w).Encode(map[string]string{"text": text})
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		answer := []string{"Hi there, ", "this is ", "the assistant."}
		if n := len(req.Messages); n > 0 && strings.Contains(req.Messages[n-1].Content, "story") {
			answer = strings.SplitAfter(e2eStoryText, " ")
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, tok := range answer {
			b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]string{"content": tok}}}})
			fmt.Fprintf(w, "data: %s\n\n", b)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	mux.HandleFunc("POST /v1/audio/speech", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Input string `json:"input"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		freq, ok := speech[body.Input]
		if !ok {
			freq = e2eOther
		}
		d := 600 * time.Millisecond
		if freq == e2eStory {
			d = 4 * time.Second
		}
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(llm.EncodeWAV(media.Tone(freq, d, 0.3), 8000))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// phoneConfig turns the phone line on, on a free port of loopback, with
// the fake engines and a small allowance.
func phoneConfig(engines string, allowance time.Duration) func(*config.Config) {
	return func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Addr = "127.0.0.1:0"
		c.SIP.Trunks = []string{"loopback=127.0.0.1"}
		c.SIP.RTPPortMin, c.SIP.RTPPortMax = 43000, 43998
		c.SIP.Allowance, c.SIP.VerifiedAllowance = allowance, allowance
		c.SIP.STT.BaseURL, c.SIP.Chat.BaseURL, c.SIP.TTS.BaseURL = engines, engines, engines
	}
}

// freePort returns a UDP port free on loopback just now.
func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// baresipCall has baresip call target as user, playing wav as what the
// caller says, until the line hangs up or limit passes, and returns what
// it heard (8 kHz) from its sndfile recording.
func baresipCall(t *testing.T, target, user string, wav []byte, limit time.Duration) []int16 {
	t.Helper()
	return baresipRun(t, target, user, wav, limit, 0)
}

// baresipRun is baresipCall; with hangUp > 0 the caller hangs up (baresip
// quits, ending its call) that long after baresip started instead.
func baresipRun(t *testing.T, target, user string, wav []byte, limit, hangUp time.Duration) []int16 {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "caller.wav")
	if err := os.WriteFile(in, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	rtp := freePort(t) &^ 1
	conf := strings.Join([]string{
		"poll_method epoll",
		"net_interface 127.0.0.1",
		fmt.Sprintf("sip_listen 127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("rtp_ports %d-%d", rtp, rtp+40),
		"audio_source aufile," + in,
		"audio_player aufile," + filepath.Join(dir, "player.wav"),
		"audio_alert aufile," + filepath.Join(dir, "alert.wav"),
		"audio_srate 8000",
		"audio_channels 1",
		"snd_path " + dir,
		"module_path /usr/lib/baresip/modules",
		"module g711.so",
		"module aufile.so",
		"module sndfile.so",
		"module_app account.so",
		"module_app menu.so",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	account := fmt.Sprintf("<sip:%s@127.0.0.1>;regint=0;audio_codecs=PCMU\n", user)
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "baresip", "-f", dir, "-e", "/dial "+target, "-t", fmt.Sprint(int(limit.Seconds())))
	// Stop baresip with SIGINT so that sndfile finishes the recording's
	// header; kill it only if it does not quit.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// baresip does not exit when the call ends: wait for the hang-up in
	// its output.
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	hungUp := false
	deadline := time.Now().Add(limit)
	if hangUp > 0 {
		deadline = time.Now().Add(hangUp)
	}
	for !hungUp && time.Now().Before(deadline) {
		select {
		case <-exited:
			deadline = time.Now()
		case <-time.After(100 * time.Millisecond):
		}
		hungUp = strings.Contains(out.String(), "session closed")
	}
	cancel()
	<-exited
	if hangUp > 0 {
		if hungUp {
			t.Errorf("the line hung up before the caller did; baresip said:\n%s", out.String())
		}
	} else if !hungUp {
		t.Errorf("the line did not hang up within %v; baresip said:\n%s", limit, out.String())
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "dump-*-dec.wav"))
	if len(matches) != 1 {
		t.Fatalf("baresip recorded %v; it said:\n%s", matches, out.String())
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, err := llm.DecodeWAV(b)
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	if rate != 8000 {
		if pcm, err = llm.Resample8k(pcm, rate); err != nil {
			t.Fatal(err)
		}
	}
	return pcm
}

// heardSequence names the tones heard in order, each run once.
func heardSequence(pcm []int16) []float64 {
	var out []float64
	for len(pcm) >= 800 {
		f, ok := media.DetectTone(pcm[:800], e2eTones...)
		pcm = pcm[800:]
		if ok && (len(out) == 0 || out[len(out)-1] != f) {
			out = append(out, f)
		}
	}
	return out
}

// TestPhoneLineBaresip calls the phone line with baresip through real SIP,
// RTP and G.711: the caller hears the disclosure first, then an answer to
// what it said, and is hung up when its minutes run out; the next call
// that month is told it has none left. No number is kept or logged.
func TestPhoneLineBaresip(t *testing.T) {
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip is not installed (Debian package baresip-core): skipping the phone call test")
	}
	engines := fakeEngines(t)
	var logs syncBuffer
	dir := t.TempDir()
	m, stop := startMain(t, dir, &logs, phoneConfig(engines.URL, 15*time.Second))
	udp, _ := m.Phone.Addr()
	target := fmt.Sprintf("sip:assistant@%s", udp)
	const number = "+14155550123"

	// The caller is silent for 3 s, says "hello", then listens.
	var say []int16
	say = append(say, make([]int16, 3*8000)...)
	say = append(say, media.Tone(e2eHello, 800*time.Millisecond, 0.3)...)
	say = append(say, make([]int16, 60*8000)...)
	wav := llm.EncodeWAV(say, 8000)

	heard := heardSequence(baresipCall(t, target, number, wav, 60*time.Second))
	t.Logf("first call heard %v", heard)

	if len(heard) == 0 || heard[0] != e2eDisclosure {
		t.Fatalf("first call heard %v: the disclosure must come first", heard)
	}
	for _, want := range [][]float64{{e2eDisclosure, e2eAnswer}, {e2eDisclosure, e2eGoodbye}, {e2eAnswer, e2eGoodbye}} {
		if !subsequence(heard, want) {
			t.Errorf("first call heard %v, want %v in that order", heard, want)
		}
	}

	heard = heardSequence(baresipCall(t, target, number, wav, 60*time.Second))
	t.Logf("second call heard %v", heard)
	if len(heard) < 2 || heard[0] != e2eDisclosure || !subsequence(heard, []float64{e2eDisclosure, e2eNoMinutes}) {
		t.Errorf("second call heard %v, want the disclosure then no minutes left", heard)
	}
	if subsequence(heard, []float64{e2eAnswer}) {
		t.Errorf("second call was answered: %v", heard)
	}

	recs, err := m.DB.Calls(context.Background(), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Ended != dialogue.EndQuota || recs[1].Ended != dialogue.EndNoMinutes {
		t.Fatalf("call records %+v", recs)
	}
	if recs[0].Charged < 15*time.Second || recs[0].DisclosureHash == "" || recs[0].Turns < 1 || len(recs[0].CallerIndex) == 0 {
		t.Errorf("first record %+v", recs[0])
	}
	resp, err := http.Get(m.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`ringfence_turn_stage_seconds_count{stage="stt"}`, `ringfence_turn_stage_seconds_count{stage="playout"}`,
		`ringfence_calls_ended_total{ended="quota"} 1`, `ringfence_sip_events_total{event="answered"} 2`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	stop()
	assertNoDigits(t, dir, logs.String(), "4155550123", "14155550123")
}

// TestPhoneLineBaresipEmergency: a baresip caller asks for a story and,
// while it plays, says an emergency number: the story stops and the fixed
// emergency message plays; the model is never asked about it.
func TestPhoneLineBaresipEmergency(t *testing.T) {
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip is not installed (Debian package baresip-core): skipping the phone call test")
	}
	engines := fakeEngines(t)
	var logs syncBuffer
	m, stop := startMain(t, t.TempDir(), &logs, phoneConfig(engines.URL, 14*time.Second))
	defer stop()
	udp, _ := m.Phone.Addr()

	// Silent 3 s, "tell me a story", then "please call 911" 1.8 s into it.
	var say []int16
	say = append(say, make([]int16, 3*8000)...)
	say = append(say, media.Tone(e2eStoryAsk, 800*time.Millisecond, 0.3)...)
	say = append(say, make([]int16, 2500*8)...)
	say = append(say, media.Tone(e2eSOS, 800*time.Millisecond, 0.3)...)
	say = append(say, make([]int16, 60*8000)...)
	pcm := baresipCall(t, fmt.Sprintf("sip:assistant@%s", udp), "+14155550123", llm.EncodeWAV(say, 8000), 60*time.Second)
	heard := heardSequence(pcm)
	t.Logf("heard %v", heard)
	if !subsequence(heard, []float64{e2eDisclosure, e2eStory, e2eEmergency}) {
		t.Fatalf("heard %v, want the disclosure, the story, then the emergency message", heard)
	}
	if story := toneTime(pcm, e2eStory); story >= 3500*time.Millisecond {
		t.Errorf("the story played %v of 4 s: the emergency did not cut it", story)
	}
	recs, err := m.DB.Calls(context.Background(), time.Now().Add(-time.Hour))
	if err != nil || len(recs) != 1 || !recs[0].Emergency {
		t.Fatalf("records %+v %v: want one, with the emergency", recs, err)
	}
}

// TestPhoneLineBaresipBargeIn: a baresip caller asks for a story and
// talks over it: the story stops at once and the line answers what the
// caller said instead.
func TestPhoneLineBaresipBargeIn(t *testing.T) {
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip is not installed (Debian package baresip-core): skipping the phone call test")
	}
	engines := fakeEngines(t)
	var logs syncBuffer
	m, stop := startMain(t, t.TempDir(), &logs, phoneConfig(engines.URL, 14*time.Second))
	defer stop()
	udp, _ := m.Phone.Addr()

	// Silent 3 s, "tell me a story", then "hello" 1.8 s into it.
	var say []int16
	say = append(say, make([]int16, 3*8000)...)
	say = append(say, media.Tone(e2eStoryAsk, 800*time.Millisecond, 0.3)...)
	say = append(say, make([]int16, 2500*8)...)
	say = append(say, media.Tone(e2eHello, 800*time.Millisecond, 0.3)...)
	say = append(say, make([]int16, 60*8000)...)
	pcm := baresipCall(t, fmt.Sprintf("sip:assistant@%s", udp), "+14155550123", llm.EncodeWAV(say, 8000), 60*time.Second)
	heard := heardSequence(pcm)
	t.Logf("heard %v", heard)
	if !subsequence(heard, []float64{e2eDisclosure, e2eStory, e2eAnswer}) {
		t.Fatalf("heard %v, want the disclosure, the story, then the answer to hello", heard)
	}
	if story := toneTime(pcm, e2eStory); story >= 3500*time.Millisecond {
		t.Errorf("the story played %v of 4 s: talking over it did not cut it", story)
	}
	recs, err := m.DB.Calls(context.Background(), time.Now().Add(-time.Hour))
	if err != nil || len(recs) != 1 || recs[0].Emergency || recs[0].Turns < 2 {
		t.Fatalf("records %+v %v: want one call of two turns or more, no emergency", recs, err)
	}
}

// toneTime is how long tone f is heard in pcm, in 100 ms steps.
func toneTime(pcm []int16, f float64) time.Duration {
	var d time.Duration
	for ; len(pcm) >= 800; pcm = pcm[800:] {
		if g, ok := media.DetectTone(pcm[:800], e2eTones...); ok && g == f {
			d += 100 * time.Millisecond
		}
	}
	return d
}

func subsequence(have, want []float64) bool {
	i := 0
	for _, f := range have {
		if i < len(want) && f == want[i] {
			i++
		}
	}
	return i == len(want)
}

// The phone line knows a caller by the blind index of their number, and a
// caller who signed up by the pseudonym of their subject; a withheld or
// unparseable number is anonymous. No key looks like a number.
func TestCallerDirectory(t *testing.T) {
	m, stop := startMain(t, t.TempDir(), io.Discard)
	defer stop()
	c := client{t: t, base: m.URL(), key: m.DevKey}
	const number = "+14155550123"
	subject := signupOK(t, c, number)

	d := &callerDirectory{keys: m.Keys, bindings: m.DB, region: "US", audience: "phone-line"}
	ctx := context.Background()
	bound, err := d.Caller(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	if !bound.Verified || bound.Pseudonym != m.Keys.Pseudonym("phone-line", subject) || bound.Subject != subject || len(bound.Index) == 0 {
		t.Errorf("bound caller %+v", bound)
	}
	national, _ := d.Caller(ctx, "4155550123") // as a trunk may give it, in the region
	if national.Key != bound.Key {
		t.Errorf("national form keyed %q, international %q", national.Key, bound.Key)
	}
	other, _ := d.Caller(ctx, "+14155550124")
	if other.Verified || other.Pseudonym != "" || other.Subject != "" || other.Key == bound.Key || other.Key == "" {
		t.Errorf("unbound caller %+v", other)
	}
	for _, withheld := range []string{"", "anonymous", "Anonymous", "restricted"} {
		if a, _ := d.Caller(ctx, withheld); a.Key != "anonymous" || a.Index != nil {
			t.Errorf("Caller(%q) = %+v, want anonymous", withheld, a)
		}
	}
	for _, k := range []string{bound.Key, other.Key} {
		if err := dialogue.CheckOpaque(k); err != nil || strings.Contains(k, "4155550123") {
			t.Errorf("key %q: %v", k, err)
		}
	}
}
