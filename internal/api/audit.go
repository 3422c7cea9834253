package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/verify"
)

// AuditStore is what the audit routes read.
type AuditStore interface {
	audit.NodeSource
	Checkpoints(ctx context.Context, limit int) ([]*audit.Stored, error)
	Checkpoint(ctx context.Context, size uint64) (*audit.Stored, error)
	LatestCheckpoint(ctx context.Context) (*audit.Stored, error)
	AuditRow(ctx context.Context, seq uint64) (audit.Row, error)
}

// Audit is the audit log the API publishes.
type Audit struct {
	Log         *audit.Log
	Store       AuditStore
	VerifierKey string // the signed-note verifier key of the checkpoints
}

type checkpointResponse struct {
	Size      uint64 `json:"size"`
	Root      string `json:"root"`
	Note      string `json:"note"`
	CreatedAt string `json:"created_at"`
}

func newCheckpointResponse(c *audit.Stored) checkpointResponse {
	return checkpointResponse{Size: c.Size, Root: base64.StdEncoding.EncodeToString(c.Root), Note: string(c.Note), CreatedAt: timestamp(c.At)}
}

type checkpointsResponse struct {
	Origin      string               `json:"origin"`
	VerifierKey string               `json:"verifier_key"`
	Checkpoints []checkpointResponse `json:"checkpoints"`
}

// listCheckpoints publishes the signed checkpoints, newest first: anyone
// may keep copies and check later proofs against them.
func (s *Server) listCheckpoints(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	cs, err := s.cfg.Audit.Store.Checkpoints(r.Context(), int(limit))
	if err != nil {
		return err
	}
	out := checkpointsResponse{Origin: s.cfg.Audit.Log.Origin(), VerifierKey: s.cfg.Audit.VerifierKey, Checkpoints: []checkpointResponse{}}
	for _, c := range cs {
		out.Checkpoints = append(out.Checkpoints, newCheckpointResponse(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createCheckpoint(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	c, err := s.cfg.Audit.Log.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newCheckpointResponse(c))
	return nil
}

// queryInt reads a whole-number query parameter, with a default.
func queryInt(r *http.Request, name string, def, lo, hi uint64) (uint64, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s", errInvalidRequest, name)
	}
	return n, nil
}

// checkpointFor returns the checkpoint of ?size=, or the latest.
func (s *Server) checkpointFor(r *http.Request, name string) (*audit.Stored, error) {
	size, err := queryInt(r, name, 0, 1, 1<<62)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		c, err := s.cfg.Audit.Store.LatestCheckpoint(r.Context())
		if err == nil && c == nil {
			err = verify.ErrNotFound
		}
		return c, err
	}
	return s.cfg.Audit.Store.Checkpoint(r.Context(), size)
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

type entryResponse struct {
	Seq            uint64 `json:"seq"`
	Type           string `json:"type"`
	Actor          string `json:"actor"`
	Purpose        string `json:"purpose,omitempty"`
	VerificationID string `json:"verification_id,omitempty"`
	SubjectID      string `json:"subject_id,omitempty"`
	Detail         string `json:"detail,omitempty"`
	At             string `json:"at"`
	LeafHash       string `json:"leaf_hash"`
}

type inclusionResponse struct {
	Entry      *entryResponse     `json:"entry,omitempty"`
	LeafIndex  uint64             `json:"leaf_index"`
	LeafHash   string             `json:"leaf_hash"`
	Checkpoint checkpointResponse `json:"checkpoint"`
	Proof      []string           `json:"proof"`
}

// inclusion proves that the entry of seq is in the log at a signed
// checkpoint. Anyone may fetch the proof (hashes only); the entry itself is
// shown to admins.
func (s *Server) inclusion(w http.ResponseWriter, r *http.Request, withEntry bool) error {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		return verify.ErrNotFound
	}
	cp, err := s.checkpointFor(r, "size")
	if err != nil {
		return err
	}
	if seq > cp.Size {
		return fmt.Errorf("%w: the entry is after the checkpoint; ask for a later size", errInvalidRequest)
	}
	row, err := s.cfg.Audit.Store.AuditRow(r.Context(), seq)
	if err != nil {
		return err
	}
	p, err := audit.InclusionProof(r.Context(), s.cfg.Audit.Store, seq-1, cp.Size)
	if err != nil {
		return err
	}
	out := inclusionResponse{LeafIndex: seq - 1, LeafHash: base64.StdEncoding.EncodeToString(row.LeafHash), Checkpoint: newCheckpointResponse(cp), Proof: b64s(p)}
	if withEntry {
		e := row.Entry
		out.Entry = &entryResponse{Seq: e.Seq, Type: e.Type, Actor: e.Actor, Purpose: e.Purpose, VerificationID: e.Ref,
			SubjectID: e.Subject, Detail: e.Detail, At: timestamp(e.At), LeafHash: out.LeafHash}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request) error {
	return s.inclusion(w, r, false)
}

func (s *Server) auditEntry(w http.ResponseWriter, r *http.Request) error {
	return s.inclusion(w, r, true)
}

type consistencyResponse struct {
	From  checkpointResponse `json:"from"`
	To    checkpointResponse `json:"to"`
	Proof []string           `json:"proof"`
}

// consistency proves that the log at checkpoint ?to= extends the log at
// checkpoint ?from= without changing it.
func (s *Server) consistency(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("from") == "" {
		return fmt.Errorf("%w: from", errInvalidRequest)
	}
	from, err := s.checkpointFor(r, "from")
	if err != nil {
		return err
	}
	to, err := s.checkpointFor(r, "to")
	if err != nil {
		return err
	}
	if from.Size > to.Size {
		return fmt.Errorf("%w: from is after to", errInvalidRequest)
	}
	p, err := audit.ConsistencyProof(r.Context(), s.cfg.Audit.Store, from.Size, to.Size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, consistencyResponse{From: newCheckpointResponse(from), To: newCheckpointResponse(to), Proof: b64s(p)})
	return nil
}
