package media

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// listen opens a Session on loopback, closed when the test ends.
func listen(t *testing.T, cfg Config) *Session {
	t.Helper()
	s, err := cfg.Listen(loopback, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// run runs s until the test ends and returns Run's result.
func run(t *testing.T, s *Session) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return done
}

func setRemote(t *testing.T, s *Session, addr netip.AddrPort, c Codec) {
	t.Helper()
	if err := s.SetRemote(addr, c, TelephoneEvent.PayloadType); err != nil {
		t.Fatal(err)
	}
}

// pair returns two running Sessions sending to each other with codec c.
func pair(t *testing.T, cfg Config, c Codec) (a, b *Session) {
	t.Helper()
	a, b = listen(t, cfg), listen(t, cfg)
	setRemote(t, a, b.LocalAddr(), c)
	setRemote(t, b, a.LocalAddr(), c)
	run(t, a)
	run(t, b)
	return a, b
}

// frames collects copies of s's frames until stop says so or d passes.
func frames(t *testing.T, s *Session, d time.Duration, stop func([]Frame) bool) []Frame {
	t.Helper()
	var got []Frame
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-s.Frames():
			if !ok {
				return got
			}
			f.PCM = slices.Clone(f.PCM)
			got = append(got, f)
			if stop != nil && stop(got) {
				return got
			}
		case <-timeout:
			return got
		}
	}
}

// audio joins the PCM of the frames that were not concealed.
func audio(fs []Frame) []int16 {
	var pcm []int16
	for _, f := range fs {
		if !f.Concealed {
			pcm = append(pcm, f.PCM...)
		}
	}
	return pcm
}

func played(fs []Frame) int { return len(fs) - concealedCount(fs) }

func concealedCount(fs []Frame) int {
	n := 0
	for _, f := range fs {
		if f.Concealed {
			n++
		}
	}
	return n
}

// A tone played by one side is found by the other, both ways at once,
// through each G.711 law.
func TestToneBothWays(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		t.Run(c.Name, func(t *testing.T) {
			a, b := pair(t, Config{JitterDepth: 60 * time.Millisecond}, c)
			freqs := []float64{697, 1000, 1400, 2200}
			ctx := context.Background()
			var wg sync.WaitGroup
			wg.Go(func() {
				if err := a.Play(ctx, Tone(1000, 400*time.Millisecond, 0.3)); err != nil {
					t.Error(err)
				}
			})
			wg.Go(func() {
				if err := b.Play(ctx, Tone(2200, 400*time.Millisecond, 0.3)); err != nil {
					t.Error(err)
				}
			})
			var atA, atB []Frame
			wg.Go(func() { atB = frames(t, b, 2*time.Second, func(fs []Frame) bool { return played(fs) == 20 }) })
			wg.Go(func() { atA = frames(t, a, 2*time.Second, func(fs []Frame) bool { return played(fs) == 20 }) })
			wg.Wait()
			for _, tc := range []struct {
				at   string
				fs   []Frame
				want float64
			}{{"b", atB, 1000}, {"a", atA, 2200}} {
				if played(tc.fs) != 20 {
					t.Errorf("%s played %d frames of 20", tc.at, played(tc.fs))
				}
				if f, ok := DetectTone(audio(tc.fs), freqs...); !ok || f != tc.want {
					t.Errorf("%s heard %v (%v), want %v", tc.at, f, ok, tc.want)
				}
				for i := 1; i < len(tc.fs); i++ {
					if tc.fs[i].Seq != tc.fs[i-1].Seq+1 {
						t.Errorf("%s: frame %d has seq %d after %d", tc.at, i, tc.fs[i].Seq, tc.fs[i-1].Seq)
					}
				}
			}
			if st := b.Stats(); st.PacketsReceived != 20 || st.Lost != 0 || st.Concealed != 0 || st.Late != 0 {
				t.Errorf("b's stats %+v", st)
			}
		})
	}
}

// proxy forwards UDP from its address to dst, letting rule decide, by the
// packet's index in the stream, what to do: forward, drop, duplicate,
// swap with the next or delay.
type proxy struct {
	conn *net.UDPConn
	dst  netip.AddrPort
	rule func(i int) action
}

