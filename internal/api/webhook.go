package api

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/ringfence/ringfence/internal/sms/twilio"
	"github.com/ringfence/ringfence/internal/verify"
)

// Log attribute keys of consent replies.
const (
	attrSubject = "subject"
	attrChanges = "changes"
)

// emptyTwiML answers Twilio without sending a reply message.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// twilioInbound receives a text a person sent to the service's number
// (Twilio's incoming-message webhook). It checks X-Twilio-Signature, then
// hands the sender and the text to the consent ledger (STOP, START) and the
// verify service. Whether or not the text changed anything, Twilio gets the
// same empty answer.
func (s *Server) twilioInbound(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errBodyTooLarge
		}
		return errInvalidRequest
	}
	if !twilio.ValidSignature(s.cfg.TwilioAuthToken, s.webhookURL(r), r.PostForm, r.Header.Get("X-Twilio-Signature")) {
		return errBadSignature
	}
	from, body, sid := r.PostForm.Get("From"), r.PostForm.Get("Body"), r.PostForm.Get("MessageSid")
	if err := s.consentReply(r, from, body, sid); err != nil {
		return err
	}
	_, err := s.cfg.Verify.Inbound(r.Context(), from, body, sid)
	switch {
	case err == nil:
		s.metrics.checks.WithLabelValues("approved").Inc()
	case errors.Is(err, verify.ErrReplay):
		s.metrics.refusals.WithLabelValues("replay").Inc()
	case errors.Is(err, verify.ErrNotFound), errors.Is(err, verify.ErrInvalidPhone):
		// Nothing to approve; the sender learns nothing either way.
	case errors.Is(err, verify.ErrInvalidRequest):
		return errInvalidRequest
	default:
		return err
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(emptyTwiML))
	return nil
}

// consentReply lets a STOP or START text change the sender's SMS consents
// before the text goes on to the verifications; it is deduplicated by the
// message id on its own, so a retry after a failure here still applies it.
func (s *Server) consentReply(r *http.Request, from, body, sid string) error {
	if s.cfg.Privacy == nil {
		return nil
	}
	_, changes, err := s.cfg.Privacy.Reply(r.Context(), from, body, sid)
	if err != nil {
		return err
	}
	if len(changes) > 0 {
		s.log.InfoContext(r.Context(), "consent changed by sms reply", attrRequestID, stateOf(r.Context()).requestID(),
			attrSubject, changes[0].SubjectID, attrChanges, len(changes))
	}
	return nil
}

// webhookURL is the URL the provider signed: the configured public URL, or
// the request's own.
func (s *Server) webhookURL(r *http.Request) string {
	base := s.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	u, err := url.Parse(base)
	if err != nil {
		return base + r.URL.RequestURI()
	}
	return u.Scheme + "://" + u.Host + r.URL.RequestURI()
}
