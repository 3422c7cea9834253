package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// verificationResponse is a verification as the API shows it: the number only masked.
type verificationResponse struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Channel    string `json:"channel"`
	Purpose    string `json:"purpose"`
	To         string `json:"to"`
	Country    string `json:"country"`
	LineType   string `json:"line_type"`
	SubjectID  string `json:"subject_id,omitempty"`
	SendCount  int    `json:"send_count"`
	CreatedAt  string `json:"created_at"`
	ExpiresAt  string `json:"expires_at"`
	ApprovedAt string `json:"approved_at,omitempty"`

	// What an approval meant for the account (check answers only).
	New      *bool  `json:"new,omitempty"`
	Recycled bool   `json:"recycled,omitempty"`
	Conflict string `json:"conflict,omitempty"`
	// A "phone verified" token for the audience the check named.
	Token          string `json:"token,omitempty"`
	TokenExpiresAt string `json:"token_expires_at,omitempty"`
	// What to text where, for inbound_sms (start answers only).
	Inbound *inboundInstructions `json:"inbound,omitempty"`
}

// inboundInstructions tell the person to text a code to the service's number.
type inboundInstructions struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

func newVerificationResponse(v *verify.Verification) verificationResponse {
	out := verificationResponse{
		ID:        v.ID,
		Status:    string(v.Status),
		Channel:   string(v.Channel),
		Purpose:   string(v.Purpose),
		To:        v.Masked,
		Country:   v.Country,
		LineType:  v.LineType,
		SubjectID: v.SubjectID,
		SendCount: v.Sends,
		CreatedAt: timestamp(v.CreatedAt),
		ExpiresAt: timestamp(v.ExpiresAt),
	}
	if !v.ApprovedAt.IsZero() {
		out.ApprovedAt = timestamp(v.ApprovedAt)
	}
	if o := v.Outcome; o != nil && o.SubjectID != "" {
		isNew := o.New
		out.New, out.Recycled, out.Conflict = &isNew, o.Recycled, o.Conflict
	}
	return out
}

// timestamp formats t in RFC 3339, UTC.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// startRequest is the body of POST /v1/verifications.
type startRequest struct {
	Phone        *string `json:"phone"`
	Country      string  `json:"country"`
	Channel      string  `json:"channel"`
	Purpose      string  `json:"purpose"`
	SubjectID    string  `json:"subject_id"`
	SecondFactor bool    `json:"second_factor"`
	IP           string  `json:"ip"`
	PoW          string  `json:"pow"` // token:nonce answering a fraud-guard challenge
}

func (s *Server) startVerification(w http.ResponseWriter, r *http.Request) error {
	var req startRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	bySubject := req.Purpose == string(verify.PurposeStepUp) || req.Purpose == string(verify.PurposeRecovery)
	if req.Phone == nil && !bySubject {
		return errInvalidRequest
	}
	var phone string
	if req.Phone != nil {
		phone = *req.Phone
	}
	started, err := s.cfg.Verify.Start(r.Context(), verify.StartRequest{
		Phone:          phone,
		Country:        req.Country,
		Channel:        verify.Channel(req.Channel),
		Purpose:        verify.Purpose(req.Purpose),
		SubjectID:      req.SubjectID,
		SecondFactor:   req.SecondFactor,
		PoW:            req.PoW,
		IP:             req.IP,
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Actor:          callerOf(r.Context()).keyID,
	})
	if err != nil {
		return err
	}
	if started.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		s.metrics.started.WithLabelValues(string(started.Channel), string(started.Purpose)).Inc()
	}
	resp := newVerificationResponse(started.Verification)
	if started.InboundCode != "" {
		resp.Inbound = &inboundInstructions{To: started.InboundTo, Text: started.InboundCode}
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

func (s *Server) getVerification(w http.ResponseWriter, r *http.Request) error {
	v, err := s.cfg.Verify.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newVerificationResponse(v))
	return nil
}

// checkRequest is the body of POST /v1/verifications/{id}/check.
type checkRequest struct {
	Code     *string `json:"code"`
	Audience string  `json:"audience"` // when set, an approval answers with a token for this audience
}

func (s *Server) checkVerification(w http.ResponseWriter, r *http.Request) error {
	var req checkRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Code == nil {
		return errInvalidRequest
	}
	if req.Audience != "" {
		if err := s.knownAudience(r, req.Audience); err != nil {
			return err
		}
	}
	v, err := s.cfg.Verify.Check(r.Context(), r.PathValue("id"), *req.Code, callerOf(r.Context()).keyID)
	if errors.Is(err, verify.ErrClosed) {
		s.metrics.checks.WithLabelValues("closed").Inc()
	}
	if err != nil {
		return closed(v, err)
	}
	s.metrics.checks.WithLabelValues(string(v.Status)).Inc()
	resp := newVerificationResponse(v)
	if req.Audience != "" && v.Status == verify.StatusApproved && v.SubjectID != "" && (v.Outcome == nil || v.Outcome.Conflict == "") {
		if err := s.addToken(r, &resp, req.Audience, v); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// resendRequest is the optional body of POST /v1/verifications/{id}/resend.
type resendRequest struct {
	PoW string `json:"pow"`
}

func (s *Server) resendVerification(w http.ResponseWriter, r *http.Request) error {
	var req resendRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return err
	}
	v, err := s.cfg.Verify.Resend(r.Context(), r.PathValue("id"), req.PoW)
	if err != nil {
		return closed(v, err)
	}
	writeJSON(w, http.StatusOK, newVerificationResponse(v))
	return nil
}

func (s *Server) cancelVerification(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	v, err := s.cfg.Verify.Cancel(r.Context(), r.PathValue("id"), callerOf(r.Context()).keyID)
	if err != nil {
		return closed(v, err)
	}
	writeJSON(w, http.StatusOK, newVerificationResponse(v))
	return nil
}

// closed adds the verification's status to verify.ErrClosed; other errors pass as they are.
func closed(v *verify.Verification, err error) error {
	if v != nil && errors.Is(err, verify.ErrClosed) {
		return &closedError{status: v.Status}
	}
	return err
}
