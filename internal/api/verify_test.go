package api_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// wrongCode returns a code of the same length that is not code.
func wrongCode(code string) string {
	last := (code[len(code)-1]-'0'+1)%10 + '0'
	return code[:len(code)-1] + string(rune(last))
}

func checkBody(code string) string { return fmt.Sprintf(`{"code":%q}`, code) }

func TestVerificationHappyPath(t *testing.T) {
	h := newHarness(t, options{})

	r := h.start(`{"phone":"+1 (415) 555-0123","channel":"sms","purpose":"signup","ip":"203.0.113.7"}`).wantStatus(http.StatusCreated)
	v := r.json()
	if v["status"] != "pending" || v["to"] != "+1 ••• ••• 0123" || v["channel"] != "sms" || v["purpose"] != "signup" ||
		v["country"] != "US" || v["send_count"] != 1.0 {
		t.Fatalf("start answered %s", r.body)
	}
	if _, ok := v["approved_at"]; ok {
		t.Errorf("a pending verification has approved_at")
	}
	if _, ok := v["subject_id"]; ok {
		t.Errorf("subject_id is shown though none was given")
	}
	created, err1 := time.Parse(time.RFC3339, r.str("created_at"))
	expires, err2 := time.Parse(time.RFC3339, r.str("expires_at"))
	if err1 != nil || err2 != nil || expires.Sub(created) != verify.DefaultConfig().Lifetime || !strings.HasSuffix(r.str("expires_at"), "Z") {
		t.Errorf("times: created_at %q, expires_at %q", r.str("created_at"), r.str("expires_at"))
	}
	if r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("a first start says Idempotent-Replayed")
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("X-Request-Id") == "" {
		t.Errorf("headers: %v", r.header)
	}
	id := r.str("id")

	// The dev inbox finds the message under any spelling of the number.
	code := h.waitMessages(numA, 1)[0]
	m := h.get(h.app, "/v1/dev/messages?to=(415)%20555-0123&country=us").wantStatus(http.StatusOK).json()
	msgs := m["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["to"] != "+1 ••• ••• 0123" || !strings.Contains(msgs[0].(map[string]any)["body"].(string), code) {
		t.Fatalf("dev messages by national number: %v", m)
	}

	r = h.post(h.app, "/v1/verifications/"+id+"/check", checkBody(wrongCode(code))).wantStatus(http.StatusOK)
	if r.str("status") != "pending" {
		t.Fatalf("a wrong code gave %s", r.body)
	}
	r = h.post(h.app, "/v1/verifications/"+id+"/check", checkBody(code)).wantStatus(http.StatusOK)
	if r.str("status") != "approved" || r.str("approved_at") == "" {
		t.Fatalf("the right code gave %s", r.body)
	}
	r = h.post(h.app, "/v1/verifications/"+id+"/check", checkBody(code)).wantError(http.StatusConflict, "verification_closed")
	if r.errorField("status") != "approved" {
		t.Errorf("a reused code: %s", r.body)
	}
	if got := h.get(h.app, "/v1/verifications/"+id).wantStatus(http.StatusOK).str("status"); got != "approved" {
		t.Errorf("GET after approval: status %q", got)
	}

	if got := h.metric(`ringfence_verifications_started_total{channel="sms",purpose="signup"}`); got != "1" {
		t.Errorf("started metric %q, want 1", got)
	}
	for result, want := range map[string]string{"approved": "1", "pending": "1", "closed": "1"} {
		if got := h.metric(`ringfence_verification_checks_total{result="` + result + `"}`); got != want {
			t.Errorf("checks metric %s = %q, want %s", result, got, want)
		}
	}
	if got := h.metric(`ringfence_messages_total{outcome="sent",provider="dev"}`); got != "1" {
		t.Errorf("messages metric %q, want 1", got)
	}
	if got := h.metric(`ringfence_refusals_total{code="verification_closed"}`); got != "1" {
		t.Errorf("refusals metric %q, want 1", got)
	}
}

