// Package twiliostatus reads the signed status callbacks Twilio Programmable
// Messaging posts for messages sent through package twilio.
//
// Fields and states follow Twilio's "Outbound Message Status in Status Callbacks"
// guide (MessageSid, MessageStatus, ErrorCode) and its X-Twilio-Signature scheme.
package twiliostatus

import (
	"errors"
	"net/http"

	"github.com/ringfence/ringfence/internal/sms/twilio"
)

// The states a Status reports.
const (
	// StatusSubmitted means Twilio has the message and has not handed it on
	// (accepted, scheduled, queued, sending).
	StatusSubmitted = "submitted"
	// StatusSent means the carrier has the message, with no receipt yet.
	StatusSent = "sent"
	// StatusDelivered means the carrier reported delivery (or WhatsApp, a read).
	StatusDelivered = "delivered"
	// StatusFailed means the message will not be delivered (undelivered, failed,
	// canceled); ErrorCode says why.
	StatusFailed = "failed"
	// StatusUnknown is any state this package does not know.
	StatusUnknown = "unknown"
)

// Errors returned by ParseStatus.
var (
	// ErrSignature means X-Twilio-Signature is missing or wrong for the callback.
	ErrSignature = errors.New("twiliostatus: callback signature invalid")
	// ErrPayload means the callback is not a form post with a MessageSid and
	// MessageStatus.
	ErrPayload = errors.New("twiliostatus: callback is not a message status")
)

// Status is a message status callback.
type Status struct {
	// ProviderID is the MessageSid that twilio.Sender returned as
	// sms.Result.ProviderID.
	ProviderID string
	// State is one of the Status constants.
	State string
	// ErrorCode is Twilio's numeric ErrorCode ("30006"), if the callback has one.
	ErrorCode string
}

// ParseStatus reads a message status callback from r and verifies its
// X-Twilio-Signature with authToken, publicURL being the status callback URL
// exactly as given to Twilio (Twilio signs the URL it called). It returns
// ErrSignature or ErrPayload on failure; neither holds anything from the request.
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
	sid, status := form.Get("MessageSid"), form.Get("MessageStatus")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	if status == "" {
		status = form.Get("SmsStatus")
	}
	if sid == "" || status == "" {
		return Status{}, ErrPayload
	}
	st := Status{ProviderID: sid, State: StatusUnknown}
	switch status {
	case "accepted", "scheduled", "queued", "sending":
		st.State = StatusSubmitted
	case "sent":
		st.State = StatusSent
	case "delivered", "read":
		st.State = StatusDelivered
	case "undelivered", "failed", "canceled":
		st.State = StatusFailed
	}
	if code := twilio.CallbackErrorCode(form); code != "" {
		st.ErrorCode = code
	}
	return st, nil
}
