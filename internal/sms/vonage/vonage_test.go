package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

const (
	testKey    = "a1b2c3d4"
	testSecret = "test-api-secret-Zq9"
	testFrom   = "+447700900001"
	testTo     = "+447700900123"
	testBody   = "Your ringfence code is 493817"
	testCode   = "493817"
	testUUID   = "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"
)

// fakeVonage answers like Vonage's Messages and Verify v2 APIs.
type fakeVonage struct {
	t *testing.T
	// reply, when set, answers instead of the default success.
	reply func(w http.ResponseWriter, r *http.Request, body map[string]any)
	calls atomic.Int32

	mu   sync.Mutex
	path string
	body map[string]any
}

func newFake(t *testing.T) (*fakeVonage, *httptest.Server) {
	t.Helper()
	f := &fakeVonage{t: t}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeVonage) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Method != http.MethodPost {
		f.t.Errorf("method = %s, want POST", r.Method)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != testKey || pass != testSecret {
		f.t.Errorf("basic auth = %q, %q, %v", user, pass, ok)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("decode body: %v", err)
	}
	f.mu.Lock()
	f.path, f.body = r.URL.Path, body
	f.mu.Unlock()
	if f.reply != nil {
		f.reply(w, r, body)
		return
	}
	switch {
	case r.URL.Path == "/v1/messages":
		writeJSON(w, http.StatusAccepted, map[string]any{"message_uuid": testUUID})
	case r.URL.Path == "/v2/verify":
		writeJSON(w, http.StatusAccepted, map[string]any{"request_id": testUUID, "check_url": "https://api.nexmo.com/v2/verify/" + testUUID + "/silent-auth/redirect"})
	case strings.HasPrefix(r.URL.Path, "/v2/verify/"):
		if body["code"] != testCode {
			problem(http.StatusBadRequest, "https://www.developer.vonage.com/api-errors/verify#invalid-code")(w, r, body)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"request_id": testUUID, "status": "completed"})
	default:
		f.t.Errorf("unexpected path %s", r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeVonage) last() (string, map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.path, f.body
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// problem answers with an RFC 7807 document whose detail echoes the request, as
// Vonage's sometimes do.
func problem(status int, typ string) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		echo, _ := json.Marshal(body)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"type":     typ,
			"title":    "Invalid " + testTo,
			"detail":   "The request " + string(echo) + " was refused.",
			"instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf",
		})
	}
}

func newSender(t *testing.T, srv *httptest.Server, mod func(*Config)) *Sender {
	t.Helper()
	cfg := Config{APIKey: testKey, APISecret: testSecret, From: testFrom, BaseURL: srv.URL, HTTPClient: srv.Client()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func testMessage() sms.Message {
	return sms.Message{ID: "out_1", To: testTo, Channel: sms.SMS, Body: testBody, Locale: "en-GB"}
}

// assertSafe fails if err's text holds the number, the body, the code or a secret.
func assertSafe(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{testTo, strings.TrimPrefix(testTo, "+"), testBody, testCode, testSecret} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestSendSMS(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, nil)
	res, err := s.Send(context.Background(), testMessage())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderID != testUUID {
		t.Errorf("ProviderID = %q", res.ProviderID)
	}
	path, body := f.last()
	if path != "/v1/messages" {
		t.Errorf("path = %s", path)
	}
	want := map[string]any{
		"message_type": "text", "channel": "sms", "to": "447700900123",
		"from": "447700900001", "text": testBody, "client_ref": "out_1",
	}
	if len(body) != len(want) {
		t.Errorf("body = %v, want %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%s] = %v, want %v", k, body[k], v)
		}
	}
}

func TestSendAlphanumericSender(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, func(c *Config) { c.From = "Ringfence" })
	if _, err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, body := f.last(); body["from"] != "Ringfence" {
		t.Errorf("from = %v", body["from"])
	}
}

func TestSendWhatsApp(t *testing.T) {
	tests := []struct {
		name, whatsAppFrom, want string
	}{
		{"own number", "+447700900999", "447700900999"},
		{"sms number", "", "447700900001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			s := newSender(t, srv, func(c *Config) { c.WhatsAppFrom = tt.whatsAppFrom })
			m := testMessage()
			m.Channel = sms.WhatsApp
			if _, err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			_, body := f.last()
			if body["channel"] != "whatsapp" || body["from"] != tt.want || body["to"] != "447700900123" {
				t.Errorf("body = %v", body)
			}
		})
	}
}

func TestSendLongIDNotEchoed(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, nil)
	m := testMessage()
	m.ID = strings.Repeat("x", 101)
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, body := f.last(); body["client_ref"] != nil {
		t.Errorf("client_ref = %v, want none", body["client_ref"])
	}
}

