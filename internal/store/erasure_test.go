package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/rekey"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// TestEraseSubject erases a subject through the identity service on both
// engines: its data key, bindings and row go, its numbers' verifications
// lose their sealed values, a second erasure is ErrErased, and the number's
// tombstone refuses a new signup.
func TestEraseSubject(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneRefuse)
		const number = "+14155550160"
		v, err := s.verifyNumber(ctx, number, verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		sub := v.SubjectID
		keep, err := s.verifyNumber(ctx, "+14155550161", verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		pending, err := s.verify.Start(ctx, verify.StartRequest{Phone: number, Purpose: verify.PurposeLogin, Actor: "test"})
		if err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			id, confirm string
			want        error
		}{
			{sub, keep.SubjectID, identity.ErrConfirm},
			{sub, "", identity.ErrConfirm},
			{"sub_aaaaaaaaaaaaaaaaaaaaaaaaaa", "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa", identity.ErrNotFound},
			{"nope", "nope", identity.ErrNotFound},
		} {
			if _, err := s.ident.Erase(ctx, tc.id, tc.confirm, "test"); !errors.Is(err, tc.want) {
				t.Errorf("Erase(%q, %q) = %v, want %v", tc.id, tc.confirm, err, tc.want)
			}
		}
		if n := count(t, db, "subject_keys"); n != 2 {
			t.Fatalf("refused erasures left %d subject keys, want 2", n)
		}

		e, err := s.ident.Erase(ctx, sub, sub, "test")
		if err != nil || e.Numbers != 1 || e.Tombstones != 1 {
			t.Fatalf("Erase: %+v, %v", e, err)
		}
		if _, err := s.ident.Erase(ctx, sub, sub, "test"); !errors.Is(err, identity.ErrErased) {
			t.Errorf("second Erase: %v, want ErrErased", err)
		}
		if _, err := db.SubjectKey(ctx, sub); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("the data key survived: %v", err)
		}
		if bs, err := db.BindingsOf(ctx, sub); err != nil || len(bs) != 0 {
			t.Errorf("bindings after erasure: %v, %v", bs, err)
		}
		for _, id := range []string{v.ID, pending.ID} {
			got, err := db.Verification(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.PhoneSealed) != 0 || got.CodeSealed != nil || got.Masked != "" || got.Status == verify.StatusPending {
				t.Errorf("verification %s after erasure: %d sealed bytes, code %v, masked %q, %s",
					id, len(got.PhoneSealed), got.CodeSealed != nil, got.Masked, got.Status)
			}
		}
		if got, err := db.Verification(ctx, keep.ID); err != nil || len(got.PhoneSealed) == 0 {
			t.Errorf("the other subject's verification lost its number: %v", err)
		}
		_, err = s.verify.Start(ctx, verify.StartRequest{Phone: number, Purpose: verify.PurposeSignup, Actor: "test"})
		var blocked *verify.BlockedError
		if !errors.As(err, &blocked) || len(blocked.Reasons) != 1 || blocked.Reasons[0] != "erased_number" {
			t.Errorf("signup of an erased number: %v", err)
		}
		// Re-encryption skips what erasure emptied.
		if _, err := rekey.Run(ctx, db, s.keys, 10, nil); err != nil {
			t.Errorf("rekey after erasure: %v", err)
		}
	})
}

