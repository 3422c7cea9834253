package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/config"
)

// TestServeWithTwilioVerify runs the service with sms.provider twilioverify
// against a server answering as Twilio Verify v2: a start reaches Twilio
// through the outbox, a wrong code stays pending and the code Twilio sent
// approves; the channels Twilio Verify carries are offered.
func TestServeWithTwilioVerify(t *testing.T) {
	const (
		sid     = "AC0123456789abcdef0123456789abcdef"
		service = "VA0123456789abcdef0123456789abcdef"
		ve      = "VE0123456789abcdef0123456789abcdef"
		code    = "482916"
		admin   = "bootstrap-key-0123456789"
	)
	var (
		mu sync.Mutex
		to string
	)
	twilio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f, _ := url.ParseQuery(string(b))
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v2/Services/" + service + "/Verifications":
			mu.Lock()
			to = f.Get("To")
			mu.Unlock()
			w.WriteHeader(201)
			json.NewEncoder(w).Encode(map[string]any{"sid": ve, "status": "pending"})
		case "/v2/Services/" + service + "/VerificationCheck":
			st := "pending"
			if f.Get("VerificationSid") == ve && f.Get("Code") == code {
				st = "approved"
			}
			json.NewEncoder(w).Encode(map[string]any{"sid": ve, "status": st})
		default:
			w.WriteHeader(404)
			json.NewEncoder(w).Encode(map[string]any{"code": 20404, "status": 404})
		}
	}))
	defer twilio.Close()

	m, stop := startMainWith(t, t.TempDir(), &syncBuffer{}, func(c *config.Config) {
		c.BootstrapAPIKey = admin
		c.SMS.Provider = config.ProviderTwilioVerify
		c.SMS.Twilio = config.Twilio{AccountSID: sid, AuthToken: "tok", VerifyServiceSID: service, VerifyBaseURL: twilio.URL}
	})
	defer stop()
	if m.Provider == nil || m.DevInbox != nil {
		t.Fatalf("provider %v, dev inbox %v: want Twilio Verify and no inbox", m.Provider, m.DevInbox)
	}
	c := client{t: t, base: m.URL(), key: admin}
	st, out := c.do("POST", "/v1/verifications", map[string]any{"phone": "+14155550123"})
	if st != http.StatusCreated {
		t.Fatalf("start: %d %v", st, out)
	}
	id, _ := out["id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := to
		mu.Unlock()
		if got == "+14155550123" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Twilio was not asked to send (to %q)", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, out := c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": "000000"}); st != 200 || out["status"] != "pending" {
		t.Errorf("wrong code: %d %v", st, out)
	}
	if st, out := c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": code}); st != 200 || out["status"] != "approved" {
		t.Errorf("right code: %d %v", st, out)
	}
	// WhatsApp is offered by Twilio Verify.
	if st, _ := c.do("POST", "/v1/verifications", map[string]any{"phone": "+14155550124", "channel": "whatsapp"}); st != http.StatusCreated {
		t.Errorf("whatsapp start: %d", st)
	}
}
