package vault

import (
	"bytes"
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// maxKeyFileSize bounds what Load reads: a key file is 45 bytes.
const maxKeyFileSize = 1024

// EnvVar returns the name of the environment variable that overrides the key
// files of p, such as RINGFENCE_KEY_NUMBER. Its value is one or more
// "<version>:<base64 key>" entries separated by commas.
func EnvVar(p Purpose) string { return "RINGFENCE_KEY_" + strings.ToUpper(string(p)) }

// keyFileName returns the name of the key file of version v of p.
func keyFileName(p Purpose, v uint32) string {
	return string(p) + "-" + strconv.FormatUint(uint64(v), 10) + ".key"
}

// parseKeyFileName parses "<purpose>-<version>.key". ok is false for names
// that are not key files at all; err is set for names that end in ".key" but
// are malformed, so that a typo cannot hide a key.
func parseKeyFileName(name string) (p Purpose, v uint32, ok bool, err error) {
	base, isKey := strings.CutSuffix(name, ".key")
	if !isKey {
		return "", 0, false, nil
	}
	i := strings.LastIndexByte(base, '-')
	if i < 0 {
		return "", 0, false, errors.New(`name is not "<purpose>-<version>.key"`)
	}
	p = Purpose(base[:i])
	if !p.valid() {
		return "", 0, false, fmt.Errorf("unknown purpose %q", base[:i])
	}
	v, err = parseVersion(base[i+1:])
	if err != nil {
		return "", 0, false, err
	}
	return p, v, true, nil
}

// parseVersion parses a positive decimal version without sign or leading
// zeros, so that each version has exactly one spelling.
func parseVersion(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || s != strconv.FormatUint(n, 10) {
		return 0, errors.New("version is not a positive integer")
	}
	return uint32(n), nil
}

// decodeKey decodes a base64 key and checks its length. Its errors never
// contain the input.
func decodeKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("not valid base64 (std encoding)")
	}
	if len(b) != keyLen {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(b), keyLen)
	}
	if bytes.Equal(b, make([]byte, keyLen)) {
		return nil, errors.New("key is all zero bytes")
	}
	return b, nil
}

// Generate creates, in dir, version 1 of every purpose that has no key file
// yet, and returns the paths it created, so that the caller can warn that
// production keys belong elsewhere. It creates dir with mode 0700 if needed
// and the files with mode 0600; it never overwrites a file. A second call
// creates nothing.
func Generate(dir string) (created []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: create key directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("vault: read key directory: %w", err)
	}
	have := make(map[Purpose]bool)
	for _, e := range entries {
		if p, _, ok, _ := parseKeyFileName(e.Name()); ok {
			have[p] = true
		}
	}
	for _, p := range purposes {
		if have[p] {
			continue
		}
		path := filepath.Join(dir, keyFileName(p, 1))
		if err := writeNewKey(path); err != nil {
			return created, err
		}
		created = append(created, path)
	}
	if len(created) > 0 {
		syncDir(dir)
	}
	return created, nil
}

// writeNewKey writes a fresh random key to path, which must not exist.
func writeNewKey(path string) error {
	secret := make([]byte, keyLen)
	rand.Read(secret)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("vault: create key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(secret) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("vault: write key file %s: %w", path, err)
	}
	return nil
}

