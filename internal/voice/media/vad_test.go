package media

import (
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// speechLike returns d of a voiced sound: a 130 Hz buzz with harmonics
// falling off above 500 Hz, its loudness moving like syllables at 4 Hz
// with short dips between them, at about level dBFS.
func speechLike(d time.Duration, level float64) []int16 {
	n := int(d * SampleRate / time.Second)
	pcm := make([]float64, n)
	var sum float64
	for i := range pcm {
		tm := float64(i) / SampleRate
		var v float64
		for h := 1; h*130 < 3400; h++ {
			f := float64(h * 130)
			v += math.Sin(2*math.Pi*f*tm+float64(h)) / (1 + f/500)
		}
		syllable := math.Sin(math.Pi * math.Mod(tm*4, 1)) // 0 between syllables
		v *= 0.05 + syllable
		pcm[i] = v
		sum += v * v
	}
	scale := 32768 * math.Pow(10, level/20) / math.Sqrt(sum/float64(n))
	out := make([]int16, n)
	for i, v := range pcm {
		out[i] = int16(min(max(v*scale, math.MinInt16), math.MaxInt16))
	}
	return out
}

func silent(d time.Duration) []int16 { return make([]int16, int(d*SampleRate/time.Second)) }

type vadEvent struct {
	ev Event
	at time.Duration // start of the frame that caused it
}

// runVAD feeds pcm to a VAD frame by frame and returns its events.
func runVAD(cfg VADConfig, pcm []int16) []vadEvent {
	v := NewVAD(cfg)
	var evs []vadEvent
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		if ev := v.Process(pcm[i : i+FrameSamples]); ev != None {
			evs = append(evs, vadEvent{ev, time.Duration(i) * time.Second / SampleRate})
		}
	}
	return evs
}

// checkEvents compares events with the wanted ones, each within its window.
func checkEvents(t *testing.T, got []vadEvent, want []vadWindow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("events %v, want %d: %v", got, len(want), want)
	}
	for i, w := range want {
		if got[i].ev != w.ev || got[i].at < w.from || got[i].at > w.to {
			t.Errorf("event %d is %v at %v, want %v in %v-%v", i, got[i].ev, got[i].at, w.ev, w.from, w.to)
		}
	}
}

type vadWindow struct {
	ev       Event
	from, to time.Duration
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestVADSynthetic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noise  float64 // dBFS
		speech float64
	}{
		{"quiet line", -60, -20},
		{"noisy line", -40, -20},
		{"quiet talker", -60, -35},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 1 s noise, 1.5 s speech, 1.5 s noise, 0.8 s speech, a 0.5 s
			// pause, 0.5 s speech, 2 s noise.
			pcm := slices.Concat(
				silent(ms(1000)), speechLike(ms(1500), tc.speech), silent(ms(1500)),
				speechLike(ms(800), tc.speech), silent(ms(500)), speechLike(ms(500), tc.speech),
				silent(ms(2000)))
			pcm = g711(mix(pcm, noise(len(pcm), tc.noise, 7)), lawMu)
			checkEvents(t, runVAD(VADConfig{}, pcm), []vadWindow{
				{SpeechStart, ms(1000), ms(1250)},
				{SpeechEnd, ms(2500 + 600), ms(2500 + 760)},
				{SpeechStart, ms(4000), ms(4250)},
				// the 0.5 s pause is shorter than the 0.7 s hangover
				{SpeechEnd, ms(5800 + 600), ms(5800 + 760)},
			})
		})
	}
}

func TestVADConfig(t *testing.T) {
	pcm := slices.Concat(silent(ms(1000)), speechLike(ms(1000), -20), silent(ms(2000)))
	pcm = mix(pcm, noise(len(pcm), -60, 3))
	checkEvents(t, runVAD(VADConfig{EndSilence: 300 * time.Millisecond, MinSpeech: 40 * time.Millisecond}, pcm), []vadWindow{
		{SpeechStart, ms(1000), ms(1150)},
		{SpeechEnd, ms(2000 + 200), ms(2000 + 360)},
	})
}

// Speech from the very first frame, before any noise was heard, is found
// at its first pause.
func TestVADSpeechFirst(t *testing.T) {
	pcm := slices.Concat(speechLike(ms(1500), -20), silent(ms(1500)))
	pcm = mix(pcm, noise(len(pcm), -50, 10))
	checkEvents(t, runVAD(VADConfig{}, pcm), []vadWindow{
		{SpeechStart, 0, ms(500)},
		{SpeechEnd, ms(1500 + 600), ms(1500 + 760)},
	})
}

