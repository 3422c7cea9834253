package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "test-auth-token"
	testFrom  = "+15005550006"
	testTo    = "+14155550123"
	testBody  = "Your ringfence code is 493817"
	testCode  = "493817"
	testMsgID = "SM3f1c1ed0f6ab4f1b8cbbd2a6e9f0c4d1"
)

// fakeTwilio answers like the Messages resource of Twilio's REST API.
type fakeTwilio struct {
	t *testing.T
	// reply, when set, answers instead of the default 201.
	reply func(w http.ResponseWriter, r *http.Request)
	calls atomic.Int32

	mu       sync.Mutex
	lastForm url.Values
}

func newFake(t *testing.T) (*fakeTwilio, *httptest.Server) {
	t.Helper()
	f := &fakeTwilio{t: t}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Method != http.MethodPost {
		f.t.Errorf("method = %s, want POST", r.Method)
	}
	if want := "/2010-04-01/Accounts/" + testSID + "/Messages.json"; r.URL.Path != want {
		f.t.Errorf("path = %s, want %s", r.URL.Path, want)
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
	f.lastForm = r.PostForm
	f.mu.Unlock()
	if f.reply != nil {
		f.reply(w, r)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"account_sid":           testSID,
		"api_version":           "2010-04-01",
		"body":                  r.PostForm.Get("Body"),
		"date_created":          "Thu, 24 Aug 2023 05:01:45 +0000",
		"date_sent":             nil,
		"date_updated":          "Thu, 24 Aug 2023 05:01:45 +0000",
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  r.PostForm.Get("From"),
		"messaging_service_sid": nil,
		"num_media":             "0",
		"num_segments":          "1",
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   testMsgID,
		"status":                "queued",
		"subresource_uris":      map[string]string{"media": "/2010-04-01/Accounts/" + testSID + "/Messages/" + testMsgID + "/Media.json"},
		"to":                    r.PostForm.Get("To"),
		"uri":                   "/2010-04-01/Accounts/" + testSID + "/Messages/" + testMsgID + ".json",
	})
}

// form returns the form of the last request.
func (f *fakeTwilio) form() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastForm
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// twilioError answers as Twilio does on failure; its message echoes the number.
func twilioError(status, code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, status, map[string]any{
			"code":      code,
			"message":   fmt.Sprintf("The 'To' number %s is not valid (%s).", r.PostForm.Get("To"), r.PostForm.Get("Body")),
			"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
			"status":    status,
		})
	}
}

func newSender(t *testing.T, srv *httptest.Server, mod func(*Config)) *Sender {
	t.Helper()
	cfg := Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: srv.URL, HTTPClient: srv.Client()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func message() sms.Message {
	return sms.Message{ID: "out_1", To: testTo, Channel: sms.SMS, Body: testBody, Locale: "en-US"}
}

// assertSafe fails if err's text holds the number, the body or the code.
func assertSafe(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{testTo, strings.TrimPrefix(testTo, "+"), testBody, testCode, testToken} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestSendSMS(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, nil)
	res, err := s.Send(context.Background(), message())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderID != testMsgID {
		t.Errorf("ProviderID = %q, want %q", res.ProviderID, testMsgID)
	}
	want := map[string]string{"To": testTo, "From": testFrom, "Body": testBody}
	for k, v := range want {
		if got := f.form()[k]; len(got) != 1 || got[0] != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	if len(f.form()) != len(want) {
		t.Errorf("form = %v, want only %v", f.form(), want)
	}
}

func TestSendMessagingService(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, func(c *Config) { c.From = ""; c.MessagingServiceSID = "MG0123456789abcdef0123456789abcdef" })
	if _, err := s.Send(context.Background(), message()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := f.form().Get("MessagingServiceSid"); got != "MG0123456789abcdef0123456789abcdef" {
		t.Errorf("MessagingServiceSid = %q", got)
	}
	if _, ok := f.form()["From"]; ok {
		t.Errorf("From sent without a From configured: %q", f.form()["From"])
	}
}

func TestSendStatusCallback(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, func(c *Config) { c.StatusCallbackURL = "https://verify.example.com/v1/callbacks/twilio" })
	if _, err := s.Send(context.Background(), message()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := f.form().Get("StatusCallback"); got != "https://verify.example.com/v1/callbacks/twilio" {
		t.Errorf("StatusCallback = %q", got)
	}
}

func TestSendWhatsApp(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, nil)
	m := message()
	m.Channel = sms.WhatsApp
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := f.form().Get("To"); got != "whatsapp:"+testTo {
		t.Errorf("To = %q", got)
	}
	if got := f.form().Get("From"); got != "whatsapp:"+testFrom {
		t.Errorf("From = %q", got)
	}
}

func TestSendRefusedBeforeRequest(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, nil)
	voice := message()
	voice.Channel = sms.Voice
	noTo := message()
	noTo.To = ""
	noBody := message()
	noBody.Body = ""
	tests := []struct {
		name string
		m    sms.Message
		code string
	}{
		{"voice", voice, sms.CodeUnsupportedChannel},
		{"no to", noTo, sms.CodeInvalidMessage},
		{"no body", noBody, sms.CodeInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Send(context.Background(), tt.m)
			var e *sms.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Temporary {
				t.Fatalf("err = %v, want permanent %s", err, tt.code)
			}
			assertSafe(t, err)
		})
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("Twilio called %d times", n)
	}
}

