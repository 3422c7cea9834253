package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/voice/media"
)

// AnonymousKey is the quota key of callers whose number is withheld or not
// a number: they share one allowance.
const AnonymousKey = "anonymous"

// Defaults of LineConfig.
const (
	DefaultMaxTurn  = 30 * time.Second
	DefaultSaveTime = 10 * time.Second
	// meterEvery is how often the line looks at the clock for the quota.
	meterEvery = 100 * time.Millisecond
	// preroll is how many frames before the VAD's SpeechStart go into a
	// turn: the VAD starts after MinSpeech of speech.
	preroll = 10
)

// Caller is what the line knows of who is calling: never the number.
type Caller struct {
	// Key is the caller's quota key: the hex of Index, or AnonymousKey.
	Key string
	// Index is the blind index of the number, nil when there was none.
	Index []byte
	// Pseudonym is the pseudonym of the subject the number is bound to,
	// or "".
	Pseudonym string
	// Verified reports that the number is bound to a subject, so the
	// verified allowance applies.
	Verified bool
	// Subject is the id of the subject the number is bound to, or "". It
	// goes no further than the call's transcript, which is kept for that
	// subject alone.
	Subject string
}

// Directory finds who calls from a number.
type Directory interface {
	// Caller returns the Caller of number, as the trunk gave it: it may be
	// national, withheld or empty, and then the Caller is anonymous. It
	// returns an error only when the lookup failed.
	Caller(ctx context.Context, number string) (Caller, error)
}

// LineConfig configures a Line. Policy, Model, STT, TTS, Quota, Records
// and Callers are required; Transcripts is optional.
type LineConfig struct {
	Policy  *dialogue.Policy
	Model   dialogue.Model
	STT     dialogue.STT
	TTS     dialogue.TTS
	Quota   dialogue.Quota
	Records dialogue.Records
	Callers Directory
	// Transcripts, if set, keeps the transcript of every call whose caller
	// is bound to a subject, for that subject; nil keeps none.
	Transcripts dialogue.Transcripts
	// VAD tunes the end-of-turn detection.
	VAD media.VADConfig
	// MaxTurn ends a caller's turn that runs this long. Zero means
	// DefaultMaxTurn.
	MaxTurn time.Duration
	// Now is the clock of the quota and the records; nil means time.Now.
	Now func() time.Time
	// Logger receives the line's logs, which name calls by id only; nil
	// discards them.
	Logger *slog.Logger
	// Metrics, if set, counts calls and the latency of turns.
	Metrics *Metrics
}

// A Line is the assistant's phone line: a Handler that runs each call
// under the dialogue's policy. The disclosure is said first and cannot be
// interrupted; the caller's turns end by the VAD and go through
// speech-to-text, the policy and the model, streamed clause by clause into
// speech; the caller speaking over an answer cuts it within a frame; the
// quota warns a minute before the end and hangs up at it; the emergency
// tripwire on words and keyed digits pre-empts the model.
type Line struct {
	cfg LineConfig
	log *slog.Logger

	mu    sync.Mutex
	fixed map[string][]int16 // speech of the policy's fixed texts
}

var _ Handler = (*Line)(nil)

