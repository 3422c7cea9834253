package api_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/ringfence/ringfence/internal/audit"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuditCheckpointsAndProofs(t *testing.T) {
	h := newHarness(t, options{audit: true, identity: true})
	h.get("", "/v1/audit/proofs/inclusion/1").wantError(http.StatusNotFound, "not_found") // no checkpoint yet
	h.signup(numA, "")
	first := h.post(bootstrapKey, "/v1/audit/checkpoints", "").wantStatus(http.StatusCreated).json()
	h.signup(numB, "")
	h.post(h.app, "/v1/audit/checkpoints", "").wantError(http.StatusForbidden, "forbidden")
	h.post(bootstrapKey, "/v1/audit/checkpoints", "").wantStatus(http.StatusCreated)

	// Anyone can fetch the checkpoints and check them with the published key.
	list := h.get("", "/v1/audit/checkpoints").wantStatus(http.StatusOK).json()
	v, err := note.NewVerifier(list["verifier_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	cps := list["checkpoints"].([]any)
	if len(cps) != 2 {
		t.Fatalf("checkpoints: %v", list)
	}
	latest, err := audit.OpenCheckpoint([]byte(cps[0].(map[string]any)["note"].(string)), v)
	if err != nil {
		t.Fatal(err)
	}
	// Every entry's inclusion proof checks against the signed root.
	for seq := uint64(1); seq <= latest.Size; seq++ {
		p := h.get("", fmt.Sprintf("/v1/audit/proofs/inclusion/%d", seq)).wantStatus(http.StatusOK).json()
		var proof [][]byte
		for _, x := range p["proof"].([]any) {
			proof = append(proof, b64(t, x.(string)))
		}
		if err := audit.VerifyInclusion(b64(t, p["leaf_hash"].(string)), seq-1, latest.Size, proof, latest.Root); err != nil {
			t.Errorf("seq %d: %v", seq, err)
		}
		if _, ok := p["entry"]; ok {
			t.Errorf("the public proof shows the entry")
		}
	}
	e := h.get(bootstrapKey, "/v1/audit/entries/1").wantStatus(http.StatusOK).json()["entry"].(map[string]any)
	if e["type"] != "verification.started" || e["seq"] != 1.0 {
		t.Errorf("entry 1: %v", e)
	}
	h.get(h.app, "/v1/audit/entries/1").wantError(http.StatusForbidden, "forbidden")
	h.get("", fmt.Sprintf("/v1/audit/proofs/inclusion/%d", latest.Size+1)).wantError(http.StatusBadRequest, "invalid_request")
	h.get("", "/v1/audit/proofs/inclusion/x").wantError(http.StatusNotFound, "not_found")

	// The later checkpoint extends the earlier one.
	c := h.get("", fmt.Sprintf("/v1/audit/proofs/consistency?from=%v", first["size"])).wantStatus(http.StatusOK).json()
	var proof [][]byte
	for _, x := range c["proof"].([]any) {
		proof = append(proof, b64(t, x.(string)))
	}
	from := c["from"].(map[string]any)
	if err := audit.VerifyConsistency(uint64(from["size"].(float64)), latest.Size, proof, b64(t, from["root"].(string)), latest.Root); err != nil {
		t.Errorf("consistency: %v", err)
	}
	h.get("", "/v1/audit/proofs/consistency").wantError(http.StatusBadRequest, "invalid_request")
	h.get("", "/v1/audit/proofs/consistency?from=999999").wantError(http.StatusNotFound, "not_found")
}
