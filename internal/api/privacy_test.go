package api_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/api"
	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/console"
	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

const twilioToken = "twilio-test-auth-token"

// privacyHarness is a harness with accounts, the audit log, the inbound
// webhook and the privacy routes.
func privacyHarness(t *testing.T) *harness {
	t.Helper()
	pages := map[string]http.Handler{}
	return newHarness(t, options{identity: true, audit: true, twilio: twilioToken, mount: pages,
		verify: func(c *verify.Config) { c.InboundNumber = "+14155550100" },
		configure: func(h *harness, cfg *api.Config) {
			p, err := privacy.NewService(privacy.Config{Issuer: "ringfence", Origin: auditOrigin, Checkpoint: cfg.Audit.Log.Checkpoint},
				h.db, h.keys, h.clock.Now)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Privacy = p
			c, err := console.New(console.Config{Verify: cfg.Verify, Privacy: p, Identity: h.ident, Keys: h.keys, Now: h.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			pages["/"] = c.Handler() // the harness mounts it after configure
		}})
}

// keptCall saves a call from e164 with a transcript kept for subjectID, as
// the phone line does: the caller's words, then the answer they heard.
func (h *harness) keptCall(id, e164, subjectID, said, heard string) {
	h.t.Helper()
	ctx := h.t.Context()
	start := h.clock.Now()
	if err := h.db.SaveCall(ctx, &dialogue.CallRecord{ID: id, Trunk: "pbx", CallerIndex: h.keys.BlindIndex("phone", e164),
		Start: start, Duration: 65 * time.Second, Ended: dialogue.EndCallerHangup, Turns: 1, DisclosureHash: "d"}); err != nil {
		h.t.Fatal(err)
	}
	var tr dialogue.Transcript
	tr.Caller(2*time.Second, said)
	tr.Assistant(5*time.Second, heard, true)
	data, err := tr.MarshalJSON()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.db.SaveTranscript(ctx, id, subjectID, start, func(tx identity.DataKeys) ([]byte, error) {
		return identity.SealTranscript(h.keys, tx, subjectID, id, data, start)
	}); err != nil {
		h.t.Fatal(err)
	}
}

// receiptKeys reads the published receipt keys.
func (h *harness) receiptKeys() map[string][]byte {
	h.t.Helper()
	r := h.get("", "/v1/transparency/keys").wantStatus(http.StatusOK)
	var out struct {
		Keys []struct {
			KeyID     string `json:"key_id"`
			PublicKey string `json:"public_key"`
		}
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		h.t.Fatal(err)
	}
	keys := make(map[string][]byte)
	for _, k := range out.Keys {
		keys[k.KeyID] = []byte(k.PublicKey)
	}
	return keys
}

// verifyReceipt checks a receipt offline against the published keys.
func (h *harness) verifyReceipt(raw any) *privacy.Receipt {
	h.t.Helper()
	b, _ := json.Marshal(raw)
	var sig struct {
		Signature struct {
			KeyID string `json:"key_id"`
		}
	}
	json.Unmarshal(b, &sig)
	pub, ok := h.receiptKeys()[sig.Signature.KeyID]
	if !ok {
		h.t.Fatalf("the receipt's key %q is not published", sig.Signature.KeyID)
	}
	trusted, err := privacy.TrustedKey(sig.Signature.KeyID, string(pub))
	if err != nil {
		h.t.Fatal(err)
	}
	rc, err := privacy.VerifyReceipt(b, trusted)
	if err != nil {
		h.t.Fatalf("receipt: %v", err)
	}
	return rc
}

func TestConsentAPI(t *testing.T) {
	h := privacyHarness(t)
	ok := h.signup(numA, "")
	sub, ve := ok["subject_id"].(string), ok["id"].(string)
	other := h.signup(numB, "")
	path := "/v1/subjects/" + sub + "/consents"

	r := h.post(h.app, path, fmt.Sprintf(`{"purpose":"assistant_calls","channel":"call","action":"grant","evidence":%q}`, ve)).
		wantStatus(http.StatusCreated)
	c := r.json()
	if c["subject_id"] != sub || c["action"] != "grant" || c["method"] != "api" || c["evidence"] != ve {
		t.Fatalf("grant: %s", r.body)
	}
	rc := h.verifyReceipt(c["receipt"])
	if rc.ReceiptID != c["id"] || rc.Purpose != "assistant_calls" || rc.Number != "+1 ••• ••• 0123" || rc.AuditSeq != uint64(c["audit_seq"].(float64)) {
		t.Errorf("receipt %+v", rc)
	}
	// The audit entry of the change is provable against a checkpoint.
	h.post(bootstrapKey, "/v1/audit/checkpoints", "").wantStatus(http.StatusCreated)
	e := h.get(bootstrapKey, fmt.Sprintf("/v1/audit/entries/%d", rc.AuditSeq)).wantStatus(http.StatusOK).json()["entry"].(map[string]any)
	if e["type"] != "consent.granted" || e["verification_id"] != c["id"] || e["subject_id"] != sub {
		t.Errorf("audit entry %v", e)
	}

	// Bad input: a clear 4xx with a stable code, and nothing stored.
	rows := h.rows()
	for _, tc := range []struct {
		name, path, body, ctype string
		key                     string
		status                  int
		code                    string
	}{
		{"unknown subject", "/v1/subjects/sub_aaaaaaaaaaaaaaaaaaaaaaaaaa/consents", `{"purpose":"assistant_calls","channel":"call","action":"grant","evidence":"` + ve + `"}`, "", h.app, 404, "not_found"},
		{"unknown purpose", path, `{"purpose":"marketing","channel":"sms","action":"grant","evidence":"` + ve + `"}`, "", h.app, 400, "invalid_purpose"},
		{"wrong channel", path, `{"purpose":"assistant_calls","channel":"sms","action":"grant","evidence":"` + ve + `"}`, "", h.app, 400, "invalid_channel"},
		{"unknown channel", path, `{"purpose":"assistant_sms","channel":"pigeon","action":"grant","evidence":"` + ve + `"}`, "", h.app, 400, "invalid_channel"},
		{"no evidence", path, `{"purpose":"assistant_sms","channel":"sms","action":"grant"}`, "", h.app, 400, "invalid_evidence"},
		{"another subject's evidence", path, `{"purpose":"assistant_sms","channel":"sms","action":"grant","evidence":"` + other["id"].(string) + `"}`, "", h.app, 400, "invalid_evidence"},
		{"bad action", path, `{"purpose":"assistant_sms","channel":"sms","action":"maybe","evidence":"` + ve + `"}`, "", h.app, 400, "invalid_request"},
		{"missing action", path, `{"purpose":"assistant_sms","channel":"sms","evidence":"` + ve + `"}`, "", h.app, 400, "invalid_request"},
		{"wrong type", path, `{"purpose":5,"channel":"sms","action":"grant","evidence":"` + ve + `"}`, "", h.app, 400, "invalid_request"},
		{"unknown field", path, `{"purpose":"assistant_sms","channel":"sms","action":"grant","evidence":"` + ve + `","why":"x"}`, "", h.app, 400, "invalid_request"},
		{"broken JSON", path, `{"purpose":`, "", h.app, 400, "invalid_json"},
		{"two objects", path, `{} {}`, "", h.app, 400, "invalid_json"},
		{"huge body", path, `{"purpose":"` + strings.Repeat("a", 20<<10) + `"}`, "", h.app, 413, "body_too_large"},
		{"not JSON", path, `purpose=assistant_sms`, "text/plain", h.app, 415, "unsupported_media_type"},
		{"no key", path, `{}`, "", "", 401, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.do(req{method: "POST", path: tc.path, key: tc.key, body: tc.body, contentType: tc.ctype}).wantError(tc.status, tc.code)
			if n := h.rows(); n != rows {
				t.Errorf("a refused request stored %d rows", n-rows)
			}
		})
	}
	h.get(h.app, "/v1/subjects/sub_aaaaaaaaaaaaaaaaaaaaaaaaaa/consents").wantError(404, "not_found")

	// Withdraw; the list shows the current state and the whole ledger.
	h.post(h.app, path, `{"purpose":"assistant_calls","channel":"call","action":"withdraw"}`).wantStatus(http.StatusCreated)
	l := h.get(h.app, path).wantStatus(http.StatusOK).json()
	cs, recs := l["consents"].([]any), l["records"].([]any)
	if len(cs) != 1 || cs[0].(map[string]any)["granted"] != false || len(recs) != 2 {
		t.Fatalf("consents %v", l)
	}
	for _, rec := range recs {
		h.verifyReceipt(rec.(map[string]any)["receipt"])
	}
}

func TestConsentSTOPReply(t *testing.T) {
	h := privacyHarness(t)
	ok := h.signup(numA, "")
	sub, ve := ok["subject_id"].(string), ok["id"].(string)
	path := "/v1/subjects/" + sub + "/consents"
	h.post(h.app, path, fmt.Sprintf(`{"purpose":"assistant_sms","channel":"sms","action":"grant","evidence":%q}`, ve)).wantStatus(http.StatusCreated)
	granted := func() bool {
		for _, c := range h.get(h.app, path).json()["consents"].([]any) {
			if c := c.(map[string]any); c["purpose"] == "assistant_sms" {
				return c["granted"].(bool)
			}
		}
		return false
	}
	post := func(from, body, sid string, sign bool) *resp {
		form := url.Values{"From": {from}, "To": {"+14155550100"}, "Body": {body}, "MessageSid": {sid}}
		sig := "bm90IGEgc2lnbmF0dXJl"
		if sign {
			sig = twilioSign(twilioToken, "https://verify.example.com/v1/webhooks/twilio/sms", form)
		}
		return h.do(req{method: "POST", path: "/v1/webhooks/twilio/sms", body: form.Encode(),
			contentType: "application/x-www-form-urlencoded", header: map[string]string{"X-Twilio-Signature": sig}})
	}
	post(numA, "STOP", "SM0001", false).wantError(http.StatusForbidden, "forbidden")
	if !granted() {
		t.Fatal("an unsigned STOP withdrew the consent")
	}
	// A stranger's STOP gets the same answer as the holder's.
	stranger := post(numC, "STOP", "SM0002", true).wantStatus(http.StatusOK)
	holder := post(numA, "STOP", "SM0003", true).wantStatus(http.StatusOK)
	if string(stranger.body) != string(holder.body) {
		t.Error("the answer tells whether the number has an account")
	}
	if granted() {
		t.Fatal("STOP left the consent granted")
	}
	post(numA, "START", "SM0004", true).wantStatus(http.StatusOK)
	if !granted() {
		t.Fatal("START did not restore the consent")
	}
	recs := h.get(h.app, path).json()["records"].([]any)
	if len(recs) != 3 || recs[1].(map[string]any)["method"] != "sms_reply" || recs[1].(map[string]any)["evidence"] != "sms:SM0003" {
		t.Errorf("ledger %v", recs)
	}
}

func TestTransparencyAPI(t *testing.T) {
	h := privacyHarness(t)
	h.get("", "/v1/transparency/report").wantError(404, "not_found") // no checkpoint yet
	h.signup(numA, "")
	from := h.post(bootstrapKey, "/v1/audit/checkpoints", "").wantStatus(http.StatusCreated).json()["size"].(float64)
	h.clock.Advance(1e9)
	h.signup(numB, "")
	to := h.post(bootstrapKey, "/v1/audit/checkpoints", "").wantStatus(http.StatusCreated).json()["size"].(float64)

	// Public: no key needed.
	r := h.get("", fmt.Sprintf("/v1/transparency/report?from=%d", int(from))).wantStatus(http.StatusOK)
	sr, raw, err := privacy.ParseReport(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Report.From.Size != uint64(from) || sr.Report.To.Size != uint64(to) || len(raw) == 0 {
		t.Errorf("period %+v %+v", sr.Report.From, sr.Report.To)
	}
	for _, a := range sr.Report.Accesses {
		if a.Purpose == privacy.AccessSignup && a.Accesses.Text != "1-9" {
			t.Errorf("signups %+v", a)
		}
	}
	if held := sr.Report.NumbersHeld; held.AtStart.Text != "1-9" || held.AtEnd.Text != "1-9" {
		t.Errorf("held %+v", held)
	}
	whole := h.get("", "/v1/transparency/report").wantStatus(http.StatusOK).json()["report"].(map[string]any)
	if whole["from"].(map[string]any)["size"] != 0.0 {
		t.Errorf("default period starts at %v", whole["from"])
	}

	h.get("", fmt.Sprintf("/v1/transparency/report?from=%d&to=%d", int(to), int(from))).wantError(400, "invalid_request")
	h.get("", fmt.Sprintf("/v1/transparency/report?from=%d", int(from)+1)).wantError(404, "not_found")
	h.get("", "/v1/transparency/report?to=abc").wantError(400, "invalid_request")
	h.get("", "/v1/transparency/report?from=-1").wantError(400, "invalid_request")
}

func TestTransparencyPage(t *testing.T) {
	h := privacyHarness(t)
	// Pages answer HTML, also for errors, which the OpenAPI check of h.do
	// does not expect; they are read straight from the handler.
	page := func(path string) *resp {
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		h.transcript.Write(rec.Body.Bytes())
		return &resp{t: t, status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	}
	if r := page("/transparency"); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "no signed checkpoint") {
		t.Fatalf("before any checkpoint: %d %s", r.status, r.body)
	}
	for _, n := range []string{numA, numB, numC} {
		h.signup(n, "")
	}
	h.post(bootstrapKey, "/v1/audit/checkpoints", "").wantStatus(http.StatusCreated)
	r := page("/transparency")
	body := string(r.body)
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", r.status, r.header)
	}
	for _, want := range []string{"<svg", "Sign-up verification", "Legal requests", "<td>1-9</td>", "11.1111%-900%", `href="/v1/transparency/report?from=0&amp;to=`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") {
		t.Error("the page needs a script")
	}
	if r := page("/transparency?from=x"); r.status != http.StatusBadRequest {
		t.Errorf("a bad period: %d", r.status)
	}
}

func TestExportAPI(t *testing.T) {
	h := privacyHarness(t)
	ok := h.signup(numA, "")
	sub, ve := ok["subject_id"].(string), ok["id"].(string)
	other := h.signup(numB, "")
	h.post(h.app, "/v1/subjects/"+sub+"/consents", fmt.Sprintf(`{"purpose":"assistant_sms","channel":"sms","action":"grant","evidence":%q}`, ve)).
		wantStatus(http.StatusCreated)
	path := "/v1/subjects/" + sub + "/export?evidence="
	h.keptCall("call_api", numA, sub, "what is the weather", "It is sunny")

	rows := h.rows()
	h.get(h.app, path+other["id"].(string)).wantError(400, "invalid_evidence")
	h.get(h.app, path).wantError(400, "invalid_evidence")
	h.get(h.app, "/v1/subjects/sub_aaaaaaaaaaaaaaaaaaaaaaaaaa/export?evidence="+ve).wantError(404, "not_found")
	h.get("", path+ve).wantError(401, "unauthorized")
	if n := h.rows(); n != rows {
		t.Errorf("refused exports stored %d rows", n-rows)
	}

	// The export holds the full number, which no other response may: it is
	// read straight from the handler, checked against openapi.json, and
	// kept out of the leak check's transcript.
	hr := httptest.NewRequest("GET", path+ve, nil)
	hr.Header.Set("Authorization", "Bearer "+h.app)
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, hr)
	r := &resp{t: t, status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	validateResponse(t, hr, r, false)
	r.wantStatus(http.StatusOK)
	x := r.json()["export"].(map[string]any)
	if n := x["numbers"].([]any)[0].(map[string]any); n["e164"] != numA || n["masked"] != "+1 ••• ••• 0123" {
		t.Errorf("numbers %v", x["numbers"])
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("an export may be cached")
	}
	// Its own read of the number is in it, proven by a fresh checkpoint.
	log := x["audit"].(map[string]any)
	entries := log["entries"].([]any)
	last := entries[len(entries)-1].(map[string]any)
	if last["type"] != "number.accessed" || last["purpose"] != "user_export" || last["seq"] != log["checkpoint"].(map[string]any)["size"] {
		t.Errorf("last entry %v", last)
	}
	if len(x["consents"].([]any)) != 1 {
		t.Errorf("consents %v", x["consents"])
	}
	calls := x["calls"].([]any)
	if len(calls) != 1 {
		t.Fatalf("calls %v", calls)
	}
	call := calls[0].(map[string]any)
	lines, _ := call["transcript"].([]any)
	if call["id"] != "call_api" || call["from"] != "+1 ••• ••• 0123" || len(lines) != 2 ||
		lines[0].(map[string]any)["text"] != "what is the weather" || lines[1].(map[string]any)["text"] != "It is sunny..." ||
		lines[1].(map[string]any)["at_ms"] != 5000.0 {
		t.Errorf("call %v", call)
	}
	// And the person checks the whole document offline.
	priv, _, err := h.keys.Signer(vault.PurposeCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewVerifier(auditOrigin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pub := h.receiptKeys()["receipt-1"]
	trusted, err := privacy.TrustedKey("receipt-1", string(pub))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := privacy.VerifyExport(r.body, trusted, v); err != nil {
		t.Errorf("the export does not verify: %v", err)
	}
}

// browser is a minimal cookie-keeping client of the pages, straight on the
// handler (pages answer HTML, which the OpenAPI check does not expect).
type browser struct {
	h      *harness
	cookie string
}

func (b *browser) do(method, path string, form url.Values) *resp {
	b.h.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	hr := httptest.NewRequest(method, path, body)
	if form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.cookie != "" {
		hr.Header.Set("Cookie", b.cookie)
	}
	rec := httptest.NewRecorder()
	b.h.handler.ServeHTTP(rec, hr)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "rf_privacy" {
			b.cookie = c.Name + "=" + c.Value
			if c.MaxAge < 0 {
				b.cookie = ""
			}
		}
	}
	return &resp{t: b.h.t, status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

var hiddenID = regexp.MustCompile(`name="id" value="(ve_[a-z2-7]+)"`)

// signIn signs in to the privacy centre with e164 and returns the sign-in page.
func (b *browser) signIn(e164 string) *resp {
	b.h.t.Helper()
	before := len(b.h.inbox.Messages(e164))
	r := b.do("POST", "/privacy/start", url.Values{"phone": {e164}})
	m := hiddenID.FindStringSubmatch(string(r.body))
	if r.status != http.StatusOK || m == nil {
		b.h.t.Fatalf("start: %d %s", r.status, r.body)
	}
	code := b.h.waitMessages(e164, before+1)[0]
	return b.do("POST", "/privacy/check", url.Values{"id": {m[1]}, "code": {code}})
}

func TestPrivacyCentre(t *testing.T) {
	h := privacyHarness(t)
	ok := h.signup(numA, "")
	sub := ok["subject_id"].(string)
	b := &browser{h: h}
	h.keptCall("call_centre", numA, sub, "read me a poem", "Roses are red")

	if r := b.do("GET", "/privacy/me", nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/privacy" {
		t.Fatalf("signed out: %d %s", r.status, r.header)
	}
	if r := b.do("GET", "/privacy", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `action="/privacy/start"`) {
		t.Fatalf("sign-in page: %d", r.status)
	}
	// A wrong code keeps the person on the code page.
	h.clock.Advance(2 * time.Minute) // the per-number cooldown since the signup
	r := b.do("POST", "/privacy/start", url.Values{"phone": {numA}})
	id := hiddenID.FindStringSubmatch(string(r.body))[1]
	h.waitMessages(numA, 2)
	if r := b.do("POST", "/privacy/check", url.Values{"id": {id}, "code": {"000000"}}); r.status != http.StatusOK ||
		!strings.Contains(string(r.body), "not right") || b.cookie != "" {
		t.Fatalf("wrong code: %d %q", r.status, b.cookie)
	}

	h.clock.Advance(2 * time.Minute)
	if r := b.signIn(numA); r.status != http.StatusSeeOther || b.cookie == "" {
		t.Fatalf("sign in: %d %s", r.status, r.body)
	}
	page := string(b.do("GET", "/privacy/me", nil).wantStatus(http.StatusOK).body)
	for _, want := range []string{"&#43;1 ••• ••• 0123", sub, "Allow assistant_calls by call"} {
		if !strings.Contains(page, want) {
			t.Errorf("the centre lacks %q", want)
		}
	}
	h.transcript.WriteString(page)

	// Allow, then withdraw, a consent: each is a ledger record with the
	// sign-in verification as its evidence.
	for _, action := range []string{"grant", "withdraw"} {
		r := b.do("POST", "/privacy/consents", url.Values{"purpose": {"assistant_calls"}, "channel": {"call"}, "action": {action}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", action, r.status, r.body)
		}
	}
	recs := h.get(h.app, "/v1/subjects/"+sub+"/consents").json()["records"].([]any)
	if len(recs) != 2 || recs[1].(map[string]any)["action"] != "withdraw" || !strings.HasPrefix(recs[1].(map[string]any)["evidence"].(string), "ve_") {
		t.Fatalf("ledger %v", recs)
	}
	if r := b.do("POST", "/privacy/consents", url.Values{"purpose": {"marketing"}, "channel": {"sms"}, "action": {"grant"}}); r.status != http.StatusBadRequest {
		t.Errorf("an unknown purpose: %d", r.status)
	}

	// The export downloads, with the full number (kept out of the leak
	// check's transcript: it is the person's own).
	x := b.do("GET", "/privacy/export", nil).wantStatus(http.StatusOK)
	if !strings.Contains(x.header.Get("Content-Disposition"), "attachment") || !strings.Contains(string(x.body), `"e164": "`+numA+`"`) {
		t.Errorf("export: %s %.200s", x.header, x.body)
	}

	// The same as a readable page.
	data := string(b.do("GET", "/privacy/data", nil).wantStatus(http.StatusOK).body)
	for _, want := range []string{"&#43;" + numA[1:], "consent.granted", "number.accessed (user_export)", "assistant_calls by call",
		`id="call-call_centre"`, "1:05 long", "<td>0:02</td><td>caller</td><td>read me a poem</td>", "<td>assistant</td><td>Roses are red...</td>"} {
		if !strings.Contains(data, want) {
			t.Errorf("the data page lacks %q", want)
		}
	}

	// A forged or altered cookie is no session.
	other := &browser{h: h, cookie: strings.Replace(b.cookie, "ve_", "ve_a", 1)}
	if r := other.do("GET", "/privacy/me", nil); r.status != http.StatusSeeOther {
		t.Errorf("an altered cookie: %d", r.status)
	}
	// The session ends with the freshness of the sign-in.
	h.clock.Advance(privacy.ExportFreshness + time.Second)
	if r := b.do("GET", "/privacy/me", nil); r.status != http.StatusSeeOther {
		t.Errorf("a stale session: %d", r.status)
	}
	// A number with no account cannot sign in, and is told only that the code is wrong.
	c := &browser{h: h}
	r = c.do("POST", "/privacy/start", url.Values{"phone": {numC}})
	if r.status != http.StatusOK || !hiddenID.Match(r.body) {
		t.Fatalf("start for a stranger: %d", r.status)
	}
	if r := c.do("POST", "/privacy/check", url.Values{"id": {hiddenID.FindStringSubmatch(string(r.body))[1]}, "code": {"123456"}}); r.status != http.StatusOK || c.cookie != "" {
		t.Errorf("a stranger signed in: %d", r.status)
	}
}