// NewLine checks cfg and returns a Line.
func NewLine(cfg LineConfig) (*Line, error) {
	var missing []string
	for name, ok := range map[string]bool{
		"Policy": cfg.Policy != nil, "Model": cfg.Model != nil, "STT": cfg.STT != nil, "TTS": cfg.TTS != nil,
		"Quota": cfg.Quota != nil, "Records": cfg.Records != nil, "Callers": cfg.Callers != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("voice: LineConfig lacks %v", missing)
	}
	if cfg.MaxTurn <= 0 {
		cfg.MaxTurn = DefaultMaxTurn
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Line{cfg: cfg, log: cfg.Logger, fixed: make(map[string][]int16)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l, nil
}

// speech returns the audio of one of the policy's fixed texts, kept after
// the first time: there are a handful of them.
func (l *Line) speech(ctx context.Context, text string) ([]int16, error) {
	l.mu.Lock()
	pcm, ok := l.fixed[text]
	l.mu.Unlock()
	if ok {
		return pcm, nil
	}
	pcm, err := l.cfg.TTS.Synthesize(ctx, text)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.fixed[text] = pcm
	l.mu.Unlock()
	return pcm, nil
}

// HandleCall runs one call and keeps its record.
func (l *Line) HandleCall(ctx context.Context, c *Call) {
	r := &callRun{l: l, c: c, log: l.log.With(logCall, c.ID), conv: l.cfg.Policy.NewConversation()}
	r.rec = dialogue.CallRecord{ID: c.ID, Trunk: c.Trunk, Start: l.cfg.Now()}
	r.rec.Ended = r.run(ctx)
	end := l.cfg.Now()
	r.rec.Duration = max(end.Sub(r.rec.Start), 0)
	l.cfg.Metrics.ended(r.rec.Ended)

	save, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultSaveTime)
	defer cancel()
	if r.charge {
		r.rec.Charged = dialogue.Charge(r.rec.Duration)
		if err := l.cfg.Quota.Add(save, r.caller.Key, r.rec.Start, r.rec.Charged); err != nil {
			r.log.Error("talk time not counted", logError, err)
		}
	}
	if err := l.cfg.Records.SaveCall(save, &r.rec); err != nil {
		r.log.Error("call record not saved", logError, err)
	} else if r.tr != nil && r.tr.Len() > 0 {
		if err := l.cfg.Transcripts.SaveTranscript(save, &r.rec, r.caller.Subject, r.tr); err != nil {
			r.log.Error("call transcript not saved", logError, err)
		}
	}
	r.log.Info("call done", "ended", r.rec.Ended, "duration", r.rec.Duration.Round(time.Millisecond),
		"turns", r.rec.Turns, "emergency", r.rec.Emergency)
}

// callRun is one call under way.
type callRun struct {
	l      *Line
	c      *Call
	log    *slog.Logger
	rec    dialogue.CallRecord
	caller Caller
	charge bool // count the call's time against the caller's month

	mu   sync.Mutex // guards conv and tr: turns run in their own goroutine
	conv *dialogue.Conversation
	tr   *dialogue.Transcript // nil when the call keeps none
}

// at returns the time since the call was answered, for the transcript.
func (r *callRun) at() time.Duration { return r.l.cfg.Now().Sub(r.rec.Start) }

// transcribe runs fn on the transcript, if the call keeps one.
func (r *callRun) transcribe(fn func(t *dialogue.Transcript)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tr != nil {
		fn(r.tr)
	}
}

// played plays pcm, the speech of text, and puts what of it the caller
// heard in the transcript.
func (r *callRun) played(ctx context.Context, text string, pcm []int16) error {
	at := r.at()
	n, err := r.c.Media.PlayCount(ctx, pcm)
	r.transcribe(func(t *dialogue.Transcript) {
		heard := dialogue.Heard(text, n, len(pcm))
		t.Assistant(at, heard, n < len(pcm))
	})
	return err
}

// say plays a fixed utterance whole, ignoring barge-in. It returns false
// when the call ended first.
func (r *callRun) say(ctx context.Context, u dialogue.Utterance) bool {
	pcm, err := r.l.speech(ctx, u.Text)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("speech failed", "kind", u.Kind, logError, err)
		}
		return false
	}
	return r.played(ctx, u.Text, pcm) == nil
}