func TestSendErrors(t *testing.T) {
	huge := func(status int) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			chunk := strings.Repeat(r.PostForm.Get("To")+" ", 1000)
			for i := 0; i < 100; i++ { // ~1.6 MB
				if _, err := w.Write([]byte(chunk)); err != nil {
					return
				}
			}
		}
	}
	text := func(status int, body string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body + r.PostForm.Get("To")))
		}
	}
	tests := []struct {
		name      string
		reply     func(http.ResponseWriter, *http.Request)
		code      string
		status    int
		temporary bool
	}{
		{"invalid number", twilioError(400, 21211), "21211", 400, false},
		{"unsubscribed", twilioError(400, 21610), "21610", 400, false},
		{"authentication", twilioError(401, 20003), "20003", 401, false},
		{"forbidden", twilioError(403, 20003), "20003", 403, false},
		{"not found", twilioError(404, 20404), "20404", 404, false},
		{"too many requests", twilioError(429, 20429), "20429", 429, true},
		{"internal error", twilioError(500, 20500), "20500", 500, true},
		{"bad gateway html", text(502, "<html>bad gateway</html>"), "http_502", 502, true},
		{"unavailable empty", text(503, ""), "http_503", 503, true},
		{"error code as text", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 400, map[string]any{"code": "to " + r.PostForm.Get("To"), "message": r.PostForm.Get("Body")})
		}, "http_400", 400, false},
		{"huge error", huge(400), "http_400", 400, false},
		{"huge 5xx", huge(500), "http_500", 500, true},
		{"created without sid", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 201, map[string]any{"status": "queued", "to": r.PostForm.Get("To")})
		}, sms.CodeBadResponse, 201, false},
		{"created not json", text(201, "ok "), sms.CodeBadResponse, 201, false},
		{"created huge", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 201, map[string]any{"sid": testMsgID, "to": r.PostForm.Get("To"), "pad": strings.Repeat("x", 1<<20)})
		}, sms.CodeBadResponse, 201, false},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}, "http_307", 307, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.reply = tt.reply
			s := newSender(t, srv, nil)
			res, err := s.Send(context.Background(), message())
			if err == nil {
				t.Fatalf("Send = %+v, want error", res)
			}
			var e *sms.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v, want *sms.Error", err, err)
			}
			if e.Provider != "twilio" || e.Code != tt.code || e.Status != tt.status || e.Temporary != tt.temporary {
				t.Errorf("err = %+v, want code %s status %d temporary %v", e, tt.code, tt.status, tt.temporary)
			}
			assertSafe(t, err)
			if strings.Contains(err.Error(), "not valid") {
				t.Errorf("error %q carries Twilio's message", err)
			}
			if n := f.calls.Load(); n != 1 {
				t.Errorf("Twilio called %d times, want 1", n)
			}
		})
	}
}

