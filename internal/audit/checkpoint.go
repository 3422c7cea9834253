package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// algEd25519 is the signed-note signature type of Ed25519 keys.
const algEd25519 = 0x01

// rootEncoding is standard base64 that rejects non-canonical padding bits,
// so that each root has one spelling.
var rootEncoding = base64.StdEncoding.Strict()

// Checkpoint is the head of the log at a size, in the C2SP tlog-checkpoint
// format (https://c2sp.org/tlog-checkpoint).
type Checkpoint struct {
	// Origin names the log, such as "ringfence.example.com/audit". It is
	// also the name of the key that signs the log's checkpoints.
	Origin string
	// Size is the number of entries, which is the seq of the last one.
	Size uint64
	// Root is the RFC 6962 root hash of the first Size entries.
	Root []byte
	// Extensions are optional extra lines, opaque to this package; C2SP
	// advises against them since monitors cannot audit them.
	Extensions []string
}

// Marshal returns the checkpoint's note text: the origin, the size in
// decimal, the base64 root and any extension lines, each ending in a newline.
// It does not check c; SignCheckpoint does.
func (c Checkpoint) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(rootEncoding.EncodeToString(c.Root))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ParseCheckpoint parses checkpoint note text as Marshal writes it, without
// any signature. It wraps ErrMalformedCheckpoint when text is not at least
// three non-empty lines each ending in a newline, the size has a sign or
// leading zeros, the root is not the canonical base64 of 32 bytes, or the
// text is not UTF-8 free of control characters other than newline.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	bad := func(format string, args ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: %s", ErrMalformedCheckpoint, fmt.Sprintf(format, args...))
	}
	if !utf8.Valid(text) {
		return bad("not UTF-8")
	}
	if i := bytes.IndexFunc(text, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }); i >= 0 {
		return bad("control character at byte %d", i)
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return bad("text does not end in a newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return bad("%d lines, want at least 3 (origin, size, root)", len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return bad("line %d is empty", i+1)
		}
	}
	size, err := parseSize(lines[1])
	if err != nil {
		return bad("size: %v", err)
	}
	root, err := rootEncoding.DecodeString(lines[2])
	if err != nil {
		return bad("root is not base64")
	}
	if len(root) != HashSize {
		return bad("root of %d bytes, want %d", len(root), HashSize)
	}
	c := Checkpoint{Origin: lines[0], Size: size, Root: root}
	if len(lines) > 3 {
		c.Extensions = lines[3:]
	}
	return c, nil
}

// parseSize parses a tree size: decimal digits, no sign, no leading zero.
func parseSize(s string) (uint64, error) {
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", s)
	}
	return strconv.ParseUint(s, 10, 64)
}

// check reports what keeps c from being signed.
func (c Checkpoint) check() error {
	if !validName(c.Origin) {
		return fmt.Errorf("%w: origin %q is empty or has spaces, plus signs or control characters", ErrMalformedCheckpoint, c.Origin)
	}
	if len(c.Root) != HashSize {
		return fmt.Errorf("%w: root of %d bytes, want %d", ErrMalformedCheckpoint, len(c.Root), HashSize)
	}
	for i, e := range c.Extensions {
		if e == "" || !utf8.ValidString(e) || strings.ContainsFunc(e, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%w: extension line %d is empty or not a single line of text", ErrMalformedCheckpoint, i+1)
		}
	}
	return nil
}

// validName reports whether name can name a signed-note key: non-empty
// UTF-8 with no Unicode space, plus sign or control character.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) &&
		!strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '+' })
}

// keyID returns the C2SP signed-note key id of an Ed25519 key: the first
// four bytes of SHA-256(name || 0x0A || 0x01 || public key), big-endian.
func keyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algEd25519})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// VerifierKey returns the signed-note verifier key of the log,
// "<origin>+<key id>+<base64(0x01 || public key)>", which note.NewVerifier
// reads. Publish it so that anyone can check the log's checkpoints.
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	if !validName(origin) {
		return "", fmt.Errorf("verifier key: origin %q is empty or has spaces, plus signs or control characters", origin)
	}
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("verifier key: public key of %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	key := append([]byte{algEd25519}, pub...)
	return fmt.Sprintf("%s+%08x+%s", origin, keyID(origin, pub), base64.StdEncoding.EncodeToString(key)), nil
}

