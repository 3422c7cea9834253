package api_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ringfence/ringfence/internal/verify"
)

// signup verifies e164 for a signup (optionally asking a token for an
// audience) and returns the check answer.
func (h *harness) signup(e164, audience string) map[string]any {
	h.t.Helper()
	id, code := h.startOK(e164)
	body := checkBody(code)
	if audience != "" {
		body = fmt.Sprintf(`{"code":%q,"audience":%q}`, code, audience)
	}
	r := h.post(h.app, "/v1/verifications/"+id+"/check", body).wantStatus(http.StatusOK)
	if r.str("status") != "approved" {
		h.t.Fatalf("signup check: %s", r.body)
	}
	return r.json()
}

// approve starts a verification with body, reads its code and checks it.
func (h *harness) approve(body, to string) map[string]any {
	h.t.Helper()
	before := len(h.inbox.Messages(to))
	id := h.start(body).wantStatus(http.StatusCreated).str("id")
	code := h.waitMessages(to, before+1)[0]
	r := h.post(h.app, "/v1/verifications/"+id+"/check", checkBody(code)).wantStatus(http.StatusOK)
	if r.str("status") != "approved" {
		h.t.Fatalf("check: %s", r.body)
	}
	return r.json()
}

func TestSignupOneSubjectPerNumber(t *testing.T) {
	h := newHarness(t, options{identity: true})
	first := h.signup(numA, "")
	sub, _ := first["subject_id"].(string)
	if !strings.HasPrefix(sub, "sub_") || first["new"] != true {
		t.Fatalf("first signup: %v", first)
	}
	for _, spelling := range []string{`"phone":"(415) 555-0123","country":"US"`, `"phone":"001 415 555 0123"`} {
		h.clock.Advance(61 * time.Second) // the per-number cooldown
		got := h.approve(`{`+spelling+`,"purpose":"signup"}`, numA)
		if got["subject_id"] != sub || got["new"] != false {
			t.Errorf("signup with %s: %v, want subject %s and new false", spelling, got, sub)
		}
	}
	s := h.get(h.app, "/v1/subjects/"+sub).wantStatus(http.StatusOK).json()
	nums := s["numbers"].([]any)
	if s["level"] != "phone" || len(nums) != 1 || nums[0].(map[string]any)["to"] != "+1 ••• ••• 0123" {
		t.Errorf("subject: %v", s)
	}
	h.post(h.app, "/v1/subjects/"+sub+"/factors", "").wantStatus(http.StatusOK)
	if lvl := h.get(h.app, "/v1/subjects/"+sub).json()["level"]; lvl != "phone_and_factor" {
		t.Errorf("level after a factor: %v", lvl)
	}
	h.get(h.app, "/v1/subjects/sub_aaaaaaaaaaaaaaaaaaaaaaaaaa").wantError(http.StatusNotFound, "not_found")
	h.get(h.app, "/v1/subjects/not-an-id").wantError(http.StatusNotFound, "not_found")
}

// comparable strips the fields that differ between any two verifications.
func comparable(r *resp) (int, string) {
	m := r.json()
	for _, k := range []string{"id", "to", "created_at", "expires_at"} {
		delete(m, k)
	}
	b, _ := json.Marshal(m)
	return r.status, string(b)
}

