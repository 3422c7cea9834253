package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/api"
	"github.com/ringfence/ringfence/internal/fraud"
	"github.com/ringfence/ringfence/internal/sms"
	"github.com/ringfence/ringfence/internal/sms/telnyx"
	"github.com/ringfence/ringfence/internal/sms/twilio"
	"github.com/ringfence/ringfence/internal/sms/twiliovoice"
	"github.com/ringfence/ringfence/internal/sms/vonage"
	"github.com/ringfence/ringfence/internal/sms/webhook"
	"github.com/ringfence/ringfence/internal/verify"
)

// Credentials the providers' fakes expect, as an operator configures them.
const (
	cloudTwilioSID    = "AC0123456789abcdef0123456789abcdef"
	cloudTwilioToken  = "twilio-cloud-auth-token"
	cloudVonageKey    = "vonage-key"
	cloudVonageSecret = "vonage-secret"
	cloudVonageSig    = "vonage-signature-secret-0123456789"
	cloudTelnyxKey    = "KEY0123telnyx"
	cloudWebhookKey   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	cloudFrom         = "+14155550100"
)

// cloudMessage is one message a provider's fake accepted or refused.
type cloudMessage struct {
	provider, to, body, id string
	statusCallback         string
}

// cloud answers as the providers' documented APIs do: Twilio Messages and
// Calls, Vonage Messages, Telnyx Messages and a Standard Webhooks gateway. A
// provider set to fail answers with its documented permanent error.
type cloud struct {
	t    testing.TB
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []cloudMessage
	fail map[string]bool
	n    int
}

func newCloud(t testing.TB) *cloud {
	c := &cloud{t: t, fail: map[string]bool{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *cloud) setFail(provider string, fail bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail[provider] = fail
}

func (c *cloud) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	var m cloudMessage
	answer := func(status int, v string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, v)
	}
	basic := func(user, pass string) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == user && p == pass
	}
	switch {
	case r.URL.Path == "/2010-04-01/Accounts/"+cloudTwilioSID+"/Messages.json":
		if !basic(cloudTwilioSID, cloudTwilioToken) {
			answer(401, `{"code":20003,"message":"Authenticate","status":401}`)
			return
		}
		f, _ := url.ParseQuery(string(body))
		m = cloudMessage{provider: "twilio", to: f.Get("To"), body: f.Get("Body"), id: fmt.Sprintf("SM%032d", c.n), statusCallback: f.Get("StatusCallback")}
		if c.fail["twilio"] {
			c.msgs = append(c.msgs, cloudMessage{provider: "twilio", to: m.to})
			answer(400, `{"code":21610,"message":"Attempt to send to unsubscribed recipient","more_info":"https://www.twilio.com/docs/errors/21610","status":400}`)
			return
		}
		answer(201, `{"sid":"`+m.id+`","status":"queued"}`)
	case r.URL.Path == "/2010-04-01/Accounts/"+cloudTwilioSID+"/Calls.json":
		if !basic(cloudTwilioSID, cloudTwilioToken) {
			answer(401, `{"code":20003,"message":"Authenticate","status":401}`)
			return
		}
		f, _ := url.ParseQuery(string(body))
		say := regexp.MustCompile(`<Say[^>]*>([^<]*)</Say>`).FindStringSubmatch(f.Get("Twiml"))
		if len(say) < 2 {
			answer(400, `{"code":21205,"message":"Invalid TwiML","status":400}`)
			return
		}
		m = cloudMessage{provider: "twiliovoice", to: f.Get("To"), body: regexp.MustCompile(`[^0-9]`).ReplaceAllString(say[1], ""), id: fmt.Sprintf("CA%032d", c.n), statusCallback: f.Get("StatusCallback")}
		answer(201, `{"sid":"`+m.id+`","status":"queued"}`)
	case r.URL.Path == "/v1/messages":
		if !basic(cloudVonageKey, cloudVonageSecret) {
			answer(401, `{"type":"https://developer.vonage.com/api-errors#unauthorized","title":"Unauthorized"}`)
			return
		}
		var in struct{ To, Text, Channel string }
		json.Unmarshal(body, &in)
		m = cloudMessage{provider: "vonage", to: "+" + in.To, body: in.Text, id: fmt.Sprintf("aaaaaaaa-bbbb-cccc-dddd-%012d", c.n)}
		if c.fail["vonage"] {
			c.msgs = append(c.msgs, cloudMessage{provider: "vonage", to: m.to})
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(422)
			io.WriteString(w, `{"type":"https://developer.vonage.com/api-errors/messages#1120","title":"Invalid sender","detail":"The from parameter is invalid."}`)
			return
		}
		answer(202, `{"message_uuid":"`+m.id+`"}`)
	case r.URL.Path == "/v2/messages":
		if r.Header.Get("Authorization") != "Bearer "+cloudTelnyxKey {
			answer(401, `{"errors":[{"code":"10009","title":"Authentication failed"}]}`)
			return
		}
		var in struct{ To, Text string }
		json.Unmarshal(body, &in)
		m = cloudMessage{provider: "telnyx", to: in.To, body: in.Text, id: fmt.Sprintf("40385f64-5717-4562-b3fc-%012d", c.n)}
		answer(200, `{"data":{"id":"`+m.id+`","record_type":"message","to":[{"status":"queued"}]}}`)
	case r.URL.Path == "/gateway":
		if err := webhook.Verify(cloudWebhookKey, r.Header, body, time.Now(), 0); err != nil {
			answer(401, `{}`)
			return
		}
		var ev webhook.Event
		json.Unmarshal(body, &ev)
		m = cloudMessage{provider: "webhook", to: ev.Data.To, body: ev.Data.Body, id: "gw-" + strconv.Itoa(c.n)}
		if c.fail["webhook"] {
			c.msgs = append(c.msgs, cloudMessage{provider: "webhook", to: m.to})
			answer(400, `{}`)
			return
		}
		answer(200, `{"id":"`+m.id+`"}`)
	default:
		answer(404, `{}`)
		return
	}
	c.msgs = append(c.msgs, m)
}

