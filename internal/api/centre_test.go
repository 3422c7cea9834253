package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/privacy"
)

// crossSite posts form to path as a page of another site would, with the
// browser's cookie.
func (b *browser) crossSite(path string, form url.Values, header map[string]string) int {
	b.h.t.Helper()
	hr := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Cookie", b.cookie)
	for k, v := range header {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	b.h.handler.ServeHTTP(rec, hr)
	return rec.Code
}

// sessionVerification returns the verification id the centre's cookie names.
func (b *browser) sessionVerification() string {
	id, _, _ := strings.Cut(strings.TrimPrefix(b.cookie, "rf_privacy="), ".")
	return id
}

// sealedOf returns every ciphertext and wrapped key that holds a subject's
// number: its data key, its bindings, and its numbers' verifications.
func (h *harness) sealedOf(subjectID string) [][]byte {
	h.t.Helper()
	db, err := sql.Open("sqlite", "file:"+h.dbPath+"?mode=ro")
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	var out [][]byte
	for _, q := range []string{
		`SELECT wrapped FROM subject_keys WHERE subject_id = ?`,
		`SELECT phone_sealed FROM bindings WHERE subject_id = ?`,
		`SELECT v.phone_sealed FROM verifications v JOIN bindings b ON b.phone_index = v.phone_index WHERE b.subject_id = ?`,
	} {
		rows, err := db.Query(q, subjectID)
		if err != nil {
			h.t.Fatal(err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				h.t.Fatal(err)
			}
			if len(b) > 0 {
				out = append(out, b)
			}
		}
		rows.Close()
	}
	return out
}

// TestPrivacyCentreErase: a person erases their own account from the
// privacy centre. Every wrong or missing confirmation, a session of another
// account, a cross-site post and a post without a session change nothing;
// the right confirmation erases the subject with a user_erasure audit event
// that the transparency report counts as an erasure; the session then gets
// 410 Gone on every centre page; no file of the data folder holds the
// number's ciphertexts or digits, and neither does the log.
func TestPrivacyCentreErase(t *testing.T) {
	if identity.EraseFreshness != privacy.ExportFreshness {
		t.Fatalf("an erasure accepts a sign-in %s old, the centre's session lasts %s", identity.EraseFreshness, privacy.ExportFreshness)
	}
	h := privacyHarness(t)
	sub := h.signup(numA, "")["subject_id"].(string)
	keep := h.signup(numB, "")["subject_id"].(string)
	h.clock.Advance(2 * time.Minute) // the per-number cooldown since the signups

	anon := &browser{h: h}
	if r := anon.do("GET", "/privacy/erase", nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/privacy" {
		t.Errorf("the erasure page without a session: %d %s", r.status, r.header)
	}
	if r := anon.do("POST", "/privacy/erase", url.Values{"word": {"DELETE"}, "confirm": {sub}}); r.status != http.StatusSeeOther {
		t.Errorf("an erasure without a session: %d", r.status)
	}

	b := &browser{h: h}
	if r := b.signIn(numA); r.status != http.StatusSeeOther || b.cookie == "" {
		t.Fatalf("sign in: %d %s", r.status, r.body)
	}
	if r := b.do("POST", "/privacy/consents", url.Values{"purpose": {"assistant_calls"}, "channel": {"call"}, "action": {"grant"}}); r.status != http.StatusSeeOther {
		t.Fatalf("grant: %d %s", r.status, r.body)
	}
	other := &browser{h: h}
	if r := other.signIn(numB); r.status != http.StatusSeeOther {
		t.Fatalf("sign in of the other account: %d", r.status)
	}
	if !strings.Contains(string(b.do("GET", "/privacy/me", nil).wantStatus(http.StatusOK).body), `href="/privacy/erase"`) {
		t.Error("the centre does not link to the erasure page")
	}
	page := string(b.do("GET", "/privacy/erase", nil).wantStatus(http.StatusOK).body)
	h.transcript.WriteString(page)
	for _, want := range []string{`action="/privacy/erase"`, `name="word"`, `name="confirm"`, "Type DELETE", sub,
		"key is destroyed", "Backups", "abuse_prevention", "365 days", "sign-up with this number is refused",
		"The audit log stays", "cannot be undone", `name="viewport"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the erasure page lacks %q", want)
		}
	}

	secrets := h.sealedOf(sub)
	if len(secrets) < 3 {
		t.Fatalf("found only %d ciphertexts of the number", len(secrets))
	}
	rows := h.rows()
	for _, form := range []url.Values{
		{},
		{"word": {"DELETE"}},
		{"confirm": {sub}},
		{"word": {"delete"}, "confirm": {sub}},
		{"word": {"DELETE!"}, "confirm": {sub}},
		{"word": {"DELETE"}, "confirm": {keep}},
		{"word": {"DELETE"}, "confirm": {sub + "x"}},
		{"word": {sub}, "confirm": {"DELETE"}},
	} {
		r := b.do("POST", "/privacy/erase", form)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `id="error"`) || !strings.Contains(string(r.body), "Nothing was erased") {
			t.Errorf("erase with %v: %d", form, r.status)
		}
	}
	// The other account's session confirms with this subject's id: its own
	// subject is the one it would erase, so the confirmation is wrong.
	if r := other.do("POST", "/privacy/erase", url.Values{"word": {"DELETE"}, "confirm": {sub}}); r.status != http.StatusBadRequest {
		t.Errorf("another account's session: %d", r.status)
	}
	right := url.Values{"word": {"DELETE"}, "confirm": {sub}}
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		if st := b.crossSite("/privacy/erase", right, hdr); st != http.StatusForbidden {
			t.Errorf("a cross-site erasure with %v: %d, want 403", hdr, st)
		}
	}
	if n := h.rows(); n != rows {
		t.Fatalf("refused erasures changed %d rows", n-rows)
	}

	// The service refuses evidence that is not this subject's fresh sign-in.
	ve := b.sessionVerification()
	for _, tc := range []struct {
		req  identity.OwnErasure
		want error
	}{
		{identity.OwnErasure{SubjectID: sub, Verification: other.sessionVerification(), Word: "DELETE", Confirm: sub}, identity.ErrEvidence},
		{identity.OwnErasure{SubjectID: sub, Verification: "ve_aaaaaaaaaaaaaaaaaaaaaaaaaa", Word: "DELETE", Confirm: sub}, identity.ErrEvidence},
		{identity.OwnErasure{SubjectID: sub, Verification: "", Word: "DELETE", Confirm: sub}, identity.ErrEvidence},
		{identity.OwnErasure{SubjectID: sub, Verification: ve, Word: "", Confirm: sub}, identity.ErrConfirm},
		{identity.OwnErasure{SubjectID: "nope", Verification: ve, Word: "DELETE", Confirm: "nope"}, identity.ErrNotFound},
	} {
		if _, err := h.ident.EraseOwn(context.Background(), tc.req); !errors.Is(err, tc.want) {
			t.Errorf("EraseOwn(%+v) = %v, want %v", tc.req, err, tc.want)
		}
	}
	if n := h.rows(); n != rows {
		t.Fatalf("refused erasures changed %d rows", n-rows)
	}
	h.get(h.app, "/v1/subjects/"+sub).wantStatus(http.StatusOK)

	done := b.do("POST", "/privacy/erase", url.Values{"word": {" DELETE "}, "confirm": {sub}})
	if done.status != http.StatusOK || !strings.Contains(string(done.body), `id="erased"`) {
		t.Fatalf("erase: %d %s", done.status, done.body)
	}
	h.transcript.Write(done.body)
	h.get(h.app, "/v1/subjects/"+sub).wantError(http.StatusNotFound, "not_found")
	h.get(h.app, "/v1/subjects/"+keep).wantStatus(http.StatusOK)
	if cs, err := h.db.Consents(context.Background(), sub); err != nil || len(cs) != 0 {
		t.Errorf("consents after erasure: %d, %v", len(cs), err)
	}

	// Every centre page now answers 410 to the session.
	for _, p := range []struct{ method, path string }{
		{"GET", "/privacy/me"}, {"GET", "/privacy/erase"}, {"GET", "/privacy/data"}, {"GET", "/privacy/export"},
		{"POST", "/privacy/consents"}, {"POST", "/privacy/erase"},
	} {
		var form url.Values
		if p.method == "POST" {
			form = url.Values{"word": {"DELETE"}, "confirm": {sub}, "purpose": {"assistant_calls"}, "channel": {"call"}, "action": {"withdraw"}}
		}
		r := b.do(p.method, p.path, form)
		if r.status != http.StatusGone || !strings.Contains(string(r.body), `id="gone"`) {
			t.Errorf("%s %s after erasure: %d", p.method, p.path, r.status)
		}
	}
	if r := b.do("GET", "/privacy", nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/privacy/me" {
		t.Errorf("the sign-in page after erasure: %d %s", r.status, r.header)
	}
	if r := other.do("GET", "/privacy/me", nil); r.status != http.StatusOK {
		t.Errorf("the other account's centre: %d", r.status)
	}

	// The audit log says who asked and with what evidence; the report
	// counts it as an erasure.
	es, err := h.db.AuditEvents(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var erased int
	for _, e := range es {
		if e.Type == privacy.EventErased && e.SubjectID == sub {
			erased++
			if e.Purpose != identity.PurposeUserErasure || e.VerificationID != ve || e.Actor != "privacy-centre" {
				t.Errorf("the erasure event: %+v", e.Event)
			}
		}
	}
	if erased != 1 {
		t.Errorf("%d erasure events, want 1", erased)
	}
	h.post(bootstrapKey, "/v1/audit/checkpoints", "").wantStatus(http.StatusCreated)
	sr, _, err := privacy.ParseReport(h.get("", "/v1/transparency/report").wantStatus(http.StatusOK).body)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range sr.Report.Accesses {
		if a.Purpose == privacy.AccessErasure && (a.Accesses.Min != 1 || a.Numbers.Min != 1) {
			t.Errorf("the report's erasures: %+v", a)
		}
	}

	// Nothing of the number is left in the data folder or the log.
	dir := filepath.Dir(h.dbPath)
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(nsnA)) {
			t.Errorf("%s holds the number's digits", f.Name())
		}
		for i, s := range secrets {
			if bytes.Contains(data, s) {
				t.Errorf("%s still holds ciphertext %d of the erased number", f.Name(), i)
			}
		}
	}
	if strings.Contains(h.logs.String(), nsnA) {
		t.Error("the log holds the number's digits")
	}

	// A sign-in approved too long ago is no evidence, even for the service.
	h.clock.Advance(identity.EraseFreshness + time.Second)
	if _, err := h.ident.EraseOwn(context.Background(), identity.OwnErasure{SubjectID: keep, Verification: other.sessionVerification(),
		Word: "DELETE", Confirm: keep}); !errors.Is(err, identity.ErrEvidence) {
		t.Errorf("a stale sign-in: %v, want ErrEvidence", err)
	}
	h.get(h.app, "/v1/subjects/"+keep).wantStatus(http.StatusOK)
}
