package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/apikey"
	"github.com/ringfence/ringfence/internal/identity"
)

func (h *harness) erase(key, id, body string) *resp {
	h.t.Helper()
	return h.do(req{method: "DELETE", path: "/v1/subjects/" + id, key: key, body: body})
}

// auditTypes lists the types of the audit events of a subject, in order.
func (h *harness) auditTypes(subjectID string) []string {
	h.t.Helper()
	es, err := h.db.AuditEvents(context.Background(), 0, 1<<20)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.SubjectID == subjectID {
			out = append(out, e.Type)
		}
	}
	return out
}

func TestEraseSubject(t *testing.T) {
	h := newHarness(t, options{identity: true})
	sub := h.signup(numA, "")["subject_id"].(string)
	h.clock.Advance(61 * time.Second)
	other := h.signup(numB, "")["subject_id"].(string)
	staff, _ := h.createKey(bootstrapKey, "staff", apikey.RoleStaff)

	// Bad input changes nothing.
	before := h.rows()
	confirm := fmt.Sprintf(`{"confirm":%q}`, sub)
	h.erase(staff, sub, confirm).wantError(http.StatusForbidden, "forbidden")
	h.erase("", sub, confirm).wantError(http.StatusUnauthorized, "unauthorized")
	h.erase(h.app, sub, `{}`).wantError(http.StatusBadRequest, "invalid_request")
	h.erase(h.app, sub, `{"confirm":""}`).wantError(http.StatusBadRequest, "invalid_request")
	h.erase(h.app, sub, fmt.Sprintf(`{"confirm":%q}`, other)).wantError(http.StatusBadRequest, "confirmation_mismatch")
	h.erase(h.app, sub, confirm+"x").wantError(http.StatusBadRequest, "invalid_json")
	h.erase(h.app, sub, "").wantError(http.StatusUnsupportedMediaType, "unsupported_media_type")
	unknown := "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	h.erase(h.app, unknown, fmt.Sprintf(`{"confirm":%q}`, unknown)).wantError(http.StatusNotFound, "not_found")
	h.erase(h.app, "not-an-id", `{"confirm":"not-an-id"}`).wantError(http.StatusNotFound, "not_found")
	if after := h.rows(); after != before {
		t.Fatalf("refused erasures changed %d rows", after-before)
	}
	h.get(h.app, "/v1/subjects/"+sub).wantStatus(http.StatusOK)

	r := h.erase(h.app, sub, confirm).wantStatus(http.StatusOK).json()
	if r["id"] != sub || r["erased"] != true || r["numbers"] != 1.0 || r["tombstones"] != 1.0 {
		t.Fatalf("erase: %v", r)
	}
	h.erase(h.app, sub, confirm).wantError(http.StatusGone, "subject_erased")
	h.erase(bootstrapKey, sub, confirm).wantError(http.StatusGone, "subject_erased")
	h.get(h.app, "/v1/subjects/"+sub).wantError(http.StatusNotFound, "not_found")
	h.get(h.app, "/v1/subjects/"+other).wantStatus(http.StatusOK)
	// step_up for the erased subject has nowhere to go.
	h.start(fmt.Sprintf(`{"subject_id":%q,"purpose":"step_up"}`, sub)).wantError(http.StatusBadRequest, "invalid_request")

	// The tombstone refuses a new account for the number, in any spelling.
	h.clock.Advance(61 * time.Second)
	for _, body := range []string{`{"phone":"+14155550123","purpose":"signup"}`, `{"phone":"(415) 555-0123","country":"US","purpose":"signup"}`} {
		if got := h.start(body).wantError(http.StatusForbidden, "blocked").errorField("reasons"); fmt.Sprint(got) != "[erased_number]" {
			t.Errorf("signup of an erased number: reasons %v", got)
		}
	}
	// A login for it is answered like any unknown number.
	h.start(`{"phone":"+14155550123","purpose":"login"}`).wantStatus(http.StatusCreated)

	types := h.auditTypes(sub)
	want := map[string]bool{"tombstone.created": false, "subject.erased": false}
	for _, typ := range types {
		if _, ok := want[typ]; ok {
			want[typ] = true
		}
	}
	for typ, seen := range want {
		if !seen {
			t.Errorf("no %s audit event for the subject: %v", typ, types)
		}
	}
}

func TestEraseTombstoneModes(t *testing.T) {
	for _, mode := range []string{identity.TombstoneFlag, identity.TombstoneOff} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, options{identity: true, identCfg: func(c *identity.Config) { c.Tombstone = mode }})
			sub := h.signup(numA, "")["subject_id"].(string)
			r := h.erase(h.app, sub, fmt.Sprintf(`{"confirm":%q}`, sub)).wantStatus(http.StatusOK).json()
			wantTombs := map[string]float64{identity.TombstoneFlag: 1, identity.TombstoneOff: 0}[mode]
			if r["tombstones"] != wantTombs {
				t.Errorf("tombstones = %v, want %v", r["tombstones"], wantTombs)
			}
			h.clock.Advance(61 * time.Second)
			again := h.signup(numA, "")
			if again["subject_id"] == sub || again["new"] != true {
				t.Fatalf("signup after erasure: %v", again)
			}
			flagged := false
			for _, typ := range h.auditTypes(again["subject_id"].(string)) {
				flagged = flagged || typ == "tombstone.matched"
			}
			if flagged != (mode == identity.TombstoneFlag) {
				t.Errorf("mode %s: tombstone.matched logged = %v", mode, flagged)
			}
		})
	}
}
