package access_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/store"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// The service runs on a real SQLite store here; the store suite runs the
// same operations on Postgres too.

const (
	e164     = "+14155550123"
	subject  = "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	password = "correct horse battery staple"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	t     *testing.T
	db    *store.DB
	keys  *vault.Keyring
	clock *clock
	svc   *access.Service
	// secrets of the authenticator apps, by staff id
	secrets map[string]string
}

func newEnv(t *testing.T, cfg func(*access.Config)) *env {
	t.Helper()
	keyDir := filepath.Join(t.TempDir(), "keys")
	if _, err := vault.Generate(keyDir); err != nil {
		t.Fatal(err)
	}
	keys, err := vault.Load(keyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.Context(), store.Config{URL: filepath.Join(t.TempDir(), "rf.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := access.DefaultConfig()
	c.Argon2 = access.Argon2{Memory: 64, Time: 1, Threads: 1}
	if cfg != nil {
		cfg(&c)
	}
	e := &env{t: t, db: db, keys: keys, clock: &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}, secrets: map[string]string{}}
	if e.svc, err = access.NewService(c, db, keys, e.clock.Now); err != nil {
		t.Fatal(err)
	}
	err = db.Write(t.Context(), func(vtx verify.Tx) error {
		tx := vtx.(identity.Tx)
		now := e.clock.Now()
		if err := tx.InsertSubject(&identity.Subject{ID: subject, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return tx.InsertBinding(&identity.Binding{PhoneIndex: keys.BlindIndex("phone", e164), SubjectID: subject,
			PhoneSealed: keys.Seal([]byte(e164), []byte("binding:"+subject)), Masked: "+1 ••• ••• 0123",
			Country: "US", LineType: "mobile", BoundAt: now, LastVerifiedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) staff(email string, role access.Role) *access.Staff {
	e.t.Helper()
	st, enr, err := e.svc.CreateStaff(e.t.Context(), "test", email, role, password)
	if err != nil {
		e.t.Fatal(err)
	}
	e.secrets[st.ID] = enr.Secret
	return st
}

func (e *env) code(st *access.Staff) string {
	return access.TOTPCode(e.secrets[st.ID], e.clock.Now())
}

// events returns the audit events of a type, in order.
func (e *env) events(typ string) []verify.Event {
	e.t.Helper()
	es, err := e.db.AuditEvents(e.t.Context(), 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []verify.Event
	for _, ev := range es {
		if ev.Type == typ {
			out = append(out, ev.Event)
		}
	}
	return out
}

func TestCreateStaff(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	st := e.staff(" Ann@Example.com ", access.RoleAdmin)
	if !vault.ValidID("stf", st.ID) || st.Email != "ann@example.com" || !strings.HasPrefix(st.PasswordHash, "$argon2id$v=19$") {
		t.Errorf("staff %+v", st)
	}
	if strings.Contains(string(st.TOTPSealed), e.secrets[st.ID]) || len(st.TOTPSealed) < 20 {
		t.Error("the TOTP secret is not sealed")
	}
	for name, tc := range map[string]struct {
		email, password string
		role            access.Role
		want            error
	}{
		"taken email":    {"ANN@example.com", password, access.RoleViewer, access.ErrConflict},
		"short password": {"bob@example.com", "short", access.RoleViewer, access.ErrInvalidRequest},
		"no email":       {"bob", password, access.RoleViewer, access.ErrInvalidRequest},
		"bad role":       {"bob@example.com", password, "owner", access.ErrInvalidRequest},
	} {
		if _, _, err := e.svc.CreateStaff(ctx, "test", tc.email, tc.role, tc.password); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if all, _ := e.svc.ListStaff(ctx); len(all) != 1 {
		t.Errorf("%d staff, want 1", len(all))
	}
	if ev := e.events("staff.created"); len(ev) != 1 || ev[0].Actor != "test" || !strings.HasPrefix(ev[0].Detail, st.ID) {
		t.Errorf("staff.created events %+v", ev)
	}
}

func TestLoginAndSessions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	st := e.staff("ann@example.com", access.RoleApprover)

	token, sess, got, err := e.svc.Login(ctx, "ANN@example.com", password, e.code(st))
	if err != nil || got.ID != st.ID || !access.IsSessionToken(token) || !sess.ExpiresAt.Equal(e.clock.Now().Add(12*time.Hour)) {
		t.Fatalf("Login = %q, %+v, %v", token, sess, err)
	}
	if who, err := e.svc.Authenticate(ctx, token); err != nil || who.ID != st.ID {
		t.Fatalf("Authenticate = %+v, %v", who, err)
	}
	for _, bad := range []string{"", "rfk_" + token[4:], token[:len(token)-1] + "a", strings.ToUpper(token)} {
		if bad == token {
			continue
		}
		if _, err := e.svc.Authenticate(ctx, bad); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q): %v", bad, err)
		}
	}

	// Used every 20 minutes, a session lives 12 hours; idle for 30 minutes, it ends.
	for range 12*3 - 1 {
		e.clock.Advance(20 * time.Minute)
		if _, err := e.svc.Authenticate(ctx, token); err != nil {
			t.Fatalf("after %v: %v", e.clock.Now().Sub(sess.CreatedAt), err)
		}
	}
	e.clock.Advance(20 * time.Minute)
	if _, err := e.svc.Authenticate(ctx, token); !errors.Is(err, access.ErrUnauthenticated) {
		t.Errorf("after 12 h: %v", err)
	}
	token, _, _, err = e.svc.Login(ctx, "ann@example.com", password, e.code(st))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Minute)
	if _, err := e.svc.Authenticate(ctx, token); !errors.Is(err, access.ErrUnauthenticated) {
		t.Errorf("after 30 idle minutes: %v", err)
	}

	// Logout ends a session; disabling an account ends all of them.
	e.clock.Advance(time.Minute)
	t1, _, _, err := e.svc.Login(ctx, "ann@example.com", password, e.code(st))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, t1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, t1); !errors.Is(err, access.ErrUnauthenticated) {
		t.Errorf("after logout: %v", err)
	}
	e.clock.Advance(time.Minute)
	t2, _, _, err := e.svc.Login(ctx, "ann@example.com", password, e.code(st))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DisableStaff(ctx, "test", st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, t2); !errors.Is(err, access.ErrUnauthenticated) {
		t.Errorf("session of a disabled account: %v", err)
	}
	e.clock.Advance(time.Minute)
	if _, _, _, err := e.svc.Login(ctx, "ann@example.com", password, e.code(st)); !errors.Is(err, access.ErrBadLogin) {
		t.Errorf("login of a disabled account: %v", err)
	}
}

func TestLoginTOTPReplay(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	st := e.staff("ann@example.com", access.RoleViewer)
	code := e.code(st)
	if _, _, _, err := e.svc.Login(ctx, "ann@example.com", password, code); err != nil {
		t.Fatal(err)
	}
	// The same code, still within its step or the next, is refused.
	for _, d := range []time.Duration{0, 30 * time.Second} {
		e.clock.Advance(d)
		if _, _, _, err := e.svc.Login(ctx, "ann@example.com", password, code); !errors.Is(err, access.ErrBadLogin) {
			t.Errorf("replayed code after %v: %v", d, err)
		}
	}
	if ev := e.events("staff.login_failed"); len(ev) != 2 || ev[0].Detail != "totp_replay" || ev[0].Actor != st.ID {
		t.Errorf("login_failed events %+v", ev)
	}
	// The code of a new step works.
	if _, _, _, err := e.svc.Login(ctx, "ann@example.com", password, e.code(st)); err != nil {
		t.Errorf("fresh code: %v", err)
	}
	// Two concurrent logins with one fresh code: one session.
	e.clock.Advance(30 * time.Second)
	code = e.code(st)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for range 4 {
		wg.Go(func() {
			if _, _, _, err := e.svc.Login(ctx, "ann@example.com", password, code); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Errorf("%d concurrent logins with one code succeeded, want 1", ok)
	}
}

func TestLoginLockout(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	st := e.staff("ann@example.com", access.RoleViewer)
	// Wrong password, wrong code: the same answer; the fifth failure locks.
	for i := range 5 {
		pw, code := "wrong password!", e.code(st)
		if i%2 == 1 {
			pw, code = password, "000000"
			if e.code(st) == code {
				code = "111111"
			}
		}
		if _, _, _, err := e.svc.Login(ctx, "ann@example.com", pw, code); !errors.Is(err, access.ErrBadLogin) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	var locked *access.LockedError
	_, _, _, err := e.svc.Login(ctx, "ann@example.com", password, e.code(st))
	if !errors.As(err, &locked) || !locked.Until.Equal(e.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("login while locked: %v", err)
	}
	if ev := e.events("staff.locked"); len(ev) != 1 || ev[0].Actor != st.ID {
		t.Errorf("staff.locked events %+v", ev)
	}
	e.clock.Advance(14 * time.Minute)
	if _, _, _, err := e.svc.Login(ctx, "ann@example.com", password, e.code(st)); !errors.As(err, &locked) {
		t.Errorf("after 14 minutes: %v", err)
	}
	e.clock.Advance(time.Minute)
	if _, _, _, err := e.svc.Login(ctx, "ann@example.com", password, e.code(st)); err != nil {
		t.Errorf("after the lock: %v", err)
	}
	// Success resets the count: four more failures do not lock.
	for range 4 {
		e.svc.Login(ctx, "ann@example.com", "wrong password!", "")
	}
	e.clock.Advance(time.Minute)
	if _, _, _, err := e.svc.Login(ctx, "ann@example.com", password, e.code(st)); err != nil {
		t.Errorf("after 4 failures: %v", err)
	}
}

func TestLoginUnknownEmailHashesToo(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	st := e.staff("ann@example.com", access.RoleViewer)
	var checks int
	access.CountPasswordChecks(e.svc, &checks)
	for _, email := range []string{"bob@example.com", "not an email", "ann@example.com"} {
		checks = 0
		_, _, _, err := e.svc.Login(ctx, email, "wrong password!", e.code(st))
		if !errors.Is(err, access.ErrBadLogin) || checks != 1 {
			t.Errorf("login as %q: %v after %d password checks; want ErrBadLogin after 1", email, err, checks)
		}
	}
	// Each failure is logged; the unknown emails by no name.
	ev := e.events("staff.login_failed")
	if len(ev) != 3 || ev[0].Detail != "unknown_account" || ev[0].Actor != "" || ev[1].Detail != "unknown_account" ||
		ev[2].Actor != st.ID || ev[2].Detail != "password" {
		t.Errorf("login_failed events %+v", ev)
	}
}

// TestRevealStory is the whole path: request, refusals, two approvals, one
// use, refusal of a second, each step in the audit log.
func TestRevealStory(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	// The requester is an approver: their role could approve, but not their own request.
	req := e.staff("req@example.com", access.RoleApprover)
	viewer := e.staff("view@example.com", access.RoleViewer)
	a1 := e.staff("a1@example.com", access.RoleApprover)
	a2 := e.staff("a2@example.com", access.RoleAdmin)
	self := e.staff("self@example.com", access.RoleApprover)

	good := access.Request{SubjectID: subject, Purpose: access.PurposeTOSReview, Justification: "abuse report #42 names this account", Ticket: "TS-42"}
	for name, tc := range map[string]struct {
		actor *access.Staff
		req   access.Request
		want  error
	}{
		"viewer":            {viewer, good, access.ErrForbidden},
		"marketing":         {req, access.Request{SubjectID: subject, Purpose: "marketing", Justification: good.Justification, Ticket: "T"}, access.ErrInvalidPurpose},
		"sharing":           {req, access.Request{SubjectID: subject, Purpose: "sharing", Justification: good.Justification, Ticket: "T"}, access.ErrInvalidPurpose},
		"short reason":      {req, access.Request{SubjectID: subject, Purpose: access.PurposeLegal, Justification: "because", Ticket: "T"}, access.ErrInvalidRequest},
		"no ticket":         {req, access.Request{SubjectID: subject, Purpose: access.PurposeLegal, Justification: good.Justification}, access.ErrInvalidRequest},
		"unknown subject":   {req, access.Request{SubjectID: "sub_baaaaaaaaaaaaaaaaaaaaaaaaa", Purpose: access.PurposeLegal, Justification: good.Justification, Ticket: "T"}, access.ErrNotFound},
		"malformed subject": {req, access.Request{SubjectID: "x", Purpose: access.PurposeLegal, Justification: good.Justification, Ticket: "T"}, access.ErrNotFound},
	} {
		if _, err := e.svc.RequestReveal(ctx, tc.actor, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if n := len(e.events("reveal.requested")); n != 0 {
		t.Fatalf("refused requests left %d events", n)
	}

	r, err := e.svc.RequestReveal(ctx, req, good)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != access.StatusPending || r.Remaining() != 2 || r.Masked != "+1 ••• ••• 0123" {
		t.Errorf("new request %+v", r)
	}
	if _, err := e.svc.Use(ctx, req, r.ID); !errors.Is(err, access.ErrNotApproved) {
		t.Errorf("use without approvals: %v", err)
	}
	if _, err := e.svc.Approve(ctx, req, r.ID); !errors.Is(err, access.ErrSelfApproval) {
		t.Errorf("approval by the requester: %v", err)
	}
	if _, err := e.svc.Approve(ctx, viewer, r.ID); !errors.Is(err, access.ErrForbidden) {
		t.Errorf("approval by a viewer: %v", err)
	}
	r, err = e.svc.Approve(ctx, a1, r.ID)
	if err != nil || r.Status != access.StatusPending || r.Remaining() != 1 {
		t.Fatalf("first approval: %+v, %v", r, err)
	}
	if _, err := e.svc.Approve(ctx, a1, r.ID); !errors.Is(err, access.ErrAlreadyApproved) {
		t.Errorf("second approval by one approver: %v", err)
	}
	if _, err := e.svc.Use(ctx, req, r.ID); !errors.Is(err, access.ErrNotApproved) {
		t.Errorf("use with one approval of two: %v", err)
	}
	r, err = e.svc.Approve(ctx, a2, r.ID)
	if err != nil || r.Status != access.StatusApproved || !r.UseBy.Equal(r.ApprovedAt.Add(time.Hour)) {
		t.Fatalf("second approval: %+v, %v", r, err)
	}
	if _, err := e.svc.Approve(ctx, self, r.ID); !errors.Is(err, access.ErrClosed) {
		t.Errorf("approval of an approved request: %v", err)
	}
	if _, err := e.svc.Use(ctx, a1, r.ID); !errors.Is(err, access.ErrForbidden) {
		t.Errorf("use by an approver: %v", err)
	}
	got, err := e.svc.Use(ctx, req, r.ID)
	if err != nil || got.E164 != e164 || got.Reveal.Status != access.StatusUsed {
		t.Fatalf("use: %+v, %v", got, err)
	}
	if _, err := e.svc.Use(ctx, req, r.ID); !errors.Is(err, access.ErrUsed) {
		t.Errorf("second use: %v", err)
	}

	// The log: one event per step, by the right actor, with purpose and subject.
	for _, tc := range []struct {
		typ    string
		actors []string
	}{
		{"reveal.requested", []string{req.ID}},
		{"reveal.approved", []string{a1.ID, a2.ID}},
		{"reveal.used", []string{req.ID}},
	} {
		evs := e.events(tc.typ)
		if len(evs) != len(tc.actors) {
			t.Errorf("%d %s events, want %d", len(evs), tc.typ, len(tc.actors))
			continue
		}
		for i, ev := range evs {
			if ev.Actor != tc.actors[i] || ev.Purpose != "tos_review" || ev.SubjectID != subject || ev.VerificationID != r.ID {
				t.Errorf("%s event %+v", tc.typ, ev)
			}
		}
	}
	if ev := e.events("reveal.used"); len(ev) == 1 && len(ev[0].PhoneIndex) == 0 {
		t.Error("reveal.used names no number index")
	}
	var words []string
	for _, ev := range e.events("reveal.refused") {
		words = append(words, ev.Detail)
	}
	if want := "not_approved self_approval forbidden already_approved not_approved closed forbidden used"; strings.Join(words, " ") != want {
		t.Errorf("refusals logged: %v, want %s", words, want)
	}
	es, _ := e.db.AuditEvents(ctx, 0, 1000)
	for _, ev := range es {
		if strings.Contains(ev.Detail, "0123") || strings.Contains(ev.Detail, e164) {
			t.Errorf("event %s holds the number", ev.Type)
		}
	}
}

func TestRevealExpiry(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	req := e.staff("req@example.com", access.RoleReviewer)
	a1 := e.staff("a1@example.com", access.RoleApprover)
	a2 := e.staff("a2@example.com", access.RoleApprover)
	mk := func(p access.Purpose) *access.Reveal {
		r, err := e.svc.RequestReveal(ctx, req, access.Request{SubjectID: subject, Purpose: p, Justification: "customer asked by phone", Ticket: "CS-7"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Approvals expire with the request's window.
	r := mk(access.PurposeTOSReview)
	if _, err := e.svc.Approve(ctx, a1, r.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(24 * time.Hour)
	if _, err := e.svc.Approve(ctx, a2, r.ID); !errors.Is(err, access.ErrExpired) {
		t.Errorf("approval after the window: %v", err)
	}
	if _, err := e.svc.Use(ctx, req, r.ID); !errors.Is(err, access.ErrExpired) {
		t.Errorf("use after the window: %v", err)
	}
	if got, _ := e.svc.Reveal(ctx, req, r.ID); got.StatusAt(e.clock.Now()) != access.StatusExpired {
		t.Errorf("status %s, want expired", got.StatusAt(e.clock.Now()))
	}

	// An approved reveal is usable for an hour.
	r = mk(access.PurposeRecoverySupport)
	if got, err := e.svc.Approve(ctx, a1, r.ID); err != nil || got.Status != access.StatusApproved {
		t.Fatalf("one approval for recovery_support: %+v, %v", got, err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.svc.Use(ctx, req, r.ID); !errors.Is(err, access.ErrExpired) {
		t.Errorf("use after an hour: %v", err)
	}
	queue, err := e.svc.Reveals(ctx, req, access.StatusExpired, 0)
	if err != nil || len(queue) != 2 {
		t.Errorf("expired list: %d, %v", len(queue), err)
	}
}

func TestRevealDenied(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	req := e.staff("req@example.com", access.RoleReviewer)
	viewer := e.staff("view@example.com", access.RoleViewer)
	a1 := e.staff("a1@example.com", access.RoleApprover)
	r, err := e.svc.RequestReveal(ctx, req, access.Request{SubjectID: subject, Purpose: access.PurposeLegal, Justification: "subpoena 2030-17 received", Ticket: "LEGAL-17"})
	if err != nil || r.Remaining() != 3 {
		t.Fatalf("legal request: %+v, %v", r, err)
	}
	if queue, _ := e.svc.Reveals(ctx, viewer, access.StatusPending, 0); len(queue) != 1 || queue[0].ID != r.ID {
		t.Errorf("the queue: %+v", queue)
	}
	if _, err := e.svc.Deny(ctx, viewer, r.ID, "no"); !errors.Is(err, access.ErrForbidden) {
		t.Errorf("denial by a viewer: %v", err)
	}
	if _, err := e.svc.Deny(ctx, a1, r.ID, "  "); !errors.Is(err, access.ErrInvalidRequest) {
		t.Errorf("denial without a reason: %v", err)
	}
	got, err := e.svc.Deny(ctx, a1, r.ID, "the subpoena names another account")
	if err != nil || got.Status != access.StatusDenied || got.DeniedBy != a1.ID {
		t.Fatalf("deny: %+v, %v", got, err)
	}
	if _, err := e.svc.Approve(ctx, a1, r.ID); !errors.Is(err, access.ErrClosed) {
		t.Errorf("approval after denial: %v", err)
	}
	if _, err := e.svc.Use(ctx, req, r.ID); !errors.Is(err, access.ErrDenied) {
		t.Errorf("use after denial: %v", err)
	}
	if queue, _ := e.svc.Reveals(ctx, viewer, access.StatusPending, 0); len(queue) != 0 {
		t.Errorf("the queue after denial: %+v", queue)
	}
	if ev := e.events("reveal.denied"); len(ev) != 1 || ev[0].Actor != a1.ID || ev[0].Purpose != "legal" {
		t.Errorf("reveal.denied events %+v", ev)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := access.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*access.Config){
		"zero approvals": func(c *access.Config) {
			p := c.Policies[access.PurposeLegal]
			p.Approvals = 0
			c.Policies[access.PurposeLegal] = p
		},
		"viewer approves": func(c *access.Config) {
			p := c.Policies[access.PurposeLegal]
			p.EligibleRoles = []access.Role{access.RoleViewer}
			c.Policies[access.PurposeLegal] = p
		},
		"missing purpose": func(c *access.Config) { delete(c.Policies, access.PurposeUserExport) },
		"marketing":       func(c *access.Config) { c.Policies["marketing"] = c.Policies[access.PurposeLegal] },
		"no lockout":      func(c *access.Config) { c.Lockout = 0 },
	} {
		c := access.DefaultConfig()
		c.Policies = access.DefaultPolicies()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}
