// Package vault seals phone numbers and derives keyed indexes under keys kept outside the database.
package vault

import (
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
)

// Purpose names what a key is for. Each purpose has its own keys, in one or
// more versions; the newest version is used for new values and older ones
// stay readable until their values are rotated.
type Purpose string

// The purposes of ringfence keys.
const (
	// PurposeNumber keys AES-256-GCM for numbers and other sealed personal data.
	PurposeNumber Purpose = "number"
	// PurposeIndex keys HMAC-SHA-256 blind indexes.
	PurposeIndex Purpose = "index"
	// PurposePepper keys HMAC-SHA-256 over one-time codes.
	PurposePepper Purpose = "pepper"
	// PurposePseudonym keys the per-audience pseudonyms of subjects.
	PurposePseudonym Purpose = "pseudonym"
	// PurposeToken is the Ed25519 seed that signs tokens.
	PurposeToken Purpose = "token"
	// PurposeCheckpoint is the Ed25519 seed that signs audit checkpoints.
	PurposeCheckpoint Purpose = "checkpoint"
	// PurposeTombstone keys HMAC-SHA-256 tombstones of erased numbers. It is
	// optional: a keyring without it loads, and TombstoneIndexes is ErrNoKey.
	PurposeTombstone Purpose = "tombstone"
	// PurposeReceipt is the Ed25519 seed that signs consent receipts and
	// transparency reports. It seals and indexes nothing, so a missing one
	// may be generated beside existing data.
	PurposeReceipt Purpose = "receipt"
)

// purposes lists every purpose, in the order keys are generated and reported.
var purposes = []Purpose{
	PurposeNumber, PurposeIndex, PurposePepper,
	PurposePseudonym, PurposeToken, PurposeCheckpoint, PurposeTombstone,
	PurposeReceipt,
}

// optional reports whether a keyring may load without a key of p.
func (p Purpose) optional() bool { return p == PurposeTombstone }

func (p Purpose) valid() bool {
	for _, q := range purposes {
		if p == q {
			return true
		}
	}
	return false
}

func (p Purpose) signing() bool {
	return p == PurposeToken || p == PurposeCheckpoint || p == PurposeReceipt
}

// Errors returned by this package.
var (
	// ErrNoKey means a purpose has no key: none was loaded, or the purpose
	// has no key of the requested kind.
	ErrNoKey = errors.New("vault: no key")
	// ErrDecrypt means a sealed value could not be opened: it is malformed,
	// names an unknown key version, was tampered with, or has other aad.
	ErrDecrypt = errors.New("vault: cannot open ciphertext")
	// ErrKeyFile means a key file or key environment variable is unusable;
	// the message names the file or variable, never the key.
	ErrKeyFile = errors.New("vault: bad key file")
)

const (
	keyLen    = 32 // bytes of every key
	formatV1  = 1  // first byte of a sealed value
	headerLen = 1 + 4
	// sealOverhead is header, nonce and GCM tag.
	sealOverhead = headerLen + 12 + 16
	// macLen is the length of BlindIndex and CodeMAC results.
	macLen = 4 + sha256.Size
	// redacted is how a Keyring prints.
	redacted = "vault.Keyring{...redacted...}"
)

// key is one version of one purpose.
type key struct {
	version uint32
	secret  []byte
	aead    cipher.AEAD        // PurposeNumber only
	signer  ed25519.PrivateKey // PurposeToken and PurposeCheckpoint only
}

// Keyring holds the loaded keys of every purpose. Create it with Load; it is
// safe for concurrent use and never prints its keys.
type Keyring struct {
	// cur holds, per purpose, the keys newest version first (never empty
	// for a required purpose). Reload swaps it whole.
	cur *atomic.Pointer[map[Purpose][]*key]
	// wrapper wraps the subjects' data keys instead of the keyring, such
	// as a key-management service; nil means the keyring itself.
	wrapper KeyWrapper
}

// all returns the keys of p, newest first.
func (k *Keyring) all(p Purpose) []*key { return (*k.cur.Load())[p] }

// newest returns the newest key of p. Load guarantees there is one.
func (k *Keyring) newest(p Purpose) *key { return k.all(p)[0] }