// TestRekeyMovesRevealIndex checks that a reveal request follows its
// binding's index to the new index key, so the reveal can still be used,
// and that a staff TOTP secret moves to the new number key.
func TestRekeyMovesRevealIndex(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneOff)
		v, err := s.verifyNumber(ctx, "+14155550170", verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := db.BindingsOf(ctx, v.SubjectID)
		if err != nil || len(bs) != 1 {
			t.Fatal(bs, err)
		}
		r := newReveal("rev_1", t0)
		r.SubjectID, r.PhoneIndex, r.RequestedBy = v.SubjectID, bs[0].PhoneIndex, "stf_r"
		err = accessTx(t, db, func(tx access.Tx) error {
			st := newStaff("stf_r", "r@example.com")
			st.TOTPSealed = s.keys.Seal([]byte("totp secret"), []byte("totp:stf_r"))
			if err := tx.InsertStaff(st); err != nil {
				return err
			}
			return tx.InsertReveal(r)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []vault.Purpose{vault.PurposeIndex, vault.PurposeNumber} {
			if _, _, err := vault.Rotate(s.dir, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.keys.Reload(s.dir, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := rekey.Run(ctx, db, s.keys, 10, nil); err != nil {
			t.Fatal(err)
		}
		now, err := db.BindingsOf(ctx, v.SubjectID)
		if err != nil || len(now) != 1 || bytes.Equal(now[0].PhoneIndex, bs[0].PhoneIndex) {
			t.Fatalf("binding index not rewritten: %v", err)
		}
		got, err := db.Reveal(ctx, "rev_1")
		if err != nil || !bytes.Equal(got.PhoneIndex, now[0].PhoneIndex) {
			t.Errorf("the reveal request names the old index: %v", err)
		}
		st, err := db.Staff(ctx, "stf_r")
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := s.keys.Open(st.TOTPSealed, []byte("totp:stf_r")); !s.keys.SealedCurrent(st.TOTPSealed) || err != nil || string(pt) != "totp secret" {
			t.Errorf("staff TOTP secret after re-encryption: current %v, %v", s.keys.SealedCurrent(st.TOTPSealed), err)
		}
	})
}

// countingWrapper stands in for a key-management service: another keyring
// wraps the data keys, and the calls are counted.
type countingWrapper struct {
	vault.KeyWrapper
	wraps, unwraps int
}

func (c *countingWrapper) Wrap(dk, aad []byte) ([]byte, error) {
	c.wraps++
	return c.KeyWrapper.Wrap(dk, aad)
}

func (c *countingWrapper) Unwrap(w, aad []byte) ([]byte, error) {
	c.unwraps++
	return c.KeyWrapper.Unwrap(w, aad)
}

// TestDataKeysUseWrapper plugs another wrapper into the keyring (the seam
// for a KMS): data keys are wrapped by it alone, and accounts still work.
func TestDataKeysUseWrapper(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneOff)
		kmsDir := t.TempDir()
		if _, err := vault.Generate(kmsDir); err != nil {
			t.Fatal(err)
		}
		kms, err := vault.Load(kmsDir, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := &countingWrapper{KeyWrapper: kms}
		s.keys.SetWrapper(w)
		v, err := s.verifyNumber(ctx, "+14155550180", verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		wrapped, err := db.SubjectKey(ctx, v.SubjectID)
		if err != nil {
			t.Fatal(err)
		}
		if w.wraps != 1 {
			t.Errorf("%d wraps, want 1", w.wraps)
		}
		if _, err := s.keys.Unwrap(wrapped, []byte("subject-key:"+v.SubjectID)); err == nil {
			t.Error("the keyring's own number key unwraps a data key the wrapper made")
		}
		login, err := s.verifyNumber(ctx, "+14155550180", verify.PurposeLogin)
		if err != nil || login.SubjectID != v.SubjectID {
			t.Fatalf("login: %v, %v", login, err)
		}
		if _, err := s.ident.Erase(ctx, v.SubjectID, v.SubjectID, "test"); err != nil {
			t.Fatal(err)
		}
		if w.unwraps == 0 {
			t.Error("the wrapper never unwrapped")
		}
	})
}

// TestRekeyMovesLegacyBindings: a binding sealed by the keyring before
// subjects had data keys moves under a new data key of its subject, and the
// account keeps working.
func TestRekeyMovesLegacyBindings(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneOff)
		const number = "+14155550190"
		sub := vault.NewID("sub")
		legacy := s.keys.Seal([]byte(number), []byte("binding:"+sub))
		err := db.Write(ctx, func(vtx verify.Tx) error {
			tx := vtx.(identity.Tx)
			if err := tx.InsertSubject(&identity.Subject{ID: sub, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			return tx.InsertBinding(&identity.Binding{PhoneIndex: s.keys.BlindIndex("phone", number), SubjectID: sub,
				PhoneSealed: legacy, Masked: "+1 ••• ••• 0190", Country: "US", LineType: "mobile", BoundAt: t0, LastVerifiedAt: t0})
		})
		if err != nil {
			t.Fatal(err)
		}
		stats, err := rekey.Run(ctx, db, s.keys, 10, nil)
		if err != nil || stats.Changed != 1 {
			t.Fatalf("rekey: %+v, %v", stats, err)
		}
		bs, err := db.BindingsOf(ctx, sub)
		if err != nil || len(bs) != 1 || !vault.DataKeySealed(bs[0].PhoneSealed) {
			t.Fatalf("binding after re-encryption: %v", err)
		}
		if _, err := db.SubjectKey(ctx, sub); err != nil {
			t.Fatalf("no data key: %v", err)
		}
		// step_up opens the number under the data key; login finds the subject.
		if _, err := s.verify.Start(ctx, verify.StartRequest{SubjectID: sub, Purpose: verify.PurposeStepUp, Actor: "test"}); err != nil {
			t.Errorf("step_up: %v", err)
		}
		if v, err := s.verifyNumber(ctx, number, verify.PurposeLogin); err != nil || v.SubjectID != sub {
			t.Errorf("login: %v, %v", v, err)
		}
	})
}

// TestEraseSubjectConsents: erasure deletes the subject's consent records
// (each holds a blind index of its number and a receipt naming the subject)
// in the same transaction, and leaves another subject's alone; a refused
// erasure deletes none. The consent audit events stay, so the log still
// proves what was consented to.
func TestEraseSubjectConsents(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneOff)
		p, err := privacy.NewService(privacy.Config{Issuer: "test", Origin: "test/audit"}, db, s.keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		subjects := map[string]string{}
		for _, number := range []string{"+14155550162", "+14155550163"} {
			v, err := s.verifyNumber(ctx, number, verify.PurposeSignup)
			if err != nil {
				t.Fatal(err)
			}
			subjects[number] = v.SubjectID
			for _, action := range []privacy.Action{privacy.ActionGrant, privacy.ActionWithdraw, privacy.ActionGrant} {
				if _, err := p.Change(ctx, privacy.Change{SubjectID: v.SubjectID, Purpose: privacy.PurposeAssistantSMS,
					Channel: privacy.ChannelSMS, Action: action, Evidence: v.ID, Actor: "test"}); err != nil {
					t.Fatalf("consent %s: %v", action, err)
				}
			}
		}
		sub, keep := subjects["+14155550162"], subjects["+14155550163"]
		consents := func(id string) int {
			t.Helper()
			cs, err := db.Consents(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return len(cs)
		}
		if consents(sub) != 3 || consents(keep) != 3 {
			t.Fatalf("before erasure: %d and %d consent records, want 3 and 3", consents(sub), consents(keep))
		}
		events := count(t, db, "audit_events")

		if _, err := s.ident.Erase(ctx, sub, keep, "test"); !errors.Is(err, identity.ErrConfirm) {
			t.Fatalf("Erase with another subject as confirmation: %v", err)
		}
		if n := consents(sub); n != 3 {
			t.Fatalf("a refused erasure left %d consent records, want 3", n)
		}
		if _, err := s.ident.Erase(ctx, sub, sub, "test"); err != nil {
			t.Fatal(err)
		}
		if n := consents(sub); n != 0 {
			t.Errorf("%d consent records of the erased subject survived", n)
		}
		if n := count(t, db, "consents"); n != 3 || consents(keep) != 3 {
			t.Errorf("after erasure: %d consent records in all, %d of the other subject; want 3 and 3", n, consents(keep))
		}
		if n := count(t, db, "audit_events"); n <= events {
			t.Errorf("audit events went from %d to %d: erasure must only append", events, n)
		}
		var granted int
		if err := db.queryRow(ctx, `SELECT COUNT(*) FROM audit_events WHERE type = ? AND subject_id = ?`,
			privacy.EventGranted, sub).Scan(&granted); err != nil || granted != 2 {
			t.Errorf("consent.granted events of the erased subject: %d, %v; want 2", granted, err)
		}
	})
}

