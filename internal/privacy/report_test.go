package privacy_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/verify"
)

// period builds a log with a known history: 3 numbers held before the
// first checkpoint, then in the period 10 more signups, 2 logins, 1
// recovery, 1 number released by a number change after a step-up, and a
// number.accessed for a security alert; it returns both checkpoints.
func (e *env) period() (from, to *audit.Stored) {
	e.t.Helper()
	var before []*verify.Verification
	for i := range 3 {
		before = append(before, e.signup(number(i)))
	}
	from = e.checkpoint()
	for i := 3; i < 13; i++ {
		e.signup(number(i))
	}
	e.prove(number(0), verify.PurposeLogin, "")
	e.prove(number(1), verify.PurposeLogin, "")
	e.prove("", verify.PurposeRecovery, before[2].SubjectID)
	// Subject 1 changes number right after a step-up: its old number is released.
	e.prove("", verify.PurposeStepUp, before[1].SubjectID)
	e.prove(number(20), verify.PurposePhoneChange, before[1].SubjectID)
	err := e.db.Write(e.t.Context(), func(tx verify.Tx) error {
		return tx.AppendEvents(verify.Event{Type: privacy.EventNumberAccessed, Actor: "system", Purpose: "security_alert",
			SubjectID: before[0].SubjectID, PhoneIndex: before[0].PhoneIndex, At: e.clock.Now()})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return from, e.checkpoint()
}

func figures(r *privacy.Report) map[string]privacy.AccessFigures {
	m := make(map[string]privacy.AccessFigures)
	for _, a := range r.Accesses {
		m[string(a.Purpose)] = a
	}
	return m
}

func TestReportMatchesThePeriod(t *testing.T) {
	e := newEnv(t)
	from, to := e.period()
	r, err := privacy.ComputeReport(t.Context(), e.db, origin, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if r.From.Size != from.Size || r.To.Size != to.Size || r.Entries != to.Size-from.Size || r.To.Checkpoint != string(to.Note) {
		t.Errorf("bounds %+v %+v, entries %d", r.From, r.To, r.Entries)
	}
	// Held: 3 at the start (a band), 13 + the new number - the released one at the end, 14 during.
	h := r.NumbersHeld
	if h.AtStart.Text != "1-9" || h.AtStart.Min != 1 || h.AtStart.Max != 9 || h.AtEnd.Text != "13" || h.During.Text != "14" {
		t.Errorf("held %+v", h)
	}
	f := figures(r)
	want := map[string][2]string{ // accesses, share of the 14 held during the period
		"signup_verification": {"10", "71.4285%"},
		"login":               {"1-9", "7.1428%-64.2857%"},
		"recovery":            {"1-9", "7.1428%-64.2857%"},
		"step_up":             {"1-9", "7.1428%-64.2857%"},
		"phone_change":        {"1-9", "7.1428%-64.2857%"},
		"security_alert":      {"1-9", "7.1428%-64.2857%"},
		"legal":               {"0", "0%"},
		"tos_review":          {"0", "0%"},
		"erasure":             {"0", "0%"},
		"other":               {"0", "0%"},
	}
	for p, w := range want {
		if got := f[p]; got.Accesses.Text != w[0] || got.Share.Text != w[1] {
			t.Errorf("%s: %s accesses, share %s; want %s, %s", p, got.Accesses.Text, got.Share.Text, w[0], w[1])
		}
	}
	if len(r.Accesses) != len(privacy.Accesses) {
		t.Errorf("%d rows, want %d", len(r.Accesses), len(privacy.Accesses))
	}
	if f["signup_verification"].Numbers.Text != "10" || f["signup_verification"].Share.MinPPM != 714285 {
		t.Errorf("signup %+v", f["signup_verification"])
	}

	// From the start of the log, the first three signups count too.
	all, err := privacy.ComputeReport(t.Context(), e.db, origin, nil, to)
	if err != nil {
		t.Fatal(err)
	}
	if got := figures(all)["signup_verification"].Accesses.Text; got != "13" || all.NumbersHeld.AtStart.Text != "0" {
		t.Errorf("whole log: %s signups, %s held at start", got, all.NumbersHeld.AtStart.Text)
	}
	// A period past the end of the log is refused.
	if _, err := privacy.ComputeReport(t.Context(), e.db, origin, from, &audit.Stored{Size: to.Size + 1}); !errors.Is(err, privacy.ErrLogShort) {
		t.Errorf("a period past the log: %v", err)
	}
}

func TestServiceReport(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if _, err := e.svc.Report(ctx, 0, 0); !errors.Is(err, privacy.ErrNotFound) {
		t.Fatalf("no checkpoint yet: %v", err)
	}
	from, to := e.period()
	sr, err := e.svc.Report(ctx, from.Size, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Report.To.Size != to.Size || sr.Report.From.Size != from.Size {
		t.Errorf("period %d-%d", sr.Report.From.Size, sr.Report.To.Size)
	}
	for _, tc := range []struct {
		from, to uint64
		want     error
	}{
		{from.Size + 1, to.Size, privacy.ErrNotFound}, // no checkpoint of that size
		{0, to.Size + 5, privacy.ErrNotFound},
		{to.Size, from.Size, privacy.ErrInvalidRequest},
	} {
		if _, err := e.svc.Report(ctx, tc.from, tc.to); !errors.Is(err, tc.want) {
			t.Errorf("Report(%d, %d): %v, want %v", tc.from, tc.to, err, tc.want)
		}
	}
}

// verifyReport runs VerifyReport as `ringfence report verify` does.
func (e *env) verifyReport(data []byte) (*privacy.ReportCheck, error) {
	e.t.Helper()
	stored, err := e.db.Checkpoints(e.t.Context(), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var notes [][]byte
	for _, c := range stored {
		notes = append(notes, c.Note)
	}
	return privacy.VerifyReport(e.t.Context(), data, e.db, e.v, notes,
		func(msg, mac []byte) bool { return e.keys.CheckMAC(mac, "audit-row", msg) }, e.svc.PublicKeys())
}

func TestVerifyReport(t *testing.T) {
	e := newEnv(t)
	from, _ := e.period()
	sr, err := e.svc.Report(t.Context(), from.Size, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.MarshalIndent(sr, "", "  ")

	check, err := e.verifyReport(data)
	if err != nil || len(check.Mismatches) != 0 {
		t.Fatalf("the served report: %v, %v", check.Mismatches, err)
	}

	// Change one figure: verify names it (and the signature breaks).
	edit := func(fn func(r map[string]any)) []byte {
		var d map[string]any
		json.Unmarshal(data, &d)
		fn(d["report"].(map[string]any))
		b, _ := json.Marshal(d)
		return b
	}
	for name, tc := range map[string]struct {
		fn     func(r map[string]any)
		figure string
	}{
		"legal accesses": {func(r map[string]any) {
			for _, a := range r["accesses"].([]any) {
				if a := a.(map[string]any); a["purpose"] == "legal" {
					a["accesses"] = map[string]any{"text": "1-9", "min": 1, "max": 9}
				}
			}
		}, "accesses.legal.accesses"},
		"held at end": {func(r map[string]any) {
			r["numbers_held"].(map[string]any)["at_end"].(map[string]any)["min"] = 12
		}, "numbers_held.at_end"},
		"signup share": {func(r map[string]any) {
			r["accesses"].([]any)[0].(map[string]any)["share_of_held"].(map[string]any)["text"] = "100%"
		}, "accesses.signup_verification.share_of_held"},
		"origin": {func(r map[string]any) { r["origin"] = "another.example.com/audit" }, "origin"},
		"row dropped": {func(r map[string]any) {
			r["accesses"] = r["accesses"].([]any)[1:]
		}, "accesses.signup_verification.accesses"},
	} {
		t.Run(name, func(t *testing.T) {
			check, err := e.verifyReport(edit(tc.fn))
			if err != nil {
				t.Fatal(err)
			}
			if len(check.Mismatches) == 0 || check.Mismatches[0].Figure != tc.figure {
				t.Fatalf("mismatches %v, want the first to be %s", check.Mismatches, tc.figure)
			}
			last := check.Mismatches[len(check.Mismatches)-1]
			if last.Figure != "signature" {
				t.Errorf("the signature of a changed report verified: %v", check.Mismatches)
			}
		})
	}

	// A field the format does not have is refused outright.
	if _, err := e.verifyReport(edit(func(r map[string]any) { r["note"] = "x" })); err == nil {
		t.Error("a report with an unknown field was accepted")
	}

	// Change one log entry in the period: the audit verification fails,
	// naming it, even though the report itself is untouched.
	seq := from.Size + 3
	e.exec(`DROP TRIGGER audit_events_no_update`) // as an operator with the database could
	e.exec(`UPDATE audit_events SET detail = 'edited' WHERE seq = ?`, seq)
	_, err = e.verifyReport(data)
	var bad *audit.BadEntryError
	if !errors.As(err, &bad) || bad.Seq != seq {
		t.Fatalf("an edited entry: err = %v, want a bad entry at seq %d", err, seq)
	}
}

// A report signed by another key, or whose checkpoint is forged, fails.
func TestVerifyReportForeign(t *testing.T) {
	e := newEnv(t)
	from, _ := e.period()
	sr, err := e.svc.Report(t.Context(), from.Size, 0)
	if err != nil {
		t.Fatal(err)
	}
	other := newEnv(t)
	other.period()
	osr, err := other.svc.Report(t.Context(), from.Size, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The other service's report, checked against this log: its checkpoints
	// are not signed by this log's key.
	data, _ := json.Marshal(osr)
	if _, err := e.verifyReport(data); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("another log's report: %v", err)
	}
	// This report with the other service's signature.
	sr.Signature = osr.Signature
	data, _ = json.Marshal(sr)
	check, err := e.verifyReport(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(check.Mismatches) != 1 || check.Mismatches[0].Figure != "signature" {
		t.Errorf("mismatches %v, want only the signature", check.Mismatches)
	}
}

// Concurrent requests for one period compute it once and share the answer.
func TestReportConcurrent(t *testing.T) {
	e := newEnv(t)
	from, _ := e.period()
	out := make(chan *privacy.SignedReport, 8)
	for range 8 {
		go func() {
			r, err := e.svc.Report(t.Context(), from.Size, 0)
			if err != nil {
				t.Error(err)
			}
			out <- r
		}()
	}
	first := <-out
	for range 7 {
		if r := <-out; r != first {
			t.Error("a period's report was computed twice")
		}
	}
}