func TestSubjectAndNationalInput(t *testing.T) {
	h := newHarness(t, options{verify: func(c *verify.Config) { c.DefaultCountry = "US" }})
	r := h.start(`{"phone":"415 555 0124","purpose":"login"}`).wantStatus(http.StatusCreated)
	if r.str("to") != "+1 ••• ••• 0124" || r.str("purpose") != "login" || r.str("channel") != "sms" {
		t.Fatalf("start: %s", r.body)
	}
	h.waitMessages(numB, 1)
	h.start(`{"phone":"+12025550143","subject_id":"not-a-subject"}`).wantError(http.StatusBadRequest, "invalid_request")
	// subject_id belongs to the purposes that name an account, not to login.
	h.start(`{"phone":"+12025550143","purpose":"login","subject_id":"sub_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.start(`{"phone":"+12025550143","channel":"call"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.start(`{"phone":"+12025550143","purpose":"marketing"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.start(`{"phone":"+12025550143","ip":"not an ip"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.start(`{"phone":"2025550143","country":"USA"}`).wantError(http.StatusBadRequest, "invalid_request")
}

func TestSixWrongChecksFail(t *testing.T) {
	h := newHarness(t, options{})
	id, code := h.startOK(numA)
	path := "/v1/verifications/" + id + "/check"
	for i := range 5 {
		if got := h.post(h.app, path, checkBody(wrongCode(code))).wantStatus(http.StatusOK).str("status"); got != "pending" {
			t.Fatalf("wrong check %d: status %q", i+1, got)
		}
	}
	if got := h.post(h.app, path, checkBody(wrongCode(code))).wantStatus(http.StatusOK).str("status"); got != "failed" {
		t.Fatalf("sixth wrong check: status %q, want failed", got)
	}
	r := h.post(h.app, path, checkBody(code)).wantError(http.StatusConflict, "verification_closed")
	if r.errorField("status") != "failed" {
		t.Errorf("the right code after failure: %s", r.body)
	}
	h.post(h.app, "/v1/verifications/"+id+"/resend", "").wantError(http.StatusConflict, "verification_closed")
}

func TestExpiry(t *testing.T) {
	h := newHarness(t, options{})
	id, code := h.startOK(numA)
	h.stop() // so that no background sweep expires it first
	h.clock.Advance(verify.DefaultConfig().Lifetime + time.Second)

	if got := h.get(h.app, "/v1/verifications/"+id).wantStatus(http.StatusOK).str("status"); got != "expired" {
		t.Fatalf("GET after expiry: status %q", got)
	}
	if got := h.post(h.app, "/v1/verifications/"+id+"/check", checkBody(code)).wantStatus(http.StatusOK).str("status"); got != "expired" {
		t.Fatalf("the right code after expiry: status %q", got)
	}
	r := h.post(h.app, "/v1/verifications/"+id+"/check", checkBody(code)).wantError(http.StatusConflict, "verification_closed")
	if r.errorField("status") != "expired" {
		t.Errorf("checking an expired verification: %s", r.body)
	}
	h.post(h.app, "/v1/verifications/"+id+"/resend", "").wantError(http.StatusConflict, "verification_closed")
	h.post(h.app, "/v1/verifications/"+id+"/cancel", "").wantError(http.StatusConflict, "verification_closed")
}

func TestResendSameCodeAndCooldown(t *testing.T) {
	h := newHarness(t, options{})
	id, code := h.startOK(numA)
	path := "/v1/verifications/" + id + "/resend"

	r := h.post(h.app, path, "").wantError(http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "60" || r.errorField("limit") != "number_cooldown" {
		t.Fatalf("resend within the cooldown: Retry-After %q, %s", r.header.Get("Retry-After"), r.body)
	}
	h.clock.Advance(30 * time.Second)
	r = h.post(h.app, path, "{}").wantError(http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After %q after 30 s, want 30", r.header.Get("Retry-After"))
	}

	h.clock.Advance(31 * time.Second)
	r = h.post(h.app, path, "").wantStatus(http.StatusOK)
	if r.str("status") != "pending" || r.json()["send_count"] != 2.0 {
		t.Fatalf("resend: %s", r.body)
	}
	codes := h.waitMessages(numA, 2)
	if codes[0] != code || codes[1] != code {
		t.Errorf("a resend sent a different code")
	}
	if got := h.post(h.app, "/v1/verifications/"+id+"/check", checkBody(code)).wantStatus(http.StatusOK).str("status"); got != "approved" {
		t.Errorf("the resent code: status %q", got)
	}
}

func TestNumberHourlyLimit(t *testing.T) {
	h := newHarness(t, options{verify: func(c *verify.Config) { c.SendsPerHour = 3 }})
	for i := range 3 {
		h.start(`{"phone":"+14155550123"}`).wantStatus(http.StatusCreated)
		h.waitMessages(numA, i+1)
		h.clock.Advance(61 * time.Second)
	}
	before := h.rows()
	r := h.start(`{"phone":"+14155550123"}`).wantError(http.StatusTooManyRequests, "rate_limited")
	if r.errorField("limit") != "number_hourly" {
		t.Fatalf("fourth start in an hour: %s", r.body)
	}
	// The first send was 183 s ago: the window frees up in 3417 s.
	if got := r.header.Get("Retry-After"); got != "3417" {
		t.Errorf("Retry-After %q, want 3417", got)
	}
	if h.rows() != before {
		t.Errorf("a refused start stored something")
	}
	// Another number is not limited.
	h.start(`{"phone":"+14155550124"}`).wantStatus(http.StatusCreated)
	h.waitMessages(numB, 1)
	if n := len(h.inbox.Messages(numA)); n != 3 {
		t.Errorf("%d messages to the limited number, want 3", n)
	}
}

func TestIPLimit(t *testing.T) {
	h := newHarness(t, options{verify: func(c *verify.Config) { c.IPSendsPerHour = 2 }})
	h.start(`{"phone":"+14155550123","ip":"203.0.113.7"}`).wantStatus(http.StatusCreated)
	h.start(`{"phone":"+14155550124","ip":"203.0.113.7"}`).wantStatus(http.StatusCreated)
	r := h.start(`{"phone":"+12025550143","ip":"203.0.113.7"}`).wantError(http.StatusTooManyRequests, "rate_limited")
	if r.errorField("limit") != "ip_hourly" || r.header.Get("Retry-After") != "3600" {
		t.Fatalf("third start from one IP: Retry-After %q, %s", r.header.Get("Retry-After"), r.body)
	}
	h.start(`{"phone":"+12025550143","ip":"198.51.100.1"}`).wantStatus(http.StatusCreated)
	h.waitMessages(numC, 1)
	if got := h.metric(`ringfence_refusals_total{code="rate_limited"}`); got != "1" {
		t.Errorf("refusals metric %q, want 1", got)
	}
}

func TestIdempotentStart(t *testing.T) {
	h := newHarness(t, options{})
	key := map[string]string{"Idempotency-Key": "signup-attempt-1"}
	body := `{"phone":"+14155550123","purpose":"signup"}`
	first := h.do(req{method: "POST", path: "/v1/verifications", key: h.app, body: body, header: key}).wantStatus(http.StatusCreated)
	h.waitMessages(numA, 1)
	before := h.rows()

	// The same request again, spelled differently: the first answer, nothing sent.
	again := h.do(req{method: "POST", path: "/v1/verifications", key: h.app, body: `{"phone":"+1 415 555 0123"}`, header: key}).wantStatus(http.StatusCreated)
	if again.str("id") != first.str("id") || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: id %q (first %q), Idempotent-Replayed %q", again.str("id"), first.str("id"), again.header.Get("Idempotent-Replayed"))
	}
	if h.rows() != before {
		t.Errorf("a replay stored something")
	}

	// The same key with another request.
	h.do(req{method: "POST", path: "/v1/verifications", key: h.app, body: `{"phone":"+14155550123","purpose":"login"}`, header: key}).
		wantError(http.StatusUnprocessableEntity, "idempotency_mismatch")
	h.do(req{method: "POST", path: "/v1/verifications", key: h.app, body: `{"phone":"+14155550124"}`, header: key}).
		wantError(http.StatusUnprocessableEntity, "idempotency_mismatch")
	if h.rows() != before {
		t.Errorf("a mismatched replay stored something")
	}
	h.do(req{method: "POST", path: "/v1/verifications", key: h.app, body: body, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}}).
		wantError(http.StatusBadRequest, "invalid_request")

	if n := len(h.inbox.All()); n != 1 {
		t.Errorf("%d messages sent, want 1", n)
	}
	if got := h.metric(`ringfence_verifications_started_total{channel="sms",purpose="signup"}`); got != "1" {
		t.Errorf("started metric %q: a replay counted", got)
	}
}

func TestRefusedNumbersChangeNothing(t *testing.T) {
	h := newHarness(t, options{verify: func(c *verify.Config) { c.Countries = []string{"US"} }})
	before := h.rows()
	for _, tc := range []struct {
		body string
		code string
	}{
		{`{"phone":"abc"}`, "invalid_phone"},
		{`{"phone":"+1"}`, "invalid_phone"},
		{`{"phone":"+` + strings.Repeat("4", 40) + `"}`, "invalid_phone"},
		{`{"phone":"+１４１５５５５０１２３"}`, "invalid_phone"},
		{`{"phone":""}`, "invalid_phone"},
		{`{"phone":"4155550123"}`, "invalid_phone"}, // national without country
		{`{"phone":"+14155550123 ext. 5"}`, "invalid_phone"},
		{`{"phone":"` + numPrem + `"}`, "unsupported_number_type"},
		{`{"phone":"+1 800 555 0123"}`, "unsupported_number_type"},
		{`{"country":"US"}`, "invalid_request"},
	} {
		r := h.start(tc.body).wantError(http.StatusBadRequest, tc.code)
		if strings.Contains(string(r.body), "phone\":") {
			t.Errorf("%s: the error repeats the request", tc.code)
		}
	}
	r := h.start(`{"phone":"`+numDE+`"}`).wantError(http.StatusForbidden, "blocked")
	if rs, _ := r.errorField("reasons").([]any); len(rs) != 1 || rs[0] != "country_not_allowed" {
		t.Errorf("blocked: %s", r.body)
	}
	if h.rows() != before {
		t.Errorf("refused starts stored something")
	}
	time.Sleep(20 * time.Millisecond) // a few dispatcher polls
	if n := len(h.inbox.All()); n != 0 {
		t.Errorf("refused starts sent %d messages", n)
	}
	if got := h.metric(`ringfence_refusals_total{code="invalid_phone"}`); got != "7" {
		t.Errorf("refusals invalid_phone %q, want 7", got)
	}
	if got := h.metric(`ringfence_refusals_total{code="unsupported_number_type"}`); got != "2" {
		t.Errorf("refusals unsupported_number_type %q, want 2", got)
	}
	// The dev inbox parses its query the same way.
	h.get(h.app, "/v1/dev/messages?to=abc").wantError(http.StatusBadRequest, "invalid_phone")
	h.get(h.app, "/v1/dev/messages?to=4155550123").wantError(http.StatusBadRequest, "invalid_phone")
	h.get(h.app, "/v1/dev/messages?to=4155550123&country=XX1").wantError(http.StatusBadRequest, "invalid_request")
	h.get(h.app, "/v1/dev/messages").wantError(http.StatusBadRequest, "invalid_request")
}

func TestBadBodiesChangeNothing(t *testing.T) {
	h := newHarness(t, options{})
	id, _ := h.startOK(numA)
	before := h.rows()
	huge := `{"phone":"+14155550123","ip":"` + strings.Repeat("x", api16KiB) + `"}`
	for _, tc := range []struct {
		name, path, body, contentType string
		status                        int
		code                          string
	}{
		{"huge body", "/v1/verifications", huge, "", 413, "body_too_large"},
		{"text/plain", "/v1/verifications", `{"phone":"+14155550124"}`, "text/plain", 415, "unsupported_media_type"},
		{"form", "/v1/verifications", `phone=%2B14155550124`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"latin-1 charset", "/v1/verifications", `{"phone":"+14155550124"}`, "application/json; charset=iso-8859-1", 415, "unsupported_media_type"},
		{"unknown field", "/v1/verifications", `{"phone":"+14155550124","admin":true}`, "", 400, "invalid_request"},
		{"phone as number", "/v1/verifications", `{"phone":14155550124}`, "", 400, "invalid_request"},
		{"array", "/v1/verifications", `[{"phone":"+14155550124"}]`, "", 400, "invalid_request"},
		{"null", "/v1/verifications", `null`, "", 400, "invalid_request"},
		{"bad JSON", "/v1/verifications", `{"phone":"+14155550124"`, "", 400, "invalid_json"},
		{"not JSON", "/v1/verifications", `phone`, "", 400, "invalid_json"},
		{"trailing garbage", "/v1/verifications", `{"phone":"+14155550124"} x`, "", 400, "invalid_json"},
		{"two objects", "/v1/verifications", `{"phone":"+14155550124"}{"phone":"+14155550124"}`, "", 400, "invalid_json"},
		{"only spaces", "/v1/verifications", ` `, "", 400, "invalid_json"},
		{"check without code", "/v1/verifications/" + id + "/check", `{}`, "", 400, "invalid_request"},
		{"code as number", "/v1/verifications/" + id + "/check", `{"code":123456}`, "", 400, "invalid_request"},
		{"short code", "/v1/verifications/" + id + "/check", `{"code":"123"}`, "", 400, "invalid_code"},
		{"letters in code", "/v1/verifications/" + id + "/check", `{"code":"12ab56"}`, "", 400, "invalid_code"},
		{"resend with a field", "/v1/verifications/" + id + "/resend", `{"force":true}`, "", 400, "invalid_request"},
		{"cancel as text", "/v1/verifications/" + id + "/cancel", `please`, "text/plain", 415, "unsupported_media_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(req{method: "POST", path: tc.path, key: h.app, body: tc.body, contentType: tc.contentType})
			r.t = t
			r.wantError(tc.status, tc.code)
		})
	}
	// Without a Content-Type at all.
	h.do(req{method: "POST", path: "/v1/verifications", key: h.app, body: `{"phone":"+14155550124"}`, contentType: "-"}).
		wantError(415, "unsupported_media_type")
	if h.rows() != before {
		t.Errorf("bad bodies stored something")
	}
	if got := h.get(h.app, "/v1/verifications/"+id).wantStatus(http.StatusOK).str("status"); got != "pending" {
		t.Errorf("bad checks changed the verification: status %q", got)
	}
	// A charset is fine.
	h.do(req{method: "POST", path: "/v1/verifications", key: h.app, body: `{"phone":"+14155550124"}`, contentType: "application/json; charset=UTF-8"}).
		wantStatus(http.StatusCreated)
}

// api16KiB is the default body limit.
const api16KiB = 16 << 10

func TestMalformedAndUnknownIDs(t *testing.T) {
	h := newHarness(t, options{})
	for _, id := range []string{
		"nope",
		"ve_aaaaaaaaaaaaaaaaaaaaaaaaaa", // well formed, unknown
		"ve_AAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ve_aaaaaaaaaaaaaaaaaaaaaaaaab", // nonzero padding bits
		"ve_" + strings.Repeat("a", 200),
		"key_aaaaaaaaaaaaaaaaaaaaaaaaaa",
		"%00",
	} {
		h.get(h.app, "/v1/verifications/"+id).wantError(http.StatusNotFound, "not_found")
		h.post(h.app, "/v1/verifications/"+id+"/check", checkBody("123456")).wantError(http.StatusNotFound, "not_found")
		h.post(h.app, "/v1/verifications/"+id+"/resend", "").wantError(http.StatusNotFound, "not_found")
		h.post(h.app, "/v1/verifications/"+id+"/cancel", "").wantError(http.StatusNotFound, "not_found")
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t, options{})
	id, code := h.startOK(numA)
	r := h.post(h.app, "/v1/verifications/"+id+"/cancel", "{}").wantStatus(http.StatusOK)
	if r.str("status") != "canceled" {
		t.Fatalf("cancel: %s", r.body)
	}
	r = h.post(h.app, "/v1/verifications/"+id+"/check", checkBody(code)).wantError(http.StatusConflict, "verification_closed")
	if r.errorField("status") != "canceled" {
		t.Errorf("check after cancel: %s", r.body)
	}
	h.post(h.app, "/v1/verifications/"+id+"/cancel", "").wantError(http.StatusConflict, "verification_closed")
}

func TestRetryAfterIsWholeSeconds(t *testing.T) {
	h := newHarness(t, options{})
	id, _ := h.startOK(numA)
	h.clock.Advance(1500 * time.Millisecond)
	r := h.post(h.app, "/v1/verifications/"+id+"/resend", "").wantError(http.StatusTooManyRequests, "rate_limited")
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n < 58 || n > 59 {
		t.Errorf("Retry-After %q, want 58 or 59 whole seconds", r.header.Get("Retry-After"))
	}
}
