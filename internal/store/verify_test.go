package store

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// newVerification returns a pending verification with every field set except
// the optional ones (LastSentAt, ApprovedAt zero; IPIndex, CodeSealed nil).
func newVerification(id string) *verify.Verification {
	return &verify.Verification{
		ID:          id,
		PhoneIndex:  []byte("phone-index-" + id),
		PhoneSealed: []byte{0, 1, 2, 0xff, 0},
		Masked:      "+1 ••• ••• 0123",
		Country:     "US",
		LineType:    "mobile",
		Channel:     verify.ChannelSMS,
		Purpose:     verify.PurposeSignup,
		SubjectID:   "subj-" + id,
		Status:      verify.StatusPending,
		CodeMAC:     []byte("mac-" + id),
		Sends:       1,
		Checks:      0,
		Actor:       "key-1",
		CreatedAt:   t0,
		UpdatedAt:   t0,
		ExpiresAt:   t0.Add(5 * time.Minute),
	}
}

func assertVerification(t *testing.T, got, want *verify.Verification) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("verification:\n got %+v\nwant %+v", got, want)
	}
}

func TestVerificationRoundTrip(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		sparse := newVerification("v-sparse") // zero times, nil blobs
		sparse.CodeMAC = nil
		full := newVerification("v-full")
		full.IPIndex = []byte("ip-index")
		full.CodeSealed = []byte("sealed-code")
		full.Channel = verify.ChannelWhatsApp
		full.Purpose = verify.PurposePhoneChange
		full.Status = verify.StatusApproved
		full.Sends, full.Checks = 3, 4
		full.LastSentAt = t0.Add(time.Minute)
		full.ApprovedAt = t0.Add(2 * time.Minute)
		full.Provider, full.ProviderRef = "twilioverify", "VE0123456789abcdef0123456789abcdef"
		// Sub-millisecond precision and zone are dropped: times come back UTC ms.
		odd := newVerification("v-odd")
		odd.CreatedAt = time.Date(2030, 1, 2, 4, 4, 5, 6_789_123, time.FixedZone("X", 3600))

		write(t, db, func(tx verify.Tx) error {
			for _, v := range []*verify.Verification{sparse, full, odd} {
				if err := tx.InsertVerification(v); err != nil {
					return err
				}
			}
			// Read inside the transaction too.
			got, err := tx.Verification(full.ID)
			if err != nil {
				return err
			}
			assertVerification(t, got, full)
			return nil
		})
		assertVerification(t, mustVerification(t, db, sparse.ID), sparse)
		assertVerification(t, mustVerification(t, db, full.ID), full)
		wantOdd := *odd
		wantOdd.CreatedAt = time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
		assertVerification(t, mustVerification(t, db, odd.ID), &wantOdd)

		if n, err := db.CountVerifications(t.Context()); err != nil || n != 3 {
			t.Errorf("CountVerifications = %d, %v; want 3", n, err)
		}

		// A duplicate ID is refused and changes nothing.
		dup := newVerification(full.ID)
		if err := db.Write(t.Context(), func(tx verify.Tx) error { return tx.InsertVerification(dup) }); err == nil {
			t.Error("inserting a duplicate ID succeeded")
		}
		assertVerification(t, mustVerification(t, db, full.ID), full)

		// Values outside the schema's domain are refused.
		bad := newVerification("v-bad")
		bad.Status = "bogus"
		if err := db.Write(t.Context(), func(tx verify.Tx) error { return tx.InsertVerification(bad) }); err == nil {
			t.Error("inserting status bogus succeeded")
		}
	})
}

func mustVerification(t *testing.T, db *DB, id string) *verify.Verification {
	t.Helper()
	v, err := db.Verification(t.Context(), id)
	if err != nil {
		t.Fatalf("Verification(%s): %v", id, err)
	}
	return v
}

func TestVerificationNotFound(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		if _, err := db.Verification(t.Context(), "nope"); !errors.Is(err, verify.ErrNotFound) {
			t.Errorf("Verification: %v, want ErrNotFound", err)
		}
		err := db.Write(t.Context(), func(tx verify.Tx) error {
			if _, err := tx.Verification("nope"); !errors.Is(err, verify.ErrNotFound) {
				t.Errorf("tx.Verification: %v, want ErrNotFound", err)
			}
			if _, err := tx.Idempotency([]byte("nope")); !errors.Is(err, verify.ErrNotFound) {
				t.Errorf("tx.Idempotency: %v, want ErrNotFound", err)
			}
			return tx.UpdateVerification(newVerification("nope"))
		})
		if !errors.Is(err, verify.ErrNotFound) {
			t.Errorf("UpdateVerification: %v, want ErrNotFound", err)
		}
	})
}

