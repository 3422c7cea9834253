package privacy_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/verify"
)

// call saves a call from number at start and, for a subject, its
// transcript sealed as the phone line does.
func (e *env) call(id, number string, start time.Time, subjectID string, lines ...string) {
	e.t.Helper()
	ctx := e.t.Context()
	rec := &dialogue.CallRecord{ID: id, Trunk: "pbx", CallerIndex: e.keys.BlindIndex("phone", number), Start: start,
		Duration: 90 * time.Second, Charged: 2 * time.Minute, Ended: dialogue.EndCallerHangup, Turns: 1, DisclosureHash: "d"}
	if err := e.db.SaveCall(ctx, rec); err != nil {
		e.t.Fatal(err)
	}
	if subjectID == "" {
		return
	}
	var tr dialogue.Transcript
	for i, l := range lines {
		if i%2 == 0 {
			tr.Assistant(time.Duration(i)*time.Second, l, false)
		} else {
			tr.Caller(time.Duration(i)*time.Second, l)
		}
	}
	data, err := tr.MarshalJSON()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.SaveTranscript(ctx, id, subjectID, start, func(tx identity.DataKeys) ([]byte, error) {
		return identity.SealTranscript(e.keys, tx, subjectID, id, data, start)
	}); err != nil {
		e.t.Fatal(err)
	}
}

func TestExportCalls(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	bound := e.clock.Now()
	e.call("call_before", number(1), bound.Add(-time.Hour), "") // the number's previous owner
	signup := e.signup(number(1))
	sub := signup.SubjectID
	stranger := e.signup(number(2))
	e.call("call_talk", number(1), bound.Add(time.Minute), sub, "You are talking with an AI.", "what time is it")
	e.call("call_plain", number(1), bound.Add(2*time.Minute), "")
	e.call("call_stranger", number(2), bound.Add(3*time.Minute), stranger.SubjectID, "Hello.", "stranger words")
	e.clock.Advance(time.Hour)
	login := e.prove(number(1), verify.PurposeLogin, "")
	x, err := e.svc.Export(ctx, sub, login.ID, "key_app")
	if err != nil {
		t.Fatal(err)
	}
	calls := x.Export.Calls
	if len(calls) != 2 || calls[0].ID != "call_talk" || calls[1].ID != "call_plain" {
		t.Fatalf("calls %+v, want call_talk and call_plain", calls)
	}
	c := calls[0]
	if c.From != signup.Masked || c.DurationMillis != 90000 || c.ChargedMillis != 120000 || c.Ended != dialogue.EndCallerHangup ||
		c.Turns != 1 || c.StartedAt != "2030-01-02T03:05:05.000Z" {
		t.Errorf("call %+v", c)
	}
	want := []privacy.ExportLine{{0, "assistant", "You are talking with an AI."}, {1000, "caller", "what time is it"}}
	if len(c.Transcript) != len(want) || c.Transcript[0] != want[0] || c.Transcript[1] != want[1] {
		t.Errorf("transcript %+v, want %+v", c.Transcript, want)
	}
	if calls[1].Transcript != nil {
		t.Errorf("a call without a transcript has %+v", calls[1].Transcript)
	}
	data, _ := json.Marshal(x)
	if strings.Contains(string(data), "stranger words") || strings.Contains(string(data), "call_before") {
		t.Error("the export holds another person's call")
	}
	if !strings.Contains(string(data), `"calls":[`) || strings.Count(string(data), `"transcript":`) != 1 {
		t.Errorf("calls in JSON: %s", data)
	}
	if _, err := privacy.VerifyExport(data, e.svc.PublicKeys(), e.v); err != nil {
		t.Fatalf("VerifyExport: %v", err)
	}

	// An expired transcript leaves its call without one.
	if _, err := e.db.PurgeTranscripts(ctx, bound.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	x, err = e.svc.Export(ctx, sub, login.ID, "key_app")
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Export.Calls) != 2 || x.Export.Calls[0].Transcript != nil {
		t.Errorf("after the purge: %+v", x.Export.Calls)
	}

	// A subject with no calls has an empty list, not null.
	other := e.signup(number(3))
	x, err = e.svc.Export(ctx, other.SubjectID, other.ID, "key_app")
	if err != nil {
		t.Fatal(err)
	}
	data, _ = json.Marshal(x)
	if x.Export.Calls == nil || !strings.Contains(string(data), `"calls":[]`) {
		t.Errorf("no calls: %s", data)
	}
}

// TestExportCallsKeptFromAnotherNumber: a call whose transcript was kept for
// the subject from a number that is not (or no longer) bound to it is in
// the export, without a number, beside the calls from its bound number.
func TestExportCallsKeptFromAnotherNumber(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	bound := e.clock.Now()
	sub := e.signup(number(1)).SubjectID
	e.call("call_bound", number(1), bound.Add(time.Minute), "")
	e.call("call_elsewhere", number(3), bound.Add(2*time.Minute), sub, "Hello.", "from another phone")
	e.call("call_unkept", number(3), bound.Add(3*time.Minute), "")
	e.clock.Advance(time.Hour)
	login := e.prove(number(1), verify.PurposeLogin, "")
	x, err := e.svc.Export(ctx, sub, login.ID, "key_app")
	if err != nil {
		t.Fatal(err)
	}
	calls := x.Export.Calls
	if len(calls) != 2 || calls[0].ID != "call_bound" || calls[1].ID != "call_elsewhere" {
		t.Fatalf("calls %+v, want call_bound and call_elsewhere", calls)
	}
	if c := calls[1]; c.From != "" || len(c.Transcript) != 2 || c.Transcript[1].Text != "from another phone" {
		t.Errorf("the call kept from another number: %+v", c)
	}
}
