package twiliovoice

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
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
	testSID    = "AC0123456789abcdef0123456789abcdef"
	testToken  = "test-auth-token"
	testFrom   = "+15005550006"
	testTo     = "+14155550123"
	testBody   = "Your ringfence code is 493817"
	testCode   = "493817"
	testCallID = "CA3f1c1ed0f6ab4f1b8cbbd2a6e9f0c4d1"
)

// fakeTwilio answers like the Calls resource of Twilio's REST API.
type fakeTwilio struct {
	t     *testing.T
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
		f.t.Errorf("method = %s", r.Method)
	}
	if want := "/2010-04-01/Accounts/" + testSID + "/Calls.json"; r.URL.Path != want {
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
		"account_sid": testSID, "answered_by": nil, "api_version": "2010-04-01", "caller_name": nil,
		"date_created": nil, "date_updated": nil, "direction": "outbound-api", "duration": nil,
		"end_time": nil, "forwarded_from": nil, "from": r.PostForm.Get("From"), "from_formatted": "(500) 555-0006",
		"group_sid": nil, "parent_call_sid": nil, "phone_number_sid": "PNaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"price": nil, "price_unit": "USD", "sid": testCallID, "start_time": nil, "status": "queued",
		"to": r.PostForm.Get("To"), "to_formatted": "(415) 555-0123", "uri": "/2010-04-01/Accounts/" + testSID + "/Calls/" + testCallID + ".json",
	})
}

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

