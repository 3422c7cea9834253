package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Claims are the contents of a "phone verified" token (a JWT signed with
// Ed25519, alg EdDSA). Applications verify it offline against the JWKS.
type Claims struct {
	Issuer        string `json:"iss"`
	Audience      string `json:"aud"`
	Subject       string `json:"sub"` // the audience's pseudonym of the subject
	IssuedAt      int64  `json:"iat"`
	NotBefore     int64  `json:"nbf"`
	Expires       int64  `json:"exp"`
	ID            string `json:"jti"`
	PhoneVerified bool   `json:"phone_verified"`
	Method        string `json:"phone_verification_method"` // sms, call, whatsapp, inbound_sms
	Country       string `json:"phone_country"`
	LineType      string `json:"phone_line_type"`
	VerifiedAt    int64  `json:"verified_at"`
	Purpose       string `json:"purpose"`
	Level         Level  `json:"acr"` // assurance: phone or phone_and_factor
}

// Token mints a token for an approved verification, for one audience.
func (s *Service) Token(audienceID string, v *verify.Verification, level Level) (string, *Claims, error) {
	if v.Status != verify.StatusApproved || v.SubjectID == "" {
		return "", nil, fmt.Errorf("%w: no approved subject to vouch for", verify.ErrInvalidRequest)
	}
	key, version, err := s.keys.Signer(vault.PurposeToken)
	if err != nil {
		return "", nil, err
	}
	now := s.now().UTC()
	c := &Claims{
		Issuer:        s.cfg.Issuer,
		Audience:      audienceID,
		Subject:       s.Pseudonym(audienceID, v.SubjectID),
		IssuedAt:      now.Unix(),
		NotBefore:     now.Unix(),
		Expires:       now.Add(s.cfg.TokenTTL).Unix(),
		ID:            vault.NewID("tok"),
		PhoneVerified: true,
		Method:        string(v.Channel),
		Country:       v.Country,
		LineType:      v.LineType,
		VerifiedAt:    v.ApprovedAt.Unix(),
		Purpose:       string(v.Purpose),
		Level:         level,
	}
	header, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": keyID(version)})
	payload, err := json.Marshal(c)
	if err != nil {
		return "", nil, err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sig := ed25519.Sign(key, []byte(signing))
	return signing + "." + enc.EncodeToString(sig), c, nil
}

func keyID(version uint32) string { return "token-" + strconv.FormatUint(uint64(version), 10) }

// JWK is one public key of a JSON Web Key Set (RFC 8037 OKP key).
type JWK struct {
	KeyType string `json:"kty"`
	Curve   string `json:"crv"`
	X       string `json:"x"`
	KeyID   string `json:"kid"`
	Alg     string `json:"alg"`
	Use     string `json:"use"`
}

// JWKS returns every token-signing public key, newest first. Keeping an old
// key's file until its tokens have expired keeps those tokens verifiable.
func (s *Service) JWKS() []JWK {
	pubs := s.keys.PublicKeys(vault.PurposeToken)
	versions := make([]uint32, 0, len(pubs))
	for v := range pubs {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	slices.Reverse(versions)
	keys := make([]JWK, 0, len(versions))
	for _, v := range versions {
		keys = append(keys, JWK{KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pubs[v]),
			KeyID: keyID(v), Alg: "EdDSA", Use: "sig"})
	}
	return keys
}

// TokenTTL is how long minted tokens live.
func (s *Service) TokenTTL() time.Duration { return s.cfg.TokenTTL }
