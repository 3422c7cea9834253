package media

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"
)

// Errors returned by a Session.
var (
	// ErrMediaTimeout ends Run when no packet came from the remote for the
	// configured MediaTimeout: the other side is gone without a BYE.
	ErrMediaTimeout = errors.New("media: no RTP from remote")
	// ErrClosed is returned by a Session's methods after Close.
	ErrClosed = errors.New("media: session closed")
	// ErrInterrupted is returned by Play when StopPlayback cut it short.
	ErrInterrupted = errors.New("media: playback interrupted")
	// ErrNoRemote is returned by Play and SendDTMF before SetRemote gave
	// an address or one was latched.
	ErrNoRemote = errors.New("media: remote address not known")
	// ErrUnsupportedCodec is returned by SetRemote for a codec other than
	// PCMU or PCMA at 8 kHz.
	ErrUnsupportedCodec = errors.New("media: unsupported codec")
)

// Defaults and bounds of Config.
const (
	// DefaultMediaTimeout is how long Run waits for a packet by default.
	DefaultMediaTimeout = 30 * time.Second
	// DefaultJitterDepth is the jitter buffer's default playout delay.
	DefaultJitterDepth = 60 * time.Millisecond
	// MinJitterDepth is the least JitterDepth, one frame.
	MinJitterDepth = 20 * time.Millisecond
	// MaxJitterDepth is the greatest JitterDepth.
	MaxJitterDepth = 200 * time.Millisecond
	// DefaultFrameQueue is how many frames Frames buffers by default.
	DefaultFrameQueue = 32
)

// Config tunes a Session. The zero value gives the defaults.
type Config struct {
	// MediaTimeout ends Run with ErrMediaTimeout after this long without a
	// packet from the remote. Zero means DefaultMediaTimeout; a negative
	// value disables the check (for a call on hold).
	MediaTimeout time.Duration
	// JitterDepth is how long the jitter buffer holds a talkspurt's first
	// packet before playing it, rounded up to whole 20 ms frames; it is the
	// lateness a packet may have and still be played. 40 to 60 ms suits most
	// networks. Zero means DefaultJitterDepth.
	JitterDepth time.Duration
	// FrameQueue is how many frames Frames buffers for a slow reader before
	// dropping. Zero means DefaultFrameQueue.
	FrameQueue int
}

