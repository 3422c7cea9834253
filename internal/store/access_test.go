package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// accessTx runs fn with the transaction as an access.Tx.
func accessTx(t *testing.T, db *DB, fn func(tx access.Tx) error) error {
	t.Helper()
	return db.Write(t.Context(), func(vtx verify.Tx) error { return fn(vtx.(access.Tx)) })
}

func newStaff(id, email string) *access.Staff {
	return &access.Staff{ID: id, Email: email, Role: access.RoleApprover, PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		TOTPSealed: []byte{1, 2, 3}, CreatedAt: t0}
}

func TestStaffRoundTrip(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		st := newStaff("stf_1", "a@example.com")
		if err := accessTx(t, db, func(tx access.Tx) error { return tx.InsertStaff(st) }); err != nil {
			t.Fatal(err)
		}
		dup := newStaff("stf_2", "a@example.com")
		if err := accessTx(t, db, func(tx access.Tx) error { return tx.InsertStaff(dup) }); !errors.Is(err, access.ErrConflict) {
			t.Errorf("second account with the same email: %v, want ErrConflict", err)
		}
		got, err := db.StaffByEmail(ctx, "a@example.com")
		if err != nil || !reflect.DeepEqual(got, st) {
			t.Fatalf("StaffByEmail = %+v, %v; want %+v", got, err, st)
		}
		st.FailedLogins, st.LockedUntil, st.TOTPLastStep, st.DisabledAt, st.Role = 3, t0.Add(time.Minute), 12345, t0.Add(time.Hour), access.RoleAdmin
		if err := accessTx(t, db, func(tx access.Tx) error {
			cur, err := tx.Staff("stf_1")
			if err != nil {
				return err
			}
			if cur.FailedLogins != 0 {
				t.Errorf("before update: %+v", cur)
			}
			return tx.UpdateStaff(st)
		}); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Staff(ctx, "stf_1"); err != nil || !reflect.DeepEqual(got, st) {
			t.Errorf("after update: %+v, %v; want %+v", got, err, st)
		}
		if _, err := db.Staff(ctx, "stf_none"); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("unknown staff: %v", err)
		}
		if _, err := db.StaffByEmail(ctx, "b@example.com"); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("unknown email: %v", err)
		}
		if err := accessTx(t, db, func(tx access.Tx) error { return tx.UpdateStaff(newStaff("stf_none", "c@example.com")) }); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("update of unknown staff: %v", err)
		}
		if all, err := db.ListStaff(ctx); err != nil || len(all) != 1 || all[0].ID != "stf_1" {
			t.Errorf("ListStaff = %+v, %v", all, err)
		}
	})
}

func TestSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		sess := func(h byte, created time.Time) *access.Session {
			return &access.Session{Hash: bytes.Repeat([]byte{h}, 32), StaffID: "stf_1", CreatedAt: created,
				ExpiresAt: created.Add(12 * time.Hour), LastSeenAt: created}
		}
		fresh, old, idle := sess(1, t0), sess(2, t0.Add(-13*time.Hour)), sess(3, t0.Add(-time.Hour))
		err := accessTx(t, db, func(tx access.Tx) error {
			if err := tx.InsertStaff(newStaff("stf_1", "a@example.com")); err != nil {
				return err
			}
			for _, s := range []*access.Session{fresh, old, idle} {
				if err := tx.InsertSession(s); err != nil {
					return err
				}
			}
			return tx.TouchSession(fresh.Hash, t0.Add(time.Minute))
		})
		if err != nil {
			t.Fatal(err)
		}
		fresh.LastSeenAt = t0.Add(time.Minute)
		if got, err := db.Session(ctx, fresh.Hash); err != nil || !reflect.DeepEqual(got, fresh) {
			t.Errorf("Session = %+v, %v; want %+v", got, err, fresh)
		}
		// Expired and idle sessions go; the fresh one stays.
		if err := accessTx(t, db, func(tx access.Tx) error {
			return tx.DeleteSessionsOf("stf_1", t0, t0.Add(-30*time.Minute))
		}); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "staff_sessions"); n != 1 {
			t.Errorf("%d sessions after cleanup, want 1", n)
		}
		if err := accessTx(t, db, func(tx access.Tx) error { return tx.DeleteSession(fresh.Hash) }); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Session(ctx, fresh.Hash); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("deleted session: %v", err)
		}
	})
}

func newReveal(id string, created time.Time) *access.Reveal {
	return &access.Reveal{ID: id, SubjectID: "sub_1", PhoneIndex: []byte("idx"), Masked: "+1 ••• ••• 0123",
		Purpose: access.PurposeTOSReview, Justification: "reported for abuse", Ticket: "T-1", RequestedBy: "stf_r",
		ApprovalsNeeded: 2, Status: access.StatusPending, CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour)}
}

