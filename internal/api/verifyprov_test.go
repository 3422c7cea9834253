package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/sms/twilioverify"
	"github.com/ringfence/ringfence/internal/sms/vonage"
	"github.com/ringfence/ringfence/internal/verify"
)

// The Twilio Verify service the fake answers for.
const verifyServiceSID = "VA0123456789abcdef0123456789abcdef"

// verifyCloud answers as Twilio Verify v2 and Vonage Verify v2 document:
// it makes a code per verification, "sends" it (keeps it for the test, as
// the person's phone would) and checks it, closing a verification after five
// wrong codes. fail makes the next answers an error: "500" (Twilio 20500 /
// Vonage 500), "400" (Twilio 60200 / Vonage invalid parameters), "drop" (the
// connection is closed without an answer).
type verifyCloud struct {
	t    testing.TB
	srv  *httptest.Server
	mu   sync.Mutex
	n    int
	fail string
	// delay is how long each answer takes.
	delay time.Duration
	vs    map[string]*cloudVerification // by provider id
	// requests counts requests by kind: "send", "resend", "check", "cancel", "next".
	requests map[string]int
}

type cloudVerification struct {
	to, channel, code, status string
	sends, checks             int
}

func newVerifyCloud(t testing.TB) *verifyCloud {
	c := &verifyCloud{t: t, vs: map[string]*cloudVerification{}, requests: map[string]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *verifyCloud) setFail(f string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = f
}

func (c *verifyCloud) count(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[kind]
}

// code returns the code the provider sent for its verification ref.
func (c *verifyCloud) verification(ref string) cloudVerification {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.vs[ref]; v != nil {
		return *v
	}
	return cloudVerification{}
}

func (c *verifyCloud) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	time.Sleep(c.delay)
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	twilioErr := func(status, code int) {
		answer(status, map[string]any{"code": code, "message": "error for +14155550123", "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
	}
	vonageErr := func(status int, typ string) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"type": "https://www.developer.vonage.com/api-errors/verify#" + typ, "title": typ, "detail": "for 14155550123", "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf"})
	}
	twilio := strings.HasPrefix(r.URL.Path, "/v2/Services/")
	if c.fail == "drop" {
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
		return
	}
	if c.fail != "" {
		switch {
		case twilio && c.fail == "500":
			twilioErr(500, 20500)
		case twilio:
			twilioErr(400, 60200)
		case c.fail == "500":
			vonageErr(500, "internal-error")
		default:
			vonageErr(422, "invalid-params")
		}
		return
	}
	newVerification := func(to, channel string) (string, *cloudVerification) {
		c.n++
		v := &cloudVerification{to: to, channel: channel, code: fmt.Sprintf("%06d", 271828+c.n*7919), status: "pending", sends: 1}
		return "", v
	}
	if twilio {
		u, p, ok := r.BasicAuth()
		if !ok || u != cloudTwilioSID || p != cloudTwilioToken {
			twilioErr(401, 20003)
			return
		}
		f, _ := url.ParseQuery(string(body))
		base := "/v2/Services/" + verifyServiceSID
		switch {
		case r.URL.Path == base+"/Verifications":
			// Twilio sends the same verification again to a number with one pending.
			for sid, v := range c.vs {
				if v.to == f.Get("To") && v.channel == f.Get("Channel") && v.status == "pending" {
					c.requests["resend"]++
					v.sends++
					answer(201, map[string]any{"sid": sid, "status": "pending", "to": v.to, "channel": v.channel, "valid": false})
					return
				}
			}
			c.requests["send"]++
			_, v := newVerification(f.Get("To"), f.Get("Channel"))
			sid := fmt.Sprintf("VE%032d", c.n)
			c.vs[sid] = v
			answer(201, map[string]any{"sid": sid, "service_sid": verifyServiceSID, "status": "pending", "to": v.to, "channel": v.channel, "valid": false})
		case r.URL.Path == base+"/VerificationCheck":
			c.requests["check"]++
			v := c.vs[f.Get("VerificationSid")]
			if v == nil || v.status != "pending" {
				twilioErr(404, 20404) // Twilio forgets approved, expired and exhausted verifications
				return
			}
			if v.checks >= 5 {
				twilioErr(429, 60202)
				return
			}
			v.checks++
			if f.Get("Code") == v.code {
				v.status = "approved"
			}
			answer(200, map[string]any{"sid": f.Get("VerificationSid"), "status": v.status, "valid": v.status == "approved"})
		case strings.HasPrefix(r.URL.Path, base+"/Verifications/") && f.Get("Status") == "canceled":
			c.requests["cancel"]++
			v := c.vs[strings.TrimPrefix(r.URL.Path, base+"/Verifications/")]
			if v == nil || v.status != "pending" {
				twilioErr(404, 20404)
				return
			}
			v.status = "canceled"
			answer(200, map[string]any{"status": "canceled"})
		default:
			twilioErr(404, 20404)
		}
		return
	}
	u, p, ok := r.BasicAuth()
	if !ok || u != cloudVonageKey || p != cloudVonageSecret {
		vonageErr(401, "unauthorized")
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/v2/verify/")
	id, next := strings.CutSuffix(id, "/next_workflow")
	v := c.vs[id]
	switch {
	case r.URL.Path == "/v2/verify" && r.Method == http.MethodPost:
		var in struct {
			Brand    string `json:"brand"`
			Workflow []struct{ Channel, To string }
		}
		if json.Unmarshal(body, &in) != nil || len(in.Workflow) != 1 || in.Brand == "" {
			vonageErr(422, "invalid-params")
			return
		}
		for _, o := range c.vs {
			if o.to == in.Workflow[0].To && o.status == "pending" {
				vonageErr(409, "conflict")
				return
			}
		}
		c.requests["send"]++
		_, nv := newVerification(in.Workflow[0].To, in.Workflow[0].Channel)
		rid := fmt.Sprintf("c11236f4-00bf-4b89-84ba-%012d", c.n)
		c.vs[rid] = nv
		answer(202, map[string]any{"request_id": rid, "check_url": c.srv.URL + "/v2/verify/" + rid})
	case v == nil:
		vonageErr(404, "not-found")
	case next:
		c.requests["next"]++
		vonageErr(409, "conflict") // one workflow step: there is no next one
	case r.Method == http.MethodDelete:
		c.requests["cancel"]++
		v.status = "canceled"
		w.WriteHeader(204)
	case r.Method == http.MethodPost:
		c.requests["check"]++
		var in struct{ Code string }
		json.Unmarshal(body, &in)
		if v.status != "pending" {
			vonageErr(404, "not-found")
			return
		}
		v.checks++
		if in.Code == v.code {
			v.status = "completed"
			answer(200, map[string]any{"request_id": id, "status": "completed"})
			return
		}
		if v.checks >= 5 {
			v.status = "expired"
			vonageErr(410, "expired")
			return
		}
		vonageErr(400, "invalid-code")
	default:
		vonageErr(405, "method-not-allowed")
	}
}

