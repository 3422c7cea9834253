package vonage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// The states a Status reports, normalised across Vonage's channels.
const (
	// StatusSubmitted means Vonage passed the message on to the network.
	StatusSubmitted = "submitted"
	// StatusDelivered means the message reached the handset (or was read).
	StatusDelivered = "delivered"
	// StatusFailed means the message will not be delivered ("rejected" or
	// "undeliverable"); ErrorCode says why.
	StatusFailed = "failed"
	// StatusUnknown is any state this package does not know.
	StatusUnknown = "unknown"
)

// MaxWebhookAge is how old a callback's JWT may be (its "iat" claim), and how far
// ahead of the receiver's clock it may claim to be.
const MaxWebhookAge = 5 * time.Minute

// maxWebhook bounds how much of a callback body is read.
const maxWebhook = 256 << 10

// Errors returned by ParseStatus.
var (
	// ErrSignature means the callback had no valid JWT for the signature secret,
	// or its body does not match the JWT's payload_hash.
	ErrSignature = errors.New("vonage: callback signature invalid")
	// ErrStale means the callback's JWT is too old, from the future or expired.
	ErrStale = errors.New("vonage: callback signature expired")
	// ErrPayload means the callback is signed but is not a message status.
	ErrPayload = errors.New("vonage: callback is not a message status")
)

// Status is a Messages API status callback.
type Status struct {
	// ProviderID is the message_uuid Send returned as sms.Result.ProviderID.
	ProviderID string
	// State is one of the Status constants.
	State string
	// ErrorCode is Vonage's code for a failure ("1120"), from the error's type URL.
	ErrorCode string
}

// ParseStatus reads a Messages API status callback from r and verifies it, per
// Vonage's "Signed webhooks" guide: the "Authorization: Bearer" JWT must be
// HS256-signed with signatureSecret, issued (iat) within MaxWebhookAge of now and
// not expired, and its payload_hash claim must be the hex SHA-256 of the body. All
// comparisons take constant time. It returns ErrSignature, ErrStale or ErrPayload
// on failure; none of them holds anything from the request.
//
// A JWT has no single-use nonce that this function could remember: within
// MaxWebhookAge the same callback may be replayed, so its handling must be
// idempotent.
func ParseStatus(r *http.Request, signatureSecret string, now time.Time) (Status, error) {
	if signatureSecret == "" {
		return Status{}, ErrSignature
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return Status{}, ErrSignature
	}
	claims, err := verifyJWT(strings.TrimSpace(token), []byte(signatureSecret))
	if err != nil {
		return Status{}, err
	}
	if claims.IssuedAt == nil {
		return Status{}, ErrStale
	}
	iat := time.Unix(*claims.IssuedAt, 0)
	if now.Sub(iat) > MaxWebhookAge || iat.Sub(now) > MaxWebhookAge {
		return Status{}, ErrStale
	}
	if claims.Expires != nil && !now.Before(time.Unix(*claims.Expires, 0)) {
		return Status{}, ErrStale
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhook+1))
	if err != nil || len(body) > maxWebhook {
		return Status{}, ErrPayload
	}
	want, err := hex.DecodeString(claims.PayloadHash)
	got := sha256.Sum256(body)
	if err != nil || !hmac.Equal(got[:], want) {
		return Status{}, ErrSignature
	}
	return parseStatusBody(body)
}

// claims are the JWT claims of a signed callback that ParseStatus checks.
type claims struct {
	IssuedAt    *int64 `json:"iat"`
	Expires     *int64 `json:"exp"`
	PayloadHash string `json:"payload_hash"`
}

// verifyJWT checks an HS256 JWT against secret and returns its claims. Only HS256
// is accepted, whatever the header says otherwise ("none" included).
func verifyJWT(token string, secret []byte) (claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, ErrSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return claims{}, ErrSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return claims{}, ErrSignature
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if !decodeSegment(parts[0], &header) || header.Alg != "HS256" {
		return claims{}, ErrSignature
	}
	var c claims
	if !decodeSegment(parts[1], &c) {
		return claims{}, ErrSignature
	}
	return c, nil
}

// decodeSegment decodes a base64url JSON segment of a JWT into v.
func decodeSegment(seg string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && json.Unmarshal(b, v) == nil
}

// parseStatusBody decodes a verified status callback.
func parseStatusBody(body []byte) (Status, error) {
	var cb struct {
		MessageUUID string `json:"message_uuid"`
		Status      string `json:"status"`
		Error       *struct {
			Type  string          `json:"type"`
			Title json.RawMessage `json:"title"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &cb) != nil || cb.MessageUUID == "" || cb.Status == "" {
		return Status{}, ErrPayload
	}
	st := Status{ProviderID: cb.MessageUUID, State: state(cb.Status)}
	if cb.Error != nil {
		// Callbacks carry the numeric code as the title ("1000" or 1000) and, in
		// most cases, as the fragment of the type URL too.
		st.ErrorCode = numeric(strings.Trim(string(cb.Error.Title), `"`))
		if st.ErrorCode == "" {
			st.ErrorCode = typeCode(cb.Error.Type)
		}
	}
	return st, nil
}

// state normalises a Messages API status.
func state(s string) string {
	switch s {
	case "submitted":
		return StatusSubmitted
	case "delivered", "read":
		return StatusDelivered
	case "rejected", "undeliverable", "failed":
		return StatusFailed
	}
	return StatusUnknown
}

// numeric returns s if it is 1 to 6 digits, else "".
func numeric(s string) string {
	if len(s) == 0 || len(s) > 6 || !allDigits(s) {
		return ""
	}
	return s
}
