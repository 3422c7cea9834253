package telnyx

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The states a Status reports.
const (
	// StatusSubmitted means Telnyx has the message but has not handed it on
	// (queued, sending).
	StatusSubmitted = "submitted"
	// StatusSent means the carrier has the message, with no receipt yet; it is
	// also the final state when the carrier gives none (delivery_unconfirmed).
	StatusSent = "sent"
	// StatusDelivered means the carrier reported delivery.
	StatusDelivered = "delivered"
	// StatusFailed means the message will not be delivered (sending_failed,
	// delivery_failed, expired); ErrorCode says why.
	StatusFailed = "failed"
	// StatusUnknown is any state this package does not know.
	StatusUnknown = "unknown"
)

// WebhookTolerance is how far a webhook's telnyx-timestamp may be from now.
const WebhookTolerance = 5 * time.Minute

// maxWebhook bounds how much of a webhook body is read.
const maxWebhook = 256 << 10

// Errors returned by ParseStatus.
var (
	// ErrSignature means the webhook's telnyx-signature-ed25519 is missing or is
	// not a signature of its timestamp and body by the public key.
	ErrSignature = errors.New("telnyx: webhook signature invalid")
	// ErrStale means telnyx-timestamp is missing, malformed or outside WebhookTolerance.
	ErrStale = errors.New("telnyx: webhook timestamp outside tolerance")
	// ErrPayload means the webhook is signed but is not a readable event.
	ErrPayload = errors.New("telnyx: webhook is not a message event")
	// ErrEvent means the webhook is a valid event of another type than
	// message.sent or message.finalized (message.received, for example): the
	// caller should acknowledge and ignore it.
	ErrEvent = errors.New("telnyx: webhook is not a status event")
)

// Status is a Telnyx message.sent or message.finalized event.
type Status struct {
	// ProviderID is the message id Send returned as sms.Result.ProviderID.
	ProviderID string
	// State is one of the Status constants.
	State string
	// ErrorCode is Telnyx's code of the first error ("40008"), if any.
	ErrorCode string
}

// ParseStatus reads a Telnyx messaging webhook from r and verifies it, per
// Telnyx's webhook signing: telnyx-signature-ed25519 must be the base64 Ed25519
// signature by publicKey of the telnyx-timestamp header, "|", and the raw body,
// and the timestamp must be within WebhookTolerance of now. It returns
// ErrSignature, ErrStale, ErrPayload or ErrEvent on failure; none of them holds
// anything from the request.
//
// A replay of the same signed webhook within WebhookTolerance is accepted, so its
// handling must be idempotent.
func ParseStatus(r *http.Request, publicKey ed25519.PublicKey, now time.Time) (Status, error) {
	if len(publicKey) != ed25519.PublicKeySize {
		return Status{}, ErrSignature
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("telnyx-signature-ed25519"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Status{}, ErrSignature
	}
	tsText := r.Header.Get("telnyx-timestamp")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return Status{}, ErrStale
	}
	sec := int64(WebhookTolerance / time.Second)
	if d := now.Unix() - ts; d > sec || d < -sec {
		return Status{}, ErrStale
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhook+1))
	if err != nil || len(body) > maxWebhook {
		return Status{}, ErrPayload
	}
	signed := make([]byte, 0, len(tsText)+1+len(body))
	signed = append(append(append(signed, tsText...), '|'), body...)
	if !ed25519.Verify(publicKey, signed, sig) {
		return Status{}, ErrSignature
	}
	return parseEvent(body)
}

// parseEvent decodes a verified webhook body.
func parseEvent(body []byte) (Status, error) {
	var ev struct {
		Data struct {
			EventType string `json:"event_type"`
			Payload   struct {
				ID string `json:"id"`
				To []struct {
					Status string `json:"status"`
				} `json:"to"`
				Errors []struct {
					Code json.RawMessage `json:"code"`
				} `json:"errors"`
			} `json:"payload"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &ev) != nil || ev.Data.EventType == "" {
		return Status{}, ErrPayload
	}
	switch ev.Data.EventType {
	case "message.sent", "message.finalized":
	default:
		return Status{}, ErrEvent
	}
	p := ev.Data.Payload
	if p.ID == "" || len(p.To) == 0 {
		return Status{}, ErrPayload
	}
	st := Status{ProviderID: p.ID, State: state(p.To[0].Status)}
	if len(p.Errors) > 0 {
		st.ErrorCode = errorCode(p.Errors[0].Code)
	}
	return st, nil
}

// state normalises a Telnyx recipient status.
func state(s string) string {
	switch s {
	case "queued", "sending":
		return StatusSubmitted
	case "sent", "delivery_unconfirmed":
		return StatusSent
	case "delivered":
		return StatusDelivered
	case "sending_failed", "delivery_failed", "expired":
		return StatusFailed
	}
	return StatusUnknown
}
