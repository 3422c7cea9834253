package voice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ringfence/ringfence/internal/voice/media"
)

// Timing of the Server.
const (
	// byeTimeout bounds the BYEs the Server sends on its own.
	byeTimeout = 5 * time.Second
	// retryAfter is the Retry-After of a 503, in seconds.
	retryAfter = "5"
	// maxMessage is the largest SIP message read.
	maxMessage = 16 << 10
)

// allow is the Allow header value: the methods the Server handles.
const allow = "INVITE, ACK, BYE, CANCEL, OPTIONS"

// Log attribute keys.
const (
	logCall    = "call"
	logTrunk   = "trunk"
	logFrom    = "from"
	logSource  = "source"
	logStatus  = "status"
	logReason  = "reason"
	logError   = "error"
	logCodec   = "codec"
	logNetwork = "transport"
)

// A Server answers calls on one address over UDP and TCP. New binds its
// listeners; Run serves them until its context ends.
type Server struct {
	cfg          Config
	h            Handler
	log          *slog.Logger
	realm        string
	users        map[string]*Trunk // trunks with credentials, by username
	nonceKey     [32]byte
	ports        *media.PortRange
	maxCalls     int
	mediaTimeout time.Duration
	rtpIP        netip.Addr // where RTP ports are bound
	publicIP     netip.Addr // what SDP and Contact say
	port         int        // the SIP port, UDP and TCP

	udp    *net.UDPConn
	tcp    *net.TCPListener
	ua     *sipgo.UserAgent
	sip    *sipgo.Server
	client *sipgo.Client

	// ackTimeout is how long a 200 OK is retransmitted waiting for its
	// ACK (64*T1, RFC 3261 13.3.1.4) before the call is given up with a
	// BYE; tests shorten it.
	ackTimeout time.Duration

	started   atomic.Bool
	closeOnce sync.Once
	stopping  chan struct{} // closed when Run's context ends
	base      context.Context

	mu      sync.Mutex
	calls   map[string]*Call // answered calls by dialog ID, until their goroutines end
	slots   int              // calls being set up or up
	closing bool
	wg      sync.WaitGroup // the calls' goroutines
}

// New checks cfg and binds the Server's UDP and TCP listeners. Call Run to
// serve them, or Close to release them.
func New(cfg Config, h Handler) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("voice: nil Handler")
	}
	s := &Server{
		cfg:          cfg,
		h:            h,
		log:          cfg.Logger,
		realm:        cfg.Realm,
		users:        make(map[string]*Trunk),
		mediaTimeout: cfg.MediaTimeout,
		ackTimeout:   64 * sip.T1,
		stopping:     make(chan struct{}),
		calls:        make(map[string]*Call),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.realm == "" {
		s.realm = DefaultRealm
	}
	if strings.ContainsAny(s.realm, "\"\\\r\n") {
		return nil, errors.New("voice: Realm has a quote, backslash or line break")
	}
	if s.mediaTimeout == 0 {
		s.mediaTimeout = DefaultMediaTimeout
	}
	for i := range s.cfg.Trunks {
		if t := &s.cfg.Trunks[i]; t.Username != "" {
			s.users[t.Username] = t
		}
	}
	_, _ = rand.Read(s.nonceKey[:])
	lo, hi := cfg.RTPPortMin, cfg.RTPPortMax
	if lo == 0 && hi == 0 {
		lo, hi = DefaultRTPPortMin, DefaultRTPPortMax
	}
	var err error
	if s.ports, err = media.NewPortRange(lo, hi); err != nil {
		return nil, fmt.Errorf("voice: %w", err)
	}
	s.maxCalls = s.ports.Len()
	if cfg.MaxCalls > 0 {
		s.maxCalls = min(cfg.MaxCalls, s.maxCalls)
	}

	host, port, _ := splitAddr(cfg.Addr)
	ip, err := resolve(host)
	if err != nil {
		return nil, err
	}
	s.rtpIP, s.publicIP = ip, cfg.PublicIP
	if !s.publicIP.IsValid() {
		if ip.IsUnspecified() {
			return nil, fmt.Errorf("voice: Addr %s listens on every interface: set PublicIP", cfg.Addr)
		}
		s.publicIP = ip
	}
	if s.udp, s.tcp, err = listen(ip, port); err != nil {
		return nil, err
	}
	s.port = s.udp.LocalAddr().(*net.UDPAddr).Port

	if err := s.initSIP(); err != nil {
		s.udp.Close()
		s.tcp.Close()
		return nil, err
	}
	return s, nil
}

