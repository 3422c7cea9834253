package media

import (
	"os"
	"path/filepath"
	"testing"
)

// The reconstruction values of ITU-T G.711 tables 2a (u-law) and 2b (A-law)
// at the ends of each segment, in the recommendation's 14-bit and 13-bit
// units, by the code after inversion. The decoders scale them by 4 and 8.
func TestDecodeTables(t *testing.T) {
	mu := []struct {
		code byte // as transmitted
		want int16
	}{
		{0xFF, 0}, {0x7F, 0}, // +0 and -0
		{0xFE, 2 * 4}, {0x7E, -2 * 4},
		{0xF0, 30 * 4},           // segment 1 end
		{0xEF, 33 * 4},           // segment 2 start
		{0xE0, 93 * 4},           // segment 2 end
		{0xDF, 99 * 4},           // segment 3 start
		{0xCF, 231 * 4},          // segment 4 start
		{0xBF, 495 * 4},          // segment 5 start
		{0xAF, 1023 * 4},         // segment 6 start
		{0x9F, 2079 * 4},         // segment 7 start
		{0x8F, 4191 * 4},         // segment 8 start
		{0x80, 8031 * 4},         // top
		{0x00, -8031 * 4},        // bottom
		{0x70, -30 * 4},          // negative segment 1 end
		{0x0F, -4191 * 4},        // negative segment 8 start
		{0x01, -7775 * 4},        // one step above the bottom
		{0x81, 7775 * 4},         // one step below the top
		{0x8E, (4191 + 256) * 4}, // segment 8 steps by 256
	}
	for _, tc := range mu {
		var got [1]int16
		MulawDecode(got[:], []byte{tc.code})
		if got[0] != tc.want {
			t.Errorf("u-law %#02x decodes to %d, want %d", tc.code, got[0], tc.want)
		}
	}
	a := []struct {
		code byte
		want int16
	}{
		{0xD5, 1 * 8}, {0x55, -1 * 8}, // the smallest magnitudes
		{0xD4, 3 * 8},
		{0xDA, 31 * 8},   // segment 1 end (0x8F after inversion)
		{0xC5, 33 * 8},   // segment 2 start
		{0xCA, 63 * 8},   // segment 2 end
		{0xF5, 66 * 8},   // segment 3 start
		{0xE5, 132 * 8},  // segment 4 start
		{0x95, 264 * 8},  // segment 5 start
		{0x85, 528 * 8},  // segment 6 start
		{0xB5, 1056 * 8}, // segment 7 start
		{0xA5, 2112 * 8}, // segment 8 start
		{0xAA, 4032 * 8}, // top
		{0x2A, -4032 * 8},
		{0x25, -2112 * 8},
	}
	for _, tc := range a {
		var got [1]int16
		AlawDecode(got[:], []byte{tc.code})
		if got[0] != tc.want {
			t.Errorf("A-law %#02x decodes to %d, want %d", tc.code, got[0], tc.want)
		}
	}
}

// Every code is reproduced by encoding what it decodes to, except u-law's
// negative zero, which encodes as positive zero.
func TestRoundTrip(t *testing.T) {
	for c := range 256 {
		code := []byte{byte(c)}
		var pcm [1]int16
		var back [1]byte
		MulawDecode(pcm[:], code)
		MulawEncode(back[:], pcm[:])
		if back[0] != code[0] && code[0] != 0x7F {
			t.Errorf("u-law %#02x -> %d -> %#02x", code[0], pcm[0], back[0])
		}
		AlawDecode(pcm[:], code)
		AlawEncode(back[:], pcm[:])
		if back[0] != code[0] {
			t.Errorf("A-law %#02x -> %d -> %#02x", code[0], pcm[0], back[0])
		}
	}
}

