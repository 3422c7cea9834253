package telnyx

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testNow = time.Unix(1_700_000_000, 0)

// finalized is a message.finalized event as Telnyx documents it.
func finalized(status, errs string) string {
	return `{"data":{"event_type":"message.finalized","id":"b301ed3f-1490-491f-995f-6e64e69674d4",` +
		`"occurred_at":"2023-11-14T22:13:20.000+00:00","payload":{"completed_at":"2023-11-14T22:13:20.000+00:00",` +
		`"cost":{"amount":"0.0051","currency":"USD"},"direction":"outbound","encoding":"GSM-7","errors":` + errs + `,` +
		`"from":{"carrier":"TELNYX LLC","line_type":"VoIP","phone_number":"+15005550006"},"id":"` + testMsgID + `",` +
		`"messaging_profile_id":"740572b6-099c-44a1-89b9-6c92163bc68d","parts":1,"record_type":"message",` +
		`"text":"Your ringfence code is 493817","to":[{"carrier":"T-MOBILE USA, INC.","line_type":"Wireless",` +
		`"phone_number":"+14155550123","status":"` + status + `"}],"type":"SMS","valid_until":null},` +
		`"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://example.com/hooks/telnyx"}}`
}

func keys(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func signed(priv ed25519.PrivateKey, ts, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/telnyx", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("telnyx-timestamp", ts)
	r.Header.Set("telnyx-signature-ed25519", base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(ts+"|"+body))))
	return r
}

func nowTS() string { return strconv.FormatInt(testNow.Unix(), 10) }

func TestParseStatus(t *testing.T) {
	pub, priv := keys(t)
	tests := []struct {
		name, event, status, errs string
		want                      Status
	}{
		{"delivered", "message.finalized", "delivered", "[]", Status{testMsgID, StatusDelivered, ""}},
		{"delivery failed", "message.finalized", "delivery_failed", `[{"code":"40008","title":"Undeliverable","detail":"+14155550123"}]`, Status{testMsgID, StatusFailed, "40008"}},
		{"sending failed", "message.finalized", "sending_failed", `[{"code":40300,"title":"Blocked"}]`, Status{testMsgID, StatusFailed, "40300"}},
		{"unconfirmed", "message.finalized", "delivery_unconfirmed", "[]", Status{testMsgID, StatusSent, ""}},
		{"expired", "message.finalized", "expired", "[]", Status{testMsgID, StatusFailed, ""}},
		{"sent", "message.sent", "sent", "[]", Status{testMsgID, StatusSent, ""}},
		{"unknown", "message.sent", "teleported", "[]", Status{testMsgID, StatusUnknown, ""}},
		{"error code is number", "message.finalized", "delivery_failed", `[{"code":"14155550123"}]`, Status{testMsgID, StatusFailed, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(finalized(tt.status, tt.errs), "message.finalized", tt.event, 1)
			st, err := ParseStatus(signed(priv, nowTS(), body), pub, testNow)
			if err != nil {
				t.Fatalf("ParseStatus: %v", err)
			}
			if st != tt.want {
				t.Errorf("status = %+v, want %+v", st, tt.want)
			}
		})
	}
}

func TestParseStatusRejects(t *testing.T) {
	pub, priv := keys(t)
	otherPub, _ := keys(t)
	body := finalized("delivered", "[]")
	good := func() *http.Request { return signed(priv, nowTS(), body) }
	tests := []struct {
		name string
		req  func() *http.Request
		key  ed25519.PublicKey
		want error
	}{
		{"wrong key", good, otherPub, ErrSignature},
		{"short key", good, pub[:31], ErrSignature},
		{"no signature", func() *http.Request { r := good(); r.Header.Del("telnyx-signature-ed25519"); return r }, pub, ErrSignature},
		{"signature not base64", func() *http.Request { r := good(); r.Header.Set("telnyx-signature-ed25519", "!!"); return r }, pub, ErrSignature},
		{"body changed", func() *http.Request {
			r := good()
			r2 := httptest.NewRequest(http.MethodPost, "/hooks/telnyx", strings.NewReader(strings.Replace(body, `"delivered"`, `"delivery_failed"`, 1)))
			r2.Header = r.Header
			return r2
		}, pub, ErrSignature},
		{"timestamp changed", func() *http.Request {
			r := good()
			r.Header.Set("telnyx-timestamp", strconv.FormatInt(testNow.Unix()+1, 10))
			return r
		}, pub, ErrSignature},
		{"stale", func() *http.Request {
			return signed(priv, strconv.FormatInt(testNow.Add(-6*time.Minute).Unix(), 10), body)
		}, pub, ErrStale},
		{"future", func() *http.Request {
			return signed(priv, strconv.FormatInt(testNow.Add(6*time.Minute).Unix(), 10), body)
		}, pub, ErrStale},
		{"no timestamp", func() *http.Request { return signed(priv, "", body) }, pub, ErrStale},
		{"timestamp garbage", func() *http.Request { return signed(priv, "1e9", body) }, pub, ErrStale},
		{"not json", func() *http.Request { return signed(priv, nowTS(), "nope") }, pub, ErrPayload},
		{"no message id", func() *http.Request {
			return signed(priv, nowTS(), strings.Replace(body, `"id":"`+testMsgID+`"`, `"idx":"1"`, 1))
		}, pub, ErrPayload},
		{"no recipients", func() *http.Request {
			return signed(priv, nowTS(), `{"data":{"event_type":"message.sent","payload":{"id":"x","to":[]}}}`)
		}, pub, ErrPayload},
		{"inbound", func() *http.Request {
			return signed(priv, nowTS(), strings.Replace(body, "message.finalized", "message.received", 1))
		}, pub, ErrEvent},
		{"huge", func() *http.Request {
			return signed(priv, nowTS(), `{"pad":"`+strings.Repeat("x", 300<<10)+`"}`)
		}, pub, ErrPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseStatus(tt.req(), tt.key, testNow)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseStatus = %+v, %v, want %v", st, err, tt.want)
			}
			if strings.Contains(err.Error(), "4155550123") || strings.Contains(err.Error(), "493817") {
				t.Errorf("error %q leaks", err)
			}
		})
	}
}
