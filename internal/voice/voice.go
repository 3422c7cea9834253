// Package voice answers phone calls over SIP and carries their audio.
//
// A Server is a SIP user agent server on UDP and TCP (github.com/emiago/sipgo)
// that accepts calls from configured trunks only, negotiates G.711 and RFC
// 4733 telephone-events by SDP offer/answer (github.com/pion/sdp/v3), gives
// each call one RTP port of a range (package media) and hands the
// established call to a Handler. It answers INVITE with 100, 180 and 200,
// follows ACK, BYE, CANCEL, re-INVITE (hold included) and OPTIONS, and
// refuses what it cannot take with the proper status: 400 for malformed
// requests and SDP, 401/403 for unknown callers, 415, 420, 481, 486 at the
// call cap, 488 when no codec is shared, 503 when out of ports.
package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/ringfence/ringfence/internal/voice/media"
)

// Defaults of Config.
const (
	// DefaultRTPPortMin and DefaultRTPPortMax bound the RTP port range.
	DefaultRTPPortMin = 10000
	DefaultRTPPortMax = 20000
	// DefaultMediaTimeout ends a call after this long without RTP from
	// the caller (not counting while the caller holds the call).
	DefaultMediaTimeout = 30 * time.Second
	// DefaultRealm is the digest authentication realm.
	DefaultRealm = "ringfence"
	// MaxRingFor bounds Config.RingFor.
	MaxRingFor = time.Minute
)

// Config configures a Server. Only Addr and Trunks are required.
type Config struct {
	// Addr is the host:port the Server listens on, UDP and TCP alike. Port
	// 0 picks a free port, the same for both (see Server.Addr).
	Addr string
	// PublicIP is the address put in SDP (c=) and Contact headers. It
	// defaults to the IP of Addr and must be set when that is unspecified
	// (0.0.0.0 or ::).
	PublicIP netip.Addr
	// RTPPortMin and RTPPortMax bound the UDP ports of calls' audio, one
	// even port per call. Zero for both means DefaultRTPPortMin-Max.
	RTPPortMin, RTPPortMax int
	// Trunks are the peers calls are accepted from; any other caller gets
	// 403 Forbidden.
	Trunks []Trunk
	// MaxCalls caps concurrent calls, those being set up included; an
	// INVITE beyond it gets 486 Busy Here. Zero means as many as the RTP
	// port range holds.
	MaxCalls int
	// MediaTimeout ends a call that receives no RTP for this long while the
	// caller is meant to send. Zero means DefaultMediaTimeout; a negative
	// value disables the check.
	MediaTimeout time.Duration
	// RingFor is how long the call rings (180 Ringing) before it is
	// answered. Zero answers at once.
	RingFor time.Duration
	// Realm is the digest authentication realm. Empty means DefaultRealm.
	Realm string
	// Logger receives the Server's logs; nil discards them. No log line
	// carries a caller's number, only its masked form.
	Logger *slog.Logger
	// OnCall, if set, is called with one of the Event constants for every
	// INVITE and every outcome, to count them. It must not block.
	OnCall func(event string)
}

// A Trunk is a peer calls are accepted from: a carrier or PBX identified by
// its addresses, by digest credentials, or either.
type Trunk struct {
	// Name identifies the trunk in logs and in Call.Trunk.
	Name string
	// Networks are the source addresses whose requests are accepted
	// without authentication.
	Networks []netip.Prefix
	// Username and Password, when set, let a request from any address in
	// by digest authentication (RFC 2617/8760 with MD5, what SIP peers
	// speak): it is challenged with 401 and checked when it comes back.
	Username, Password string
	// TrustIdentity takes the caller's number from P-Asserted-Identity
	// (RFC 3325) when the trunk sends one; otherwise it is the user part
	// of From. Set it only for a trunk that asserts identities, since a
	// caller can put anything in From.
	TrustIdentity bool
}

