package voice

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/voice/media"
)

// The audio signatures of the tests: what the caller says is a tone that
// the fake speech-to-text turns into words; what the assistant says is
// text that the fake text-to-speech turns into a tone.
const (
	toneDisclosure  = 500.0
	toneHello       = 600.0 // caller: "hello"
	toneAnswer1     = 700.0 // "Hi there."
	toneSOS         = 800.0 // caller: "please call 911"
	toneWarning     = 900.0
	toneStoryAsk    = 1000.0 // caller: "tell me a story"
	toneGoodbye     = 1100.0
	toneNoMinutes   = 1300.0
	toneEmergency   = 1500.0
	toneRefusal     = 1700.0
	toneTopic       = 1800.0 // caller: "give me stock tips"
	toneError       = 1900.0
	toneUnavailable = 2100.0
	toneAnswer2     = 2300.0 // "How can I help?"
	toneStory       = 2500.0 // a long answer
)

var allTones = []float64{toneDisclosure, toneHello, toneAnswer1, toneSOS, toneWarning, toneStoryAsk, toneGoodbye,
	toneNoMinutes, toneEmergency, toneRefusal, toneTopic, toneError, toneUnavailable, toneAnswer2, toneStory}

const story = "Once upon a time a phone line told stories to everyone."

// fakeSTT hears the caller's tones as words.
type fakeSTT struct{}

func (fakeSTT) Transcribe(ctx context.Context, pcm []int16) (string, error) {
	f, ok := media.DetectTone(pcm, toneHello, toneSOS, toneStoryAsk, toneTopic)
	if !ok {
		return "", nil
	}
	return map[float64]string{
		toneHello: "hello", toneSOS: "please call 911", toneStoryAsk: "tell me a story", toneTopic: "give me stock tips",
	}[f], nil
}

// fakeTTS speaks each known text as its tone.
type fakeTTS struct {
	mu    sync.Mutex
	texts []string
}

var ttsTones = map[string]struct {
	freq float64
	d    time.Duration
}{
	dialogue.DefaultDisclosure:         {toneDisclosure, 600 * time.Millisecond},
	"Hi there.":                        {toneAnswer1, 400 * time.Millisecond},
	"How can I help?":                  {toneAnswer2, 400 * time.Millisecond},
	dialogue.DefaultWarningMessage:     {toneWarning, 400 * time.Millisecond},
	dialogue.DefaultGoodbyeMessage:     {toneGoodbye, 400 * time.Millisecond},
	dialogue.DefaultNoMinutesMessage:   {toneNoMinutes, 400 * time.Millisecond},
	dialogue.DefaultEmergencyMessage:   {toneEmergency, 600 * time.Millisecond},
	dialogue.DefaultRefusalMessage:     {toneRefusal, 400 * time.Millisecond},
	dialogue.DefaultErrorMessage:       {toneError, 400 * time.Millisecond},
	dialogue.DefaultUnavailableMessage: {toneUnavailable, 400 * time.Millisecond},
	story:                              {toneStory, 4 * time.Second},
}

func (t *fakeTTS) Synthesize(ctx context.Context, text string) ([]int16, error) {
	t.mu.Lock()
	t.texts = append(t.texts, text)
	t.mu.Unlock()
	s, ok := ttsTones[text]
	if !ok {
		return nil, fmt.Errorf("fake TTS: no tone for %q", text)
	}
	return media.Tone(s.freq, s.d, 0.3), nil
}

// fakeModel answers "hello" with two clauses and a story request with a
// long one, and records every prompt.
type fakeModel struct {
	mu      sync.Mutex
	prompts [][]dialogue.Message
}

func (m *fakeModel) Chat(ctx context.Context, msgs []dialogue.Message, onToken func(string)) (string, error) {
	m.mu.Lock()
	m.prompts = append(m.prompts, msgs)
	m.mu.Unlock()
	answer := "Hi there. How can I help?"
	if strings.Contains(msgs[len(msgs)-1].Content, "story") {
		answer = story
	}
	for _, w := range strings.SplitAfter(answer, " ") {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		onToken(w)
	}
	return answer, nil
}

