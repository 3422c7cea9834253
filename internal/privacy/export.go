package privacy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// ExportFreshness is how recently the verification that authorises an
// export must have been approved: the person proves they hold the number
// now, so a leaked application key alone cannot collect numbers.
const ExportFreshness = 15 * time.Minute

// Export is everything the service holds about a subject, for the subject.
type Export struct {
	Version       int                  `json:"version"` // 1
	Issuer        string               `json:"issuer"`
	GeneratedAt   string               `json:"generated_at"`
	Subject       ExportSubject        `json:"subject"`
	Numbers       []ExportNumber       `json:"numbers"`
	Verifications []ExportVerification `json:"verifications"`
	Consents      []SignedReceipt      `json:"consents"`
	Calls         []ExportCall         `json:"calls"`
	Audit         ExportAudit          `json:"audit"`
}

// ExportSubject is the account.
type ExportSubject struct {
	ID            string `json:"id"`
	CreatedAt     string `json:"created_at"`
	LostBindingAt string `json:"lost_binding_at,omitempty"`
	NeedsGuardian bool   `json:"needs_guardian"`
}

// ExportNumber is one bound number, in full and masked. Reading it in
// full is an access for the purpose user_export, and is logged.
type ExportNumber struct {
	E164           string `json:"e164"`
	Masked         string `json:"masked"`
	Country        string `json:"country"`
	LineType       string `json:"line_type"`
	BoundAt        string `json:"bound_at"`
	LastVerifiedAt string `json:"last_verified_at"`
	ReleaseAt      string `json:"release_at,omitempty"`
}

// ExportVerification is one verification that names the subject.
type ExportVerification struct {
	ID         string `json:"id"`
	Purpose    string `json:"purpose"`
	Channel    string `json:"channel"`
	Status     string `json:"status"`
	To         string `json:"to"` // masked
	CreatedAt  string `json:"created_at"`
	ApprovedAt string `json:"approved_at,omitempty"`
}

// ExportCall is one call to the phone line from one of the subject's
// numbers since it was bound, or one whose transcript was kept for the
// subject, with that transcript.
type ExportCall struct {
	ID             string `json:"id"`
	From           string `json:"from,omitempty"` // masked; "" when the number is no longer bound
	StartedAt      string `json:"started_at"`
	DurationMillis int64  `json:"duration_ms"`
	ChargedMillis  int64  `json:"charged_ms"` // talk time counted against the month
	Ended          string `json:"ended"`
	Turns          int    `json:"turns"`
	Emergency      bool   `json:"emergency"`
	// Transcript is what was said, when it was kept (sip.transcripts) and
	// has not expired.
	Transcript []ExportLine `json:"transcript,omitempty"`
}

// ExportLine is one line of a call's transcript.
type ExportLine struct {
	AtMillis int64  `json:"at_ms"`   // from the start of the call
	Speaker  string `json:"speaker"` // caller, assistant or system
	Text     string `json:"text"`
}

// ExportAudit is every audit entry about the subject, each with its
// inclusion proof against one signed checkpoint.
type ExportAudit struct {
	Origin     string        `json:"origin"`
	Checkpoint Bound         `json:"checkpoint"`
	Entries    []ExportEntry `json:"entries"`
}

// ExportEntry is an audit entry with every field its leaf commits to, so
// that the person can recompute the leaf hash (audit.Entry.LeafData) and
// check the proof against the checkpoint's root.
type ExportEntry struct {
	Seq           uint64   `json:"seq"`
	Type          string   `json:"type"`
	Actor         string   `json:"actor"`
	Purpose       string   `json:"purpose,omitempty"`
	Ref           string   `json:"ref,omitempty"`
	Subject       string   `json:"subject,omitempty"`
	Index         string   `json:"index,omitempty"` // base64 keyed blind index, never a number
	Detail        string   `json:"detail,omitempty"`
	AtMillis      int64    `json:"at_ms"`
	PayloadSHA256 string   `json:"payload_sha256,omitempty"` // hex; the payload itself is sealed
	LeafHash      string   `json:"leaf_hash"`                // base64
	Proof         []string `json:"proof"`                    // base64 hashes, leaf to root
}

// SignedExport is an Export and its Signature.
type SignedExport struct {
	Export    Export    `json:"export"`
	Signature Signature `json:"signature"`
}