// Each sample is encoded by the decision levels of G.711 tables 1a and 1b:
// the upper level of step q in segment s is (2q+34)·2^s - 33 for u-law (14-bit
// units) and 2q+2 in segment 0, (2q+34)·2^(s-1) above it, for A-law (13-bit
// units). Negative samples mirror positive ones by one's complement.
func TestDecisionLevels(t *testing.T) {
	type level struct {
		upper float64
		code  byte // before the transmission inversion
	}
	var mu, a []level
	for s := range 8 {
		for q := range 16 {
			mu = append(mu, level{float64((2*q+34)<<s - 33), byte(s<<4 | q)})
			up := 2*q + 2
			if s > 0 {
				up = (2*q + 34) << (s - 1)
			}
			a = append(a, level{float64(up), byte(s<<4 | q)})
		}
	}
	want := func(levels []level, x float64) byte {
		for _, l := range levels {
			if x < l.upper {
				return l.code
			}
		}
		return 0x7F // clipped
	}
	for y := range 32768 {
		var got [2]byte
		pcm := []int16{int16(y), ^int16(y)}
		MulawEncode(got[:], pcm)
		if w := want(mu, float64(y)/4) ^ 0xFF; got[0] != w || got[1] != w^0x80 {
			t.Fatalf("u-law: %d encodes to %#02x, %d to %#02x; want %#02x, %#02x", pcm[0], got[0], pcm[1], got[1], w, w^0x80)
		}
		AlawEncode(got[:], pcm)
		if w := want(a, float64(y)/8) ^ 0xD5; got[0] != w || got[1] != w^0x80 {
			t.Fatalf("A-law: %d encodes to %#02x, %d to %#02x; want %#02x, %#02x", pcm[0], got[0], pcm[1], got[1], w, w^0x80)
		}
	}
}

