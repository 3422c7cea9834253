package media

import (
	"math"
	"time"
)

// Tone returns d of a sine wave at freq Hz, sampled at SampleRate, with
// amplitude a fraction (0 to 1) of full scale. Tests use tones as audio
// signatures that survive G.711 and the jitter buffer.
func Tone(freq float64, d time.Duration, amplitude float64) []int16 {
	n := int(d * SampleRate / time.Second)
	a := min(max(amplitude, 0), 1) * math.MaxInt16
	w := 2 * math.Pi * freq / SampleRate
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(math.Round(a * math.Sin(w*float64(i))))
	}
	return pcm
}

// Tone detection parameters: blocks of 40 ms resolve tones 25 Hz apart;
// a block is voiced above -50 dBFS; a tone must carry half of a voiced
// block's energy to win it.
const (
	toneBlock    = 320
	toneMinPower = 32768 * 32768 * 1e-5 // -50 dBFS
	toneMinShare = 0.5
)

// DetectTone reports which of freqs (Hz) is the tone in pcm (8 kHz). It
// cuts pcm into 40 ms blocks, skips silent ones, and measures each
// candidate in every other block with the Goertzel algorithm; a block goes
// to the candidate carrying at least half its energy. ok is true when one
// candidate won most of the non-silent blocks, so a tone padded with
// silence, quantized by G.711 or with a concealed frame in it is still
// found, while noise, speech, silence or two tones at once are not.
// Candidates should be at least 50 Hz apart.
func DetectTone(pcm []int16, freqs ...float64) (freq float64, ok bool) {
	if len(freqs) == 0 {
		return 0, false
	}
	coef := make([]float64, len(freqs))
	for i, f := range freqs {
		coef[i] = 2 * math.Cos(2*math.Pi*f/SampleRate)
	}
	votes := make([]int, len(freqs))
	voiced := 0
	for len(pcm) >= toneBlock/2 {
		block := pcm[:min(len(pcm), toneBlock)]
		pcm = pcm[len(block):]
		var energy float64
		for _, v := range block {
			energy += float64(v) * float64(v)
		}
		n := float64(len(block))
		if energy/n < toneMinPower {
			continue
		}
		voiced++
		best, bestShare := -1, toneMinShare
		for i, c := range coef {
			if share := 2 * goertzel(block, c) / (n * energy); share >= bestShare {
				best, bestShare = i, share
			}
		}
		if best >= 0 {
			votes[best]++
		}
	}
	win := 0
	for i, v := range votes {
		if v > votes[win] {
			win = i
		}
	}
	if voiced == 0 || 2*votes[win] <= voiced {
		return 0, false
	}
	return freqs[win], true
}

// goertzel returns the squared magnitude of block's spectrum at the
// frequency whose coefficient is c = 2cos(2πf/SampleRate).
func goertzel(block []int16, c float64) float64 {
	var s1, s2 float64
	for _, v := range block {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	return s1*s1 + s2*s2 - c*s1*s2
}
