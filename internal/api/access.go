package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/access"
)

// Staff authenticate with the session token of POST /v1/staff/login
// (rfs_...), a credential apart from API keys: API keys cannot reach the
// reveal routes, and a session token cannot reach the application routes.

type staffKey struct{}

// staffOf returns the staff member of a request that went through
// authorizeStaff, or nil when an admin API key made it.
func staffOf(ctx context.Context) *access.Staff {
	st, _ := ctx.Value(staffKey{}).(*access.Staff)
	return st
}

// actorOf names who made a request in the audit log: the staff id or the key id.
func actorOf(ctx context.Context) string {
	if st := staffOf(ctx); st != nil {
		return st.ID
	}
	return callerOf(ctx).keyID
}

// staffRoute registers h for pattern behind a staff session; with admin,
// only an admin's session or an admin API key reaches h.
func (s *Server) staffRoute(pattern string, h handlerFunc, admin bool) {
	s.mux.Handle(pattern, s.handle(s.authorizeStaff(h, admin)))
}

func (s *Server) authorizeStaff(h handlerFunc, admin bool) handlerFunc {
	keyRoute := s.authorize(h, adminRoles)
	return func(w http.ResponseWriter, r *http.Request) error {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(token, access.SessionPrefix) {
			if !admin {
				// An API key, however valid, is not a staff login.
				if _, err := s.authenticate(r); err != nil {
					return err
				}
				return errForbidden
			}
			return keyRoute(w, r)
		}
		st, err := s.cfg.Access.Authenticate(r.Context(), token)
		if errors.Is(err, access.ErrUnauthenticated) {
			return errUnauthorized
		}
		if err != nil {
			return err
		}
		if state := stateOf(r.Context()); state != nil {
			state.keyID = st.ID
		}
		if admin && st.Role != access.RoleAdmin {
			return access.ErrForbidden
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), staffKey{}, st)))
	}
}

// bearer returns the bearer token of a request.
func bearer(r *http.Request) string {
	_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.TrimSpace(token)
}

type staffResponse struct {
	ID          string      `json:"id"`
	Email       string      `json:"email"`
	Role        access.Role `json:"role"`
	CreatedAt   string      `json:"created_at"`
	DisabledAt  string      `json:"disabled_at,omitempty"`
	LockedUntil string      `json:"locked_until,omitempty"`
}

func (s *Server) newStaffResponse(st *access.Staff) staffResponse {
	out := staffResponse{ID: st.ID, Email: st.Email, Role: st.Role, CreatedAt: timestamp(st.CreatedAt), DisabledAt: optTime(st.DisabledAt)}
	if s.now().Before(st.LockedUntil) {
		out.LockedUntil = timestamp(st.LockedUntil)
	}
	return out
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
}

type loginResponse struct {
	Token     string        `json:"token"`
	ExpiresAt string        `json:"expires_at"`
	Staff     staffResponse `json:"staff"`
}

func (s *Server) staffLogin(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" || req.TOTP == "" {
		return errInvalidRequest
	}
	token, sess, st, err := s.cfg.Access.Login(r.Context(), req.Email, req.Password, req.TOTP)
	if err != nil {
		return err
	}
	if state := stateOf(r.Context()); state != nil {
		state.keyID = st.ID
	}
	writeJSON(w, http.StatusOK, loginResponse{Token: token, ExpiresAt: timestamp(sess.ExpiresAt), Staff: s.newStaffResponse(st)})
	return nil
}