func TestLoginCannotTellRegisteredNumbers(t *testing.T) {
	h := newHarness(t, options{identity: true})
	sub := h.signup(numA, "")["subject_id"]
	h.clock.Advance(61 * time.Second)

	reg := h.start(`{"phone":"` + numA + `","purpose":"login"}`)
	unreg := h.start(`{"phone":"` + numB + `","purpose":"login"}`)
	s1, b1 := comparable(reg)
	s2, b2 := comparable(unreg)
	if s1 != http.StatusCreated || s1 != s2 || b1 != b2 {
		t.Fatalf("login starts differ:\n registered   %d %s\n unregistered %d %s", s1, b1, s2, b2)
	}
	// The registered number gets its code; the other gets nothing, and no
	// code can approve its verification.
	code := h.waitMessages(numA, 2)[0]
	h.settle()
	if n := len(h.inbox.Messages(numB)); n != 0 {
		t.Fatalf("an unregistered number got %d messages", n)
	}
	for _, c := range []string{code, "000000", "123456"} {
		s1, b1 = comparable(h.post(h.app, "/v1/verifications/"+unreg.str("id")+"/check", checkBody(c)))
		if s1 != http.StatusOK || !strings.Contains(b1, `"status":"pending"`) {
			t.Errorf("check of the unregistered login: %d %s", s1, b1)
		}
	}
	// A wrong code answers the same for both.
	s1, b1 = comparable(h.post(h.app, "/v1/verifications/"+reg.str("id")+"/check", checkBody(wrongCode(code))))
	s2, b2 = comparable(h.post(h.app, "/v1/verifications/"+unreg.str("id")+"/check", checkBody(wrongCode(code))))
	if s1 != s2 || b1 != b2 {
		t.Errorf("wrong-code checks differ: %s / %s", b1, b2)
	}
	// So do the rate limits: a second start within the cooldown is refused for both.
	r1 := h.start(`{"phone":"` + numA + `","purpose":"login"}`)
	r2 := h.start(`{"phone":"` + numB + `","purpose":"login"}`)
	if r1.status != http.StatusTooManyRequests || r2.status != r1.status || r1.header.Get("Retry-After") != r2.header.Get("Retry-After") {
		t.Errorf("cooldown differs: %d %s / %d %s", r1.status, r1.header.Get("Retry-After"), r2.status, r2.header.Get("Retry-After"))
	}
	got := h.post(h.app, "/v1/verifications/"+reg.str("id")+"/check", checkBody(code)).wantStatus(http.StatusOK).json()
	if got["status"] != "approved" || got["subject_id"] != sub {
		t.Errorf("registered login: %v", got)
	}
}

func TestStepUpNeverTakesANumber(t *testing.T) {
	h := newHarness(t, options{identity: true})
	sub := h.signup(numA, "")["subject_id"].(string)
	h.clock.Advance(61 * time.Second)
	h.start(`{"phone":"`+numA+`","purpose":"step_up","subject_id":"`+sub+`"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.start(`{"purpose":"step_up"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.start(`{"purpose":"step_up","subject_id":"sub_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`).wantError(http.StatusBadRequest, "invalid_request")
	got := h.approve(`{"purpose":"step_up","subject_id":"`+sub+`"}`, numA)
	if got["subject_id"] != sub || got["to"] != "+1 ••• ••• 0123" {
		t.Errorf("step-up: %v", got)
	}
}

func TestTokensVerifyWithAStandardJWTLibrary(t *testing.T) {
	h := newHarness(t, options{identity: true})
	mk := func(name string) string {
		return h.post(bootstrapKey, "/v1/audiences", `{"name":"`+name+`"}`).wantStatus(http.StatusCreated).str("id")
	}
	audA, audB := mk("assistant"), mk("other-product")
	h.post(bootstrapKey, "/v1/audiences", `{"name":"assistant"}`).wantError(http.StatusConflict, "conflict")
	h.post(h.app, "/v1/audiences", `{"name":"x"}`).wantError(http.StatusForbidden, "forbidden")

	a := h.signup(numA, audA)
	sub := a["subject_id"].(string)
	tokA := a["token"].(string)
	h.clock.Advance(61 * time.Second)
	loginID := h.start(`{"phone":"` + numA + `","purpose":"login"}`).wantStatus(http.StatusCreated).str("id")
	loginCode := h.waitMessages(numA, 2)[0]
	tokB := h.post(h.app, "/v1/verifications/"+loginID+"/check", `{"code":"`+loginCode+`","audience":"`+audB+`"}`).
		wantStatus(http.StatusOK).str("token")
	id := h.start(`{"phone":"` + numB + `","purpose":"signup"}`).str("id")
	code := h.waitMessages(numB, 1)[0]
	h.post(h.app, "/v1/verifications/"+id+"/check", `{"code":"`+code+`","audience":"aud_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`).wantError(http.StatusBadRequest, "invalid_request")

	// The JWKS, fetched without a key, as an application would.
	var set struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg string }
	}
	if err := json.Unmarshal(h.get("", "/.well-known/jwks.json").wantStatus(http.StatusOK).body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks: %v", err)
	}
	pub := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" {
			t.Fatalf("jwk %+v", k)
		}
		pub[k.Kid] = ed25519.PublicKey(x)
	}
	keyfunc := func(tok *jwt.Token) (any, error) {
		k, ok := pub[tok.Header["kid"].(string)]
		if !ok {
			return nil, fmt.Errorf("unknown kid")
		}
		return k, nil
	}
	parse := func(tok, aud string, at time.Time) (jwt.MapClaims, error) {
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(tok, claims, keyfunc,
			jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience(aud), jwt.WithIssuer("ringfence"),
			jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return at }))
		return claims, err
	}
	now := h.clock.Now()
	claims, err := parse(tokA, audA, now)
	if err != nil {
		t.Fatalf("a fresh token does not verify: %v", err)
	}
	wantSub := h.ident.Pseudonym(audA, sub)
	if claims["sub"] != wantSub || claims["phone_verified"] != true || claims["phone_verification_method"] != "sms" ||
		claims["phone_country"] != "US" || claims["acr"] != "phone" || claims["purpose"] != "signup" {
		t.Errorf("claims: %v", claims)
	}
	if wantSub == sub || strings.Contains(tokA, sub) || wantSub == h.ident.Pseudonym(audB, sub) {
		t.Errorf("the pseudonym is the subject id, or the same for two audiences")
	}
	if _, err := parse(tokA, audB, now); err == nil {
		t.Errorf("a token for one audience verified for another")
	}
	claimsB, err := parse(tokB, audB, now)
	if err != nil || claimsB["sub"] != h.ident.Pseudonym(audB, sub) || claimsB["sub"] == claims["sub"] || claimsB["purpose"] != "login" {
		t.Errorf("audience B's token: %v %v", claimsB, err)
	}
	if _, err := parse(tokA, audA, now.Add(11*time.Minute)); err == nil {
		t.Errorf("an expired token verified")
	}
	parts := strings.Split(tokA, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), wantSub, h.ident.Pseudonym(audA, "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa"), 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
	if _, err := parse(tampered, audA, now); err == nil {
		t.Errorf("a tampered token verified")
	}
	if _, err := parse(parts[0]+"."+parts[1]+".", audA, now); err == nil {
		t.Errorf("an unsigned token verified")
	}
}

