package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

const (
	testTo   = "+14155550123"
	testBody = "Your ringfence code is 493817"
	testCode = "493817"
)

var (
	testSecret = SecretPrefix + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	testNow    = time.Date(2025, 3, 4, 5, 6, 7, 890, time.UTC)
)

// gateway is a receiver that verifies every request as a Standard Webhooks
// consumer would, then answers with reply (204 if nil).
type gateway struct {
	t     *testing.T
	reply func(w http.ResponseWriter, r *http.Request)
	calls atomic.Int32

	mu       sync.Mutex
	requests []received
}

type received struct {
	header http.Header
	body   []byte
	event  Event
}

func newGateway(t *testing.T) (*gateway, *httptest.Server) {
	t.Helper()
	g := &gateway{t: t}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	g.calls.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		g.t.Errorf("read body: %v", err)
	}
	if r.Method != http.MethodPost {
		g.t.Errorf("method = %s", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		g.t.Errorf("Content-Type = %q", ct)
	}
	if err := Verify(testSecret, r.Header, body, testNow, 0); err != nil {
		g.t.Errorf("Verify: %v", err)
	}
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		g.t.Errorf("decode event: %v", err)
	}
	g.mu.Lock()
	g.requests = append(g.requests, received{r.Header.Clone(), body, ev})
	g.mu.Unlock()
	if g.reply == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	g.reply(w, r)
}

func (g *gateway) received() []received {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]received(nil), g.requests...)
}

func newSender(t *testing.T, srv *httptest.Server) *Sender {
	t.Helper()
	s, err := New(Config{URL: srv.URL + "/sms", Secret: testSecret, HTTPClient: srv.Client(), Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func message() sms.Message {
	return sms.Message{ID: "out_01HZX", To: testTo, Channel: sms.WhatsApp, Body: testBody, Locale: "fr-CA"}
}

func assertSafe(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{testTo, strings.TrimPrefix(testTo, "+"), testBody, testCode} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestSend(t *testing.T) {
	g, srv := newGateway(t)
	s := newSender(t, srv)
	res, err := s.Send(context.Background(), message())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderID != "out_01HZX" {
		t.Errorf("ProviderID = %q, want the message id", res.ProviderID)
	}
	reqs := g.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	want := Event{
		Type:      "message.send",
		Timestamp: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Data:      Data{ID: "out_01HZX", To: testTo, Channel: sms.WhatsApp, Body: testBody, Locale: "fr-CA"},
	}
	if !r.event.Timestamp.Equal(want.Timestamp) || r.event.Type != want.Type || r.event.Data != want.Data {
		t.Errorf("event = %+v, want %+v", r.event, want)
	}
	if !bytes.Contains(r.body, []byte(`"timestamp":"2025-03-04T05:06:07Z"`)) {
		t.Errorf("timestamp not RFC 3339 seconds: %s", r.body)
	}
	if got := r.header.Get("webhook-id"); got != "out_01HZX" {
		t.Errorf("webhook-id = %q", got)
	}
	if got := r.header.Get("webhook-timestamp"); got != "1741064767" {
		t.Errorf("webhook-timestamp = %q", got)
	}
	key, _ := ParseSecret(testSecret)
	if got, want := r.header.Get("webhook-signature"), Sign(key, "out_01HZX", 1741064767, r.body); got != want {
		t.Errorf("webhook-signature = %q, want %q", got, want)
	}
}

func TestSendDefaults(t *testing.T) {
	g, srv := newGateway(t)
	s := newSender(t, srv)
	m := message()
	m.Channel, m.Locale = "", ""
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := g.received()[0]
	if r.event.Data.Channel != sms.SMS {
		t.Errorf("channel = %q, want sms", r.event.Data.Channel)
	}
	if bytes.Contains(r.body, []byte("locale")) {
		t.Errorf("empty locale sent: %s", r.body)
	}
}

func TestSendRetryKeepsID(t *testing.T) {
	g, srv := newGateway(t)
	s := newSender(t, srv)
	for range 2 {
		if _, err := s.Send(context.Background(), message()); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	reqs := g.received()
	if len(reqs) != 2 || reqs[0].header.Get("webhook-id") != reqs[1].header.Get("webhook-id") {
		t.Errorf("webhook-id changed across retries")
	}
	if !s.Deduplicates() {
		t.Error("Deduplicates = false")
	}
}

func TestSendProviderID(t *testing.T) {
	tests := []struct {
		name  string
		reply func(http.ResponseWriter, *http.Request)
		want  string
	}{
		{"id in answer", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"id":"gw-77","status":"queued"}`)
		}, "gw-77"},
		{"answer without id", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"status":"queued"}`)
		}, "out_01HZX"},
		{"answer not json", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "OK")
		}, "out_01HZX"},
		{"id not a string", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"id":12}`)
		}, "out_01HZX"},
		{"huge answer", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"id":"gw-1","pad":"`+strings.Repeat("x", 1<<20)+`"}`)
		}, "out_01HZX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, srv := newGateway(t)
			g.reply = tt.reply
			res, err := newSender(t, srv).Send(context.Background(), message())
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res.ProviderID != tt.want {
				t.Errorf("ProviderID = %q, want %q", res.ProviderID, tt.want)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	for _, tt := range []struct {
		status    int
		temporary bool
	}{
		{400, false}, {401, false}, {403, false}, {404, false}, {409, false}, {410, false}, {422, false},
		{408, true}, {429, true}, {500, true}, {502, true}, {503, true}, {504, true},
		{301, false}, {302, false}, {307, false},
	} {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			g, srv := newGateway(t)
			g.reply = func(w http.ResponseWriter, r *http.Request) {
				if tt.status >= 300 && tt.status < 400 {
					w.Header().Set("Location", "/moved")
				}
				w.WriteHeader(tt.status)
				// A gateway that echoes what it was sent.
				_, _ = io.WriteString(w, `{"error":"cannot deliver `+testBody+` to `+testTo+`"}`)
			}
			_, err := newSender(t, srv).Send(context.Background(), message())
			var e *sms.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *sms.Error", err)
			}
			if e.Provider != "webhook" || e.Status != tt.status || e.Temporary != tt.temporary || e.Code != "http_"+strconv.Itoa(tt.status) {
				t.Errorf("err = %+v, want status %d temporary %v", e, tt.status, tt.temporary)
			}
			assertSafe(t, err)
			if n := g.calls.Load(); n != 1 {
				t.Errorf("%d requests, want 1 (redirects are not followed)", n)
			}
		})
	}
}

