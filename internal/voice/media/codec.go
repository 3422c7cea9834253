// Package media carries a call's audio: RTP, G.711, DTMF, jitter buffering and voice activity.
package media

import (
	"strings"
	"time"
)

// SampleRate is the audio sample rate of every codec the package speaks, in Hz.
const SampleRate = 8000

// FrameSamples is the number of samples in one 20 ms frame at SampleRate,
// the packetization (a=ptime:20) the package sends and expects.
const FrameSamples = 160

// FrameDuration is the duration of one frame.
const FrameDuration = 20 * time.Millisecond

// Codec names an RTP payload format as negotiated in SDP.
type Codec struct {
	Name        string // encoding name of the a=rtpmap line, such as "PCMU"
	PayloadType uint8  // RTP payload type, 0-127
	ClockRate   int    // RTP clock rate in Hz
}

// PCMU is G.711 u-law on its static payload type 0.
var PCMU = Codec{Name: "PCMU", PayloadType: 0, ClockRate: SampleRate}

// PCMA is G.711 A-law on its static payload type 8.
var PCMA = Codec{Name: "PCMA", PayloadType: 8, ClockRate: SampleRate}

// TelephoneEvent is RFC 4733 telephone-event (DTMF) on its customary
// dynamic payload type 101; the SDP answer may choose another.
var TelephoneEvent = Codec{Name: "telephone-event", PayloadType: 101, ClockRate: SampleRate}

// law is a G.711 companding law.
type law uint8

const (
	lawNone law = iota
	lawMu
	lawA
)

// law returns the companding law of an audio codec, or lawNone when the
// package cannot carry it.
func (c Codec) law() law {
	if c.ClockRate != SampleRate || c.PayloadType > 127 {
		return lawNone
	}
	switch {
	case strings.EqualFold(c.Name, "PCMU"):
		return lawMu
	case strings.EqualFold(c.Name, "PCMA"):
		return lawA
	}
	return lawNone
}

// encode compands pcm into dst with the law.
func (l law) encode(dst []byte, pcm []int16) {
	if l == lawA {
		AlawEncode(dst, pcm)
		return
	}
	MulawEncode(dst, pcm)
}

// decode expands G.711 bytes into dst with the law.
func (l law) decode(dst []int16, src []byte) {
	if l == lawA {
		AlawDecode(dst, src)
		return
	}
	MulawDecode(dst, src)
}

// silence returns the code of a zero sample.
func (l law) silence() byte {
	if l == lawA {
		return 0xD5
	}
	return 0xFF
}
