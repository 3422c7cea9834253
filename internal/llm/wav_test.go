package llm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"
)

func TestWAVRoundTrip(t *testing.T) {
	pcm := []int16{0, 1, -1, math.MaxInt16, math.MinInt16, 1234}
	b := EncodeWAV(pcm, PhoneRate)
	if len(b) != 44+2*len(pcm) || string(b[:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" {
		t.Fatalf("header % x", b[:44])
	}
	if got := binary.LittleEndian.Uint32(b[24:]); got != PhoneRate {
		t.Errorf("rate %d", got)
	}
	got, rate, err := DecodeWAV(b)
	if err != nil || rate != PhoneRate || !slices.Equal(got, pcm) {
		t.Errorf("got %v at %d, %v", got, rate, err)
	}
}

// wavHeader builds a header with the given fmt fields and data size.
func wavHeader(format, channels uint16, rate uint32, bits uint16, dataSize uint32) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF\xff\xff\xff\xffWAVE")
	b.WriteString("LIST\x04\x00\x00\x00INFO") // a chunk to skip
	b.WriteString("fmt \x10\x00\x00\x00")
	for _, v := range []any{format, channels, rate, rate * uint32(channels) * 2, channels * 2, bits} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, dataSize)
	return b.Bytes()
}

func TestDecodeWAV(t *testing.T) {
	samples := []byte{1, 0, 3, 0, 0xff, 0xff, 0xfd, 0xff}
	for _, tc := range []struct {
		name string
		b    []byte
		want []int16
		rate int
	}{
		// Streaming encoders write a data size they cannot know.
		{"openai streaming size", append(wavHeader(1, 1, 24000, 16, 0xFFFFFFFF), samples...), []int16{1, 3, -1, -3}, 24000},
		{"espeak size", append(wavHeader(1, 1, 22050, 16, 0x7ffff000), samples...), []int16{1, 3, -1, -3}, 22050},
		{"unfinished recording", append(wavHeader(1, 1, 8000, 16, 0), samples...), []int16{1, 3, -1, -3}, 8000},
		{"stereo", append(wavHeader(1, 2, 16000, 16, 8), samples...), []int16{2, -2}, 16000},
	} {
		got, rate, err := DecodeWAV(tc.b)
		if err != nil || rate != tc.rate || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v at %d, %v", tc.name, got, rate, err)
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"not riff", []byte("RIFX\x00\x00\x00\x00WAVE")},
		{"8 bit", append(wavHeader(1, 1, 8000, 8, 4), 1, 2, 3, 4)},
		{"float", append(wavHeader(3, 1, 8000, 16, 4), 1, 2, 3, 4)},
		{"six channels", append(wavHeader(1, 6, 8000, 16, 4), 1, 2, 3, 4)},
		{"no data", wavHeader(1, 1, 8000, 16, 0)[:len(wavHeader(1, 1, 8000, 16, 0))-8]},
		{"data before fmt", []byte("RIFF\x10\x00\x00\x00WAVEdata\x02\x00\x00\x00\x01\x00")},
		{"short fmt", []byte("RIFF\x10\x00\x00\x00WAVEfmt \x04\x00\x00\x00\x01\x00\x01\x00")},
	} {
		if _, _, err := DecodeWAV(tc.b); !errors.Is(err, ErrWAV) {
			t.Errorf("%s: error %v, want ErrWAV", tc.name, err)
		}
	}
}

// sine returns d seconds of a tone at freq Hz sampled at rate, amplitude a.
func sine(freq float64, rate int, d, a float64) []int16 {
	pcm := make([]int16, int(d*float64(rate)))
	for i := range pcm {
		pcm[i] = int16(math.Round(a * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return pcm
}

// amplitude returns the amplitude of freq Hz in pcm at 8 kHz (Goertzel),
// as a fraction of full scale, away from the edges.
func amplitude(pcm []int16, freq float64) float64 {
	pcm = pcm[len(pcm)/8 : len(pcm)*7/8]
	c := 2 * math.Cos(2*math.Pi*freq/PhoneRate)
	var s1, s2 float64
	for _, v := range pcm {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(p) / float64(len(pcm)) / 32767
}

func db(x float64) float64 { return 20 * math.Log10(x) }

// Speech in the phone band passes; what would fold back onto it is cut.
func TestResample8k(t *testing.T) {
	for _, rate := range []int{16000, 22050, 24000, 44100, 48000} {
		for _, tc := range []struct {
			freq, minDB, maxDB float64
		}{
			{300, -0.5, 0.5},
			{1000, -0.5, 0.5},
			{2500, -1.5, 0.5},
			{3500, -8, -4},
			{4500, math.Inf(-1), -50},
			{6000, math.Inf(-1), -60},
		} {
			if tc.freq >= float64(rate)/2 {
				continue
			}
			out, err := Resample8k(sine(tc.freq, rate, 0.5, 0.5), rate)
			if err != nil {
				t.Fatal(err)
			}
			if want := rate / 2 * PhoneRate / rate; len(out) != want {
				t.Errorf("%d Hz: %d samples, want %d", rate, len(out), want)
			}
			// Where the tone lands at 8 kHz: itself, or its alias.
			at := tc.freq
			if at > PhoneRate/2 {
				at = PhoneRate - math.Mod(at, PhoneRate)
				if at > PhoneRate/2 {
					at = math.Mod(tc.freq, PhoneRate)
				}
			}
			gain := db(amplitude(out, at) / 0.5)
			if gain < tc.minDB || gain > tc.maxDB {
				t.Errorf("%d Hz input, %v Hz tone: %.1f dB at %v Hz, want %v to %v", rate, tc.freq, gain, at, tc.minDB, tc.maxDB)
			}
		}
	}
}

func TestResample8kEdges(t *testing.T) {
	in := []int16{1, 2, 3}
	out, err := Resample8k(in, PhoneRate)
	if err != nil || !slices.Equal(out, in) {
		t.Errorf("8 kHz: %v, %v", out, err)
	}
	out[0] = 9
	if in[0] != 1 {
		t.Error("8 kHz output shares the input")
	}
	for _, rate := range []int{0, 4000, 7999, 96000} {
		if _, err := Resample8k(in, rate); err == nil {
			t.Errorf("rate %d: no error", rate)
		}
	}
	if out, err := Resample8k(nil, 24000); err != nil || len(out) != 0 {
		t.Errorf("empty: %v, %v", out, err)
	}
	// Full-scale input does not wrap around.
	loud := make([]int16, 2400)
	for i := range loud {
		loud[i] = math.MaxInt16
		if i%2 == 1 {
			loud[i] = math.MinInt16
		}
	}
	loud = append(loud, sine(100, 24000, 0.1, 1)...)
	if _, err := Resample8k(loud, 24000); err != nil {
		t.Fatal(err)
	}
}