func TestUpdateVerification(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		v := newVerification("v1")
		v.CodeSealed = []byte("sealed")
		other := newVerification("v2")
		write(t, db, func(tx verify.Tx) error {
			if err := tx.InsertVerification(v); err != nil {
				return err
			}
			return tx.InsertVerification(other)
		})

		want := *v
		want.Status = verify.StatusApproved
		want.CodeSealed = nil
		want.CodeMAC = []byte("new-mac")
		want.Sends, want.Checks = 2, 3
		want.UpdatedAt = t0.Add(time.Minute)
		want.ExpiresAt = t0.Add(10 * time.Minute)
		want.LastSentAt = t0.Add(30 * time.Second)
		want.ApprovedAt = t0.Add(time.Minute)
		want.ProviderRef = "c11236f4-00bf-4b89-84ba-88b25df97315"
		upd := want
		upd.Masked = "changed" // immutable: not written
		upd.PhoneIndex = []byte("changed")
		upd.Provider = "changed" // immutable: not written
		write(t, db, func(tx verify.Tx) error { return tx.UpdateVerification(&upd) })

		assertVerification(t, mustVerification(t, db, v.ID), &want)
		assertVerification(t, mustVerification(t, db, other.ID), other)

		// Back to zero times: stored as NULL, read as zero.
		want.ApprovedAt, want.LastSentAt = time.Time{}, time.Time{}
		write(t, db, func(tx verify.Tx) error { return tx.UpdateVerification(&want) })
		assertVerification(t, mustVerification(t, db, v.ID), &want)
	})
}

func TestExpiredPending(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		now := t0.Add(time.Hour)
		mk := func(id string, status verify.Status, expires time.Time) *verify.Verification {
			v := newVerification(id)
			v.Status, v.ExpiresAt = status, expires
			return v
		}
		vs := []*verify.Verification{
			mk("late", verify.StatusPending, now.Add(-time.Minute)),
			mk("early", verify.StatusPending, now.Add(-time.Hour)),
			mk("exact", verify.StatusPending, now),
			mk("future", verify.StatusPending, now.Add(time.Millisecond)),
			mk("approved", verify.StatusApproved, now.Add(-2*time.Hour)),
			mk("expired", verify.StatusExpired, now.Add(-2*time.Hour)),
		}
		write(t, db, func(tx verify.Tx) error {
			for _, v := range vs {
				if err := tx.InsertVerification(v); err != nil {
					return err
				}
			}
			return nil
		})
		ids := func(limit int) []string {
			var out []string
			write(t, db, func(tx verify.Tx) error {
				got, err := tx.ExpiredPending(now, limit)
				for _, v := range got {
					out = append(out, v.ID)
				}
				return err
			})
			return out
		}
		if got, want := ids(10), []string{"early", "late", "exact"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ExpiredPending = %v, want %v", got, want)
		}
		if got, want := ids(2), []string{"early", "late"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ExpiredPending limit 2 = %v, want %v", got, want)
		}
	})
}

func TestSendCounts(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		a, b, ip := []byte("phone-a"), []byte("phone-b"), []byte("ip-1")
		write(t, db, func(tx verify.Tx) error {
			for _, s := range []struct {
				phone, ip []byte
				at        time.Time
			}{
				{a, ip, t0},
				{a, nil, t0.Add(time.Minute)},
				{a, ip, t0.Add(2 * time.Minute)},
				{b, ip, t0.Add(3 * time.Minute)},
			} {
				if err := tx.RecordSend(s.phone, s.ip, s.at); err != nil {
					return err
				}
			}
			return nil
		})
		write(t, db, func(tx verify.Tx) error {
			check := func(name string, n int, oldest time.Time, err error, wantN int, wantOldest time.Time) {
				t.Helper()
				if err != nil || n != wantN || !oldest.Equal(wantOldest) {
					t.Errorf("%s = %d, %v, %v; want %d, %v", name, n, oldest, err, wantN, wantOldest)
				}
			}
			n, o, err := tx.SendsSince(a, t0)
			check("SendsSince(a, t0)", n, o, err, 3, t0)
			n, o, err = tx.SendsSince(a, t0.Add(time.Minute)) // inclusive
			check("SendsSince(a, t0+1m)", n, o, err, 2, t0.Add(time.Minute))
			n, o, err = tx.SendsSince(a, t0.Add(time.Hour))
			check("SendsSince(a, t0+1h)", n, o, err, 0, time.Time{})
			n, o, err = tx.SendsSince([]byte("phone-c"), t0)
			check("SendsSince(c)", n, o, err, 0, time.Time{})
			n, o, err = tx.IPSendsSince(ip, t0.Add(time.Second))
			check("IPSendsSince(ip, t0+1s)", n, o, err, 2, t0.Add(2*time.Minute))
			n, o, err = tx.IPSendsSince(ip, t0)
			check("IPSendsSince(ip, t0)", n, o, err, 3, t0)
			return nil
		})
	})
}

func TestIdempotency(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		rec := &verify.Idempotency{Key: []byte("key-1"), Fingerprint: []byte("fp-1"), VerificationID: "v1", CreatedAt: t0}
		write(t, db, func(tx verify.Tx) error { return tx.InsertIdempotency(rec) })

		again := &verify.Idempotency{Key: []byte("key-1"), Fingerprint: []byte("fp-2"), VerificationID: "v2", CreatedAt: t0}
		if err := db.Write(t.Context(), func(tx verify.Tx) error { return tx.InsertIdempotency(again) }); err == nil {
			t.Error("a second record with the same key was accepted")
		}
		write(t, db, func(tx verify.Tx) error {
			got, err := tx.Idempotency([]byte("key-1"))
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, rec) {
				t.Errorf("Idempotency = %+v, want %+v", got, rec)
			}
			return nil
		})
	})
}
