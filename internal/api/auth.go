package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ringfence/ringfence/internal/apikey"
)

// bootstrapKeyID is the key id the bootstrap key acts as in logs and audit events.
const bootstrapKeyID = "bootstrap"

// caller is who made a request: the key id and its role.
type caller struct {
	keyID string
	role  apikey.Role
}

type callerKey struct{}

// callerOf returns the authenticated caller of a request that went through authorize.
func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// authorize lets a request reach h only with a bearer key of one of roles.
func (s *Server) authorize(h handlerFunc, roles []apikey.Role) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if st := stateOf(r.Context()); st != nil {
			st.keyID = c.keyID
		}
		if !slices.Contains(roles, c.role) {
			return errForbidden
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	}
}

// authenticate finds the key of the request's Authorization header.
func (s *Server) authenticate(r *http.Request) (caller, error) {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return caller{}, errUnauthorized
	}
	secret = strings.TrimSpace(secret)
	if s.cfg.BootstrapKey != "" && s.isBootstrapKey(secret) {
		return caller{keyID: bootstrapKeyID, role: apikey.RoleAdmin}, nil
	}
	if !apikey.LooksValid(secret) {
		return caller{}, errUnauthorized
	}
	k, err := s.cfg.Keys.APIKeyByHash(r.Context(), apikey.Hash(secret))
	if errors.Is(err, apikey.ErrNotFound) {
		return caller{}, errUnauthorized
	}
	if err != nil {
		return caller{}, fmt.Errorf("look up api key: %w", err)
	}
	if !k.RevokedAt.IsZero() {
		return caller{}, errUnauthorized
	}
	return caller{keyID: k.ID, role: k.Role}, nil
}

// isBootstrapKey compares secret with the bootstrap key in constant time;
// hashing both first hides the key's length too.
func (s *Server) isBootstrapKey(secret string) bool {
	a := sha256.Sum256([]byte(secret))
	b := sha256.Sum256([]byte(s.cfg.BootstrapKey))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
