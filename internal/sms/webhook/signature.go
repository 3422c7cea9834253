package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts a signing secret in its text form.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a timestamp may be from the receiver's clock when
// Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify and ParseSecret.
var (
	ErrSecret        = errors.New("webhook: secret must be whsec_ and base64 of 24 to 64 bytes")
	ErrMissingHeader = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp     = errors.New("webhook: timestamp missing, malformed or outside tolerance")
	ErrSignature     = errors.New("webhook: no valid signature")
)

// ParseSecret decodes a signing secret, "whsec_" followed by the standard base64 of
// 24 to 64 bytes; the prefix may be left out.
func ParseSecret(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil || len(b) < 24 || len(b) > 64 {
		return nil, ErrSecret
	}
	return b, nil
}

// Sign returns the webhook-signature header value for a message: "v1," followed by
// the base64 HMAC-SHA256 of id + "." + ts + "." + body under secret.
func Sign(secret []byte, id string, ts int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, id, ts, body))
}

func mac(secret []byte, id string, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(ts, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received message: its webhook-timestamp must be within tolerance
// of now (DefaultTolerance if tolerance is not positive) and one of the
// space-separated "v1,..." entries of its webhook-signature must be the signature of
// its webhook-id, timestamp and body under secret. Signatures are compared in
// constant time. It returns nil, ErrSecret, ErrMissingHeader, ErrTimestamp or
// ErrSignature.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	id := header.Get("webhook-id")
	tsText := header.Get("webhook-timestamp")
	sigs := header.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeader
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec := int64(tolerance / time.Second)
	if d := now.Unix() - ts; d > sec || d < -sec {
		return ErrTimestamp
	}
	want := mac(key, id, ts, body)
	ok := false
	for _, entry := range strings.Fields(sigs) {
		version, sig, found := strings.Cut(entry, ",")
		if !found || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}