func (s *Server) staffLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	if err := s.cfg.Access.Logout(r.Context(), bearer(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type createStaffRequest struct {
	Email    string      `json:"email"`
	Role     access.Role `json:"role"`
	Password string      `json:"password"`
}

type createdStaffResponse struct {
	staffResponse
	TOTPSecret string `json:"totp_secret"`
	TOTPURL    string `json:"totp_url"`
}

func (s *Server) createStaff(w http.ResponseWriter, r *http.Request) error {
	var req createStaffRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	st, enr, err := s.cfg.Access.CreateStaff(r.Context(), actorOf(r.Context()), req.Email, req.Role, req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createdStaffResponse{staffResponse: s.newStaffResponse(st), TOTPSecret: enr.Secret, TOTPURL: enr.URL})
	return nil
}

func (s *Server) listStaff(w http.ResponseWriter, r *http.Request) error {
	all, err := s.cfg.Access.ListStaff(r.Context())
	if err != nil {
		return err
	}
	out := []staffResponse{}
	for _, st := range all {
		out = append(out, s.newStaffResponse(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"staff": out})
	return nil
}

func (s *Server) disableStaff(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	st, err := s.cfg.Access.DisableStaff(r.Context(), actorOf(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newStaffResponse(st))
	return nil
}

// revealResponse shows a reveal request: the number only masked.
type revealResponse struct {
	ID                string             `json:"id"`
	SubjectID         string             `json:"subject_id"`
	Masked            string             `json:"masked"`
	Purpose           access.Purpose     `json:"purpose"`
	Status            access.Status      `json:"status"`
	Justification     string             `json:"justification"`
	Ticket            string             `json:"ticket"`
	RequestedBy       string             `json:"requested_by"`
	ApprovalsRequired int                `json:"approvals_required"`
	ApprovalsNeeded   int                `json:"approvals_needed"`
	Approvals         []approvalResponse `json:"approvals"`
	CreatedAt         string             `json:"created_at"`
	ExpiresAt         string             `json:"expires_at"`
	ApprovedAt        string             `json:"approved_at,omitempty"`
	UseBy             string             `json:"use_by,omitempty"`
	UsedAt            string             `json:"used_at,omitempty"`
	DeniedBy          string             `json:"denied_by,omitempty"`
	DenyReason        string             `json:"deny_reason,omitempty"`
	DeniedAt          string             `json:"denied_at,omitempty"`
}

type approvalResponse struct {
	StaffID string `json:"staff_id"`
	At      string `json:"at"`
}

func (s *Server) newRevealResponse(rv *access.Reveal) revealResponse {
	out := revealResponse{
		ID: rv.ID, SubjectID: rv.SubjectID, Masked: rv.Masked, Purpose: rv.Purpose, Status: s.cfg.Access.StatusOf(rv),
		Justification: rv.Justification, Ticket: rv.Ticket, RequestedBy: rv.RequestedBy,
		ApprovalsRequired: rv.ApprovalsNeeded, ApprovalsNeeded: rv.Remaining(), Approvals: []approvalResponse{},
		CreatedAt: timestamp(rv.CreatedAt), ExpiresAt: timestamp(rv.ExpiresAt), ApprovedAt: optTime(rv.ApprovedAt),
		UseBy: optTime(rv.UseBy), UsedAt: optTime(rv.UsedAt), DeniedBy: rv.DeniedBy, DenyReason: rv.DenyReason, DeniedAt: optTime(rv.DeniedAt),
	}
	if out.Status == access.StatusExpired {
		out.ApprovalsNeeded = 0
	}
	for _, a := range rv.Approvals {
		out.Approvals = append(out.Approvals, approvalResponse{StaffID: a.StaffID, At: timestamp(a.At)})
	}
	return out
}

type revealRequest struct {
	SubjectID     string         `json:"subject_id"`
	Purpose       access.Purpose `json:"purpose"`
	Justification string         `json:"justification"`
	Ticket        string         `json:"ticket"`
}

func (s *Server) createReveal(w http.ResponseWriter, r *http.Request) error {
	var req revealRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	rv, err := s.cfg.Access.RequestReveal(r.Context(), staffOf(r.Context()), access.Request{
		SubjectID: req.SubjectID, Purpose: req.Purpose, Justification: req.Justification, Ticket: req.Ticket})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.newRevealResponse(rv))
	return nil
}

func (s *Server) listReveals(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	status := access.Status(q.Get("status"))
	if status != "" && !status.Valid() {
		return errInvalidRequest
	}
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > access.MaxList {
			return errInvalidRequest
		}
		limit = n
	}
	rs, err := s.cfg.Access.Reveals(r.Context(), staffOf(r.Context()), status, limit)
	if err != nil {
		return err
	}
	out := []revealResponse{}
	for _, rv := range rs {
		out = append(out, s.newRevealResponse(rv))
	}
	writeJSON(w, http.StatusOK, map[string]any{"reveals": out})
	return nil
}

func (s *Server) getReveal(w http.ResponseWriter, r *http.Request) error {
	rv, err := s.cfg.Access.Reveal(r.Context(), staffOf(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newRevealResponse(rv))
	return nil
}

func (s *Server) approveReveal(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	rv, err := s.cfg.Access.Approve(r.Context(), staffOf(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newRevealResponse(rv))
	return nil
}

type denyRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) denyReveal(w http.ResponseWriter, r *http.Request) error {
	var req denyRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	rv, err := s.cfg.Access.Deny(r.Context(), staffOf(r.Context()), r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newRevealResponse(rv))
	return nil
}

// useResponse is the one answer that holds a full number.
type useResponse struct {
	ID        string         `json:"id"`
	SubjectID string         `json:"subject_id"`
	Purpose   access.Purpose `json:"purpose"`
	Phone     string         `json:"phone"`
	Masked    string         `json:"masked"`
	UsedAt    string         `json:"used_at"`
}

func (s *Server) useReveal(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeBody(w, r, &struct{}{}, true); err != nil {
		return err
	}
	res, err := s.cfg.Access.Use(r.Context(), staffOf(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	rv := res.Reveal
	writeJSON(w, http.StatusOK, useResponse{ID: rv.ID, SubjectID: rv.SubjectID, Purpose: rv.Purpose,
		Phone: res.E164, Masked: rv.Masked, UsedAt: timestamp(rv.UsedAt)})
	return nil
}

// lockedRetryAfter is the Retry-After of a locked account, in whole seconds.
func lockedRetryAfter(e *access.LockedError, now time.Time) int64 {
	return max(1, int64((e.Until.Sub(now)+time.Second-1)/time.Second))
}
