package twiliovoice

import (
	"errors"
	"net/http"

	"github.com/ringfence/ringfence/internal/sms/twilio"
)

// The states a Status reports.
const (
	// StatusSubmitted means the call is queued, dialling or ringing.
	StatusSubmitted = "submitted"
	// StatusSent means the call was answered and is in progress.
	StatusSent = "sent"
	// StatusDelivered means the call was answered and has ended: the code was read.
	StatusDelivered = "delivered"
	// StatusFailed means the call ended unanswered (busy, no-answer, failed,
	// canceled); ErrorCode says how.
	StatusFailed = "failed"
	// StatusUnknown is any state this package does not know.
	StatusUnknown = "unknown"
)

// Errors returned by ParseStatus.
var (
	// ErrSignature means X-Twilio-Signature is missing or wrong for the callback.
	ErrSignature = errors.New("twiliovoice: callback signature invalid")
	// ErrPayload means the callback is not a form post with a CallSid and CallStatus.
	ErrPayload = errors.New("twiliovoice: callback is not a call status")
)

// Status is a call status callback.
type Status struct {
	// ProviderID is the CallSid Send returned as sms.Result.ProviderID.
	ProviderID string
	// State is one of the Status constants.
	State string
	// ErrorCode is Twilio's numeric ErrorCode if the callback has one, else for a
	// failed call the CallStatus that ended it ("busy", "no-answer", "failed",
	// "canceled").
	ErrorCode string
}

// ParseStatus reads a call status callback from r and verifies its
// X-Twilio-Signature with authToken, publicURL being the StatusCallbackURL
// exactly as configured (Twilio signs the URL it called). It returns ErrSignature
// or ErrPayload on failure; neither holds anything from the request.
//
// Twilio's signature has no timestamp: a captured callback can be replayed as is
// (never altered), so its handling must be idempotent.
func ParseStatus(r *http.Request, authToken, publicURL string) (Status, error) {
	form, err := twilio.ReadCallback(r, authToken, publicURL)
	switch {
	case errors.Is(err, twilio.ErrCallbackSignature):
		return Status{}, ErrSignature
	case err != nil:
		return Status{}, ErrPayload
	}
	sid, callStatus := form.Get("CallSid"), form.Get("CallStatus")
	if sid == "" || callStatus == "" {
		return Status{}, ErrPayload
	}
	st := Status{ProviderID: sid, State: StatusUnknown}
	switch callStatus {
	case "queued", "initiated", "ringing":
		st.State = StatusSubmitted
	case "in-progress":
		st.State = StatusSent
	case "completed":
		st.State = StatusDelivered
	case "busy", "no-answer", "failed", "canceled":
		st.State = StatusFailed
		st.ErrorCode = callStatus
	}
	if code := twilio.CallbackErrorCode(form); code != "" {
		st.ErrorCode = code
	}
	return st, nil
}