func TestSendInvalidMessage(t *testing.T) {
	g, srv := newGateway(t)
	s := newSender(t, srv)
	for _, mod := range []func(*sms.Message){
		func(m *sms.Message) { m.ID = "" },
		func(m *sms.Message) { m.To = "" },
		func(m *sms.Message) { m.Body = "" },
	} {
		m := message()
		mod(&m)
		_, err := s.Send(context.Background(), m)
		var e *sms.Error
		if !errors.As(err, &e) || e.Code != sms.CodeInvalidMessage || e.Temporary {
			t.Errorf("err = %v, want permanent invalid_message", err)
			continue
		}
		assertSafe(t, err)
	}
	if n := g.calls.Load(); n != 0 {
		t.Errorf("%d requests for invalid messages", n)
	}
}

func TestSendContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	g, srv := newGateway(t)
	g.reply = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	s := newSender(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := s.Send(ctx, message())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertSafe(t, err)

	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Send(ctx, message()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestSendNetworkError(t *testing.T) {
	_, srv := newGateway(t)
	s := newSender(t, srv)
	srv.Close()
	_, err := s.Send(context.Background(), message())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary || e.Err == nil {
		t.Fatalf("err = %v, want temporary network error", err)
	}
	assertSafe(t, err)
	if strings.Contains(err.Error(), "/sms") {
		t.Errorf("error %q carries the URL", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		wants []string
	}{
		{"valid", Config{URL: "https://gw.example/sms", Secret: testSecret}, nil},
		{"secret without prefix", Config{URL: "http://127.0.0.1:9", Secret: testSecret[len(SecretPrefix):]}, nil},
		{"no url", Config{Secret: testSecret}, []string{"URL"}},
		{"relative url", Config{URL: "/sms", Secret: testSecret}, []string{"URL"}},
		{"other scheme", Config{URL: "ftp://gw.example", Secret: testSecret}, []string{"URL"}},
		{"no secret", Config{URL: "https://gw.example"}, []string{"secret"}},
		{"short secret", Config{URL: "https://gw.example", Secret: "whsec_c2hvcnQ="}, []string{"secret"}},
		{"not base64", Config{URL: "https://gw.example", Secret: "whsec_!!!"}, []string{"secret"}},
		{"both", Config{}, []string{"URL", "secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if len(tt.wants) == 0 {
				if err != nil || s == nil {
					t.Fatalf("New = %v, %v", s, err)
				}
				if s.Name() != "webhook" {
					t.Errorf("Name = %q", s.Name())
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
		})
	}
}
