package media

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// peerConn is a bare UDP socket standing in for the far end.
type peerConn struct {
	*net.UDPConn
}

func newPeer(t *testing.T) peerConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return peerConn{conn}
}

func (p peerConn) addr() netip.AddrPort { return p.LocalAddr().(*net.UDPAddr).AddrPort() }

type received struct {
	rtp.Packet
	at time.Time
}

// recv reads n packets, failing after d.
func (p peerConn) recv(t *testing.T, n int, d time.Duration) []received {
	t.Helper()
	var got []received
	p.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 1500)
	for len(got) < n {
		m, _, err := p.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d packets of %d: %v", len(got), n, err)
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(slices.Clone(buf[:m])); err != nil {
			t.Fatal(err)
		}
		got = append(got, received{pkt, time.Now()})
	}
	return got
}

// quiet checks that nothing arrives for d.
func (p peerConn) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	p.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 1500)
	if _, _, err := p.ReadFromUDPAddrPort(buf); err == nil {
		t.Error("a packet arrived, want none")
	}
}

// send writes an RTP packet to dst.
func (p peerConn) send(t *testing.T, dst netip.AddrPort, h rtp.Header, payload []byte) {
	t.Helper()
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteToUDPAddrPort(b, dst); err != nil {
		t.Fatal(err)
	}
}

// Play sends 20 ms packets with consecutive sequence numbers, timestamps
// 160 apart and one SSRC; back-to-back Plays make one talkspurt, and one
// after a pause starts another, marked, its timestamp moved on by the pause.
func TestPlayPackets(t *testing.T) {
	s := listen(t, Config{})
	p := newPeer(t)
	setRemote(t, s, p.addr(), PCMA)
	ctx := context.Background()

	first := Tone(440, 70*time.Millisecond, 0.3) // 560 samples: 3 frames and a partial one
	if err := s.Play(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.Play(ctx, Tone(440, 40*time.Millisecond, 0.3)); err != nil {
		t.Fatal(err)
	}
	got := p.recv(t, 6, time.Second)
	time.Sleep(200 * time.Millisecond)
	if err := s.Play(ctx, Tone(440, 20*time.Millisecond, 0.3)); err != nil {
		t.Fatal(err)
	}
	got = append(got, p.recv(t, 1, time.Second)...)

	for i, pkt := range got {
		h := pkt.Header
		if h.Version != 2 || h.PayloadType != 8 || h.SSRC != got[0].SSRC || len(pkt.Payload) != FrameSamples {
			t.Errorf("packet %d: %v", i, pkt.String())
		}
		if h.SequenceNumber != got[0].SequenceNumber+uint16(i) {
			t.Errorf("packet %d has seq %d, want %d", i, h.SequenceNumber, got[0].SequenceNumber+uint16(i))
		}
		if want := i == 0 || i == 6; h.Marker != want {
			t.Errorf("packet %d: marker %v", i, h.Marker)
		}
		if i > 0 && i < 6 && h.Timestamp != got[i-1].Timestamp+FrameSamples {
			t.Errorf("packet %d: timestamp %d after %d", i, h.Timestamp, got[i-1].Timestamp)
		}
	}
	// The pause of ~200 ms is ~10 frames of 160 samples.
	if jump := got[6].Timestamp - got[5].Timestamp; jump < 8*FrameSamples || jump > 14*FrameSamples {
		t.Errorf("timestamp moved by %d over a 200 ms pause", jump)
	}
	// The partial frame is padded with silence, the rest is the tone.
	pcm := make([]int16, FrameSamples)
	AlawDecode(pcm, got[3].Payload)
	want := g711(first[480:], lawA)
	if !slices.Equal(pcm[:80], want) || slices.ContainsFunc(pcm[80:], func(v int16) bool { return v != 8 }) {
		t.Errorf("last frame of the first Play: %v", pcm)
	}
	if st := s.Stats(); st.PacketsSent != 7 {
		t.Errorf("PacketsSent %d, want 7", st.PacketsSent)
	}
}

// Packets are paced against a fixed schedule: 50 of them span 980 ms,
// give or take scheduling, however late each one is sent. The lower bound
// is what matters (no burst); the upper one only catches a stall, and is
// loose so that a loaded CI machine does not fail it.
func TestPlayPacing(t *testing.T) {
	s := listen(t, Config{})
	p := newPeer(t)
	setRemote(t, s, p.addr(), PCMU)
	go s.Play(context.Background(), Tone(440, time.Second, 0.3))
	got := p.recv(t, 50, 10*time.Second)
	span := got[49].at.Sub(got[0].at)
	t.Logf("50 packets over %v", span)
	if span < 930*time.Millisecond || span > 5*time.Second {
		t.Errorf("50 packets over %v, want 980 ms", span)
	}
}

// StopPlayback makes a running Play return ErrInterrupted within a frame
// and nothing more is sent; the next Play starts a new talkspurt.
func TestBargeIn(t *testing.T) {
	s := listen(t, Config{})
	p := newPeer(t)
	setRemote(t, s, p.addr(), PCMU)
	done := make(chan error, 1)
	go func() { done <- s.Play(context.Background(), Tone(440, 2*time.Second, 0.3)) }()
	p.recv(t, 10, time.Second)

	atStop := s.Stats().PacketsSent
	s.StopPlayback()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Play did not return after StopPlayback")
	}
	if !errors.Is(err, ErrInterrupted) {
		t.Errorf("Play returned %v, want ErrInterrupted", err)
	}
	// Within a frame: at most the packet being sent as it was stopped
	// goes out after, however slow the machine.
	if after := s.Stats().PacketsSent - atStop; after > 1 {
		t.Errorf("%d packets sent after StopPlayback, want at most 1", after)
	}
	sent := s.Stats().PacketsSent
	if sent > 20 {
		t.Errorf("%d packets sent of a 2 s Play stopped after 10", sent)
	}
	// Drain what was in flight, then nothing.
	for p.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); ; {
		if _, _, err := p.ReadFromUDPAddrPort(make([]byte, 1500)); err != nil {
			break
		}
	}
	p.quiet(t, 100*time.Millisecond)
	if s.Stats().PacketsSent != sent {
		t.Error("packets were sent after Play returned")
	}

	// A stop before a Play does not touch it.
	s.StopPlayback()
	if err := s.Play(context.Background(), Tone(440, 40*time.Millisecond, 0.3)); err != nil {
		t.Fatalf("Play after StopPlayback: %v", err)
	}
	got := p.recv(t, 2, time.Second)
	if !got[0].Marker || got[1].Marker {
		t.Error("the Play after a barge-in does not start a marked talkspurt")
	}
}

