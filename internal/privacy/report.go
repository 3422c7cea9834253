package privacy

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/verify"
)

// Access is a row of the transparency report: a reason a number was read.
type Access string

// The rows of the report, in order. Every access event of the log lands in
// exactly one; an access for a purpose this list does not know lands in
// AccessOther, so nothing is left out.
const (
	AccessSignup        Access = "signup_verification"
	AccessLogin         Access = "login"
	AccessStepUp        Access = "step_up"
	AccessRecovery      Access = "recovery"
	AccessPhoneChange   Access = "phone_change"
	AccessGuardian      Access = "guardian_consent"
	AccessSecurityAlert Access = "security_alert"
	AccessTOSReview     Access = "tos_review"
	AccessLegal         Access = "legal"
	AccessUserExport    Access = "user_export"
	AccessErasure       Access = "erasure"
	AccessOther         Access = "other"
)

// Accesses lists the rows of the report in order.
var Accesses = []Access{AccessSignup, AccessLogin, AccessStepUp, AccessRecovery, AccessPhoneChange, AccessGuardian,
	AccessSecurityAlert, AccessTOSReview, AccessLegal, AccessUserExport, AccessErasure, AccessOther}

// Audit event types the report reads beside those of verify, identity and
// access. Code that opens a number for a purpose outside a verification or
// a staff reveal (a security alert, a subject's export) appends
// EventNumberAccessed with that purpose; erasure appends EventErased with
// the subject, which also ends the holding of its numbers.
const (
	EventNumberAccessed = "number.accessed"
	EventErased         = "subject.erased"
)

// accessOf maps the purpose of an access event (a verification purpose, a
// reveal purpose or a number.accessed purpose) to its row.
var accessOf = map[string]Access{
	string(verify.PurposeSignup):      AccessSignup,
	"verification":                    AccessSignup,
	string(verify.PurposeLogin):       AccessLogin,
	string(verify.PurposeStepUp):      AccessStepUp,
	string(verify.PurposeRecovery):    AccessRecovery,
	"recovery_support":                AccessRecovery,
	string(verify.PurposePhoneChange): AccessPhoneChange,
	string(verify.PurposeGuardian):    AccessGuardian,
	"security_alert":                  AccessSecurityAlert,
	"tos_review":                      AccessTOSReview,
	"legal":                           AccessLegal,
	"user_export":                     AccessUserExport,
	"erasure":                         AccessErasure,
}

// accessFor returns the row an audit entry counts in, and false for an
// entry that reads no number: a verification started (the number is sealed
// and used to deliver a code), a staff reveal used, a number.accessed, and
// an erasure.
func accessFor(e audit.Entry) (Access, bool) {
	switch e.Type {
	case "verification.started", "reveal.used", EventNumberAccessed:
		if a, ok := accessOf[e.Purpose]; ok {
			return a, true
		}
		return AccessOther, true
	case EventErased:
		return AccessErasure, true
	}
	return "", false
}

// SmallCount is the smallest count a report shows exactly; counts from 1 to
// SmallCount-1 are shown as the band "1-9". Zero is shown as it is.
const SmallCount = 10

// Count is a figure of the report: exact, or a band for small counts.
type Count struct {
	Text string `json:"text"` // "1234", "0" or "1-9"
	Min  uint64 `json:"min"`
	Max  uint64 `json:"max"`
}

// Share is a count as a share of the numbers held, in parts per million
// (integers, so that every verifier computes the same figure); a range when
// a count it comes from is banded.
type Share struct {
	Text   string `json:"text"` // "2.13%", "0.01%-0.09%" or "n/a" when no number was held
	MinPPM uint64 `json:"min_ppm"`
	MaxPPM uint64 `json:"max_ppm"`
}

// Bound is one end of the report's period: a signed checkpoint of the
// audit log, or the empty log (size 0, no checkpoint).
type Bound struct {
	Size       uint64 `json:"size"`
	Root       string `json:"root"`                 // base64
	Checkpoint string `json:"checkpoint,omitempty"` // the signed note
}

