package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// StatusEventType is the type of the event a gateway posts back to report what
// became of a message.
const StatusEventType = "message.status"

// The states a Status reports, as the gateway's event names them.
const (
	// StatusSubmitted means the gateway has the message and has not handed it on.
	StatusSubmitted = "submitted"
	// StatusSent means the carrier has the message, with no receipt yet.
	StatusSent = "sent"
	// StatusDelivered means the carrier reported delivery.
	StatusDelivered = "delivered"
	// StatusFailed means the message will not be delivered; ErrorCode says why.
	StatusFailed = "failed"
)

// maxStatus bounds how much of a status event is read.
const maxStatus = 64 << 10

// ErrPayload means a status event is signed but is not one this package reads.
var ErrPayload = errors.New("webhook: status event is not readable")

// Status is a gateway's report on a message Send posted.
type Status struct {
	// ProviderID is the gateway's id that Send returned as sms.Result.ProviderID
	// (the gateway's "id" answer, else the message id).
	ProviderID string
	// State is one of the Status constants.
	State string
	// ErrorCode is the gateway's short error code for a failure, if any.
	ErrorCode string
}

// ParseStatus reads a status event a gateway posted back, signed as Send signs
// its own events (Standard Webhooks: webhook-id, webhook-timestamp within
// tolerance of now, webhook-signature under the same secret), with a JSON body
//
//	{"type": "message.status", "data": {"id": "...", "status": "delivered"|"failed"|"sent"|"submitted", "error_code": "..."}}
//
// It returns an error of Verify, or ErrPayload; none holds anything from the
// request. The same signed event is accepted again within tolerance, so its
// handling must be idempotent.
func ParseStatus(r *http.Request, secret string, now time.Time) (Status, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxStatus+1))
	if err != nil || len(body) > maxStatus {
		return Status{}, ErrPayload
	}
	if err := Verify(secret, r.Header, body, now, DefaultTolerance); err != nil {
		return Status{}, err
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID        string `json:"id"`
			Status    string `json:"status"`
			ErrorCode string `json:"error_code"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &ev) != nil || ev.Type != StatusEventType || ev.Data.ID == "" || len(ev.Data.ID) > 128 {
		return Status{}, ErrPayload
	}
	st := Status{ProviderID: ev.Data.ID}
	switch ev.Data.Status {
	case StatusSubmitted, StatusSent, StatusDelivered, StatusFailed:
		st.State = ev.Data.Status
	default:
		return Status{}, ErrPayload
	}
	if safeCode(ev.Data.ErrorCode) {
		st.ErrorCode = ev.Data.ErrorCode
	}
	return st, nil
}

// safeCode reports whether s is a short code of letters, '_', '-' and at
// most 6 digits: anything else (a gateway echoing text or a number) is dropped.
func safeCode(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-':
		default:
			return false
		}
	}
	return digits <= 6
}
