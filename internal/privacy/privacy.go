// Package privacy keeps people in control of their numbers: the consent ledger with signed receipts, and the transparency report computed from the audit log.
//
// Every grant or withdrawal of a consent is a row of an append-only ledger,
// an audit event and a receipt signed with the Ed25519 receipt key that the
// person can keep and check offline. The transparency report counts, for a
// period between two signed checkpoints of the audit log, the numbers held
// and every access to a number by purpose; anyone with the log can
// recompute it (ComputeReport, CompareReports).
//
// Erasure and the per-subject data keys live elsewhere; this package reads
// their audit events (EventErased) so that the report counts them.
package privacy

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Errors of the privacy service; the API maps each to a status and a code.
var (
	// ErrNotFound means the subject (or checkpoint) does not exist.
	ErrNotFound = errors.New("privacy: not found")
	// ErrInvalidRequest means a field is missing or malformed.
	ErrInvalidRequest = errors.New("privacy: invalid request")
	// ErrInvalidPurpose means the consent purpose is not one of Purposes.
	ErrInvalidPurpose = errors.New("privacy: unknown consent purpose")
	// ErrInvalidChannel means the channel is unknown or not one the purpose
	// may use.
	ErrInvalidChannel = errors.New("privacy: channel not allowed for the purpose")
	// ErrInvalidEvidence means the evidence is not an approved verification
	// of the subject's current number.
	ErrInvalidEvidence = errors.New("privacy: evidence is not an approved verification of the subject")
)

// Tx is the work the privacy service does inside one write transaction; the
// store's transaction implements it beside verify.Tx.
type Tx interface {
	verify.Tx
	// Subject reads a subject for update; identity.ErrNotFound if missing.
	Subject(id string) (*identity.Subject, error)
	// BindingByIndex reads a binding for update; identity.ErrNotFound if none.
	BindingByIndex(phoneIndex []byte) (*identity.Binding, error)
	// BindingsOf lists a subject's bindings for update, newest first.
	BindingsOf(subjectID string) ([]*identity.Binding, error)
	// AuditSize returns the seq of the last audit event, including those
	// appended in this transaction.
	AuditSize() (uint64, error)
	// ConsentsOf lists a subject's consent records, oldest first.
	ConsentsOf(subjectID string) ([]*Consent, error)
	// InsertConsent appends a record to the ledger.
	InsertConsent(c *Consent) error
	// SubjectKey returns a subject's wrapped data key; identity.ErrNotFound
	// if it has none (erased, or bound before data keys).
	SubjectKey(subjectID string) ([]byte, error)
}

// Store keeps the ledger and reads the audit log. Write runs fn in one
// transaction whose Tx also implements privacy.Tx.
type Store interface {
	audit.RowSource
	Write(ctx context.Context, fn func(verify.Tx) error) error
	// Subject reads a subject; identity.ErrNotFound if missing.
	Subject(ctx context.Context, id string) (*identity.Subject, error)
	// Consents lists a subject's consent records, oldest first.
	Consents(ctx context.Context, subjectID string) ([]*Consent, error)
	// Checkpoint returns the stored checkpoint of a size; verify.ErrNotFound if none.
	Checkpoint(ctx context.Context, size uint64) (*audit.Stored, error)
	// LatestCheckpoint returns the largest checkpoint, or nil if none.
	LatestCheckpoint(ctx context.Context) (*audit.Stored, error)
}

// Config names the service in what it signs.
type Config struct {
	// Issuer names the controller in receipts (the token issuer).
	Issuer string
	// Origin is the audit log's origin, which signs its checkpoints.
	Origin string
	// Checkpoint, when set, signs a checkpoint of the audit log now; an
	// export uses it to prove its own reads. Nil uses the latest one.
	Checkpoint func(context.Context) (*audit.Stored, error)
}

// Service runs the consent ledger and produces transparency reports.
type Service struct {
	cfg    Config
	store  Store
	keys   *vault.Keyring
	now    func() time.Time
	signer signer

	mu      sync.Mutex
	reports map[[2]uint64]*SignedReport // by (from, to): a period's report never changes
	// computing lets one report be computed at a time: each reads the log
	// from its start, and the report is public.
	computing sync.Mutex
}

// NewService returns a Service; now may be nil for time.Now. The keyring
// must hold a receipt key.
func NewService(cfg Config, store Store, keys *vault.Keyring, now func() time.Time) (*Service, error) {
	if now == nil {
		now = time.Now
	}
	if cfg.Issuer == "" || cfg.Origin == "" {
		return nil, errors.New("privacy: Config.Issuer and Config.Origin are required")
	}
	priv, v, err := keys.Signer(vault.PurposeReceipt)
	if err != nil {
		return nil, fmt.Errorf("privacy: %w", err)
	}
	return &Service{cfg: cfg, store: store, keys: keys, now: now,
		signer:  signer{key: priv, keyID: KeyID(v)},
		reports: make(map[[2]uint64]*SignedReport)}, nil
}

// KeyID names version v of the receipt key in signatures: "receipt-<v>".
func KeyID(v uint32) string { return fmt.Sprintf("%s-%d", vault.PurposeReceipt, v) }

// PublicKeys returns every loaded receipt key version by KeyID, so that
// receipts signed before a rotation keep verifying.
func (s *Service) PublicKeys() map[string]ed25519.PublicKey {
	return PublicKeys(s.keys)
}

// PublicKeys returns the receipt public keys of a keyring by KeyID.
func PublicKeys(keys *vault.Keyring) map[string]ed25519.PublicKey {
	out := make(map[string]ed25519.PublicKey)
	for v, pub := range keys.PublicKeys(vault.PurposeReceipt) {
		out[KeyID(v)] = pub
	}
	return out
}

func asTx(tx verify.Tx) (Tx, error) {
	t, ok := tx.(Tx)
	if !ok {
		return nil, errors.New("privacy: store transaction does not implement privacy.Tx")
	}
	return t, nil
}

// write runs fn in one transaction of the store.
func (s *Service) write(ctx context.Context, fn func(tx Tx) error) error {
	return s.store.Write(ctx, func(vtx verify.Tx) error {
		tx, err := asTx(vtx)
		if err != nil {
			return err
		}
		return fn(tx)
	})
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }
