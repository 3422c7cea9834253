package voice

import (
	"errors"
	"time"

	"github.com/emiago/sipgo/sip"
)

// reinviteWait is how long a re-INVITE waits for the one before it to be
// acknowledged before it is answered 500.
const reinviteWait = 500 * time.Millisecond

// reinvite answers an INVITE in a dialog. With an offer it moves the
// media to the caller's new address (a transfer, a NAT rebinding) or puts
// the call on hold or back, keeping the codec; without one it offers the
// call's codec in the 200 OK and takes the answer from the ACK.
func (s *Server) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookup(req)
	if c == nil || c.Reason() != "" {
		_ = s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		return
	}
	select {
	case <-c.ackEnd:
	default: // the first 200 OK is not acknowledged yet
		_ = s.respond(req, tx, sip.StatusRequestPending, "Request Pending", nil)
		return
	}
	// The previous re-INVITE holds the slot until its ACK is handled; the
	// caller may send the next one right after that ACK, and the two
	// requests can be handled in either order. A short wait covers that;
	// an INVITE while another is really pending gets 500 and Retry-After
	// (RFC 3261 14.2).
	wait := time.NewTimer(reinviteWait)
	select {
	case c.reinvite <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		_ = s.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error", nil, sip.NewHeader("Retry-After", "1"))
		return
	}
	defer func() { <-c.reinvite }()
	seq := cseqOf(req)
	c.mu.Lock()
	stale := seq <= c.remoteCSeq
	if !stale {
		c.remoteCSeq = seq
	}
	c.mu.Unlock()
	if stale {
		_ = s.respond(req, tx, sip.StatusInternalServerError, "CSeq Out Of Order", nil)
		return
	}

	var offer *description
	codec := c.Codec
	if body := req.Body(); len(body) > 0 {
		if !contentTypeSDP(req) {
			_ = s.respond(req, tx, sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil, sip.NewHeader("Accept", "application/sdp"))
			return
		}
		d, err := parseSDP(body)
		if err == nil {
			if codec = d.choose(c.Codec.Name); codec.Name != c.Codec.Name {
				err = errNoCodec
			}
		}
		if err == nil {
			err = c.setRemote(d, codec)
		}
		switch {
		case errors.Is(err, errSDPLarge):
			_ = s.respond(req, tx, sip.StatusRequestEntityTooLarge, "Request Entity Too Large", nil)
			return
		case errors.Is(err, errBadSDP):
			_ = s.respond(req, tx, sip.StatusBadRequest, "Bad Request", nil, sip.NewHeader("Warning", `399 ringfence "Malformed SDP"`))
			return
		case err != nil:
			// The call goes on as it was (RFC 3261 14.2).
			_ = s.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil,
				sip.NewHeader("Warning", `305 ringfence "Incompatible media format"`))
			return
		}
		offer = d
	}

	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", c.sdpBody(offer, codec))
	res.AppendHeader(s.contact(c.transport))
	res.AppendHeader(sip.NewHeader("Allow", allow))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack := c.expectAck(seq)
	if err := tx.Respond(res); err != nil {
		return
	}
	if !c.await2xx(tx, res, ack) {
		c.log.Debug("no ACK for re-INVITE 200 OK")
		return
	}
	if offer == nil {
		if err := c.applyAnswer(c.takeAckBody(), false); err != nil {
			c.log.Info("no usable SDP answer in re-INVITE ACK", logError, err)
			return
		}
	}
	c.log.Info("call updated", "held", c.held())
}
