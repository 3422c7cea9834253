package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/rekey"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// services is a verify and identity service on a DB, with their keyring.
type services struct {
	dir    string
	keys   *vault.Keyring
	verify *verify.Service
	ident  *identity.Service
}

func newServices(t *testing.T, db *DB, tombstone string) *services {
	t.Helper()
	dir := t.TempDir()
	if _, err := vault.Generate(dir); err != nil {
		t.Fatal(err)
	}
	keys, err := vault.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := verify.DefaultConfig()
	cfg.ResendCooldown, cfg.SendsPerHour, cfg.SendsPerDay, cfg.IPSendsPerHour = 0, 0, 0, 0
	vs := verify.NewService(cfg, db, keys, nil, nil)
	icfg := identity.DefaultConfig()
	icfg.Tombstone = tombstone
	is := identity.NewService(icfg, db, keys, nil)
	vs.SetAccounts(is)
	return &services{dir: dir, keys: keys, verify: vs, ident: is}
}

// verifyNumber starts a verification of e164 for purpose and checks it with
// its code, as the person would; it returns the approved verification.
func (s *services) verifyNumber(ctx context.Context, e164 string, purpose verify.Purpose) (*verify.Verification, error) {
	st, err := s.verify.Start(ctx, verify.StartRequest{Phone: e164, Purpose: purpose, Actor: "test"})
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	// The code the person received, read back from its seal.
	v, err := s.verify.Get(ctx, st.ID)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	code, err := s.keys.Open(v.CodeSealed, []byte("code:"+v.ID))
	if err != nil {
		return nil, fmt.Errorf("open code: %w", err)
	}
	out, err := s.verify.Check(ctx, st.ID, string(code), "test")
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if out.Status != verify.StatusApproved {
		return nil, fmt.Errorf("check: status %s", out.Status)
	}
	return out, nil
}

// TestRotateWhileServing rotates the number, index and pepper keys and
// re-encrypts while sign-ups and logins run: no lookup misses (a login
// always finds its subject, a repeated sign-up never makes a second
// subject), no verification is lost, and afterwards every ciphertext and
// index is under the new keys.
func TestRotateWhileServing(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneOff)
		const numbers = 24
		number := func(i int) string { return fmt.Sprintf("+1415555%04d", 100+i) }
		subjects := make([]string, numbers)
		for i := range numbers / 2 { // half the numbers have accounts before the rotation
			v, err := s.verifyNumber(ctx, number(i), verify.PurposeSignup)
			if err != nil {
				t.Fatal(err)
			}
			subjects[i] = v.SubjectID
		}

		var (
			mu       sync.Mutex
			started  []string
			failures []error
			ops      atomic.Int64
		)
		fail := func(err error) {
			mu.Lock()
			failures = append(failures, err)
			mu.Unlock()
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					i := (w*7 + n) % numbers
					mu.Lock()
					want := subjects[i]
					mu.Unlock()
					purpose := verify.PurposeSignup
					if want != "" && n%2 == 0 {
						purpose = verify.PurposeLogin
					}
					v, err := s.verifyNumber(ctx, number(i), purpose)
					if err != nil {
						fail(fmt.Errorf("%s of number %d: %w", purpose, i, err))
						continue
					}
					mu.Lock()
					started = append(started, v.ID)
					switch {
					case v.SubjectID == "":
						failures = append(failures, fmt.Errorf("%s of number %d found no subject", purpose, i))
					case want == "" && purpose == verify.PurposeSignup:
						subjects[i] = v.SubjectID
					case v.SubjectID != want:
						failures = append(failures, fmt.Errorf("%s of number %d gave subject %s, want %s", purpose, i, v.SubjectID, want))
					}
					mu.Unlock()
					ops.Add(1)
				}
			}()
		}
		waitOps := func(n int64) {
			for deadline := time.Now().Add(20 * time.Second); ops.Load() < n && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
		}
		waitOps(20)
		// Verifications pending across the rotation: started under the old
		// keys, checked after the re-encryption moved their code and MAC.
		const pendingN = 5
		var pending []string
		for i := range pendingN {
			st, err := s.verify.Start(ctx, verify.StartRequest{Phone: number(numbers + i), Purpose: verify.PurposeSignup, Actor: "test"})
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, st.ID)
		}
		for _, p := range []vault.Purpose{vault.PurposeNumber, vault.PurposeIndex, vault.PurposePepper} {
			if _, v, err := vault.Rotate(s.dir, p); err != nil || v != 2 {
				t.Fatalf("Rotate %s: version %d, %v", p, v, err)
			}
		}
		if err := s.keys.Reload(s.dir, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // requests that began before the reload finish
		before := ops.Load()
		stats, err := rekey.Run(ctx, db, s.keys, 7, nil)
		if err != nil {
			t.Fatalf("rekey.Run: %v", err)
		}
		waitOps(before + 20) // keep serving after the re-encryption
		for _, id := range pending {
			v, err := db.Verification(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !s.keys.SealedCurrent(v.CodeSealed) {
				t.Errorf("pending verification %s: code not moved to the new key", id)
			}
			code, err := s.keys.Open(v.CodeSealed, []byte("code:"+id))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.verify.Check(ctx, id, string(code), "test"); err != nil || got.Status != verify.StatusApproved || !got.Outcome.New {
				t.Errorf("pending verification %s checked after re-encryption: %v, %v", id, got, err)
			}
		}
		close(stop)
		wg.Wait()
		for _, err := range failures {
			t.Error(err)
		}
		if stats.Changed == 0 {
			t.Errorf("rekey.Run rewrote nothing: %+v", stats)
		}
		for _, id := range started {
			v, err := db.Verification(ctx, id)
			if err != nil || v.Status != verify.StatusApproved {
				t.Errorf("verification %s: %v, %v", id, v, err)
			}
		}
		assertCurrent(t, db, s.keys)
		if got := count(t, db, "bindings"); got != numbers+pendingN {
			t.Errorf("%d bindings for %d numbers", got, numbers+pendingN)
		}
		if got := count(t, db, "subject_keys"); got != numbers+pendingN {
			t.Errorf("%d subject keys for %d subjects", got, numbers+pendingN)
		}

		// A second run has nothing left to do.
		again, err := rekey.Run(ctx, db, s.keys, 100, nil)
		if err != nil || again.Changed != 0 {
			t.Errorf("second run: %+v, %v", again, err)
		}
	})
}

