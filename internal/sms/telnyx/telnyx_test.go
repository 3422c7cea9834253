package telnyx

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
	testKey   = "KEY0123456789ABCDEF_secretpart"
	testFrom  = "+15005550006"
	testTo    = "+14155550123"
	testBody  = "Your ringfence code is 493817"
	testCode  = "493817"
	testMsgID = "40315f9e-0ee2-4a4e-8a3b-6f6c1e0c6a8b"
)

// fakeTelnyx answers like POST /v2/messages of Telnyx's API v2.
type fakeTelnyx struct {
	t     *testing.T
	reply func(w http.ResponseWriter, r *http.Request, body map[string]any)
	calls atomic.Int32

	mu   sync.Mutex
	body map[string]any
}

func newFake(t *testing.T) (*fakeTelnyx, *httptest.Server) {
	t.Helper()
	f := &fakeTelnyx{t: t}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeTelnyx) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/v2/messages" {
		f.t.Errorf("request = %s %s", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
		f.t.Errorf("Authorization = %q", got)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("decode: %v", err)
	}
	f.mu.Lock()
	f.body = body
	f.mu.Unlock()
	if f.reply != nil {
		f.reply(w, r, body)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"record_type": "message", "direction": "outbound", "id": testMsgID, "type": "SMS",
		"messaging_profile_id": "4000eba1-a0c0-4563-9925-b25e842a7cb6",
		"from":                 map[string]any{"phone_number": testFrom, "carrier": "TELNYX LLC", "line_type": "VoIP"},
		"to":                   []any{map[string]any{"phone_number": body["to"], "status": "queued", "carrier": "T-MOBILE USA, INC.", "line_type": "Wireless"}},
		"text":                 body["text"], "encoding": "GSM-7", "parts": 1, "errors": []any{},
		"valid_until": "2019-01-23T19:10:24.000Z", "webhook_url": "", "webhook_failover_url": "",
	}})
}

func (f *fakeTelnyx) last() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.body
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// telnyxError answers as Telnyx does on failure; its detail echoes the number.
func telnyxError(status int, code any) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		writeJSON(w, status, map[string]any{"errors": []any{
			map[string]any{
				"code": code, "title": "Invalid 'to' address",
				"detail": "The 'to' address " + testTo + " should be in E.164 format. Text: " + testBody,
				"source": map[string]any{"pointer": "/to"},
				"meta":   map[string]any{"url": "https://developers.telnyx.com/docs/overview/errors/40310"},
			},
			map[string]any{"code": "10015", "title": "Bad Request"},
		}})
	}
}

func newSender(t *testing.T, srv *httptest.Server, mod func(*Config)) *Sender {
	t.Helper()
	cfg := Config{APIKey: testKey, From: testFrom, BaseURL: srv.URL, HTTPClient: srv.Client()}
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
	return sms.Message{ID: "out_1", To: testTo, Channel: sms.SMS, Body: testBody}
}

func assertSafe(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{testTo, strings.TrimPrefix(testTo, "+"), testBody, testCode, testKey} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestSend(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want map[string]any
	}{
		{"from", nil, map[string]any{"from": testFrom, "to": testTo, "text": testBody}},
		{"profile", func(c *Config) { c.From = ""; c.MessagingProfileID = "prof-1" },
			map[string]any{"messaging_profile_id": "prof-1", "to": testTo, "text": testBody}},
		{"both", func(c *Config) { c.MessagingProfileID = "prof-1" },
			map[string]any{"from": testFrom, "messaging_profile_id": "prof-1", "to": testTo, "text": testBody}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			s := newSender(t, srv, tt.mod)
			m := testMessage()
			if tt.name == "both" {
				m.Channel = ""
			}
			res, err := s.Send(context.Background(), m)
			if err != nil || res.ProviderID != testMsgID {
				t.Fatalf("Send = %+v, %v", res, err)
			}
			body := f.last()
			if len(body) != len(tt.want) {
				t.Errorf("body = %v, want %v", body, tt.want)
			}
			for k, v := range tt.want {
				if body[k] != v {
					t.Errorf("body[%s] = %v, want %v", k, body[k], v)
				}
			}
		})
	}
}

