package console

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/fraud"
)

// fraudView is the fraud guard as the staff console shows it.
type fraudView struct {
	On       bool
	Stats    fraud.Stats
	Reasons  []reasonCount
	Lists    []fraud.Entry
	Breakers []fraud.BreakerState
	Spend    fraud.Spend
}

type reasonCount struct {
	Reason string
	Count  uint64
}

// staffFraud shows the fraud guard: its counters, today's spend against
// the caps, its allow and block lists and its open breakers. Any staff role may read it; changes go
// through the API (/v1/fraud/...) with an operator key.
func (c *Console) staffFraud(w http.ResponseWriter, r *http.Request, st *access.Staff) {
	v := &fraudView{}
	if g := c.cfg.Verify.Guard(); g != nil {
		v.On, v.Stats, v.Lists, v.Breakers, v.Spend = true, g.Stats(), g.Lists(), g.Breakers(), g.Spend()
		for reason, n := range v.Stats.Reasons {
			if n > 0 {
				v.Reasons = append(v.Reasons, reasonCount{reason, n})
			}
		}
		slices.SortFunc(v.Reasons, func(a, b reasonCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
		})
	}
	c.render(w, http.StatusOK, "staff.html", page{Title: "Fraud guard", Staff: &staffView{Staff: st, Approver: approver(st.Role), Fraud: v}})
}