type action struct {
	drop   bool
	copies int           // extra copies
	hold   bool          // send after the next packet
	delay  time.Duration // send this much later
}

func newProxy(t *testing.T, dst netip.AddrPort, rule func(i int) action) *proxy {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{conn: conn, dst: dst, rule: rule}
	done := make(chan struct{})
	go p.run(done)
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return p
}

func (p *proxy) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *proxy) run(done chan struct{}) {
	defer close(done)
	var held []byte
	var wg sync.WaitGroup
	defer wg.Wait()
	buf := make([]byte, 1500)
	for i := 0; ; i++ {
		n, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		pkt := slices.Clone(buf[:n])
		a := p.rule(i)
		switch {
		case a.drop:
		case a.hold:
			held = pkt
			continue
		case a.delay > 0:
			wg.Go(func() {
				time.Sleep(a.delay)
				p.conn.WriteToUDPAddrPort(pkt, p.dst)
			})
		default:
			for range 1 + a.copies {
				p.conn.WriteToUDPAddrPort(pkt, p.dst)
			}
		}
		if held != nil {
			p.conn.WriteToUDPAddrPort(held, p.dst)
			held = nil
		}
	}
}

// Packets reordered, duplicated, dropped and delayed on the way come out
// of the jitter buffer in order, once each, with the losses concealed.
func TestJitterOverUDP(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{JitterDepth: 60 * time.Millisecond})
	dropped := map[int]bool{10: true, 30: true, 45: true, 46: true}
	p := newProxy(t, b.LocalAddr(), func(i int) action {
		switch {
		case dropped[i]:
			return action{drop: true}
		case i == 15:
			return action{copies: 1}
		case i == 50:
			return action{copies: 2}
		case i == 20:
			return action{hold: true}
		case i == 40:
			return action{delay: 200 * time.Millisecond}
		}
		return action{}
	})
	setRemote(t, a, p.addr(), PCMU)
	setRemote(t, b, p.addr(), PCMU)
	run(t, b)

	// Frame k is a constant level that u-law carries exactly.
	var pcm []int16
	for k := range 60 {
		pcm = append(pcm, slices.Repeat([]int16{level(k)}, FrameSamples)...)
	}
	go a.Play(context.Background(), pcm)
	var seq0 uint16
	fs := frames(t, b, 3*time.Second, func(fs []Frame) bool {
		seq0 = fs[0].Seq
		return fs[len(fs)-1].Seq == seq0+59
	})
	if len(fs) != 60 {
		t.Fatalf("got %d frames, want 60: %v", len(fs), seqs(fs))
	}
	concealed := map[int]bool{10: true, 30: true, 40: true, 45: true, 46: true}
	for k, f := range fs {
		if f.Seq != seq0+uint16(k) || f.Concealed != concealed[k] {
			t.Errorf("frame %d: seq +%d, concealed %v", k, f.Seq-seq0, f.Concealed)
			continue
		}
		want := level(k)
		if f.Concealed { // the previous frame at half amplitude, or less
			want = fs[k-1].PCM[0] / 2
		}
		if f.PCM[0] != want || f.PCM[FrameSamples-1] != want {
			t.Errorf("frame %d holds %d, want %d", k, f.PCM[0], want)
		}
	}
	st := b.Stats()
	want := Stats{PacketsReceived: 56, Lost: 4, Late: 1, Duplicates: 3, Concealed: 5}
	if st != want {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
}

func seqs(fs []Frame) []uint16 {
	var s []uint16
	for _, f := range fs {
		s = append(s, f.Seq)
	}
	return s
}