// resolve returns the IP of a listen host: empty is every IPv4 interface.
func resolve(host string) (netip.Addr, error) {
	if host == "" {
		return netip.IPv4Unspecified(), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("voice: resolve Addr host %q: %w", host, err)
	}
	return ips[0].Unmap(), nil
}

// listen binds UDP and TCP on one port of ip. Port 0 tries a few ports the
// system picks for UDP until TCP can have the same.
func listen(ip netip.Addr, port int) (*net.UDPConn, *net.TCPListener, error) {
	for attempt := 0; ; attempt++ {
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			return nil, nil, fmt.Errorf("voice: listen: %w", err)
		}
		p := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p))))
		if err == nil {
			return u, t, nil
		}
		u.Close()
		if port != 0 || attempt == 20 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("voice: listen: %w", err)
		}
	}
}

// initSIP builds the sipgo user agent, server and client.
func (s *Server) initSIP() error {
	sipLog := slog.New(sipgoHandler{s.log.Handler()})
	parser := sip.NewParser()
	parser.MaxMessageLength = maxMessage
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("ringfence"),
		sipgo.WithUserAgentHostname(s.publicIP.String()),
		sipgo.WithUserAgentParser(parser),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			// Retransmitted responses to our BYEs: nothing to do.
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {}),
		),
	)
	if err != nil {
		return fmt.Errorf("voice: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		return fmt.Errorf("voice: %w", err)
	}
	client, err := sipgo.NewClient(ua,
		sipgo.WithClientLogger(sipLog),
		sipgo.WithClientHostname(s.publicIP.String()),
		sipgo.WithClientPort(s.port))
	if err != nil {
		ua.Close()
		return fmt.Errorf("voice: %w", err)
	}
	srv.OnInvite(s.onInvite)
	srv.OnAck(s.onAck)
	srv.OnBye(s.onBye)
	srv.OnCancel(s.onCancel)
	srv.OnOptions(s.onOptions)
	srv.OnNoRoute(s.onOther)
	s.ua, s.sip, s.client = ua, srv, client
	return nil
}

// Addr returns the addresses the Server listens on, UDP and TCP, which
// share a port.
func (s *Server) Addr() (udp, tcp netip.AddrPort) {
	u := s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
	t := s.tcp.Addr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(u.Addr().Unmap(), u.Port()), netip.AddrPortFrom(t.Addr().Unmap(), t.Port())
}

// ActiveCalls returns the number of calls being set up or up.
func (s *Server) ActiveCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slots
}

// Run serves SIP until ctx ends, then refuses new calls, hangs up the
// calls that are up, waits for their Handlers to return and releases the
// listeners. It returns nil when ctx ended, or the error that stopped a
// listener.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("voice: Run called twice")
	}
	s.base = context.WithoutCancel(ctx)
	errc := make(chan error, 2)
	go func() { errc <- s.sip.ServeUDP(s.udp) }()
	go func() { errc <- s.sip.ServeTCP(s.tcp) }()
	s.log.Info("SIP listening", "udp", s.udp.LocalAddr().String(), "tcp", s.tcp.Addr().String())

	var err error
	serving := 2
	select {
	case <-ctx.Done():
	case err = <-errc:
		serving--
		if err == nil {
			err = errors.New("listener closed")
		}
		err = fmt.Errorf("voice: serve: %w", err)
	}
	s.shutdown()
	s.Close()
	for range serving {
		<-errc
	}
	return err
}

// shutdown refuses new calls, hangs up the calls that are up and waits for
// every call's goroutines.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	calls := make([]*Call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	close(s.stopping)
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() { c.hangup(ReasonShutdown) })
	}
	wg.Wait()
	s.wg.Wait()
}

// Close releases the listeners. Run calls it; call it only if Run is not
// called.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.udp.Close()
		s.tcp.Close()
		s.ua.Close()
	})
	return nil
}

// reserve takes a call slot, reporting false when MaxCalls are up or the
// Server is stopping.
func (s *Server) reserve() (ok, closing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false, true
	}
	if s.slots >= s.maxCalls {
		return false, false
	}
	s.slots++
	return true, false
}

// release gives a call slot back.
func (s *Server) release() {
	s.mu.Lock()
	s.slots--
	s.mu.Unlock()
}

// lookup returns the call of an in-dialog request, or nil.
func (s *Server) lookup(req *sip.Request) *Call {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

// contact returns the Contact header for a transport.
func (s *Server) contact(transport string) *sip.ContactHeader {
	h := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: s.publicIP.String(), Port: s.port}}
	if t := strings.ToLower(transport); t != "" && t != "udp" {
		h.Address.UriParams = sip.NewParams()
		h.Address.UriParams.Add("transport", t)
	}
	return h
}