func TestVADRejects(t *testing.T) {
	click := func() []int16 { return Tone(1000, 40*time.Millisecond, 0.5) } // shorter than MinSpeech
	for _, tc := range []struct {
		name string
		pcm  []int16
	}{
		{"digital silence", silent(5 * time.Second)},
		{"steady noise", noise(5*SampleRate, -45, 4)},
		{"clicks", slices.Concat(silent(ms(500)), click(), silent(ms(500)), click(), silent(ms(500)))},
		{"below MinLevel", slices.Concat(silent(ms(500)), speechLike(ms(1500), -52), silent(ms(500)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcm := mix(tc.pcm, noise(len(tc.pcm), -65, 5))
			if evs := runVAD(VADConfig{}, pcm); len(evs) != 0 {
				t.Errorf("events %v, want none", evs)
			}
		})
	}
}

// When the noise jumps up the VAD may take it for speech at first, but the
// floor follows within its 3 s window and ends the turn; the louder noise
// then raises no events.
func TestVADNoiseStep(t *testing.T) {
	pcm := slices.Concat(noise(2*SampleRate, -65, 8), noise(15*SampleRate, -35, 9))
	evs := runVAD(VADConfig{}, pcm)
	if len(evs) > 2 {
		t.Fatalf("events %v, want at most a start and an end", evs)
	}
	if len(evs) == 2 && evs[1].at > 6*time.Second {
		t.Errorf("the turn started by the noise ends at %v, want before 6s", evs[1].at)
	}
	if len(evs) == 1 {
		t.Errorf("the noise started a turn that never ended: %v", evs)
	}
	v := NewVAD(VADConfig{})
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		v.Process(pcm[i : i+FrameSamples])
	}
	if v.Speaking() {
		t.Error("still speaking after 13 s of steady noise")
	}
}

// Real speech from espeak-ng, resampled to 8 kHz by sox, in line noise and
// through u-law: two utterances make two turns.
func TestVADSpeech(t *testing.T) {
	requireSox(t)
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng is not on PATH: install the espeak-ng package to test the VAD on speech")
	}
	say := func(text string) []int16 {
		wav := filepath.Join(t.TempDir(), "say.wav")
		if out, err := exec.Command("espeak-ng", "-w", wav, text).CombinedOutput(); err != nil {
			t.Fatalf("espeak-ng: %v\n%s", err, out)
		}
		pcm := soxToPCM(t, wav)
		// Trim espeak's own leading and trailing silence.
		loud := func(v int16) bool { return v > 300 || v < -300 }
		first := slices.IndexFunc(pcm, loud)
		last := first
		for i, v := range pcm {
			if loud(v) {
				last = i
			}
		}
		return pcm[first : last+1]
	}
	a := say("Hello, I would like to check the balance of my account, please.")
	b := say("Yes, that is right.")
	durA := time.Duration(len(a)) * time.Second / SampleRate
	durB := time.Duration(len(b)) * time.Second / SampleRate
	pcm := slices.Concat(silent(ms(1000)), a, silent(ms(2000)), b, silent(ms(2000)))
	pcm = g711(mix(pcm, noise(len(pcm), -55, 6)), lawMu)
	endA := ms(1000) + durA
	startB := endA + ms(2000)
	evs := runVAD(VADConfig{}, pcm)
	t.Logf("utterances %v and %v; events %v", durA, durB, evs)
	checkEvents(t, evs, []vadWindow{
		{SpeechStart, ms(1000), ms(1300)},
		{SpeechEnd, endA + ms(500), endA + ms(800)},
		{SpeechStart, startB, startB + ms(300)},
		{SpeechEnd, startB + durB + ms(500), startB + durB + ms(800)},
	})
}

func TestEventString(t *testing.T) {
	for ev, want := range map[Event]string{None: "None", SpeechStart: "SpeechStart", SpeechEnd: "SpeechEnd"} {
		if ev.String() != want {
			t.Errorf("%d.String() = %q", ev, ev.String())
		}
	}
}

func BenchmarkVAD(b *testing.B) {
	frame := g711(speechLike(FrameDuration, -20), lawMu)
	v := NewVAD(VADConfig{})
	for b.Loop() {
		v.Process(frame)
	}
}
