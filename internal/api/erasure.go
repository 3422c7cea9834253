package api

import "net/http"

// eraseRequest confirms an erasure by repeating the subject id.
type eraseRequest struct {
	Confirm string `json:"confirm"`
}

type erasureResponse struct {
	ID         string `json:"id"`
	Erased     bool   `json:"erased"`
	ErasedAt   string `json:"erased_at"`
	Numbers    int    `json:"numbers"`
	Tombstones int    `json:"tombstones"`
}

// eraseSubject destroys a subject's data key and numbers (crypto-shredding);
// the body must repeat the id as "confirm".
func (s *Server) eraseSubject(w http.ResponseWriter, r *http.Request) error {
	var req eraseRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Confirm == "" {
		return errInvalidRequest
	}
	e, err := s.cfg.Identity.Erase(r.Context(), r.PathValue("id"), req.Confirm, callerOf(r.Context()).keyID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, erasureResponse{ID: e.SubjectID, Erased: true, ErasedAt: timestamp(e.At),
		Numbers: e.Numbers, Tombstones: e.Tombstones})
	return nil
}