func TestSendRefusedBeforeRequest(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, nil)
	mod := func(fn func(*sms.Message)) sms.Message { m := testMessage(); fn(&m); return m }
	tests := []struct {
		name string
		m    sms.Message
		code string
	}{
		{"voice", mod(func(m *sms.Message) { m.Channel = sms.Voice }), sms.CodeUnsupportedChannel},
		{"no to", mod(func(m *sms.Message) { m.To = "" }), sms.CodeInvalidMessage},
		{"to not a number", mod(func(m *sms.Message) { m.To = "+44 7700 900123" }), sms.CodeInvalidMessage},
		{"to too long", mod(func(m *sms.Message) { m.To = "+4477009001234567" }), sms.CodeInvalidMessage},
		{"no body", mod(func(m *sms.Message) { m.Body = "" }), sms.CodeInvalidMessage},
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
		t.Errorf("Vonage called %d times", n)
	}
}

// errorCases are Vonage's documented error classes and malformed answers, shared by
// the Messages and Verify tests.
func errorCases(okStatus int, okBody map[string]any) []struct {
	name      string
	reply     func(http.ResponseWriter, *http.Request, map[string]any)
	code      string
	status    int
	temporary bool
} {
	text := func(status int, s string) func(http.ResponseWriter, *http.Request, map[string]any) {
		return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, s+testTo)
		}
	}
	huge := func(status int) func(http.ResponseWriter, *http.Request, map[string]any) {
		return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			w.WriteHeader(status)
			chunk := strings.Repeat(testTo+" ", 1000)
			for i := 0; i < 100; i++ { // ~1.4 MB
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
		}
	}
	return []struct {
		name      string
		reply     func(http.ResponseWriter, *http.Request, map[string]any)
		code      string
		status    int
		temporary bool
	}{
		{"unauthorized", problem(401, "https://developer.nexmo.com/api-errors/#unathorized"), "unathorized", 401, false},
		{"low balance", problem(402, "https://developer.nexmo.com/api-errors/#low-balance"), "low-balance", 402, false},
		{"invalid sender", problem(422, "https://developer.nexmo.com/api-errors/messages-olympus#1120"), "1120", 422, false},
		{"type without fragment", problem(422, "https://developer.vonage.com/api-errors/invalid-params"), "invalid-params", 422, false},
		{"throttled", problem(429, "https://developer.nexmo.com/api-errors/messages-olympus#1010"), "1010", 429, true},
		{"internal", problem(500, "https://developer.nexmo.com/api-errors/messages-olympus#1030"), "1030", 500, true},
		{"type echoes number", problem(422, "https://developer.nexmo.com/api-errors/#"+strings.TrimPrefix(testTo, "+")+"x y"), "http_422", 422, false},
		{"type not a url", problem(400, "%zz"), "http_400", 400, false},
		{"bad gateway html", text(502, "<html>bad gateway</html>"), "http_502", 502, true},
		{"unavailable empty", text(503, ""), "http_503", 503, true},
		{"huge error", huge(400), "http_400", 400, false},
		{"huge 5xx", huge(500), "http_500", 500, true},
		{"accepted without id", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			writeJSON(w, okStatus, map[string]any{"to": testTo})
		}, sms.CodeBadResponse, okStatus, false},
		{"accepted not json", text(okStatus, "ok "), sms.CodeBadResponse, okStatus, false},
		{"accepted huge", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			b := map[string]any{"pad": strings.Repeat("x", 1<<20)}
			for k, v := range okBody {
				b[k] = v
			}
			writeJSON(w, okStatus, b)
		}, sms.CodeBadResponse, okStatus, false},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}, "http_307", 307, false},
	}
}

func TestSendErrors(t *testing.T) {
	for _, tt := range errorCases(http.StatusAccepted, map[string]any{"message_uuid": testUUID}) {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.reply = tt.reply
			s := newSender(t, srv, nil)
			res, err := s.Send(context.Background(), testMessage())
			if err == nil {
				t.Fatalf("Send = %+v, want error", res)
			}
			var e *sms.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v, want *sms.Error", err, err)
			}
			if e.Provider != "vonage" || e.Code != tt.code || e.Status != tt.status || e.Temporary != tt.temporary {
				t.Errorf("err = %+v, want code %s status %d temporary %v", e, tt.code, tt.status, tt.temporary)
			}
			assertSafe(t, err)
			if strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "bf0ca0bf") {
				t.Errorf("error %q carries Vonage's detail", err)
			}
			if n := f.calls.Load(); n != 1 {
				t.Errorf("Vonage called %d times, want 1", n)
			}
		})
	}
}

