// Package console serves ringfence's web pages: the demo sign-up, the dev inbox, the transparency report, the privacy centre and the staff console.
package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/fraud"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/phone"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/sms/devinbox"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

//go:embed templates/*.html
var templateFS embed.FS

// Config is what the pages need.
type Config struct {
	Verify   *verify.Service
	DevInbox *devinbox.Inbox  // nil hides the dev inbox page
	Demo     bool             // serve the demo sign-up at /
	Privacy  *privacy.Service // nil hides the transparency report page
	// Identity and Keys, beside Privacy, turn on the privacy centre at /privacy.
	Identity *identity.Service
	Keys     *vault.Keyring
	// Access turns on the staff console at /staff; with AuditLog, its
	// audit browser too.
	Access   *access.Service
	AuditLog AuditLog
	Logger   *slog.Logger
	Now      func() time.Time // nil means time.Now
}

// Console serves the web pages.
type Console struct {
	cfg  Config
	tmpl *template.Template
	mux  *http.ServeMux
}

// New parses the embedded templates and returns a Console.
func New(cfg Config) (*Console, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t, err := template.New("").Funcs(template.FuncMap{
		"since": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
		"money": func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
		// clock writes milliseconds as minutes and seconds, 1:05.
		"clock": func(ms int64) string { return fmt.Sprintf("%d:%02d", ms/60000, ms/1000%60) },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, tmpl: t, mux: http.NewServeMux()}
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	if c.cfg.Demo {
		c.mux.HandleFunc("GET /{$}", c.demoForm)
		c.mux.HandleFunc("POST /demo/start", c.demoStart)
		c.mux.HandleFunc("POST /demo/check", c.demoCheck)
	}
	if c.cfg.DevInbox != nil {
		c.mux.HandleFunc("GET /dev/inbox", c.devInbox)
	}
	if c.cfg.Privacy != nil {
		c.mux.HandleFunc("GET /transparency", c.transparency)
	}
	if c.cfg.Privacy != nil && c.cfg.Identity != nil && c.cfg.Keys != nil {
		c.mux.HandleFunc("GET /privacy", c.centreForm)
		c.mux.HandleFunc("POST /privacy/start", c.centreStart)
		c.mux.HandleFunc("POST /privacy/check", c.centreCheck)
		c.mux.HandleFunc("GET /privacy/me", c.signedIn(c.centreMe))
		c.mux.HandleFunc("POST /privacy/consents", c.signedIn(c.centreConsent))
		c.mux.HandleFunc("GET /privacy/export", c.signedIn(c.centreExport))
		c.mux.HandleFunc("GET /privacy/data", c.signedIn(c.centreExportPage))
		c.mux.HandleFunc("GET /privacy/erase", c.signedIn(c.centreEraseForm))
		c.mux.HandleFunc("POST /privacy/erase", c.signedIn(c.centreErase))
		c.mux.HandleFunc("POST /privacy/signout", c.centreSignOut)
	}
	if c.cfg.Access != nil {
		c.mux.HandleFunc("GET /staff", c.staffLoginForm)
		c.mux.HandleFunc("POST /staff/login", c.staffLogin)
		c.mux.HandleFunc("POST /staff/logout", c.staffLogout)
		c.mux.HandleFunc("GET /staff/reveals", c.staffOnly(c.staffReveals))
		c.mux.HandleFunc("GET /staff/reveals/{id}", c.staffOnly(c.staffReveal))
		c.mux.HandleFunc("POST /staff/reveals/{id}/{decision}", c.staffOnly(c.staffDecide))
		c.mux.HandleFunc("GET /staff/fraud", c.staffOnly(c.staffFraud))
		if c.cfg.AuditLog != nil {
			c.mux.HandleFunc("GET /staff/audit", c.staffOnly(c.staffAudit))
		}
	}
}

// Handler returns the pages, protected against cross-origin form posts.
func (c *Console) Handler() http.Handler {
	return http.NewCrossOriginProtection().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		c.mux.ServeHTTP(w, r)
	}))
}

type page struct {
	Title     string
	Countries []country
	Country   string
	Phone     string
	Error     string
	V         *verify.Verification
	Status    string
	Messages  []inboxMessage
	DevInbox  bool
	CodeLen   int
	Report    *reportView
	Centre    *centreView
	Erase     *eraseView
	Export    *privacy.Export
	Staff     *staffView
	Heading   string // of the number form; "" for the demo's
	Intro     string
	Action    string // where the number or code form posts; "" for the demo's
	// Challenge is the fraud guard's proof of work the demo form solves
	// in the browser (with Solver) before it is sent again.
	Challenge *fraud.Challenge
	Solver    template.JS
}

type inboxMessage struct {
	To, Channel, Body string
}

func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	p.DevInbox = c.cfg.DevInbox != nil
	p.CodeLen = c.cfg.Verify.Config().CodeLength
	if p.Countries == nil {
		p.Countries = countries
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.tmpl.ExecuteTemplate(w, name, p); err != nil {
		c.cfg.Logger.Error("render page", "page", name, "err", err)
	}
}