func (m *fakeModel) calls() [][]dialogue.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.prompts)
}

// fakeDirectory keys callers by a hash of their number, as a blind index
// would, and knows one verified subject.
type fakeDirectory struct {
	fail bool
}

func (d fakeDirectory) Caller(ctx context.Context, number string) (Caller, error) {
	if d.fail {
		return Caller{}, errors.New("directory down")
	}
	if number == "" || number == "anonymous" {
		return Caller{Key: AnonymousKey}, nil
	}
	sum := sha256.Sum256([]byte("index" + number))
	c := Caller{Index: sum[:], Key: hex.EncodeToString(sum[:])}
	if number == "+14155550199" {
		c.Pseudonym, c.Verified, c.Subject = "pseudonymofverifiedsubject", true, "sub_verifiedsubject"
	}
	return c, nil
}

// recordBook keeps call records in memory.
type recordBook struct {
	mu   sync.Mutex
	recs []dialogue.CallRecord
	got  chan struct{}
}

func (b *recordBook) SaveCall(ctx context.Context, r *dialogue.CallRecord) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b.mu.Lock()
	b.recs = append(b.recs, *r)
	b.mu.Unlock()
	select {
	case b.got <- struct{}{}:
	default: // a flood: nobody waits for each record
	}
	return nil
}

// next waits for the next record.
func (b *recordBook) next(t testing.TB) dialogue.CallRecord {
	t.Helper()
	select {
	case <-b.got:
	case <-time.After(wait):
		t.Fatal("no call record saved")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recs[len(b.recs)-1]
}

// transcriptBook keeps transcripts in memory.
type transcriptBook struct {
	mu   sync.Mutex
	kept []keptTranscript
	got  chan struct{}
}

type keptTranscript struct {
	rec     dialogue.CallRecord
	subject string
	lines   []dialogue.TranscriptLine
	json    string
}

func (b *transcriptBook) SaveTranscript(ctx context.Context, r *dialogue.CallRecord, subjectID string, t *dialogue.Transcript) error {
	data, err := t.MarshalJSON()
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.kept = append(b.kept, keptTranscript{*r, subjectID, t.Lines(), string(data)})
	b.mu.Unlock()
	select {
	case b.got <- struct{}{}:
	default:
	}
	return nil
}

// next waits for the next transcript.
func (b *transcriptBook) next(t testing.TB) keptTranscript {
	t.Helper()
	select {
	case <-b.got:
	case <-time.After(wait):
		t.Fatal("no transcript saved")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kept[len(b.kept)-1]
}

func (b *transcriptBook) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.kept)
}

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// phoneLine is a Server running a Line with fake engines.
type phoneLine struct {
	srv     *Server
	addr    netip.AddrPort
	model   *fakeModel
	tts     *fakeTTS
	quota   *dialogue.MemoryQuota
	records *recordBook
	texts   *transcriptBook
	clock   *clock
	policy  *dialogue.Policy
}

type lineOptions struct {
	policy       dialogue.Config
	directory    fakeDirectory
	maxCalls     int
	metrics      *Metrics
	realClock    bool // the wall clock instead of the test clock, for latency
	logger       *slog.Logger
	ringFor      time.Duration
	trunk        string  // the network calls are accepted from; "" is loopback
	trunks       []Trunk // instead of trunk
	mediaTimeout time.Duration
}

