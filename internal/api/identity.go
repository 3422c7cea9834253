package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/verify"
)

// knownAudience refuses a check that names an audience that does not exist,
// before the check spends an attempt.
func (s *Server) knownAudience(r *http.Request, id string) error {
	if s.cfg.Identity == nil {
		return fmt.Errorf("%w: unknown audience", errInvalidRequest)
	}
	_, err := s.cfg.Identity.Audience(r.Context(), id)
	if errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("%w: unknown audience", errInvalidRequest)
	}
	return err
}

// addToken puts a signed "phone verified" token for audience into resp.
func (s *Server) addToken(r *http.Request, resp *verificationResponse, audience string, v *verify.Verification) error {
	sub, bindings, err := s.cfg.Identity.Subject(r.Context(), v.SubjectID)
	if err != nil {
		return fmt.Errorf("token subject: %w", err)
	}
	token, claims, err := s.cfg.Identity.Token(audience, v, identity.LevelOf(sub, bindings))
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	resp.Token = token
	resp.TokenExpiresAt = timestamp(time.Unix(claims.Expires, 0))
	return nil
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{"keys": s.cfg.Identity.JWKS()})
	return nil
}

// subjectResponse shows a subject: its numbers only masked.
type subjectResponse struct {
	ID                string           `json:"id"`
	Level             identity.Level   `json:"level"`
	CreatedAt         string           `json:"created_at"`
	Numbers           []numberResponse `json:"numbers"`
	LostBindingAt     string           `json:"lost_binding_at,omitempty"`
	FactorAt          string           `json:"factor_at,omitempty"`
	NeedsGuardian     bool             `json:"needs_guardian"`
	GuardianConsentAt string           `json:"guardian_consent_at,omitempty"`
	GuardianMethod    string           `json:"guardian_method,omitempty"`
}

type numberResponse struct {
	To             string `json:"to"`
	Country        string `json:"country"`
	LineType       string `json:"line_type"`
	BoundAt        string `json:"bound_at"`
	LastVerifiedAt string `json:"last_verified_at"`
	ReleaseAt      string `json:"release_at,omitempty"`
}

func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return timestamp(t)
}

func newSubjectResponse(sub *identity.Subject, bs []*identity.Binding) subjectResponse {
	out := subjectResponse{
		ID: sub.ID, Level: identity.LevelOf(sub, bs), CreatedAt: timestamp(sub.CreatedAt), Numbers: []numberResponse{},
		LostBindingAt: optTime(sub.LostBindingAt), FactorAt: optTime(sub.FactorAt),
		NeedsGuardian: sub.NeedsGuardian, GuardianConsentAt: optTime(sub.GuardianConsentAt), GuardianMethod: sub.GuardianMethod,
	}
	for _, b := range bs {
		out.Numbers = append(out.Numbers, numberResponse{To: b.Masked, Country: b.Country, LineType: b.LineType,
			BoundAt: timestamp(b.BoundAt), LastVerifiedAt: timestamp(b.LastVerifiedAt), ReleaseAt: optTime(b.ReleaseAt)})
	}
	return out
}

func (s *Server) writeSubject(w http.ResponseWriter, r *http.Request, id string) error {
	sub, bs, err := s.cfg.Identity.Subject(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newSubjectResponse(sub, bs))
	return nil
}

func (s *Server) getSubject(w http.ResponseWriter, r *http.Request) error {
	return s.writeSubject(w, r, r.PathValue("id"))
}

func (s *Server) recordFactor(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	if _, err := s.cfg.Identity.RecordFactor(r.Context(), r.PathValue("id"), callerOf(r.Context()).keyID); err != nil {
		return err
	}
	return s.writeSubject(w, r, r.PathValue("id"))
}

type guardianRequest struct {
	Required *bool `json:"required"`
}

func (s *Server) requireGuardian(w http.ResponseWriter, r *http.Request) error {
	var req guardianRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Required == nil {
		return errInvalidRequest
	}
	if _, err := s.cfg.Identity.RequireGuardian(r.Context(), r.PathValue("id"), callerOf(r.Context()).keyID, *req.Required); err != nil {
		return err
	}
	return s.writeSubject(w, r, r.PathValue("id"))
}

type audienceRequest struct {
	Name string `json:"name"`
}

type audienceResponse struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
}

func (s *Server) createAudience(w http.ResponseWriter, r *http.Request) error {
	var req audienceRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 100 {
		return errInvalidRequest
	}
	a, err := s.cfg.Identity.CreateAudience(r.Context(), name, callerOf(r.Context()).keyID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, audienceResponse{ID: a.ID, Name: a.Name, CreatedAt: timestamp(a.CreatedAt)})
	return nil
}

func (s *Server) listAudiences(w http.ResponseWriter, r *http.Request) error {
	as, err := s.cfg.Identity.Audiences(r.Context())
	if err != nil {
		return err
	}
	out := []audienceResponse{}
	for _, a := range as {
		out = append(out, audienceResponse{ID: a.ID, Name: a.Name, CreatedAt: timestamp(a.CreatedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"audiences": out})
	return nil
}

// errBadSignature refuses a provider webhook whose signature does not verify.
var errBadSignature = errors.New("bad webhook signature")
