package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/fraud"
)

// errNoGuard answers the fraud routes when the guard is off.
var errNoGuard = errors.New("fraud guard is off")

func (s *Server) guard() (*fraud.Guard, error) {
	g := s.cfg.Verify.Guard()
	if g == nil {
		return nil, errNoGuard
	}
	return g, nil
}

type listEntryResponse struct {
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	Label     string `json:"label,omitempty"`
	Action    string `json:"action"`
	Reason    string `json:"reason,omitempty"`
	CreatedAt string `json:"created_at"`
	Until     string `json:"until,omitempty"`
}

func newListEntryResponse(e fraud.Entry) listEntryResponse {
	out := listEntryResponse{Kind: string(e.Kind), Key: e.Key, Action: string(e.Action), Reason: e.Reason,
		CreatedAt: timestamp(e.Created), Until: optTime(e.Until)}
	// The reason holds the operator's label first: "label | note".
	if label, note, ok := strings.Cut(e.Reason, " | "); ok {
		out.Label, out.Reason = label, note
	}
	return out
}

func (s *Server) listFraudLists(w http.ResponseWriter, r *http.Request) error {
	g, err := s.guard()
	if err != nil {
		return err
	}
	out := []listEntryResponse{}
	for _, e := range g.Lists() {
		out = append(out, newListEntryResponse(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
	return nil
}

// listEntryRequest adds an allow or block entry; value is what the operator
// knows (a number, a prefix like +1900555, a country, an IP, a subject id).
type listEntryRequest struct {
	Kind   string `json:"kind"`
	Value  string `json:"value"`
	Action string `json:"action"`
	Reason string `json:"reason"`
	Until  string `json:"until"`
}

func (s *Server) addFraudListEntry(w http.ResponseWriter, r *http.Request) error {
	g, err := s.guard()
	if err != nil {
		return err
	}
	var req listEntryRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	kind := fraud.Kind(req.Kind)
	key, label, err := s.cfg.Verify.GuardKey(kind, req.Value)
	if err != nil {
		return err
	}
	var until time.Time
	if req.Until != "" {
		if until, err = time.Parse(time.RFC3339, req.Until); err != nil {
			return errInvalidRequest
		}
	}
	if len(req.Reason) > 400 || strings.Contains(req.Reason, " | ") {
		return errInvalidRequest
	}
	note := label + " | " + req.Reason
	switch fraud.Action(req.Action) {
	case fraud.ActionAllow:
		err = g.Allow(kind, key, until)
	case fraud.ActionBlock:
		err = g.Block(kind, key, note, until)
	default:
		return errInvalidRequest
	}
	if err != nil {
		return errInvalidRequest
	}
	for _, e := range g.Lists() {
		if e.Kind == kind && e.Key == key {
			resp := newListEntryResponse(e)
			resp.Label = label
			s.fraudChanged(r)
			writeJSON(w, http.StatusCreated, resp)
			return nil
		}
	}
	return errors.New("list entry vanished")
}

func (s *Server) removeFraudListEntry(w http.ResponseWriter, r *http.Request) error {
	g, err := s.guard()
	if err != nil {
		return err
	}
	if !g.Unblock(fraud.Kind(r.PathValue("kind")), r.PathValue("key")) {
		return errNotFound
	}
	s.fraudChanged(r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type breakerResponse struct {
	fraud.BreakerState
	Label string `json:"label,omitempty"`
}

func (s *Server) listBreakers(w http.ResponseWriter, r *http.Request) error {
	g, err := s.guard()
	if err != nil {
		return err
	}
	out := []breakerResponse{}
	for _, b := range g.Breakers() {
		br := breakerResponse{BreakerState: b}
		if b.Kind == fraud.KindPrefix {
			br.Label = s.cfg.Verify.PrefixLabel(b.Key)
		} else {
			br.Label = b.Key
		}
		out = append(out, br)
	}
	writeJSON(w, http.StatusOK, map[string]any{"breakers": out})
	return nil
}

func (s *Server) resetBreaker(w http.ResponseWriter, r *http.Request) error {
	g, err := s.guard()
	if err != nil {
		return err
	}
	if !g.ResetBreaker(fraud.Kind(r.PathValue("kind")), r.PathValue("key")) {
		return errNotFound
	}
	s.fraudChanged(r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) fraudStats(w http.ResponseWriter, r *http.Request) error {
	g, err := s.guard()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g.Stats())
	return nil
}

// fraudChanged saves the guard's lists and breakers when the caller keeps them.
func (s *Server) fraudChanged(r *http.Request) {
	if s.cfg.SaveFraud != nil {
		if err := s.cfg.SaveFraud(r.Context()); err != nil {
			s.log.ErrorContext(r.Context(), "save fraud state", attrErr, err)
		}
	}
}