// Held counts the numbers bound to subjects.
type Held struct {
	AtStart Count `json:"at_start"` // at the first checkpoint
	AtEnd   Count `json:"at_end"`   // at the second
	During  Count `json:"during"`   // at any time in the period: the base of every share
}

// AccessFigures are the figures of one row.
type AccessFigures struct {
	Purpose  Access `json:"purpose"`
	Accesses Count  `json:"accesses"` // access events in the period
	Numbers  Count  `json:"numbers"`  // distinct numbers (or subjects, for erasure) accessed
	Share    Share  `json:"share_of_held"`
}

// Report is the transparency report of a period: the audit entries after
// From up to and including To.
type Report struct {
	Version     int             `json:"version"` // 1
	Origin      string          `json:"origin"`  // the audit log
	From        Bound           `json:"from"`
	To          Bound           `json:"to"`
	Entries     uint64          `json:"entries"`         // audit entries in the period
	Start       string          `json:"start,omitempty"` // time of the first entry in the period
	End         string          `json:"end,omitempty"`   // time of the last
	NumbersHeld Held            `json:"numbers_held"`
	Accesses    []AccessFigures `json:"accesses"`
}

// SignedReport is a Report and its Signature, as served and kept.
type SignedReport struct {
	Report    Report    `json:"report"`
	Signature Signature `json:"signature"`
}

// ErrLogShort means the log ends before the report's period does.
var ErrLogShort = errors.New("privacy: the audit log ends before the period")

// ComputeReport computes the report of the period from a checkpoint (nil
// for the start of the log) to another, reading the log from its first
// entry: numbers held at the start depend on everything before. The
// checkpoints are copied as they are; checking them is the caller's.
func ComputeReport(ctx context.Context, rows audit.RowSource, origin string, from, to *audit.Stored) (*Report, error) {
	if to == nil {
		return nil, fmt.Errorf("%w: no end checkpoint", ErrInvalidRequest)
	}
	start := &audit.Stored{Root: audit.EmptyRoot()}
	if from != nil {
		start = from
	}
	if start.Size > to.Size {
		return nil, fmt.Errorf("%w: the period ends before it starts", ErrInvalidRequest)
	}
	r := &Report{Version: 1, Origin: origin, From: bound(start), To: bound(to), Entries: to.Size - start.Size}

	held := make(map[string]string) // blind index -> subject
	during := make(map[string]bool)
	var heldAtStart uint64
	events := make(map[Access]uint64)
	numbers := make(map[Access]map[string]bool)
	next := uint64(1)
	for row, err := range rows.AuditRows(ctx) {
		if err != nil {
			return nil, err
		}
		e := row.Entry
		if e.Seq > to.Size {
			break
		}
		if e.Seq != next {
			return nil, fmt.Errorf("privacy: audit log has seq %d where %d belongs", e.Seq, next)
		}
		next++
		inPeriod := e.Seq > start.Size
		if inPeriod {
			at := e.At.UTC().Format(timeFormat)
			if r.Start == "" {
				r.Start = at
			}
			r.End = at
		}
		switch e.Type {
		case "binding.created", "binding.recycled":
			held[string(e.Index)] = e.Subject
			if inPeriod {
				during[string(e.Index)] = true
			}
		case "binding.released":
			delete(held, string(e.Index))
		case EventErased:
			for idx, sub := range held {
				if sub == e.Subject {
					delete(held, idx)
				}
			}
		}
		if inPeriod {
			if a, ok := accessFor(e); ok {
				events[a]++
				key := string(e.Index)
				if len(e.Index) == 0 {
					key = "subject:" + e.Subject
				}
				if numbers[a] == nil {
					numbers[a] = make(map[string]bool)
				}
				numbers[a][key] = true
			}
		}
		if e.Seq == start.Size {
			heldAtStart = uint64(len(held))
			for idx := range held {
				during[idx] = true
			}
		}
	}
	if next-1 != to.Size {
		return nil, fmt.Errorf("%w: it has %d entries, the period ends at %d", ErrLogShort, next-1, to.Size)
	}
	r.NumbersHeld = Held{AtStart: count(heldAtStart), AtEnd: count(uint64(len(held))), During: count(uint64(len(during)))}
	for _, a := range Accesses {
		n := count(uint64(len(numbers[a])))
		r.Accesses = append(r.Accesses, AccessFigures{Purpose: a, Accesses: count(events[a]), Numbers: n,
			Share: share(n, r.NumbersHeld.During)})
	}
	return r, nil
}

