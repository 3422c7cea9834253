package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ringfence/ringfence/internal/phone"
	"github.com/ringfence/ringfence/internal/voice/media"
)

// A Call is one answered phone call: its SIP dialog and its RTP Session.
type Call struct {
	// ID identifies the call in logs; it is random, not the SIP Call-ID.
	ID string
	// Trunk is the Name of the trunk the call came from.
	Trunk string
	// From is the caller's number as the trunk gave it: the user part of
	// P-Asserted-Identity if the trunk is trusted with it and sent one,
	// else of From. It may be national, anonymous or empty. Never log it;
	// see MaskedFrom.
	From string
	// To is the number called: the user part of the Request-URI.
	To string
	// Codec is the audio codec negotiated, PCMU or PCMA; it stays for the
	// whole call.
	Codec media.Codec
	// Media carries the call's audio. The Server runs it (Session.Run) for
	// the call's lifetime and closes it when the call ends.
	Media *media.Session

	srv       *Server
	log       *slog.Logger
	dialogID  string
	invite    *sip.Request // the INVITE, its To carrying our tag
	transport string
	dest      string // where requests in the dialog go
	started   time.Time

	ctx    context.Context // the Handler's; ends with the call
	cancel context.CancelFunc
	done   chan struct{}
	ackEnd chan struct{} // closed when the 200 OK's ACK came or its retransmissions ended
	runs   sync.WaitGroup

	reinvite chan struct{} // one re-INVITE at a time: a slot of capacity one

	mu         sync.Mutex
	reason     string
	sdp        local
	lastSDP    string
	remote     *description
	remoteCSeq uint32
	localCSeq  uint32
	ackSeq     uint32        // the CSeq whose 2xx awaits its ACK
	ackCh      chan struct{} // closed by that ACK
	ackBody    []byte        // its body: an answer to an offer in a 2xx
}

// Done returns a channel closed when the call ends: the caller hung up
// (BYE), Hangup was called, the caller's audio stopped for the
// MediaTimeout, the 200 OK was never acknowledged, or the Server stopped.
func (c *Call) Done() <-chan struct{} { return c.done }

// Reason returns how the call ended, one of the Reason constants, or ""
// while it is up.
func (c *Call) Reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// MaskedFrom returns From in the masked form fit for logs, such as
// "+1 ••• ••• 0123", or "unknown" when it is not an international number.
func (c *Call) MaskedFrom() string { return mask(c.From) }

// Hangup ends the call and sends the caller a BYE, waiting for its answer
// until ctx ends. On a call that has ended already it does nothing and
// returns nil.
func (c *Call) Hangup(ctx context.Context) error {
	if !c.end(ReasonHangup) {
		return nil
	}
	return c.bye(ctx)
}

// hangup ends the call for reason and sends a BYE, bounded by byeTimeout.
func (c *Call) hangup(reason string) {
	if !c.end(reason) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := c.bye(ctx); err != nil {
		c.log.Debug("BYE failed", logError, err)
	}
}

// end ends the call for reason unless it has ended already, and reports
// whether it did: it closes Done, cancels the Handler's context, closes
// the media (giving its port back) and frees the call's slot.
func (c *Call) end(reason string) bool {
	c.mu.Lock()
	if c.reason != "" {
		c.mu.Unlock()
		return false
	}
	c.reason = reason
	c.mu.Unlock()
	close(c.done)
	c.cancel()
	c.Media.Close()
	c.srv.release()
	c.srv.cfg.emit("end_" + reason)
	st := c.Media.Stats()
	c.log.Info("call ended", logReason, reason,
		"duration", time.Since(c.started).Round(time.Millisecond),
		"rtp_received", st.PacketsReceived, "rtp_sent", st.PacketsSent, "rtp_lost", st.Lost, "rtp_late", st.Late)
	return true
}

