package privacy_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/store"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// The services run on a real SQLite store, with real keys, real
// verifications (by inbound SMS, so nothing needs sending) and a real
// audit log with signed checkpoints.

const (
	origin  = "privacy.example.com/audit"
	inbound = "+14155550100"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	t      *testing.T
	dbPath string
	db     *store.DB
	keys   *vault.Keyring
	clock  *clock
	verify *verify.Service
	svc    *privacy.Service
	log    *audit.Log
	v      note.Verifier
	sids   int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	keyDir := filepath.Join(t.TempDir(), "keys")
	if _, err := vault.Generate(keyDir); err != nil {
		t.Fatal(err)
	}
	keys, err := vault.Load(keyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, keys: keys, clock: &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}}
	e.dbPath = filepath.Join(t.TempDir(), "rf.db")
	e.db, err = store.Open(t.Context(), store.Config{URL: e.dbPath, AuditMAC: func(m []byte) []byte { return keys.MAC("audit-row", m) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	vc := verify.DefaultConfig()
	vc.InboundNumber = inbound
	e.verify = verify.NewService(vc, e.db, keys, e.clock.Now, nil)
	e.verify.SetAccounts(identity.NewService(identity.DefaultConfig(), e.db, keys, e.clock.Now))
	priv, _, err := keys.Signer(vault.PurposeCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(origin, priv)
	if err != nil {
		t.Fatal(err)
	}
	if e.v, err = audit.NewVerifier(origin, priv.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	e.log = audit.NewLog(e.db, origin, signer, e.clock.Now)
	if e.svc, err = privacy.NewService(privacy.Config{Issuer: "ringfence-test", Origin: origin, Checkpoint: e.log.Checkpoint}, e.db, keys, e.clock.Now); err != nil {
		t.Fatal(err)
	}
	return e
}

// prove runs a verification of number by inbound SMS and returns it approved.
func (e *env) prove(number string, purpose verify.Purpose, subjectID string) *verify.Verification {
	e.t.Helper()
	ctx := e.t.Context()
	st, err := e.verify.Start(ctx, verify.StartRequest{Phone: number, Channel: verify.ChannelInboundSMS, Purpose: purpose,
		SubjectID: subjectID, Actor: "key_test"})
	if err != nil {
		e.t.Fatalf("start %s: %v", purpose, err)
	}
	if purpose == verify.PurposeStepUp || purpose == verify.PurposeRecovery {
		number = e.numberOf(st.Verification)
	}
	v, err := e.verify.Inbound(ctx, number, "code "+st.InboundCode, e.sid())
	if err != nil {
		e.t.Fatalf("inbound %s: %v", purpose, err)
	}
	if v.Status != verify.StatusApproved || v.SubjectID == "" {
		e.t.Fatalf("verification %s %s for %q", v.ID, v.Status, v.SubjectID)
	}
	return v
}

// numberOf opens a verification's number, as the test's phone would know it.
func (e *env) numberOf(v *verify.Verification) string {
	e.t.Helper()
	pt, err := e.keys.Open(v.PhoneSealed, []byte("phone:"+v.ID))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(pt)
}

func (e *env) sid() string {
	e.sids++
	return fmt.Sprintf("twilio:SM%032d", e.sids)
}

// signup makes a subject for number and returns the approved signup.
func (e *env) signup(number string) *verify.Verification {
	e.t.Helper()
	return e.prove(number, verify.PurposeSignup, "")
}

func (e *env) auditSize() uint64 {
	e.t.Helper()
	n, err := e.db.AuditSize(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) checkpoint() *audit.Stored {
	e.t.Helper()
	e.clock.Advance(time.Second)
	c, err := e.log.Checkpoint(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// exec changes the database behind the service's back.
func (e *env) exec(query string, args ...any) {
	e.t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		e.t.Fatal(err)
	}
}

func number(i int) string { return fmt.Sprintf("+1415555%04d", 200+i) }