func TestSendRefused(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, nil)
	for _, tt := range []struct {
		name string
		mod  func(*sms.Message)
		code string
	}{
		{"whatsapp", func(m *sms.Message) { m.Channel = sms.WhatsApp }, sms.CodeUnsupportedChannel},
		{"voice", func(m *sms.Message) { m.Channel = sms.Voice }, sms.CodeUnsupportedChannel},
		{"no plus", func(m *sms.Message) { m.To = "14155550123" }, sms.CodeInvalidMessage},
		{"no body", func(m *sms.Message) { m.Body = "" }, sms.CodeInvalidMessage},
	} {
		m := testMessage()
		tt.mod(&m)
		_, err := s.Send(context.Background(), m)
		var e *sms.Error
		if !errors.As(err, &e) || e.Code != tt.code || e.Temporary {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	if f.calls.Load() != 0 {
		t.Error("Telnyx called")
	}
}

func TestSendErrors(t *testing.T) {
	text := func(status int, s string) func(http.ResponseWriter, *http.Request, map[string]any) {
		return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, s+testTo)
		}
	}
	huge := func(status int) func(http.ResponseWriter, *http.Request, map[string]any) {
		return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			w.WriteHeader(status)
			for i := 0; i < 100; i++ {
				if _, err := io.WriteString(w, strings.Repeat(testTo+" ", 1000)); err != nil {
					return
				}
			}
		}
	}
	tests := []struct {
		name      string
		reply     func(http.ResponseWriter, *http.Request, map[string]any)
		code      string
		status    int
		temporary bool
	}{
		{"invalid to", telnyxError(400, "40310"), "40310", 400, false},
		{"unauthorized", telnyxError(401, "10009"), "10009", 401, false},
		{"blocked stop", telnyxError(403, "40300"), "40300", 403, false},
		{"unprocessable", telnyxError(422, "40305"), "40305", 422, false},
		{"numeric code", telnyxError(422, 40002), "40002", 422, false},
		{"rate limited", telnyxError(429, "10011"), "10011", 429, true},
		{"internal", telnyxError(500, "10007"), "10007", 500, true},
		{"code echoes number", telnyxError(400, strings.TrimPrefix(testTo, "+")), "http_400", 400, false},
		{"code not digits", telnyxError(400, "to "+testTo), "http_400", 400, false},
		{"no errors", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			writeJSON(w, 400, map[string]any{"errors": []any{}})
		}, "http_400", 400, false},
		{"html 502", text(502, "<html>"), "http_502", 502, true},
		{"huge 400", huge(400), "http_400", 400, false},
		{"huge 503", huge(503), "http_503", 503, true},
		{"ok without id", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			writeJSON(w, 200, map[string]any{"data": map[string]any{"to": testTo}})
		}, sms.CodeBadResponse, 200, false},
		{"ok garbage", text(200, "{"), sms.CodeBadResponse, 200, false},
		{"ok huge", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			writeJSON(w, 200, map[string]any{"data": map[string]any{"id": testMsgID, "text": strings.Repeat("x", 1<<20)}})
		}, sms.CodeBadResponse, 200, false},
		{"redirect", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			http.Redirect(w, r, "/x", http.StatusMovedPermanently)
		}, "http_301", 301, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.reply = tt.reply
			s := newSender(t, srv, nil)
			_, err := s.Send(context.Background(), testMessage())
			var e *sms.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v", err, err)
			}
			if e.Provider != "telnyx" || e.Code != tt.code || e.Status != tt.status || e.Temporary != tt.temporary {
				t.Errorf("err = %+v, want code %s status %d temporary %v", e, tt.code, tt.status, tt.temporary)
			}
			assertSafe(t, err)
			if f.calls.Load() != 1 {
				t.Errorf("calls = %d", f.calls.Load())
			}
		})
	}
}

func TestSendContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f, srv := newFake(t)
	f.reply = func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	s := newSender(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := s.Send(ctx, testMessage())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	assertSafe(t, err)
}

func TestSendNetworkError(t *testing.T) {
	_, srv := newFake(t)
	s := newSender(t, srv, nil)
	srv.Close()
	_, err := s.Send(context.Background(), testMessage())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary || e.Err == nil {
		t.Fatalf("err = %v", err)
	}
	assertSafe(t, err)
}

func TestNew(t *testing.T) {
	good := Config{APIKey: testKey, From: testFrom}
	tests := []struct {
		name  string
		mod   func(*Config)
		wants []string
	}{
		{"valid", func(*Config) {}, nil},
		{"profile only", func(c *Config) { c.From = ""; c.MessagingProfileID = "p" }, nil},
		{"key", func(c *Config) { c.APIKey = "" }, []string{"APIKey"}},
		{"sender", func(c *Config) { c.From = "" }, []string{"From or MessagingProfileID"}},
		{"base", func(c *Config) { c.BaseURL = "//x" }, []string{"BaseURL"}},
		{"all", func(c *Config) { *c = Config{BaseURL: "x:"} }, []string{"APIKey", "From or MessagingProfileID", "BaseURL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			s, err := New(cfg)
			if len(tt.wants) == 0 {
				if err != nil || s == nil || s.Name() != "telnyx" {
					t.Fatalf("New = %v, %v", s, err)
				}
				if _, ok := sms.Sender(s).(sms.Deduplicator); ok {
					t.Error("telnyx claims to deduplicate")
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}
