package api_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/api"
)

const staffPassword = "correct horse battery staple"

// withAccess turns on accounts and staff access, with cheap password hashing.
func withAccess(t testing.TB) options {
	return options{identity: true, configure: func(h *harness, cfg *api.Config) {
		c := access.DefaultConfig()
		c.Argon2 = access.Argon2{Memory: 64, Time: 1, Threads: 1}
		svc, err := access.NewService(c, h.db, h.keys, h.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Access = svc
		h.logSecrets = append(h.logSecrets, staffPassword)
	}}
}

// totp plays the authenticator app: RFC 6238, SHA-1, 6 digits, 30 s.
func totp(t testing.TB, secret string, at time.Time) string {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha1.New, key)
	binary.Write(mac, binary.BigEndian, uint64(at.Unix()/30))
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7fffffff)%1_000_000)
}

// member is a staff account made through the API.
type member struct {
	id, email, secret string
}

// addStaff creates a staff account with the bootstrap (admin) key.
func (h *harness) addStaff(email string, role access.Role) member {
	h.t.Helper()
	r := h.post(bootstrapKey, "/v1/staff", fmt.Sprintf(`{"email":%q,"role":%q,"password":%q}`, email, role, staffPassword)).
		wantStatus(http.StatusCreated)
	m := member{id: r.str("id"), email: email, secret: r.str("totp_secret")}
	if !strings.HasPrefix(m.id, "stf_") || m.secret == "" || !strings.HasPrefix(r.str("totp_url"), "otpauth://totp/") {
		h.t.Fatalf("create staff: %s", r.body)
	}
	h.logSecrets = append(h.logSecrets, m.secret)
	return m
}

func loginBody(email, password, code string) string {
	return fmt.Sprintf(`{"email":%q,"password":%q,"totp":%q}`, email, password, code)
}

// login logs m in with the current code and returns the session token.
func (h *harness) login(m member) string {
	h.t.Helper()
	r := h.post("", "/v1/staff/login", loginBody(m.email, staffPassword, totp(h.t, m.secret, h.clock.Now()))).wantStatus(http.StatusOK)
	token := r.str("token")
	if !strings.HasPrefix(token, "rfs_") {
		h.t.Fatalf("login: %s", r.body)
	}
	h.logSecrets = append(h.logSecrets, token)
	return token
}

// use asks for the number of a reveal. The one answer that holds a number
// is validated against openapi.json but kept out of the transcript the leak
// check reads; every other answer goes through h.do.
func (h *harness) use(token, id string) *resp {
	h.t.Helper()
	hr := httptest.NewRequest("POST", "/v1/reveals/"+id+"/use", strings.NewReader(""))
	hr.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, hr)
	out := &resp{t: h.t, status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	validateResponse(h.t, hr, out, false)
	if out.status != http.StatusOK {
		h.transcript.Write(out.body)
		h.transcript.WriteString("\n")
	}
	return out
}

// revealEvents returns the actors of the audit events of a type about a reveal.
func (h *harness) revealEvents(typ, revealID, purpose, subject string) []string {
	h.t.Helper()
	es, err := h.db.AuditEvents(h.t.Context(), 0, 10000)
	if err != nil {
		h.t.Fatal(err)
	}
	var actors []string
	for _, e := range es {
		if e.Type != typ || e.VerificationID != revealID {
			continue
		}
		if string(e.Purpose) != purpose || e.SubjectID != subject {
			h.t.Errorf("%s event: purpose %q subject %q", typ, e.Purpose, e.SubjectID)
		}
		actors = append(actors, e.Actor)
	}
	return actors
}

func revealBody(subject, purpose string) string {
	return fmt.Sprintf(`{"subject_id":%q,"purpose":%q,"justification":"abuse report names this account","ticket":"TS-1001"}`, subject, purpose)
}