func TestRecycledNumberAfterDormancy(t *testing.T) {
	h := newHarness(t, options{identity: true})
	old := h.signup(numA, "")["subject_id"].(string)

	h.clock.Advance(30 * 24 * time.Hour) // dormant, but not long enough
	if got := h.approve(`{"phone":"`+numA+`"}`, numA); got["subject_id"] != old || got["new"] != false {
		t.Fatalf("signup before the dormancy period: %v", got)
	}
	h.clock.Advance(91 * 24 * time.Hour)
	got := h.approve(`{"phone":"`+numA+`"}`, numA)
	if got["subject_id"] == old || got["new"] != true || got["recycled"] != true {
		t.Fatalf("signup after the dormancy period: %v", got)
	}
	o := h.get(h.app, "/v1/subjects/"+old).wantStatus(http.StatusOK).json()
	if o["level"] != "none" || len(o["numbers"].([]any)) != 0 || o["lost_binding_at"] == nil {
		t.Errorf("the old subject: %v", o)
	}
}

// twilioSign computes X-Twilio-Signature the way Twilio documents it.
func twilioSign(token, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(u)
	for _, k := range keys {
		b.WriteString(k + form.Get(k))
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestInboundSMSVerification(t *testing.T) {
	const token = "twilio-test-auth-token"
	h := newHarness(t, options{identity: true, twilio: token, verify: func(c *verify.Config) { c.InboundNumber = "+14155550100" }})
	r := h.start(`{"phone":"` + numA + `","channel":"inbound_sms"}`).wantStatus(http.StatusCreated)
	in := r.json()["inbound"].(map[string]any)
	if in["to"] != "+14155550100" || len(in["text"].(string)) != 6 || r.json()["send_count"] != 0.0 {
		t.Fatalf("inbound start: %s", r.body)
	}
	h.settle()
	if n := len(h.inbox.All()); n != 0 {
		t.Fatalf("inbound_sms sent %d messages", n)
	}
	post := func(from, body, sid, sig string) *resp {
		form := url.Values{"From": {from}, "To": {"+14155550100"}, "Body": {body}, "MessageSid": {sid}}
		if sig == "" {
			sig = twilioSign(token, "https://verify.example.com/v1/webhooks/twilio/sms", form)
		}
		return h.do(req{method: "POST", path: "/v1/webhooks/twilio/sms", body: form.Encode(),
			contentType: "application/x-www-form-urlencoded", header: map[string]string{"X-Twilio-Signature": sig}})
	}
	id := r.str("id")
	code := in["text"].(string)
	post(numA, "Code "+code, "SM0001", "bm90IGEgc2lnbmF0dXJl").wantError(http.StatusForbidden, "forbidden")
	post(numB, code, "SM0002", "").wantStatus(http.StatusOK) // an unknown sender approves nothing
	if st := h.get(h.app, "/v1/verifications/"+id).str("status"); st != "pending" {
		t.Fatalf("after a bad signature and a stranger: %s", st)
	}
	post(numA, "my code is "+code, "SM0003", "").wantStatus(http.StatusOK)
	v := h.get(h.app, "/v1/verifications/"+id).json()
	if v["status"] != "approved" || !strings.HasPrefix(v["subject_id"].(string), "sub_") {
		t.Fatalf("after the right text: %v", v)
	}
	// A replay of a handled message changes nothing, even for a new verification.
	id2 := h.start(`{"phone":"` + numA + `","channel":"inbound_sms"}`).wantStatus(http.StatusCreated).str("id")
	post(numA, code, "SM0003", "").wantStatus(http.StatusOK)
	if st := h.get(h.app, "/v1/verifications/"+id2).str("status"); st != "pending" {
		t.Errorf("a replayed webhook changed a verification: %s", st)
	}
}

func TestPhoneChangeCoolingOffAndGuardian(t *testing.T) {
	h := newHarness(t, options{identity: true})
	sub := h.signup(numA, "")["subject_id"].(string)
	got := h.approve(`{"phone":"`+numB+`","purpose":"phone_change","subject_id":"`+sub+`"}`, numB)
	if got["subject_id"] != sub || got["conflict"] != nil {
		t.Fatalf("phone change: %v", got)
	}
	s := h.get(h.app, "/v1/subjects/"+sub).json()
	if nums := s["numbers"].([]any); len(nums) != 2 || nums[1].(map[string]any)["release_at"] == nil {
		t.Fatalf("after a change without step-up the old number waits for release: %v", s)
	}
	// Recovery by the new number waits for the cooling-off, unless another factor is shown.
	r := h.start(`{"purpose":"recovery","subject_id":"`+sub+`"}`).wantError(http.StatusForbidden, "blocked")
	if reasons := r.errorField("reasons"); fmt.Sprint(reasons) != "[recovery_cooling_off]" {
		t.Errorf("reasons %v", reasons)
	}
	h.clock.Advance(61 * time.Second)
	if got := h.approve(`{"purpose":"recovery","subject_id":"`+sub+`","second_factor":true}`, numB); got["subject_id"] != sub {
		t.Errorf("recovery with a second factor: %v", got)
	}
	h.clock.Advance(8 * 24 * time.Hour)
	if got := h.approve(`{"purpose":"recovery","subject_id":"`+sub+`"}`, numB); got["subject_id"] != sub {
		t.Errorf("recovery after the cooling-off: %v", got)
	}
	if nums := h.get(h.app, "/v1/subjects/"+sub).json()["numbers"].([]any); len(nums) != 1 {
		t.Errorf("the old number was not released after the cooling-off: %v", nums)
	}
	// Another subject cannot take a bound number by a phone change.
	other := h.signup(numC, "")["subject_id"].(string)
	h.clock.Advance(61 * time.Second)
	if got := h.approve(`{"phone":"`+numB+`","purpose":"phone_change","subject_id":"`+other+`"}`, numB); got["conflict"] != "number_in_use" {
		t.Errorf("phone change to a number in use: %v", got)
	}
	// After a fresh step-up, a change releases the old number at once.
	h.clock.Advance(61 * time.Second)
	h.approve(`{"purpose":"step_up","subject_id":"`+other+`"}`, numC)
	h.approve(`{"phone":"`+numDE+`","purpose":"phone_change","subject_id":"`+other+`"}`, numDE)
	if nums := h.get(h.app, "/v1/subjects/"+other).json()["numbers"].([]any); len(nums) != 1 || nums[0].(map[string]any)["country"] != "DE" {
		t.Errorf("after step-up and change: %v", nums)
	}
	// A guardian consents by verifying their own number.
	h.do(req{method: "PUT", path: "/v1/subjects/" + other + "/guardian", key: h.app, body: `{"required":true}`}).wantStatus(http.StatusOK)
	h.clock.Advance(61 * time.Second)
	h.approve(`{"phone":"`+numA+`","purpose":"guardian","subject_id":"`+other+`"}`, numA)
	g := h.get(h.app, "/v1/subjects/"+other).json()
	if g["needs_guardian"] != true || g["guardian_consent_at"] == nil || g["guardian_method"] != "sms" {
		t.Errorf("guardian consent: %v", g)
	}
}

func init() {
	// The webhook answers TwiML; validate it as plain text.
	openapi3filter.RegisterBodyDecoder("text/xml", openapi3filter.PlainBodyDecoder)
}