// sent returns the messages accepted or refused so far.
func (c *cloud) sent() []cloudMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]cloudMessage(nil), c.msgs...)
}

// wait waits until the fakes hold n messages and returns them.
func (c *cloud) wait(n int) []cloudMessage {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.sent()) < n {
		if time.Now().After(deadline) {
			c.t.Fatalf("the providers got %d messages, want %d", len(c.sent()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c.sent()
}

// senders builds every provider's real sender against the fakes.
func (c *cloud) senders(t testing.TB) map[string]sms.Sender {
	t.Helper()
	tw, err := twilio.New(twilio.Config{AccountSID: cloudTwilioSID, AuthToken: cloudTwilioToken, From: cloudFrom,
		StatusCallbackURL: "https://verify.example.com/v1/callbacks/twilio", BaseURL: c.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tv, err := twiliovoice.New(twiliovoice.Config{AccountSID: cloudTwilioSID, AuthToken: cloudTwilioToken, From: cloudFrom,
		StatusCallbackURL: "https://verify.example.com/v1/callbacks/twiliovoice", BaseURL: c.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	vo, err := vonage.New(vonage.Config{APIKey: cloudVonageKey, APISecret: cloudVonageSecret, From: cloudFrom, BaseURL: c.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := telnyx.New(telnyx.Config{APIKey: cloudTelnyxKey, From: cloudFrom, BaseURL: c.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := webhook.New(webhook.Config{URL: c.srv.URL + "/gateway", Secret: cloudWebhookKey})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]sms.Sender{"twilio": tw, "twiliovoice": tv, "vonage": vo, "telnyx": tx, "webhook": wh}
}

// telnyxKey is the key pair Telnyx signs its webhooks with, in the tests.
var telnyxKey = func() ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return priv
}()

// cloudCallbacks verifies receipts with the fakes' secrets.
func cloudCallbacks() *api.Callbacks {
	return &api.Callbacks{
		TwilioAuthToken:       cloudTwilioToken,
		VonageSignatureSecret: cloudVonageSig,
		TelnyxPublicKey:       telnyxKey.Public().(ed25519.PublicKey),
		WebhookSecret:         cloudWebhookKey,
	}
}

// newCloudHarness is a harness whose chain is the named steps
// ("channel:provider", in order) through the fakes.
func newCloudHarness(t *testing.T, steps ...string) (*harness, *cloud) {
	t.Helper()
	return newCloudHarnessWith(t, nil, steps...)
}

// newCloudHarnessWith is newCloudHarness with the fraud guard on, when guard is set.
func newCloudHarnessWith(t *testing.T, guard func(*fraud.Config), steps ...string) (*harness, *cloud) {
	t.Helper()
	c := newCloud(t)
	ss := c.senders(t)
	h := newHarness(t, options{
		guard:      guard,
		noDevInbox: true,
		verify:     allChannels,
		callbacks:  cloudCallbacks(),
		chain: func(*harness) []verify.Step {
			var chain []verify.Step
			for _, s := range steps {
				ch, p, _ := strings.Cut(s, ":")
				chain = append(chain, verify.Step{Channel: verify.Channel(ch), Sender: ss[p], Receipts: true})
			}
			return chain
		},
		receiptTimeout: time.Minute,
	})
	return h, c
}

// allChannels lets starts ask for every channel; the chain decides which it carries.
func allChannels(c *verify.Config) {
	c.Channels = []verify.Channel{verify.ChannelSMS, verify.ChannelWhatsApp, verify.ChannelCall}
}

// codeOf returns the code in a message the fakes took, and keeps it out of logs.
func (h *harness) codeOf(m cloudMessage) string {
	h.t.Helper()
	code := codeRE.FindString(m.body)
	if m.provider == "twiliovoice" {
		code = m.body
	}
	if len(code) != 6 {
		h.t.Fatalf("no code in the %s message", m.provider)
	}
	h.logSecrets = append(h.logSecrets, code)
	return code
}

// query reads one integer from the harness's database.
func (h *harness) query(q string, args ...any) int {
	h.t.Helper()
	db, err := sql.Open("sqlite", "file:"+h.dbPath+"?mode=ro")
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// events counts audit events of a type.
func (h *harness) events(typ string) int {
	return h.query(`SELECT count(*) FROM audit_events WHERE type = ?`, typ)
}

// waitEvents waits until there are n audit events of a type.
func (h *harness) waitEvents(typ string, n int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.events(typ) < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d %s events, want %d", h.events(typ), typ, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitMetric waits until a series of /metrics reads want.
func (h *harness) waitMetric(series, want string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.metric(series) != want {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s = %q, want %s", series, h.metric(series), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) approveCode(id, code string) {
	h.t.Helper()
	r := h.post(h.app, "/v1/verifications/"+id+"/check", `{"code":"`+code+`"}`).wantStatus(http.StatusOK)
	if st := r.str("status"); st != "approved" {
		h.t.Fatalf("check: status %q, want approved", st)
	}
}

// The same verification goes out through each provider's real API shape,
// with the credentials it was configured with, and approves with the code
// the provider carried.
func TestDeliveryThroughEachProvider(t *testing.T) {
	for _, step := range []string{"sms:twilio", "whatsapp:twilio", "sms:vonage", "whatsapp:vonage", "sms:telnyx", "sms:webhook", "call:twiliovoice"} {
		t.Run(step, func(t *testing.T) {
			h, c := newCloudHarness(t, step)
			ch, provider, _ := strings.Cut(step, ":")
			r := h.start(`{"phone":"` + numA + `","channel":"` + ch + `","purpose":"signup"}`).wantStatus(http.StatusCreated)
			m := c.wait(1)[0]
			if m.provider != provider {
				t.Fatalf("sent through %s, want %s", m.provider, provider)
			}
			if to := strings.TrimPrefix(m.to, "whatsapp:"); to != numA {
				t.Errorf("the provider was asked to send to another number")
			}
			if provider == "twilio" && m.statusCallback != "https://verify.example.com/v1/callbacks/twilio" {
				t.Errorf("StatusCallback %q", m.statusCallback)
			}
			h.approveCode(r.str("id"), h.codeOf(m))
			h.waitEvents("verification.sent", 1)
			if n := h.query(`SELECT count(*) FROM deliveries WHERE provider = ? AND provider_id = ?`, provider, m.id); n != 1 {
				t.Errorf("%d deliveries recorded for the provider's id, want 1", n)
			}
		})
	}
}

// A provider's refusal moves the message to the next provider with the
// same code, paid once: one send record, one message accepted.
func TestFailoverOnProviderError(t *testing.T) {
	h, c := newCloudHarness(t, "sms:twilio", "sms:vonage", "call:twiliovoice")
	c.setFail("twilio", true)
	r := h.start(`{"phone":"` + numA + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	ms := c.wait(2)
	if ms[0].provider != "twilio" || ms[1].provider != "vonage" {
		t.Fatalf("sent through %s then %s, want twilio then vonage", ms[0].provider, ms[1].provider)
	}
	h.waitEvents("verification.sent", 1)
	if n := h.events("verification.send_failover"); n != 1 {
		t.Errorf("%d failover events, want 1", n)
	}
	if d := h.query(`SELECT count(*) FROM audit_events WHERE type = 'verification.send_failover' AND detail = 'twilio:21610>vonage'`); d != 1 {
		t.Errorf("the failover event does not say twilio:21610>vonage")
	}
	if n := h.query(`SELECT count(*) FROM send_log`); n != 1 {
		t.Errorf("%d send records, want 1: a failover is the same send", n)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(c.sent()); n != 2 {
		t.Errorf("%d provider requests, want 2: nothing sent twice", n)
	}
	h.approveCode(r.str("id"), h.codeOf(ms[1]))
}

// The fraud guard's spend is charged once for a send that failed over, and
// given back when the whole chain failed: with a daily cap of two sends, a
// failover and a failed chain leave room for exactly one more send.
func TestFailoverChargesOnce(t *testing.T) {
	h, c := newCloudHarnessWith(t, func(fc *fraud.Config) {
		fc.Spend.Prices = map[string]float64{"US": 0.01}
		fc.Spend.TotalPerDay = 0.02
	}, "sms:twilio", "sms:vonage")
	c.setFail("twilio", true)
	h.start(`{"phone":"` + numA + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	c.wait(2)
	h.waitEvents("verification.sent", 1)
	// Both providers refuse the next one: the chain fails, the spend comes back.
	c.setFail("vonage", true)
	h.start(`{"phone":"` + numB + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	// The dispatcher counts the outcome once it has given the spend back.
	h.waitMetric(`ringfence_messages_total{outcome="failed",provider="vonage"}`, "1")
	c.setFail("twilio", false)
	h.start(`{"phone":"` + numC + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	// Two sends paid (numA once, numC): the cap is reached.
	r := h.start(`{"phone":"+12125550199","channel":"sms","purpose":"signup"}`).wantError(http.StatusForbidden, "blocked")
	if why := reasons(r); !slices.Contains(why, "spend_cap_total") {
		t.Errorf("reasons %v, want spend_cap_total", why)
	}
}

// When every step fails the send fails, and it does not count against the
// person's limits: the next start to the same number is not held back by
// the cooldown.
func TestChainExhaustedGivesTheSendBack(t *testing.T) {
	h, c := newCloudHarness(t, "sms:twilio", "sms:vonage")
	c.setFail("twilio", true)
	c.setFail("vonage", true)
	h.start(`{"phone":"` + numA + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	c.wait(2)
	h.waitEvents("verification.send_failed", 1)
	if n := h.query(`SELECT count(*) FROM send_log`); n != 0 {
		t.Errorf("%d send records after a failed send, want 0", n)
	}
	if d := h.query(`SELECT count(*) FROM audit_events WHERE type = 'verification.send_failed' AND detail = 'vonage:1120'`); d != 1 {
		t.Errorf("the failure event does not name vonage:1120")
	}
	c.setFail("twilio", false)
	r := h.start(`{"phone":"` + numA + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	m := c.wait(3)[2]
	h.approveCode(r.str("id"), h.codeOf(m))
}

// twilioCallback posts a Twilio message status callback, signed with token.
func (h *harness) twilioCallback(path, token string, form url.Values) *resp {
	h.t.Helper()
	return h.do(req{method: "POST", path: path, body: form.Encode(), contentType: "application/x-www-form-urlencoded",
		header: map[string]string{"X-Twilio-Signature": twilioSign(token, "https://verify.example.com"+path, form)}})
}

// vonageCallback posts a Vonage Messages status, signed with secret at iat.
func (h *harness) vonageCallback(secret string, iat time.Time, body string) *resp {
	h.t.Helper()
	seg := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	sum := sha256.Sum256([]byte(body))
	unsigned := seg(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." +
		seg(map[string]any{"iat": iat.Unix(), "jti": "j1", "iss": "Vonage", "payload_hash": hex.EncodeToString(sum[:])})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(unsigned))
	jwt := unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	return h.do(req{method: "POST", path: "/v1/callbacks/vonage", body: body, header: map[string]string{"Authorization": "Bearer " + jwt}})
}

// telnyxCallback posts a Telnyx message event signed by key at ts.
func (h *harness) telnyxCallback(key ed25519.PrivateKey, ts time.Time, body string) *resp {
	h.t.Helper()
	t := strconv.FormatInt(ts.Unix(), 10)
	sig := ed25519.Sign(key, []byte(t+"|"+body))
	return h.do(req{method: "POST", path: "/v1/callbacks/telnyx", body: body, header: map[string]string{
		"telnyx-timestamp": t, "telnyx-signature-ed25519": base64.StdEncoding.EncodeToString(sig)}})
}

// webhookCallback posts a gateway status event signed with secret.
func (h *harness) webhookCallback(secret, id string, ts time.Time, body string) *resp {
	h.t.Helper()
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req{method: "POST", path: "/v1/callbacks/webhook", body: body, header: map[string]string{
		"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts.Unix(), 10),
		"webhook-signature": webhook.Sign(key, id, ts.Unix(), []byte(body))}})
}

func telnyxEvent(id, status string) string {
	return `{"data":{"event_type":"message.finalized","id":"ev-` + id + `","payload":{"id":"` + id + `","to":[{"phone_number":"+1","status":"` + status + `"}],"errors":[{"code":"40008","title":"Undeliverable"}]}}}`
}

// A failed receipt moves the message on with the same code; a delivered one
// ends it; replays, wrong signatures and unknown ids are refused and change
// nothing.
func TestReceiptsAndFailover(t *testing.T) {
	h, c := newCloudHarness(t, "sms:twilio", "sms:vonage", "sms:telnyx", "sms:webhook")
	r := h.start(`{"phone":"` + numA + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	id := r.str("id")
	tw := c.wait(1)[0]
	h.waitEvents("verification.sent", 1)

	// Twilio: progress changes nothing; a wrong signature and an unknown sid are refused.
	failed := url.Values{"MessageSid": {tw.id}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}, "AccountSid": {cloudTwilioSID}}
	h.twilioCallback("/v1/callbacks/twilio", cloudTwilioToken, url.Values{"MessageSid": {tw.id}, "MessageStatus": {"sent"}}).wantStatus(http.StatusOK)
	before := h.rows()
	h.twilioCallback("/v1/callbacks/twilio", "not-the-token", failed).wantError(http.StatusForbidden, "forbidden")
	unknown := url.Values{"MessageSid": {"SM" + strings.Repeat("9", 32)}, "MessageStatus": {"undelivered"}}
	h.twilioCallback("/v1/callbacks/twilio", cloudTwilioToken, unknown).wantError(http.StatusNotFound, "unknown_message")
	h.do(req{method: "POST", path: "/v1/callbacks/twilio", body: failed.Encode(), contentType: "application/x-www-form-urlencoded"}).wantError(http.StatusForbidden, "forbidden")
	if after := h.rows(); after != before || len(c.sent()) != 1 {
		t.Fatalf("refused callbacks changed something: rows %d -> %d, %d sends", before, after, len(c.sent()))
	}

	// Twilio says undelivered: the message moves to Vonage, same code.
	if out := h.twilioCallback("/v1/callbacks/twilio", cloudTwilioToken, failed).wantStatus(http.StatusOK).str("outcome"); out != "failover" {
		t.Fatalf("outcome %q, want failover", out)
	}
	vo := c.wait(2)[1]
	if vo.provider != "vonage" || h.codeOf(vo) != h.codeOf(tw) {
		t.Fatalf("failover went to %s with another code", vo.provider)
	}
	// The replay is refused and sends nothing more.
	h.waitEvents("verification.sent", 2)
	before = h.rows()
	h.twilioCallback("/v1/callbacks/twilio", cloudTwilioToken, failed).wantError(http.StatusConflict, "receipt_replayed")
	time.Sleep(30 * time.Millisecond)
	if after := h.rows(); after != before || len(c.sent()) != 2 {
		t.Fatalf("a replayed receipt changed something: rows %d -> %d, %d sends", before, after, len(c.sent()))
	}

	// Vonage: a stale JWT and a wrong secret are refused; undeliverable moves to Telnyx.
	vfail := `{"message_uuid":"` + vo.id + `","to":"14155550123","from":"14155550100","timestamp":"2025-01-01T00:00:00Z","status":"rejected","error":{"type":"https://developer.vonage.com/api-errors/messages#1250","title":1250,"detail":"Unroutable"},"channel":"sms"}`
	now := h.clock.Now()
	h.vonageCallback(cloudVonageSig, now.Add(-10*time.Minute), vfail).wantError(http.StatusForbidden, "forbidden")
	h.vonageCallback("another-secret-0123456789abcdef", now, vfail).wantError(http.StatusForbidden, "forbidden")
	h.vonageCallback(cloudVonageSig, now, strings.Replace(vfail, vo.id, "aaaaaaaa-bbbb-cccc-dddd-999999999999", 1)).wantError(http.StatusNotFound, "unknown_message")
	if len(c.sent()) != 2 {
		t.Fatal("a refused Vonage callback sent something")
	}
	h.vonageCallback(cloudVonageSig, now, vfail).wantStatus(http.StatusOK)
	tx := c.wait(3)[2]
	h.vonageCallback(cloudVonageSig, now, vfail).wantError(http.StatusConflict, "receipt_replayed")

	// Telnyx: a wrong key and a stale timestamp are refused; delivery_failed moves to the gateway.
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	h.waitEvents("verification.sent", 3)
	h.telnyxCallback(otherKey, now, telnyxEvent(tx.id, "delivery_failed")).wantError(http.StatusForbidden, "forbidden")
	h.telnyxCallback(telnyxKey, now.Add(-time.Hour), telnyxEvent(tx.id, "delivery_failed")).wantError(http.StatusForbidden, "forbidden")
	h.telnyxCallback(telnyxKey, now, `{"data":{"event_type":"message.received","id":"x","payload":{"id":"y"}}}`).wantStatus(http.StatusOK)
	h.telnyxCallback(telnyxKey, now, telnyxEvent(tx.id, "delivery_failed")).wantStatus(http.StatusOK)
	gw := c.wait(4)[3]
	h.telnyxCallback(telnyxKey, now, telnyxEvent(tx.id, "delivery_failed")).wantError(http.StatusConflict, "receipt_replayed")

	// The gateway: a wrong secret is refused; delivered ends the message.
	h.waitEvents("verification.sent", 4)
	ok := `{"type":"message.status","data":{"id":"` + gw.id + `","status":"delivered"}}`
	h.webhookCallback("whsec_"+strings.Repeat("QUJD", 8), "evt1", now, ok).wantError(http.StatusForbidden, "forbidden")
	h.webhookCallback(cloudWebhookKey, "evt1", now, `{"type":"message.status","data":{"id":"`+gw.id+`","status":"lost"}}`).wantError(http.StatusBadRequest, "invalid_request")
	if out := h.webhookCallback(cloudWebhookKey, "evt1", now, ok).wantStatus(http.StatusOK).str("outcome"); out != "delivered" {
		t.Fatalf("outcome %q, want delivered", out)
	}
	h.webhookCallback(cloudWebhookKey, "evt1", now, ok).wantError(http.StatusConflict, "receipt_replayed")

	if n := h.query(`SELECT count(*) FROM send_log`); n != 1 {
		t.Errorf("%d send records, want 1: four providers, one send", n)
	}
	if n := h.events("verification.send_failover"); n != 3 {
		t.Errorf("%d failover events, want 3", n)
	}
	if n := h.events("verification.delivered"); n != 1 {
		t.Errorf("%d delivered events, want 1", n)
	}
	h.approveCode(id, h.codeOf(gw))
}

// No receipt within the timeout moves the message on; a late receipt for
// the first provider is recorded and changes nothing else.
func TestReceiptTimeout(t *testing.T) {
	h, c := newCloudHarness(t, "sms:twilio", "call:twiliovoice")
	r := h.start(`{"phone":"` + numA + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	tw := c.wait(1)[0]
	h.waitEvents("verification.sent", 1)
	time.Sleep(100 * time.Millisecond)
	if len(c.sent()) != 1 {
		t.Fatal("moved on before the receipt timeout")
	}
	h.clock.Advance(61 * time.Second)
	call := c.wait(2)[1]
	if call.provider != "twiliovoice" || call.body != h.codeOf(tw) {
		t.Fatalf("the timeout went to %s with another code", call.provider)
	}
	if d := h.query(`SELECT count(*) FROM audit_events WHERE type = 'verification.send_failover' AND detail = 'twilio:timeout>twiliovoice'`); d != 1 {
		t.Errorf("no failover event naming the timeout")
	}
	h.waitEvents("verification.sent", 2)
	late := url.Values{"MessageSid": {tw.id}, "MessageStatus": {"delivered"}}
	h.twilioCallback("/v1/callbacks/twilio", cloudTwilioToken, late).wantError(http.StatusConflict, "receipt_replayed")
	// The call's receipt: busy is a failure at the end of the chain.
	busy := url.Values{"CallSid": {call.id}, "CallStatus": {"busy"}}
	// Signed for one status, posted with another: refused.
	h.do(req{method: "POST", path: "/v1/callbacks/twiliovoice", body: url.Values{"CallSid": {call.id}, "CallStatus": {"completed"}}.Encode(),
		contentType: "application/x-www-form-urlencoded",
		header:      map[string]string{"X-Twilio-Signature": twilioSign(cloudTwilioToken, "https://verify.example.com/v1/callbacks/twiliovoice", busy)}}).wantError(http.StatusForbidden, "forbidden")
	if out := h.twilioCallback("/v1/callbacks/twiliovoice", cloudTwilioToken, busy).wantStatus(http.StatusOK).str("outcome"); out != "failed" {
		t.Fatalf("outcome %q, want failed", out)
	}
	if n := h.query(`SELECT count(*) FROM send_log`); n != 0 {
		t.Errorf("%d send records after every step failed, want 0", n)
	}
	// The code still approves if it arrived after all.
	h.approveCode(r.str("id"), h.codeOf(tw))
}

// Per-country routing: a step serves only its countries; a number no step
// serves is not sent, and the send is given back.
func TestCountryRouting(t *testing.T) {
	c := newCloud(t)
	ss := c.senders(t)
	h := newHarness(t, options{noDevInbox: true, verify: allChannels, chain: func(*harness) []verify.Step {
		return []verify.Step{
			{Channel: verify.ChannelSMS, Sender: ss["telnyx"], Countries: []string{"DE"}},
			{Channel: verify.ChannelSMS, Sender: ss["twilio"], Countries: []string{"US", "CA"}},
		}
	}})
	h.start(`{"phone":"` + numDE + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	if m := c.wait(1)[0]; m.provider != "telnyx" {
		t.Errorf("DE went through %s, want telnyx", m.provider)
	}
	h.start(`{"phone":"` + numA + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	if m := c.wait(2)[1]; m.provider != "twilio" {
		t.Errorf("US went through %s, want twilio", m.provider)
	}
	// No step carries WhatsApp: refused as a failed send, given back.
	h.start(`{"phone":"` + numB + `","channel":"whatsapp","purpose":"signup"}`).wantStatus(http.StatusCreated)
	h.waitEvents("verification.send_failed", 1)
	if d := h.query(`SELECT count(*) FROM audit_events WHERE type = 'verification.send_failed' AND detail = 'none:no_route'`); d != 1 {
		t.Errorf("no send_failed event naming no_route")
	}
	if n := len(c.sent()); n != 2 {
		t.Errorf("%d provider requests, want 2", n)
	}
}

// Receipt routes exist only for the providers whose secrets are set.
func TestCallbackRoutesNeedSecrets(t *testing.T) {
	h := newHarness(t, options{callbacks: &api.Callbacks{TwilioAuthToken: cloudTwilioToken}})
	h.do(req{method: "POST", path: "/v1/callbacks/vonage", body: `{}`}).wantError(http.StatusNotFound, "not_found")
	h.do(req{method: "POST", path: "/v1/callbacks/telnyx", body: `{}`}).wantError(http.StatusNotFound, "not_found")
	h.do(req{method: "POST", path: "/v1/callbacks/twilio", body: "MessageSid=SM1&MessageStatus=failed", contentType: "application/x-www-form-urlencoded"}).wantError(http.StatusForbidden, "forbidden")
}

// smsc is a sender named "smpp" that accepts every message, as an SMSC does
// with submit_sm_resp; its receipts come back over the bind, which serve
// hands to Dispatcher.Receipt.
type smsc struct {
	mu   sync.Mutex
	msgs []sms.Message
}

func (s *smsc) Name() string { return "smpp" }

func (s *smsc) Send(_ context.Context, m sms.Message) (sms.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return sms.Result{ProviderID: fmt.Sprintf("%08X", len(s.msgs))}, nil
}

// SMPP receipts (deliver_sm over the bind) take the same path: an UNDELIV
// receipt moves the message on, a replay and an unknown message id are
// refused and change nothing.
func TestSMPPReceipts(t *testing.T) {
	c := newCloud(t)
	ss := c.senders(t)
	bind := &smsc{}
	h := newHarness(t, options{noDevInbox: true, receiptTimeout: time.Hour, chain: func(*harness) []verify.Step {
		return []verify.Step{
			{Channel: verify.ChannelSMS, Sender: bind, Receipts: true},
			{Channel: verify.ChannelSMS, Sender: ss["telnyx"]},
		}
	}})
	r := h.start(`{"phone":"` + numA + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
	h.waitEvents("verification.sent", 1)
	ctx := context.Background()
	if _, err := h.dispatcher.Receipt(ctx, "smpp", "0000FFFF", "failed", "0x0B"); !errors.Is(err, verify.ErrNotFound) {
		t.Fatalf("unknown message id: %v", err)
	}
	if _, err := h.dispatcher.Receipt(ctx, "twilio", "00000001", "failed", ""); !errors.Is(err, verify.ErrNotFound) {
		t.Fatalf("another provider's id: %v", err)
	}
	if out, err := h.dispatcher.Receipt(ctx, "smpp", "00000001", "submitted", ""); err != nil || out != "progress" {
		t.Fatalf("ENROUTE: %q %v", out, err)
	}
	if len(c.sent()) != 0 {
		t.Fatal("moved on before a failed receipt")
	}
	if out, err := h.dispatcher.Receipt(ctx, "smpp", "00000001", "failed", "0x0B"); err != nil || out != "failover" {
		t.Fatalf("UNDELIV: %q %v", out, err)
	}
	m := c.wait(1)[0]
	h.waitEvents("verification.sent", 2)
	before := h.rows()
	if _, err := h.dispatcher.Receipt(ctx, "smpp", "00000001", "failed", "0x0B"); !errors.Is(err, verify.ErrReceiptDone) {
		t.Fatalf("replay: %v", err)
	}
	time.Sleep(30 * time.Millisecond)
	if after := h.rows(); after != before || len(c.sent()) != 1 {
		t.Fatalf("a replayed receipt changed something")
	}
	bind.mu.Lock()
	first := bind.msgs[0].Body
	bind.mu.Unlock()
	if codeRE.FindString(first) != h.codeOf(m) {
		t.Fatal("the failover sent another code")
	}
	h.approveCode(r.str("id"), h.codeOf(m))
}

// brokenSender fails every send with a transport error.
type brokenSender struct {
	name  string
	err   error
	mu    sync.Mutex
	tries int
}

func (b *brokenSender) Name() string { return b.name }

func (b *brokenSender) Send(context.Context, sms.Message) (sms.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tries++
	return sms.Result{}, &sms.Error{Provider: b.name, Code: sms.CodeNetwork, Temporary: true, Err: b.err}
}

func (b *brokenSender) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tries
}

// A provider that cannot be reached (dial error) is retried, then the
// message fails over. A provider whose answer was lost may have sent and
// charged: after the retries the message stops as unknown, still counted,
// and no second provider is paid.
func TestTransportErrorsAndFailover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		failover bool
	}{
		{"unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"answer lost", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloud(t)
			ss := c.senders(t)
			broken := &brokenSender{name: "gw", err: tc.err}
			h := newHarness(t, options{noDevInbox: true, chain: func(*harness) []verify.Step {
				return []verify.Step{{Channel: verify.ChannelSMS, Sender: broken}, {Channel: verify.ChannelSMS, Sender: ss["vonage"]}}
			}})
			h.start(`{"phone":"` + numA + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusCreated)
			deadline := time.Now().Add(10 * time.Second)
			for broken.count() < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("%d tries, want 3", broken.count())
				}
				h.clock.Advance(time.Second) // past the retry backoff
				time.Sleep(5 * time.Millisecond)
			}
			if tc.failover {
				c.wait(1)
				h.waitEvents("verification.sent", 1)
			} else {
				h.waitEvents("verification.send_unknown", 1)
				time.Sleep(50 * time.Millisecond)
				if len(c.sent()) != 0 || h.events("verification.send_failover") != 0 {
					t.Fatal("a message whose outcome is unknown went to a second provider")
				}
			}
			if n := h.query(`SELECT count(*) FROM send_log`); n != 1 {
				t.Errorf("%d send records, want 1", n)
			}
			if broken.count() != 3 {
				t.Errorf("%d tries, want 3", broken.count())
			}
		})
	}
}