// run runs the call and returns how it ended.
func (r *callRun) run(ctx context.Context) string {
	cfg := &r.l.cfg
	// The disclosure is the first audio of every call, whatever follows.
	disclosure := r.conv.Disclosure()
	pcm, err := r.l.speech(ctx, disclosure)
	if err != nil {
		r.log.Error("disclosure speech failed: call not served", logError, err)
		return r.ended(ctx, dialogue.EndUnavailable)
	}
	r.rec.DisclosureHash = dialogue.Fingerprint(pcm)

	left, err := r.lookup(ctx)
	if err := r.played(ctx, disclosure, pcm); err != nil {
		return r.ended(ctx, dialogue.EndError)
	}
	if err != nil {
		r.log.Error("caller lookup failed: call not served", logError, err)
		r.say(ctx, dialogue.Utterance{Kind: dialogue.KindError, Text: cfg.Policy.Config().UnavailableMessage})
		return r.ended(ctx, dialogue.EndUnavailable)
	}
	opening := r.conv.Opening(left)
	for _, u := range opening[1:] {
		r.say(ctx, u)
	}
	if left <= 0 {
		return r.ended(ctx, dialogue.EndNoMinutes)
	}
	r.charge = true
	return r.converse(ctx, cfg.Policy.NewMeter(left))
}

// lookup finds the caller and what they have left this month.
func (r *callRun) lookup(ctx context.Context) (time.Duration, error) {
	cfg := &r.l.cfg
	caller, err := cfg.Callers.Caller(ctx, r.c.From)
	if err != nil {
		return 0, err
	}
	r.caller = caller
	r.rec.CallerIndex, r.rec.Pseudonym = caller.Index, caller.Pseudonym
	if caller.Subject != "" && cfg.Transcripts != nil {
		r.mu.Lock()
		r.tr = new(dialogue.Transcript)
		r.mu.Unlock()
	}
	return cfg.Policy.Remaining(ctx, cfg.Quota, caller.Key, caller.Verified, r.rec.Start)
}

// ended returns how a call ended that the line did not end itself, or
// mine when it is still up (the line ends it).
func (r *callRun) ended(ctx context.Context, mine string) string {
	if ctx.Err() == nil {
		return mine
	}
	switch r.c.Reason() {
	case ReasonRemoteBye:
		return dialogue.EndCallerHangup
	case ReasonMediaTimeout:
		return dialogue.EndMediaTimeout
	case ReasonShutdown:
		return dialogue.EndShutdown
	}
	return dialogue.EndError
}

// turnDone is the end of an answer: what the caller heard of it.
type turnDone struct {
	emergency *dialogue.Utterance // the tripwire tripped on the transcript
	answered  bool
}