// respond sends a response built from req and reports whether it went out.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, body []byte, hdrs ...sip.Header) error {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("SIP response not sent", logStatus, code, logError, err)
		return err
	}
	return nil
}

// reject answers a request with a final error status, counts event and
// ends the transaction at once: a retransmitted request is answered again,
// and nothing is held for a caller that never acknowledges, which keeps a
// flood from piling up transactions.
func (s *Server) reject(req *sip.Request, tx sip.ServerTransaction, code int, reason, event string, hdrs ...sip.Header) {
	s.cfg.emit(event)
	s.log.Debug("SIP request refused", "method", string(req.Method), logStatus, code, logSource, req.Source())
	_ = s.respond(req, tx, code, reason, nil, hdrs...)
	tx.Terminate()
}

// sourceIP returns the address a request came from.
func sourceIP(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// onOptions answers OPTIONS, in or out of a dialog: trunks send them to
// check the line is up.
func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	_ = s.respond(req, tx, sip.StatusOK, "OK", nil,
		sip.NewHeader("Allow", allow),
		sip.NewHeader("Accept", "application/sdp"),
		s.contact(req.Transport()))
}

// onOther answers methods the Server does not handle.
func (s *Server) onOther(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	_ = s.respond(req, tx, sip.StatusMethodNotAllowed, "Method Not Allowed", nil, sip.NewHeader("Allow", allow))
}

// onCancel answers a CANCEL that matched no INVITE transaction; the
// transaction layer answers the others itself, 200 to the CANCEL and 487
// to the INVITE.
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	_ = s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
}

// onBye ends a call the caller hung up.
func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		_ = s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		return
	}
	_ = s.respond(req, tx, sip.StatusOK, "OK", nil)
	c.end(ReasonRemoteBye)
}

// onAck takes the ACK of a 2xx. An ACK of an error response whose
// transaction already ended lands here too, and is dropped.
func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if c := s.lookup(req); c != nil {
		c.acked(req)
	}
}

// onInvite sets up a call, or hands a re-INVITE to its call.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.reinvite(req, tx)
		return
	}
	s.cfg.emit(EventInvite)
	setup := &setup{srv: s, req: req, tx: tx}
	setup.ctx, setup.cancel = context.WithCancel(context.Background())
	defer setup.cancel()
	if !tx.OnCancel(func(*sip.Request) {
		// Runs inside the transaction, which sends the 487 itself.
		setup.canceled.Store(true)
		setup.cancel()
	}) {
		return // canceled or gone already
	}
	setup.run()
}

// sipgoHandler passes sipgo's warnings and errors to the Server's log with
// only the attributes known to hold no message content: sipgo logs whole
// messages, and parse errors quoting headers, which carry callers' numbers.
type sipgoHandler struct{ h slog.Handler }

// sipgoSafe are the attribute keys sipgoHandler keeps.
var sipgoSafe = map[string]bool{
	"caller": true, "network": true, "laddr": true, "raddr": true, "tx": true,
	"ip": true, "src": true, "dst": true, "ref": true, "addr": true, "error": true,
}

func (h sipgoHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.h.Enabled(ctx, l)
}

func (h sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	parse := strings.Contains(strings.ToLower(r.Message), "parse")
	out := slog.NewRecord(r.Time, r.Level, "sipgo: "+r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if sipgoSafe[a.Key] && !(parse && a.Key == "error") {
			out.AddAttrs(a)
		}
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h sipgoHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var keep []slog.Attr
	for _, a := range attrs {
		if sipgoSafe[a.Key] && a.Key != "error" {
			keep = append(keep, a)
		}
	}
	return sipgoHandler{h.h.WithAttrs(keep)}
}

func (h sipgoHandler) WithGroup(name string) slog.Handler { return sipgoHandler{h.h.WithGroup(name)} }

// retryAfterHeader is the Retry-After of a 503.
func retryAfterHeader() sip.Header { return sip.NewHeader("Retry-After", retryAfter) }

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
}

// contentTypeSDP reports whether a Content-Type is application/sdp.
func contentTypeSDP(req *sip.Request) bool {
	ct := req.ContentType()
	if ct == nil {
		return false
	}
	v, _, _ := strings.Cut(ct.Value(), ";")
	return strings.EqualFold(strings.TrimSpace(v), "application/sdp")
}

// cseqOf returns the CSeq number of a request, 0 if it has none.
func cseqOf(req *sip.Request) uint32 {
	if h := req.CSeq(); h != nil {
		return h.SeqNo
	}
	return 0
}
