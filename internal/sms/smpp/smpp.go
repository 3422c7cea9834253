// Package smpp sends messages to an operator's SMSC over an SMPP 3.4 transceiver
// bind and receives their delivery receipts.
//
// The protocol follows the SMPP v3.4 specification (issue 1.2, 1999): the PDUs
// bind_transceiver, submit_sm, deliver_sm, enquire_link, unbind and generic_nack
// with their responses, the GSM 03.38 default alphabet or UCS-2 for text, and
// the delivery receipt format of its Appendix B.
package smpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

// name is the provider name in errors.
const name = "smpp"

// Defaults for the Config fields left zero, and the backoff's ceiling.
const (
	// DefaultEnquireLink is how often the link is checked.
	DefaultEnquireLink = 30 * time.Second
	// DefaultWindow is how many submit_sm may await their response at once.
	DefaultWindow = 10
	// DefaultResponseTimeout bounds the wait for a response and to connect.
	DefaultResponseTimeout = 10 * time.Second
	// DefaultBackoff is the first wait between two bind attempts.
	DefaultBackoff = time.Second
	// MaxBackoff is the longest wait between two bind attempts.
	MaxBackoff = time.Minute
)

// Log attribute keys.
const (
	keyAddr = "smsc"
	keyErr  = "err"
)

// ErrClosed is the Err of the *sms.Error that Send returns once Close was called.
var ErrClosed = errors.New("smpp: sender closed")

// Reasons a session ends, kept as the Err of a CodeNetwork *sms.Error.
var (
	errUnbound = errors.New("smpp: SMSC unbound")
	errTimeout = errors.New("smpp: no response in time")
	errLost    = errors.New("smpp: connection lost")
)