// Validate reports every field of c that is out of range.
func (c Config) Validate() error {
	var errs []error
	if c.JitterDepth != 0 && (c.JitterDepth < MinJitterDepth || c.JitterDepth > MaxJitterDepth) {
		errs = append(errs, fmt.Errorf("media: JitterDepth %v is outside %v-%v", c.JitterDepth, MinJitterDepth, MaxJitterDepth))
	}
	if c.FrameQueue < 0 || c.FrameQueue > 1000 {
		errs = append(errs, fmt.Errorf("media: FrameQueue %d is outside 0-1000", c.FrameQueue))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.MediaTimeout == 0 {
		c.MediaTimeout = DefaultMediaTimeout
	}
	if c.JitterDepth == 0 {
		c.JitterDepth = DefaultJitterDepth
	}
	if c.FrameQueue == 0 {
		c.FrameQueue = DefaultFrameQueue
	}
	return c
}

// Frame is 20 ms of received audio, in playout order.
type Frame struct {
	// PCM holds FrameSamples samples. It is reused: it stays valid only
	// until the next receive from Frames; copy it to keep it.
	PCM []int16
	// Seq and Timestamp are the RTP sequence number and timestamp of the
	// packet played, or of the packet that was due for a concealed frame.
	// When the remote changes SSRC, its new sequence numbers are shifted to
	// continue the old ones.
	Seq       uint16
	Timestamp uint32
	// Concealed reports that no packet was played: PCM fades out the last
	// frame (a lost packet) or is silence (the sender paused).
	Concealed bool
}

// Stats counts a Session's packets and frames.
type Stats struct {
	PacketsReceived uint64 // RTP packets accepted from the remote, late ones included, duplicates not
	PacketsSent     uint64 // RTP packets sent, audio and events
	Lost            int64  // packets expected but never received (RFC 3550 cumulative loss)
	Late            uint64 // packets that arrived after their turn and were dropped
	Duplicates      uint64 // packets received twice and dropped
	Concealed       uint64 // frames of lost or late packets filled in (not the silence while the remote pauses)
	Discarded       uint64 // packets dropped to keep the jitter buffer near its depth
	Ignored         uint64 // packets from a source other than the remote
	Invalid         uint64 // malformed packets, or of a payload type or size not negotiated
	Overflow        uint64 // frames and digits dropped because their reader fell behind
}

// peer is what SetRemote negotiated; it is replaced, never changed.
type peer struct {
	addr   netip.AddrPort // invalid until latched
	law    law
	pt     uint8
	dtmfPT uint8 // 0 when telephone-event was not negotiated
}

// Run states.
const (
	stateNew int32 = iota
	stateRunning
	stateDone
)

// A Session is one call's RTP stream on one UDP port: it receives audio
// into Frames and digits into DTMF while Run runs, and sends audio with
// Play and digits with SendDTMF. It sends no RTCP. Its methods are safe
// for concurrent use; Run may be called once.
type Session struct {
	cfg    Config
	conn   *net.UDPConn
	local  netip.AddrPort
	ports  *PortRange
	port   int
	ssrc   uint32
	remote atomic.Pointer[peer]

	frames chan Frame
	dtmf   chan rune
	wake   chan struct{} // the first packet arrived: start the playout clock
	state  atomic.Int32

	closeOnce sync.Once
	closed    chan struct{}

	// Receive side: the reader's and the playout's state under mu, then
	// each one's own.
	mu       sync.Mutex
	jb       jitterBuffer
	rx       rxState
	stats    Stats
	woke     bool
	hdr      rtp.Header            // the reader's, reused to parse without allocating
	bufs     [][FrameSamples]int16 // the playout's ring of Frame.PCM
	bufIdx   int                   // the playout's next buffer
	overflow atomic.Uint64

	// Send side.
	sendMu sync.Mutex
	snd    sender
	sent   atomic.Uint64
	stopMu sync.Mutex
	stop   chan struct{} // closed by StopPlayback
}

// rxState follows the remote's stream: its SSRC, the sequence numbers for
// loss accounting (RFC 3550 appendix A.1) and the last DTMF event.
type rxState struct {
	have     bool // a packet has been seen
	ssrc     uint32
	offset   uint16 // added to sequence numbers to continue an earlier SSRC's
	vmax     uint16 // highest sequence number after the offset
	prevSSRC uint32 // the SSRC replaced last, whose stragglers are dropped
	prevMax  uint16 // its highest sequence number
	havePrev bool
	base     uint32 // first extended sequence number of this SSRC
	max      uint32 // highest extended sequence number
	received uint32 // distinct packets of this SSRC
	lostPrev int64  // loss of earlier SSRCs

	eventTS   uint32
	haveEvent bool
}

// Listen opens a Session on ip with the default Config.
func Listen(ip netip.Addr, ports *PortRange) (*Session, error) {
	return Config{}.Listen(ip, ports)
}

// Listen opens a Session on ip, on a port taken from ports or, when ports
// is nil, one the system picks. An unspecified ip (0.0.0.0 or ::) listens
// on every interface; the SDP must then name a routable address.
func (c Config) Listen(ip netip.Addr, ports *PortRange) (*Session, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !ip.IsValid() {
		return nil, errors.New("media: listen: no IP address")
	}
	c = c.withDefaults()
	ip = ip.Unmap()
	network := "udp6"
	if ip.Is4() {
		network = "udp4"
	}
	bind := func(port int) (*net.UDPConn, error) {
		return net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	}
	var (
		conn *net.UDPConn
		port int
		err  error
	)
	if ports == nil {
		if conn, err = bind(0); err != nil {
			return nil, fmt.Errorf("media: listen: %w", err)
		}
	} else {
		for range ports.Len() {
			p, ok := ports.take()
			if !ok {
				break
			}
			if conn, err = bind(p); err == nil {
				port = p
				break
			}
			ports.release(p)
			if !errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("media: listen: %w", err)
			}
		}
		if conn == nil {
			return nil, ErrNoPorts
		}
	}
	var r [10]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read does not fail
	s := &Session{
		cfg:    c,
		conn:   conn,
		local:  conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		ports:  ports,
		port:   port,
		ssrc:   binary.BigEndian.Uint32(r[0:]),
		frames: make(chan Frame, c.FrameQueue),
		dtmf:   make(chan rune, 16),
		wake:   make(chan struct{}, 1),
		closed: make(chan struct{}),
		bufs:   make([][FrameSamples]int16, c.FrameQueue+2),
		stop:   make(chan struct{}),
	}
	s.local = netip.AddrPortFrom(s.local.Addr().Unmap(), s.local.Port())
	s.jb.depth = int((c.JitterDepth + FrameDuration - 1) / FrameDuration)
	s.snd.init(s.ssrc, binary.BigEndian.Uint16(r[4:]), binary.BigEndian.Uint32(r[6:]))
	return s, nil
}