// bye sends a BYE in the dialog and waits for its final answer. It first
// waits for the ACK of the 200 OK, or the end of its retransmissions (RFC
// 3261 15).
func (c *Call) bye(ctx context.Context) error {
	select {
	case <-c.ackEnd:
	case <-ctx.Done():
		return fmt.Errorf("voice: BYE: %w", ctx.Err())
	}
	req := c.request(sip.BYE)
	tx, err := c.srv.client.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil {
		return fmt.Errorf("voice: send BYE: %w", err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				continue
			case res.IsSuccess(), res.StatusCode == sip.StatusCallTransactionDoesNotExists:
				return nil // 481: the caller has forgotten the call already
			}
			return fmt.Errorf("voice: BYE answered %d", res.StatusCode)
		case <-tx.Done():
			return fmt.Errorf("voice: BYE: %w", tx.Err())
		case <-ctx.Done():
			return fmt.Errorf("voice: BYE: %w", ctx.Err())
		}
	}
}

// request builds a request in the dialog (RFC 3261 12.2.1.1).
func (c *Call) request(method sip.RequestMethod) *sip.Request {
	req := sip.NewRequest(method, *c.invite.Contact().Address.Clone())
	from := c.invite.To().AsFrom()
	to := c.invite.From().AsTo()
	callID := *c.invite.CallID()
	c.mu.Lock()
	c.localCSeq++
	seq := c.localCSeq
	c.mu.Unlock()
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(&maxFwd)
	for _, rr := range c.invite.GetHeaders("Record-Route") {
		req.AppendHeader(sip.NewHeader("Route", rr.Value()))
	}
	req.SetTransport(c.transport)
	req.SetDestination(c.dest)
	req.SetBody(nil)
	return req
}

// expectAck arms the wait for the ACK of a 2xx to the INVITE with CSeq
// seq. An earlier wait still armed is released.
func (c *Call) expectAck(seq uint32) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ackCh != nil {
		close(c.ackCh)
	}
	c.ackSeq, c.ackCh, c.ackBody = seq, make(chan struct{}), nil
	return c.ackCh
}

// acked takes an ACK in the dialog.
func (c *Call) acked(req *sip.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ackCh == nil || cseqOf(req) != c.ackSeq {
		return // a retransmission, or stale
	}
	c.ackBody = req.Body()
	close(c.ackCh)
	c.ackCh = nil
}

// takeAckBody returns the body of the last ACK.
func (c *Call) takeAckBody() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.ackBody
	c.ackBody = nil
	return b
}

// await2xx retransmits a 2xx over an unreliable transport, from T1
// doubling up to T2, until its ACK comes (true), for the ackTimeout, or
// until the Server stops or the caller hangs up (false). Hangup does not
// stop it: a BYE waits for the ACK.
func (c *Call) await2xx(tx sip.ServerTransaction, res *sip.Response, ack <-chan struct{}) bool {
	deadline := time.NewTimer(c.srv.ackTimeout)
	defer deadline.Stop()
	interval := sip.T1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	retransmitC := retransmit.C
	if sip.IsReliable(c.transport) {
		retransmitC = nil
	}
	done := c.done
	for {
		select {
		case <-ack:
			return true
		case <-tx.Acks(): // an ACK sent on the INVITE's branch, against RFC 3261
			return true
		case <-retransmitC:
			_ = tx.Respond(res)
			interval = min(2*interval, sip.T2)
			retransmit.Reset(interval)
		case <-deadline.C:
			return false
		case <-c.srv.stopping:
			return false
		case <-done:
			if c.Reason() == ReasonRemoteBye {
				return false
			}
			done = nil
		}
	}
}

// supervise runs an answered call: it starts the media and the Handler
// (at once, or after the ACK carrying the answer to an offer sent in the
// 200 OK), waits for the ACK, then watches the caller's audio until the
// call ends, and forgets the call once its goroutines are done.
func (c *Call) supervise(tx sip.ServerTransaction, ok *sip.Response, ack <-chan struct{}, delayed bool) {
	s := c.srv
	defer s.wg.Done()
	defer func() {
		c.runs.Wait()
		s.mu.Lock()
		delete(s.calls, c.dialogID)
		s.mu.Unlock()
	}()
	if !delayed {
		c.start()
	}
	acked := c.await2xx(tx, ok, ack)
	close(c.ackEnd)
	if !acked {
		if c.Reason() == "" {
			c.log.Info("no ACK for 200 OK")
		}
		c.hangup(ReasonNoAck)
		return
	}
	if delayed {
		if err := c.applyAnswer(c.takeAckBody(), true); err != nil {
			c.log.Info("no usable SDP answer in ACK", logError, err)
			c.hangup(ReasonHangup)
			return
		}
		c.start()
	}
	c.watchMedia()
}

