package twilioverify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

const (
	testSID     = "AC0123456789abcdef0123456789abcdef"
	testToken   = "test-auth-token"
	testService = "VA0123456789abcdef0123456789abcdef"
	testVE      = "VE0123456789abcdef0123456789abcdef"
	testTo      = "+14155550123"
	testCode    = "493817"
)

// fakeVerify answers like Twilio's Verify v2 Verifications and VerificationCheck.
type fakeVerify struct {
	t     *testing.T
	reply func(w http.ResponseWriter, r *http.Request)
	calls atomic.Int32

	mu       sync.Mutex
	lastPath string
	lastForm url.Values
}

func newFake(t *testing.T) (*fakeVerify, *httptest.Server) {
	t.Helper()
	f := &fakeVerify{t: t}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeVerify) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Method != http.MethodPost {
		f.t.Errorf("method = %s", r.Method)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != testSID || pass != testToken {
		f.t.Errorf("basic auth = %q, %q, %v", user, pass, ok)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("Content-Type = %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("parse form: %v", err)
	}
	f.mu.Lock()
	f.lastPath, f.lastForm = r.URL.Path, r.PostForm
	f.mu.Unlock()
	if f.reply != nil {
		f.reply(w, r)
		return
	}
	base := "/v2/Services/" + testService
	switch r.URL.Path {
	case base + "/Verifications":
		writeJSON(w, http.StatusCreated, map[string]any{
			"sid": testVE, "service_sid": testService, "account_sid": testSID,
			"to": r.PostForm.Get("To"), "channel": r.PostForm.Get("Channel"), "status": "pending",
			"valid": false, "lookup": map[string]any{}, "amount": nil, "payee": nil,
			"send_code_attempts": []any{map[string]any{"time": "2015-07-30T20:00:00Z", "channel": "SMS", "attempt_sid": "VLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},
			"date_created":       "2015-07-30T20:00:00Z", "date_updated": "2015-07-30T20:00:00Z",
			"url": "https://verify.twilio.com/v2/Services/" + testService + "/Verifications/" + testVE,
		})
	case base + "/VerificationCheck":
		status := "pending"
		if r.PostForm.Get("Code") == testCode {
			status = "approved"
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"sid": testVE, "service_sid": testService, "account_sid": testSID, "to": testTo,
			"channel": "sms", "status": status, "valid": status == "approved", "amount": nil, "payee": nil,
			"date_created": "2015-07-30T20:00:00Z", "date_updated": "2015-07-30T20:00:00Z", "sna_attempts_error_codes": []any{},
		})
	default:
		f.t.Errorf("unexpected path %s", r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeVerify) last() (string, url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastPath, f.lastForm
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// twilioError answers as Twilio does on failure; its message echoes the request.
func twilioError(status, code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, status, map[string]any{
			"code":      code,
			"message":   "Invalid parameter `To`: " + r.PostForm.Get("To") + " code " + r.PostForm.Get("Code"),
			"more_info": "https://www.twilio.com/docs/errors/" + itoa(code),
			"status":    status,
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func newVerifier(t *testing.T, srv *httptest.Server) *Verifier {
	t.Helper()
	v, err := New(Config{AccountSID: testSID, AuthToken: testToken, ServiceSID: testService, BaseURL: srv.URL + "/", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func assertSafe(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{testTo, strings.TrimPrefix(testTo, "+"), testCode, testToken} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestStart(t *testing.T) {
	tests := []struct {
		channel, locale string
		want            url.Values
	}{
		{"sms", "es-MX", url.Values{"To": {testTo}, "Channel": {"sms"}, "Locale": {"es"}}},
		{"call", "", url.Values{"To": {testTo}, "Channel": {"call"}}},
		{"whatsapp", "pt_br", url.Values{"To": {testTo}, "Channel": {"whatsapp"}, "Locale": {"pt-BR"}}},
	}
	for _, tt := range tests {
		t.Run(tt.channel, func(t *testing.T) {
			f, srv := newFake(t)
			v := newVerifier(t, srv)
			sid, err := v.Start(context.Background(), testTo, tt.channel, tt.locale)
			if err != nil || sid != testVE {
				t.Fatalf("Start = %q, %v", sid, err)
			}
			path, form := f.last()
			if path != "/v2/Services/"+testService+"/Verifications" {
				t.Errorf("path = %s", path)
			}
			if form.Encode() != tt.want.Encode() {
				t.Errorf("form = %v, want %v", form, tt.want)
			}
		})
	}
}

func TestTwilioLocale(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""}, {"en", "en"}, {"en-US", "en"}, {"en-gb", "en-GB"}, {"zh-HK", "zh-HK"},
		{"zh-TW", "zh"}, {"no", "nb"}, {"nb-NO", "nb"}, {"pt", "pt"}, {"pt-PT", "pt"},
		{"xx", ""}, {"../x", ""},
	}
	for _, tt := range tests {
		if got := twilioLocale(tt.in); got != tt.want {
			t.Errorf("twilioLocale(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStartRefused(t *testing.T) {
	f, srv := newFake(t)
	v := newVerifier(t, srv)
	tests := []struct{ to, channel, code string }{
		{testTo, "email", sms.CodeUnsupportedChannel},
		{testTo, "", sms.CodeUnsupportedChannel},
		{"14155550123", "sms", sms.CodeInvalidMessage},
		{"+1 415 555", "sms", sms.CodeInvalidMessage},
		{"", "sms", sms.CodeInvalidMessage},
	}
	for _, tt := range tests {
		_, err := v.Start(context.Background(), tt.to, tt.channel, "")
		var e *sms.Error
		if !errors.As(err, &e) || e.Code != tt.code || e.Temporary {
			t.Errorf("Start(%q, %q) err = %v, want %s", tt.to, tt.channel, err, tt.code)
		}
	}
	if f.calls.Load() != 0 {
		t.Error("Twilio called")
	}
}

type errCase struct {
	name      string
	reply     func(http.ResponseWriter, *http.Request)
	code      string
	status    int
	temporary bool
}

func errorCases(okStatus int, ok map[string]any) []errCase {
	text := func(status int, s string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, s+r.PostForm.Get("To"))
		}
	}
	huge := func(status int) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			chunk := strings.Repeat(testTo+" ", 1000)
			for i := 0; i < 100; i++ {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
		}
	}
	return []errCase{
		{"invalid parameter", twilioError(400, 60200), "60200", 400, false},
		{"landline", twilioError(400, 60205), "60205", 400, false},
		{"authentication", twilioError(401, 20003), "20003", 401, false},
		{"fraud blocked", twilioError(403, 60410), "60410", 403, false},
		{"not found", twilioError(404, 20404), "20404", 404, false},
		{"max check attempts", twilioError(429, 60202), "60202", 429, false},
		{"max send attempts", twilioError(429, 60203), "60203", 429, false},
		{"concurrent requests", twilioError(429, 60212), "60212", 429, true},
		{"too many requests", twilioError(429, 20429), "20429", 429, true},
		{"internal", twilioError(500, 20500), "20500", 500, true},
		{"code is a number", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 400, map[string]any{"code": 14155550123})
		}, "http_400", 400, false},
		{"code as text", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 400, map[string]any{"code": "to " + testTo})
		}, "http_400", 400, false},
		{"bad gateway html", text(502, "<html>"), "http_502", 502, true},
		{"huge error", huge(400), "http_400", 400, false},
		{"huge 5xx", huge(503), "http_503", 503, true},
		{"ok not json", text(okStatus, "ok "), sms.CodeBadResponse, okStatus, false},
		{"ok huge", func(w http.ResponseWriter, r *http.Request) {
			b := map[string]any{"pad": strings.Repeat("x", 1<<20)}
			for k, v := range ok {
				b[k] = v
			}
			writeJSON(w, okStatus, b)
		}, sms.CodeBadResponse, okStatus, false},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, "http_302", 302, false},
	}
}

func checkErr(t *testing.T, err error, tt errCase) {
	t.Helper()
	var e *sms.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v, want *sms.Error", err, err)
	}
	if e.Provider != "twilioverify" || e.Code != tt.code || e.Status != tt.status || e.Temporary != tt.temporary {
		t.Errorf("err = %+v, want code %s status %d temporary %v", e, tt.code, tt.status, tt.temporary)
	}
	assertSafe(t, err)
	if strings.Contains(err.Error(), "Invalid parameter") {
		t.Errorf("error %q carries Twilio's message", err)
	}
}

func TestStartErrors(t *testing.T) {
	cases := append(errorCases(201, map[string]any{"sid": testVE}), errCase{"created without sid", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, map[string]any{"status": "pending", "to": testTo})
	}, sms.CodeBadResponse, 201, false}, errCase{"sid not a sid", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, map[string]any{"sid": "VE/../" + testTo})
	}, sms.CodeBadResponse, 201, false})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.reply = tt.reply
			v := newVerifier(t, srv)
			sid, err := v.Start(context.Background(), testTo, "sms", "")
			if sid != "" {
				t.Errorf("sid = %q", sid)
			}
			checkErr(t, err, tt)
		})
	}
}