// Run ends with ErrMediaTimeout when the remote sends nothing for the
// MediaTimeout, from the start or after a stream, and packets from
// elsewhere do not keep it going.
func TestMediaTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	t.Run("nothing", func(t *testing.T) {
		s := listen(t, Config{MediaTimeout: timeout})
		setRemote(t, s, newPeer(t).addr(), PCMU)
		start := time.Now()
		if err := s.Run(context.Background()); !errors.Is(err, ErrMediaTimeout) {
			t.Fatalf("Run returned %v, want ErrMediaTimeout", err)
		}
		if took := time.Since(start); took < timeout {
			t.Errorf("timed out after %v, before %v", took, timeout)
		}
		if _, ok := <-s.Frames(); ok {
			t.Error("Frames is not closed after Run")
		}
		if _, ok := <-s.DTMF(); ok {
			t.Error("DTMF is not closed after Run")
		}
	})
	t.Run("foreign packets", func(t *testing.T) {
		s := listen(t, Config{MediaTimeout: timeout})
		setRemote(t, s, newPeer(t).addr(), PCMU)
		stranger := newPeer(t)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for i := uint16(0); ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					stranger.send(t, s.LocalAddr(), rtp.Header{Version: 2, SequenceNumber: i, SSRC: 1}, make([]byte, FrameSamples))
				}
			}
		}()
		if err := s.Run(context.Background()); !errors.Is(err, ErrMediaTimeout) {
			t.Fatalf("Run returned %v, want ErrMediaTimeout", err)
		}
		if st := s.Stats(); st.Ignored == 0 || st.PacketsReceived != 0 {
			t.Errorf("stats %+v, want packets ignored", st)
		}
	})
	t.Run("after a stream", func(t *testing.T) {
		a, b := listen(t, Config{}), listen(t, Config{MediaTimeout: timeout})
		setRemote(t, a, b.LocalAddr(), PCMU)
		setRemote(t, b, a.LocalAddr(), PCMU)
		go a.Play(context.Background(), Tone(440, 500*time.Millisecond, 0.3))
		start := time.Now()
		go frames(t, b, 2*time.Second, nil)
		if err := b.Run(context.Background()); !errors.Is(err, ErrMediaTimeout) {
			t.Fatalf("Run returned %v, want ErrMediaTimeout", err)
		}
		// The last of 25 packets goes 480 ms after the first.
		if took := time.Since(start); took < 480*time.Millisecond+timeout {
			t.Errorf("timed out after %v, while the stream ran", took)
		}
		if st := b.Stats(); st.PacketsReceived != 25 {
			t.Errorf("received %d packets, want 25", st.PacketsReceived)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		s := listen(t, Config{MediaTimeout: -1})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run returned %v, want nil when ctx ends", err)
		}
	})
}

// Run returns nil when ctx ends and ErrClosed when the Session is closed;
// it runs once.
func TestRunEnds(t *testing.T) {
	s := listen(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v when ctx ended, want nil", err)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("a second Run returned nil")
	}

	s = listen(t, Config{})
	go func() { done <- s.Run(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Run returned %v when closed, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close returned %v, want ErrClosed", err)
	}

	s = listen(t, Config{})
	s.Close()
	if err := s.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close returned %v, want ErrClosed", err)
	}
	if _, ok := <-s.Frames(); ok {
		t.Error("Frames is not closed after Close")
	}
}

// freeRange finds n even ports in a row that nothing listens on, below the
// ephemeral range that other tests' sockets come from, starting at random
// so that concurrent runs of the test do not meet.
func freeRange(t *testing.T, n int) (lo, hi int) {
	t.Helper()
	for range 100 {
		lo = 20000 + 2*rand.IntN(5000)
		ok := true
		for p := lo; p < lo+2*n; p += 2 {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(p))))
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return lo, lo + 2*n - 1
		}
	}
	t.Skip("no free port range")
	return
}

