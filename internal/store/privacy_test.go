package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/verify"
)

// privacyTx runs fn with the transaction as a privacy.Tx.
func privacyTx(t *testing.T, db *DB, fn func(tx privacy.Tx) error) error {
	t.Helper()
	return db.Write(t.Context(), func(vtx verify.Tx) error { return fn(vtx.(privacy.Tx)) })
}

func TestConsentLedger(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		var want []*privacy.Consent
		for i, action := range []privacy.Action{privacy.ActionGrant, privacy.ActionWithdraw} {
			c := &privacy.Consent{ID: "cr_" + string(rune('a'+i)), SubjectID: "sub_1", Purpose: privacy.PurposeAssistantSMS,
				Channel: privacy.ChannelSMS, Action: action, Method: privacy.MethodAPI, Evidence: "ve_1", PhoneIndex: []byte{1, 2},
				Actor: "key_1", At: t0.Add(time.Duration(i) * time.Second), Receipt: []byte(`{"receipt":{}}`)}
			if i == 1 {
				c.Method, c.PhoneIndex, c.Evidence = privacy.MethodSMSReply, nil, "sms:SM1"
			}
			err := privacyTx(t, db, func(tx privacy.Tx) error {
				if err := tx.AppendEvents(verify.Event{Type: privacy.EventGranted, Actor: "key_1", SubjectID: "sub_1", At: c.At}); err != nil {
					return err
				}
				seq, err := tx.AuditSize()
				if err != nil {
					return err
				}
				c.AuditSeq = seq
				return tx.InsertConsent(c)
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.AuditSeq != uint64(i+1) {
				t.Errorf("AuditSize inside the write = %d, want %d", c.AuditSeq, i+1)
			}
			want = append(want, c)
		}
		got, err := db.Consents(ctx, "sub_1")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Consents = %+v, %v; want %+v", got, err, want)
		}
		err = privacyTx(t, db, func(tx privacy.Tx) error {
			got, err := tx.ConsentsOf("sub_1")
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("ConsentsOf = %+v", got)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := db.Consents(ctx, "sub_2"); err != nil || len(got) != 0 {
			t.Errorf("another subject: %v, %v", got, err)
		}
		// The schema refuses what the ledger never holds.
		bad := *want[0]
		bad.ID, bad.AuditSeq, bad.Purpose = "cr_z", 99, "marketing"
		if err := privacyTx(t, db, func(tx privacy.Tx) error { return tx.InsertConsent(&bad) }); err == nil {
			t.Error("a consent for an unknown purpose was stored")
		}
	})
}

func TestVerificationsOf(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		for i, sub := range []string{"sub_1", "sub_2", "sub_1"} {
			v := newVerification(string(rune('a' + i)))
			v.SubjectID, v.CreatedAt = sub, t0.Add(time.Duration(i)*time.Second)
			if err := db.Write(ctx, func(tx verify.Tx) error { return tx.InsertVerification(v) }); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := db.VerificationsOf(ctx, "sub_1")
		if err != nil || len(vs) != 2 || vs[0].ID != "a" || vs[1].ID != "c" {
			t.Fatalf("VerificationsOf = %v, %v", vs, err)
		}
	})
}