// domainExport separates export signatures.
const domainExport = "ringfence subject export v1\n"

// ExportStore is what Export reads beyond Store.
type ExportStore interface {
	audit.NodeSource
	// VerificationsOf lists the verifications that name a subject, oldest first.
	VerificationsOf(ctx context.Context, subjectID string) ([]*verify.Verification, error)
	// CallsFrom lists the call records whose caller index is one of
	// indexes, started from since, oldest first.
	CallsFrom(ctx context.Context, indexes [][]byte, since time.Time) ([]*dialogue.CallRecord, error)
	// CallsTranscribedFor lists the call records whose transcript is kept
	// for a subject, oldest first.
	CallsTranscribedFor(ctx context.Context, subjectID string) ([]*dialogue.CallRecord, error)
	// TranscriptsOf returns the sealed transcripts kept for a subject, by call id.
	TranscriptsOf(ctx context.Context, subjectID string) (map[string][]byte, error)
}

// boundNumber is what an export needs of a binding to find its calls.
type boundNumber struct {
	indexes [][]byte // under every index key version
	masked  string
	since   time.Time
}

// Export gathers everything held about a subject. evidence must be a
// verification of the subject's current number approved within
// ExportFreshness (else ErrInvalidEvidence). Each full number read is an
// audit event number.accessed with purpose user_export, appended before
// the read. Config.Checkpoint then signs a checkpoint covering those events
// (without it, the latest one is used), and every audit entry about the
// subject up to it comes with its inclusion proof.
func (s *Service) Export(ctx context.Context, subjectID, evidence, actor string) (*SignedExport, error) {
	es, ok := s.store.(ExportStore)
	if !ok {
		return nil, errors.New("privacy: the store cannot export")
	}
	if !vault.ValidID("sub", subjectID) {
		return nil, ErrNotFound
	}
	if !vault.ValidID("ve", evidence) {
		return nil, ErrInvalidEvidence
	}
	var (
		sub     *identity.Subject
		numbers []ExportNumber
		held    []boundNumber
		wrapped []byte // the subject's data key, wrapped; nil if none
	)
	err := s.write(ctx, func(tx Tx) error {
		numbers, held = nil, nil
		var err error
		sub, err = tx.Subject(subjectID)
		if errors.Is(err, identity.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		now := s.clock()
		if _, err := s.evidence(tx, sub.ID, evidence); err != nil {
			return err
		}
		v, err := tx.Verification(evidence)
		if err != nil {
			return err
		}
		if now.Sub(v.ApprovedAt) > ExportFreshness {
			return fmt.Errorf("%w: approved more than %s ago", ErrInvalidEvidence, ExportFreshness)
		}
		bs, err := tx.BindingsOf(sub.ID)
		if err != nil {
			return err
		}
		wrapped, err = tx.SubjectKey(sub.ID)
		if errors.Is(err, identity.ErrNotFound) {
			wrapped, err = nil, nil
		}
		if err != nil {
			return err
		}
		for _, b := range bs {
			if err := tx.AppendEvents(verify.Event{Type: EventNumberAccessed, Actor: actor, Purpose: "user_export",
				VerificationID: evidence, SubjectID: sub.ID, PhoneIndex: b.PhoneIndex, Detail: "export", At: now}); err != nil {
				return err
			}
			e164, err := identity.OpenBinding(s.keys, wrapped, b)
			if err != nil {
				return fmt.Errorf("open binding: %w", err)
			}
			numbers = append(numbers, ExportNumber{E164: string(e164), Masked: b.Masked, Country: b.Country, LineType: b.LineType,
				BoundAt: stamp(b.BoundAt), LastVerifiedAt: stamp(b.LastVerifiedAt), ReleaseAt: stamp(b.ReleaseAt)})
			held = append(held, boundNumber{indexes: s.keys.BlindIndexes("phone", string(e164)), masked: b.Masked, since: b.BoundAt})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	out := Export{Version: 1, Issuer: s.cfg.Issuer, GeneratedAt: stamp(s.clock()), Numbers: numbers,
		Subject:  ExportSubject{ID: sub.ID, CreatedAt: stamp(sub.CreatedAt), LostBindingAt: stamp(sub.LostBindingAt), NeedsGuardian: sub.NeedsGuardian},
		Consents: []SignedReceipt{}, Verifications: []ExportVerification{}}
	if out.Calls, err = s.exportCalls(ctx, es, sub.ID, wrapped, held); err != nil {
		return nil, err
	}
	if out.Numbers == nil {
		out.Numbers = []ExportNumber{}
	}
	vs, err := es.VerificationsOf(ctx, sub.ID)
	if err != nil {
		return nil, err
	}
	refs := make(map[string]bool)
	for _, v := range vs {
		refs[v.ID] = true
		out.Verifications = append(out.Verifications, ExportVerification{ID: v.ID, Purpose: string(v.Purpose), Channel: string(v.Channel),
			Status: string(v.Status), To: v.Masked, CreatedAt: stamp(v.CreatedAt), ApprovedAt: stamp(v.ApprovedAt)})
	}
	cs, err := s.store.Consents(ctx, sub.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		var sr SignedReceipt
		if err := json.Unmarshal(c.Receipt, &sr); err != nil {
			return nil, fmt.Errorf("stored receipt %s: %w", c.ID, err)
		}
		out.Consents = append(out.Consents, sr)
	}

	var cp *audit.Stored
	if s.cfg.Checkpoint != nil {
		cp, err = s.cfg.Checkpoint(ctx)
	} else {
		cp, err = s.store.LatestCheckpoint(ctx)
	}
	if err != nil {
		return nil, err
	}
	if cp == nil {
		cp = &audit.Stored{Root: audit.EmptyRoot()}
	}
	out.Audit = ExportAudit{Origin: s.cfg.Origin, Checkpoint: bound(cp), Entries: []ExportEntry{}}
	for row, err := range s.store.AuditRows(ctx) {
		if err != nil {
			return nil, err
		}
		e := row.Entry
		if e.Seq > cp.Size {
			break
		}
		if e.Subject != sub.ID && !refs[e.Ref] {
			continue
		}
		p, err := audit.InclusionProof(ctx, es, e.Seq-1, cp.Size)
		if err != nil {
			return nil, err
		}
		out.Audit.Entries = append(out.Audit.Entries, exportEntry(row, p))
	}
	sig, err := s.signer.sign(domainExport, out)
	if err != nil {
		return nil, fmt.Errorf("sign export: %w", err)
	}
	return &SignedExport{Export: out, Signature: sig}, nil
}

func exportEntry(row audit.Row, proof [][]byte) ExportEntry {
	e := row.Entry
	x := ExportEntry{Seq: e.Seq, Type: e.Type, Actor: e.Actor, Purpose: e.Purpose, Ref: e.Ref, Subject: e.Subject, Detail: e.Detail,
		AtMillis: e.At.UnixMilli(), LeafHash: base64.StdEncoding.EncodeToString(row.LeafHash), Proof: make([]string, len(proof))}
	if len(e.Index) > 0 {
		x.Index = base64.StdEncoding.EncodeToString(e.Index)
	}
	if len(e.Payload) > 0 {
		sum := sha256.Sum256(e.Payload)
		x.PayloadSHA256 = hex.EncodeToString(sum[:])
	}
	for i, h := range proof {
		x.Proof[i] = base64.StdEncoding.EncodeToString(h)
	}
	return x
}

// entry returns the audit.Entry an export entry describes, without payload.
func (x ExportEntry) entry() (audit.Entry, error) {
	e := audit.Entry{Seq: x.Seq, Type: x.Type, Actor: x.Actor, Purpose: x.Purpose, Ref: x.Ref, Subject: x.Subject, Detail: x.Detail,
		At: time.UnixMilli(x.AtMillis).UTC()}
	if x.Index != "" {
		b, err := base64.StdEncoding.DecodeString(x.Index)
		if err != nil {
			return e, fmt.Errorf("index: %w", err)
		}
		e.Index = b
	}
	return e, nil
}

// CheckEntry recomputes an export entry's leaf hash from its fields and
// checks its inclusion proof against the root of the checkpoint of size.
func (x ExportEntry) CheckEntry(root []byte, size uint64) error {
	e, err := x.entry()
	if err != nil {
		return err
	}
	if x.PayloadSHA256 != "" {
		return fmt.Errorf("entry %d: has a sealed payload; check it with the payload", x.Seq)
	}
	lh := audit.LeafHash(e.LeafData())
	if base64.StdEncoding.EncodeToString(lh) != x.LeafHash {
		return fmt.Errorf("entry %d: its fields do not hash to its leaf hash", x.Seq)
	}
	proof := make([][]byte, len(x.Proof))
	for i, p := range x.Proof {
		if proof[i], err = base64.StdEncoding.DecodeString(p); err != nil {
			return fmt.Errorf("entry %d: proof: %w", x.Seq, err)
		}
	}
	if x.Seq == 0 || x.Seq > size {
		return fmt.Errorf("entry %d: not covered by the checkpoint of size %d", x.Seq, size)
	}
	if err := audit.VerifyInclusion(lh, x.Seq-1, size, proof, root); err != nil {
		return fmt.Errorf("entry %d: %w", x.Seq, err)
	}
	return nil
}

// stamp writes a time for exports, or "" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// VerifyExport checks an export file offline: its signature under a
// trusted receipt key, its checkpoint under the log's key v, and every
// audit entry's leaf hash and inclusion proof against that checkpoint. It
// returns the export, or the first problem.
func VerifyExport(data []byte, trusted map[string]ed25519.PublicKey, v note.Verifier) (*Export, error) {
	var x Export
	if err := openSigned(data, "export", domainExport, trusted, &x); err != nil {
		return nil, err
	}
	cp := x.Audit.Checkpoint
	root, err := base64.StdEncoding.DecodeString(cp.Root)
	if err != nil {
		return nil, fmt.Errorf("privacy: export: checkpoint root: %w", err)
	}
	if cp.Size > 0 {
		c, err := audit.OpenCheckpoint([]byte(cp.Checkpoint), v)
		if err != nil {
			return nil, fmt.Errorf("privacy: export checkpoint: %w", err)
		}
		if c.Size != cp.Size || !bytes.Equal(c.Root, root) {
			return nil, errors.New("privacy: export: size or root is not the checkpoint's")
		}
	}
	for _, e := range x.Audit.Entries {
		if err := e.CheckEntry(root, cp.Size); err != nil {
			return nil, fmt.Errorf("privacy: export: %w", err)
		}
	}
	return &x, nil
}

// exportCalls lists the calls from the subject's bound numbers since each
// was bound, and the calls whose transcript is kept for the subject, oldest
// first, each with its transcript opened under the subject's data key.
func (s *Service) exportCalls(ctx context.Context, es ExportStore, subjectID string, wrapped []byte, bound []boundNumber) ([]ExportCall, error) {
	sealed, err := es.TranscriptsOf(ctx, subjectID)
	if err != nil {
		return nil, err
	}
	var recs []*dialogue.CallRecord
	from := make(map[string]string) // call id: masked number
	for _, b := range bound {
		rs, err := es.CallsFrom(ctx, b.indexes, b.since)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if _, seen := from[r.ID]; !seen {
				from[r.ID] = b.masked
				recs = append(recs, r)
			}
		}
	}
	if len(sealed) > 0 {
		// Calls from numbers no longer bound to the subject, kept for it.
		rs, err := es.CallsTranscribedFor(ctx, subjectID)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if _, seen := from[r.ID]; !seen {
				from[r.ID] = ""
				recs = append(recs, r)
			}
		}
	}
	slices.SortFunc(recs, func(a, b *dialogue.CallRecord) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.ID, b.ID))
	})
	out := make([]ExportCall, 0, len(recs))
	for _, r := range recs {
		c := ExportCall{ID: r.ID, From: from[r.ID], StartedAt: stamp(r.Start), DurationMillis: r.Duration.Milliseconds(),
			ChargedMillis: r.Charged.Milliseconds(), Ended: r.Ended, Turns: r.Turns, Emergency: r.Emergency}
		if b, ok := sealed[r.ID]; ok {
			data, err := identity.OpenTranscript(s.keys, wrapped, subjectID, r.ID, b)
			if err != nil {
				return nil, fmt.Errorf("open transcript of call %s: %w", r.ID, err)
			}
			lines, err := dialogue.ParseTranscript(data)
			if err != nil {
				return nil, fmt.Errorf("transcript of call %s: %w", r.ID, err)
			}
			c.Transcript = make([]ExportLine, len(lines))
			for i, l := range lines {
				c.Transcript[i] = ExportLine{AtMillis: l.At.Milliseconds(), Speaker: string(l.Speaker), Text: l.Text}
			}
		}
		out = append(out, c)
	}
	return out, nil
}
