package api

import (
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ringfence/ringfence/internal/apikey"
	"github.com/ringfence/ringfence/internal/vault"
)

// apiKeyIDPrefix starts the id of every key the API creates.
const apiKeyIDPrefix = "key"

// maxKeyName is the longest key name, in characters.
const maxKeyName = 100

// apiKeyResponse describes a key; the secret is never in it.
type apiKeyResponse struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
	RevokedAt string `json:"revoked_at,omitempty"`
}

func newAPIKeyResponse(k apikey.Key) apiKeyResponse {
	out := apiKeyResponse{ID: k.ID, Name: k.Name, Role: string(k.Role), CreatedAt: timestamp(k.CreatedAt)}
	if !k.RevokedAt.IsZero() {
		out.RevokedAt = timestamp(k.RevokedAt)
	}
	return out
}

// createAPIKeyRequest is the body of POST /v1/api-keys.
type createAPIKeyRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// createAPIKeyResponse is the only answer that holds a key's secret.
type createAPIKeyResponse struct {
	apiKeyResponse
	Key string `json:"key"`
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req createAPIKeyRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	role := apikey.Role(req.Role)
	if !role.Valid() || !validKeyName(req.Name) {
		return errInvalidRequest
	}
	secret, hash := apikey.Generate()
	k := apikey.Key{
		ID:        vault.NewID(apiKeyIDPrefix),
		Name:      req.Name,
		Role:      role,
		CreatedAt: s.now().UTC().Truncate(time.Millisecond),
	}
	if err := s.cfg.Keys.CreateAPIKey(r.Context(), k, hash); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "api key created", "key_id", k.ID, "role", string(k.Role),
		attrAPIKey, callerOf(r.Context()).keyID, attrRequestID, stateOf(r.Context()).requestID())
	writeJSON(w, http.StatusCreated, createAPIKeyResponse{apiKeyResponse: newAPIKeyResponse(k), Key: secret})
	return nil
}

// validKeyName accepts 1 to maxKeyName printable characters.
func validKeyName(name string) bool {
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxKeyName {
		return false
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

type listAPIKeysResponse struct {
	APIKeys []apiKeyResponse `json:"api_keys"`
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.cfg.Keys.ListAPIKeys(r.Context())
	if err != nil {
		return err
	}
	out := listAPIKeysResponse{APIKeys: make([]apiKeyResponse, 0, len(keys))}
	for _, k := range keys {
		out.APIKeys = append(out.APIKeys, newAPIKeyResponse(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !plausibleKeyID(id) {
		return apikey.ErrNotFound
	}
	if err := s.cfg.Keys.RevokeAPIKey(r.Context(), id, s.now().UTC().Truncate(time.Millisecond)); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "api key revoked", "key_id", id,
		attrAPIKey, callerOf(r.Context()).keyID, attrRequestID, stateOf(r.Context()).requestID())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// plausibleKeyID accepts the shape of ids, so that no other text reaches the
// store or the log. Keys made elsewhere may use another prefix.
func plausibleKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
