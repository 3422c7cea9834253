package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/api"
	"github.com/ringfence/ringfence/internal/console"
	"github.com/ringfence/ringfence/internal/fraud"
)

// staffConsoleHarness mounts the staff console on a harness made with opts
// (which must turn staff access on).
func staffConsoleHarness(t *testing.T, opts options) *harness {
	t.Helper()
	pages := map[string]http.Handler{}
	configure := opts.configure
	opts.mount = pages
	opts.configure = func(h *harness, cfg *api.Config) {
		configure(h, cfg)
		c, err := console.New(console.Config{Verify: cfg.Verify, Access: cfg.Access, AuditLog: h.db, Now: h.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		pages["/"] = c.Handler()
	}
	return newHarness(t, opts)
}

// staffBrowser keeps the staff console's cookie.
type staffBrowser struct{ browser }

func (b *staffBrowser) signIn(m member) *resp {
	b.h.t.Helper()
	r := b.do("POST", "/staff/login", url.Values{"email": {m.email}, "password": {staffPassword}, "totp": {totp(b.h.t, m.secret, b.h.clock.Now())}})
	for _, c := range strings.Split(r.header.Get("Set-Cookie"), ";") {
		if v, ok := strings.CutPrefix(c, "rf_staff="); ok {
			b.cookie = "rf_staff=" + v
			b.h.logSecrets = append(b.h.logSecrets, v)
		}
	}
	return r
}

// TestStaffConsoleApprovals: a tos_review reveal requested through the API
// is approved by two approvers on the console; a viewer sees the queue but
// cannot open the approval page, and neither a viewer nor a reviewer may
// approve or deny (403, and the request stays pending with no event).
func TestStaffConsoleApprovals(t *testing.T) {
	h := staffConsoleHarness(t, withAccess(t))
	sub := h.signup(numA, "")["subject_id"].(string)
	reqr := h.addStaff("req@example.com", access.RoleReviewer)
	a1, a2 := h.addStaff("a1@example.com", access.RoleApprover), h.addStaff("a2@example.com", access.RoleApprover)
	viewer := h.addStaff("viewer@example.com", access.RoleViewer)
	id := h.post(h.login(reqr), "/v1/reveals", revealBody(sub, "tos_review")).wantStatus(http.StatusCreated).str("id")

	anon := &staffBrowser{browser{h: h}}
	if r := anon.do("GET", "/staff/reveals", nil); r.status != http.StatusSeeOther {
		t.Fatalf("signed out: %d", r.status)
	}
	if r := anon.do("POST", "/staff/login", url.Values{"email": {a1.email}, "password": {"wrong"}, "totp": {"000000"}}); r.status != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d", r.status)
	}

	v := &staffBrowser{browser{h: h}}
	if r := v.signIn(viewer); r.status != http.StatusSeeOther || v.cookie == "" {
		t.Fatalf("viewer sign-in: %d %s", r.status, r.body)
	}
	q := string(v.do("GET", "/staff/reveals", nil).wantStatus(http.StatusOK).body)
	if !strings.Contains(q, id) || strings.Contains(q, `href="/staff/reveals/`+id) {
		t.Errorf("the viewer's queue: %s", q)
	}
	if r := v.do("GET", "/staff/reveals/"+id, nil); r.status != http.StatusForbidden {
		t.Errorf("the viewer opened the approval page: %d", r.status)
	}
	if r := v.do("POST", "/staff/reveals/"+id+"/approve", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("the viewer approved: %d", r.status)
	}
	if r := v.do("POST", "/staff/reveals/"+id+"/deny", url.Values{"reason": {"not needed"}}); r.status != http.StatusForbidden {
		t.Errorf("the viewer denied: %d", r.status)
	}

	// The requester (a reviewer) may not approve either.
	h.clock.Advance(30 * time.Second) // a TOTP code signs in once
	rq := &staffBrowser{browser{h: h}}
	if r := rq.signIn(reqr); r.status != http.StatusSeeOther {
		t.Fatalf("requester sign-in: %d %s", r.status, r.body)
	}
	if r := rq.do("POST", "/staff/reveals/"+id+"/approve", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("the requester approved: %d", r.status)
	}
	// Another reviewer may not deny it (the requester may withdraw their
	// own request, which access.Service.Deny allows, so that is not tried
	// here).
	h.clock.Advance(30 * time.Second)
	rv := &staffBrowser{browser{h: h}}
	if r := rv.signIn(h.addStaff("rev2@example.com", access.RoleReviewer)); r.status != http.StatusSeeOther {
		t.Fatalf("reviewer sign-in: %d %s", r.status, r.body)
	}
	if r := rv.do("POST", "/staff/reveals/"+id+"/deny", url.Values{"reason": {"not needed"}}); r.status != http.StatusForbidden {
		t.Errorf("another reviewer denied: %d", r.status)
	}
	if r := rv.do("POST", "/staff/reveals/"+id+"/approve", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("another reviewer approved: %d", r.status)
	}
	h.clock.Advance(30 * time.Second)
	if st := h.get(h.login(reqr), "/v1/reveals/"+id).str("status"); st != "pending" {
		t.Fatalf("after refused decisions below approver: %s, want pending", st)
	}
	if got := h.revealEvents("reveal.approved", id, "tos_review", sub); len(got) != 0 {
		t.Errorf("refused approvals left approval events by %v", got)
	}

	for i, m := range []member{a1, a2} {
		b := &staffBrowser{browser{h: h}}
		if r := b.signIn(m); r.status != http.StatusSeeOther {
			t.Fatalf("approver sign-in: %d %s", r.status, r.body)
		}
		page := string(b.do("GET", "/staff/reveals/"+id, nil).wantStatus(http.StatusOK).body)
		if !strings.Contains(page, `id="approve"`) || !strings.Contains(page, "&#43;1 ••• ••• 0123") {
			t.Fatalf("approval page: %s", page)
		}
		r := b.do("POST", "/staff/reveals/"+id+"/approve", url.Values{})
		if r.status != http.StatusSeeOther {
			t.Fatalf("approve %d: %d %s", i+1, r.status, r.body)
		}
		if i == 0 {
			if r := b.do("POST", "/staff/reveals/"+id+"/approve", url.Values{}); r.status != http.StatusConflict {
				t.Errorf("a second approval by the same approver: %d", r.status)
			}
		}
	}
	h.clock.Advance(30 * time.Second)
	if st := h.get(h.login(reqr), "/v1/reveals/"+id).str("status"); st != "approved" {
		t.Errorf("after two approvals on the console: %s", st)
	}
	if got := h.revealEvents("reveal.approved", id, "tos_review", sub); len(got) != 2 || got[0] != a1.id || got[1] != a2.id {
		t.Errorf("approval events by %v", got)
	}

	// The requester sees the number once, on the console; then never again.
	mine := string(rq.do("GET", "/staff/reveals?status=approved", nil).wantStatus(http.StatusOK).body)
	if !strings.Contains(mine, `id="use-`+id+`"`) {
		t.Fatalf("no reveal button for the requester: %s", mine)
	}
	if r := v.do("POST", "/staff/reveals/"+id+"/use", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("the viewer used the reveal: %d", r.status)
	}
	shown := rq.do("POST", "/staff/reveals/"+id+"/use", url.Values{}).wantStatus(http.StatusOK)
	if !strings.Contains(string(shown.body), "&#43;"+numA[1:]) || shown.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the reveal page: %s %s", shown.header, shown.body)
	}
	if r := rq.do("POST", "/staff/reveals/"+id+"/use", url.Values{}); r.status != http.StatusConflict || strings.Contains(string(r.body), numA[2:]) {
		t.Errorf("a second use: %d", r.status)
	}

	// The audit browser shows every step, filtered, each linked to its proof;
	// any staff role may read it.
	log := string(v.do("GET", "/staff/audit?type=reveal.&subject="+sub, nil).wantStatus(http.StatusOK).body)
	for _, want := range []string{"reveal.requested (tos_review)", "reveal.approved (tos_review)", "reveal.used (tos_review)", `href="/v1/audit/proofs/inclusion/`} {
		if !strings.Contains(log, want) {
			t.Errorf("the audit page lacks %q", want)
		}
	}
	if strings.Contains(log, "verification.started") {
		t.Error("the type filter let another type through")
	}
	if r := v.do("GET", "/staff/audit?before=abc", nil); r.status != http.StatusBadRequest {
		t.Errorf("a bad page: %d", r.status)
	}
	if r := anon.do("GET", "/staff/audit", nil); r.status != http.StatusSeeOther {
		t.Errorf("the audit log without signing in: %d", r.status)
	}

	// Signing out ends the session.
	v.do("POST", "/staff/logout", url.Values{})
	if r := v.do("GET", "/staff/reveals", nil); r.status != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", r.status)
	}
}

