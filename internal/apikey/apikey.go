// Package apikey issues and recognises the bearer keys applications and staff use.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"time"
)

// Role is what a key may do.
type Role string

// The roles a key can have.
const (
	RoleApp   Role = "app"
	RoleStaff Role = "staff"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleApp || r == RoleStaff || r == RoleAdmin }

// ErrNotFound is returned for an unknown or revoked key.
var ErrNotFound = errors.New("api key not found")

// Key describes an API key; the secret itself is never stored, only its hash.
type Key struct {
	ID        string
	Name      string
	Role      Role
	CreatedAt time.Time
	RevokedAt time.Time // zero while active
}

// Store keeps API keys by the hash of their secret.
type Store interface {
	// CreateAPIKey stores k with the hash of its secret.
	CreateAPIKey(ctx context.Context, k Key, hash []byte) error
	// APIKeyByHash returns the active key with that hash, or ErrNotFound.
	APIKeyByHash(ctx context.Context, hash []byte) (Key, error)
	// ListAPIKeys returns every key, newest first.
	ListAPIKeys(ctx context.Context) ([]Key, error)
	// RevokeAPIKey marks a key revoked at the given time; ErrNotFound if unknown.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
}

const prefix = "rfk_"

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// Generate returns a new secret ("rfk_" and 52 base32 characters, 256 bits) and its hash.
func Generate() (secret string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	secret = prefix + strings.ToLower(enc.EncodeToString(b[:]))
	return secret, Hash(secret)
}

// Hash returns the SHA-256 of a secret. Secrets carry 256 random bits, so a
// fast hash is enough: there is nothing to brute-force.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// LooksValid reports whether s has the shape of a key, so obviously bad
// bearer tokens are refused without a lookup.
func LooksValid(s string) bool {
	if !strings.HasPrefix(s, prefix) || len(s) < len(prefix)+16 || len(s) > 128 {
		return false
	}
	for _, c := range s[len(prefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
