package console

import (
	"context"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/audit"
)

// AuditLog is what the staff console's audit browser reads.
type AuditLog interface {
	// AuditSize is the seq of the last entry.
	AuditSize(ctx context.Context) (uint64, error)
	// AuditRow reads the entry of a seq.
	AuditRow(ctx context.Context, seq uint64) (audit.Row, error)
}

// Limits of one page of the audit browser.
const (
	auditPage = 50   // entries shown
	auditScan = 5000 // entries read to fill a page
)

// auditView is one page of the audit browser.
type auditView struct {
	Type, Subject, Purpose string
	Entries                []auditRow
	Next                   uint64 // the "before" of the next page, 0 if none
	Scanned                uint64
}

type auditRow struct {
	audit.Entry
	Leaf string // hex prefix of the leaf hash
}

// staffAudit lists audit entries newest first, filtered by type (prefix),
// subject and purpose, each with a link to its public inclusion proof.
// Every staff role may read it: entries hold ids, never a number.
func (c *Console) staffAudit(w http.ResponseWriter, r *http.Request, st *access.Staff) {
	q := r.URL.Query()
	v := &auditView{Type: strings.TrimSpace(q.Get("type")), Subject: strings.TrimSpace(q.Get("subject")), Purpose: strings.TrimSpace(q.Get("purpose"))}
	size, err := c.cfg.AuditLog.AuditSize(r.Context())
	if err != nil {
		c.staffError(w, st, err)
		return
	}
	before := size + 1
	if raw := q.Get("before"); raw != "" {
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil || n == 0 {
			c.staffError(w, st, access.ErrInvalidRequest)
			return
		}
		before = min(n, size+1)
	}
	seq := before
	for seq > 1 && len(v.Entries) < auditPage && v.Scanned < auditScan {
		seq--
		v.Scanned++
		row, err := c.cfg.AuditLog.AuditRow(r.Context(), seq)
		if err != nil {
			c.staffError(w, st, err)
			return
		}
		e := row.Entry
		if (v.Type != "" && !strings.HasPrefix(e.Type, v.Type)) || (v.Subject != "" && e.Subject != v.Subject) ||
			(v.Purpose != "" && e.Purpose != v.Purpose) {
			continue
		}
		v.Entries = append(v.Entries, auditRow{Entry: e, Leaf: hex.EncodeToString(row.LeafHash)[:16]})
	}
	if seq > 1 {
		v.Next = seq
	}
	c.render(w, http.StatusOK, "staff.html", page{Title: "Audit log", Staff: &staffView{Staff: st, Approver: approver(st.Role), Audit: v}})
}