// converse runs the turns until the call ends or the quota does.
func (r *callRun) converse(ctx context.Context, meter *dialogue.Meter) string {
	cfg := &r.l.cfg
	vad := media.NewVAD(cfg.VAD)
	var (
		heard    []int16 // the caller's turn so far
		recent   [][]int16
		lastLoud time.Time
		stopTurn context.CancelFunc = func() {}
		turnEnd  chan turnDone      // nil when no turn runs
		fixed    = make(chan struct{}, 8)
		saying   int // fixed utterances playing
		wg       sync.WaitGroup
	)
	defer func() {
		stopTurn()
		wg.Wait()
	}()
	// sayAsync plays a fixed utterance beside the turns, not interruptible.
	sayAsync := func(u dialogue.Utterance) {
		saying++
		wg.Go(func() {
			r.say(ctx, u)
			fixed <- struct{}{}
		})
	}
	bargeIn := func() {
		if turnEnd == nil {
			return
		}
		stopTurn()
		if saying == 0 {
			r.c.Media.StopPlayback()
		}
	}
	emergency := func(u dialogue.Utterance) {
		r.rec.Emergency = true
		bargeIn()
		sayAsync(u)
	}
	finish := func(d turnDone) {
		turnEnd = nil
		if d.answered {
			r.rec.Turns++
		}
		if d.emergency != nil {
			emergency(*d.emergency)
		}
	}
	tick := time.NewTicker(meterEvery)
	defer tick.Stop()
	checkMeter := func() (goodbye bool) {
		u, ok := meter.Check(cfg.Now().Sub(r.rec.Start))
		if !ok {
			return false
		}
		if !u.Hangup {
			sayAsync(u)
			return false
		}
		bargeIn()
		wg.Wait()
		r.say(ctx, u)
		return true
	}
	if checkMeter() {
		return r.ended(ctx, dialogue.EndQuota)
	}
	frames, digits := r.c.Media.Frames(), r.c.Media.DTMF()
	// What the caller said over the opening is no turn.
	for drained := false; !drained; {
		select {
		case <-frames:
		default:
			drained = true
		}
	}
	for {
		select {
		case <-ctx.Done():
			stopTurn()
			wg.Wait()
			if turnEnd != nil { // the turn under way when the call ended
				d := <-turnEnd
				r.rec.Emergency = r.rec.Emergency || d.emergency != nil
				if d.answered {
					r.rec.Turns++
				}
			}
			return r.ended(ctx, dialogue.EndError)
		case <-tick.C:
			if checkMeter() {
				return r.ended(ctx, dialogue.EndQuota)
			}
		case <-fixed:
			saying--
		case d := <-turnEnd:
			finish(d)
		case digit, ok := <-digits:
			if !ok {
				digits = nil // the media stopped: the call is ending
				continue
			}
			r.mu.Lock()
			dec := r.conv.Digit(digit, cfg.Now())
			if r.tr != nil {
				r.tr.Keyed(r.at())
			}
			r.mu.Unlock()
			if u, ok := dec.Utterance(); ok && dec.Action == dialogue.Emergency {
				r.log.Info("emergency tripwire", "on", "digits")
				emergency(u)
			}
		case f, ok := <-frames:
			if !ok {
				frames = nil
				continue
			}
			pcm := append([]int16(nil), f.PCM...)
			if media.Level(pcm) > -45 {
				lastLoud = cfg.Now()
			}
			ev := vad.Process(pcm)
			if saying > 0 {
				// The caller talks over a fixed message: it is not
				// interrupted, and what they say is not a turn.
				heard, recent = nil, nil
				continue
			}
			if !vad.Speaking() && ev != media.SpeechEnd {
				recent = append(recent, pcm)
				if len(recent) > preroll {
					recent = recent[1:]
				}
				continue
			}
			if ev == media.SpeechStart {
				bargeIn()
				for _, p := range recent {
					heard = append(heard, p...)
				}
				recent = nil
			}
			heard = append(heard, pcm...)
			long := len(heard) >= int(cfg.MaxTurn/media.FrameDuration)*media.FrameSamples
			if ev != media.SpeechEnd && !long {
				continue
			}
			eot := cfg.Now()
			if !lastLoud.IsZero() {
				cfg.Metrics.observe(StageEndOfTurn, eot.Sub(lastLoud))
			}
			if turnEnd != nil { // a turn cut short: this one follows it
				stopTurn()
				finish(<-turnEnd)
			}
			var tctx context.Context
			tctx, stopTurn = cancelable(ctx)
			turnEnd = make(chan turnDone, 1)
			speech, done := heard, turnEnd
			r.log.Debug("turn ended", "audio", time.Duration(len(speech))*time.Second/media.SampleRate)
			heard = nil
			wg.Go(func() { done <- r.turn(tctx, speech, eot) })
		}
	}
}

// cancelable returns a context that its CancelFunc ends, kept by the
// caller beyond the statement (the turn it stops).
func cancelable(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}

// spokenClause is a clause of an answer and its speech.
type spokenClause struct {
	text string
	pcm  []int16
}

