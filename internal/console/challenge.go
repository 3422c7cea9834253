package console

import (
	"errors"
	"html/template"
	"net/http"

	"github.com/ringfence/ringfence/internal/fraud"
	"github.com/ringfence/ringfence/internal/verify"
)

// powField is the demo form's field that carries a solved proof of work,
// token + ":" + nonce.
const powField = "pow"

// challenged renders the sign-up form again when the fraud guard asks for a
// proof of work before it sends: the page solves it in the browser with the
// embedded solver and submits the same form with the solution. It reports
// whether err was such a refusal.
func (c *Console) challenged(w http.ResponseWriter, err error, country, raw string) bool {
	var bl *verify.BlockedError
	if !errors.As(err, &bl) || bl.Challenge == nil {
		return false
	}
	c.render(w, http.StatusForbidden, "demo.html", page{
		Title:     "Sign up",
		Country:   country,
		Phone:     raw,
		Challenge: bl.Challenge,
		Solver:    template.JS(fraud.SolverJS),
	})
	return true
}