// Config is what a Sender needs to bind to an SMSC.
type Config struct {
	// Addr is the SMSC's host:port.
	Addr string
	// SystemID (up to 15 characters) and Password (up to 8) authenticate the bind.
	SystemID string
	Password string
	// SystemType (up to 12 characters) is sent in the bind when the SMSC wants one.
	SystemType string
	// SourceAddr is the sender (up to 20 characters), with its type of number and
	// numbering plan: 1 and 1 for an international number, 5 and 0 for an
	// alphanumeric sender id.
	SourceAddr string
	SourceTON  uint8
	SourceNPI  uint8
	// EnquireLink is how often the link is checked; 0 means DefaultEnquireLink.
	EnquireLink time.Duration
	// Window is how many submit_sm may await their response at once; 0 means
	// DefaultWindow.
	Window int
	// ResponseTimeout bounds the wait for any response and the time to connect;
	// 0 means DefaultResponseTimeout.
	ResponseTimeout time.Duration
	// Backoff is the wait before the second bind attempt in a row, doubled after
	// each failure up to MaxBackoff; 0 means DefaultBackoff.
	Backoff time.Duration
	// OnReceipt, if set, is called with each delivery receipt, one at a time from
	// the session's reader: it must return quickly and must not call Close. The
	// receipt is acknowledged after it returns, so a receipt whose handling was cut
	// short by a lost connection comes again.
	OnReceipt func(Status)
	// Logger receives connection events (never a number or a text); nil discards them.
	Logger *slog.Logger
	// Dial opens the connection (a TLS dialer, for one); nil means TCP.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Sender keeps one transceiver bind to the SMSC, binding again with backoff when
// it is lost, and submits each message on it. SMPP has no idempotency key, so
// Sender is not a sms.Deduplicator.
type Sender struct {
	cfg    Config
	log    *slog.Logger
	window chan struct{}
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	mu      sync.Mutex
	sess    *session // the bound session, or nil
	lastErr error    // why there is no session; nil until the first attempt ends
	changed chan struct{}
}

var _ sms.Sender = (*Sender)(nil)

// New checks cfg and returns a Sender that starts binding at once, or an error
// naming every bad field. Close ends it.
func New(cfg Config) (*Sender, error) {
	var errs []error
	if _, port, err := net.SplitHostPort(cfg.Addr); err != nil || port == "" {
		errs = append(errs, errors.New("smpp: Addr must be host:port"))
	}
	if cfg.SystemID == "" || len(cfg.SystemID) > 15 {
		errs = append(errs, errors.New("smpp: SystemID must be 1 to 15 characters"))
	}
	if len(cfg.Password) > 8 {
		errs = append(errs, errors.New("smpp: Password must be at most 8 characters"))
	}
	if len(cfg.SystemType) > 12 {
		errs = append(errs, errors.New("smpp: SystemType must be at most 12 characters"))
	}
	if cfg.SourceAddr == "" || len(cfg.SourceAddr) > 20 {
		errs = append(errs, errors.New("smpp: SourceAddr must be 1 to 20 characters"))
	}
	for _, s := range []string{cfg.SystemID, cfg.Password, cfg.SystemType, cfg.SourceAddr} {
		if strings.ContainsRune(s, 0) {
			errs = append(errs, errors.New("smpp: SystemID, Password, SystemType and SourceAddr must not hold NUL"))
			break
		}
	}
	if cfg.EnquireLink < 0 || cfg.Window < 0 || cfg.ResponseTimeout < 0 || cfg.Backoff < 0 {
		errs = append(errs, errors.New("smpp: EnquireLink, Window, ResponseTimeout and Backoff must not be negative"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.EnquireLink == 0 {
		cfg.EnquireLink = DefaultEnquireLink
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.ResponseTimeout == 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Dial == nil {
		d := &net.Dialer{}
		cfg.Dial = d.DialContext
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{
		cfg:     cfg,
		log:     log,
		window:  make(chan struct{}, cfg.Window),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// Name returns "smpp".
func (s *Sender) Name() string { return name }

// Close unbinds, closes the connection and waits for the Sender's goroutines to
// end. Sends under way fail with a CodeNetwork *sms.Error; later ones with one
// whose Err is ErrClosed. Close always returns nil.
func (s *Sender) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// Send submits m as one submit_sm asking for a delivery receipt: in the GSM
// default alphabet when every character is in it, else in UCS-2; a text longer
// than one SMS goes in message_payload for the SMSC to split. It returns the
// SMSC's message_id, an *sms.Error with Code "smpp_0x%08X" for a refusal
// (temporary for throttling, a full queue and system errors), a temporary
// CodeNetwork *sms.Error while the bind is down or when no response came, or an
// error wrapping ctx.Err().
func (s *Sender) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	if m.Channel != sms.SMS && m.Channel != "" {
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeUnsupportedChannel}
	}
	dst := digits(m.To)
	text, coding, single := encodeText(m.Body)
	if dst == "" || m.Body == "" || len(text) > 0xFFFF {
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	if err := ctx.Err(); err != nil {
		return sms.Result{}, fmt.Errorf("smpp: %w", err)
	}
	select {
	case s.window <- struct{}{}:
		defer func() { <-s.window }()
	case <-ctx.Done():
		return sms.Result{}, fmt.Errorf("smpp: %w", ctx.Err())
	case <-s.ctx.Done():
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeNetwork, Temporary: true, Err: ErrClosed}
	}
	sess, err := s.session(ctx)
	if err != nil {
		return sms.Result{}, err
	}
	body := submitBody(
		address{ton: s.cfg.SourceTON, npi: s.cfg.SourceNPI, addr: s.cfg.SourceAddr},
		address{ton: 1, npi: 1, addr: dst}, // international, ISDN (E.164)
		coding, text, single)
	resp, err := sess.request(ctx, cmdSubmitSM, body)
	if err != nil {
		if ctx.Err() != nil {
			return sms.Result{}, fmt.Errorf("smpp: %w", ctx.Err())
		}
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeNetwork, Temporary: true, Err: err}
	}
	if resp.id == cmdGenericNack || resp.status != statusOK {
		return sms.Result{}, statusError(resp.status, false)
	}
	p := parser{b: resp.body}
	id := p.cstring(65)
	if resp.id != cmdSubmitSMResp || p.err != nil || id == "" {
		// The SMSC accepted something: submitting again could deliver twice.
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeBadResponse}
	}
	return sms.Result{ProviderID: id}, nil
}

// digits returns an E.164 number without its "+", or "" if it is not one.
func digits(e164 string) string {
	d, ok := strings.CutPrefix(e164, "+")
	if !ok || len(d) < 2 || len(d) > 15 || d[0] == '0' {
		return ""
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return ""
		}
	}
	return d
}

// statusError returns the *sms.Error for a command_status. Every refused bind is
// temporary: the message is fine and can go once the bind is put right.
func statusError(status uint32, bind bool) *sms.Error {
	temporary := bind
	switch status {
	case statusThrottled, statusMsgQFul, statusSysErr, statusTAppn:
		temporary = true
	}
	return &sms.Error{Provider: name, Code: fmt.Sprintf("smpp_0x%08X", status), Temporary: temporary}
}

// session returns the bound session, waiting for the first bind attempt to end
// if none has, or the error that explains why there is none.
func (s *Sender) session(ctx context.Context) (*session, error) {
	for {
		s.mu.Lock()
		sess, err, changed := s.sess, s.lastErr, s.changed
		s.mu.Unlock()
		if sess != nil {
			return sess, nil
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("smpp: %w", ctx.Err())
		}
	}
}

// setState records the bound session, or why there is none, and wakes waiters.
func (s *Sender) setState(sess *session, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sess, s.lastErr = sess, err
	close(s.changed)
	s.changed = make(chan struct{})
}

// run binds, waits for the session to end, and binds again, until Close. The
// wait before a new attempt starts at Backoff and doubles after each failed bind
// or short-lived session, up to MaxBackoff; a session that lasted MaxBackoff
// resets it.
func (s *Sender) run() {
	defer close(s.done)
	closed := &sms.Error{Provider: name, Code: sms.CodeNetwork, Temporary: true, Err: ErrClosed}
	delay := s.cfg.Backoff
	for {
		sess, err := s.connect(s.ctx)
		switch {
		case s.ctx.Err() != nil:
			if sess != nil {
				sess.unbind()
				sess.end(ErrClosed)
			}
			s.setState(nil, closed)
			return
		case err != nil:
			s.log.Warn("smpp bind failed", keyAddr, s.cfg.Addr, keyErr, err)
			s.setState(nil, err)
		default:
			s.log.Info("smpp bound", keyAddr, s.cfg.Addr)
			bound := time.Now()
			s.setState(sess, nil)
			select {
			case <-sess.dead:
				sess.wg.Wait()
				s.log.Warn("smpp session ended", keyAddr, s.cfg.Addr, keyErr, sess.err)
				s.setState(nil, &sms.Error{Provider: name, Code: sms.CodeNetwork, Temporary: true, Err: errLost})
				if time.Since(bound) >= MaxBackoff {
					delay = s.cfg.Backoff
				}
			case <-s.ctx.Done():
				s.setState(nil, closed)
				sess.unbind()
				sess.end(ErrClosed)
				return
			}
		}
		select {
		case <-time.After(delay):
		case <-s.ctx.Done():
			s.setState(nil, closed)
			return
		}
		delay = min(2*delay, max(MaxBackoff, s.cfg.Backoff))
	}
}

// connect dials the SMSC and binds as a transceiver. It returns a CodeNetwork
// *sms.Error when the SMSC cannot be reached or does not answer, and the
// command_status as a temporary *sms.Error when it refuses the bind.
func (s *Sender) connect(ctx context.Context) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.ResponseTimeout)
	conn, err := s.cfg.Dial(dctx, "tcp", s.cfg.Addr)
	cancel()
	if err != nil {
		return nil, &sms.Error{Provider: name, Code: sms.CodeNetwork, Temporary: true, Err: err}
	}
	sess := newSession(conn, s.cfg.ResponseTimeout, s.cfg.OnReceipt, s.log)
	resp, err := sess.request(ctx, cmdBindTransceiver, bindBody(s.cfg.SystemID, s.cfg.Password, s.cfg.SystemType))
	if err != nil {
		sess.end(err)
		return nil, &sms.Error{Provider: name, Code: sms.CodeNetwork, Temporary: true, Err: err}
	}
	if resp.id == cmdGenericNack || resp.status != statusOK {
		sess.end(errors.New("smpp: bind refused"))
		return nil, statusError(resp.status, true)
	}
	if resp.id != cmdBindTransceiverResp {
		sess.end(errors.New("smpp: unexpected bind response"))
		return nil, &sms.Error{Provider: name, Code: sms.CodeBadResponse, Temporary: true}
	}
	sess.keepAlive(s.cfg.EnquireLink)
	return sess, nil
}
