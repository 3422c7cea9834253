package api

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/ringfence/ringfence/internal/sms/twilio"
	"github.com/ringfence/ringfence/internal/verify"
)

// emptyTwiML answers Twilio without sending a reply message.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// twilioInbound receives a text a person sent to the service's number
// (Twilio's incoming-message webhook). It checks X-Twilio-Signature, then
// hands the sender and the text to the verify service. Whether or not the
// text approved anything, Twilio gets the same empty answer.
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
