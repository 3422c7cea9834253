package media

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// digits reads digits from s until none comes for quiet.
func digits(s *Session, quiet time.Duration) string {
	var got []rune
	for {
		select {
		case d := <-s.DTMF():
			got = append(got, d)
		case <-time.After(quiet):
			return string(got)
		}
	}
}

// Digits sent by one Session arrive at the other once each, though every
// event ends with three End packets.
func TestDTMF(t *testing.T) {
	a, b := pair(t, Config{}, PCMU)
	ctx := context.Background()
	for _, d := range "19*#ABcD0" {
		if err := a.SendDTMF(ctx, d, 60*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if got := digits(b, 300*time.Millisecond); got != "19*#ABCD0" {
		t.Errorf("received %q, want %q", got, "19*#ABCD0")
	}
	if st := b.Stats(); st.Invalid != 0 || st.Lost != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Every packet of an event arriving twice still makes one digit.
func TestDTMFDuplicated(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	p := newProxy(t, b.LocalAddr(), func(int) action { return action{copies: 1} })
	setRemote(t, a, p.addr(), PCMU)
	setRemote(t, b, p.addr(), PCMU)
	run(t, b)
	for _, d := range "42" {
		if err := a.SendDTMF(context.Background(), d, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if got := digits(b, 300*time.Millisecond); got != "42" {
		t.Errorf("received %q, want \"42\"", got)
	}
}

// The packets of an event follow RFC 4733.
func TestDTMFPackets(t *testing.T) {
	s := listen(t, Config{})
	p := newPeer(t)
	if err := s.SetRemote(p.addr(), PCMU, 96); err != nil {
		t.Fatal(err)
	}
	if err := s.Play(context.Background(), Tone(440, 40*time.Millisecond, 0.3)); err != nil {
		t.Fatal(err)
	}
	if err := s.SendDTMF(context.Background(), '#', 90*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Play(context.Background(), Tone(440, 20*time.Millisecond, 0.3)); err != nil {
		t.Fatal(err)
	}
	got := p.recv(t, 2+7+1, time.Second)
	ev := got[2:9]
	// 100 ms (rounded up from 90) is 5 updates of 160 samples, then
	// the End packet twice more.
	wantDur := []uint16{160, 320, 480, 640, 800, 800, 800}
	for i, pkt := range ev {
		h := pkt.Header
		if h.PayloadType != 96 || h.SSRC != got[0].SSRC || h.SequenceNumber != got[1].SequenceNumber+1+uint16(i) {
			t.Errorf("event packet %d: %s", i, pkt.String())
		}
		if h.Timestamp != got[1].Timestamp+FrameSamples {
			t.Errorf("event packet %d has timestamp %d, want the event's start %d", i, h.Timestamp, got[1].Timestamp+FrameSamples)
		}
		if h.Marker != (i == 0) {
			t.Errorf("event packet %d: marker %v", i, h.Marker)
		}
		b := pkt.Payload
		if len(b) != 4 || b[0] != 11 || b[1]&0x3F != 10 || b[1]&0x40 != 0 {
			t.Errorf("event packet %d: payload %x", i, b)
		}
		if end := b[1]&0x80 != 0; end != (i >= 4) {
			t.Errorf("event packet %d: End %v", i, end)
		}
		if d := binary.BigEndian.Uint16(b[2:]); d != wantDur[i] {
			t.Errorf("event packet %d: duration %d, want %d", i, d, wantDur[i])
		}
	}
	after := got[9]
	if !after.Marker || after.SequenceNumber != ev[6].SequenceNumber+1 || after.Timestamp < ev[0].Timestamp+7*FrameSamples {
		t.Errorf("audio after the event: %s", after.String())
	}
}

func TestSendDTMFErrors(t *testing.T) {
	s := listen(t, Config{})
	p := newPeer(t)
	if err := s.SetRemote(p.addr(), PCMU, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SendDTMF(context.Background(), '1', 0); !errors.Is(err, ErrNoDTMF) {
		t.Errorf("SendDTMF without telephone-event returned %v, want ErrNoDTMF", err)
	}
	setRemote(t, s, p.addr(), PCMU)
	for _, d := range "xE+ 5" {
		if d == '5' {
			continue
		}
		if err := s.SendDTMF(context.Background(), d, 0); !errors.Is(err, ErrInvalidDigit) {
			t.Errorf("SendDTMF(%q) returned %v, want ErrInvalidDigit", d, err)
		}
	}
	// A cancelled event is ended at once, with three End packets.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := s.SendDTMF(ctx, '5', 5*time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("SendDTMF returned %v, want context.Canceled", err)
	}
	var ends int
	p.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 1500)
	for {
		n, _, err := p.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) == nil && pkt.Payload[1]&0x80 != 0 {
			ends++
		}
	}
	if ends != 3 {
		t.Errorf("%d End packets after cancelling, want 3", ends)
	}
	s.Close()
	if err := s.SendDTMF(context.Background(), '5', 0); !errors.Is(err, ErrClosed) {
		t.Errorf("SendDTMF after Close returned %v, want ErrClosed", err)
	}
}

// Received events: a digit comes on the End packet, once per timestamp;
// an old event's late End and non-digit events give nothing.
func TestDTMFReceive(t *testing.T) {
	s := listen(t, Config{})
	p := newPeer(t)
	setRemote(t, s, p.addr(), PCMU)
	run(t, s)
	seq := uint16(1)
	event := func(ts uint32, code byte, end bool) {
		b := []byte{code, 10, 0, 160}
		if end {
			b[1] |= 0x80
		}
		p.send(t, s.LocalAddr(), rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq, Timestamp: ts, SSRC: 7}, b)
		seq++
	}
	event(1000, 3, false)
	event(1000, 3, false)
	event(1000, 3, true)
	event(1000, 3, true)
	event(1000, 3, true)
	event(5000, 16, true) // flash: not a digit
	event(9000, 9, true)
	event(1000, 3, true) // a late End of the first event
	event(9000, 9, true)
	if got := digits(s, 200*time.Millisecond); got != "39" {
		t.Errorf("received %q, want \"39\"", got)
	}
}
