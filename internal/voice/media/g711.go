package media

import "math/bits"

// G.711 (ITU-T Recommendation G.711, 1988) companding between 16-bit linear
// PCM and 8-bit u-law or A-law codes. The decoders read 256-entry tables
// built from the recommendation's reconstruction formula. The encoders
// read tables too, indexed by the top 14 (u-law, 16 KiB) or 13 bits
// (A-law, 8 KiB) of the sample, which are all a code depends on; the
// tables are built by computing each code with a bit-length instruction,
// three times slower per sample than the lookup.
// The encoders follow the ITU-T G.191 reference software: u-law quantizes
// the top 14 bits of a sample's magnitude, A-law the top 13, which puts
// every sample on the code whose reconstruction value is nearest. (sox
// first rounds the sample to 14 or 13 bits, which moves a sample within
// 2 or 4 units of a decision level to the neighbouring, farther code; see
// TestSox.)

var (
	mulawTable = makeMulawTable()
	alawTable  = makeAlawTable()

	mulawEncTable = makeMulawEncTable()
	alawEncTable  = makeAlawEncTable()
)

// makeMulawEncTable returns the u-law codes by the top 14 bits of a sample.
func makeMulawEncTable() (t [1 << 14]byte) {
	for i := range t {
		t[i] = mulaw(int16(uint16(i << 2)))
	}
	return t
}

// makeAlawEncTable returns the A-law codes by the top 13 bits of a sample.
func makeAlawEncTable() (t [1 << 13]byte) {
	for i := range t {
		t[i] = alaw(int16(uint16(i << 3)))
	}
	return t
}

// makeMulawTable returns the u-law reconstruction values scaled from the
// recommendation's 14-bit range to 16 bits: for segment s and step q the
// magnitude is ((2q+33) << s) - 33, times 4.
func makeMulawTable() (t [256]int16) {
	for i := range t {
		u := ^byte(i) // u-law transmits every bit inverted
		seg := int(u>>4) & 7
		q := int(u) & 0x0F
		mag := ((2*q+33)<<seg - 33) * 4
		if u&0x80 != 0 {
			mag = -mag
		}
		t[i] = int16(mag)
	}
	return t
}

// makeAlawTable returns the A-law reconstruction values scaled from the
// recommendation's 13-bit range to 16 bits: the magnitude is 2q+1 in
// segment 0 and (2q+33) << (s-1) above it, times 8.
func makeAlawTable() (t [256]int16) {
	for i := range t {
		a := byte(i) ^ 0x55 // A-law transmits the even bits inverted
		seg := int(a>>4) & 7
		q := int(a) & 0x0F
		var mag int
		if seg == 0 {
			mag = 2*q + 1
		} else {
			mag = (2*q + 33) << (seg - 1)
		}
		mag *= 8
		if a&0x80 == 0 { // sign bit 1 is positive
			mag = -mag
		}
		t[i] = int16(mag)
	}
	return t
}

// MulawEncode encodes pcm as u-law into dst, one byte per sample.
// It encodes min(len(dst), len(pcm)) samples.
func MulawEncode(dst []byte, pcm []int16) {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	for i, s := range pcm {
		dst[i] = mulawEncTable[uint16(s)>>2]
	}
}

// MulawDecode decodes u-law bytes into dst, one sample per byte.
// It decodes min(len(dst), len(ulaw)) samples.
func MulawDecode(dst []int16, ulaw []byte) {
	n := min(len(dst), len(ulaw))
	dst, ulaw = dst[:n], ulaw[:n]
	for i, b := range ulaw {
		dst[i] = mulawTable[b]
	}
}

// AlawEncode encodes pcm as A-law into dst, one byte per sample.
// It encodes min(len(dst), len(pcm)) samples.
func AlawEncode(dst []byte, pcm []int16) {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	for i, s := range pcm {
		dst[i] = alawEncTable[uint16(s)>>3]
	}
}

// AlawDecode decodes A-law bytes into dst, one sample per byte.
// It decodes min(len(dst), len(alaw)) samples.
func AlawDecode(dst []int16, alaw []byte) {
	n := min(len(dst), len(alaw))
	dst, alaw = dst[:n], alaw[:n]
	for i, b := range alaw {
		dst[i] = alawTable[b]
	}
}

// mulaw encodes one sample. Negative samples take their one's complement
// (^s = -s-1) as magnitude, as in the ITU-T G.191 reference software, so
// that the decision levels are symmetric about zero; the magnitude's top 14
// bits, clipped and biased by 33, fall in segment bitlen-6, and the step is
// the four bits below the leading one.
func mulaw(s int16) byte {
	v := int32(s)
	mask := byte(0xFF) // all bits inverted; sign bit 1 for positive
	if v < 0 {
		v = ^v
		mask = 0x7F
	}
	v = min(v>>2, 8158) + 33 // 8158+33 keeps segment 7; the reference clips at 8159 to the same code
	seg := bits.Len32(uint32(v)) - 6
	q := (v >> (seg + 1)) & 0x0F
	return byte(seg<<4|int(q)) ^ mask
}

// alaw encodes one sample the same way: the top 13 bits of the magnitude
// fall in segment bitlen-5 (segment 0 below 32), and the step is the four
// bits below the leading one.
func alaw(s int16) byte {
	v := int32(s)
	mask := byte(0xD5) // even bits inverted; sign bit 1 for positive
	if v < 0 {
		v = ^v
		mask = 0x55
	}
	v >>= 3
	seg := max(bits.Len32(uint32(v))-5, 0)
	q := (v >> max(seg, 1)) & 0x0F
	return byte(seg<<4|int(q)) ^ mask
}
