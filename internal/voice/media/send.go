package media

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/rtp"
)

// sender is the outgoing stream's state, under Session.sendMu. Audio and
// events share one SSRC, one sequence space and one timeline: ts and at
// always describe the next 20 ms slot.
type sender struct {
	hdr    rtp.Header
	ts     uint32    // RTP timestamp of the next slot
	at     time.Time // when the next slot is due; zero before the first packet
	active bool      // a talkspurt is under way and may be continued
	timer  *time.Timer
	pkt    [headerSize + FrameSamples]byte
}

func (t *sender) init(ssrc uint32, seq uint16, ts uint32) {
	t.hdr = rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq}
	t.ts = ts
	t.timer = time.NewTimer(time.Hour)
	t.timer.Stop()
}

// begin starts sending at now. If a talkspurt is under way and now is
// within a frame of its next slot, it continues: back-to-back Play calls
// make one gapless stream. Otherwise a new talkspurt starts now, its
// timestamp advanced by the silence since the last slot, and begin reports
// that its first packet needs the marker bit.
func (t *sender) begin(now time.Time) (marker bool) {
	if t.active && now.Before(t.at.Add(FrameDuration)) {
		return false
	}
	if !t.at.IsZero() && now.After(t.at) {
		t.ts += uint32(now.Sub(t.at)/FrameDuration) * FrameSamples
	}
	t.at, t.active = now, true
	return true
}

// wait blocks until the next slot is due. A sender that fell more than a
// few frames behind (a stalled process) resumes from now instead of
// bursting what it missed.
func (s *Session) wait(ctx context.Context, stop <-chan struct{}) error {
	t := &s.snd
	now := time.Now()
	if now.Sub(t.at) > 5*FrameDuration {
		t.at = now
	}
	if d := t.at.Sub(now); d > 0 {
		t.timer.Reset(d)
		select {
		case <-t.timer.C:
			return nil
		case <-ctx.Done():
			t.timer.Stop()
			return ctx.Err()
		case <-stop:
			t.timer.Stop()
			return ErrInterrupted
		case <-s.closed:
			t.timer.Stop()
			return ErrClosed
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrInterrupted
	case <-s.closed:
		return ErrClosed
	default:
		return nil
	}
}

// headerSize is the size of the RTP header the Session sends: no CSRC, no
// extension.
const headerSize = 12

// send writes a packet whose payload the caller put at pkt[headerSize:]
// and moves to the next sequence number. It does not move the slot:
// events send several packets with one timestamp.
func (s *Session) send(p *peer, pt uint8, marker bool, ts uint32, size int) error {
	t := &s.snd
	t.hdr.PayloadType, t.hdr.Marker, t.hdr.Timestamp = pt, marker, ts
	if _, err := t.hdr.MarshalTo(t.pkt[:headerSize]); err != nil {
		return fmt.Errorf("media: send: %w", err)
	}
	t.hdr.SequenceNumber++
	if _, err := s.conn.WriteToUDPAddrPort(t.pkt[:headerSize+size], p.addr); err != nil {
		select {
		case <-s.closed:
			return ErrClosed
		default:
			return fmt.Errorf("media: send: %w", err)
		}
	}
	s.sent.Add(1)
	return nil
}

// sendAudio sends one frame of pcm, padded with silence to 20 ms, in the
// current slot and moves to the next slot.
func (s *Session) sendAudio(p *peer, pcm []int16, marker bool) error {
	b := s.snd.pkt[headerSize : headerSize+FrameSamples]
	p.law.encode(b, pcm)
	for i := len(pcm); i < FrameSamples; i++ {
		b[i] = p.law.silence()
	}
	err := s.send(p, p.pt, marker, s.snd.ts, FrameSamples)
	s.snd.ts += FrameSamples
	s.snd.at = s.snd.at.Add(FrameDuration)
	return err
}

// Play sends pcm (8 kHz mono) to the remote as 20 ms packets paced in real
// time, and returns once the last is sent. A final partial frame is padded
// with silence, so a caller streaming audio in pieces should cut them at
// multiples of FrameSamples. Plays follow one another: one called within a
// frame of the previous one's end continues its talkspurt without a gap;
// after a longer pause a new talkspurt starts with the marker bit. Play
// returns ErrInterrupted when StopPlayback is called while it runs or
// waits to run, ctx.Err() when ctx ends, ErrNoRemote before the remote is
// known and ErrClosed after Close.
func (s *Session) Play(ctx context.Context, pcm []int16) error {
	_, err := s.PlayCount(ctx, pcm)
	return err
}

// PlayCount is Play that also returns how many samples of pcm were sent
// before it returned: all of them on success, fewer when it was cut short
// (barge-in), so that a caller knows what the listener heard.
func (s *Session) PlayCount(ctx context.Context, pcm []int16) (int, error) {
	stop := s.stopChan()
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	select {
	case <-stop:
		return 0, ErrInterrupted
	case <-s.closed:
		return 0, ErrClosed
	default:
	}
	if p := s.remote.Load(); p == nil || !p.addr.IsValid() {
		return 0, ErrNoRemote
	}
	if len(pcm) == 0 {
		return 0, nil
	}
	sent := 0
	marker := s.snd.begin(time.Now())
	for len(pcm) > 0 {
		if err := s.wait(ctx, stop); err != nil {
			s.snd.active = false
			return sent, err
		}
		p := s.remote.Load() // SetRemote may have moved it
		if !p.addr.IsValid() {
			s.snd.active = false
			return sent, ErrNoRemote
		}
		frame := pcm[:min(len(pcm), FrameSamples)]
		pcm = pcm[len(frame):]
		if err := s.sendAudio(p, frame, marker); err != nil {
			s.snd.active = false
			return sent, err
		}
		sent += len(frame)
		marker = false
	}
	return sent, nil
}

// StopPlayback interrupts the Play calls running or waiting to run, which
// return ErrInterrupted within a frame; later calls play normally. It is
// barge-in: call it when the caller starts to speak over the assistant.
func (s *Session) StopPlayback() {
	s.stopMu.Lock()
	close(s.stop)
	s.stop = make(chan struct{})
	s.stopMu.Unlock()
}

func (s *Session) stopChan() <-chan struct{} {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	return s.stop
}