// The package agrees with sox: decoding byte for byte, encoding but for
// sox's rounding of samples near a decision level, on 1 s of a sine with
// noise and on every possible sample.
func TestSox(t *testing.T) {
	requireSox(t)
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }

	// 1 s of a loud sine (clipping at its peaks once mixed) with noise.
	sox(t, "-R", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", path("sine.wav"), "synth", "1", "sine", "697", "gain", "-1")
	sox(t, "-R", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", path("noise.wav"), "synth", "1", "whitenoise", "gain", "-12")
	sox(t, "-m", "-v", "1", path("sine.wav"), "-v", "1", path("noise.wav"), path("mix.wav"))
	mix := soxToPCM(t, path("mix.wav"))
	if len(mix) != 8000 {
		t.Fatalf("sox made %d samples, want 8000", len(mix))
	}
	// Every 16-bit sample once.
	all := make([]int16, 65536)
	for i := range all {
		all[i] = int16(i - 32768)
	}
	writePCM(t, path("all.raw"), all)

	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	for _, law := range []struct {
		name, ext string
		encode    func([]byte, []int16)
		decode    func([]int16, []byte)
		shift     int // how far sox's rounding moves a decision level
	}{
		{"u-law", "ul", MulawEncode, MulawDecode, 2},
		{"a-law", "al", AlawEncode, AlawDecode, 4},
	} {
		t.Run(law.name, func(t *testing.T) {
			// compare encodes pcm and checks it against sox's codes. sox
			// rounds a sample to 14 (u-law) or 13 bits (A-law) before
			// companding, which moves the decision levels by up to half
			// a unit of those: 2 or 4 in 16 bits. Every code that differs
			// must be ours for a sample that near.
			compare := func(what string, pcm []int16, soxCodes []byte) (diffs int) {
				t.Helper()
				if len(soxCodes) != len(pcm) {
					t.Fatalf("%s: sox wrote %d codes for %d samples", what, len(soxCodes), len(pcm))
				}
				ours := make([]byte, len(pcm))
				law.encode(ours, pcm)
				for i, v := range pcm {
					if ours[i] == soxCodes[i] {
						continue
					}
					diffs++
					explained := false
					for d := -law.shift; d <= law.shift; d++ {
						var c [1]byte
						law.encode(c[:], []int16{int16(min(max(int(v)+d, -32768), 32767))})
						explained = explained || c[0] == soxCodes[i]
					}
					if !explained {
						t.Errorf("%s: sample %d: ours %#02x, sox %#02x, not a rounding difference", what, v, ours[i], soxCodes[i])
					}
				}
				return diffs
			}
			// -D: sox dithers by default when it reduces precision.
			sox(t, args([]string{"-D", path("mix.wav")}, rawLaw(law.name), []string{path("mix." + law.ext)})...)
			mixCodes, _ := os.ReadFile(path("mix." + law.ext))
			n := compare("sine+noise", mix, mixCodes)
			sox(t, args([]string{"-D"}, raw16, []string{path("all.raw")}, rawLaw(law.name), []string{path("all." + law.ext)})...)
			allCodes, _ := os.ReadFile(path("all." + law.ext))
			m := compare("every sample", all, allCodes)
			t.Logf("codes differing from sox by its rounding: %d of %d sine+noise samples, %d of 65536 sample values", n, len(mix), m)

			// Decoding sox's output of the mix, and every code.
			sox(t, args(rawLaw(law.name), []string{path("mix." + law.ext)}, raw16, []string{path("mix-dec.raw")})...)
			soxDec := readPCM(t, path("mix-dec.raw"))
			ours := make([]int16, len(soxDec))
			law.decode(ours, mixCodes)
			for i := range ours {
				if ours[i] != soxDec[i] {
					t.Fatalf("mix code %#02x decodes to %d, sox %d", mixCodes[i], ours[i], soxDec[i])
				}
			}
			if err := os.WriteFile(path("codes."+law.ext), codes, 0o644); err != nil {
				t.Fatal(err)
			}
			sox(t, args(rawLaw(law.name), []string{path("codes." + law.ext)}, raw16, []string{path("codes.raw")})...)
			soxDec = readPCM(t, path("codes.raw"))
			ours = make([]int16, 256)
			law.decode(ours, codes)
			for i := range ours {
				if ours[i] != soxDec[i] {
					t.Errorf("code %#02x decodes to %d, sox %d", i, ours[i], soxDec[i])
				}
			}
		})
	}
}

// Short destinations bound the work, and nothing is written past them.
func TestShortBuffers(t *testing.T) {
	dst := make([]byte, 4)
	MulawEncode(dst[:2], []int16{1000, 2000, 3000})
	if dst[2] != 0 || dst[3] != 0 {
		t.Errorf("MulawEncode wrote past its destination: %v", dst)
	}
	pcm := make([]int16, 4)
	AlawDecode(pcm[:1], []byte{0xAA, 0xAA})
	if pcm[0] != 32256 || pcm[1] != 0 {
		t.Errorf("AlawDecode = %v", pcm)
	}
}

func BenchmarkMulawEncode(b *testing.B) {
	pcm := Tone(1000, FrameDuration, 0.5)
	dst := make([]byte, FrameSamples)
	b.SetBytes(FrameSamples * 2)
	for b.Loop() {
		MulawEncode(dst, pcm)
	}
}

func BenchmarkMulawDecode(b *testing.B) {
	src := make([]byte, FrameSamples)
	MulawEncode(src, Tone(1000, FrameDuration, 0.5))
	dst := make([]int16, FrameSamples)
	b.SetBytes(FrameSamples)
	for b.Loop() {
		MulawDecode(dst, src)
	}
}

func BenchmarkAlawEncode(b *testing.B) {
	pcm := Tone(1000, FrameDuration, 0.5)
	dst := make([]byte, FrameSamples)
	b.SetBytes(FrameSamples * 2)
	for b.Loop() {
		AlawEncode(dst, pcm)
	}
}

func BenchmarkAlawDecode(b *testing.B) {
	src := make([]byte, FrameSamples)
	AlawEncode(src, Tone(1000, FrameDuration, 0.5))
	dst := make([]int16, FrameSamples)
	b.SetBytes(FrameSamples)
	for b.Loop() {
		AlawDecode(dst, src)
	}
}
