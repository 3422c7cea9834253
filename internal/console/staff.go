package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ringfence/ringfence/internal/access"
)

// The staff console: sign-in with password and TOTP, the queue of reveal
// requests, and an approval page per request for the roles that approve.
// The session is the access service's own token, in an HttpOnly,
// SameSite=Strict cookie scoped to /staff; the service decides every step,
// and the pages only leave out what a role may not do.

const staffCookie = "rf_staff"

// staffView is what the staff pages show.
type staffView struct {
	Staff    *access.Staff
	Approver bool // the role may approve and deny
	Reveals  []revealRow
	Reveal   *revealRow
	Status   string // of the queue shown
	Number   string // the full number of a reveal just used, shown once
	Audit    *auditView
	Fraud    *fraudView
}

type revealRow struct {
	*access.Reveal
	State     access.Status
	Approvals int
}

func (c *Console) staffPage(w http.ResponseWriter, status int, v *staffView, msg string) {
	c.render(w, status, "staff.html", page{Title: "Staff console", Staff: v, Error: msg})
}

// staffSession returns the signed-in staff member, or nil.
func (c *Console) staffSession(r *http.Request) *access.Staff {
	ck, err := r.Cookie(staffCookie)
	if err != nil {
		return nil
	}
	st, err := c.cfg.Access.Authenticate(r.Context(), ck.Value)
	if err != nil {
		return nil
	}
	return st
}

func (c *Console) setStaffCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: token, Path: "/staff", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// staffOnly serves h to signed-in staff and sends anyone else to sign in.
func (c *Console) staffOnly(h func(w http.ResponseWriter, r *http.Request, st *access.Staff)) http.HandlerFunc {
	return gate(c.staffSession, "/staff", h)
}

// approver reports whether a role approves and denies reveals.
func approver(r access.Role) bool { return r == access.RoleApprover || r == access.RoleAdmin }

func (c *Console) staffLoginForm(w http.ResponseWriter, r *http.Request) {
	if c.staffSession(r) != nil {
		http.Redirect(w, r, "/staff/reveals", http.StatusSeeOther)
		return
	}
	c.staffPage(w, http.StatusOK, nil, "")
}

func (c *Console) staffLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		c.staffPage(w, http.StatusBadRequest, nil, "The form could not be read.")
		return
	}
	token, sess, _, err := c.cfg.Access.Login(r.Context(), r.PostForm.Get("email"), r.PostForm.Get("password"),
		strings.TrimSpace(r.PostForm.Get("totp")))
	switch {
	case err == nil:
		c.setStaffCookie(w, r, token, int(sess.ExpiresAt.Sub(c.cfg.Now()).Seconds()))
		http.Redirect(w, r, "/staff/reveals", http.StatusSeeOther)
	case errors.As(err, new(*access.LockedError)):
		c.staffPage(w, http.StatusTooManyRequests, nil, "Too many failed sign-ins: the account is locked for a while.")
	case errors.Is(err, access.ErrBadLogin), errors.Is(err, access.ErrInvalidRequest):
		c.staffPage(w, http.StatusUnauthorized, nil, "The email, password or code is wrong.")
	default:
		c.cfg.Logger.Error("staff login", "err", err)
		c.staffPage(w, http.StatusInternalServerError, nil, "Something went wrong on our side.")
	}
}

func (c *Console) staffLogout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(staffCookie); err == nil {
		if err := c.cfg.Access.Logout(r.Context(), ck.Value); err != nil {
			c.cfg.Logger.Error("staff logout", "err", err)
		}
	}
	c.setStaffCookie(w, r, "", -1)
	http.Redirect(w, r, "/staff", http.StatusSeeOther)
}

func (c *Console) row(rv *access.Reveal) revealRow {
	return revealRow{Reveal: rv, State: c.cfg.Access.StatusOf(rv), Approvals: len(rv.Approvals)}
}