// turn answers what the caller said in pcm, their turn having ended at
// eot: speech-to-text, the policy, then the model streamed clause by
// clause into speech, each clause played as soon as it is synthesized.
// Cancelling ctx (barge-in) stops it within a frame; the conversation
// keeps what the caller heard.
func (r *callRun) turn(ctx context.Context, pcm []int16, eot time.Time) turnDone {
	cfg := &r.l.cfg
	m := cfg.Metrics
	t := cfg.Now()
	text, err := cfg.STT.Transcribe(ctx, pcm)
	engines := cfg.Now().Sub(t)
	m.observe(StageSTT, engines)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("speech-to-text failed", logError, err)
			r.sayCut(ctx, cfg.Policy.Config().ErrorMessage)
		}
		return turnDone{}
	}
	r.mu.Lock()
	dec := r.conv.Hear(text)
	prompt := r.conv.Prompt()
	if r.tr != nil {
		// The turn began when the caller started speaking.
		r.tr.Caller(max(eot.Sub(r.rec.Start)-time.Duration(len(pcm))*time.Second/media.SampleRate, 0), text)
	}
	r.mu.Unlock()
	r.log.Debug("turn heard", "chars", len(text), "action", dec.Action.String())
	switch dec.Action {
	case dialogue.Wait:
		return turnDone{}
	case dialogue.Emergency:
		r.log.Info("emergency tripwire", "on", "words")
		u, _ := dec.Utterance()
		return turnDone{emergency: &u, answered: true}
	case dialogue.Refuse:
		r.log.Info("restricted topic refused", "on", "words")
		r.sayCut(ctx, dec.Say)
		return turnDone{answered: true}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clauses := make(chan dialogue.Clause, 64)
	audio := make(chan spokenClause, 2)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before the Wait: stop the model and speech first
	var streamErr error
	var modelTime, ttsTime time.Duration
	wg.Go(func() {
		defer close(clauses)
		asked, first := cfg.Now(), true
		streamErr = cfg.Policy.Stream(ctx, firstToken{cfg.Model, func() {
			if first {
				first = false
				d := cfg.Now().Sub(asked)
				modelTime = d
				m.observe(StageFirstToken, d)
			}
		}}, prompt, func(c dialogue.Clause) {
			select {
			case clauses <- c:
			case <-ctx.Done():
			}
		})
	})
	wg.Go(func() {
		defer close(audio)
		first := true
		for c := range clauses {
			t := cfg.Now()
			pcm, err := cfg.TTS.Synthesize(ctx, c.Text)
			if first {
				ttsTime = cfg.Now().Sub(t)
			}
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("speech failed", logError, err)
				}
				return
			}
			if first {
				first = false
				m.observe(StageFirstAudio, cfg.Now().Sub(eot))
			}
			select {
			case audio <- spokenClause{c.Text, pcm}:
			case <-ctx.Done():
				return
			}
		}
	})
	var parts []dialogue.Spoken
	var began time.Duration
	for a := range audio {
		if len(parts) == 0 {
			began = r.at()
			playout := cfg.Now().Sub(eot)
			m.observe(StagePlayout, playout)
			m.observe(StageAdded, max(playout-engines-modelTime-ttsTime, 0))
		}
		n, err := r.c.Media.PlayCount(ctx, a.pcm)
		parts = append(parts, dialogue.Spoken{Text: a.text, Played: n, Total: len(a.pcm)})
		if err != nil {
			cancel()
			break
		}
	}
	for range audio { // unblock the speech goroutine after a cut
	}
	r.mu.Lock()
	heard, cut := r.conv.Said(parts)
	if r.tr != nil {
		r.tr.Assistant(began, heard, cut)
	}
	r.mu.Unlock()
	if len(parts) == 0 && ctx.Err() == nil {
		if streamErr != nil {
			r.log.Warn("model failed", logError, streamErr)
		}
		r.sayCut(ctx, cfg.Policy.Config().ErrorMessage)
	}
	return turnDone{answered: true}
}

// sayCut plays a fixed text that barge-in may cut.
func (r *callRun) sayCut(ctx context.Context, text string) {
	pcm, err := r.l.speech(ctx, text)
	if err != nil {
		return
	}
	if err := r.played(ctx, text, pcm); err != nil && !errors.Is(err, media.ErrInterrupted) && ctx.Err() == nil {
		r.log.Debug("play failed", logError, err)
	}
}

// firstToken is a Model that reports its first token.
type firstToken struct {
	dialogue.Model
	first func()
}

func (f firstToken) Chat(ctx context.Context, msgs []dialogue.Message, onToken func(string)) (string, error) {
	return f.Model.Chat(ctx, msgs, func(s string) {
		f.first()
		onToken(s)
	})
}
