package privacy

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Signature is the detached Ed25519 signature of a receipt or a report.
//
// It signs the domain line of the document kind ("ringfence consent
// receipt v1\n" or "ringfence transparency report v1\n") followed by the
// canonical JSON of the signed object: keys sorted, no spaces, strings
// escaped only where JSON requires (RFC 8785 for documents that hold only
// strings, integers and booleans, as these do). Reformatting the file keeps
// it valid; changing any value breaks it.
type Signature struct {
	// Alg is always "Ed25519".
	Alg string `json:"alg"`
	// KeyID names the key version: "receipt-1".
	KeyID string `json:"key_id"`
	// PublicKey is the raw 32-byte public key in standard base64, for
	// convenience; trust the keys published at /v1/transparency/keys.
	PublicKey string `json:"public_key"`
	// Value is the 64-byte signature in standard base64.
	Value string `json:"value"`
}

// The domain lines that keep a receipt signature from passing for a report
// signature or anything else the key could sign.
const (
	domainReceipt = "ringfence consent receipt v1\n"
	domainReport  = "ringfence transparency report v1\n"
)

// ErrSignature means a signature does not verify under any trusted key.
var ErrSignature = errors.New("privacy: signature does not verify")

// signer signs with the newest receipt key.
type signer struct {
	key   ed25519.PrivateKey
	keyID string
}

// sign returns the signature of v's canonical JSON under domain.
func (s signer) sign(domain string, v any) (Signature, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return Signature{}, err
	}
	msg, err := signedMessage(domain, raw)
	if err != nil {
		return Signature{}, err
	}
	return Signature{
		Alg:       "Ed25519",
		KeyID:     s.keyID,
		PublicKey: base64.StdEncoding.EncodeToString(s.key.Public().(ed25519.PublicKey)),
		Value:     base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, msg)),
	}, nil
}

// signedMessage is domain followed by the canonical form of the JSON raw.
func signedMessage(domain string, raw []byte) ([]byte, error) {
	c, err := Canonical(raw)
	if err != nil {
		return nil, err
	}
	return append([]byte(domain), c...), nil
}

// Canonical returns the canonical JSON of raw: one value, object keys
// sorted, no insignificant space, numbers as written, no HTML escaping.
func Canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("canonical JSON: more than one value")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonical JSON: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// verifySignature checks sig over the JSON raw under domain, with the
// trusted key sig names. It returns ErrSignature, wrapped with the reason.
func verifySignature(domain string, raw json.RawMessage, sig Signature, trusted map[string]ed25519.PublicKey) error {
	if sig.Alg != "Ed25519" {
		return fmt.Errorf("%w: algorithm %q", ErrSignature, sig.Alg)
	}
	pub, ok := trusted[sig.KeyID]
	if !ok {
		return fmt.Errorf("%w: key %q is not trusted", ErrSignature, sig.KeyID)
	}
	value, err := base64.StdEncoding.DecodeString(sig.Value)
	if err != nil || len(value) != ed25519.SignatureSize {
		return fmt.Errorf("%w: malformed value", ErrSignature)
	}
	msg, err := signedMessage(domain, raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if !ed25519.Verify(pub, msg, value) {
		return fmt.Errorf("%w: the signed content was changed or another key signed it", ErrSignature)
	}
	return nil
}

// TrustedKey returns a one-key trust set from a Signature-style KeyID and
// base64 public key, as published at /v1/transparency/keys.
func TrustedKey(keyID, publicKey string) (map[string]ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: malformed public key", ErrInvalidRequest)
	}
	return map[string]ed25519.PublicKey{keyID: ed25519.PublicKey(b)}, nil
}

// openSigned reads a signed document, {"<field>": {...}, "signature":
// {...}}, checks the signature over the object under domain, and decodes
// the object strictly (no unknown field) into dst.
func openSigned(data []byte, field, domain string, trusted map[string]ed25519.PublicKey, dst any) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil || len(doc[field]) == 0 || len(doc["signature"]) == 0 {
		return fmt.Errorf("privacy: not a signed %s", field)
	}
	var sig Signature
	if err := json.Unmarshal(doc["signature"], &sig); err != nil {
		return fmt.Errorf("%w: malformed signature", ErrSignature)
	}
	if err := verifySignature(domain, doc[field], sig, trusted); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(doc[field]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("privacy: %s: %w", field, err)
	}
	return nil
}