// start runs the media and the Handler.
func (c *Call) start() {
	if c.Reason() != "" {
		return
	}
	s := c.srv
	s.cfg.emit(EventAnswered)
	c.log.Info("call answered", logFrom, c.MaskedFrom(), logCodec, c.Codec.Name, logNetwork, c.transport)
	c.runs.Go(func() {
		err := c.Media.Run(c.ctx)
		if err != nil && !errors.Is(err, media.ErrClosed) {
			c.log.Warn("RTP stopped", logError, err)
			c.hangup(ReasonHangup)
		}
	})
	c.runs.Go(func() {
		defer func() {
			if v := recover(); v != nil {
				c.log.Error("call handler panicked", "panic", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			}
			ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
			defer cancel()
			if err := c.Hangup(ctx); err != nil {
				c.log.Debug("BYE failed", logError, err)
			}
		}()
		s.h.HandleCall(c.ctx, c)
	})
}

// watchMedia ends the call when the caller sends no RTP for the
// MediaTimeout while its SDP says it sends; it returns when the call ends.
func (c *Call) watchMedia() {
	timeout := c.srv.mediaTimeout
	if timeout < 0 {
		<-c.done
		return
	}
	tick := time.NewTicker(min(timeout/4, time.Second))
	defer tick.Stop()
	last, since := c.Media.Stats().PacketsReceived, time.Now()
	for {
		select {
		case <-c.done:
			return
		case now := <-tick.C:
			n := c.Media.Stats().PacketsReceived
			if n != last || c.held() {
				last, since = n, now
				continue
			}
			if now.Sub(since) >= timeout {
				c.log.Info("no RTP from caller", "for", timeout)
				c.hangup(ReasonMediaTimeout)
				return
			}
		}
	}
}

// held reports whether the caller holds the call, sending no audio.
func (c *Call) held() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote == nil || c.remote.held()
}

// setRemote points the media at a description of the caller's side.
func (c *Call) setRemote(d *description, codec media.Codec) error {
	if err := c.Media.SetRemote(d.addr, codec, d.dtmfPT); err != nil {
		return err
	}
	c.mu.Lock()
	c.remote = d
	c.mu.Unlock()
	return nil
}

// applyAnswer takes the caller's answer, in an ACK, to the offer of a
// 200 OK. The answer to the offer of the call's first 200 OK (initial)
// sets the Codec; a later one must keep it.
func (c *Call) applyAnswer(body []byte, initial bool) error {
	if len(body) == 0 {
		return errors.New("no SDP")
	}
	d, err := parseSDP(body)
	if err != nil {
		return err
	}
	if initial {
		codec := d.codecs[0]
		if err := c.setRemote(d, codec); err != nil {
			return err
		}
		c.Codec = codec // before the Handler starts
		return nil
	}
	codec := d.choose(c.Codec.Name)
	if codec.Name != c.Codec.Name {
		return errNoCodec
	}
	return c.setRemote(d, codec)
}

// sdpBody returns the SDP to send, d's answer or an offer when d is nil,
// with the o= version moved on when it differs from the last one sent.
func (c *Call) sdpBody(d *description, codec media.Codec) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	build := func() []byte {
		if d == nil {
			if codec.Name == "" {
				return c.sdp.offer(sendrecv)
			}
			var b strings.Builder
			c.sdp.writeHead(&b)
			writeAudio(&b, c.sdp.port, []media.Codec{codec}, media.TelephoneEvent.PayloadType, sendrecv)
			return []byte(b.String())
		}
		return c.sdp.answer(d, codec)
	}
	body := build()
	if c.lastSDP != "" && string(body) != c.lastSDP {
		c.sdp.version++
		body = build()
	}
	c.lastSDP = string(body)
	return body
}

// mask returns the masked form of a caller's number for logs.
func mask(n string) string {
	p, err := phone.Parse(n, "")
	if err != nil {
		return "unknown"
	}
	return p.Mask()
}

// userPart returns the user part of a SIP URI, or the number of a tel URI,
// without parameters.
func userPart(u *sip.Uri) string {
	var s string
	switch strings.ToLower(u.Scheme) {
	case "tel":
		s = u.Raw()
	default:
		s = u.User
	}
	s, _, _ = strings.Cut(s, ";")
	return s
}

