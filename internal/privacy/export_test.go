package privacy_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/verify"
)

func TestExport(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	signup := e.signup(number(1))
	sub := signup.SubjectID
	stranger := e.signup(number(2))
	if _, err := e.svc.Change(ctx, privacy.Change{SubjectID: sub, Purpose: privacy.PurposeSecurityAlerts, Channel: privacy.ChannelSMS,
		Action: privacy.ActionGrant, Evidence: signup.ID}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	login := e.prove(number(1), verify.PurposeLogin, "")
	x, err := e.svc.Export(ctx, sub, login.ID, "key_app")
	if err != nil {
		t.Fatal(err)
	}
	ex := x.Export
	if ex.Subject.ID != sub || len(ex.Numbers) != 1 || ex.Numbers[0].E164 != number(1) || ex.Numbers[0].Masked != signup.Masked {
		t.Errorf("subject %+v numbers %+v", ex.Subject, ex.Numbers)
	}
	if len(ex.Verifications) != 2 || ex.Verifications[0].ID != signup.ID || ex.Verifications[1].ID != login.ID {
		t.Errorf("verifications %+v", ex.Verifications)
	}
	if len(ex.Consents) != 1 || ex.Consents[0].Receipt.Purpose != "security_alerts" {
		t.Errorf("consents %+v", ex.Consents)
	}

	// Every entry about the subject, none about the stranger, the export's
	// own read of the number among them.
	types := map[string]int{}
	for _, en := range ex.Audit.Entries {
		if en.Subject != sub && en.Ref != signup.ID && en.Ref != login.ID {
			t.Errorf("entry %d is not about the subject: %+v", en.Seq, en)
		}
		if en.Subject == stranger.SubjectID || en.Ref == stranger.ID {
			t.Errorf("entry %d is the stranger's", en.Seq)
		}
		types[en.Type]++
	}
	for _, typ := range []string{"verification.started", "verification.approved", "subject.created", "binding.created", "consent.granted", privacy.EventNumberAccessed} {
		if types[typ] == 0 {
			t.Errorf("no %s entry in the export: %v", typ, types)
		}
	}
	last := ex.Audit.Entries[len(ex.Audit.Entries)-1]
	if last.Type != privacy.EventNumberAccessed || last.Purpose != "user_export" || last.Seq != ex.Audit.Checkpoint.Size {
		t.Errorf("the last entry %+v, checkpoint %d", last, ex.Audit.Checkpoint.Size)
	}

	// The person checks it offline.
	data, _ := json.Marshal(x)
	if _, err := privacy.VerifyExport(data, e.svc.PublicKeys(), e.v); err != nil {
		t.Fatal(err)
	}
	// One entry changed after signing the export: its signature breaks.
	var doc map[string]any
	json.Unmarshal(data, &doc)
	doc["export"].(map[string]any)["audit"].(map[string]any)["entries"].([]any)[0].(map[string]any)["actor"] = "someone"
	b, _ := json.Marshal(doc)
	if _, err := privacy.VerifyExport(b, e.svc.PublicKeys(), e.v); !errors.Is(err, privacy.ErrSignature) {
		t.Errorf("an edited export: %v", err)
	}
	// An entry whose fields do not match its proof fails on its own too.
	en := ex.Audit.Entries[0]
	root := mustRoot(t, ex.Audit.Checkpoint.Root)
	if err := en.CheckEntry(root, ex.Audit.Checkpoint.Size); err != nil {
		t.Fatal(err)
	}
	en.Detail = "edited"
	if err := en.CheckEntry(root, ex.Audit.Checkpoint.Size); err == nil {
		t.Error("an edited entry checks")
	}
	en = ex.Audit.Entries[1]
	en.Proof = en.Proof[1:]
	if err := en.CheckEntry(root, ex.Audit.Checkpoint.Size); err == nil {
		t.Error("a cut proof checks")
	}

	// The report counts the export under user_export.
	r, err := privacy.ComputeReport(ctx, e.db, origin, nil, &audit.Stored{Size: ex.Audit.Checkpoint.Size, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if got := figures(r)["user_export"].Accesses.Text; got != "1-9" {
		t.Errorf("user_export accesses %s", got)
	}
}

func TestExportRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	signup := e.signup(number(1))
	other := e.signup(number(2))
	e.clock.Advance(privacy.ExportFreshness + time.Second)
	fresh := e.prove(number(1), verify.PurposeLogin, "")
	for _, tc := range []struct {
		name, subject, evidence string
		want                    error
	}{
		{"stale evidence", signup.SubjectID, signup.ID, privacy.ErrInvalidEvidence},
		{"another subject's evidence", signup.SubjectID, other.ID, privacy.ErrInvalidEvidence},
		{"no evidence", signup.SubjectID, "", privacy.ErrInvalidEvidence},
		{"unknown subject", "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa", fresh.ID, privacy.ErrNotFound},
		{"malformed subject", "sub", fresh.ID, privacy.ErrNotFound},
	} {
		before := e.auditSize()
		if _, err := e.svc.Export(ctx, tc.subject, tc.evidence, "key_app"); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if e.auditSize() != before {
			t.Errorf("%s: a refused export was logged", tc.name)
		}
	}
	// Without a checkpoint function the latest one is used (none here); the
	// export's own reads come after it and are not yet proven.
	svc, err := privacy.NewService(privacy.Config{Issuer: "ringfence-test", Origin: origin}, e.db, e.keys, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	x, err := svc.Export(ctx, signup.SubjectID, fresh.ID, "key_app")
	if err != nil {
		t.Fatal(err)
	}
	if x.Export.Audit.Checkpoint.Size != 0 || len(x.Export.Audit.Entries) != 0 {
		t.Errorf("with no checkpoint: %+v", x.Export.Audit)
	}
	if strings.Contains(x.Export.Numbers[0].Masked, number(1)[2:]) {
		t.Error("the masked number is not masked")
	}
}

func mustRoot(t *testing.T, b64 string) []byte {
	t.Helper()
	var root []byte
	if err := json.Unmarshal([]byte(`"`+b64+`"`), &root); err != nil {
		t.Fatal(err)
	}
	return root
}