func TestRevealRequests(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		r1, r2, r3 := newReveal("rev_1", t0), newReveal("rev_2", t0.Add(time.Second)), newReveal("rev_3", t0.Add(-25*time.Hour))
		err := accessTx(t, db, func(tx access.Tx) error {
			for _, id := range []string{"stf_r", "stf_a", "stf_b"} {
				if err := tx.InsertStaff(newStaff(id, id+"@example.com")); err != nil {
					return err
				}
			}
			for _, r := range []*access.Reveal{r1, r2, r3} {
				if err := tx.InsertReveal(r); err != nil {
					return err
				}
			}
			if err := tx.InsertApproval("rev_1", access.Approval{StaffID: "stf_a", At: t0.Add(time.Minute)}); err != nil {
				return err
			}
			return tx.InsertApproval("rev_1", access.Approval{StaffID: "stf_b", At: t0.Add(2 * time.Minute)})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := accessTx(t, db, func(tx access.Tx) error {
			return tx.InsertApproval("rev_1", access.Approval{StaffID: "stf_a", At: t0.Add(3 * time.Minute)})
		}); !errors.Is(err, access.ErrAlreadyApproved) {
			t.Errorf("second approval by the same staff: %v", err)
		}
		r1.Approvals = []access.Approval{{StaffID: "stf_a", At: t0.Add(time.Minute)}, {StaffID: "stf_b", At: t0.Add(2 * time.Minute)}}
		if got, err := db.Reveal(ctx, "rev_1"); err != nil || !reflect.DeepEqual(got, r1) {
			t.Fatalf("Reveal = %+v, %v;\nwant %+v", got, err, r1)
		}

		// Approve r1 once; an update from a status it no longer has is refused.
		r1.Status, r1.ApprovedAt, r1.UseBy = access.StatusApproved, t0.Add(2*time.Minute), t0.Add(time.Hour)
		if err := accessTx(t, db, func(tx access.Tx) error {
			got, err := tx.Reveal("rev_1")
			if err != nil || len(got.Approvals) != 2 {
				t.Errorf("tx.Reveal = %+v, %v", got, err)
			}
			return tx.UpdateReveal(r1, access.StatusPending)
		}); err != nil {
			t.Fatal(err)
		}
		if err := accessTx(t, db, func(tx access.Tx) error { return tx.UpdateReveal(r1, access.StatusPending) }); !errors.Is(err, access.ErrClosed) {
			t.Errorf("update from a stale status: %v", err)
		}
		if _, err := db.Reveal(ctx, "rev_none"); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("unknown reveal: %v", err)
		}

		// The queue and the other filters, by effective status at a time.
		ids := func(status access.Status, now time.Time) []string {
			rs, err := db.Reveals(ctx, access.RevealFilter{Status: status, Now: now, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		for _, tc := range []struct {
			status access.Status
			now    time.Time
			want   []string
		}{
			{"", t0, []string{"rev_2", "rev_1", "rev_3"}},
			{access.StatusPending, t0, []string{"rev_2"}},
			{access.StatusApproved, t0, []string{"rev_1"}},
			{access.StatusExpired, t0, []string{"rev_3"}},
			{access.StatusExpired, t0.Add(2 * time.Hour), []string{"rev_1", "rev_3"}},
			{access.StatusPending, t0.Add(25 * time.Hour), nil},
			{access.StatusUsed, t0, nil},
		} {
			if got := ids(tc.status, tc.now); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Reveals(%q, %v) = %v, want %v", tc.status, tc.now.Sub(t0), got, tc.want)
			}
		}
		if rs, _ := db.Reveals(ctx, access.RevealFilter{Now: t0, Limit: 1}); len(rs) != 1 {
			t.Errorf("limit 1: %d rows", len(rs))
		}
	})
}

// TestRevealUsedOnce runs the access service on the store: of many
// concurrent uses of one approved reveal exactly one gets the number, on
// both engines.
func TestRevealUsedOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		keyDir := filepath.Join(t.TempDir(), "keys")
		if _, err := vault.Generate(keyDir); err != nil {
			t.Fatal(err)
		}
		keys, err := vault.Load(keyDir, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg := access.DefaultConfig()
		cfg.Argon2 = access.Argon2{Memory: 8, Time: 1, Threads: 1}
		now := t0
		svc, err := access.NewService(cfg, db, keys, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		const e164 = "+14155550123"
		write(t, db, func(vtx verify.Tx) error {
			tx := vtx.(identity.Tx)
			if err := tx.InsertSubject(&identity.Subject{ID: "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa", CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			return tx.InsertBinding(&identity.Binding{PhoneIndex: keys.BlindIndex("phone", e164), SubjectID: "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa",
				PhoneSealed: keys.Seal([]byte(e164), []byte("binding:sub_aaaaaaaaaaaaaaaaaaaaaaaaaa")), Masked: "+1 ••• ••• 0123",
				Country: "US", LineType: "mobile", BoundAt: t0, LastVerifiedAt: t0})
		})
		staff := map[string]*access.Staff{}
		for _, name := range []string{"req", "a1", "a2"} {
			role := access.RoleApprover
			if name == "req" {
				role = access.RoleReviewer
			}
			st, _, err := svc.CreateStaff(ctx, "test", name+"@example.com", role, "correct horse battery")
			if err != nil {
				t.Fatal(err)
			}
			staff[name] = st
		}
		r, err := svc.RequestReveal(ctx, staff["req"], access.Request{SubjectID: "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa",
			Purpose: access.PurposeTOSReview, Justification: "abuse report 42", Ticket: "T-42"})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"a1", "a2"} {
			if _, err := svc.Approve(ctx, staff[a], r.ID); err != nil {
				t.Fatalf("approve by %s: %v", a, err)
			}
		}
		const n = 8
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			got    []string
			usedNo int
		)
		for range n {
			wg.Go(func() {
				res, err := svc.Use(ctx, staff["req"], r.ID)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					got = append(got, res.E164)
				case errors.Is(err, access.ErrUsed):
					usedNo++
				default:
					t.Errorf("Use: %v", err)
				}
			})
		}
		wg.Wait()
		if len(got) != 1 || got[0] != e164 || usedNo != n-1 {
			t.Fatalf("%d uses succeeded (%d refused as used), want exactly 1", len(got), usedNo)
		}
		es, err := db.AuditEvents(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		uses := 0
		for _, e := range es {
			if e.Type == "reveal.used" {
				uses++
			}
		}
		if uses != 1 {
			t.Errorf("%d reveal.used events, want 1", uses)
		}
	})
}