// assertCurrent fails unless every sealed value and number index in db is
// under the newest keys.
func assertCurrent(t *testing.T, db *DB, keys *vault.Keyring) {
	t.Helper()
	newest := func(p vault.Purpose) uint32 { return keys.Newest(p) }
	check := func(what string, b []byte, p vault.Purpose) {
		t.Helper()
		if b == nil {
			return
		}
		var v uint32
		var ok bool
		if p == vault.PurposeNumber {
			v, ok = keys.SealedVersion(b)
		} else {
			v, ok = vault.IndexVersion(b)
		}
		if !ok || v != newest(p) {
			t.Errorf("%s under %s key %d, want %d", what, p, v, newest(p))
		}
	}
	rows, err := db.r.QueryContext(t.Context(), `SELECT id, phone_index, prefix_index, phone_sealed, code_sealed FROM verifications`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var index, prefix, sealed, code []byte
		if err := rows.Scan(&id, &index, &prefix, &sealed, &code); err != nil {
			t.Fatal(err)
		}
		n++
		check("verification "+id+" index", index, vault.PurposeIndex)
		check("verification "+id+" prefix index", prefix, vault.PurposeIndex)
		check("verification "+id+" number", sealed, vault.PurposeNumber)
		check("verification "+id+" code", code, vault.PurposeNumber)
	}
	if n == 0 {
		t.Error("no verifications")
	}
	brows, err := db.r.QueryContext(t.Context(), `SELECT b.phone_index, k.wrapped FROM bindings b JOIN subject_keys k ON k.subject_id = b.subject_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer brows.Close()
	for brows.Next() {
		var index, wrapped []byte
		if err := brows.Scan(&index, &wrapped); err != nil {
			t.Fatal(err)
		}
		check("binding index", index, vault.PurposeIndex)
		check("subject key", wrapped, vault.PurposeNumber)
	}
}

func TestRekeyBatchBadInput(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		nop := func(rekey.Tx, []any) ([]any, []byte, error) { return nil, nil, nil }
		for _, tb := range []rekey.Table{
			{Name: "verifications; DROP TABLE x", Key: "id", Cols: []string{"id"}, Write: 1},
			{Name: "verifications", Key: "id", Cols: []string{"id"}, Write: 0},
			{Name: "verifications", Key: "id", Cols: []string{"id"}, Write: 2},
		} {
			if _, err := db.RekeyBatch(t.Context(), tb, nil, 10, nop); err == nil {
				t.Errorf("RekeyBatch(%+v) succeeded", tb)
			}
		}
		if _, err := db.CountRows(t.Context(), "x y"); err == nil {
			t.Error("CountRows with a bad name succeeded")
		}
		boom := errors.New("boom")
		fail := func(rekey.Tx, []any) ([]any, []byte, error) { return nil, nil, boom }
		s := newServices(t, db, identity.TombstoneOff)
		if _, err := s.verifyNumber(t.Context(), "+14155550100", verify.PurposeSignup); err != nil {
			t.Fatal(err)
		}
		tb := rekey.Tables()[2]
		if _, err := db.RekeyBatch(t.Context(), tb, nil, 10, fail); !errors.Is(err, boom) {
			t.Errorf("a failing rewrite: %v, want boom", err)
		}
	})
}

// TestRekeyResumes interrupts a re-encryption after its first batch: what
// was committed stays, and a second run finishes the rest.
func TestRekeyResumes(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		s := newServices(t, db, identity.TombstoneOff)
		for i := range 6 {
			if _, err := s.verifyNumber(t.Context(), fmt.Sprintf("+1415555%04d", 200+i), verify.PurposeSignup); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := vault.Rotate(s.dir, vault.PurposeNumber); err != nil {
			t.Fatal(err)
		}
		if err := s.keys.Reload(s.dir, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		stats, err := rekey.Run(ctx, db, s.keys, 2, func(done, total, changed int) { cancel() })
		if err == nil || stats.Changed == 0 {
			t.Fatalf("interrupted run: %+v, %v", stats, err)
		}
		rest, err := rekey.Run(t.Context(), db, s.keys, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		// 6 wrapped subject keys and 6 sealed numbers of verifications (the
		// bindings are under the subjects' data keys): each rewritten once.
		if stats.Changed+rest.Changed != 12 {
			t.Errorf("rewritten %d + %d rows, want 12 in all", stats.Changed, rest.Changed)
		}
		assertCurrent(t, db, s.keys)
	})
}
