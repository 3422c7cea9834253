package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/audit"
)

// TestRevealStepsProvedInLog walks a reveal through the API (request, two
// approvals by other staff, one use, a refused second use) and proves each
// step's audit entry is in the log: its inclusion proof, fetched from the
// public endpoint, checks against the root of a checkpoint signed by the
// published key, and its leaf hash is the hash of that very event.
func TestRevealStepsProvedInLog(t *testing.T) {
	opts := withAccess(t)
	opts.audit = true
	h := newHarness(t, opts)
	sub := h.signup(numA, "")["subject_id"].(string)
	req := h.addStaff("req@example.com", access.RoleReviewer)
	a1, a2 := h.addStaff("a1@example.com", access.RoleApprover), h.addStaff("a2@example.com", access.RoleApprover)
	tReq, tA1, tA2 := h.login(req), h.login(a1), h.login(a2)

	id := h.post(tReq, "/v1/reveals", revealBody(sub, "tos_review")).wantStatus(http.StatusCreated).str("id")
	h.post(tA1, "/v1/reveals/"+id+"/approve", "").wantStatus(http.StatusOK)
	h.post(tA2, "/v1/reveals/"+id+"/approve", "").wantStatus(http.StatusOK)
	h.use(tReq, id).wantStatus(http.StatusOK)
	h.use(tReq, id).wantError(http.StatusConflict, "reveal_used")

	h.post(bootstrapKey, "/v1/audit/checkpoints", "").wantStatus(http.StatusCreated)
	list := h.get("", "/v1/audit/checkpoints").wantStatus(http.StatusOK).json()
	v, err := note.NewVerifier(list["verifier_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.OpenCheckpoint([]byte(list["checkpoints"].([]any)[0].(map[string]any)["note"].(string)), v)
	if err != nil {
		t.Fatal(err)
	}

	es, err := h.db.AuditEvents(t.Context(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range es {
		if e.VerificationID != id {
			continue
		}
		steps = append(steps, e.Type+" "+e.Actor)
		p := h.get("", fmt.Sprintf("/v1/audit/proofs/inclusion/%d?size=%d", e.Seq, cp.Size)).wantStatus(http.StatusOK).json()
		leaf := b64(t, p["leaf_hash"].(string))
		row, err := h.db.AuditRow(t.Context(), uint64(e.Seq))
		if err != nil {
			t.Fatal(err)
		}
		if row.Entry.Type != e.Type || !bytes.Equal(leaf, audit.LeafHash(row.Entry.LeafData())) {
			t.Errorf("seq %d (%s): the proven leaf is not the hash of the event", e.Seq, e.Type)
		}
		var proof [][]byte
		for _, x := range p["proof"].([]any) {
			proof = append(proof, b64(t, x.(string)))
		}
		if err := audit.VerifyInclusion(leaf, uint64(e.Seq)-1, cp.Size, proof, cp.Root); err != nil {
			t.Errorf("seq %d (%s): %v", e.Seq, e.Type, err)
		}
		// The proof is specific: another leaf does not check.
		other := audit.LeafHash([]byte("not this event"))
		if err := audit.VerifyInclusion(other, uint64(e.Seq)-1, cp.Size, proof, cp.Root); err == nil {
			t.Errorf("seq %d: a different leaf verified under the same proof", e.Seq)
		}
	}
	want := []string{
		"reveal.requested " + req.id,
		"reveal.approved " + a1.id,
		"reveal.approved " + a2.id,
		"reveal.used " + req.id,
		"reveal.refused " + req.id,
	}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("the reveal's steps in the log:\n got %v\nwant %v", steps, want)
	}
}