func TestStaffConsoleFraud(t *testing.T) {
	off := staffConsoleHarness(t, withAccess(t))
	b := &staffBrowser{browser{h: off}}
	b.signIn(off.addStaff("viewer@example.com", access.RoleViewer))
	if page := string(b.do("GET", "/staff/fraud", nil).wantStatus(http.StatusOK).body); !strings.Contains(page, `id="off"`) {
		t.Errorf("guard off: %s", page)
	}

	opts := withAccess(t)
	opts.guard = func(*fraud.Config) {}
	h := staffConsoleHarness(t, opts)
	h.post(bootstrapKey, "/v1/fraud/lists", `{"kind":"country","value":"de","action":"block","reason":"abuse wave"}`).wantStatus(http.StatusCreated)
	b = &staffBrowser{browser{h: h}}
	b.signIn(h.addStaff("viewer@example.com", access.RoleViewer))
	page := string(b.do("GET", "/staff/fraud", nil).wantStatus(http.StatusOK).body)
	for _, want := range []string{`id="stats"`, "country <code>DE</code>", "abuse wave", `id="no-breakers"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the fraud page lacks %q: %s", want, page)
		}
	}
}

// TestSpendView: the fraud page shows today's spend per country and in all
// against the caps, counting allowed sends only, and says the figures are
// the instance's own, in memory.
func TestSpendView(t *testing.T) {
	opts := withAccess(t)
	var h *harness
	opts.guard = func(c *fraud.Config) {
		c.Now = func() time.Time { return h.clock.Now() }
		c.Spend.Prices = map[string]float64{"US": 0.07}
	}
	h = staffConsoleHarness(t, opts)
	b := &staffBrowser{browser{h: h}}
	b.signIn(h.addStaff("viewer@example.com", access.RoleViewer))
	spend := func() string {
		t.Helper()
		page := string(b.do("GET", "/staff/fraud", nil).wantStatus(http.StatusOK).body)
		start, end := strings.Index(page, `<table id="spend">`), strings.Index(page, `id="spend-note"`)
		if start < 0 || end < start {
			t.Fatalf("the fraud page has no spend table: %s", page)
		}
		if !strings.Contains(page[end:], "this instance") || !strings.Contains(page[end:], "in memory") {
			t.Errorf("the spend note does not say the figures are per instance and in memory: %s", page[end:])
		}
		return page[start:end]
	}
	table := spend()
	if !strings.Contains(table, "<td>All countries</td><td>0</td><td>500</td>") || strings.Contains(table, "<td>US</td>") {
		t.Errorf("before any send: %s", table)
	}

	h.signup(numA, "")
	h.post(bootstrapKey, "/v1/fraud/lists", `{"kind":"country","value":"de","action":"block","reason":"abuse wave"}`).wantStatus(http.StatusCreated)
	h.start(`{"phone":"` + numDE + `","channel":"sms","purpose":"signup"}`).wantStatus(http.StatusForbidden)
	table = spend()
	for _, want := range []string{"<td>All countries</td><td>0.07</td><td>500</td>", "<td>US</td><td>0.07</td><td>100</td>"} {
		if !strings.Contains(table, want) {
			t.Errorf("the spend table lacks %q: %s", want, table)
		}
	}
	if strings.Contains(table, "DE") {
		t.Errorf("a refused send was counted: %s", table)
	}
}
