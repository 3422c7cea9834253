package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Purposes returns every key purpose, in the order keys are generated.
func Purposes() []Purpose { return append([]Purpose(nil), purposes...) }

// ParsePurpose returns the purpose named s, or false if there is none.
func ParsePurpose(s string) (Purpose, bool) {
	p := Purpose(s)
	return p, p.valid()
}

// Rotate adds the next version of p to the key files in dir: a new random
// key in "<purpose>-<n+1>.key" (mode 0600), where n is the highest version of
// p in dir. A keyring loaded afterwards uses it for every new value of p;
// older versions stay readable until `ringfence keys reencrypt` has moved
// their values. It returns the path and version of the new key.
func Rotate(dir string, p Purpose) (string, uint32, error) {
	if !p.valid() {
		return "", 0, fmt.Errorf("vault: unknown key purpose %q", p)
	}
	versions, err := fileVersions(dir, p)
	if err != nil {
		return "", 0, err
	}
	newest := slices.Max(append(versions, 0))
	if newest == 0 && !p.optional() {
		return "", 0, fmt.Errorf("%w for purpose %q in %s: nothing to rotate", ErrNoKey, p, dir)
	}
	if newest == ^uint32(0) {
		return "", 0, fmt.Errorf("vault: purpose %q has reached the last version", p)
	}
	path := filepath.Join(dir, keyFileName(p, newest+1))
	if err := writeNewKey(path); err != nil {
		return "", 0, err
	}
	syncDir(dir)
	return path, newest + 1, nil
}

// Reload reads the keys again, as Load does, and makes the keyring use
// them from now on, so a running service picks up a rotated key without a
// restart. A key version that is loaded now must still be there (a running
// service never forgets a key); otherwise nothing changes and the error
// says which is missing.
func (k *Keyring) Reload(dir string, getenv func(string) string) error {
	nk, err := Load(dir, getenv)
	if err != nil {
		return err
	}
	for _, p := range purposes {
		for _, v := range k.Versions(p) {
			if nk.find(p, v) == nil {
				return fmt.Errorf("%w: version %d of %s is loaded but no longer present", ErrKeyFile, v, p)
			}
		}
	}
	k.cur.Store(nk.cur.Load())
	return nil
}

// Newest returns the newest loaded version of p, or 0 if p has no key.
func (k *Keyring) Newest(p Purpose) uint32 {
	if len(k.all(p)) == 0 {
		return 0
	}
	return k.newest(p).version
}

// TombstoneIndexes returns the keyed index of an erased number under every
// tombstone key version, newest first: HMAC-SHA-256 over "tombstone", a zero
// byte and e164, prefixed by the key version. Without a tombstone key it is
// ErrNoKey.
func (k *Keyring) TombstoneIndexes(e164 string) ([][]byte, error) {
	keys := k.all(PurposeTombstone)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w for purpose %q", ErrNoKey, PurposeTombstone)
	}
	out := make([][]byte, len(keys))
	for i, kv := range keys {
		out[i] = keyedMAC(kv, "tombstone", e164)
	}
	return out, nil
}

// IndexVersion returns the key version a BlindIndex, MAC or CodeMAC value
// was made under, and false if the value is too short to carry one.
func IndexVersion(index []byte) (uint32, bool) {
	if len(index) < 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(index), true
}

// KeyWrapper wraps the per-subject data keys. The Keyring implements it
// with its number keys; a key-management service can stand in for it, since
// nothing else ever sees the wrapping key. Unwrap fails with ErrDecrypt on
// a value it did not wrap or on other aad.
type KeyWrapper interface {
	// Wrap seals a data key under the newest wrapping key, bound to aad.
	Wrap(dataKey, aad []byte) ([]byte, error)
	// Unwrap opens a value made by Wrap with the same aad.
	Unwrap(wrapped, aad []byte) ([]byte, error)
	// Current reports whether wrapped is under the newest wrapping key, so
	// that a re-encryption knows what to rewrap.
	Current(wrapped []byte) bool
}

var _ KeyWrapper = (*Keyring)(nil)

// SetWrapper makes w wrap the subjects' data keys in place of the
// keyring's number keys, for example a key-management service. Call it
// before the keyring is used.
func (k *Keyring) SetWrapper(w KeyWrapper) { k.wrapper = w }

// Wrapper returns what wraps the subjects' data keys: the one given to
// SetWrapper, else the keyring itself.
func (k *Keyring) Wrapper() KeyWrapper {
	if k.wrapper != nil {
		return k.wrapper
	}
	return k
}