func TestSendErrorText(t *testing.T) {
	f, srv := newFake(t)
	f.reply = twilioError(400, 21211)
	s := newSender(t, srv, nil)
	_, err := s.Send(context.Background(), message())
	if err == nil || err.Error() != "twilio: 21211 (status 400)" {
		t.Errorf("err = %v", err)
	}
}

func TestSendContext(t *testing.T) {
	release := make(chan struct{})
	f, srv := newFake(t)
	f.reply = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	defer close(release)
	s := newSender(t, srv, nil)

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := s.Send(ctx, message())
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		assertSafe(t, err)
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := s.Send(ctx, message())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		assertSafe(t, err)
	})
	t.Run("already canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		before := f.calls.Load()
		_, err := s.Send(ctx, message())
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if f.calls.Load() != before {
			t.Error("request sent with an ended context")
		}
	})
}

func TestSendNetworkError(t *testing.T) {
	_, srv := newFake(t)
	s := newSender(t, srv, nil)
	srv.Close()
	_, err := s.Send(context.Background(), message())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary || e.Err == nil {
		t.Fatalf("err = %v, want temporary network *sms.Error with a cause", err)
	}
	assertSafe(t, err)
	if strings.Contains(err.Error(), testSID) {
		t.Errorf("error %q carries the request URL", err)
	}
}

func TestSendClientTimeout(t *testing.T) {
	release := make(chan struct{})
	f, srv := newFake(t)
	f.reply = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	defer close(release)
	client := srv.Client()
	client.Timeout = 20 * time.Millisecond
	s := newSender(t, srv, func(c *Config) { c.HTTPClient = client })
	_, err := s.Send(context.Background(), message())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary {
		t.Fatalf("err = %v, want temporary network error", err)
	}
	if client.CheckRedirect != nil {
		t.Error("New changed the caller's http.Client")
	}
}

func TestNew(t *testing.T) {
	good := Config{AccountSID: testSID, AuthToken: testToken, From: testFrom}
	tests := []struct {
		name  string
		mod   func(*Config)
		wants []string // substrings of the error; none means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"messaging service only", func(c *Config) { c.From = ""; c.MessagingServiceSID = "MG1" }, nil},
		{"both senders", func(c *Config) { c.MessagingServiceSID = "MG1" }, nil},
		{"custom base", func(c *Config) { c.BaseURL = "http://127.0.0.1:9/" }, nil},
		{"sid", func(c *Config) { c.AccountSID = "SK123" }, []string{"AccountSID"}},
		{"no sid", func(c *Config) { c.AccountSID = "" }, []string{"AccountSID"}},
		{"token", func(c *Config) { c.AuthToken = "" }, []string{"AuthToken"}},
		{"no sender", func(c *Config) { c.From = "" }, []string{"From or MessagingServiceSID"}},
		{"service sid", func(c *Config) { c.MessagingServiceSID = "XX1" }, []string{"MessagingServiceSID"}},
		{"base url", func(c *Config) { c.BaseURL = "api.twilio.com" }, []string{"BaseURL"}},
		{"callback url", func(c *Config) { c.StatusCallbackURL = "verify.example.com/cb" }, []string{"StatusCallbackURL"}},
		{"all", func(c *Config) { *c = Config{AuthToken: ""} }, []string{"AccountSID", "AuthToken", "From or MessagingServiceSID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			s, err := New(cfg)
			if len(tt.wants) == 0 {
				if err != nil || s == nil {
					t.Fatalf("New = %v, %v", s, err)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted a bad config")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestBaseURLTrailingSlash(t *testing.T) {
	_, srv := newFake(t) // the fake checks the path
	s := newSender(t, srv, func(c *Config) { c.BaseURL = srv.URL + "/" })
	if _, err := s.Send(context.Background(), message()); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestName(t *testing.T) {
	_, srv := newFake(t)
	s := newSender(t, srv, nil)
	if s.Name() != "twilio" {
		t.Errorf("Name = %q", s.Name())
	}
	if _, ok := sms.Sender(s).(sms.Deduplicator); ok {
		t.Error("twilio claims to drop repeated messages")
	}
}