func TestPortRange(t *testing.T) {
	for _, bad := range [][2]int{{0, 10}, {10, 70000}, {20, 10}, {3, 3}} {
		if _, err := NewPortRange(bad[0], bad[1]); err == nil {
			t.Errorf("NewPortRange(%d, %d) succeeded", bad[0], bad[1])
		}
	}
	lo, hi := freeRange(t, 3)
	r, err := NewPortRange(lo-1, hi) // odd bounds: lo-1 is rounded up to lo
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 3 {
		t.Fatalf("Len %d, want 3", r.Len())
	}
	// A port taken by someone else is passed over.
	other, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(lo+2))))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var ss []*Session
	for range 2 {
		s, err := Listen(loopback, r)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ss = append(ss, s)
	}
	ports := []int{int(ss[0].LocalAddr().Port()), int(ss[1].LocalAddr().Port())}
	if slices.Sort(ports); !slices.Equal(ports, []int{lo, lo + 4}) {
		t.Errorf("ports %v, want %d and %d", ports, lo, lo+4)
	}
	if _, err := Listen(loopback, r); !errors.Is(err, ErrNoPorts) {
		t.Errorf("Listen on a full range returned %v, want ErrNoPorts", err)
	}
	if r.InUse() != 2 {
		t.Errorf("InUse %d after a failed Listen, want 2", r.InUse())
	}
	ss[0].Close()
	if r.InUse() != 1 {
		t.Errorf("InUse %d after Close, want 1", r.InUse())
	}
	s, err := Listen(loopback, r)
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	s.Close()
	ss[1].Close()
	if r.InUse() != 0 {
		t.Errorf("InUse %d after closing all, want 0", r.InUse())
	}
}

// Sessions opened and closed at once never share a port, and all ports
// come back.
func TestPortRangeConcurrent(t *testing.T) {
	lo, hi := freeRange(t, 8)
	r, err := NewPortRange(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				s, err := Listen(loopback, r)
				if errors.Is(err, ErrNoPorts) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if p := int(s.LocalAddr().Port()); p%2 != 0 || p < lo || p > hi {
					t.Errorf("port %d outside %d-%d or odd", p, lo, hi)
				}
				s.Close()
			}
		})
	}
	wg.Wait()
	if r.InUse() != 0 {
		t.Errorf("InUse %d, want 0", r.InUse())
	}
}