// staffReveals lists reveal requests: the pending queue by default.
func (c *Console) staffReveals(w http.ResponseWriter, r *http.Request, st *access.Staff) {
	status := access.Status(r.URL.Query().Get("status"))
	if status == "" {
		status = access.StatusPending
	}
	if status == "all" {
		status = ""
	}
	rs, err := c.cfg.Access.Reveals(r.Context(), st, status, 200)
	if err != nil {
		c.staffError(w, st, err)
		return
	}
	v := &staffView{Staff: st, Approver: approver(st.Role), Status: string(status)}
	for _, rv := range rs {
		v.Reveals = append(v.Reveals, c.row(rv))
	}
	c.staffPage(w, http.StatusOK, v, "")
}

// staffReveal is the approval page of one request: only for the roles that
// approve.
func (c *Console) staffReveal(w http.ResponseWriter, r *http.Request, st *access.Staff) {
	if !approver(st.Role) {
		c.staffError(w, st, access.ErrForbidden)
		return
	}
	rv, err := c.cfg.Access.Reveal(r.Context(), st, r.PathValue("id"))
	if err != nil {
		c.staffError(w, st, err)
		return
	}
	row := c.row(rv)
	c.staffPage(w, http.StatusOK, &staffView{Staff: st, Approver: true, Reveal: &row}, "")
}

// staffDecide approves or denies a request, then shows it again.
func (c *Console) staffDecide(w http.ResponseWriter, r *http.Request, st *access.Staff) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		c.staffPage(w, http.StatusBadRequest, &staffView{Staff: st}, "The form could not be read.")
		return
	}
	id := r.PathValue("id")
	var err error
	switch r.PathValue("decision") {
	case "approve":
		_, err = c.cfg.Access.Approve(r.Context(), st, id)
	case "deny":
		_, err = c.cfg.Access.Deny(r.Context(), st, id, r.PostForm.Get("reason"))
	case "use":
		var rv *access.Revealed
		if rv, err = c.cfg.Access.Use(r.Context(), st, id); err == nil {
			// Shown once: the page is not cached (Cache-Control: no-store)
			// and the request is now used.
			row := c.row(rv.Reveal)
			c.staffPage(w, http.StatusOK, &staffView{Staff: st, Approver: approver(st.Role), Reveal: &row, Number: rv.E164}, "")
			return
		}
	default:
		err = access.ErrNotFound
	}
	if err != nil {
		c.staffError(w, st, err)
		return
	}
	http.Redirect(w, r, "/staff/reveals/"+id, http.StatusSeeOther)
}

// staffError answers a refusal of the access service in words, with its status.
func (c *Console) staffError(w http.ResponseWriter, st *access.Staff, err error) {
	v := &staffView{Staff: st, Approver: approver(st.Role)}
	for _, e := range []struct {
		err    error
		status int
		msg    string
	}{
		{access.ErrForbidden, http.StatusForbidden, "Your role may not do this."},
		{access.ErrSelfApproval, http.StatusForbidden, "You cannot approve your own request."},
		{access.ErrNotFound, http.StatusNotFound, "There is no such request."},
		{access.ErrAlreadyApproved, http.StatusConflict, "You already approved this request."},
		{access.ErrClosed, http.StatusConflict, "The request is no longer pending."},
		{access.ErrExpired, http.StatusConflict, "The request expired."},
		{access.ErrNotApproved, http.StatusConflict, "The request does not have its approvals yet."},
		{access.ErrDenied, http.StatusConflict, "The request was denied."},
		{access.ErrUsed, http.StatusConflict, "The number was already revealed once."},
		{access.ErrInvalidRequest, http.StatusBadRequest, "Something in the form is not right (a denial needs a reason)."},
	} {
		if errors.Is(err, e.err) {
			c.staffPage(w, e.status, v, e.msg)
			return
		}
	}
	c.cfg.Logger.Error("staff console", "err", err)
	c.staffPage(w, http.StatusInternalServerError, v, "Something went wrong on our side.")
}