// syncDir makes new directory entries durable where the platform allows;
// losing a key loses every value sealed under it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Load reads every "<purpose>-<version>.key" file in dir, ignoring other
// files, and returns the keyring. getenv looks up overrides (pass os.Getenv
// in production, nil for none): if EnvVar(p) is set it replaces the key
// files of p. A missing dir is treated as empty, so keys may come from the
// environment alone. A malformed key file name, bad base64, a key that is not
// 32 bytes, a file that group or others may access, or a key used twice is
// ErrKeyFile, naming the file or variable but never the key. A purpose
// without any key is ErrNoKey.
func Load(dir string, getenv func(string) string) (*Keyring, error) {
	found := make(map[Purpose]map[uint32][]byte)
	source := make(map[string]string) // key bytes -> where they came from
	add := func(p Purpose, v uint32, secret []byte, from string) error {
		if found[p] == nil {
			found[p] = make(map[uint32][]byte)
		}
		if _, dup := found[p][v]; dup {
			return fmt.Errorf("%w: %s: version %d of %s given twice", ErrKeyFile, from, v, p)
		}
		if other, dup := source[string(secret)]; dup {
			return fmt.Errorf("%w: %s holds the same key as %s; every key must be distinct", ErrKeyFile, from, other)
		}
		found[p][v] = secret
		source[string(secret)] = from
		return nil
	}

	overridden := make(map[Purpose]bool)
	if getenv != nil {
		for _, p := range purposes {
			name := EnvVar(p)
			val := getenv(name)
			if val == "" {
				continue
			}
			overridden[p] = true
			for i, entry := range strings.Split(val, ",") {
				from := fmt.Sprintf("$%s entry %d", name, i+1)
				v, secret, err := parseEnvEntry(entry)
				if err != nil {
					return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, from, err)
				}
				if err := add(p, v, secret, from); err != nil {
					return nil, err
				}
			}
		}
	}

	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("vault: read key directory: %w", err)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		p, v, ok, err := parseKeyFileName(e.Name())
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
		}
		if !ok || overridden[p] {
			continue
		}
		secret, err := readKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
		}
		if err := add(p, v, secret, path); err != nil {
			return nil, err
		}
	}

	m := make(map[Purpose][]*key, len(purposes))
	for _, p := range purposes {
		if len(found[p]) == 0 && p.optional() {
			continue
		}
		if len(found[p]) == 0 {
			return nil, fmt.Errorf("%w for purpose %q: no %s in %s and %s is not set",
				ErrNoKey, p, keyFileName(p, 1), dir, EnvVar(p))
		}
		for v, secret := range found[p] {
			kv, err := newKey(p, v, secret)
			if err != nil {
				return nil, err
			}
			m[p] = append(m[p], kv)
		}
		slices.SortFunc(m[p], func(a, b *key) int { return cmp.Compare(b.version, a.version) })
	}
	k := &Keyring{cur: new(atomic.Pointer[map[Purpose][]*key])}
	k.cur.Store(&m)
	return k, nil
}

// parseEnvEntry parses "<version>:<base64 key>".
func parseEnvEntry(entry string) (uint32, []byte, error) {
	vs, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
	if !ok {
		return 0, nil, errors.New(`entry is not "<version>:<base64 key>"`)
	}
	v, err := parseVersion(vs)
	if err != nil {
		return 0, nil, err
	}
	secret, err := decodeKey(b64)
	if err != nil {
		return 0, nil, err
	}
	return v, secret, nil
}

// readKeyFile reads and decodes one key file after checking its mode.
func readKeyFile(path string) ([]byte, error) {
	// Stat before opening so that a FIFO cannot block Load, then check the
	// opened file itself.
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("mode %04o lets group or others access the key; run chmod 600 %s",
			fi.Mode().Perm(), path)
	}
	if fi.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("file is %d bytes, a key file is %d", fi.Size(), base64.StdEncoding.EncodedLen(keyLen)+1)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize))
	if err != nil {
		return nil, err
	}
	return decodeKey(string(b))
}

// newKey prepares the primitives of one key.
func newKey(p Purpose, v uint32, secret []byte) (*key, error) {
	kv := &key{version: v, secret: secret}
	switch p {
	case PurposeNumber:
		block, err := aes.NewCipher(secret)
		if err != nil {
			return nil, fmt.Errorf("vault: number key %d: %w", v, err)
		}
		if kv.aead, err = cipher.NewGCMWithRandomNonce(block); err != nil {
			return nil, fmt.Errorf("vault: number key %d: %w", v, err)
		}
	case PurposeToken, PurposeCheckpoint, PurposeReceipt:
		kv.signer = ed25519.NewKeyFromSeed(secret)
	}
	return kv, nil
}