func bound(c *audit.Stored) Bound {
	return Bound{Size: c.Size, Root: base64.StdEncoding.EncodeToString(c.Root), Checkpoint: string(c.Note)}
}

// count shows n exactly, or as the band 1-9.
func count(n uint64) Count {
	if n > 0 && n < SmallCount {
		return Count{Text: fmt.Sprintf("1-%d", SmallCount-1), Min: 1, Max: SmallCount - 1}
	}
	return Count{Text: strconv.FormatUint(n, 10), Min: n, Max: n}
}

// share is n as a share of held, in parts per million, rounded down; the
// widest range the bands allow.
func share(n, held Count) Share {
	if held.Max == 0 {
		return Share{Text: "n/a"}
	}
	lo := n.Min * 1_000_000 / max(held.Max, 1)
	hi := n.Max * 1_000_000 / max(held.Min, 1)
	if lo == hi {
		return Share{Text: percent(lo), MinPPM: lo, MaxPPM: hi}
	}
	return Share{Text: percent(lo) + "-" + percent(hi), MinPPM: lo, MaxPPM: hi}
}

// percent writes parts per million as a percentage: 21300 is "2.13%".
func percent(ppm uint64) string {
	frac := strings.TrimRight(fmt.Sprintf("%04d", ppm%10000), "0")
	if frac == "" {
		return fmt.Sprintf("%d%%", ppm/10000)
	}
	return fmt.Sprintf("%d.%s%%", ppm/10000, frac)
}

// Report returns the signed report of the period between the checkpoints
// of sizes from and to: from 0 is the start of the log, to 0 the latest
// checkpoint. A size with no checkpoint is ErrNotFound, as is a log with
// none yet; from after to is ErrInvalidRequest. A period's report never
// changes, so it is computed once.
func (s *Service) Report(ctx context.Context, from, to uint64) (*SignedReport, error) {
	var end *audit.Stored
	var err error
	if to == 0 {
		end, err = s.store.LatestCheckpoint(ctx)
		if err == nil && end == nil {
			return nil, ErrNotFound
		}
	} else {
		end, err = s.checkpoint(ctx, to)
	}
	if err != nil {
		return nil, err
	}
	if from > end.Size {
		return nil, fmt.Errorf("%w: from is after to", ErrInvalidRequest)
	}
	key := [2]uint64{from, end.Size}
	cached := func() *SignedReport {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.reports[key]
	}
	if r := cached(); r != nil {
		return r, nil
	}
	s.computing.Lock()
	defer s.computing.Unlock()
	if r := cached(); r != nil { // computed while this one waited
		return r, nil
	}
	var start *audit.Stored
	if from > 0 {
		if start, err = s.checkpoint(ctx, from); err != nil {
			return nil, err
		}
	}
	r, err := ComputeReport(ctx, s.store, s.cfg.Origin, start, end)
	if err != nil {
		return nil, err
	}
	sig, err := s.signer.sign(domainReport, r)
	if err != nil {
		return nil, fmt.Errorf("sign report: %w", err)
	}
	sr := &SignedReport{Report: *r, Signature: sig}
	s.mu.Lock()
	if len(s.reports) >= 64 {
		clear(s.reports)
	}
	s.reports[key] = sr
	s.mu.Unlock()
	return sr, nil
}

func (s *Service) checkpoint(ctx context.Context, size uint64) (*audit.Stored, error) {
	c, err := s.store.Checkpoint(ctx, size)
	if errors.Is(err, verify.ErrNotFound) {
		return nil, ErrNotFound
	}
	return c, err
}

// equalRoot reports whether a report's base64 root is root.
func equalRoot(b64 string, root []byte) bool {
	got, err := base64.StdEncoding.DecodeString(b64)
	return err == nil && bytes.Equal(got, root)
}
