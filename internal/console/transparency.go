package console

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/ringfence/ringfence/internal/privacy"
)

// accessLabels name the report's rows for people.
var accessLabels = map[privacy.Access]string{
	privacy.AccessSignup:        "Sign-up verification",
	privacy.AccessLogin:         "Login",
	privacy.AccessStepUp:        "Step-up",
	privacy.AccessRecovery:      "Account recovery",
	privacy.AccessPhoneChange:   "Number change",
	privacy.AccessGuardian:      "Guardian consent",
	privacy.AccessSecurityAlert: "Security alerts",
	privacy.AccessTOSReview:     "Terms-of-service review",
	privacy.AccessLegal:         "Legal requests",
	privacy.AccessUserExport:    "Export to the person",
	privacy.AccessErasure:       "Erasure",
	privacy.AccessOther:         "Other",
}

// Geometry of the chart, in SVG user units.
const (
	chartLabelW = 170 // left column of labels
	chartBarW   = 200 // 100% of the numbers held
	chartRowH   = 22
	chartBarH   = 14
)

// reportView is the transparency report as the page shows it.
type reportView struct {
	R       *privacy.Report
	Rows    []reportRow
	Height  int
	Width   int
	LabelW  int
	JSONURL string
}

// reportRow is one purpose: its figures and its bar. The solid bar is the
// share's lower bound; a lighter one extends to its upper bound when a
// small count is banded.
type reportRow struct {
	privacy.AccessFigures
	Label                                string
	Y, TextY, MinW, BandX, BandW, ShareX int
}

func newReportView(r *privacy.Report, jsonURL string) *reportView {
	v := &reportView{R: r, LabelW: chartLabelW, Width: chartLabelW + chartBarW + 110, JSONURL: jsonURL}
	bar := func(ppm uint64) int { return int(min(ppm, 1_000_000) * chartBarW / 1_000_000) }
	for i, a := range r.Accesses {
		y := i * chartRowH
		lo, hi := bar(a.Share.MinPPM), bar(a.Share.MaxPPM)
		v.Rows = append(v.Rows, reportRow{Label: accessLabels[a.Purpose], AccessFigures: a,
			Y: y + (chartRowH-chartBarH)/2, TextY: y + chartRowH/2 + 4, MinW: lo, BandX: chartLabelW + lo, BandW: hi - lo,
			ShareX: chartLabelW + hi + 6})
	}
	v.Height = len(r.Accesses) * chartRowH
	return v
}

// transparency shows the signed transparency report of ?from= to ?to=
// (checkpoint sizes; the whole log to the latest checkpoint by default),
// with a chart drawn in inline SVG, so no script is needed.
func (c *Console) transparency(w http.ResponseWriter, r *http.Request) {
	size := func(name string) (uint64, bool) {
		raw := r.URL.Query().Get(name)
		if raw == "" {
			return 0, true
		}
		n, err := strconv.ParseUint(raw, 10, 64)
		return n, err == nil && n < 1<<62
	}
	from, okFrom := size("from")
	to, okTo := size("to")
	if !okFrom || !okTo {
		c.render(w, http.StatusBadRequest, "transparency.html", page{Title: "Transparency report", Error: "The period must be given as checkpoint sizes."})
		return
	}
	sr, err := c.cfg.Privacy.Report(r.Context(), from, to)
	switch {
	case errors.Is(err, privacy.ErrNotFound):
		c.render(w, http.StatusNotFound, "transparency.html", page{Title: "Transparency report", Error: "There is no signed checkpoint for that period yet."})
		return
	case errors.Is(err, privacy.ErrInvalidRequest):
		c.render(w, http.StatusBadRequest, "transparency.html", page{Title: "Transparency report", Error: "The period ends before it starts."})
		return
	case err != nil:
		c.cfg.Logger.Error("transparency report", "err", err)
		c.render(w, http.StatusInternalServerError, "transparency.html", page{Title: "Transparency report", Error: "Something went wrong on our side."})
		return
	}
	jsonURL := "/v1/transparency/report?from=" + strconv.FormatUint(sr.Report.From.Size, 10) + "&to=" + strconv.FormatUint(sr.Report.To.Size, 10)
	c.render(w, http.StatusOK, "transparency.html", page{Title: "Transparency report", Report: newReportView(&sr.Report, jsonURL)})
}
