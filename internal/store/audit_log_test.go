package store

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/verify"
)

func testMAC(msg []byte) []byte {
	m := hmac.New(sha256.New, []byte("audit-row-mac-test-key"))
	m.Write(msg)
	return m.Sum(nil)
}

const testOrigin = "ringfence.test/audit"

// auditFixture appends n events through a DB with the row MAC, signing a
// checkpoint after every `every` events, and returns that DB and the notes.
func auditFixture(t *testing.T, db *DB, n, every int) (*DB, [][]byte, ed25519.PublicKey) {
	t.Helper()
	mdb := openTestDB(t, Config{URL: db.url, AuditMAC: testMAC})
	pub, priv, _ := ed25519.GenerateKey(nil)
	signer, err := audit.NewSigner(testOrigin, priv)
	if err != nil {
		t.Fatal(err)
	}
	log := audit.NewLog(mdb, testOrigin, signer, nil)
	t0 := time.UnixMilli(1767225600000).UTC()
	for i := 1; i <= n; i++ {
		write(t, mdb, func(tx verify.Tx) error {
			return tx.AppendEvents(verify.Event{Type: "verification.started", Actor: "key_app", Purpose: verify.PurposeSignup,
				VerificationID: fmt.Sprintf("ve_%04d", i), PhoneIndex: []byte{0, 0, 0, 1, byte(i)}, Detail: "sms", At: t0.Add(time.Duration(i) * time.Second)})
		})
		if i%every == 0 {
			if _, err := log.Checkpoint(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	cps, err := mdb.Checkpoints(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var notes [][]byte
	for _, c := range cps {
		notes = append(notes, c.Note)
	}
	return mdb, notes, pub
}

// untrigger drops the append-only triggers, as an operator with direct
// database access could.
func untrigger(t *testing.T, db *DB) {
	t.Helper()
	stmts := []string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}
	if db.d == postgres {
		stmts = []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`}
	}
	for _, s := range stmts {
		if _, err := db.w.ExecContext(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// A service starting on an empty database signs a checkpoint of the empty
// log at once; it must save, and a restart must continue from it.
func TestAuditCheckpointOfEmptyLog(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		_, priv, _ := ed25519.GenerateKey(nil)
		signer, err := audit.NewSigner(testOrigin, priv)
		if err != nil {
			t.Fatal(err)
		}
		c, err := audit.NewLog(db, testOrigin, signer, nil).Checkpoint(t.Context())
		if err != nil {
			t.Fatalf("checkpoint of the empty log: %v", err)
		}
		if c.Size != 0 {
			t.Fatalf("size %d, want 0", c.Size)
		}
		write(t, db, func(tx verify.Tx) error {
			return tx.AppendEvents(verify.Event{Type: "verification.started", Actor: "key_app", Purpose: verify.PurposeSignup,
				VerificationID: "ve_0001", At: time.UnixMilli(1767225600000).UTC()})
		})
		c, err = audit.NewLog(db, testOrigin, signer, nil).Checkpoint(t.Context())
		if err != nil {
			t.Fatalf("checkpoint after a restart: %v", err)
		}
		if c.Size != 1 {
			t.Fatalf("size %d, want 1", c.Size)
		}
	})
}

func TestAuditLogVerifiesAndNamesTheTamperedRow(t *testing.T) {
	cases := []struct {
		name    string
		tamper  []string // SQL run directly against the database
		wantSeq uint64
	}{
		{"untouched", nil, 0},
		{"edited", []string{`UPDATE audit_events SET detail = 'call' WHERE seq = 7`}, 7},
		{"deleted", []string{`DELETE FROM audit_events WHERE seq = 12`}, 12},
		{"inserted", []string{`INSERT INTO audit_events (seq, type, actor, purpose, verification_id, subject_id, detail, at, leaf_hash, mac)
			SELECT 21, type, actor, purpose, verification_id, subject_id, detail, at, leaf_hash, mac FROM audit_events WHERE seq = 20`}, 21},
		{"reordered", []string{`UPDATE audit_events SET seq = 100 WHERE seq = 3`, `UPDATE audit_events SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_events SET seq = 4 WHERE seq = 100`}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, db *DB) {
				mdb, notes, pub := auditFixture(t, db, 20, 10)
				if len(notes) != 2 {
					t.Fatalf("%d checkpoints, want 2", len(notes))
				}
				if c.tamper != nil {
					untrigger(t, mdb)
					for _, s := range c.tamper {
						if _, err := mdb.w.ExecContext(t.Context(), s); err != nil {
							t.Fatal(err)
						}
					}
				}
				v, err := audit.NewVerifier(testOrigin, pub)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := audit.Verify(t.Context(), mdb, notes, v, func(msg, stored []byte) bool {
					return hmac.Equal(testMAC(msg), stored)
				})
				var bad *audit.BadEntryError
				switch {
				case c.wantSeq == 0 && err != nil:
					t.Fatalf("an untouched log fails: %v", err)
				case c.wantSeq == 0:
					if rep.Rows != 20 || rep.Checkpoints != 2 {
						t.Errorf("report %+v", rep)
					}
				case !errors.As(err, &bad) || bad.Seq != c.wantSeq:
					t.Fatalf("Verify = %v, want a bad entry at seq %d", err, c.wantSeq)
				}
			})
		})
	}
}

func TestAuditProofsAgainstCheckpoints(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		mdb, _, pub := auditFixture(t, db, 13, 13)
		cp, err := mdb.LatestCheckpoint(t.Context())
		if err != nil || cp == nil || cp.Size != 13 {
			t.Fatalf("latest checkpoint %+v %v", cp, err)
		}
		v, _ := audit.NewVerifier(testOrigin, pub)
		opened, err := audit.OpenCheckpoint(cp.Note, v)
		if err != nil {
			t.Fatal(err)
		}
		for seq := uint64(1); seq <= 13; seq++ {
			row, err := mdb.AuditRow(t.Context(), seq)
			if err != nil {
				t.Fatal(err)
			}
			p, err := audit.InclusionProof(t.Context(), mdb, seq-1, 13)
			if err != nil {
				t.Fatal(err)
			}
			leaf := audit.LeafHash(row.Entry.LeafData())
			if err := audit.VerifyInclusion(leaf, seq-1, 13, p, opened.Root); err != nil {
				t.Errorf("seq %d: %v", seq, err)
			}
		}
		if _, err := mdb.AuditRow(t.Context(), 14); !errors.Is(err, verify.ErrNotFound) {
			t.Errorf("row 14: %v", err)
		}
		// A restarted log continues from the saved state and signs only when the log grew.
		signer, _ := audit.NewSigner(testOrigin, ed25519.NewKeyFromSeed(make([]byte, 32)))
		again, err := audit.NewLog(mdb, testOrigin, signer, nil).Checkpoint(t.Context())
		if err != nil || again.Size != 13 {
			t.Errorf("checkpoint of an unchanged log: %+v %v", again, err)
		}
	})
}
