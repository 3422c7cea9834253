package media

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestTone(t *testing.T) {
	pcm := Tone(1000, 250*time.Millisecond, 0.5)
	if len(pcm) != 2000 {
		t.Fatalf("250 ms is %d samples, want 2000", len(pcm))
	}
	peak := slices.Max(pcm)
	if peak < 16300 || peak > 16384 {
		t.Errorf("peak %d, want about half of full scale", peak)
	}
	if l := Level(pcm); math.Abs(l-(-9.03)) > 0.1 {
		t.Errorf("level %.2f dBFS, want -9.03 (a sine at half scale)", l)
	}
	if got := Tone(1000, time.Second, 7); slices.Max(got) != math.MaxInt16 {
		t.Errorf("amplitude is not clamped to full scale: peak %d", slices.Max(got))
	}
}

// g711 passes pcm through an encoder and decoder, as the phone line does.
func g711(pcm []int16, l law) []int16 {
	b := make([]byte, len(pcm))
	out := make([]int16, len(pcm))
	l.encode(b, pcm)
	l.decode(out, b)
	return out
}

func noise(n int, level float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	a := 32768 * math.Pow(10, level/20) * math.Sqrt(3) // uniform noise of that RMS
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16((2*r.Float64() - 1) * a)
	}
	return pcm
}

func mix(a, b []int16) []int16 {
	out := make([]int16, max(len(a), len(b)))
	for i := range out {
		var v int
		if i < len(a) {
			v += int(a[i])
		}
		if i < len(b) {
			v += int(b[i])
		}
		out[i] = int16(min(max(v, math.MinInt16), math.MaxInt16))
	}
	return out
}

func TestDetectTone(t *testing.T) {
	freqs := []float64{400, 600, 800, 1000, 1050, 1400, 2000, 3000}
	silence := make([]int16, 4000)
	// A frame of the tone replaced by a quieter repeat of the one
	// before, as the jitter buffer conceals a loss.
	concealed := func(pcm []int16) []int16 {
		pcm = slices.Clone(pcm)
		for i := range FrameSamples {
			pcm[800+i] = pcm[640+i] / 2
		}
		return pcm
	}
	tests := []struct {
		name   string
		pcm    []int16
		want   float64
		wantOK bool
	}{
		{"pure", Tone(600, 300*time.Millisecond, 0.3), 600, true},
		{"u-law", g711(Tone(1400, 300*time.Millisecond, 0.3), lawMu), 1400, true},
		{"A-law", g711(Tone(3000, 300*time.Millisecond, 0.3), lawA), 3000, true},
		{"quiet through u-law", g711(Tone(800, 300*time.Millisecond, 0.01), lawMu), 800, true},
		{"next to a close one", g711(Tone(1050, 300*time.Millisecond, 0.3), lawMu), 1050, true},
		{"padded with silence", slices.Concat(silence, Tone(2000, 200*time.Millisecond, 0.3), silence), 2000, true},
		{"in noise", g711(mix(Tone(400, 500*time.Millisecond, 0.1), noise(4000, -40, 1)), lawA), 400, true},
		{"with a concealed frame", g711(concealed(Tone(1000, 200*time.Millisecond, 0.3)), lawMu), 1000, true},
		{"short", Tone(1000, 25*time.Millisecond, 0.3), 1000, true},

		{"silence", silence, 0, false},
		{"empty", nil, 0, false},
		{"too short", Tone(1000, 10*time.Millisecond, 0.3), 0, false},
		{"noise", noise(8000, -20, 2), 0, false},
		{"not a candidate", Tone(1200, 300*time.Millisecond, 0.3), 0, false},
		{"two at once", mix(Tone(600, 300*time.Millisecond, 0.2), Tone(1400, 300*time.Millisecond, 0.2)), 0, false},
		{"mostly noise", slices.Concat(Tone(600, 100*time.Millisecond, 0.3), noise(4000, -20, 3)), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := DetectTone(tc.pcm, freqs...)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("DetectTone = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if _, ok := DetectTone(Tone(600, time.Second, 0.3)); ok {
		t.Error("DetectTone with no candidates found one")
	}
}

func BenchmarkDetectTone(b *testing.B) {
	pcm := g711(Tone(1000, time.Second, 0.3), lawMu)
	freqs := []float64{400, 600, 800, 1000, 1400, 2000, 3000}
	for b.Loop() {
		DetectTone(pcm, freqs...)
	}
}