// callerNumber returns the caller's number of an INVITE: from
// P-Asserted-Identity when trusted (a tel URI preferred), else From.
func callerNumber(req *sip.Request, trustPAI bool) string {
	if trustPAI {
		var sipUser string
		for _, h := range req.GetHeaders("P-Asserted-Identity") {
			for v := range strings.SplitSeq(h.Value(), ",") {
				var u sip.Uri
				params := sip.NewParams()
				if _, err := sip.ParseAddressValue(strings.TrimSpace(v), &u, &params); err != nil {
					continue
				}
				n := userPart(&u)
				if n == "" {
					continue
				}
				if strings.EqualFold(u.Scheme, "tel") {
					return n
				}
				if sipUser == "" {
					sipUser = n
				}
			}
		}
		if sipUser != "" {
			return sipUser
		}
	}
	if from := req.From(); from != nil {
		return userPart(&from.Address)
	}
	return ""
}

// setup is an INVITE for a new call on its way to an answer.
type setup struct {
	srv      *Server
	req      *sip.Request
	tx       sip.ServerTransaction
	ctx      context.Context // ends on CANCEL
	cancel   context.CancelFunc
	canceled atomic.Bool
}

// run checks the INVITE, its caller and its offer, then rings and answers.
// Every refusal frees what was taken.
func (p *setup) run() {
	s, req, tx := p.srv, p.req, p.tx
	from, to, callID, cseq := req.From(), req.To(), req.CallID(), req.CSeq()
	if from == nil || to == nil || callID == nil || cseq == nil || req.Contact() == nil ||
		!from.Params.Has("tag") || cseq.MethodName != sip.INVITE {
		s.reject(req, tx, sip.StatusBadRequest, "Bad Request", EventBadRequest)
		return
	}
	if hs := req.GetHeaders("Require"); len(hs) > 0 {
		var ext []string
		for _, h := range hs {
			ext = append(ext, h.Value())
		}
		s.reject(req, tx, sip.StatusBadExtension, "Bad Extension", EventBadRequest,
			sip.NewHeader("Unsupported", strings.Join(ext, ", ")))
		return
	}
	src, now := sourceIP(req), time.Now()
	trunk, outcome := s.authorize(req, src, now)
	switch outcome {
	case authChallenge, authStale:
		s.reject(req, tx, sip.StatusUnauthorized, "Unauthorized", EventChallenged, s.challenge(src, now, outcome == authStale))
		return
	case authForbidden:
		s.reject(req, tx, sip.StatusForbidden, "Forbidden", EventForbidden)
		return
	}
	var offer *description
	if body := req.Body(); len(body) > 0 {
		if !contentTypeSDP(req) {
			s.reject(req, tx, sip.StatusUnsupportedMediaType, "Unsupported Media Type", EventBadRequest,
				sip.NewHeader("Accept", "application/sdp"))
			return
		}
		var err error
		offer, err = parseSDP(body)
		switch {
		case errors.Is(err, errSDPLarge):
			s.reject(req, tx, sip.StatusRequestEntityTooLarge, "Request Entity Too Large", EventBadRequest)
			return
		case errors.Is(err, errNoCodec):
			s.reject(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here", EventNoCodec,
				sip.NewHeader("Warning", `305 ringfence "Incompatible media format"`))
			return
		case err != nil:
			s.reject(req, tx, sip.StatusBadRequest, "Bad Request", EventBadRequest,
				sip.NewHeader("Warning", `399 ringfence "Malformed SDP"`))
			return
		}
	}
	switch ok, closing := s.reserve(); {
	case closing:
		s.reject(req, tx, sip.StatusServiceUnavailable, "Service Unavailable", EventUnavailable, retryAfterHeader())
		return
	case !ok:
		s.reject(req, tx, sip.StatusBusyHere, "Busy Here", EventBusy)
		return
	}
	if s.respond(req, tx, sip.StatusTrying, "Trying", nil) != nil {
		p.abort(nil)
		return
	}
	c, err := p.newCall(trunk, offer)
	if err != nil {
		s.release()
		if errors.Is(err, media.ErrNoPorts) {
			s.log.Warn("call refused: no free RTP port", logTrunk, trunk.Name)
			s.reject(req, tx, sip.StatusServiceUnavailable, "Service Unavailable", EventUnavailable, retryAfterHeader())
			return
		}
		s.log.Error("call refused", logTrunk, trunk.Name, logError, err)
		s.reject(req, tx, sip.StatusInternalServerError, "Server Internal Error", EventUnavailable)
		return
	}
	p.answer(c, offer)
}