// LocalAddr returns the address and port the Session receives on, for the
// SDP's c= and m= lines.
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// SetRemote sets where audio goes and what is expected back: the
// negotiated codec (PCMU or PCMA) and telephone-event payload type (96-127,
// or 0 if none was negotiated). It may be called again, on a re-INVITE.
//
// Packets from any other address are ignored. When addr is not valid or its
// IP is unspecified, the Session latches instead: it takes the source of the
// first valid packet as the remote (symmetric RTP, for callers behind NAT
// whose SDP address is unreachable) and sends nothing until then.
func (s *Session) SetRemote(addr netip.AddrPort, codec Codec, dtmfPT uint8) error {
	l := codec.law()
	if l == lawNone {
		return fmt.Errorf("%w: %s/%d", ErrUnsupportedCodec, codec.Name, codec.ClockRate)
	}
	if dtmfPT != 0 && (dtmfPT < 96 || dtmfPT > 127) {
		return fmt.Errorf("media: telephone-event payload type %d is not dynamic", dtmfPT)
	}
	if addr.IsValid() && !addr.Addr().IsUnspecified() && addr.Port() == 0 {
		return errors.New("media: remote port 0")
	}
	p := &peer{law: l, pt: codec.PayloadType, dtmfPT: dtmfPT}
	if addr.IsValid() && !addr.Addr().IsUnspecified() {
		p.addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	}
	s.remote.Store(p)
	return nil
}

// Frames returns the received audio, one frame per 20 ms from JitterDepth
// after the first packet until Run returns, when it is closed. Frames the
// reader does not take in time are dropped and counted in Stats.Overflow.
func (s *Session) Frames() <-chan Frame { return s.frames }

// DTMF returns the digits received as RFC 4733 events (0-9, *, #, A-D),
// each once, when its event ends. It is closed when Run returns.
func (s *Session) DTMF() <-chan rune { return s.dtmf }

// Stats returns the counters so far.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	st.Lost = s.rx.lostPrev
	if s.rx.have {
		st.Lost += int64(s.rx.max-s.rx.base+1) - int64(s.rx.received)
	}
	st.Late, st.Duplicates = s.jb.late, s.jb.duplicates
	st.Concealed, st.Discarded = s.jb.concealed, s.jb.discarded
	s.mu.Unlock()
	st.Overflow = s.overflow.Load()
	st.PacketsSent = s.sent.Load()
	return st
}