// find returns version v of p, or nil.
func (k *Keyring) find(p Purpose, v uint32) *key {
	for _, kv := range k.all(p) {
		if kv.version == v {
			return kv
		}
	}
	return nil
}

// Seal encrypts plaintext with AES-256-GCM under the newest number key. The
// result is a format byte (1), the key version (4 bytes, big-endian), a
// random 12-byte nonce and the ciphertext with its tag. aad binds the result
// to its context, such as the id of the row that stores it: Open with other
// aad fails. Random nonces limit each key to 2^32 seals; rotate before that.
func (k *Keyring) Seal(plaintext, aad []byte) []byte {
	kv := k.newest(PurposeNumber)
	out := make([]byte, headerLen, sealOverhead+len(plaintext))
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:], kv.version)
	return kv.aead.Seal(out, nil, plaintext, additional(out[:headerLen], aad))
}

// Open decrypts a value made by Seal with the same aad, under the key version
// named in its header. Every failure is ErrDecrypt.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	v, ok := k.SealedVersion(sealed)
	if !ok {
		return nil, ErrDecrypt
	}
	kv := k.find(PurposeNumber, v)
	if kv == nil {
		return nil, ErrDecrypt
	}
	pt, err := kv.aead.Open(nil, nil, sealed[headerLen:], additional(sealed[:headerLen], aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// additional authenticates the header along with the caller's aad, so that
// no header byte can change without failing Open. The header has a fixed
// length, so the concatenation is unambiguous.
func additional(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	return append(append(ad, header...), aad...)
}

// SealedVersion returns the number key version that sealed was made under,
// and false if sealed is not a well-formed sealed value. The version need not
// be loaded; comparing it with Versions(PurposeNumber) finds values to re-seal.
func (k *Keyring) SealedVersion(sealed []byte) (uint32, bool) {
	if len(sealed) < sealOverhead || sealed[0] != formatV1 {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[1:headerLen]), true
}

// BlindIndex returns a deterministic keyed index of value for lookups by
// equality: HMAC-SHA-256 under the newest index key over domain, a zero
// byte and value, prefixed by the 4-byte key version (36 bytes in all).
// domain separates uses, such as "phone", "ip" or "idempotency"; it is a
// constant of the caller and must not contain a zero byte (BlindIndex panics).
func (k *Keyring) BlindIndex(domain, value string) []byte {
	mustNoNUL("domain", domain)
	return keyedMAC(k.newest(PurposeIndex), domain, value)
}

// BlindIndexes returns the BlindIndex of value under every index key version,
// newest first, so that lookups find rows written before a rotation.
func (k *Keyring) BlindIndexes(domain, value string) [][]byte {
	mustNoNUL("domain", domain)
	keys := k.all(PurposeIndex)
	out := make([][]byte, len(keys))
	for i, kv := range keys {
		out[i] = keyedMAC(kv, domain, value)
	}
	return out
}

// CodeMAC returns the MAC to store instead of a one-time code: HMAC-SHA-256
// under the newest pepper over scope, a zero byte and code, prefixed by the
// 4-byte key version. scope is the verification id; it must not contain a
// zero byte (CodeMAC panics; ids from NewID never do).
func (k *Keyring) CodeMAC(scope, code string) []byte {
	mustNoNUL("scope", scope)
	return keyedMAC(k.newest(PurposePepper), scope, code)
}

// CheckCode reports whether mac is CodeMAC(scope, code), recomputed under the
// pepper version that mac names and compared in constant time. It is false
// for a malformed mac or an unknown version.
func (k *Keyring) CheckCode(mac []byte, scope, code string) bool {
	if len(mac) != macLen || strings.IndexByte(scope, 0) >= 0 {
		return false
	}
	kv := k.find(PurposePepper, binary.BigEndian.Uint32(mac))
	if kv == nil {
		return false
	}
	return hmac.Equal(mac, keyedMAC(kv, scope, code))
}

// MAC authenticates msg under the newest index key, separated by domain: the
// 4-byte key version and HMAC-SHA-256. The audit log MACs its rows with it.
func (k *Keyring) MAC(domain string, msg []byte) []byte {
	mustNoNUL("domain", domain)
	return keyedMAC(k.newest(PurposeIndex), domain, string(msg))
}

// CheckMAC reports, in constant time, whether mac is MAC(domain, msg) under
// the index key version it names, so MACs made before a rotation still check.
func (k *Keyring) CheckMAC(mac []byte, domain string, msg []byte) bool {
	if len(mac) != macLen || strings.IndexByte(domain, 0) >= 0 {
		return false
	}
	kv := k.find(PurposeIndex, binary.BigEndian.Uint32(mac))
	if kv == nil {
		return false
	}
	return hmac.Equal(mac, keyedMAC(kv, domain, string(msg)))
}

// keyedMAC is the key version of kv followed by HMAC-SHA-256(kv, a || 0x00 || b).
func keyedMAC(kv *key, a, b string) []byte {
	out := make([]byte, 4, macLen)
	binary.BigEndian.PutUint32(out, kv.version)
	h := hmac.New(sha256.New, kv.secret)
	io.WriteString(h, a)
	h.Write([]byte{0})
	io.WriteString(h, b)
	return h.Sum(out)
}

func mustNoNUL(name, s string) {
	if strings.IndexByte(s, 0) >= 0 {
		panic("vault: " + name + " contains a zero byte")
	}
}

// Pseudonym returns the stable pseudonym of a subject as seen by one audience:
// HMAC-SHA-256 of subjectID under a key derived with HKDF-SHA-256 from the
// newest pseudonym key and the info "audience:"+audienceID, truncated to
// 16 bytes and written as 26 characters of lower-case base32 without padding.
// Audiences cannot link their pseudonyms. Adding a pseudonym key version
// changes every pseudonym.
func (k *Keyring) Pseudonym(audienceID, subjectID string) string {
	kv := k.newest(PurposePseudonym)
	sub, err := hkdf.Key(sha256.New, kv.secret, nil, "audience:"+audienceID, keyLen)
	if err != nil {
		panic("vault: hkdf: " + err.Error()) // only for impossible lengths
	}
	h := hmac.New(sha256.New, sub)
	io.WriteString(h, subjectID)
	return idEncoding.EncodeToString(h.Sum(nil)[:16])
}

// Signer returns the newest Ed25519 private key of p, whose seed is the key,
// and its version. p must be a signing purpose (PurposeToken,
// PurposeCheckpoint or PurposeReceipt), else the error is ErrNoKey. The
// returned key is a copy.
func (k *Keyring) Signer(p Purpose) (ed25519.PrivateKey, uint32, error) {
	if !p.signing() {
		return nil, 0, fmt.Errorf("%w: purpose %q has no signing key", ErrNoKey, p)
	}
	kv := k.newest(p)
	return append(ed25519.PrivateKey(nil), kv.signer...), kv.version, nil
}

// PublicKeys returns the Ed25519 public key of every version of p, for
// verifying tokens, checkpoints or receipts signed before a rotation. It is
// empty unless p is a signing purpose.
func (k *Keyring) PublicKeys(p Purpose) map[uint32]ed25519.PublicKey {
	out := make(map[uint32]ed25519.PublicKey)
	if !p.signing() {
		return out
	}
	for _, kv := range k.all(p) {
		out[kv.version] = append(ed25519.PublicKey(nil), kv.signer.Public().(ed25519.PublicKey)...)
	}
	return out
}

// Versions returns the loaded key versions of p, newest first.
func (k *Keyring) Versions(p Purpose) []uint32 {
	keys := k.all(p)
	out := make([]uint32, len(keys))
	for i, kv := range keys {
		out[i] = kv.version
	}
	return out
}

// String returns a fixed placeholder; a Keyring never prints its keys.
func (k Keyring) String() string { return redacted }

// GoString returns the same placeholder as String, for %#v.
func (k Keyring) GoString() string { return redacted }

// Format prints the placeholder of String for every verb, so that no verb
// (%d, %x, %+v ...) can reach the key bytes.
func (k Keyring) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue returns the placeholder of String, so that slog never logs keys.
func (k Keyring) LogValue() slog.Value { return slog.StringValue(redacted) }
