package console

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// The privacy centre: people sign in by verifying their own number (a
// login verification, under the normal limits and fraud guard), see what is
// held about them and why, change their consents and download their export.
// The session is the approved verification itself, in a cookie MACed under
// the index key, and lasts privacy.ExportFreshness from the approval: every
// change it makes uses that verification as its evidence.

const (
	sessionCookie = "rf_privacy"
	sessionDomain = "privacy-session"
	centreActor   = "privacy-centre"
)

// consentRow is one purpose and channel on the centre's page.
type consentRow struct {
	Purpose     privacy.Purpose
	Description string
	Channel     privacy.Channel
	Granted     bool
	Since       string
}

// centreView is what the signed-in page shows.
type centreView struct {
	SubjectID string
	Numbers   []*identity.Binding
	Consents  []consentRow
	Until     string
}

// sessionValue is the cookie of a signed-in verification.
func (c *Console) sessionValue(verificationID string) string {
	mac := c.cfg.Keys.MAC(sessionDomain, []byte(verificationID))
	return verificationID + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// session returns the approved, fresh verification a request is signed in
// with, or nil.
func (c *Console) session(r *http.Request) *verify.Verification {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	id, macText, ok := strings.Cut(ck.Value, ".")
	mac, err := base64.RawURLEncoding.DecodeString(macText)
	if !ok || err != nil || !vault.ValidID("ve", id) || !c.cfg.Keys.CheckMAC(mac, sessionDomain, []byte(id)) {
		return nil
	}
	v, err := c.cfg.Verify.Get(r.Context(), id)
	if err != nil || v.Status != verify.StatusApproved || v.SubjectID == "" ||
		c.cfg.Now().Sub(v.ApprovedAt) > privacy.ExportFreshness {
		return nil
	}
	return v
}

func (c *Console) setSession(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/privacy", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (c *Console) centreForm(w http.ResponseWriter, r *http.Request) {
	if c.session(r) != nil {
		http.Redirect(w, r, "/privacy/me", http.StatusSeeOther)
		return
	}
	c.render(w, http.StatusOK, "demo.html", c.signInPage(""))
}

func (c *Console) signInPage(msg string) page {
	return page{Title: "Privacy centre", Heading: "Your privacy centre", Action: "/privacy/start", Country: "US", Error: msg,
		Intro: "Sign in with your phone number: we send a one-time code by text message to prove it is yours."}
}

func (c *Console) centreStart(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "demo.html", c.signInPage("The form could not be read."))
		return
	}
	started, err := c.cfg.Verify.Start(r.Context(), verify.StartRequest{
		Phone: strings.TrimSpace(r.PostForm.Get("phone")), Country: strings.ToUpper(strings.TrimSpace(r.PostForm.Get("country"))),
		Channel: verify.ChannelSMS, Purpose: verify.PurposeLogin, IP: clientIP(r), Actor: centreActor,
	})
	if err != nil {
		c.render(w, c.startStatus(err, "privacy centre start"), "demo.html", c.signInPage(demoMessage(err)))
		return
	}
	c.render(w, http.StatusOK, "code.html", page{Title: "Enter your code", Action: "/privacy/check", V: started.Verification})
}

func (c *Console) centreCheck(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "demo.html", c.signInPage("The form could not be read."))
		return
	}
	id := r.PostForm.Get("id")
	v, err := c.cfg.Verify.Check(r.Context(), id, strings.TrimSpace(r.PostForm.Get("code")), centreActor)
	switch {
	case err == nil && v.Status == verify.StatusApproved && v.SubjectID != "":
		c.setSession(w, r, c.sessionValue(v.ID), int(privacy.ExportFreshness/time.Second))
		http.Redirect(w, r, "/privacy/me", http.StatusSeeOther)
	case err == nil && v.Status == verify.StatusPending, errors.Is(err, verify.ErrInvalidCode):
		// A number with no account gets a verification no code approves:
		// the answer is the same as for a wrong code.
		if cur, gerr := c.cfg.Verify.Get(r.Context(), id); gerr == nil {
			c.render(w, http.StatusOK, "code.html", page{Title: "Enter your code", Action: "/privacy/check", V: cur,
				Error: "That code is not right. Try again."})
			return
		}
		c.render(w, http.StatusBadRequest, "demo.html", c.signInPage("Start again."))
	case err != nil && !isClientError(err) && !errors.Is(err, verify.ErrClosed):
		c.cfg.Logger.Error("privacy centre check", "err", err)
		c.render(w, http.StatusInternalServerError, "demo.html", c.signInPage(demoMessage(err)))
	default:
		c.render(w, http.StatusBadRequest, "demo.html", c.signInPage("That code can no longer be used. Start again."))
	}
}

// signedIn serves h to a signed-in person, and sends anyone else to sign
// in; a session whose subject was erased gets 410 Gone.
func (c *Console) signedIn(h func(w http.ResponseWriter, r *http.Request, v *verify.Verification)) http.HandlerFunc {
	return gate(c.session, "/privacy", func(w http.ResponseWriter, r *http.Request, v *verify.Verification) {
		erased, err := c.cfg.Identity.Erased(r.Context(), v.SubjectID)
		if err != nil {
			c.centreError(w, "privacy centre erased", err)
			return
		}
		if erased {
			c.centreGone(w, v)
			return
		}
		h(w, r, v)
	})
}