// NewSigner returns the signer of the log's checkpoints: an Ed25519 key
// named origin in the signed-note format.
func NewSigner(origin string, key ed25519.PrivateKey) (note.Signer, error) {
	if !validName(origin) {
		return nil, fmt.Errorf("checkpoint signer: origin %q is empty or has spaces, plus signs or control characters", origin)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("checkpoint signer: private key of %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	// Derive the public key from the seed, as note.NewSigner does, so that a
	// key whose second half is wrong gets a clear error here, not there.
	seed := key.Seed()
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", origin, keyID(origin, pub),
		base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, seed...)))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer: %v", err) // never the key
	}
	return s, nil
}

// NewVerifier returns the verifier of the log's checkpoints for the public
// key of NewSigner(origin, key).
func NewVerifier(origin string, pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := VerifierKey(origin, pub)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint verifier: %w", err)
	}
	return v, nil
}

// keySet is a note.Verifier for every version of a rotated checkpoint key:
// it acts as the newest, and OpenCheckpoint accepts a signature by any.
type keySet struct {
	note.Verifier
	all []note.Verifier
}

// NewVerifierSet returns a verifier of checkpoints signed by any of pubs,
// the versions of the checkpoint key, newest first; with one key it is
// NewVerifier.
func NewVerifierSet(origin string, pubs []ed25519.PublicKey) (note.Verifier, error) {
	if len(pubs) == 0 {
		return nil, errors.New("checkpoint verifier: no key")
	}
	ks := &keySet{}
	for _, pub := range pubs {
		v, err := NewVerifier(origin, pub)
		if err != nil {
			return nil, err
		}
		ks.all = append(ks.all, v)
	}
	if len(ks.all) == 1 {
		return ks.all[0], nil
	}
	ks.Verifier = ks.all[0]
	return ks, nil
}

// SignCheckpoint returns c as a signed note, signed by s. The signer's name
// must be c.Origin; a malformed c wraps ErrMalformedCheckpoint.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("%w: signer %q cannot sign a checkpoint of origin %q", ErrCheckpointOrigin, s.Name(), c.Origin)
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Marshal())}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint checks that msg is a checkpoint signed by v and returns it.
// Signatures by other keys (witnesses, earlier keys) are ignored, but one is
// needed from v. The error wraps ErrMalformedCheckpoint for a truncated or
// malformed note or text, ErrCheckpointSignature for a signature by v that
// does not verify (a forged or altered note), ErrCheckpointKey when v did not
// sign (for example the note was re-signed by another key), and
// ErrCheckpointOrigin when the origin line is not v's name.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	if v == nil {
		return Checkpoint{}, errors.New("open checkpoint: no verifier")
	}
	list := []note.Verifier{v}
	if ks, ok := v.(*keySet); ok {
		list = ks.all
	}
	n, err := note.Open(msg, note.VerifierList(list...))
	if err != nil {
		var invalid *note.InvalidSignatureError
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w by %s+%08x", ErrCheckpointSignature, invalid.Name, invalid.Hash)
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("%w %s+%08x", ErrCheckpointKey, v.Name(), v.KeyHash())
		default:
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrMalformedCheckpoint, err)
		}
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q, key %q", ErrCheckpointOrigin, c.Origin, v.Name())
	}
	return c, nil
}

// uncheckedSize returns the size a checkpoint note claims, without checking
// its signature, to name it in an error; ok is false if there is none.
func uncheckedSize(msg []byte) (size uint64, ok bool) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return 0, false
	}
	c, err := ParseCheckpoint(msg[:i+1])
	if err != nil {
		return 0, false
	}
	return c.Size, true
}
