package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/config"
)

// TestServeDeliveryChain runs the service with a chain chosen in the
// configuration: SMS by Twilio (which refuses the number), then SMS by
// Vonage. The code arrives through Vonage, with the configured credentials,
// and approves; Twilio was asked once and told where to post receipts.
func TestServeDeliveryChain(t *testing.T) {
	var (
		mu   sync.Mutex
		hits []string
		text string
	)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		user, pass, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/Messages.json") && user == "AC0123" && pass == "twilio-token":
			f, _ := url.ParseQuery(string(body))
			hits = append(hits, "twilio "+f.Get("StatusCallback"))
			w.WriteHeader(400)
			io.WriteString(w, `{"code":21610,"message":"unsubscribed","status":400}`)
		case r.URL.Path == "/v1/messages" && user == "vonage-key" && pass == "vonage-secret":
			var in struct{ Text string }
			json.Unmarshal(body, &in)
			hits = append(hits, "vonage")
			text = in.Text
			w.WriteHeader(202)
			io.WriteString(w, `{"message_uuid":"aaaaaaaa-bbbb-cccc-dddd-000000000001"}`)
		default:
			w.WriteHeader(401)
			io.WriteString(w, `{}`)
		}
	}))
	defer fake.Close()

	dir := t.TempDir()
	env := map[string]string{
		"RINGFENCE_DATA_DIR":               dir,
		"RINGFENCE_HTTP_ADDR":              "127.0.0.1:0",
		"RINGFENCE_HTTP_PUBLIC_URL":        "https://verify.example.com",
		"RINGFENCE_BOOTSTRAP_API_KEY":      "bootstrap-key-for-delivery-test",
		"RINGFENCE_SMS_CHAIN":              "sms:twilio,sms:vonage",
		"RINGFENCE_SMS_ROUTES":             "",
		"RINGFENCE_SMS_TWILIO_ACCOUNT_SID": "AC0123",
		"RINGFENCE_SMS_TWILIO_AUTH_TOKEN":  "twilio-token",
		"RINGFENCE_SMS_TWILIO_FROM":        "+15005550006",
		"RINGFENCE_SMS_TWILIO_BASE_URL":    fake.URL,
		"RINGFENCE_SMS_VONAGE_API_KEY":     "vonage-key",
		"RINGFENCE_SMS_VONAGE_API_SECRET":  "vonage-secret",
		"RINGFENCE_SMS_VONAGE_FROM":        "+15005550006",
		"RINGFENCE_SMS_VONAGE_BASE_URL":    fake.URL,
	}
	getenv := func(k string) string { return env[k] }

	// ringfence config shows the chain, never the secrets.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"config"}, &out, io.Discard, getenv); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"twilio-token", "vonage-secret", "vonage-key"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("ringfence config shows a secret")
		}
	}
	if !strings.Contains(out.String(), "sms:vonage") {
		t.Errorf("ringfence config does not show the chain:\n%s", out.String())
	}

	m, stop, logs := serveEnv(t, getenv)
	defer stop()
	if m.DevInbox != nil {
		t.Fatal("the dev inbox is on with a real chain")
	}
	c := client{t: t, base: m.URL(), key: "bootstrap-key-for-delivery-test"}
	st, body := c.do("POST", "/v1/verifications", map[string]any{"phone": "+14155550123", "channel": "sms"})
	if st != http.StatusCreated {
		t.Fatalf("start: %d %v", st, body)
	}
	id, _ := body["id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	var code string
	for time.Now().Before(deadline) && code == "" {
		mu.Lock()
		if m := codeRE.FindStringSubmatch(text); m != nil {
			code = m[1]
		}
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	if code == "" {
		t.Fatal("no code reached Vonage")
	}
	mu.Lock()
	got := strings.Join(hits, "; ")
	mu.Unlock()
	if got != "twilio https://verify.example.com/v1/callbacks/twilio; vonage" {
		t.Errorf("provider requests %q", got)
	}
	if st, body := c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": code}); st != 200 || body["status"] != "approved" {
		t.Fatalf("check: %d %v", st, body)
	}
	// The receipt routes are on for the providers with secrets.
	resp, err := http.Post(m.URL()+"/v1/callbacks/twilio", "application/x-www-form-urlencoded", strings.NewReader("MessageSid=SM1&MessageStatus=failed"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned Twilio receipt: %d, want 403", resp.StatusCode)
	}
	if strings.Contains(logs.String(), "4155550123") || strings.Contains(logs.String(), code) {
		t.Error("the log holds the number or the code")
	}
}

// serveEnv runs the service configured by getenv alone, logging to the
// buffer it returns.
func serveEnv(t *testing.T, getenv func(string) string) (*Main, func(), *syncBuffer) {
	t.Helper()
	cfg, err := config.Load("", getenv)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	m, stop := runMain(t, cfg, getenv, logs)
	return m, stop, logs
}

func TestServeRefusesBadChain(t *testing.T) {
	env := map[string]string{
		"RINGFENCE_DATA_DIR":  t.TempDir(),
		"RINGFENCE_SMS_CHAIN": "sms:twilio,call:vonage",
	}
	err := run(context.Background(), []string{"serve"}, io.Discard, io.Discard, func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("serve started with a bad chain")
	}
	for _, field := range []string{"sms.chain[1]", "sms.twilio.account_sid", "sms.twilio.auth_token"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}