func (c *verifyCloud) twilio(t testing.TB) verify.Provider {
	p, err := twilioverify.New(twilioverify.Config{AccountSID: cloudTwilioSID, AuthToken: cloudTwilioToken, ServiceSID: verifyServiceSID, BaseURL: c.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *verifyCloud) vonage(t testing.TB) verify.Provider {
	p, err := vonage.NewVerifier(vonage.VerifyConfig{APIKey: cloudVonageKey, APISecret: cloudVonageSecret, Brand: "ringfence", BaseURL: c.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newProviderHarness is a harness whose codes the provider makes, sends and checks.
func newProviderHarness(t *testing.T, p func(*verifyCloud) verify.Provider) (*harness, *verifyCloud) {
	c := newVerifyCloud(t)
	h := newHarness(t, options{identity: true, provider: p(c)})
	return h, c
}

// startProvider starts a verification and waits until the provider took its send.
func (h *harness) startProvider(c *verifyCloud, phone string) (id, ref string) {
	h.t.Helper()
	r := h.post(h.app, "/v1/verifications", fmt.Sprintf(`{"phone":%q}`, phone)).wantStatus(http.StatusCreated)
	id = r.str("id")
	return id, h.waitRef(id)
}

// waitRef waits until the verification holds the provider's id for it.
func (h *harness) waitRef(id string) string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := h.db.Verification(h.t.Context(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		if v.ProviderRef != "" {
			return v.ProviderRef
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the provider never took the send of %s", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) check(id, code string) *resp {
	return h.post(h.app, "/v1/verifications/"+id+"/check", fmt.Sprintf(`{"code":%q}`, code))
}

// neverCode is a code the fake never makes.
const neverCode = "000000"

func TestProviderChecksItsOwnCode(t *testing.T) {
	for name, p := range map[string]func(*verifyCloud) verify.Provider{
		"twilioverify": func(c *verifyCloud) verify.Provider { return c.twilio(t) },
		"vonageverify": func(c *verifyCloud) verify.Provider { return c.vonage(t) },
	} {
		t.Run(name, func(t *testing.T) {
			h, c := newProviderHarness(t, p)
			id, ref := h.startProvider(c, numA)
			cv := c.verification(ref)
			if cv.code == "" || cv.to == "" || !strings.HasSuffix(cv.to, nsnA) {
				t.Fatalf("provider verification %+v", cv)
			}
			h.logSecrets = append(h.logSecrets, cv.code)

			// Malformed input is refused before the provider is asked, and counts nothing.
			h.check(id, "12ab").wantError(400, "invalid_code")
			h.post(h.app, "/v1/verifications/"+id+"/check", `{"code":123456}`).wantError(400, "invalid_request")
			h.check("ve_unknown", cv.code).wantError(404, "not_found")
			if n := c.count("check"); n != 0 {
				t.Fatalf("bad input reached the provider %d times", n)
			}

			// A wrong code is counted and leaves the verification pending.
			if st := h.check(id, neverCode).wantStatus(200).str("status"); st != "pending" {
				t.Fatalf("wrong code: status %s", st)
			}
			if n := h.query(`SELECT checks FROM verifications WHERE id = ?`, id); n != 1 {
				t.Errorf("checks = %d after one wrong code", n)
			}
			// The right one approves, through the local path: a subject is bound.
			r := h.check(id, cv.code).wantStatus(200)
			if st := r.str("status"); st != "approved" {
				t.Fatalf("right code: status %s", st)
			}
			if n := h.query(`SELECT count(*) FROM bindings`); n != 1 {
				t.Errorf("%d bindings after the approval, want 1", n)
			}
			if h.events("verification.approved") != 1 {
				t.Error("no verification.approved event")
			}
			// A replay answers closed without asking the provider again.
			checks := c.count("check")
			h.check(id, cv.code).wantError(409, "verification_closed")
			if c.count("check") != checks {
				t.Error("a replayed check reached the provider")
			}
			// Nothing at rest holds the number or the code; the outbox names the verification only.
			h.wantNotStored(nsnA, cv.code)
			if n := h.query(`SELECT count(*) FROM outbox WHERE verification_id = ? AND provider <> '' AND provider_id = ?`, id, ref); n != 1 {
				t.Errorf("%d outbox rows for the send with the provider's id", n)
			}
		})
	}
}

// wantNotStored fails if any file of the database holds one of the strings.
func (h *harness) wantNotStored(secrets ...string) {
	h.t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(h.dbPath + suffix)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if strings.Contains(string(data), s) {
				h.t.Errorf("the database file%s holds a number or code", suffix)
			}
		}
	}
}

func TestProviderCheckErrors(t *testing.T) {
	h, c := newProviderHarness(t, func(c *verifyCloud) verify.Provider { return c.twilio(t) })
	id, ref := h.startProvider(c, numA)
	code := c.verification(ref).code
	h.logSecrets = append(h.logSecrets, code)

	// A provider error answers 503 (temporary) or 502 (permanent) with a
	// stable code; the attempt is counted, the verification stays pending.
	c.setFail("500")
	r := h.check(id, code).wantError(503, "provider_unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 provider_unavailable without Retry-After")
	}
	c.setFail("drop")
	h.check(id, code).wantError(503, "provider_unavailable")
	c.setFail("400")
	h.check(id, code).wantError(502, "provider_error")
	c.setFail("")
	if n := h.query(`SELECT checks FROM verifications WHERE id = ? AND status = 'pending'`, id); n != 3 {
		t.Errorf("checks = %d after three failed asks, want 3 and pending", n)
	}
	if n := h.events("verification.check_failed"); n != 3 {
		t.Errorf("%d verification.check_failed events, want 3", n)
	}
	// The provider is reachable again: the right code approves.
	if st := h.check(id, code).wantStatus(200).str("status"); st != "approved" {
		t.Fatalf("status %s after the provider came back", st)
	}
	h.check(id, code).wantError(409, "verification_closed")
}

func TestProviderClosesTheVerification(t *testing.T) {
	t.Run("twilio max attempts", func(t *testing.T) {
		// Twilio refuses more checks (60202) after five wrong codes; ringfence
		// allows more, so the provider's refusal fails the verification.
		h, c := newProviderHarness(t, func(c *verifyCloud) verify.Provider { return c.twilio(t) })
		id, ref := h.startProvider(c, numA)
		c.mu.Lock()
		c.vs[ref].checks = 5
		c.mu.Unlock()
		if st := h.check(id, neverCode).wantStatus(200).str("status"); st != "failed" {
			t.Fatalf("status %s after the provider's 60202, want failed", st)
		}
		h.check(id, c.verification(ref).code).wantError(409, "verification_closed")
	})
	t.Run("twilio forgot it", func(t *testing.T) {
		h, c := newProviderHarness(t, func(c *verifyCloud) verify.Provider { return c.twilio(t) })
		id, ref := h.startProvider(c, numA)
		c.mu.Lock()
		c.vs[ref].status = "expired"
		c.mu.Unlock()
		if st := h.check(id, neverCode).wantStatus(200).str("status"); st != "expired" {
			t.Fatalf("status %s after the provider's 20404, want expired", st)
		}
	})
	t.Run("vonage expired after wrong codes", func(t *testing.T) {
		h, c := newProviderHarness(t, func(c *verifyCloud) verify.Provider { return c.vonage(t) })
		id, _ := h.startProvider(c, numA)
		for i := 1; i <= 4; i++ {
			if st := h.check(id, neverCode).wantStatus(200).str("status"); st != "pending" {
				t.Fatalf("wrong code %d: status %s", i, st)
			}
		}
		if st := h.check(id, neverCode).wantStatus(200).str("status"); st != "expired" {
			t.Fatalf("status %s after Vonage's 410, want expired", st)
		}
	})
	t.Run("ringfence max checks", func(t *testing.T) {
		// Beyond max_checks the verification fails without asking.
		c := newVerifyCloud(t)
		h := newHarness(t, options{provider: c.twilio(t), verify: func(vc *verify.Config) { vc.MaxChecks = 2 }})
		id, ref := h.startProvider(c, numA)
		h.check(id, neverCode).wantStatus(200)
		h.check(id, neverCode).wantStatus(200)
		if st := h.check(id, c.verification(ref).code).wantStatus(200).str("status"); st != "failed" {
			t.Fatalf("status %s beyond max_checks, want failed", st)
		}
		if n := c.count("check"); n != 2 {
			t.Errorf("the provider was asked %d times, want 2", n)
		}
	})
}

func TestProviderResendAndCancel(t *testing.T) {
	t.Run("twilio", func(t *testing.T) {
		h, c := newProviderHarness(t, func(c *verifyCloud) verify.Provider { return c.twilio(t) })
		id, ref := h.startProvider(c, numA)
		h.post(h.app, "/v1/verifications/"+id+"/resend", `{}`).wantError(429, "rate_limited")
		h.clock.Advance(61 * time.Second)
		h.post(h.app, "/v1/verifications/"+id+"/resend", `{}`).wantStatus(200)
		h.waitFor(func() bool { return c.verification(ref).sends == 2 })
		if got := h.waitRef(id); got != ref {
			t.Errorf("the resend changed the provider's id")
		}
		h.post(h.app, "/v1/verifications/"+id+"/cancel", `{}`).wantStatus(200)
		if c.count("cancel") != 1 || c.verification(ref).status != "canceled" {
			t.Errorf("not canceled at the provider: %d requests, status %s", c.count("cancel"), c.verification(ref).status)
		}
		h.check(id, c.verification(ref).code).wantError(409, "verification_closed")
	})
	t.Run("vonage", func(t *testing.T) {
		// With one workflow step there is no next one: the resend cancels
		// the request and starts another, whose id the verification keeps.
		h, c := newProviderHarness(t, func(c *verifyCloud) verify.Provider { return c.vonage(t) })
		id, ref := h.startProvider(c, numA)
		h.clock.Advance(61 * time.Second)
		h.post(h.app, "/v1/verifications/"+id+"/resend", `{}`).wantStatus(200)
		var ref2 string
		h.waitFor(func() bool { ref2 = h.waitRef(id); return ref2 != ref })
		if c.verification(ref).status != "canceled" {
			t.Errorf("the first request is %s, want canceled", c.verification(ref).status)
		}
		code := c.verification(ref2).code
		h.logSecrets = append(h.logSecrets, code)
		if st := h.check(id, code).wantStatus(200).str("status"); st != "approved" {
			t.Fatalf("status %s with the resent code", st)
		}
	})
}

func TestProviderSendFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		// A send the provider refuses fails the message and gives the send
		// back: the number is not held by the cooldown.
		h, c := newProviderHarness(t, func(c *verifyCloud) verify.Provider { return c.twilio(t) })
		c.setFail("400")
		id := h.post(h.app, "/v1/verifications", fmt.Sprintf(`{"phone":%q}`, numA)).wantStatus(201).str("id")
		h.waitEvents("verification.send_failed", 1)
		if n := h.query(`SELECT count(*) FROM outbox WHERE verification_id = ? AND state = 'failed' AND error = '60200'`, id); n != 1 {
			t.Errorf("%d failed outbox rows with the provider's code", n)
		}
		if n := h.query(`SELECT count(*) FROM send_log`); n != 0 {
			t.Errorf("%d send records after a refused send, want 0 (given back)", n)
		}
		c.setFail("")
		h.post(h.app, "/v1/verifications", fmt.Sprintf(`{"phone":%q}`, numA)).wantStatus(201)
	})
	t.Run("unreachable", func(t *testing.T) {
		// Nothing listens: the send is retried, then fails, and is given back.
		c := newVerifyCloud(t)
		p := c.twilio(t)
		c.srv.Close()
		h := newHarness(t, options{provider: p})
		h.post(h.app, "/v1/verifications", fmt.Sprintf(`{"phone":%q}`, numA)).wantStatus(201)
		h.waitFor(func() bool { h.clock.Advance(10 * time.Second); return h.events("verification.send_failed") == 1 })
	})
	t.Run("answer lost", func(t *testing.T) {
		// The connection drops after the request went out: the provider may
		// have sent the code, so it is not sent again; it stays counted.
		h, c := newProviderHarness(t, func(c *verifyCloud) verify.Provider { return c.twilio(t) })
		c.setFail("drop")
		h.post(h.app, "/v1/verifications", fmt.Sprintf(`{"phone":%q}`, numA)).wantStatus(201)
		h.waitFor(func() bool { h.clock.Advance(10 * time.Second); return h.events("verification.send_unknown") == 1 })
		if n := h.query(`SELECT count(*) FROM send_log`); n != 1 {
			t.Errorf("%d send records after a lost answer, want 1 (still counted)", n)
		}
	})
}

// waitFor waits until cond holds.
func (h *harness) waitFor(cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatal("condition never held")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProviderDecoyLogin: a login for a number with no account sends
// nothing and can never approve, and its checks, made here, answer no sooner
// than the provider's checks of a real login, so timing does not tell the
// two apart.
func TestProviderDecoyLogin(t *testing.T) {
	h, c := newProviderHarness(t, func(c *verifyCloud) verify.Provider { return c.twilio(t) })
	c.mu.Lock()
	c.delay = 300 * time.Millisecond
	c.mu.Unlock()
	// A real account: sign up, then log in.
	id, ref := h.startProvider(c, numA)
	h.check(id, c.verification(ref).code).wantStatus(200)
	h.logSecrets = append(h.logSecrets, c.verification(ref).code)
	h.clock.Advance(61 * time.Second)
	login := h.post(h.app, "/v1/verifications", fmt.Sprintf(`{"phone":%q,"purpose":"login"}`, numA)).wantStatus(201).str("id")
	h.waitRef(login)
	h.check(login, neverCode).wantStatus(200)

	sends := c.count("send") + c.count("resend")
	decoy := h.post(h.app, "/v1/verifications", fmt.Sprintf(`{"phone":%q,"purpose":"login"}`, numB)).wantStatus(201).str("id")
	began := time.Now()
	if st := h.check(decoy, neverCode).wantStatus(200).str("status"); st != "pending" {
		t.Errorf("decoy check: status %s", st)
	}
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Errorf("the decoy's check answered in %s, well before a provider check (300ms)", took)
	}
	if n := c.count("send") + c.count("resend"); n != sends {
		t.Errorf("the decoy reached the provider")
	}
}
