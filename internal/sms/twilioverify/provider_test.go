package twilioverify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/ringfence/ringfence/internal/sms"
)

// answering is a Verifier whose requests one handler answers.
func answering(t *testing.T, h http.HandlerFunc) *Verifier {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	v, err := New(Config{AccountSID: testSID, AuthToken: testToken, ServiceSID: testService, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCheckCode(t *testing.T) {
	status := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"sid": testVE, "status": s})
		}
	}
	tests := []struct {
		name  string
		reply http.HandlerFunc
		want  string
		code  string // the *sms.Error's code when an error is expected
	}{
		{"approved", status("approved"), sms.CheckApproved, ""},
		{"wrong", status("pending"), sms.CheckWrong, ""},
		{"expired", status("expired"), sms.CheckExpired, ""},
		{"max attempts", status("max_attempts_reached"), sms.CheckFailed, ""},
		{"canceled", status("canceled"), sms.CheckFailed, ""},
		{"forgotten", twilioError(404, 20404), sms.CheckExpired, ""},
		{"too many checks", twilioError(429, 60202), sms.CheckFailed, ""},
		{"unknown status", status("weird"), "", sms.CodeBadResponse},
		{"invalid parameter", twilioError(400, 60200), "", "60200"},
		{"server error", twilioError(500, 20500), "", "20500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := answering(t, tt.reply)
			got, err := v.CheckCode(context.Background(), testVE, testCode)
			var e *sms.Error
			switch {
			case tt.code == "" && (err != nil || got != tt.want):
				t.Errorf("CheckCode = %q, %v, want %q", got, err, tt.want)
			case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code || got != ""):
				t.Errorf("CheckCode = %q, %v, want *sms.Error %s", got, err, tt.code)
			}
		})
	}
	// A malformed id or code never leaves.
	v := answering(t, func(w http.ResponseWriter, r *http.Request) { t.Error("a malformed check was sent") })
	for _, c := range [][2]string{{"VE1", testCode}, {testVE, "12"}, {testVE, "12 456"}} {
		if _, err := v.CheckCode(context.Background(), c[0], c[1]); err == nil {
			t.Errorf("CheckCode(%q, %q) = nil error", c[0], c[1])
		}
	}
}

func TestCancel(t *testing.T) {
	var path string
	var form url.Values
	v := answering(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		path, form = r.URL.Path, nil
		form, _ = url.ParseQuery(string(b))
		writeJSON(w, 200, map[string]any{"sid": testVE, "status": "canceled"})
	})
	if err := v.Cancel(context.Background(), testVE); err != nil {
		t.Fatal(err)
	}
	if path != "/v2/Services/"+testService+"/Verifications/"+testVE || form.Get("Status") != "canceled" || len(form) != 1 {
		t.Errorf("request %s %v", path, form)
	}
	if err := v.Cancel(context.Background(), "VE../../x"); err == nil {
		t.Error("Cancel of a malformed sid = nil")
	}
	gone := answering(t, twilioError(404, 20404))
	var e *sms.Error
	if err := gone.Cancel(context.Background(), testVE); !errors.As(err, &e) || e.Code != "20404" {
		t.Errorf("Cancel of a forgotten verification = %v, want 20404", err)
	}
}

func TestSendCode(t *testing.T) {
	var forms []url.Values
	v := answering(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f, _ := url.ParseQuery(string(b))
		forms = append(forms, f)
		writeJSON(w, 201, map[string]any{"sid": testVE, "status": "pending"})
	})
	// A resend is the same request: Twilio sends the pending verification's code again.
	for _, ref := range []string{"", testVE} {
		got, err := v.SendCode(context.Background(), testTo, "sms", ref)
		if err != nil || got != testVE {
			t.Fatalf("SendCode(ref %q) = %q, %v", ref, got, err)
		}
	}
	if len(forms) != 2 || forms[1].Get("To") != testTo || forms[1].Get("Channel") != "sms" {
		t.Errorf("requests %v", forms)
	}
}
