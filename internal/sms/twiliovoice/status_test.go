package twiliovoice

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
)

const hookURL = "https://rf.example/hooks/voice?tenant=1"

// sign computes X-Twilio-Signature independently of package twilio: the URL,
// then each parameter name and value sorted by name, HMAC-SHA1, base64.
func sign(token, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := u
	for _, k := range keys {
		for _, v := range form[k] {
			s += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func callForm(status string) url.Values {
	return url.Values{
		"AccountSid": {testSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {testCallID},
		"CallStatus": {status}, "Called": {testTo}, "Caller": {testFrom}, "Direction": {"outbound-api"},
		"From": {testFrom}, "To": {testTo}, "CallDuration": {"14"}, "Timestamp": {"Tue, 14 Nov 2023 22:13:20 +0000"},
		"CallbackSource": {"call-progress-events"}, "SequenceNumber": {"0"},
	}
}

func post(form url.Values, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/voice?tenant=1", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		r.Header.Set("X-Twilio-Signature", sig)
	}
	return r
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		status, errorCode string
		want              Status
	}{
		{"completed", "", Status{testCallID, StatusDelivered, ""}},
		{"busy", "", Status{testCallID, StatusFailed, "busy"}},
		{"no-answer", "", Status{testCallID, StatusFailed, "no-answer"}},
		{"canceled", "", Status{testCallID, StatusFailed, "canceled"}},
		{"failed", "32009", Status{testCallID, StatusFailed, "32009"}},
		{"ringing", "", Status{testCallID, StatusSubmitted, ""}},
		{"in-progress", "", Status{testCallID, StatusSent, ""}},
		{"teleported", "", Status{testCallID, StatusUnknown, ""}},
		{"failed", "14155550123", Status{testCallID, StatusFailed, "failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			form := callForm(tt.status)
			if tt.errorCode != "" {
				form.Set("ErrorCode", tt.errorCode)
			}
			st, err := ParseStatus(post(form, sign(testToken, hookURL, form)), testToken, hookURL)
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
	form := callForm("completed")
	sig := sign(testToken, hookURL, form)
	changed := callForm("busy")
	tests := []struct {
		name  string
		req   func() *http.Request
		token string
		url   string
		want  error
	}{
		{"wrong token", func() *http.Request { return post(form, sig) }, "other", hookURL, ErrSignature},
		{"empty token", func() *http.Request { return post(form, sig) }, "", hookURL, ErrSignature},
		{"wrong url", func() *http.Request { return post(form, sig) }, testToken, "https://rf.example/hooks/voice", ErrSignature},
		{"no signature", func() *http.Request { return post(form, "") }, testToken, hookURL, ErrSignature},
		{"replayed body changed", func() *http.Request { return post(changed, sig) }, testToken, hookURL, ErrSignature},
		{"get", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/hooks/voice?"+form.Encode(), nil)
			r.Header.Set("X-Twilio-Signature", sig)
			return r
		}, testToken, hookURL, ErrPayload},
		{"json", func() *http.Request {
			r := post(form, sig)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, testToken, hookURL, ErrPayload},
		{"huge", func() *http.Request {
			f := callForm("completed")
			f.Set("Pad", strings.Repeat("x", 70<<10))
			return post(f, sign(testToken, hookURL, f))
		}, testToken, hookURL, ErrPayload},
		{"no call sid", func() *http.Request {
			f := callForm("completed")
			f.Del("CallSid")
			return post(f, sign(testToken, hookURL, f))
		}, testToken, hookURL, ErrPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseStatus(tt.req(), tt.token, tt.url)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseStatus = %+v, %v, want %v", st, err, tt.want)
			}
			if strings.Contains(err.Error(), "4155550123") {
				t.Errorf("error %q leaks", err)
			}
		})
	}
}