// Wrap implements KeyWrapper with Seal.
func (k *Keyring) Wrap(dataKey, aad []byte) ([]byte, error) { return k.Seal(dataKey, aad), nil }

// Unwrap implements KeyWrapper with Open.
func (k *Keyring) Unwrap(wrapped, aad []byte) ([]byte, error) { return k.Open(wrapped, aad) }

// Current implements KeyWrapper: wrapped names the newest number key.
func (k *Keyring) Current(wrapped []byte) bool { return k.SealedCurrent(wrapped) }

// SealedCurrent reports whether sealed was made by Seal under the newest
// number key.
func (k *Keyring) SealedCurrent(sealed []byte) bool {
	v, ok := k.SealedVersion(sealed)
	return ok && v == k.Newest(PurposeNumber)
}

// formatDataKey is the first byte of a value sealed under a data key.
const formatDataKey = 2

// DataKey is one subject's own AES-256-GCM key. Its raw bytes are stored
// only wrapped by a KeyWrapper; destroying the wrapped copy makes every
// value sealed under it unreadable (crypto-shredding).
type DataKey struct{ aead cipher.AEAD }

// NewDataKey returns 32 random bytes for a new data key.
func NewDataKey() []byte {
	b := make([]byte, keyLen)
	rand.Read(b)
	return b
}

// OpenDataKey prepares a data key from its raw bytes.
func OpenDataKey(raw []byte) (*DataKey, error) {
	if len(raw) != keyLen {
		return nil, ErrDecrypt
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, ErrDecrypt
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, ErrDecrypt
	}
	return &DataKey{aead: aead}, nil
}

// Seal encrypts plaintext under the data key: a format byte (2), a random
// nonce, the ciphertext and its tag, bound to aad.
func (d *DataKey) Seal(plaintext, aad []byte) []byte {
	out := []byte{formatDataKey}
	return d.aead.Seal(out, nil, plaintext, additional(out, aad))
}

// Open decrypts a value made by Seal with the same aad; every failure is
// ErrDecrypt.
func (d *DataKey) Open(sealed, aad []byte) ([]byte, error) {
	if !DataKeySealed(sealed) {
		return nil, ErrDecrypt
	}
	pt, err := d.aead.Open(nil, nil, sealed[1:], additional(sealed[:1], aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// DataKeySealed reports whether sealed looks like a value sealed by a
// DataKey rather than by the Keyring.
func DataKeySealed(sealed []byte) bool {
	return len(sealed) >= 1+12+16 && sealed[0] == formatDataKey
}

// ErrErased means a value was sealed under a data key that has been
// destroyed: the subject it belonged to was erased.
var ErrErased = errors.New("vault: data key destroyed")

// Retire deletes the key file of version v of p from dir, so that nothing
// sealed under that version (in the database, in its backups, in archived
// logs) can be opened by anyone without another copy of the file. The file
// is overwritten before it is removed. It refuses the newest version of p,
// which new values are sealed under, and a version with no file in dir.
// The caller checks first that no value still in use needs the version.
func Retire(dir string, p Purpose, v uint32) (string, error) {
	if !p.valid() {
		return "", fmt.Errorf("vault: unknown key purpose %q", p)
	}
	versions, err := fileVersions(dir, p)
	if err != nil {
		return "", err
	}
	switch {
	case !slices.Contains(versions, v):
		return "", fmt.Errorf("%w: no %s key version %d in %s", ErrNoKey, p, v, dir)
	case v == slices.Max(versions):
		return "", fmt.Errorf("vault: %s key version %d is the newest: rotate first", p, v)
	}
	path := filepath.Join(dir, keyFileName(p, v))
	if err := shred(path); err != nil {
		return "", fmt.Errorf("vault: retire %s: %w", path, err)
	}
	syncDir(dir)
	return path, nil
}

// fileVersions lists the versions of p that have a key file in dir. A
// malformed key file name is an error, so that a typo cannot hide a key.
func fileVersions(dir string, p Purpose) ([]uint32, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("vault: read key directory: %w", err)
	}
	var out []uint32
	for _, e := range entries {
		q, v, ok, err := parseKeyFileName(e.Name())
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, filepath.Join(dir, e.Name()), err)
		}
		if ok && q == p {
			out = append(out, v)
		}
	}
	return out, nil
}

// shred overwrites the file at path with zeros, syncs it and removes it.
func shred(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil {
		_, err = f.Write(make([]byte, fi.Size()))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Remove(path)
}