func twilioError(status, code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, status, map[string]any{
			"code":      code,
			"message":   fmt.Sprintf("The phone number you are attempting to call, %s, is not valid. %s", r.PostForm.Get("To"), r.PostForm.Get("Twiml")),
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

func testMessage() sms.Message {
	return sms.Message{ID: "out_1", To: testTo, Channel: sms.Voice, Body: testBody, Locale: "en-US"}
}

func assertSafe(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{testTo, strings.TrimPrefix(testTo, "+"), testBody, testCode, "4, 9, 3", testToken} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestSend(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, func(c *Config) { c.StatusCallbackURL = "https://rf.example/hooks/voice" })
	res, err := s.Send(context.Background(), testMessage())
	if err != nil || res.ProviderID != testCallID {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	form := f.form()
	wantTwiml := `<Response>` +
		`<Say voice="alice" language="en-US">Your code is 4, 9, 3, 8, 1, 7.</Say><Pause length="1"/>` +
		`<Say voice="alice" language="en-US">Your code is 4, 9, 3, 8, 1, 7.</Say><Pause length="1"/>` +
		`</Response>`
	want := url.Values{"To": {testTo}, "From": {testFrom}, "Twiml": {wantTwiml}, "StatusCallback": {"https://rf.example/hooks/voice"}}
	if form.Encode() != want.Encode() {
		t.Errorf("form =\n%v\nwant\n%v", form, want)
	}
	var doc struct {
		XMLName xml.Name `xml:"Response"`
		Says    []string `xml:"Say"`
	}
	if err := xml.Unmarshal([]byte(form.Get("Twiml")), &doc); err != nil || len(doc.Says) != 2 {
		t.Errorf("Twiml does not parse: %v %+v", err, doc)
	}
}

func TestSendLanguages(t *testing.T) {
	tests := []struct{ locale, lang, phrase string }{
		{"", "en-US", "Your code is"},
		{"en-GB", "en-GB", "Your code is"},
		{"en", "en-US", "Your code is"},
		{"fr-CA", "fr-CA", "Votre code est"},
		{"fr-BE", "fr-FR", "Votre code est"},
		{"de", "de-DE", "Ihr Code lautet"},
		{"pt_PT", "pt-PT", "O seu código é"},
		{"pt", "pt-BR", "Seu código é"},
		{"zh-hk", "zh-HK", "您的驗證碼是"},
		{"no", "nb-NO", "Koden din er"},
		{"tlh", "en-US", "Your code is"},
		{`en"><Play>x</Play>`, "en-US", "Your code is"},
	}
	for _, tt := range tests {
		t.Run(tt.locale, func(t *testing.T) {
			f, srv := newFake(t)
			s := newSender(t, srv, nil)
			m := testMessage()
			m.Locale = tt.locale
			if _, err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			var doc struct {
				Says []struct {
					Voice    string `xml:"voice,attr"`
					Language string `xml:"language,attr"`
					Text     string `xml:",chardata"`
				} `xml:"Say"`
				Pauses []struct {
					Length string `xml:"length,attr"`
				} `xml:"Pause"`
			}
			if err := xml.Unmarshal([]byte(f.form().Get("Twiml")), &doc); err != nil {
				t.Fatalf("Twiml: %v", err)
			}
			if len(doc.Says) != 2 || len(doc.Pauses) != 2 {
				t.Fatalf("doc = %+v", doc)
			}
			for _, say := range doc.Says {
				if say.Voice != "alice" || say.Language != tt.lang || say.Text != tt.phrase+" 4, 9, 3, 8, 1, 7." {
					t.Errorf("say = %+v", say)
				}
			}
		})
	}
}

func TestSendEscapes(t *testing.T) {
	f, srv := newFake(t)
	s := newSender(t, srv, func(c *Config) { c.Voice = `Polly.Joanna" foo="<&>` })
	if _, err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Says []struct {
			Voice string `xml:"voice,attr"`
		} `xml:"Say"`
	}
	if err := xml.Unmarshal([]byte(f.form().Get("Twiml")), &doc); err != nil || len(doc.Says) != 2 || doc.Says[0].Voice != `Polly.Joanna" foo="<&>` {
		t.Errorf("voice not escaped: %v %+v %s", err, doc, f.form().Get("Twiml"))
	}
}

func TestFindCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{testBody, testCode},
		{"1234", "1234"},
		{"Code 123", ""},
		{"Code 12345678901", ""},
		{"Code 4321 (valid 10 minutes)", "4321"},
		{"2024: your code is 987654", "987654"},
		{"٤٩٣٨١٧", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := findCode(tt.in); got != tt.want {
			t.Errorf("findCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
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
		{"sms", func(m *sms.Message) { m.Channel = sms.SMS }, sms.CodeUnsupportedChannel},
		{"default channel", func(m *sms.Message) { m.Channel = "" }, sms.CodeUnsupportedChannel},
		{"whatsapp", func(m *sms.Message) { m.Channel = sms.WhatsApp }, sms.CodeUnsupportedChannel},
		{"no code", func(m *sms.Message) { m.Body = "Hello" }, sms.CodeInvalidMessage},
		{"no to", func(m *sms.Message) { m.To = "" }, sms.CodeInvalidMessage},
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
		t.Error("Twilio called")
	}
}

func TestSendErrors(t *testing.T) {
	text := func(status int, s string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, s+r.PostForm.Get("To")+r.PostForm.Get("Twiml"))
		}
	}
	huge := func(status int) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
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
		reply     func(http.ResponseWriter, *http.Request)
		code      string
		status    int
		temporary bool
	}{
		{"invalid to", twilioError(400, 21211), "21211", 400, false},
		{"geo permission", twilioError(400, 21215), "21215", 400, false},
		{"from not verified", twilioError(400, 21210), "21210", 400, false},
		{"authentication", twilioError(401, 20003), "20003", 401, false},
		{"too many", twilioError(429, 20429), "20429", 429, true},
		{"internal", twilioError(500, 20500), "20500", 500, true},
		{"code is a number", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 400, map[string]any{"code": 14155550123})
		}, "http_400", 400, false},
		{"html", text(502, "<html>"), "http_502", 502, true},
		{"huge", huge(400), "http_400", 400, false},
		{"created without sid", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 201, map[string]any{"status": "queued"})
		}, sms.CodeBadResponse, 201, false},
		{"created garbage", text(201, "["), sms.CodeBadResponse, 201, false},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/x", http.StatusSeeOther)
		}, "http_303", 303, false},
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
			if e.Provider != "twiliovoice" || e.Code != tt.code || e.Status != tt.status || e.Temporary != tt.temporary {
				t.Errorf("err = %+v, want %s %d %v", e, tt.code, tt.status, tt.temporary)
			}
			assertSafe(t, err)
		})
	}
}

func TestSendContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f, srv := newFake(t)
	f.reply = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	s := newSender(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := s.Send(ctx, testMessage())
	if !errors.Is(err, context.DeadlineExceeded) {
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
	good := Config{AccountSID: testSID, AuthToken: testToken, From: testFrom}
	tests := []struct {
		name  string
		mod   func(*Config)
		wants []string
	}{
		{"valid", func(*Config) {}, nil},
		{"callback", func(c *Config) { c.StatusCallbackURL = "https://x.example/cb" }, nil},
		{"sid", func(c *Config) { c.AccountSID = "" }, []string{"AccountSID"}},
		{"token", func(c *Config) { c.AuthToken = "" }, []string{"AuthToken"}},
		{"from", func(c *Config) { c.From = "" }, []string{"From"}},
		{"callback url", func(c *Config) { c.StatusCallbackURL = "/relative" }, []string{"StatusCallbackURL"}},
		{"base", func(c *Config) { c.BaseURL = "x" }, []string{"BaseURL"}},
		{"all", func(c *Config) { *c = Config{BaseURL: "x", StatusCallbackURL: "y"} },
			[]string{"AccountSID", "AuthToken", "From", "StatusCallbackURL", "BaseURL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			s, err := New(cfg)
			if len(tt.wants) == 0 {
				if err != nil || s == nil || s.Name() != "twiliovoice" {
					t.Fatalf("New = %v, %v", s, err)
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
