package api

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ringfence/ringfence/internal/privacy"
)

// consentRequest is the body of POST /v1/subjects/{id}/consents.
type consentRequest struct {
	Purpose  *string `json:"purpose"`
	Channel  *string `json:"channel"`
	Action   *string `json:"action"`
	Evidence string  `json:"evidence"`
}

// consentResponse is one record of the ledger, with its signed receipt.
type consentResponse struct {
	ID        string          `json:"id"`
	SubjectID string          `json:"subject_id"`
	Purpose   string          `json:"purpose"`
	Channel   string          `json:"channel"`
	Action    string          `json:"action"`
	Method    string          `json:"method"`
	Evidence  string          `json:"evidence,omitempty"`
	At        string          `json:"at"`
	AuditSeq  uint64          `json:"audit_seq"`
	Receipt   json.RawMessage `json:"receipt"`
}

func newConsentResponse(c *privacy.Consent) consentResponse {
	return consentResponse{ID: c.ID, SubjectID: c.SubjectID, Purpose: string(c.Purpose), Channel: string(c.Channel),
		Action: string(c.Action), Method: c.Method, Evidence: c.Evidence, At: c.At.UTC().Format(time.RFC3339Nano),
		AuditSeq: c.AuditSeq, Receipt: json.RawMessage(c.Receipt)}
}

type consentStateResponse struct {
	Purpose   string `json:"purpose"`
	Channel   string `json:"channel"`
	Granted   bool   `json:"granted"`
	Since     string `json:"since"`
	ReceiptID string `json:"receipt_id"`
}

type consentsResponse struct {
	SubjectID string                 `json:"subject_id"`
	Consents  []consentStateResponse `json:"consents"`
	Records   []consentResponse      `json:"records"`
}

// changeConsent records a grant or withdrawal and answers its signed receipt.
func (s *Server) changeConsent(w http.ResponseWriter, r *http.Request) error {
	var req consentRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Purpose == nil || req.Channel == nil || req.Action == nil {
		return fmt.Errorf("%w: purpose, channel and action are required", errInvalidRequest)
	}
	c, err := s.cfg.Privacy.Change(r.Context(), privacy.Change{
		SubjectID: r.PathValue("id"), Purpose: privacy.Purpose(*req.Purpose), Channel: privacy.Channel(*req.Channel),
		Action: privacy.Action(*req.Action), Evidence: req.Evidence, Actor: callerOf(r.Context()).keyID,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newConsentResponse(c))
	return nil
}

// listConsents answers a subject's current consents and the whole ledger.
func (s *Server) listConsents(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	rs, err := s.cfg.Privacy.Consents(r.Context(), id)
	if err != nil {
		return err
	}
	out := consentsResponse{SubjectID: id, Consents: []consentStateResponse{}, Records: []consentResponse{}}
	for _, st := range privacy.Current(rs) {
		out.Consents = append(out.Consents, consentStateResponse{Purpose: string(st.Purpose), Channel: string(st.Channel),
			Granted: st.Granted, Since: st.Since.UTC().Format(time.RFC3339Nano), ReceiptID: st.Latest.ID})
	}
	for _, c := range rs {
		out.Records = append(out.Records, newConsentResponse(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// transparencyReport serves the signed report of a period between two
// checkpoints (?from= and ?to= sizes; the start of the log and the latest
// checkpoint by default) to anyone.
func (s *Server) transparencyReport(w http.ResponseWriter, r *http.Request) error {
	from, err := queryInt(r, "from", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	to, err := queryInt(r, "to", 0, 1, 1<<62)
	if err != nil {
		return err
	}
	sr, err := s.cfg.Privacy.Report(r.Context(), from, to)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, sr)
	return nil
}

type receiptKey struct {
	KeyID     string `json:"key_id"`
	Alg       string `json:"alg"`
	PublicKey string `json:"public_key"`
}

// transparencyKeys publishes the keys that sign consent receipts and
// transparency reports, for checking them offline.
func (s *Server) transparencyKeys(w http.ResponseWriter, r *http.Request) error {
	keys := s.cfg.Privacy.PublicKeys()
	out := struct {
		Keys []receiptKey `json:"keys"`
	}{Keys: []receiptKey{}}
	for id, pub := range keys {
		out.Keys = append(out.Keys, receiptKey{KeyID: id, Alg: "Ed25519", PublicKey: base64.StdEncoding.EncodeToString(pub)})
	}
	slices.SortFunc(out.Keys, func(a, b receiptKey) int { return cmp.Compare(a.KeyID, b.KeyID) })
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// exportSubject answers everything held about a subject, numbers in full:
// the caller proves the person is present with ?evidence=, a verification of
// the subject's number approved in the last minutes. Each number read is
// logged with the purpose user_export, and a fresh checkpoint covers it.
func (s *Server) exportSubject(w http.ResponseWriter, r *http.Request) error {
	x, err := s.cfg.Privacy.Export(r.Context(), r.PathValue("id"), r.URL.Query().Get("evidence"), callerOf(r.Context()).keyID)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, x)
	return nil
}