func TestCheck(t *testing.T) {
	f, srv := newFake(t)
	v := newVerifier(t, srv)
	ok, err := v.Check(context.Background(), testVE, testCode)
	if err != nil || !ok {
		t.Fatalf("Check = %v, %v", ok, err)
	}
	path, form := f.last()
	if path != "/v2/Services/"+testService+"/VerificationCheck" {
		t.Errorf("path = %s", path)
	}
	if want := (url.Values{"VerificationSid": {testVE}, "Code": {testCode}}); form.Encode() != want.Encode() {
		t.Errorf("form = %v", form)
	}
	ok, err = v.Check(context.Background(), testVE, "000000")
	if err != nil || ok {
		t.Fatalf("wrong code: Check = %v, %v", ok, err)
	}
}

func TestCheckErrors(t *testing.T) {
	cases := append(errorCases(200, map[string]any{"status": "approved"}),
		errCase{"canceled", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"sid": testVE, "status": "canceled"})
		}, CodeClosed, 200, false},
		errCase{"max attempts", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"sid": testVE, "status": "max_attempts_reached"})
		}, CodeClosed, 200, false},
		errCase{"unknown status", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"sid": testVE, "status": testTo})
		}, sms.CodeBadResponse, 200, false})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.reply = tt.reply
			v := newVerifier(t, srv)
			ok, err := v.Check(context.Background(), testVE, testCode)
			if ok {
				t.Error("approved")
			}
			checkErr(t, err, tt)
		})
	}
}