// TestEraseOwn erases a subject at its own request on both engines: only
// an approved verification of a number bound to the subject is evidence,
// the word and the subject id must both be typed right, and the erasure
// event has the purpose user_erasure and the verification as reference.
func TestEraseOwn(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneRefuse)
		const number = "+14155550164"
		v, err := s.verifyNumber(ctx, number, verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		sub := v.SubjectID
		other, err := s.verifyNumber(ctx, "+14155550165", verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		pending, err := s.verify.Start(ctx, verify.StartRequest{Phone: number, Purpose: verify.PurposeLogin, Actor: "test"})
		if err != nil {
			t.Fatal(err)
		}
		own := func(ve, word, confirm string) identity.OwnErasure {
			return identity.OwnErasure{SubjectID: sub, Verification: ve, Word: word, Confirm: confirm, Actor: "test"}
		}
		events := count(t, db, "audit_events")
		for _, tc := range []struct {
			req  identity.OwnErasure
			want error
		}{
			{own(pending.ID, "DELETE", sub), identity.ErrEvidence},
			{own(other.ID, "DELETE", sub), identity.ErrEvidence},
			{own("ve_aaaaaaaaaaaaaaaaaaaaaaaaaa", "DELETE", sub), identity.ErrEvidence},
			{own("sub_x", "DELETE", sub), identity.ErrEvidence},
			{own(v.ID, "delete", sub), identity.ErrConfirm},
			{own(v.ID, "DELETE", other.SubjectID), identity.ErrConfirm},
			{own(v.ID, "DELETE", ""), identity.ErrConfirm},
			{own(v.ID, "", sub), identity.ErrConfirm},
		} {
			if _, err := s.ident.EraseOwn(ctx, tc.req); !errors.Is(err, tc.want) {
				t.Errorf("EraseOwn(%+v) = %v, want %v", tc.req, err, tc.want)
			}
		}
		if n := count(t, db, "audit_events"); n != events {
			t.Errorf("refused erasures appended %d audit events", n-events)
		}
		if erased, err := s.ident.Erased(ctx, sub); err != nil || erased {
			t.Fatalf("after refused erasures: erased %v, %v", erased, err)
		}

		e, err := s.ident.EraseOwn(ctx, own(v.ID, "DELETE", sub))
		if err != nil || e.Numbers != 1 || e.Tombstones != 1 {
			t.Fatalf("EraseOwn: %+v, %v", e, err)
		}
		if erased, err := s.ident.Erased(ctx, sub); err != nil || !erased {
			t.Errorf("Erased after erasure: %v, %v", erased, err)
		}
		if erased, err := s.ident.Erased(ctx, other.SubjectID); err != nil || erased {
			t.Errorf("Erased of the other subject: %v, %v", erased, err)
		}
		if _, err := s.ident.EraseOwn(ctx, own(v.ID, "DELETE", sub)); !errors.Is(err, identity.ErrErased) {
			t.Errorf("a second erasure: %v, want ErrErased", err)
		}
		var purpose, ref string
		if err := db.queryRow(ctx, `SELECT purpose, verification_id FROM audit_events WHERE type = 'subject.erased' AND subject_id = ?`,
			sub).Scan(&purpose, &ref); err != nil || purpose != identity.PurposeUserErasure || ref != v.ID {
			t.Errorf("the erasure event: purpose %q, reference %q, %v", purpose, ref, err)
		}
	})
}