// Events passed to Config.OnCall. They are stable, for metric labels.
const (
	EventInvite       = "invite"      // an INVITE for a new call arrived
	EventChallenged   = "challenged"  // answered 401 with a digest challenge
	EventForbidden    = "forbidden"   // 403: no trunk, or bad credentials
	EventBadRequest   = "bad_request" // 400, 413, 415, 420: malformed or unsupported request or SDP
	EventNoCodec      = "no_codec"    // 488: no shared codec or no audio
	EventBusy         = "busy"        // 486: MaxCalls reached
	EventUnavailable  = "unavailable" // 503: out of RTP ports or shutting down
	EventCanceled     = "canceled"    // CANCEL before the answer: 487
	EventAnswered     = "answered"    // 200 OK sent, Handler started
	EventEndRemoteBye = "end_" + ReasonRemoteBye
	EventEndHangup    = "end_" + ReasonHangup
	EventEndMedia     = "end_" + ReasonMediaTimeout
	EventEndNoAck     = "end_" + ReasonNoAck
	EventEndShutdown  = "end_" + ReasonShutdown
)

// Reasons a Call ends, from Call.Reason.
const (
	ReasonRemoteBye    = "remote_bye"    // the caller hung up
	ReasonHangup       = "hangup"        // Hangup was called, or HandleCall returned
	ReasonMediaTimeout = "media_timeout" // no RTP from the caller for MediaTimeout
	ReasonNoAck        = "no_ack"        // the caller never acknowledged the 200 OK
	ReasonShutdown     = "shutdown"      // the Server stopped
)

// A Handler takes established calls.
type Handler interface {
	// HandleCall runs a call, in its own goroutine, from just after the
	// 200 OK is sent. ctx ends when the call does (see Call.Done). When
	// HandleCall returns the call is hung up if it is still up.
	HandleCall(ctx context.Context, c *Call)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, c *Call)

// HandleCall calls f(ctx, c).
func (f HandlerFunc) HandleCall(ctx context.Context, c *Call) { f(ctx, c) }

// Validate reports every field of c that is out of range.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf("voice: "+format, a...)) }
	if _, _, err := splitAddr(c.Addr); err != nil {
		add("Addr: %v", err)
	}
	if c.PublicIP.IsValid() && c.PublicIP.IsUnspecified() {
		add("PublicIP %v is unspecified", c.PublicIP)
	}
	if c.RTPPortMin != 0 || c.RTPPortMax != 0 {
		if _, err := media.NewPortRange(c.RTPPortMin, c.RTPPortMax); err != nil {
			add("RTPPortMin-RTPPortMax: %v", err)
		}
	}
	if c.MaxCalls < 0 {
		add("MaxCalls %d is negative", c.MaxCalls)
	}
	if c.RingFor < 0 || c.RingFor > MaxRingFor {
		add("RingFor %v is outside 0-%v", c.RingFor, MaxRingFor)
	}
	if len(c.Trunks) == 0 {
		add("no Trunks: every call would be refused")
	}
	names := make(map[string]bool)
	users := make(map[string]bool)
	for i, t := range c.Trunks {
		switch {
		case t.Name == "":
			add("Trunks[%d] has no Name", i)
		case names[t.Name]:
			add("Trunks[%d]: Name %q is used twice", i, t.Name)
		}
		names[t.Name] = true
		for _, p := range t.Networks {
			if !p.IsValid() {
				add("Trunks[%d] (%s): invalid network", i, t.Name)
			}
		}
		switch {
		case (t.Username == "") != (t.Password == ""):
			add("Trunks[%d] (%s): Username and Password go together", i, t.Name)
		case t.Username != "" && users[t.Username]:
			add("Trunks[%d] (%s): Username is used by another trunk", i, t.Name)
		case t.Username == "" && len(t.Networks) == 0:
			add("Trunks[%d] (%s) has neither Networks nor credentials", i, t.Name)
		}
		if t.Username != "" {
			users[t.Username] = true
		}
	}
	return errors.Join(errs...)
}

// splitAddr checks a host:port listen address. The host may be empty
// (every interface), an IP or a name to resolve.
func splitAddr(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("must be host:port, e.g. 127.0.0.1:5060")
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port must be a number from 0 to 65535")
	}
	return host, port, nil
}

// emit reports an event to OnCall.
func (c *Config) emit(event string) {
	if c.OnCall != nil {
		c.OnCall(event)
	}
}