func TestCheckRefused(t *testing.T) {
	f, srv := newFake(t)
	v := newVerifier(t, srv)
	for _, tt := range []struct{ sid, code string }{
		{"", testCode}, {"VE123", testCode}, {"SM0123456789abcdef0123456789abcdef", testCode},
		{"VE0123456789abcdef0123456789abcd/f", testCode},
		{testVE, ""}, {testVE, "123"}, {testVE, "12345678901"}, {testVE, "12 34"},
	} {
		ok, err := v.Check(context.Background(), tt.sid, tt.code)
		var e *sms.Error
		if ok || !errors.As(err, &e) || e.Code != sms.CodeInvalidMessage {
			t.Errorf("Check(%q, %q) = %v, %v", tt.sid, tt.code, ok, err)
		}
	}
	if f.calls.Load() != 0 {
		t.Error("Twilio called")
	}
}

func TestContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f, srv := newFake(t)
	f.reply = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	v := newVerifier(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := v.Start(ctx, testTo, "sms", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start err = %v", err)
	}
	if _, err := v.Check(ctx, testVE, testCode); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Check err = %v", err)
	}
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	before := f.calls.Load()
	if _, err := v.Check(done, testVE, testCode); !errors.Is(err, context.Canceled) {
		t.Errorf("Check err = %v", err)
	}
	if f.calls.Load() != before {
		t.Error("request sent with an ended context")
	}
}

func TestNetworkError(t *testing.T) {
	_, srv := newFake(t)
	v := newVerifier(t, srv)
	srv.Close()
	_, err := v.Start(context.Background(), testTo, "sms", "")
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary || e.Err == nil {
		t.Fatalf("err = %v", err)
	}
	assertSafe(t, err)
	if strings.Contains(err.Error(), testService) {
		t.Errorf("error %q carries the URL", err)
	}
}

func TestNew(t *testing.T) {
	good := Config{AccountSID: testSID, AuthToken: testToken, ServiceSID: testService}
	tests := []struct {
		name  string
		mod   func(*Config)
		wants []string
	}{
		{"valid", func(*Config) {}, nil},
		{"sid", func(c *Config) { c.AccountSID = "SK1" }, []string{"AccountSID"}},
		{"token", func(c *Config) { c.AuthToken = "" }, []string{"AuthToken"}},
		{"service", func(c *Config) { c.ServiceSID = "MG0123456789abcdef0123456789abcdef" }, []string{"ServiceSID"}},
		{"service path", func(c *Config) { c.ServiceSID = "VA/../../Accounts/AC0123456789abcdef01" }, []string{"ServiceSID"}},
		{"base", func(c *Config) { c.BaseURL = "verify.twilio.com" }, []string{"BaseURL"}},
		{"all", func(c *Config) { *c = Config{BaseURL: ":"} }, []string{"AccountSID", "AuthToken", "ServiceSID", "BaseURL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			v, err := New(cfg)
			if len(tt.wants) == 0 {
				if err != nil || v == nil {
					t.Fatalf("New = %v, %v", v, err)
				}
				if v.Name() != "twilioverify" {
					t.Errorf("Name = %q", v.Name())
				}
				return
			}
			if err == nil {
				t.Fatal("bad config accepted")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q holds the token", err)
			}
		})
	}
}