// TestEraseSubjectCalls: the call records from an erased subject's number
// keep their times and outcome but name the caller no more; another
// caller's records are untouched.
func TestEraseSubjectCalls(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneOff)
		const erased, kept = "+14155550164", "+14155550165"
		subjects := map[string]string{}
		start := time.Now().UTC().Truncate(time.Millisecond)
		for i, number := range []string{erased, kept} {
			v, err := s.verifyNumber(ctx, number, verify.PurposeSignup)
			if err != nil {
				t.Fatal(err)
			}
			subjects[number] = v.SubjectID
			r := &dialogue.CallRecord{
				ID: "call-" + number[1:], Trunk: "pbx", CallerIndex: s.keys.BlindIndex("phone", number),
				Pseudonym: s.keys.Pseudonym("phone-line", v.SubjectID), Start: start.Add(time.Duration(i) * time.Second),
				Duration: time.Minute, Charged: time.Minute, DisclosureHash: "aa", Ended: dialogue.EndCallerHangup, Turns: 2,
			}
			if err := db.SaveCall(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		before, err := db.Calls(ctx, start)
		if err != nil || len(before) != 2 {
			t.Fatalf("calls before erasure: %d, %v", len(before), err)
		}
		if _, err := s.ident.Erase(ctx, subjects[erased], subjects[erased], "test"); err != nil {
			t.Fatal(err)
		}
		after, err := db.Calls(ctx, start)
		if err != nil || len(after) != 2 {
			t.Fatalf("calls after erasure: %d, %v; the records stay", len(after), err)
		}
		if g := after[0]; g.CallerIndex != nil || g.Pseudonym != "" || g.Duration != time.Minute || g.Turns != 2 {
			t.Errorf("the erased caller's record: %+v; want no index or pseudonym, the rest kept", g)
		}
		if g, w := after[1], before[1]; !bytes.Equal(g.CallerIndex, w.CallerIndex) || g.Pseudonym != w.Pseudonym {
			t.Errorf("another caller's record changed: %+v, want %+v", g, w)
		}
	})
}