func (c *Console) demoForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "demo.html", page{Title: "Sign up", Country: "US"})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}

// demoMessage turns a refusal into words for the person at the form.
func demoMessage(err error) string {
	var rl *verify.RateLimitError
	var bl *verify.BlockedError
	switch {
	case errors.As(err, &rl):
		return "Too many codes for now. Try again in " + rl.RetryAfter.String() + "."
	case errors.As(err, &bl):
		return "This number cannot be verified here."
	case errors.Is(err, verify.ErrInvalidPhone):
		return "That does not look like a phone number. Check the country and the digits."
	case errors.Is(err, verify.ErrNumberType):
		return "This kind of number cannot receive text messages. Use a mobile number."
	case errors.Is(err, verify.ErrInvalidCode):
		return "Enter the code as digits only."
	case errors.Is(err, verify.ErrInvalidRequest):
		return "Something in the form is not right. Try again."
	case errors.Is(err, verify.ErrNotFound):
		return "That verification does not exist. Start again."
	}
	return "Something went wrong on our side. Try again in a moment."
}

func (c *Console) demoStart(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "demo.html", page{Title: "Sign up", Error: "The form could not be read."})
		return
	}
	country := strings.ToUpper(strings.TrimSpace(r.PostForm.Get("country")))
	raw := strings.TrimSpace(r.PostForm.Get("phone"))
	started, err := c.cfg.Verify.Start(r.Context(), verify.StartRequest{
		Phone:   raw,
		Country: country,
		Channel: verify.ChannelSMS,
		Purpose: verify.PurposeSignup,
		IP:      clientIP(r),
		Actor:   "demo",
		PoW:     r.PostForm.Get(powField),
	})
	if c.challenged(w, err, country, raw) {
		return
	}
	if err != nil {
		status := c.startStatus(err, "demo start")
		// The number the person typed is shown back to them in their own form only.
		c.render(w, status, "demo.html", page{Title: "Sign up", Country: country, Phone: raw, Error: demoMessage(err)})
		return
	}
	c.render(w, http.StatusOK, "code.html", page{Title: "Enter your code", V: started.Verification})
}

// startStatus is the status of a page answering a refused start; an
// internal error is logged as what.
func (c *Console) startStatus(err error, what string) int {
	switch {
	case errors.As(err, new(*verify.RateLimitError)):
		return http.StatusTooManyRequests
	case isClientError(err):
		return http.StatusBadRequest
	}
	c.cfg.Logger.Error(what, "err", err)
	return http.StatusInternalServerError
}

func isClientError(err error) bool {
	for _, e := range []error{verify.ErrInvalidPhone, verify.ErrNumberType, verify.ErrInvalidRequest, verify.ErrInvalidCode, verify.ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return errors.As(err, new(*verify.BlockedError))
}

func (c *Console) demoCheck(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "demo.html", page{Title: "Sign up", Error: "The form could not be read."})
		return
	}
	id := r.PostForm.Get("id")
	code := strings.TrimSpace(r.PostForm.Get("code"))
	v, err := c.cfg.Verify.Check(r.Context(), id, code, "demo")
	switch {
	case errors.Is(err, verify.ErrClosed):
		c.render(w, http.StatusConflict, "result.html", page{Title: "Verification closed", V: v, Status: string(v.Status)})
		return
	case errors.Is(err, verify.ErrInvalidCode):
		cur, gerr := c.cfg.Verify.Get(r.Context(), id)
		if gerr == nil {
			c.render(w, http.StatusBadRequest, "code.html", page{Title: "Enter your code", V: cur, Error: demoMessage(err)})
			return
		}
		err = gerr
	}
	if err != nil {
		status := http.StatusBadRequest
		if !isClientError(err) {
			status = http.StatusInternalServerError
			c.cfg.Logger.Error("demo check", "err", err)
		}
		c.render(w, status, "demo.html", page{Title: "Sign up", Error: demoMessage(err)})
		return
	}
	if v.Status == verify.StatusPending {
		c.render(w, http.StatusOK, "code.html", page{Title: "Enter your code", V: v, Error: "That code is not right. Try again."})
		return
	}
	c.render(w, http.StatusOK, "result.html", page{Title: "Verification " + string(v.Status), V: v, Status: string(v.Status)})
}

func (c *Console) devInbox(w http.ResponseWriter, r *http.Request) {
	var ms []inboxMessage
	for _, m := range c.cfg.DevInbox.All() {
		to := "(unreadable number)"
		if n, err := phone.Parse(m.To, ""); err == nil {
			to = n.Mask()
		}
		ms = append(ms, inboxMessage{To: to, Channel: string(m.Channel), Body: m.Body})
	}
	c.render(w, http.StatusOK, "inbox.html", page{Title: "Dev inbox", Messages: ms})
}