// Run receives packets and plays them out into Frames until ctx ends
// (it returns nil), the Session is closed (ErrClosed), or no packet came
// from the remote for the MediaTimeout (ErrMediaTimeout).
func (s *Session) Run(ctx context.Context) error {
	if !s.state.CompareAndSwap(stateNew, stateRunning) {
		if s.state.Load() == stateDone {
			return ErrClosed
		}
		return errors.New("media: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	unblock := context.AfterFunc(ctx, func() { _ = s.conn.SetReadDeadline(time.Now()) })
	defer unblock()
	var wg sync.WaitGroup
	wg.Go(func() { s.playout(ctx) })
	err := s.receive(ctx)
	cancel()
	wg.Wait()
	s.state.Store(stateDone)
	close(s.frames)
	close(s.dtmf)
	return err
}

// receive reads packets until ctx ends, the connection closes or the
// remote falls silent. The read deadline is the media timeout, re-armed
// only when it passes, not per packet.
func (s *Session) receive(ctx context.Context) error {
	timeout := s.cfg.MediaTimeout
	last := time.Now()
	if timeout > 0 {
		_ = s.conn.SetReadDeadline(last.Add(timeout))
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err == nil {
			if s.handlePacket(buf[:n], from) {
				last = time.Now()
			}
			continue
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, net.ErrClosed):
			return ErrClosed
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("media: read: %w", err)
		case timeout > 0 && time.Since(last) >= timeout:
			return ErrMediaTimeout
		}
		if timeout > 0 {
			_ = s.conn.SetReadDeadline(last.Add(timeout))
		} else {
			_ = s.conn.SetReadDeadline(time.Time{})
		}
		if ctx.Err() != nil { // ctx ended between the read and the re-arm
			return nil
		}
	}
}

// handlePacket checks one datagram and hands it to the jitter buffer or
// the DTMF decoder. It reports whether the packet came from the remote and
// was valid, which keeps the media timeout at bay.
func (s *Session) handlePacket(b []byte, from netip.AddrPort) bool {
	p := s.remote.Load()
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if p == nil || (p.addr.IsValid() && from != p.addr) {
		s.count(&s.stats.Ignored)
		return false
	}
	h := &s.hdr
	n, err := h.Unmarshal(b)
	if err != nil || h.Version != 2 {
		s.count(&s.stats.Invalid)
		return false
	}
	payload := b[n:]
	if h.Padding {
		pad := int(b[len(b)-1])
		if pad == 0 || pad > len(payload) {
			s.count(&s.stats.Invalid)
			return false
		}
		payload = payload[:len(payload)-pad]
	}
	audio := h.PayloadType == p.pt
	if audio && len(payload) != FrameSamples ||
		!audio && (p.dtmfPT == 0 || h.PayloadType != p.dtmfPT || len(payload) < 4) {
		s.count(&s.stats.Invalid)
		return false
	}
	if !p.addr.IsValid() { // latch onto the first valid source
		latched := *p
		latched.addr = from
		s.remote.CompareAndSwap(p, &latched)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	seq, ok := s.stream(h.SSRC, h.SequenceNumber)
	if !ok {
		s.jb.late++
		return true
	}
	var res pushResult
	if audio {
		res = s.jb.push(seq, h.Timestamp, p.law, payload, true)
	} else {
		res = s.jb.push(seq, h.Timestamp, lawNone, nil, false)
	}
	if res == duplicate {
		return true
	}
	s.rx.received++
	s.stats.PacketsReceived++
	if !audio {
		s.event(h.Timestamp, payload)
	}
	if !s.woke {
		s.woke = true
		s.wake <- struct{}{}
	}
	return true
}

// count adds one to a receive counter.
func (s *Session) count(c *uint64) {
	s.mu.Lock()
	*c++
	s.mu.Unlock()
}

// maxDropout is the sequence jump taken as a restart rather than loss.
const maxDropout = 3000

// stream follows the remote's SSRC and sequence numbers. It returns the
// sequence number the jitter buffer knows the packet by, and false for a
// straggler of the stream just replaced, to be dropped (a stream that
// comes back with newer numbers is a change of SSRC again). When the SSRC changes (the
// far end restarted its stream, say after a transfer) the new numbering is
// shifted to continue the old one, so that what is buffered still plays
// and the new packets follow without a gap. Must hold s.mu.
func (s *Session) stream(ssrc uint32, seq uint16) (uint16, bool) {
	r := &s.rx
	switch {
	case !r.have:
		r.have, r.ssrc, r.offset, r.vmax = true, ssrc, 0, seq
		r.base, r.max, r.received = 1<<16|uint32(seq), 1<<16|uint32(seq), 0
	case ssrc == r.ssrc:
		d := int64(int16(seq - uint16(r.max)))
		if d > maxDropout || d < -maxDropout { // a restart: count loss afresh
			r.lostPrev += int64(r.max-r.base+1) - int64(r.received)
			r.base, r.max, r.received = 1<<16|uint32(seq), 1<<16|uint32(seq), 0
			break
		}
		ext := uint32(int64(r.max) + d)
		r.max = max(r.max, ext)
		r.base = min(r.base, ext) // the stream's first packets came reordered
	case r.havePrev && ssrc == r.prevSSRC && int16(seq-r.prevMax) <= 0:
		return 0, false // no newer than the replaced stream's last packet
	default:
		r.lostPrev += int64(r.max-r.base+1) - int64(r.received)
		r.havePrev, r.prevSSRC, r.prevMax, r.ssrc = true, r.ssrc, uint16(r.max), ssrc
		r.offset = r.vmax + 1 - seq
		r.base, r.max, r.received = 1<<16|uint32(seq), 1<<16|uint32(seq), 0
		r.haveEvent = false
	}
	v := seq + r.offset
	if int16(v-r.vmax) > 0 {
		r.vmax = v
	}
	return v, true
}

// playout ticks the jitter buffer every 20 ms from the first packet on,
// against a fixed schedule so that ticks do not drift.
func (s *Session) playout(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-s.wake:
	}
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * FrameDuration)
		if late := time.Since(due); late > 5*FrameDuration {
			// Stalled (a suspended process): skip the missed ticks rather
			// than burst them; the jitter buffer sheds what piled up.
			k = int(time.Since(start) / FrameDuration)
			due = start.Add(time.Duration(k) * FrameDuration)
		}
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		s.tick()
	}
}

// tick plays out one frame into Frames.
func (s *Session) tick() {
	buf := s.bufs[s.bufIdx][:]
	s.mu.Lock()
	seq, ts, concealed, ok := s.jb.pop(buf)
	s.mu.Unlock()
	if !ok {
		return
	}
	select {
	case s.frames <- Frame{PCM: buf, Seq: seq, Timestamp: ts, Concealed: concealed}:
		s.bufIdx = (s.bufIdx + 1) % len(s.bufs)
	default:
		s.overflow.Add(1)
	}
}

// Close stops Run, makes Play and SendDTMF return ErrClosed and gives the
// port back to its PortRange.
func (s *Session) Close() error {
	err := ErrClosed
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.conn.Close()
		if s.ports != nil {
			s.ports.release(s.port)
		}
		if s.state.CompareAndSwap(stateNew, stateDone) {
			close(s.frames)
			close(s.dtmf)
		}
	})
	return err
}
