package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/verify"
)

// The privacy centre's erasure: a signed-in person erases their own
// account by typing identity.ConfirmWord and their subject id. The sign-in
// verification is the evidence identity.Service.EraseOwn checks. Once the
// subject is erased, its session answers 410 Gone on every centre page.

// eraseView is what the erasure page shows.
type eraseView struct {
	SubjectID string
	Word      string // identity.ConfirmWord
	Tombstone string // identity.TombstoneOff, TombstoneRefuse or TombstoneFlag
	Retention string // how long a tombstone is kept, in days
	Done      bool   // the erasure happened just now
	Gone      bool   // the session's subject was erased before
	Numbers   int
}

func (c *Console) eraseView(subjectID string) *eraseView {
	mode, keep := c.cfg.Identity.Tombstone()
	return &eraseView{SubjectID: subjectID, Word: identity.ConfirmWord, Tombstone: mode,
		Retention: days(keep)}
}

// centreEraseForm explains what erasure does and asks for the confirmation.
func (c *Console) centreEraseForm(w http.ResponseWriter, r *http.Request, v *verify.Verification) {
	c.render(w, http.StatusOK, "erase.html", page{Title: "Erase your account", Erase: c.eraseView(v.SubjectID)})
}

// centreErase erases the signed-in subject when the form carries the word
// and the subject id; anything else changes nothing.
func (c *Console) centreErase(w http.ResponseWriter, r *http.Request, v *verify.Verification) {
	view := c.eraseView(v.SubjectID)
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "erase.html", page{Title: "Erase your account", Erase: view,
			Error: "The form could not be read. Nothing was erased."})
		return
	}
	e, err := c.cfg.Identity.EraseOwn(r.Context(), identity.OwnErasure{SubjectID: v.SubjectID, Verification: v.ID,
		Word: strings.TrimSpace(r.PostForm.Get("word")), Confirm: strings.TrimSpace(r.PostForm.Get("confirm")), Actor: centreActor})
	switch {
	case err == nil:
		view.Done, view.Numbers = true, e.Numbers
		c.render(w, http.StatusOK, "erase.html", page{Title: "Your account was erased", Erase: view})
	case errors.Is(err, identity.ErrConfirm):
		c.render(w, http.StatusBadRequest, "erase.html", page{Title: "Erase your account", Erase: view,
			Error: "Type " + identity.ConfirmWord + " and your account id exactly as shown. Nothing was erased."})
	case errors.Is(err, identity.ErrErased):
		c.centreGone(w, v)
	case errors.Is(err, identity.ErrEvidence), errors.Is(err, identity.ErrNotFound):
		c.setSession(w, r, "", -1)
		c.render(w, http.StatusForbidden, "demo.html", c.signInPage("Your sign-in no longer proves this account is yours. Sign in again. Nothing was erased."))
	default:
		c.centreError(w, "privacy centre erase", err)
	}
}

// centreGone answers a session whose subject was erased.
func (c *Console) centreGone(w http.ResponseWriter, v *verify.Verification) {
	view := c.eraseView(v.SubjectID)
	view.Gone = true
	c.render(w, http.StatusGone, "erase.html", page{Title: "This account was erased", Erase: view})
}

// days writes a retention as a whole number of days.
func days(d time.Duration) string {
	return strconv.Itoa(int(d / (24 * time.Hour)))
}