// StopPlayback also stops a Play waiting for the running one, and ctx
// and Close end a Play.
func TestPlayEnds(t *testing.T) {
	s := listen(t, Config{})
	p := newPeer(t)
	setRemote(t, s, p.addr(), PCMU)
	long := Tone(440, 2*time.Second, 0.3)
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- s.Play(context.Background(), long) }()
	p.recv(t, 2, time.Second)
	go func() { second <- s.Play(context.Background(), long) }()
	time.Sleep(20 * time.Millisecond) // let the second one queue
	s.StopPlayback()
	for _, ch := range []chan error{first, second} {
		if err := <-ch; !errors.Is(err, ErrInterrupted) {
			t.Errorf("Play returned %v, want ErrInterrupted", err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { first <- s.Play(ctx, long) }()
	p.recv(t, 2, time.Second)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("Play returned %v, want context.Canceled", err)
	}

	go func() { first <- s.Play(context.Background(), long) }()
	p.recv(t, 2, time.Second)
	s.Close()
	if err := <-first; !errors.Is(err, ErrClosed) {
		t.Errorf("Play returned %v, want ErrClosed", err)
	}
	if err := s.Play(context.Background(), long); !errors.Is(err, ErrClosed) {
		t.Errorf("Play after Close returned %v, want ErrClosed", err)
	}
}

func TestPlayWithoutRemote(t *testing.T) {
	s := listen(t, Config{})
	if err := s.Play(context.Background(), Tone(440, 20*time.Millisecond, 0.3)); !errors.Is(err, ErrNoRemote) {
		t.Errorf("Play before SetRemote returned %v, want ErrNoRemote", err)
	}
	setRemote(t, s, netip.AddrPort{}, PCMU) // latch
	if err := s.Play(context.Background(), Tone(440, 20*time.Millisecond, 0.3)); !errors.Is(err, ErrNoRemote) {
		t.Errorf("Play before latching returned %v, want ErrNoRemote", err)
	}
	if err := s.SendDTMF(context.Background(), '1', 0); !errors.Is(err, ErrNoRemote) {
		t.Errorf("SendDTMF before latching returned %v, want ErrNoRemote", err)
	}
}

// PlayCount tells how much of a cut Play went out: exactly the packets
// sent, fewer than the whole.
func TestPlayCount(t *testing.T) {
	s := listen(t, Config{})
	p := newPeer(t)
	setRemote(t, s, p.addr(), PCMA)
	pcm := Tone(440, 2*time.Second, 0.3)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.PlayCount(context.Background(), pcm)
		done <- result{n, err}
	}()
	p.recv(t, 5, 10*time.Second)
	s.StopPlayback()
	r := <-done
	if !errors.Is(r.err, ErrInterrupted) {
		t.Fatalf("PlayCount: %v, want ErrInterrupted", r.err)
	}
	if sent := int(s.Stats().PacketsSent); r.n != sent*FrameSamples || r.n >= len(pcm) || r.n < 5*FrameSamples {
		t.Fatalf("PlayCount = %d samples, %d packets sent, of %d", r.n, sent, len(pcm))
	}
	n, err := s.PlayCount(context.Background(), pcm[:FrameSamples+10])
	if err != nil || n != FrameSamples+10 {
		t.Fatalf("whole PlayCount = %d %v", n, err)
	}
}