// gate serves h to the requests session finds signed in, with who signed
// in, and redirects the others to login.
func gate[T any](session func(*http.Request) *T, login string, h func(http.ResponseWriter, *http.Request, *T)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who := session(r)
		if who == nil {
			http.Redirect(w, r, login, http.StatusSeeOther)
			return
		}
		h(w, r, who)
	}
}

func (c *Console) centreMe(w http.ResponseWriter, r *http.Request, v *verify.Verification) {
	_, bs, err := c.cfg.Identity.Subject(r.Context(), v.SubjectID)
	if err != nil {
		c.centreError(w, "privacy centre subject", err)
		return
	}
	records, err := c.cfg.Privacy.Consents(r.Context(), v.SubjectID)
	if err != nil {
		c.centreError(w, "privacy centre consents", err)
		return
	}
	state := make(map[[2]string]privacy.State)
	for _, st := range privacy.Current(records) {
		state[[2]string{string(st.Purpose), string(st.Channel)}] = st
	}
	view := &centreView{SubjectID: v.SubjectID, Numbers: bs, Until: v.ApprovedAt.Add(privacy.ExportFreshness).UTC().Format("15:04 UTC")}
	for _, p := range privacy.Purposes {
		for _, ch := range p.Channels() {
			row := consentRow{Purpose: p, Description: p.Description(), Channel: ch}
			if st, ok := state[[2]string{string(p), string(ch)}]; ok {
				row.Granted, row.Since = st.Granted, st.Since.UTC().Format("2006-01-02 15:04 UTC")
			}
			view.Consents = append(view.Consents, row)
		}
	}
	c.render(w, http.StatusOK, "centre.html", page{Title: "Your privacy centre", Centre: view})
}

func (c *Console) centreError(w http.ResponseWriter, what string, err error) {
	c.cfg.Logger.Error(what, "err", err)
	c.render(w, http.StatusInternalServerError, "demo.html", c.signInPage("Something went wrong on our side. Try again in a moment."))
}

// centreConsent grants or withdraws one consent, with the sign-in
// verification as evidence.
func (c *Console) centreConsent(w http.ResponseWriter, r *http.Request, v *verify.Verification) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	_, err := c.cfg.Privacy.Change(r.Context(), privacy.Change{SubjectID: v.SubjectID,
		Purpose: privacy.Purpose(r.PostForm.Get("purpose")), Channel: privacy.Channel(r.PostForm.Get("channel")),
		Action: privacy.Action(r.PostForm.Get("action")), Evidence: v.ID, Actor: centreActor})
	switch {
	case err == nil:
		http.Redirect(w, r, "/privacy/me", http.StatusSeeOther)
	case errors.Is(err, privacy.ErrInvalidPurpose), errors.Is(err, privacy.ErrInvalidChannel), errors.Is(err, privacy.ErrInvalidRequest):
		http.Error(w, "That is not a consent you can change here.", http.StatusBadRequest)
	case errors.Is(err, privacy.ErrInvalidEvidence), errors.Is(err, privacy.ErrNotFound):
		c.setSession(w, r, "", -1)
		c.render(w, http.StatusForbidden, "demo.html", c.signInPage("Your number is no longer the one on this account. Sign in again."))
	default:
		c.centreError(w, "privacy centre consent", err)
	}
}

// export gathers everything held about the signed-in subject; false when
// it answered the request itself.
func (c *Console) export(w http.ResponseWriter, r *http.Request, v *verify.Verification) (*privacy.SignedExport, bool) {
	x, err := c.cfg.Privacy.Export(r.Context(), v.SubjectID, v.ID, centreActor)
	if errors.Is(err, privacy.ErrInvalidEvidence) || errors.Is(err, privacy.ErrNotFound) {
		c.setSession(w, r, "", -1)
		http.Redirect(w, r, "/privacy", http.StatusSeeOther)
		return nil, false
	}
	if err != nil {
		c.centreError(w, "privacy centre export", err)
		return nil, false
	}
	return x, true
}

// centreExportPage shows the export as a readable page.
func (c *Console) centreExportPage(w http.ResponseWriter, r *http.Request, v *verify.Verification) {
	if x, ok := c.export(w, r, v); ok {
		c.render(w, http.StatusOK, "export.html", page{Title: "Your data", Export: &x.Export})
	}
}

// centreExport downloads everything held about the signed-in subject.
func (c *Console) centreExport(w http.ResponseWriter, r *http.Request, v *verify.Verification) {
	x, ok := c.export(w, r, v)
	if !ok {
		return
	}
	body, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		c.centreError(w, "privacy centre export", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="ringfence-export.json"`)
	w.Write(append(body, '\n'))
}

func (c *Console) centreSignOut(w http.ResponseWriter, r *http.Request) {
	c.setSession(w, r, "", -1)
	http.Redirect(w, r, "/privacy", http.StatusSeeOther)
}
