package privacy_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/verify"
)

func TestConsentGrantAndWithdraw(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v := e.signup(number(1))
	sub := v.SubjectID

	c, err := e.svc.Change(ctx, privacy.Change{SubjectID: sub, Purpose: privacy.PurposeAssistantCalls, Channel: privacy.ChannelCall,
		Action: privacy.ActionGrant, Evidence: v.ID, Actor: "key_app"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AuditSeq != e.auditSize() || c.Method != privacy.MethodAPI || c.Evidence != v.ID || !bytes.Equal(c.PhoneIndex, v.PhoneIndex) {
		t.Errorf("record %+v", c)
	}
	row, err := e.db.AuditRow(ctx, c.AuditSeq)
	if err != nil {
		t.Fatal(err)
	}
	if row.Entry.Type != privacy.EventGranted || row.Entry.Ref != c.ID || row.Entry.Subject != sub || row.Entry.Purpose != "" {
		t.Errorf("audit entry %+v", row.Entry)
	}

	// The receipt verifies offline with the published key, and says what happened.
	r, err := privacy.VerifyReceipt(c.Receipt, e.svc.PublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	if r.ReceiptID != c.ID || r.Subject != sub || r.Purpose != "assistant_calls" || r.Channel != "call" || r.Action != "grant" ||
		r.Evidence != v.ID || r.Number != v.Masked || r.AuditSeq != c.AuditSeq || r.AuditOrigin != origin || r.Issuer != "ringfence-test" {
		t.Errorf("receipt %+v", r)
	}
	if strings.Contains(string(c.Receipt), number(1)[2:]) {
		t.Error("the receipt holds the number")
	}

	ok, err := e.svc.Granted(ctx, sub, privacy.PurposeAssistantCalls, privacy.ChannelCall)
	if err != nil || !ok {
		t.Fatalf("Granted = %v, %v after a grant", ok, err)
	}
	if ok, _ := e.svc.Granted(ctx, sub, privacy.PurposeProductUpdates, privacy.ChannelSMS); ok {
		t.Error("a purpose never granted reads as granted")
	}

	// A withdrawal needs no evidence: it must be as easy as the grant.
	w, err := e.svc.Change(ctx, privacy.Change{SubjectID: sub, Purpose: privacy.PurposeAssistantCalls, Channel: privacy.ChannelCall,
		Action: privacy.ActionWithdraw, Actor: "key_app"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := privacy.VerifyReceipt(w.Receipt, e.svc.PublicKeys()); err != nil || r.Action != "withdraw" || r.ConsentType != "withdrawal" {
		t.Fatalf("withdrawal receipt %+v, %v", r, err)
	}
	if ok, _ := e.svc.Granted(ctx, sub, privacy.PurposeAssistantCalls, privacy.ChannelCall); ok {
		t.Error("still granted after the withdrawal")
	}
	rs, err := e.svc.Consents(ctx, sub)
	if err != nil || len(rs) != 2 || rs[0].ID != c.ID || rs[1].ID != w.ID {
		t.Fatalf("ledger %v, %v", rs, err)
	}
	st := privacy.Current(rs)
	if len(st) != 1 || st[0].Granted || st[0].Latest.ID != w.ID {
		t.Errorf("current %+v", st)
	}
}

func TestConsentRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v := e.signup(number(1))
	other := e.signup(number(2))
	sub := v.SubjectID
	pending, err := e.verify.Start(ctx, verify.StartRequest{Phone: number(1), Channel: verify.ChannelInboundSMS, Purpose: verify.PurposeLogin})
	if err != nil {
		t.Fatal(err)
	}
	ok := privacy.Change{SubjectID: sub, Purpose: privacy.PurposeSecurityAlerts, Channel: privacy.ChannelSMS, Action: privacy.ActionGrant, Evidence: v.ID}
	for _, tc := range []struct {
		name   string
		change func(*privacy.Change)
		want   error
	}{
		{"unknown subject", func(c *privacy.Change) { c.SubjectID = "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa" }, privacy.ErrNotFound},
		{"malformed subject", func(c *privacy.Change) { c.SubjectID = "../etc" }, privacy.ErrNotFound},
		{"unknown purpose", func(c *privacy.Change) { c.Purpose = "marketing" }, privacy.ErrInvalidPurpose},
		{"empty purpose", func(c *privacy.Change) { c.Purpose = "" }, privacy.ErrInvalidPurpose},
		{"unknown channel", func(c *privacy.Change) { c.Channel = "fax" }, privacy.ErrInvalidChannel},
		{"channel the purpose may not use", func(c *privacy.Change) { c.Purpose = privacy.PurposeAssistantCalls }, privacy.ErrInvalidChannel},
		{"unknown action", func(c *privacy.Change) { c.Action = "maybe" }, privacy.ErrInvalidRequest},
		{"grant without evidence", func(c *privacy.Change) { c.Evidence = "" }, privacy.ErrInvalidEvidence},
		{"malformed evidence", func(c *privacy.Change) { c.Evidence = "ve_x" }, privacy.ErrInvalidEvidence},
		{"unknown verification", func(c *privacy.Change) { c.Evidence = "ve_aaaaaaaaaaaaaaaaaaaaaaaaaa" }, privacy.ErrInvalidEvidence},
		{"another subject's verification", func(c *privacy.Change) { c.Evidence = other.ID }, privacy.ErrInvalidEvidence},
		{"pending verification", func(c *privacy.Change) { c.Evidence = pending.ID }, privacy.ErrInvalidEvidence},
		{"withdrawal with bad evidence", func(c *privacy.Change) { c.Action, c.Evidence = privacy.ActionWithdraw, other.ID }, privacy.ErrInvalidEvidence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.auditSize()
			ch := ok
			tc.change(&ch)
			if _, err := e.svc.Change(ctx, ch); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if e.auditSize() != before {
				t.Error("a refused change appended to the audit log")
			}
			if rs, _ := e.db.Consents(ctx, sub); len(rs) != 0 {
				t.Error("a refused change wrote to the ledger")
			}
		})
	}
	if _, err := e.svc.Change(ctx, ok); err != nil {
		t.Fatalf("the unchanged request: %v", err)
	}
	if _, err := e.svc.Consents(ctx, "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, privacy.ErrNotFound) {
		t.Errorf("Consents of an unknown subject: %v", err)
	}
}

// A number that moved to a new owner is no evidence for the old subject.
func TestConsentEvidenceMustBeCurrentNumber(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	old := e.signup(number(1))
	e.clock.Advance(100 * 24 * 60 * 60 * 1e9) // beyond the dormancy: the number is recycled
	fresh := e.signup(number(1))
	if fresh.SubjectID == old.SubjectID {
		t.Fatal("the number did not move")
	}
	_, err := e.svc.Change(ctx, privacy.Change{SubjectID: old.SubjectID, Purpose: privacy.PurposeSecurityAlerts,
		Channel: privacy.ChannelSMS, Action: privacy.ActionGrant, Evidence: old.ID})
	if !errors.Is(err, privacy.ErrInvalidEvidence) {
		t.Fatalf("err = %v, want ErrInvalidEvidence", err)
	}
}

func TestReceiptTamper(t *testing.T) {
	e := newEnv(t)
	v := e.signup(number(1))
	c, err := e.svc.Change(t.Context(), privacy.Change{SubjectID: v.SubjectID, Purpose: privacy.PurposeProductUpdates,
		Channel: privacy.ChannelSMS, Action: privacy.ActionGrant, Evidence: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	keys := e.svc.PublicKeys()

	// Reformatted, it still verifies.
	var doc map[string]any
	if err := json.Unmarshal(c.Receipt, &doc); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(doc, "", "    ")
	if _, err := privacy.VerifyReceipt(pretty, keys); err != nil {
		t.Fatalf("an indented receipt: %v", err)
	}

	for name, edit := range map[string]func(r map[string]any){
		"action":  func(r map[string]any) { r["action"] = "withdraw" },
		"purpose": func(r map[string]any) { r["purpose"] = "assistant_sms" },
		"seq":     func(r map[string]any) { r["audit_seq"] = r["audit_seq"].(float64) + 1 },
		"added":   func(r map[string]any) { r["third_party"] = "acme" },
	} {
		var d map[string]any
		json.Unmarshal(c.Receipt, &d)
		edit(d["receipt"].(map[string]any))
		b, _ := json.Marshal(d)
		if _, err := privacy.VerifyReceipt(b, keys); !errors.Is(err, privacy.ErrSignature) {
			t.Errorf("%s changed: err = %v, want ErrSignature", name, err)
		}
	}

	// Another key, even under the same key id, is not trusted.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for id := range keys {
		keys[id] = pub
	}
	if _, err := privacy.VerifyReceipt(c.Receipt, keys); !errors.Is(err, privacy.ErrSignature) {
		t.Errorf("another key: err = %v", err)
	}
	if _, err := privacy.VerifyReceipt([]byte(`{"receipt": 1}`), keys); err == nil {
		t.Error("a broken receipt verified")
	}
}

func TestReplyStopStart(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v := e.signup(number(1))
	sub := v.SubjectID
	for _, pc := range []struct {
		p privacy.Purpose
		c privacy.Channel
	}{
		{privacy.PurposeAssistantSMS, privacy.ChannelSMS},
		{privacy.PurposeProductUpdates, privacy.ChannelSMS},
		{privacy.PurposeAssistantCalls, privacy.ChannelCall},
	} {
		if _, err := e.svc.Change(ctx, privacy.Change{SubjectID: sub, Purpose: pc.p, Channel: pc.c, Action: privacy.ActionGrant, Evidence: v.ID}); err != nil {
			t.Fatal(err)
		}
	}
	granted := func(p privacy.Purpose, c privacy.Channel) bool {
		t.Helper()
		ok, err := e.svc.Granted(ctx, sub, p, c)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// Not a keyword: nothing happens.
	before := e.auditSize()
	if kw, cs, err := e.svc.Reply(ctx, number(1), "please stop calling me at night", e.sid()); err != nil || kw != privacy.KeywordNone || len(cs) != 0 {
		t.Fatalf("a sentence: %q, %d, %v", kw, len(cs), err)
	}
	// STOP from a number with no account: nothing, and no error.
	if _, cs, err := e.svc.Reply(ctx, number(9), "STOP", e.sid()); err != nil || len(cs) != 0 {
		t.Fatalf("STOP from a stranger: %d, %v", len(cs), err)
	}
	if e.auditSize() != before {
		t.Fatal("texts that change nothing were logged")
	}

	sid := e.sid()
	kw, cs, err := e.svc.Reply(ctx, number(1), " Stop. ", sid)
	if err != nil || kw != privacy.KeywordStop || len(cs) != 2 {
		t.Fatalf("STOP: %q, %d, %v", kw, len(cs), err)
	}
	for _, c := range cs {
		if c.Method != privacy.MethodSMSReply || c.Evidence != "sms:"+sid || c.Action != privacy.ActionWithdraw {
			t.Errorf("STOP record %+v", c)
		}
		if _, err := privacy.VerifyReceipt(c.Receipt, e.svc.PublicKeys()); err != nil {
			t.Error(err)
		}
	}
	if granted(privacy.PurposeAssistantSMS, privacy.ChannelSMS) || granted(privacy.PurposeProductUpdates, privacy.ChannelSMS) {
		t.Error("STOP left an SMS consent granted")
	}
	if !granted(privacy.PurposeAssistantCalls, privacy.ChannelCall) {
		t.Error("STOP by SMS withdrew the calls")
	}
	// The provider retries the same message: nothing more.
	if _, cs, err := e.svc.Reply(ctx, number(1), "STOP", sid); err != nil || len(cs) != 0 {
		t.Fatalf("replayed STOP: %d, %v", len(cs), err)
	}

	kw, cs, err = e.svc.Reply(ctx, number(1), "start", e.sid())
	if err != nil || kw != privacy.KeywordStart || len(cs) != 2 {
		t.Fatalf("START: %q, %d, %v", kw, len(cs), err)
	}
	if !granted(privacy.PurposeAssistantSMS, privacy.ChannelSMS) || !granted(privacy.PurposeProductUpdates, privacy.ChannelSMS) {
		t.Error("START did not restore what STOP withdrew")
	}

	// START never grants what the person withdrew through the application.
	if _, err := e.svc.Change(ctx, privacy.Change{SubjectID: sub, Purpose: privacy.PurposeProductUpdates, Channel: privacy.ChannelSMS, Action: privacy.ActionWithdraw}); err != nil {
		t.Fatal(err)
	}
	if _, cs, err := e.svc.Reply(ctx, number(1), "START", e.sid()); err != nil || len(cs) != 0 {
		t.Fatalf("START after an API withdrawal: %d, %v", len(cs), err)
	}
}

func TestParseKeyword(t *testing.T) {
	for in, want := range map[string]privacy.Keyword{
		"STOP": privacy.KeywordStop, "stop": privacy.KeywordStop, " Unsubscribe! ": privacy.KeywordStop, "STOPALL": privacy.KeywordStop,
		"START": privacy.KeywordStart, "unstop": privacy.KeywordStart, "Yes": privacy.KeywordStart,
		"": privacy.KeywordNone, "stop it": privacy.KeywordNone, "123456": privacy.KeywordNone, "STOPP": privacy.KeywordNone,
	} {
		if got := privacy.ParseKeyword(in); got != want {
			t.Errorf("ParseKeyword(%q) = %q, want %q", in, got, want)
		}
	}
}
