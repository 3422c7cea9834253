package media

import (
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// RFC 4733 telephone events: DTMF digits as packets on the telephone-event
// payload type instead of tones in the audio. An event's packets share the
// timestamp of its start; each carries the duration so far, and the last,
// flagged End, is sent three times.

// ErrInvalidDigit is returned by SendDTMF for a rune that is not a DTMF digit.
var ErrInvalidDigit = errors.New("media: not a DTMF digit")

// ErrNoDTMF is returned by SendDTMF when SetRemote gave no telephone-event
// payload type.
var ErrNoDTMF = errors.New("media: telephone-event not negotiated")

// Bounds of an event's duration.
const (
	// MinDTMFDuration is the shortest event SendDTMF sends.
	MinDTMFDuration = 40 * time.Millisecond
	// MaxDTMFDuration is the longest event SendDTMF sends; the 16-bit
	// duration field holds 8.19 s.
	MaxDTMFDuration = 8 * time.Second
)

// dtmfVolume is the power of the tone the event stands for, in -dBm0.
const dtmfVolume = 10

// dtmfDigits maps event codes 0-15 to digits.
const dtmfDigits = "0123456789*#ABCD"

// dtmfEvent returns the event code of a digit.
func dtmfEvent(digit rune) (byte, bool) {
	if digit >= 'a' && digit <= 'd' {
		digit -= 'a' - 'A'
	}
	for i, d := range dtmfDigits {
		if d == digit {
			return byte(i), true
		}
	}
	return 0, false
}

// event handles a telephone-event payload: a digit is delivered on the
// first End packet of its event; the End packet's repetitions and any
// stale event (by timestamp, which marks the event's start) are ignored.
// Must hold s.mu.
func (s *Session) event(ts uint32, payload []byte) {
	if payload[1]&0x80 == 0 {
		return
	}
	if s.rx.haveEvent && int32(ts-s.rx.eventTS) <= 0 {
		return
	}
	s.rx.haveEvent, s.rx.eventTS = true, ts
	if payload[0] >= byte(len(dtmfDigits)) {
		return // not a digit: flash, or a tone event
	}
	select {
	case s.dtmf <- rune(dtmfDigits[payload[0]]):
	default:
		s.overflow.Add(1)
	}
}

// SendDTMF sends digit (0-9, *, #, A-D) as an RFC 4733 event lasting d,
// rounded up to 20 ms and kept within MinDTMFDuration and MaxDTMFDuration,
// and returns when the event is over, after about d+40 ms. It waits for a
// running Play to finish. If ctx ends early the event is ended at once and
// ctx.Err() returned.
func (s *Session) SendDTMF(ctx context.Context, digit rune, d time.Duration) error {
	ev, ok := dtmfEvent(digit)
	if !ok {
		return ErrInvalidDigit
	}
	d = min(max(d, MinDTMFDuration), MaxDTMFDuration)
	frames := int((d + FrameDuration - 1) / FrameDuration)

	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	p := s.remote.Load()
	switch {
	case p == nil || !p.addr.IsValid():
		return ErrNoRemote
	case p.dtmfPT == 0:
		return ErrNoDTMF
	}
	t := &s.snd
	t.begin(time.Now())
	start, slots := t.ts, 0
	defer func() {
		// Audio after an event starts a new talkspurt, its timestamp
		// counted from the slots the event took.
		t.ts = start + uint32(slots)*FrameSamples
		t.active = false
	}()
	sendEvent := func(end bool, dur int) error {
		b := t.pkt[headerSize : headerSize+4]
		b[0] = ev
		b[1] = dtmfVolume
		if end {
			b[1] |= 0x80
		}
		binary.BigEndian.PutUint16(b[2:], uint16(dur))
		err := s.send(p, p.dtmfPT, dur == FrameSamples && !end, start, 4)
		t.at = t.at.Add(FrameDuration)
		slots++
		return err
	}
	// Updates every 20 ms, the last one flagged End.
	sent := 0
	var stopped error
	for sent < frames {
		if stopped = s.wait(ctx, nil); stopped != nil {
			break
		}
		sent++
		if err := sendEvent(sent == frames, sent*FrameSamples); err != nil {
			return err
		}
	}
	switch {
	case sent == 0 || errors.Is(stopped, ErrClosed):
		return stopped // nothing began, or nothing can be sent
	case stopped == nil:
		// Two more End packets at the same interval.
		for range 2 {
			if stopped = s.wait(ctx, nil); stopped != nil {
				break
			}
			if err := sendEvent(true, sent*FrameSamples); err != nil {
				return err
			}
		}
		if stopped == nil {
			return nil
		}
		fallthrough
	default:
		// ctx ended: end the event now, three times.
		for range 3 {
			if err := sendEvent(true, sent*FrameSamples); err != nil {
				return err
			}
		}
		return stopped
	}
}
