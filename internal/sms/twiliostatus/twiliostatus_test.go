package twiliostatus

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

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "test-auth-token"
	testMsgID = "SM3f1c1ed0f6ab4f1b8cbbd2a6e9f0c4d1"
	testTo    = "+14155550123"
	hookURL   = "https://rf.example/hooks/twilio"
)

// sign computes X-Twilio-Signature independently of package twilio.
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

// statusForm is a status callback as Twilio documents it.
func statusForm(status string) url.Values {
	return url.Values{
		"AccountSid": {testSID}, "ApiVersion": {"2010-04-01"}, "From": {"+15005550006"},
		"MessageSid": {testMsgID}, "MessageStatus": {status}, "SmsSid": {testMsgID},
		"SmsStatus": {status}, "To": {testTo}, "MessagingServiceSid": {"MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
		"RawDlrDoneDate": {"2311142213"},
	}
}

func post(form url.Values, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/twilio", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
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
		{"delivered", "", Status{testMsgID, StatusDelivered, ""}},
		{"read", "", Status{testMsgID, StatusDelivered, ""}},
		{"sent", "", Status{testMsgID, StatusSent, ""}},
		{"queued", "", Status{testMsgID, StatusSubmitted, ""}},
		{"undelivered", "30006", Status{testMsgID, StatusFailed, "30006"}},
		{"failed", "30008", Status{testMsgID, StatusFailed, "30008"}},
		{"canceled", "", Status{testMsgID, StatusFailed, ""}},
		{"teleported", "", Status{testMsgID, StatusUnknown, ""}},
		{"failed", "14155550123", Status{testMsgID, StatusFailed, ""}},
		{"failed", "not a code", Status{testMsgID, StatusFailed, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			form := statusForm(tt.status)
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

func TestParseStatusLegacyFields(t *testing.T) {
	form := url.Values{"SmsSid": {testMsgID}, "SmsStatus": {"delivered"}}
	st, err := ParseStatus(post(form, sign(testToken, hookURL, form)), testToken, hookURL)
	if err != nil || st.ProviderID != testMsgID || st.State != StatusDelivered {
		t.Errorf("ParseStatus = %+v, %v", st, err)
	}
}

func TestParseStatusRejects(t *testing.T) {
	form := statusForm("delivered")
	sig := sign(testToken, hookURL, form)
	changed := statusForm("delivered")
	changed.Set("ErrorCode", "30006")
	tests := []struct {
		name  string
		req   func() *http.Request
		token string
		want  error
	}{
		{"wrong token", func() *http.Request { return post(form, sig) }, "other", ErrSignature},
		{"no signature", func() *http.Request { return post(form, "") }, testToken, ErrSignature},
		{"garbage signature", func() *http.Request { return post(form, "%%%") }, testToken, ErrSignature},
		{"replayed body changed", func() *http.Request { return post(changed, sig) }, testToken, ErrSignature},
		{"not form", func() *http.Request {
			r := post(form, sig)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, testToken, ErrPayload},
		{"put", func() *http.Request {
			r := post(form, sig)
			r.Method = http.MethodPut
			return r
		}, testToken, ErrPayload},
		{"bad encoding", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/hooks/twilio", strings.NewReader("a=%zz"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, testToken, ErrPayload},
		{"huge", func() *http.Request {
			f := statusForm("delivered")
			f.Set("Body", strings.Repeat("x", 70<<10))
			return post(f, sign(testToken, hookURL, f))
		}, testToken, ErrPayload},
		{"no status", func() *http.Request {
			f := url.Values{"MessageSid": {testMsgID}}
			return post(f, sign(testToken, hookURL, f))
		}, testToken, ErrPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseStatus(tt.req(), tt.token, hookURL)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseStatus = %+v, %v, want %v", st, err, tt.want)
			}
			if strings.Contains(err.Error(), "4155550123") {
				t.Errorf("error %q leaks", err)
			}
		})
	}
}
