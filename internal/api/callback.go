package api

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"

	"github.com/ringfence/ringfence/internal/sms/telnyx"
	"github.com/ringfence/ringfence/internal/sms/twiliostatus"
	"github.com/ringfence/ringfence/internal/sms/twiliovoice"
	"github.com/ringfence/ringfence/internal/sms/vonage"
	"github.com/ringfence/ringfence/internal/sms/webhook"
	"github.com/ringfence/ringfence/internal/verify"
)

// Receipts applies a provider's delivery receipt to the message it names;
// verify.Dispatcher implements it. It returns verify.ErrNotFound for an id
// no delivery has and verify.ErrReceiptDone for a receipt already recorded.
type Receipts interface {
	Receipt(ctx context.Context, provider, providerID, state, errCode string) (string, error)
}

// Callbacks configures the routes providers post delivery receipts to,
// POST /v1/callbacks/{provider}. A provider's route exists only when the
// secret its signatures are checked with is set.
type Callbacks struct {
	Receipts Receipts
	// TwilioAuthToken checks X-Twilio-Signature on /v1/callbacks/twilio
	// (messages) and /v1/callbacks/twiliovoice (calls).
	TwilioAuthToken string
	// VonageSignatureSecret checks the signed JWT on /v1/callbacks/vonage.
	VonageSignatureSecret string
	// TelnyxPublicKey checks telnyx-signature-ed25519 on /v1/callbacks/telnyx.
	TelnyxPublicKey ed25519.PublicKey
	// WebhookSecret checks the Standard Webhooks signature on /v1/callbacks/webhook.
	WebhookSecret string
}

// Errors of receipts, beside the parsers' own.
var (
	errUnknownMessage = errors.New("receipt names no message")
	errBadCallback    = errors.New("callback is not a receipt")
)

// receipt is a provider's status callback, read and verified.
type receipt struct{ id, state, code string }

// callbackRoutes registers the receipt route of each configured provider.
func (s *Server) callbackRoutes() {
	cb := s.cfg.Callbacks
	if cb == nil || cb.Receipts == nil {
		return
	}
	if cb.TwilioAuthToken != "" {
		s.route("POST /v1/callbacks/twilio", s.callback("twilio", func(r *http.Request) (receipt, error) {
			st, err := twiliostatus.ParseStatus(r, cb.TwilioAuthToken, s.webhookURL(r))
			return receipt{st.ProviderID, st.State, st.ErrorCode}, err
		}))
		s.route("POST /v1/callbacks/twiliovoice", s.callback("twiliovoice", func(r *http.Request) (receipt, error) {
			st, err := twiliovoice.ParseStatus(r, cb.TwilioAuthToken, s.webhookURL(r))
			return receipt{st.ProviderID, st.State, st.ErrorCode}, err
		}))
	}
	if cb.VonageSignatureSecret != "" {
		s.route("POST /v1/callbacks/vonage", s.callback("vonage", func(r *http.Request) (receipt, error) {
			st, err := vonage.ParseStatus(r, cb.VonageSignatureSecret, s.now())
			return receipt{st.ProviderID, st.State, st.ErrorCode}, err
		}))
	}
	if len(cb.TelnyxPublicKey) != 0 {
		s.route("POST /v1/callbacks/telnyx", s.callback("telnyx", func(r *http.Request) (receipt, error) {
			st, err := telnyx.ParseStatus(r, cb.TelnyxPublicKey, s.now())
			return receipt{st.ProviderID, st.State, st.ErrorCode}, err
		}))
	}
	if cb.WebhookSecret != "" {
		s.route("POST /v1/callbacks/webhook", s.callback("webhook", func(r *http.Request) (receipt, error) {
			st, err := webhook.ParseStatus(r, cb.WebhookSecret, s.now())
			return receipt{st.ProviderID, st.State, st.ErrorCode}, err
		}))
	}
}

// callbackResponse is the answer to an accepted receipt.
type callbackResponse struct {
	Outcome string `json:"outcome"`
}

// callback adapts a provider's status parser to a route: the signature is
// checked before anything is read from the body, and a receipt that names no
// message, or that was already recorded (a replay), is refused and changes
// nothing.
func (s *Server) callback(provider string, parse func(*http.Request) (receipt, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		rc, err := parse(r)
		switch {
		case errors.Is(err, telnyx.ErrEvent):
			// A valid event of another kind: acknowledged, ignored.
			writeJSON(w, http.StatusOK, callbackResponse{Outcome: "ignored"})
			return nil
		case isSignatureError(err):
			return errBadSignature
		case err != nil:
			return errBadCallback
		}
		outcome, err := s.cfg.Callbacks.Receipts.Receipt(r.Context(), provider, rc.id, rc.state, rc.code)
		switch {
		case errors.Is(err, verify.ErrNotFound):
			return errUnknownMessage
		case errors.Is(err, verify.ErrReceiptDone):
			return err
		case err != nil:
			return err
		}
		writeJSON(w, http.StatusOK, callbackResponse{Outcome: outcome})
		return nil
	}
}

// isSignatureError reports whether err says a callback's signature or its
// time does not verify.
func isSignatureError(err error) bool {
	for _, target := range []error{
		twiliostatus.ErrSignature, twiliovoice.ErrSignature,
		vonage.ErrSignature, vonage.ErrStale,
		telnyx.ErrSignature, telnyx.ErrStale,
		webhook.ErrSignature, webhook.ErrTimestamp, webhook.ErrMissingHeader, webhook.ErrSecret,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
