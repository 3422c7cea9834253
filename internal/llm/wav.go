package llm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// PhoneRate is the sample rate of telephone audio, in Hz.
const PhoneRate = 8000

// ErrWAV is wrapped by the errors of DecodeWAV.
var ErrWAV = errors.New("llm: not a 16-bit PCM WAV file")

// EncodeWAV returns pcm, 16-bit mono samples at rate Hz, as a WAV file.
func EncodeWAV(pcm []int16, rate int) []byte {
	size := 2 * len(pcm)
	b := make([]byte, 44+size)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+size))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)           // fmt chunk size
	binary.LittleEndian.PutUint16(b[20:], 1)            // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)            // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate)) // sample rate
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)  // block align
	binary.LittleEndian.PutUint16(b[34:], 16) // bits per sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(size))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	return b
}

// DecodeWAV returns the samples and sample rate of a WAV file of 16-bit
// PCM; stereo is mixed down to mono. A data chunk whose size runs past the
// end of b, as streaming encoders write (espeak-ng, OpenAI), is read to
// the end of b, and so is a data chunk of size 0 followed by samples, as a
// recorder leaves its file when it was stopped before it could finish the
// header (libsndfile writes the sizes on close).
func DecodeWAV(b []byte) (pcm []int16, rate int, err error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%w: no RIFF WAVE header", ErrWAV)
	}
	channels := 0
	for p := 12; p+8 <= len(b); {
		id := string(b[p : p+4])
		size := int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8:]
		if size < 0 || size > len(body) || (id == "data" && size == 0) {
			size = len(body)
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, 0, fmt.Errorf("%w: short fmt chunk", ErrWAV)
			}
			format := binary.LittleEndian.Uint16(body[0:])
			channels = int(binary.LittleEndian.Uint16(body[2:]))
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			bits := binary.LittleEndian.Uint16(body[14:])
			if format == 0xFFFE && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: the subformat's first two bytes
				format = binary.LittleEndian.Uint16(body[24:])
			}
			if format != 1 || bits != 16 || channels < 1 || channels > 2 || rate <= 0 {
				return nil, 0, fmt.Errorf("%w: format %d, %d bits, %d channels", ErrWAV, format, bits, channels)
			}
		case "data":
			if channels == 0 {
				return nil, 0, fmt.Errorf("%w: data before fmt", ErrWAV)
			}
			pcm = DecodePCM(body)
			if channels == 2 {
				mono := pcm[:len(pcm)/2]
				for i := range mono {
					mono[i] = int16((int32(pcm[2*i]) + int32(pcm[2*i+1])) / 2)
				}
				pcm = mono
			}
			return pcm, rate, nil
		}
		p += 8 + size + size%2
	}
	return nil, 0, fmt.Errorf("%w: no data chunk", ErrWAV)
}

// DecodePCM returns raw 16-bit little-endian samples; an odd last byte is
// dropped.
func DecodePCM(b []byte) []int16 {
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm
}

// Resampling to PhoneRate: a windowed-sinc low-pass filter (Blackman
// window) cutting at 3.5 kHz, below the 4 kHz Nyquist frequency of the
// phone line, then decimation, with linear interpolation between filtered
// samples when the ratio is not whole (22.05 kHz). About 32 taps per
// 8 kHz of input rate keep the transition band near 1.4 kHz: flat to
// about 2.8 kHz, -6 dB at 3.5 kHz, over 70 dB down from about 4.2 kHz.
const (
	cutoffHz    = 3500
	tapsPer8kHz = 32
	maxRate     = 48000
)

// Resample8k returns pcm, sampled at rate Hz (8 to 48 kHz), resampled to
// PhoneRate.
func Resample8k(pcm []int16, rate int) ([]int16, error) {
	switch {
	case rate == PhoneRate:
		return append([]int16(nil), pcm...), nil
	case rate < PhoneRate || rate > maxRate:
		return nil, fmt.Errorf("llm: resample: rate %d Hz is outside %d-%d", rate, PhoneRate, maxRate)
	}
	h := lowPass(rate)
	half := len(h) / 2
	at := func(i int) float64 { // the filtered signal at input sample i
		var acc float64
		lo, hi := max(0, i-half), min(len(pcm)-1, i+half)
		for k := lo; k <= hi; k++ {
			acc += float64(pcm[k]) * h[k-i+half]
		}
		return acc
	}
	n := int(int64(len(pcm)) * PhoneRate / int64(rate))
	out := make([]int16, n)
	whole := rate%PhoneRate == 0
	step := float64(rate) / PhoneRate
	for j := range out {
		var v float64
		if whole {
			v = at(j * (rate / PhoneRate))
		} else {
			x := float64(j) * step
			i := int(x)
			f := x - float64(i)
			v = at(i)
			if f > 0 && i+1 < len(pcm) {
				v += f * (at(i+1) - v)
			}
		}
		out[j] = int16(math.Round(min(max(v, math.MinInt16), math.MaxInt16)))
	}
	return out, nil
}

// lowPass returns the taps of the resampler's filter for rate, an odd
// number with unit gain at 0 Hz.
func lowPass(rate int) []float64 {
	n := rate*tapsPer8kHz/PhoneRate | 1
	h := make([]float64, n)
	fc := float64(cutoffHz) / float64(rate) // cycles per sample
	m := float64(n - 1)
	var sum float64
	for i := range h {
		x := float64(i) - m/2
		sinc := 2 * fc
		if x != 0 {
			sinc = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(i)/m) + 0.08*math.Cos(4*math.Pi*float64(i)/m)
		h[i] = sinc * w
		sum += h[i]
	}
	for i := range h {
		h[i] /= sum
	}
	return h
}