// Malformed packets and packets of other payload types are counted and
// dropped; only the remote's good packets make frames.
func TestInvalidPackets(t *testing.T) {
	s := listen(t, Config{JitterDepth: 40 * time.Millisecond})
	p := newPeer(t)
	setRemote(t, s, p.addr(), PCMU)
	run(t, s)
	raw := func(b []byte) {
		if _, err := p.WriteToUDPAddrPort(b, s.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	good := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 10, Timestamp: 1600, SSRC: 99}
	raw([]byte{0x80, 0, 1}) // shorter than a header
	p.send(t, s.LocalAddr(), rtp.Header{Version: 1, SSRC: 99}, make([]byte, FrameSamples))
	p.send(t, s.LocalAddr(), rtp.Header{Version: 2, PayloadType: 8, SSRC: 99}, make([]byte, FrameSamples)) // PCMA, not negotiated
	p.send(t, s.LocalAddr(), rtp.Header{Version: 2, PayloadType: 0, SSRC: 99}, make([]byte, 80))           // 10 ms
	p.send(t, s.LocalAddr(), rtp.Header{Version: 2, PayloadType: 101, SSRC: 99}, []byte{1, 2})             // short event
	bad := append([]byte{0xA0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 99}, make([]byte, 10)...)                     // padding longer than the packet
	bad[len(bad)-1] = 200
	raw(bad)
	newPeer(t).send(t, s.LocalAddr(), good, frameOf(1)) // from a stranger
	time.Sleep(50 * time.Millisecond)
	if st := s.Stats(); st.Invalid != 6 || st.Ignored != 1 || st.PacketsReceived != 0 {
		t.Errorf("stats %+v, want 6 invalid, 1 ignored", st)
	}
	select {
	case f := <-s.Frames():
		t.Errorf("a frame %+v came of bad packets", f)
	default:
	}
	p.send(t, s.LocalAddr(), good, frameOf(1))
	f := <-s.Frames()
	if f.Concealed || f.Seq != 10 || f.Timestamp != 1600 || f.PCM[0] != level(1) {
		t.Errorf("frame %+v", f)
	}
}

// With no remote address, the Session latches onto the first good packet's
// source and answers there, ignoring others from then on.
func TestLatch(t *testing.T) {
	s := listen(t, Config{})
	setRemote(t, s, netip.AddrPort{}, PCMU)
	run(t, s)
	p, stranger := newPeer(t), newPeer(t)
	p.send(t, s.LocalAddr(), rtp.Header{Version: 1, SSRC: 5}, make([]byte, FrameSamples)) // invalid: no latch
	time.Sleep(20 * time.Millisecond)
	for i := range 3 {
		p.send(t, s.LocalAddr(), rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 160, SSRC: 5}, frameOf(i))
	}
	time.Sleep(20 * time.Millisecond)
	stranger.send(t, s.LocalAddr(), rtp.Header{Version: 2, SequenceNumber: 3, SSRC: 6}, frameOf(3))
	time.Sleep(20 * time.Millisecond)
	if err := s.Play(context.Background(), Tone(440, 20*time.Millisecond, 0.3)); err != nil {
		t.Fatal(err)
	}
	p.recv(t, 1, time.Second)
	stranger.quiet(t, 50*time.Millisecond)
	if st := s.Stats(); st.PacketsReceived != 3 || st.Ignored != 1 || st.Invalid != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A new SSRC (the far end restarted its stream) continues the old one
// without a gap or counting the change of numbering as loss.
func TestNewSSRC(t *testing.T) {
	s := listen(t, Config{JitterDepth: MaxJitterDepth})
	p := newPeer(t)
	setRemote(t, s, p.addr(), PCMU)
	run(t, s)
	stream := func(ssrc uint32, seq0 uint16, n int, from int) {
		for i := range n {
			p.send(t, s.LocalAddr(), rtp.Header{Version: 2, SequenceNumber: seq0 + uint16(i), Timestamp: uint32(i) * 160, SSRC: ssrc}, frameOf(from+i))
			time.Sleep(20 * time.Millisecond)
		}
	}
	stream(1, 100, 10, 0)
	stream(2, 40000, 5, 10)
	stream(1, 109, 1, 99) // a straggler of the old stream: dropped
	stream(2, 40005, 5, 15)
	stream(1, 110, 5, 20) // the old stream back, with newer numbers
	fs := frames(t, s, 2*time.Second, func(fs []Frame) bool { return played(fs) == 25 })
	var levels []int16
	for _, f := range fs {
		if !f.Concealed {
			levels = append(levels, f.PCM[0])
		}
	}
	for k := range 25 {
		if k >= len(levels) || levels[k] != level(k) {
			t.Fatalf("played levels %v, want those of frames 0-24", levels)
		}
	}
	if st := s.Stats(); st.Lost != 0 || st.PacketsReceived != 25 || st.Late != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSetRemote(t *testing.T) {
	s := listen(t, Config{})
	addr := netip.MustParseAddrPort("127.0.0.1:4000")
	for _, tc := range []struct {
		addr   netip.AddrPort
		codec  Codec
		dtmfPT uint8
		ok     bool
	}{
		{addr, PCMU, 101, true},
		{addr, PCMA, 0, true},
		{addr, Codec{Name: "pcmu", PayloadType: 0, ClockRate: 8000}, 96, true},
		{netip.AddrPort{}, PCMU, 101, true},                        // latch
		{netip.MustParseAddrPort("0.0.0.0:4000"), PCMU, 101, true}, // latch
		{netip.MustParseAddrPort("[::ffff:127.0.0.1]:4000"), PCMU, 101, true},
		{addr, Codec{Name: "opus", PayloadType: 111, ClockRate: 48000}, 101, false},
		{addr, Codec{Name: "PCMU", PayloadType: 0, ClockRate: 16000}, 101, false},
		{addr, Codec{Name: "G722", PayloadType: 9, ClockRate: 8000}, 101, false},
		{addr, PCMU, 8, false},   // not dynamic
		{addr, PCMU, 128, false}, // not a payload type
		{netip.MustParseAddrPort("127.0.0.1:0"), PCMU, 101, false},
	} {
		err := s.SetRemote(tc.addr, tc.codec, tc.dtmfPT)
		if (err == nil) != tc.ok {
			t.Errorf("SetRemote(%v, %v, %d) = %v", tc.addr, tc.codec, tc.dtmfPT, err)
		}
	}
	if err := s.SetRemote(addr, Codec{Name: "opus", ClockRate: 48000}, 0); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("SetRemote(opus) = %v, want ErrUnsupportedCodec", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	err := Config{JitterDepth: 10 * time.Millisecond, FrameQueue: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "JitterDepth") || !strings.Contains(err.Error(), "FrameQueue") {
		t.Errorf("Validate = %v, want both fields named", err)
	}
	if _, err := (Config{JitterDepth: time.Second}).Listen(loopback, nil); err == nil {
		t.Error("Listen with a bad Config succeeded")
	}
	if _, err := Listen(netip.Addr{}, nil); err == nil {
		t.Error("Listen with no address succeeded")
	}
}

// BenchmarkSendReceive measures one frame's whole path over loopback UDP:
// encode, RTP header, send; receive, parse, jitter buffer, decode, deliver.
func BenchmarkSendReceive(b *testing.B) {
	for _, c := range []Codec{PCMU, PCMA} {
		b.Run(c.Name, func(b *testing.B) {
			tx, err := Listen(loopback, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Close()
			rx, err := Config{JitterDepth: MinJitterDepth}.Listen(loopback, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer rx.Close()
			tx.SetRemote(rx.LocalAddr(), c, 101)
			rx.SetRemote(tx.LocalAddr(), c, 101)
			pcm := Tone(1000, FrameDuration, 0.3)
			peer := tx.remote.Load()
			buf := make([]byte, 1500)
			b.ReportAllocs()
			for b.Loop() {
				if err := tx.sendAudio(peer, pcm, false); err != nil {
					b.Fatal(err)
				}
				n, from, err := rx.conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					b.Fatal(err)
				}
				rx.handlePacket(buf[:n], from)
				rx.tick()
				select {
				case <-rx.frames:
				default:
				}
			}
			if st := rx.Stats(); st.PacketsReceived != st.PacketsSent && st.Late+st.Discarded+st.Concealed > uint64(b.N)/100+2 {
				b.Errorf("stats %+v", st)
			}
		})
	}
}

// SetRemote again, as on a re-INVITE, moves both where audio goes and
// where it is accepted from, and may change the codec.
func TestReinvite(t *testing.T) {
	s := listen(t, Config{JitterDepth: 40 * time.Millisecond})
	old, moved := newPeer(t), newPeer(t)
	setRemote(t, s, old.addr(), PCMU)
	run(t, s)
	tone := Tone(1000, 40*time.Millisecond, 0.3)
	if err := s.Play(context.Background(), tone); err != nil {
		t.Fatal(err)
	}
	old.recv(t, 2, time.Second)
	setRemote(t, s, moved.addr(), PCMA)
	if err := s.Play(context.Background(), tone); err != nil {
		t.Fatal(err)
	}
	got := moved.recv(t, 2, time.Second)
	if got[0].PayloadType != 8 {
		t.Errorf("payload type %d after moving to PCMA", got[0].PayloadType)
	}
	old.quiet(t, 50*time.Millisecond)
	old.send(t, s.LocalAddr(), rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, frameOf(1))
	moved.send(t, s.LocalAddr(), rtp.Header{Version: 2, PayloadType: 8, SSRC: 2}, make([]byte, FrameSamples))
	time.Sleep(50 * time.Millisecond)
	if st := s.Stats(); st.Ignored != 1 || st.PacketsReceived != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestIPv6(t *testing.T) {
	ip := netip.IPv6Loopback()
	a, err := Listen(ip, nil)
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer a.Close()
	b, err := Listen(ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !a.LocalAddr().Addr().Is6() {
		t.Errorf("LocalAddr %v", a.LocalAddr())
	}
	setRemote(t, a, b.LocalAddr(), PCMU)
	setRemote(t, b, a.LocalAddr(), PCMU)
	run(t, b)
	go a.Play(context.Background(), Tone(1400, 200*time.Millisecond, 0.3))
	fs := frames(t, b, 2*time.Second, func(fs []Frame) bool { return played(fs) == 10 })
	if f, ok := DetectTone(audio(fs), 1000, 1400); !ok || f != 1400 {
		t.Errorf("heard %v, %v over IPv6", f, ok)
	}
}