// newCall opens the media of a call and points it at the offer.
func (p *setup) newCall(trunk *Trunk, offer *description) (*Call, error) {
	s, req := p.srv, p.req
	sess, err := media.Config{MediaTimeout: -1}.Listen(s.rtpIP, s.ports)
	if err != nil {
		return nil, err
	}
	inv := req.Clone()
	inv.To().Params.Add("tag", randomHex(8))
	id, err := sip.DialogIDFromRequestUAS(inv)
	if err != nil {
		sess.Close()
		return nil, err
	}
	c := &Call{
		ID:         randomHex(8),
		Trunk:      trunk.Name,
		From:       callerNumber(req, trunk.TrustIdentity),
		To:         userPart(&req.Recipient),
		Media:      sess,
		srv:        s,
		dialogID:   id,
		invite:     inv,
		transport:  req.Transport(),
		dest:       req.Source(),
		done:       make(chan struct{}),
		ackEnd:     make(chan struct{}),
		reinvite:   make(chan struct{}, 1),
		remoteCSeq: cseqOf(req),
		sdp: local{
			ip:      s.publicIP,
			port:    sess.LocalAddr().Port(),
			session: uint64(time.Now().UnixNano()) & (1<<62 - 1),
		},
	}
	c.log = s.log.With(logCall, c.ID, logTrunk, c.Trunk)
	if c.To == "" {
		c.To = userPart(&req.To().Address)
	}
	if rr := req.RecordRoute(); rr != nil {
		c.dest = rr.Address.HostPort()
	}
	c.ctx, c.cancel = context.WithCancel(s.base)
	if offer != nil {
		c.Codec = offer.codecs[0]
		if err := c.setRemote(offer, c.Codec); err != nil {
			sess.Close()
			return nil, err
		}
	}
	return c, nil
}

// abort ends a setup that will not be answered: the INVITE was canceled
// (the transaction has sent 487) or its transaction failed.
func (p *setup) abort(c *Call) {
	if c != nil {
		c.cancel()
		c.Media.Close()
	}
	p.srv.release()
	if p.canceled.Load() {
		p.srv.cfg.emit(EventCanceled)
		p.srv.log.Debug("call canceled before answer", logSource, p.req.Source())
	}
}

// answer rings, then sends the 200 OK and hands the call to supervise.
func (p *setup) answer(c *Call, offer *description) {
	s, tx := p.srv, p.tx
	ringing := sip.NewResponseFromRequest(c.invite, sip.StatusRinging, "Ringing", nil)
	ringing.AppendHeader(s.contact(c.transport))
	if err := tx.Respond(ringing); err != nil || p.canceled.Load() {
		p.abort(c)
		return
	}
	if d := s.cfg.RingFor; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-p.ctx.Done():
		case <-s.stopping:
		}
		t.Stop()
	}
	if p.canceled.Load() {
		p.abort(c)
		return
	}
	body := c.sdpBody(offer, c.Codec)
	ok := sip.NewResponseFromRequest(c.invite, sip.StatusOK, "OK", body)
	ok.AppendHeader(s.contact(c.transport))
	ok.AppendHeader(sip.NewHeader("Allow", allow))
	ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack := c.expectAck(cseqOf(c.invite))

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		p.abort(c)
		s.reject(p.req, tx, sip.StatusServiceUnavailable, "Service Unavailable", EventUnavailable, retryAfterHeader())
		return
	}
	s.calls[c.dialogID] = c
	s.wg.Add(1)
	s.mu.Unlock()

	c.started = time.Now()
	// A CANCEL that won the race has made the transaction send 487 and
	// fail this response.
	if err := tx.Respond(ok); err != nil || p.canceled.Load() {
		s.mu.Lock()
		delete(s.calls, c.dialogID)
		s.mu.Unlock()
		s.wg.Done()
		p.abort(c)
		return
	}
	go c.supervise(tx, ok, ack, offer == nil)
}