func startLine(t testing.TB, o lineOptions) *phoneLine {
	t.Helper()
	if o.policy.Allowance == 0 {
		o.policy.Allowance = 10 * time.Minute
	}
	policy, err := dialogue.NewPolicy(o.policy)
	if err != nil {
		t.Fatal(err)
	}
	p := &phoneLine{
		model: &fakeModel{}, tts: &fakeTTS{}, quota: dialogue.NewMemoryQuota(),
		records: &recordBook{got: make(chan struct{}, 64)},
		texts:   &transcriptBook{got: make(chan struct{}, 64)},
		clock:   &clock{t: time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)},
		policy:  policy,
	}
	now := p.clock.Now
	if o.realClock {
		now = time.Now
	}
	line, err := NewLine(LineConfig{
		Policy: policy, Model: p.model, STT: fakeSTT{}, TTS: p.tts, Quota: p.quota, Records: p.records,
		Transcripts: p.texts, Callers: o.directory, Now: now, Logger: cmp.Or(o.logger, testLog(t)), Metrics: o.metrics,
		VAD: media.VADConfig{EndSilence: 300 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	trunks := o.trunks
	if trunks == nil {
		trunks = []Trunk{{Name: "trunk", Networks: []netip.Prefix{netip.MustParsePrefix(cmp.Or(o.trunk, "127.0.0.0/8"))}}}
	}
	p.srv, err = New(Config{
		Addr:       "127.0.0.1:0",
		RTPPortMin: 41000, RTPPortMax: 41998,
		Trunks:       trunks,
		MediaTimeout: o.mediaTimeout,
		MaxCalls:     o.maxCalls,
		RingFor:      o.ringFor,
		Logger:       cmp.Or(o.logger, testLog(t)),
	}, line)
	if err != nil {
		t.Fatal(err)
	}
	p.addr, _ = p.srv.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

// call places a call from number and returns its parts once answered.
func (p *phoneLine) call(t testing.TB, number string) (*uac, *caller, *sip.Response) {
	t.Helper()
	u := newUAC(t, p.addr, number)
	c := newCaller(t)
	u.invite(offer(c.port(), "0 8 101"))
	res := u.final()
	if res.StatusCode != 200 {
		t.Fatalf("INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	remote := u.ack(res)
	c.run(remote)
	return u, c, res
}

func TestLineDisclosureAnswerQuota(t *testing.T) {
	p := startLine(t, lineOptions{})
	const number = "+14155550123"
	u, c, _ := p.call(t, number)

	// The disclosure first, whole, even though the caller talks over it.
	c.speak(toneHello, 300*time.Millisecond)
	c.waitFor(allTones, toneDisclosure)
	c.waitQuiet()
	// A turn: the answer comes back clause by clause.
	c.speak(toneHello, 600*time.Millisecond)
	rec := c.waitFor(allTones, toneDisclosure, toneAnswer1, toneAnswer2)
	if seq := sequence(rec, allTones); seq[0] != toneDisclosure {
		t.Fatalf("first heard %v, want the disclosure", seq)
	}
	if d := heardFor(rec, toneDisclosure, allTones); d < 500*time.Millisecond {
		t.Errorf("disclosure heard for %v of 600ms: it was cut", d)
	}

	// A minute before the end: the warning. At the end: goodbye, hang-up.
	p.clock.Advance(9 * time.Minute)
	c.waitFor(allTones, toneAnswer2, toneWarning)
	p.clock.Advance(time.Minute)
	c.waitFor(allTones, toneWarning, toneGoodbye)
	u.waitBye()

	r := p.records.next(t)
	if r.Ended != dialogue.EndQuota || r.Turns < 1 || r.Emergency {
		t.Errorf("record %+v", r)
	}
	pcm, _ := p.tts.Synthesize(context.Background(), dialogue.DefaultDisclosure)
	if r.DisclosureHash != dialogue.Fingerprint(pcm) {
		t.Errorf("disclosure hash %q, want the fingerprint of the disclosure audio", r.DisclosureHash)
	}
	if r.Charged != 10*time.Minute || r.Duration != 10*time.Minute {
		t.Errorf("charged %v for %v, want 10m", r.Charged, r.Duration)
	}
	checkNoNumber(t, r, number)

	// The next call that month hears the disclosure, then that no minutes
	// are left, and is hung up.
	u2, c2, _ := p.call(t, number)
	c2.waitFor(allTones, toneDisclosure, toneNoMinutes)
	u2.waitBye()
	if r := p.records.next(t); r.Ended != dialogue.EndNoMinutes || r.Charged != 0 {
		t.Errorf("second call record %+v", r)
	}
	// Another number has its own minutes.
	_, c3, _ := p.call(t, "+14155550124")
	c3.waitFor(allTones, toneDisclosure)
	c3.waitQuiet()
	c3.speak(toneHello, 600*time.Millisecond)
	c3.waitFor(allTones, toneDisclosure, toneAnswer1)
}

// checkNoNumber fails when a record holds the number in any form.
func checkNoNumber(t testing.TB, r dialogue.CallRecord, number string) {
	t.Helper()
	s := fmt.Sprintf("%+v %x %s", r, r.CallerIndex, r.CallerIndex)
	digits := strings.TrimPrefix(number, "+")
	if strings.Contains(s, digits) || strings.Contains(s, digits[1:]) || strings.Contains(s, digits[len(digits)-7:]) {
		t.Errorf("the call record holds the number: %s", s)
	}
}

func TestLineBargeInKeepsWhatWasHeard(t *testing.T) {
	p := startLine(t, lineOptions{})
	u, c, ok := p.call(t, "+14155550123")
	c.waitFor(allTones, toneDisclosure)
	c.waitQuiet()
	c.speak(toneStoryAsk, 600*time.Millisecond)
	c.waitFor(allTones, toneDisclosure, toneStory)
	// Talk over the 4 s story: it stops, and the next answer follows.
	c.speak(toneHello, 600*time.Millisecond)
	rec := c.waitFor(allTones, toneStory, toneAnswer1, toneAnswer2)
	if d := heardFor(rec, toneStory, allTones); d >= 3*time.Second {
		t.Errorf("the story played %v of 4s after barge-in", d)
	}
	calls := p.model.calls()
	if len(calls) < 2 {
		t.Fatalf("%d model calls", len(calls))
	}
	// The model is told only what the caller heard of the story, cut.
	var told string
	for _, m := range calls[len(calls)-1] {
		if m.Role == dialogue.Assistant && strings.HasPrefix(m.Content, "Once") {
			told = m.Content
		}
	}
	if !strings.HasSuffix(told, "...") || strings.Contains(told, "everyone") {
		t.Errorf("history has %q of the story, want the part heard and a cut", told)
	}
	u.bye(ok)
	if r := p.records.next(t); r.Ended != dialogue.EndCallerHangup || r.Turns != 2 {
		t.Errorf("record %+v", r)
	}
}

// TestLineEmergency says or keys an emergency number over a long answer:
// the answer stops, the fixed emergency message plays, the model is not
// asked, and the record says so.
func TestLineEmergency(t *testing.T) {
	for name, interrupt := range map[string]func(t *testing.T, c *caller){
		"said": func(t *testing.T, c *caller) { c.speak(toneSOS, 600*time.Millisecond) },
		"keyed": func(t *testing.T, c *caller) {
			for _, d := range "911" {
				if err := c.sess.SendDTMF(context.Background(), d, 100*time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := startLine(t, lineOptions{})
			u, c, ok := p.call(t, "+14155550123")
			c.waitFor(allTones, toneDisclosure)
			c.waitQuiet()
			c.speak(toneStoryAsk, 600*time.Millisecond)
			c.waitFor(allTones, toneStory)
			interrupt(t, c)
			rec := c.waitFor(allTones, toneStory, toneEmergency)
			if d := heardFor(rec, toneStory, allTones); d >= 3*time.Second {
				t.Errorf("the story played %v of 4s", d)
			}
			if n := len(p.model.calls()); n != 1 {
				t.Errorf("the model was asked %d times, want once (the story)", n)
			}
			u.bye(ok)
			if r := p.records.next(t); !r.Emergency {
				t.Errorf("record %+v: no emergency", r)
			}
		})
	}
}

func TestLineRestrictedTopic(t *testing.T) {
	p := startLine(t, lineOptions{policy: dialogue.Config{RestrictedTopics: []string{"stock tips"}}})
	_, c, _ := p.call(t, "+14155550123")
	c.waitFor(allTones, toneDisclosure)
	c.waitQuiet()
	c.speak(toneTopic, 600*time.Millisecond)
	c.waitFor(allTones, toneDisclosure, toneRefusal)
	if n := len(p.model.calls()); n != 0 {
		t.Errorf("the model was asked %d times about a restricted topic", n)
	}
}

func TestLineUnavailable(t *testing.T) {
	p := startLine(t, lineOptions{directory: fakeDirectory{fail: true}})
	u, c, _ := p.call(t, "+14155550123")
	c.waitFor(allTones, toneDisclosure, toneUnavailable)
	u.waitBye()
	if r := p.records.next(t); r.Ended != dialogue.EndUnavailable || r.Charged != 0 {
		t.Errorf("record %+v", r)
	}
}

func TestLineVerifiedAllowanceAndAnonymous(t *testing.T) {
	ctx := context.Background()
	p := startLine(t, lineOptions{policy: dialogue.Config{Allowance: time.Minute, VerifiedAllowance: 2 * time.Minute}})
	// The verified caller has used 90 s: 30 s are left, less than the
	// warning's minute, so the warning comes at once.
	d := fakeDirectory{}
	v, _ := d.Caller(ctx, "+14155550199")
	p.quota.Add(ctx, v.Key, p.clock.Now(), 90*time.Second)
	_, c, _ := p.call(t, "+14155550199")
	c.waitFor(allTones, toneDisclosure, toneWarning)

	// Withheld numbers share one allowance, used up here.
	p.quota.Add(ctx, AnonymousKey, p.clock.Now(), time.Minute)
	u, c2, _ := p.call(t, "anonymous")
	c2.waitFor(allTones, toneDisclosure, toneNoMinutes)
	u.waitBye()
	if r := p.records.next(t); r.CallerIndex != nil || r.Pseudonym != "" || r.Ended != dialogue.EndNoMinutes {
		t.Errorf("anonymous record %+v", r)
	}
}

func TestLineCallCap(t *testing.T) {
	p := startLine(t, lineOptions{maxCalls: 1})
	_, c, _ := p.call(t, "+14155550123")
	c.waitFor(allTones, toneDisclosure)
	u := newUAC(t, p.addr, "+14155550124")
	c2 := newCaller(t)
	u.invite(offer(c2.port(), "0 101"))
	if res := u.final(); res.StatusCode != 486 {
		t.Fatalf("INVITE over the cap answered %d, want 486", res.StatusCode)
	}
}

const boundNumber = "+14155550199" // bound to sub_verifiedsubject by fakeDirectory

// transcriptText is a transcript as "speaker: text" lines.
func transcriptText(ls []dialogue.TranscriptLine) []string {
	var out []string
	for _, l := range ls {
		out = append(out, string(l.Speaker)+": "+l.Text)
	}
	return out
}

func TestLineTranscript(t *testing.T) {
	p := startLine(t, lineOptions{realClock: true})
	u, c, ok := p.call(t, boundNumber)
	c.waitFor(allTones, toneDisclosure)
	c.waitQuiet()
	c.speak(toneHello, 600*time.Millisecond)
	c.waitFor(allTones, toneDisclosure, toneAnswer1, toneAnswer2)
	c.waitQuiet()
	c.speak(toneStoryAsk, 600*time.Millisecond)
	c.waitFor(allTones, toneAnswer2, toneStory)
	// Over the story, well after it began (a turn is stamped from its
	// pre-roll, up to 200 ms before the speech): it is cut.
	time.Sleep(500 * time.Millisecond)
	c.speak(toneHello, 600*time.Millisecond)
	c.waitFor(allTones, toneStory, toneAnswer1, toneAnswer2)
	c.waitQuiet()
	u.bye(ok)

	rec := p.records.next(t)
	kt := p.texts.next(t)
	if kt.rec.ID != rec.ID || kt.subject != "sub_verifiedsubject" {
		t.Fatalf("transcript of call %q for %q, want call %q for sub_verifiedsubject", kt.rec.ID, kt.subject, rec.ID)
	}
	got := transcriptText(kt.lines)
	t.Logf("transcript:\n%s", strings.Join(got, "\n"))
	want := []string{
		"assistant: " + dialogue.DefaultDisclosure,
		"caller: hello",
		"assistant: Hi there. How can I help?",
		"caller: tell me a story",
		"", // the story, cut
		"caller: hello",
		"assistant: Hi there. How can I help?",
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i, w := range want {
		if w != "" && got[i] != w {
			t.Errorf("line %d = %q, want %q", i, got[i], w)
		}
	}
	cutStory := got[4]
	if !strings.HasPrefix(cutStory, "assistant: Once") || !strings.HasSuffix(cutStory, "...") || strings.Contains(cutStory, "everyone") {
		t.Errorf("story line %q: want what was heard of it, ending with ...", cutStory)
	}
	for i := 1; i < len(kt.lines); i++ {
		if kt.lines[i].At < kt.lines[i-1].At {
			t.Errorf("line %d at %v comes after line %d at %v", i, kt.lines[i].At, i-1, kt.lines[i-1].At)
		}
	}
	if last := kt.lines[len(kt.lines)-1].At; last <= 0 || last > rec.Duration {
		t.Errorf("last line at %v of a %v call", last, rec.Duration)
	}
	// The caller's turn is placed where they began to speak: before the answer.
	if kt.lines[3].At >= kt.lines[4].At {
		t.Errorf("the story ask at %v is not before the story at %v", kt.lines[3].At, kt.lines[4].At)
	}
}

func TestLineTranscriptKeyedDigits(t *testing.T) {
	p := startLine(t, lineOptions{})
	u, c, ok := p.call(t, boundNumber)
	c.waitFor(allTones, toneDisclosure)
	c.waitQuiet()
	for _, d := range "4711" {
		if err := c.sess.SendDTMF(context.Background(), d, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	c.speak(toneHello, 600*time.Millisecond)
	c.waitFor(allTones, toneDisclosure, toneAnswer1, toneAnswer2)
	c.waitQuiet()
	// An emergency number keyed, after a pause that ends the first
	// sequence: its digits are not kept either.
	p.clock.Advance(4 * time.Second)
	for _, d := range "112" {
		if err := c.sess.SendDTMF(context.Background(), d, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	c.waitFor(allTones, toneAnswer2, toneEmergency)
	c.waitQuiet()
	u.bye(ok)

	kt := p.texts.next(t)
	got := transcriptText(kt.lines)
	t.Logf("transcript:\n%s", strings.Join(got, "\n"))
	want := []string{
		"assistant: " + dialogue.DefaultDisclosure,
		"caller: [keyed 4 digits]",
		"caller: hello",
		"assistant: Hi there. How can I help?",
		"caller: [keyed 3 digits]",
		"assistant: " + dialogue.DefaultEmergencyMessage,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("transcript:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, digits := range []string{"4711", "112"} {
		if strings.Contains(kt.json, digits) {
			t.Errorf("the transcript holds the keyed digits %s: %s", digits, kt.json)
		}
	}
}

func TestLineNoTranscriptWithoutSubject(t *testing.T) {
	p := startLine(t, lineOptions{})
	for _, number := range []string{"+14155550123", "anonymous"} {
		u, c, ok := p.call(t, number)
		c.waitFor(allTones, toneDisclosure)
		c.waitQuiet()
		c.speak(toneHello, 600*time.Millisecond)
		c.waitFor(allTones, toneDisclosure, toneAnswer1, toneAnswer2)
		u.bye(ok)
		if r := p.records.next(t); r.Turns != 1 {
			t.Errorf("%s: record %+v", number, r)
		}
	}
	// A bound caller's call is kept, and is the only one.
	u, c, ok := p.call(t, boundNumber)
	c.waitFor(allTones, toneDisclosure)
	u.bye(ok)
	p.records.next(t)
	kt := p.texts.next(t)
	if n := p.texts.count(); n != 1 || kt.subject != "sub_verifiedsubject" {
		t.Errorf("%d transcripts kept, the last for %q; want only the bound caller's", n, kt.subject)
	}
}