func TestSendErrorText(t *testing.T) {
	f, srv := newFake(t)
	f.reply = problem(422, "https://developer.nexmo.com/api-errors/messages-olympus#1120")
	s := newSender(t, srv, nil)
	_, err := s.Send(context.Background(), testMessage())
	if err == nil || err.Error() != "vonage: 1120 (status 422)" {
		t.Errorf("err = %v", err)
	}
}

// hang answers only when the request's context ends or release is closed.
func hang(release chan struct{}) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func TestSendContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f, srv := newFake(t)
	f.reply = hang(release)
	s := newSender(t, srv, nil)

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := s.Send(ctx, testMessage())
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		assertSafe(t, err)
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := s.Send(ctx, testMessage())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("already canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		before := f.calls.Load()
		if _, err := s.Send(ctx, testMessage()); !errors.Is(err, context.Canceled) {
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
	_, err := s.Send(context.Background(), testMessage())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary || e.Err == nil {
		t.Fatalf("err = %v, want temporary network *sms.Error with a cause", err)
	}
	assertSafe(t, err)
	if strings.Contains(err.Error(), "/v1/messages") {
		t.Errorf("error %q carries the request URL", err)
	}
}

func TestSendClientTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f, srv := newFake(t)
	f.reply = hang(release)
	client := srv.Client()
	client.Timeout = 20 * time.Millisecond
	s := newSender(t, srv, func(c *Config) { c.HTTPClient = client })
	_, err := s.Send(context.Background(), testMessage())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary {
		t.Fatalf("err = %v, want temporary network error", err)
	}
	if client.CheckRedirect != nil {
		t.Error("New changed the caller's http.Client")
	}
}

func TestNew(t *testing.T) {
	good := Config{APIKey: testKey, APISecret: testSecret, From: testFrom}
	tests := []struct {
		name  string
		mod   func(*Config)
		wants []string
	}{
		{"valid", func(*Config) {}, nil},
		{"alphanumeric", func(c *Config) { c.From = "Ringfence" }, nil},
		{"whatsapp", func(c *Config) { c.WhatsAppFrom = "+447700900999" }, nil},
		{"custom base", func(c *Config) { c.BaseURL = "http://127.0.0.1:9/" }, nil},
		{"key", func(c *Config) { c.APIKey = "" }, []string{"APIKey"}},
		{"secret", func(c *Config) { c.APISecret = "" }, []string{"APISecret"}},
		{"from", func(c *Config) { c.From = "" }, []string{"From"}},
		{"whatsapp from", func(c *Config) { c.WhatsAppFrom = "Ringfence" }, []string{"WhatsAppFrom"}},
		{"base url", func(c *Config) { c.BaseURL = "api.nexmo.com" }, []string{"BaseURL"}},
		{"all", func(c *Config) { *c = Config{BaseURL: "ftp://x"} }, []string{"APIKey", "APISecret", "From", "BaseURL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			s, err := New(cfg)
			checkConfigError(t, s != nil, err, tt.wants)
		})
	}
}

// checkConfigError checks a constructor's answer against the fields it must name.
func checkConfigError(t *testing.T, made bool, err error, wants []string) {
	t.Helper()
	if len(wants) == 0 {
		if err != nil || !made {
			t.Fatalf("constructor = %v, %v", made, err)
		}
		return
	}
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %s", err, w)
		}
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error %q contains the secret", err)
	}
}

func TestName(t *testing.T) {
	_, srv := newFake(t)
	s := newSender(t, srv, nil)
	if s.Name() != "vonage" {
		t.Errorf("Name = %q", s.Name())
	}
	if _, ok := sms.Sender(s).(sms.Deduplicator); ok {
		t.Error("vonage claims to drop repeated messages")
	}
}

func TestTypeCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://developer.nexmo.com/api-errors/messages-olympus#1120", "1120"},
		{"https://www.developer.vonage.com/api-errors/verify#invalid-code", "invalid-code"},
		{"https://developer.vonage.com/api-errors/invalid-params", "invalid-params"},
		{"https://developer.vonage.com/api-errors/invalid-params/", "invalid-params"},
		{"https://developer.vonage.com/api-errors#" + strings.Repeat("a", 65), ""},
		{"https://developer.vonage.com/", ""},
		{"https://x/#+447700900123", ""},
		{"https://x/#447700900123", ""},
		{"https://x/errors/447700900123", ""},
		{"https://x/#123456", "123456"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := typeCode(tt.in); got != tt.want {
			t.Errorf("typeCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
