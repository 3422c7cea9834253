package privacy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/note"

	"github.com/ringfence/ringfence/internal/audit"
)

// Mismatch names a figure of a report that the log does not give.
type Mismatch struct {
	Figure string // "numbers_held.at_end", "accesses.legal.numbers", "signature"...
	Report string // what the report says
	Log    string // what the log gives
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s: the report says %q, the log gives %q", m.Figure, m.Report, m.Log)
}

type figure struct{ name, value string }

func (c Count) String() string { return fmt.Sprintf("%s [%d, %d]", c.Text, c.Min, c.Max) }
func (s Share) String() string { return fmt.Sprintf("%s [%d, %d] ppm", s.Text, s.MinPPM, s.MaxPPM) }

// figures lists every figure of r by name, in a fixed order.
func (r *Report) figures() []figure {
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	fs := []figure{
		{"version", strconv.Itoa(r.Version)}, {"origin", r.Origin},
		{"from.size", u(r.From.Size)}, {"from.root", r.From.Root}, {"from.checkpoint", r.From.Checkpoint},
		{"to.size", u(r.To.Size)}, {"to.root", r.To.Root}, {"to.checkpoint", r.To.Checkpoint},
		{"entries", u(r.Entries)}, {"start", r.Start}, {"end", r.End},
		{"numbers_held.at_start", r.NumbersHeld.AtStart.String()},
		{"numbers_held.at_end", r.NumbersHeld.AtEnd.String()},
		{"numbers_held.during", r.NumbersHeld.During.String()},
	}
	for _, a := range r.Accesses {
		p := "accesses." + string(a.Purpose) + "."
		fs = append(fs, figure{p + "accesses", a.Accesses.String()}, figure{p + "numbers", a.Numbers.String()},
			figure{p + "share_of_held", a.Share.String()})
	}
	return fs
}

// CompareReports returns every figure in which got differs from want (the
// recomputed report), and every figure one has and the other lacks, in
// the order of want.
func CompareReports(got, want *Report) []Mismatch {
	have := make(map[string]string)
	order := []string{}
	for _, f := range got.figures() {
		if _, dup := have[f.name]; dup {
			f.name += " (repeated)"
		}
		have[f.name] = f.value
		order = append(order, f.name)
	}
	var out []Mismatch
	seen := make(map[string]bool)
	for _, f := range want.figures() {
		seen[f.name] = true
		g, ok := have[f.name]
		if !ok {
			out = append(out, Mismatch{Figure: f.name, Report: "(missing)", Log: f.value})
			continue
		}
		if g != f.value {
			out = append(out, Mismatch{Figure: f.name, Report: g, Log: f.value})
		}
	}
	for _, name := range order {
		if !seen[name] {
			out = append(out, Mismatch{Figure: name, Report: have[name], Log: "(no such figure)"})
		}
	}
	return out
}

// ParseReport reads a signed report file strictly: one JSON object with
// "report" and "signature" and no field the format does not have.
func ParseReport(data []byte) (*SignedReport, json.RawMessage, error) {
	var doc struct {
		Report    json.RawMessage `json:"report"`
		Signature Signature       `json:"signature"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || len(doc.Report) == 0 {
		return nil, nil, errors.New("privacy: not a signed transparency report")
	}
	var sr SignedReport
	dec = json.NewDecoder(bytes.NewReader(doc.Report))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr.Report); err != nil {
		return nil, nil, fmt.Errorf("privacy: report: %w", err)
	}
	sr.Signature = doc.Signature
	return &sr, doc.Report, nil
}

// ReportCheck is what VerifyReport found.
type ReportCheck struct {
	Report     *Report
	Signature  Signature
	Audit      *audit.Report // how much of the log audit.Verify checked
	Mismatches []Mismatch    // empty when every figure and the signature match
}

// VerifyReport checks a signed report file against the audit log:
//
//   - its checkpoints must open under v (the log's checkpoint key) and
//     name the sizes and roots the report states;
//   - the whole log must pass audit.Verify against those checkpoints and
//     the others given (stored), with row MACs when checkMAC is not nil:
//     an entry changed, inserted or deleted in the period fails here;
//   - every figure recomputed from the log must equal the report's;
//   - the signature must verify under a trusted receipt key.
//
// A log that fails audit.Verify is an error (*audit.BadEntryError or
// *audit.BadCheckpointError, with the audit report); figures and a
// signature that do not match are Mismatches.
func VerifyReport(ctx context.Context, data []byte, rows audit.RowSource, v note.Verifier, stored [][]byte,
	checkMAC func(msg, stored []byte) bool, trusted map[string]ed25519.PublicKey) (*ReportCheck, error) {
	sr, raw, err := ParseReport(data)
	if err != nil {
		return nil, err
	}
	r := &sr.Report
	out := &ReportCheck{Report: r, Signature: sr.Signature}
	ends := []*audit.Stored{nil, nil}
	notes := append([][]byte(nil), stored...)
	for i, b := range []Bound{r.From, r.To} {
		name := [2]string{"from", "to"}[i]
		if b.Size == 0 && b.Checkpoint == "" && i == 0 {
			continue // the start of the log
		}
		c, err := audit.OpenCheckpoint([]byte(b.Checkpoint), v)
		if err != nil {
			return out, fmt.Errorf("privacy: the report's %s checkpoint: %w", name, err)
		}
		if c.Size != b.Size || !equalRoot(b.Root, c.Root) {
			return out, fmt.Errorf("privacy: the report's %s size or root is not its checkpoint's", name)
		}
		ends[i] = &audit.Stored{Size: c.Size, Root: c.Root, Note: []byte(b.Checkpoint)}
		notes = append(notes, []byte(b.Checkpoint))
	}
	rep, err := audit.Verify(ctx, rows, notes, v, checkMAC)
	out.Audit = rep
	if err != nil {
		return out, err
	}
	want, err := ComputeReport(ctx, rows, v.Name(), ends[0], ends[1])
	if err != nil {
		return out, err
	}
	out.Mismatches = append(out.Mismatches, CompareReports(r, want)...)
	if err := verifySignature(domainReport, raw, sr.Signature, trusted); err != nil {
		out.Mismatches = append(out.Mismatches, Mismatch{Figure: "signature", Report: sr.Signature.KeyID, Log: err.Error()})
	}
	return out, nil
}