// TestRevealStory: a reveal goes through request, two approvals by other
// staff, one use, and then cannot be used again; each step is in the log.
func TestRevealStory(t *testing.T) {
	h := newHarness(t, withAccess(t))
	sub := h.signup(numA, "")["subject_id"].(string)
	req, viewer := h.addStaff("req@example.com", access.RoleReviewer), h.addStaff("viewer@example.com", access.RoleViewer)
	a1, a2 := h.addStaff("a1@example.com", access.RoleApprover), h.addStaff("a2@example.com", access.RoleAdmin)
	tReq, tViewer, tA1, tA2 := h.login(req), h.login(viewer), h.login(a1), h.login(a2)

	// Bad requests change nothing.
	before := h.rows()
	h.post("", "/v1/reveals", revealBody(sub, "tos_review")).wantError(http.StatusUnauthorized, "unauthorized")
	h.post(h.app, "/v1/reveals", revealBody(sub, "tos_review")).wantError(http.StatusForbidden, "forbidden")
	h.post(bootstrapKey, "/v1/reveals", revealBody(sub, "tos_review")).wantError(http.StatusForbidden, "forbidden")
	h.post(tViewer, "/v1/reveals", revealBody(sub, "tos_review")).wantError(http.StatusForbidden, "forbidden")
	h.post(tReq, "/v1/reveals", revealBody(sub, "marketing")).wantError(http.StatusBadRequest, "invalid_purpose")
	h.post(tReq, "/v1/reveals", revealBody(sub, "sharing")).wantError(http.StatusBadRequest, "invalid_purpose")
	h.post(tReq, "/v1/reveals", `{"subject_id":"`+sub+`","purpose":"legal","justification":"abuse report"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.post(tReq, "/v1/reveals", `{"subject_id":"`+sub+`","purpose":"legal","justification":"short","ticket":"T-1"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.post(tReq, "/v1/reveals", revealBody("sub_aaaaaaaaaaaaaaaaaaaaaaaaaa", "legal")).wantError(http.StatusNotFound, "not_found")
	if after := h.rows(); after != before {
		t.Fatalf("refused reveal requests stored %d rows", after-before)
	}

	r := h.post(tReq, "/v1/reveals", revealBody(sub, "tos_review")).wantStatus(http.StatusCreated).json()
	id := r["id"].(string)
	if r["status"] != "pending" || r["approvals_needed"] != 2.0 || r["masked"] != "+1 ••• ••• 0123" || r["requested_by"] != req.id {
		t.Fatalf("new reveal: %v", r)
	}
	h.use(tReq, id).wantError(http.StatusConflict, "reveal_not_approved")
	h.post(tReq, "/v1/reveals/"+id+"/approve", "").wantError(http.StatusForbidden, "self_approval")
	h.post(tViewer, "/v1/reveals/"+id+"/approve", "").wantError(http.StatusForbidden, "forbidden")
	h.post(h.app, "/v1/reveals/"+id+"/approve", "").wantError(http.StatusForbidden, "forbidden")

	r = h.post(tA1, "/v1/reveals/"+id+"/approve", "").wantStatus(http.StatusOK).json()
	if r["status"] != "pending" || r["approvals_needed"] != 1.0 {
		t.Fatalf("after one approval: %v", r)
	}
	h.post(tA1, "/v1/reveals/"+id+"/approve", "").wantError(http.StatusConflict, "already_approved")
	h.use(tReq, id).wantError(http.StatusConflict, "reveal_not_approved")
	queue := h.get(tViewer, "/v1/reveals?status=pending").wantStatus(http.StatusOK).json()["reveals"].([]any)
	if len(queue) != 1 || queue[0].(map[string]any)["id"] != id {
		t.Fatalf("the queue: %v", queue)
	}

	r = h.post(tA2, "/v1/reveals/"+id+"/approve", "{}").wantStatus(http.StatusOK).json()
	if r["status"] != "approved" || r["approvals_needed"] != 0.0 || len(r["approvals"].([]any)) != 2 || r["use_by"] == nil {
		t.Fatalf("after two approvals: %v", r)
	}
	if q := h.get(tViewer, "/v1/reveals?status=pending").json()["reveals"].([]any); len(q) != 0 {
		t.Errorf("the queue after approval: %v", q)
	}
	h.use(tA1, id).wantError(http.StatusForbidden, "forbidden")

	got := h.use(tReq, id).wantStatus(http.StatusOK).json()
	if got["phone"] != numA || got["masked"] != "+1 ••• ••• 0123" || got["id"] != id || got["purpose"] != "tos_review" {
		t.Fatalf("use: status %v, keys %d", got["purpose"], len(got))
	}
	h.use(tReq, id).wantError(http.StatusConflict, "reveal_used")
	if st := h.get(tViewer, "/v1/reveals/"+id).wantStatus(http.StatusOK).str("status"); st != "used" {
		t.Errorf("status after use: %s", st)
	}

	// Every step is in the log, by its actor, with purpose and subject.
	for _, tc := range []struct {
		typ  string
		want []string
	}{
		{"reveal.requested", []string{req.id}},
		{"reveal.approved", []string{a1.id, a2.id}},
		{"reveal.used", []string{req.id}},
		{"reveal.refused", []string{req.id, req.id, viewer.id, a1.id, req.id, a1.id, req.id}},
	} {
		if got := h.revealEvents(tc.typ, id, "tos_review", sub); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s events by %v, want %v", tc.typ, got, tc.want)
		}
	}
	if strings.Contains(h.logs.String(), numA) || strings.Contains(h.logs.String(), nsnA) {
		t.Error("the log holds the revealed number")
	}
}

func TestRevealExpiryAndDenial(t *testing.T) {
	h := newHarness(t, withAccess(t))
	sub := h.signup(numA, "")["subject_id"].(string)
	req := h.addStaff("req@example.com", access.RoleReviewer)
	a1, a2 := h.addStaff("a1@example.com", access.RoleApprover), h.addStaff("a2@example.com", access.RoleApprover)
	tReq, tA1, tA2 := h.login(req), h.login(a1), h.login(a2)
	keepAlive := func() { // sessions end after 30 idle minutes
		for _, tok := range []string{tReq, tA1, tA2} {
			h.get(tok, "/v1/reveals?limit=1").wantStatus(http.StatusOK)
		}
	}

	// Approvals expire with the request's 24-hour window.
	id := h.post(tReq, "/v1/reveals", revealBody(sub, "tos_review")).wantStatus(http.StatusCreated).str("id")
	h.post(tA1, "/v1/reveals/"+id+"/approve", "").wantStatus(http.StatusOK)
	h.clock.Advance(24 * time.Hour)
	h.get(tReq, "/v1/reveals").wantError(http.StatusUnauthorized, "unauthorized") // sessions ended long ago
	tReq, tA1, tA2 = h.login(req), h.login(a1), h.login(a2)
	if h.get(tReq, "/v1/reveals/"+id).str("status") != "expired" {
		t.Error("request past its window is not expired")
	}
	h.post(tA2, "/v1/reveals/"+id+"/approve", "").wantError(http.StatusConflict, "reveal_expired")
	h.use(tReq, id).wantError(http.StatusConflict, "reveal_expired")

	// An approved reveal is usable for an hour after the final approval.
	id = h.post(tReq, "/v1/reveals", revealBody(sub, "recovery_support")).wantStatus(http.StatusCreated).str("id")
	if r := h.post(tA1, "/v1/reveals/"+id+"/approve", "").wantStatus(http.StatusOK); r.str("status") != "approved" {
		t.Fatalf("recovery_support after one approval: %s", r.body)
	}
	h.clock.Advance(20 * time.Minute)
	keepAlive()
	h.clock.Advance(20 * time.Minute)
	keepAlive()
	h.clock.Advance(20 * time.Minute)
	h.use(tReq, id).wantError(http.StatusConflict, "reveal_expired")
	if q := h.get(tReq, "/v1/reveals?status=expired").json()["reveals"].([]any); len(q) != 2 {
		t.Errorf("%d expired reveals, want 2", len(q))
	}

	// A denial closes the request.
	id = h.post(tReq, "/v1/reveals", revealBody(sub, "legal")).wantStatus(http.StatusCreated).str("id")
	h.post(tA1, "/v1/reveals/"+id+"/deny", `{"reason":""}`).wantError(http.StatusBadRequest, "invalid_request")
	h.post(tA1, "/v1/reveals/"+id+"/deny", "").wantError(http.StatusUnsupportedMediaType, "unsupported_media_type")
	r := h.post(tA1, "/v1/reveals/"+id+"/deny", `{"reason":"no legal basis on file"}`).wantStatus(http.StatusOK).json()
	if r["status"] != "denied" || r["denied_by"] != a1.id || r["deny_reason"] != "no legal basis on file" {
		t.Fatalf("denied: %v", r)
	}
	h.post(tA2, "/v1/reveals/"+id+"/approve", "").wantError(http.StatusConflict, "reveal_closed")
	h.post(tA2, "/v1/reveals/"+id+"/deny", `{"reason":"again"}`).wantError(http.StatusConflict, "reveal_closed")
	h.use(tReq, id).wantError(http.StatusConflict, "reveal_denied")
	if got := h.revealEvents("reveal.denied", id, "legal", sub); len(got) != 1 || got[0] != a1.id {
		t.Errorf("reveal.denied events by %v", got)
	}

	// Unknown and malformed ids, bad filters.
	h.post(tA1, "/v1/reveals/rev_aaaaaaaaaaaaaaaaaaaaaaaaaa/approve", "").wantError(http.StatusNotFound, "not_found")
	h.use(tReq, "nope").wantError(http.StatusNotFound, "not_found")
	h.get(tReq, "/v1/reveals?status=secret").wantError(http.StatusBadRequest, "invalid_request")
	h.get(tReq, "/v1/reveals?limit=0").wantError(http.StatusBadRequest, "invalid_request")
}

func TestStaffLogin(t *testing.T) {
	h := newHarness(t, withAccess(t))
	ann := h.addStaff("ann@example.com", access.RoleApprover)
	h.post(bootstrapKey, "/v1/staff", `{"email":"ANN@example.com","role":"viewer","password":"another long password"}`).wantError(http.StatusConflict, "conflict")
	h.post(bootstrapKey, "/v1/staff", `{"email":"bob@example.com","role":"owner","password":"another long password"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.post(bootstrapKey, "/v1/staff", `{"email":"bob@example.com","role":"viewer","password":"short"}`).wantError(http.StatusBadRequest, "invalid_request")
	h.post(h.app, "/v1/staff", `{"email":"bob@example.com","role":"viewer","password":"another long password"}`).wantError(http.StatusForbidden, "forbidden")

	h.post("", "/v1/staff/login", `{"email":"ann@example.com","password":"x"}`).wantError(http.StatusBadRequest, "invalid_request")
	// A wrong password and an unknown email answer alike.
	code := totp(t, ann.secret, h.clock.Now())
	wrong := h.post("", "/v1/staff/login", loginBody("ann@example.com", "wrong password!", code)).wantError(http.StatusUnauthorized, "invalid_login")
	unknown := h.post("", "/v1/staff/login", loginBody("nobody@example.com", "wrong password!", code)).wantError(http.StatusUnauthorized, "invalid_login")
	if !bytes.Equal(wrong.body, unknown.body) {
		t.Errorf("answers differ: %s / %s", wrong.body, unknown.body)
	}

	// TOTP: a code works once.
	token := h.login(ann)
	h.post("", "/v1/staff/login", loginBody(ann.email, staffPassword, code)).wantError(http.StatusUnauthorized, "invalid_login")
	h.get(token, "/v1/reveals").wantStatus(http.StatusOK)

	// A session token is not an API key, nor the other way round.
	h.get(token, "/v1/verifications/ve_aaaaaaaaaaaaaaaaaaaaaaaaaa").wantError(http.StatusUnauthorized, "unauthorized")
	h.get(h.app, "/v1/reveals").wantError(http.StatusForbidden, "forbidden")
	h.get(token, "/v1/staff").wantError(http.StatusForbidden, "forbidden")
	h.get("rfs_"+strings.Repeat("a", 52), "/v1/reveals").wantError(http.StatusUnauthorized, "unauthorized")

	// Lockout: the fifth failure in a row locks the account for 15 minutes.
	for range 4 {
		h.post("", "/v1/staff/login", loginBody(ann.email, "wrong password!", code)).wantError(http.StatusUnauthorized, "invalid_login")
	}
	r := h.post("", "/v1/staff/login", loginBody(ann.email, staffPassword, totp(t, ann.secret, h.clock.Now()))).wantError(http.StatusLocked, "locked")
	if r.header.Get("Retry-After") != "900" {
		t.Errorf("Retry-After %q, want 900", r.header.Get("Retry-After"))
	}
	h.get(token, "/v1/reveals").wantStatus(http.StatusOK) // a session already open stays open
	h.clock.Advance(15 * time.Minute)
	token = h.login(ann)

	// Logout ends the session.
	h.post(token, "/v1/staff/logout", "").wantStatus(http.StatusNoContent)
	h.get(token, "/v1/reveals").wantError(http.StatusUnauthorized, "unauthorized")

	// An admin's session manages staff; disabling ends the account's sessions.
	h.clock.Advance(30 * time.Second)
	boss := h.addStaff("boss@example.com", access.RoleAdmin)
	tBoss, tAnn := h.login(boss), h.login(ann)
	carl := h.post(tBoss, "/v1/staff", `{"email":"carl@example.com","role":"reviewer","password":"a long enough password"}`).wantStatus(http.StatusCreated)
	h.logSecrets = append(h.logSecrets, carl.str("totp_secret"))
	if list := h.get(tBoss, "/v1/staff").wantStatus(http.StatusOK).json()["staff"].([]any); len(list) != 3 {
		t.Errorf("%d staff, want 3", len(list))
	}
	h.post(tAnn, "/v1/staff/"+boss.id+"/disable", "").wantError(http.StatusForbidden, "forbidden")
	if r := h.post(tBoss, "/v1/staff/"+ann.id+"/disable", "").wantStatus(http.StatusOK); r.str("disabled_at") == "" {
		t.Errorf("disable: %s", r.body)
	}
	h.get(tAnn, "/v1/reveals").wantError(http.StatusUnauthorized, "unauthorized")
	h.clock.Advance(30 * time.Second)
	h.post("", "/v1/staff/login", loginBody(ann.email, staffPassword, totp(t, ann.secret, h.clock.Now()))).wantError(http.StatusUnauthorized, "invalid_login")
	h.post(bootstrapKey, "/v1/staff/stf_aaaaaaaaaaaaaaaaaaaaaaaaaa/disable", "").wantError(http.StatusNotFound, "not_found")
}
