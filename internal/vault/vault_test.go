package vault

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newKeyring generates a fresh key directory and loads it.
func newKeyring(t testing.TB) (*Keyring, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	k, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k, dir
}

// env returns a getenv that serves m.
func env(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// fixedKey returns a distinct, deterministic base64 key for test n.
func fixedKey(n byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{n}, keyLen))
}

// writeKey writes a key file with the given content and mode.
func writeKey(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // beat the umask
		t.Fatal(err)
	}
	return path
}

func TestSealOpen(t *testing.T) {
	k, _ := newKeyring(t)
	for _, tt := range []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"number", []byte("+14155550123"), []byte("ve_bdmjag4si3ude42574noj2jpry")},
		{"empty plaintext", nil, []byte("row")},
		{"nil aad", []byte("+447700900123"), nil},
		{"long", bytes.Repeat([]byte("x"), 10_000), []byte("row")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sealed := k.Seal(tt.plaintext, tt.aad)
			if len(sealed) != sealOverhead+len(tt.plaintext) {
				t.Errorf("len(sealed) = %d, want %d", len(sealed), sealOverhead+len(tt.plaintext))
			}
			if len(tt.plaintext) > 4 && bytes.Contains(sealed, tt.plaintext) {
				t.Error("sealed value contains the plaintext")
			}
			got, err := k.Open(sealed, tt.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealFormat(t *testing.T) {
	k, _ := newKeyring(t)
	sealed := k.Seal([]byte("+14155550123"), nil)
	if sealed[0] != 1 {
		t.Errorf("format byte = %d, want 1", sealed[0])
	}
	if v := binary.BigEndian.Uint32(sealed[1:5]); v != 1 {
		t.Errorf("header version = %d, want 1", v)
	}
	if v, ok := k.SealedVersion(sealed); !ok || v != 1 {
		t.Errorf("SealedVersion = %d, %v; want 1, true", v, ok)
	}
	for _, bad := range [][]byte{nil, sealed[:sealOverhead-1], append([]byte{2}, sealed[1:]...)} {
		if _, ok := k.SealedVersion(bad); ok {
			t.Errorf("SealedVersion(%x) ok, want false", bad)
		}
	}
}

func TestOpenTampered(t *testing.T) {
	k, _ := newKeyring(t)
	aad := []byte("ve_1")
	sealed := k.Seal([]byte("+14155550123"), aad)
	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80} {
			bad := slices.Clone(sealed)
			bad[i] ^= flip
			if _, err := k.Open(bad, aad); !errors.Is(err, ErrDecrypt) {
				t.Errorf("byte %d ^ %#x: Open err = %v, want ErrDecrypt", i, flip, err)
			}
		}
	}
	for n := range sealed {
		if _, err := k.Open(sealed[:n], aad); !errors.Is(err, ErrDecrypt) {
			t.Errorf("truncated to %d: Open err = %v, want ErrDecrypt", n, err)
		}
	}
	if _, err := k.Open(append(slices.Clone(sealed), 0), aad); !errors.Is(err, ErrDecrypt) {
		t.Errorf("extended: Open err = %v, want ErrDecrypt", err)
	}
}

func TestOpenWrongAAD(t *testing.T) {
	k, _ := newKeyring(t)
	sealed := k.Seal([]byte("+14155550123"), []byte("ve_1"))
	for _, aad := range [][]byte{nil, []byte("ve_2"), []byte("ve_1\x00"), []byte("VE_1")} {
		if _, err := k.Open(sealed, aad); !errors.Is(err, ErrDecrypt) {
			t.Errorf("aad %q: Open err = %v, want ErrDecrypt", aad, err)
		}
	}
}

func TestOpenOtherKeyring(t *testing.T) {
	k1, _ := newKeyring(t)
	k2, _ := newKeyring(t)
	sealed := k1.Seal([]byte("+14155550123"), nil)
	if _, err := k2.Open(sealed, nil); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open under other keys: err = %v, want ErrDecrypt", err)
	}
}

func TestSealRandomized(t *testing.T) {
	k, _ := newKeyring(t)
	a := k.Seal([]byte("+14155550123"), []byte("row"))
	b := k.Seal([]byte("+14155550123"), []byte("row"))
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are equal")
	}
	if bytes.Equal(a[5:17], b[5:17]) {
		t.Error("two seals share a nonce")
	}
}

// TestRotation loads two versions of each purpose from the environment and
// checks that new values use the newest while old ones stay readable.
func TestRotation(t *testing.T) {
	old := map[string]string{}
	both := map[string]string{}
	for i, p := range purposes {
		k1, k2 := fixedKey(byte(2*i+1)), fixedKey(byte(2*i+2))
		old[EnvVar(p)] = "1:" + k1
		both[EnvVar(p)] = "2:" + k2 + ", 1:" + k1
	}
	kOld, err := Load(t.TempDir(), env(old))
	if err != nil {
		t.Fatal(err)
	}
	kNew, err := Load(t.TempDir(), env(both))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range purposes {
		if got := kNew.Versions(p); !slices.Equal(got, []uint32{2, 1}) {
			t.Errorf("Versions(%s) = %v, want [2 1]", p, got)
		}
	}

	oldSealed := kOld.Seal([]byte("+14155550123"), nil)
	if got, err := kNew.Open(oldSealed, nil); err != nil || string(got) != "+14155550123" {
		t.Errorf("Open old value = %q, %v", got, err)
	}
	if v, _ := kNew.SealedVersion(kNew.Seal(nil, nil)); v != 2 {
		t.Errorf("new seal under version %d, want 2", v)
	}

	idx := kNew.BlindIndexes("phone", "+14155550123")
	if len(idx) != 2 || !bytes.Equal(idx[0], kNew.BlindIndex("phone", "+14155550123")) ||
		!bytes.Equal(idx[1], kOld.BlindIndex("phone", "+14155550123")) {
		t.Errorf("BlindIndexes is not [new, old]")
	}

	oldMAC := kOld.CodeMAC("ve_1", "123456")
	if !kNew.CheckCode(oldMAC, "ve_1", "123456") {
		t.Error("CheckCode rejects a MAC made under the old pepper")
	}

	_, v, err := kNew.Signer(PurposeToken)
	if err != nil || v != 2 {
		t.Errorf("Signer version = %d, %v; want 2", v, err)
	}
	oldSigner, _, _ := kOld.Signer(PurposeToken)
	sig := ed25519.Sign(oldSigner, []byte("token"))
	if !ed25519.Verify(kNew.PublicKeys(PurposeToken)[1], []byte("token"), sig) {
		t.Error("old signature does not verify under PublicKeys()[1]")
	}
}

func TestBlindIndex(t *testing.T) {
	k1, _ := newKeyring(t)
	k2, _ := newKeyring(t)
	a := k1.BlindIndex("phone", "+14155550123")
	if len(a) != macLen || binary.BigEndian.Uint32(a) != 1 {
		t.Errorf("BlindIndex = %x, want 36 bytes led by version 1", a)
	}
	if !bytes.Equal(a, k1.BlindIndex("phone", "+14155550123")) {
		t.Error("BlindIndex is not deterministic")
	}
	for name, other := range map[string][]byte{
		"other key":    k2.BlindIndex("phone", "+14155550123"),
		"other domain": k1.BlindIndex("ip", "+14155550123"),
		"other value":  k1.BlindIndex("phone", "+14155550124"),
		"shifted sep":  k1.BlindIndex("phon", "e\x00+14155550123"),
	} {
		if bytes.Equal(a, other) {
			t.Errorf("%s: same BlindIndex", name)
		}
	}
	// The index key must not be the pepper key.
	if bytes.Equal(a, k1.CodeMAC("phone", "+14155550123")) {
		t.Error("BlindIndex equals CodeMAC of the same input")
	}
	if got := k1.BlindIndexes("phone", "+14155550123"); len(got) != 1 || !bytes.Equal(got[0], a) {
		t.Errorf("BlindIndexes = %x, want [%x]", got, a)
	}
}

func TestNULPanics(t *testing.T) {
	k, _ := newKeyring(t)
	for name, f := range map[string]func(){
		"BlindIndex":   func() { k.BlindIndex("ph\x00one", "x") },
		"BlindIndexes": func() { k.BlindIndexes("ph\x00one", "x") },
		"CodeMAC":      func() { k.CodeMAC("ve\x001", "123456") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic for a zero byte in the first field")
				}
			}()
			f()
		})
	}
}

func TestCheckCode(t *testing.T) {
	k, _ := newKeyring(t)
	other, _ := newKeyring(t)
	mac := k.CodeMAC("ve_1", "123456")
	if !k.CheckCode(mac, "ve_1", "123456") {
		t.Fatal("CheckCode(right code) = false")
	}
	wrongVersion := slices.Clone(mac)
	binary.BigEndian.PutUint32(wrongVersion, 7)
	flipped := slices.Clone(mac)
	flipped[len(flipped)-1] ^= 1
	for _, tt := range []struct {
		name        string
		mac         []byte
		scope, code string
	}{
		{"wrong code", mac, "ve_1", "123457"},
		{"wrong scope", mac, "ve_2", "123456"},
		{"empty code", mac, "ve_1", ""},
		{"nul in scope", mac, "ve_1\x00", "123456"},
		{"other pepper", other.CodeMAC("ve_1", "123456"), "ve_1", "123456"},
		{"nil mac", nil, "ve_1", "123456"},
		{"short mac", mac[:macLen-1], "ve_1", "123456"},
		{"long mac", append(slices.Clone(mac), 0), "ve_1", "123456"},
		{"unknown version", wrongVersion, "ve_1", "123456"},
		{"flipped bit", flipped, "ve_1", "123456"},
		{"bare hmac", mac[4:], "ve_1", "123456"},
	} {
		if k.CheckCode(tt.mac, tt.scope, tt.code) {
			t.Errorf("%s: CheckCode = true", tt.name)
		}
	}
}

func TestPseudonym(t *testing.T) {
	k, _ := newKeyring(t)
	other, _ := newKeyring(t)
	p := k.Pseudonym("aud_1", "sub_1")
	if len(p) != 26 || strings.Trim(p, idAlphabet) != "" {
		t.Errorf("Pseudonym = %q, want 26 lower-case base32 characters", p)
	}
	if p != k.Pseudonym("aud_1", "sub_1") {
		t.Error("Pseudonym is not stable")
	}
	for name, q := range map[string]string{
		"other audience": k.Pseudonym("aud_2", "sub_1"),
		"other subject":  k.Pseudonym("aud_1", "sub_2"),
		"other key":      other.Pseudonym("aud_1", "sub_1"),
	} {
		if p == q {
			t.Errorf("%s: same pseudonym %q", name, p)
		}
	}
}

func TestSigner(t *testing.T) {
	k, _ := newKeyring(t)
	for _, p := range []Purpose{PurposeToken, PurposeCheckpoint, PurposeReceipt} {
		priv, v, err := k.Signer(p)
		if err != nil || v != 1 {
			t.Fatalf("Signer(%s) = _, %d, %v", p, v, err)
		}
		sig := ed25519.Sign(priv, []byte("msg"))
		pubs := k.PublicKeys(p)
		if len(pubs) != 1 || !ed25519.Verify(pubs[1], []byte("msg"), sig) {
			t.Errorf("%s: signature does not verify under PublicKeys", p)
		}
		priv[0] ^= 1 // a copy: the keyring must not change
		again, _, _ := k.Signer(p)
		if bytes.Equal(again, priv) {
			t.Errorf("%s: Signer returns the keyring's own slice", p)
		}
	}
	tok, _, _ := k.Signer(PurposeToken)
	chk, _, _ := k.Signer(PurposeCheckpoint)
	rec, _, _ := k.Signer(PurposeReceipt)
	if bytes.Equal(tok, chk) || bytes.Equal(rec, chk) || bytes.Equal(rec, tok) {
		t.Error("token, checkpoint and receipt keys are not distinct")
	}
	for _, p := range []Purpose{PurposeNumber, PurposeIndex, "bogus"} {
		if _, _, err := k.Signer(p); !errors.Is(err, ErrNoKey) {
			t.Errorf("Signer(%s) err = %v, want ErrNoKey", p, err)
		}
		if got := k.PublicKeys(p); len(got) != 0 {
			t.Errorf("PublicKeys(%s) = %v, want empty", p, got)
		}
	}
}

func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keys")
	created, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != len(purposes) {
		t.Fatalf("created %d files, want %d: %v", len(created), len(purposes), created)
	}
	for i, p := range purposes {
		if want := filepath.Join(dir, string(p)+"-1.key"); created[i] != want {
			t.Errorf("created[%d] = %s, want %s", i, created[i], want)
		}
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("dir mode = %04o, want 0700", fi.Mode().Perm())
		}
		for _, path := range created {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode = %04o, want 0600", path, fi.Mode().Perm())
			}
			b, _ := os.ReadFile(path)
			if len(b) != 45 || b[44] != '\n' {
				t.Errorf("%s = %d bytes, want 44 base64 characters and a newline", path, len(b))
			}
		}
	}

	again, err := Generate(dir)
	if err != nil || len(again) != 0 {
		t.Errorf("second Generate = %v, %v; want nothing created", again, err)
	}

	// A purpose with a later version only is not regenerated; a missing one is.
	if err := os.Rename(filepath.Join(dir, "index-1.key"), filepath.Join(dir, "index-3.key")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "pepper-1.key")); err != nil {
		t.Fatal(err)
	}
	third, err := Generate(dir)
	if err != nil || !slices.Equal(third, []string{filepath.Join(dir, "pepper-1.key")}) {
		t.Errorf("third Generate = %v, %v; want only pepper-1.key", third, err)
	}
	k, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Versions(PurposeIndex); !slices.Equal(got, []uint32{3}) {
		t.Errorf("Versions(index) = %v, want [3]", got)
	}
}

func TestLoadErrors(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	const secretB64 = "c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3ODkwYWI=" // 32 bytes
	for _, tt := range []struct {
		name    string
		file    string // written into a complete key directory
		content string
		mode    os.FileMode
		want    error
		inMsg   string
	}{
		{"bad base64", "number-2.key", "c2VjcmV0*2tleS1tYXRlcmlhbC0xMjM0NTY3ODkwYWI=\n", 0o600, ErrKeyFile, "base64"},
		{"url base64", "number-2.key", "c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3ODkwYW-_\n", 0o600, ErrKeyFile, "base64"},
		{"short key", "number-2.key", "c2VjcmV0LWtleS1tYXRlcmlhbA==\n", 0o600, ErrKeyFile, "want 32"},
		{"long key", "index-2.key", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 33)), 0o600, ErrKeyFile, "want 32"},
		{"empty file", "index-2.key", "", 0o600, ErrKeyFile, "want 32"},
		{"zero key", "index-2.key", base64.StdEncoding.EncodeToString(make([]byte, 32)), 0o600, ErrKeyFile, "zero"},
		{"world readable", "number-2.key", secretB64 + "\n", 0o604, ErrKeyFile, "chmod 600"},
		{"group readable", "number-2.key", secretB64 + "\n", 0o640, ErrKeyFile, "chmod 600"},
		{"group writable", "number-2.key", secretB64 + "\n", 0o620, ErrKeyFile, "chmod 600"},
		{"unknown purpose", "numbr-2.key", secretB64 + "\n", 0o600, ErrKeyFile, "purpose"},
		{"no version", "number.key", secretB64 + "\n", 0o600, ErrKeyFile, "<version>"},
		{"version zero", "number-0.key", secretB64 + "\n", 0o600, ErrKeyFile, "version"},
		{"leading zero", "number-01.key", secretB64 + "\n", 0o600, ErrKeyFile, "version"},
		{"huge version", "number-4294967296.key", secretB64 + "\n", 0o600, ErrKeyFile, "version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := newKeyring(t)
			path := writeKey(t, dir, tt.file, tt.content, tt.mode)
			_, err := Load(dir, nil)
			checkLoadErr(t, err, tt.want, path, tt.inMsg, tt.content)
		})
	}

	t.Run("missing purpose", func(t *testing.T) {
		_, dir := newKeyring(t)
		os.Remove(filepath.Join(dir, "checkpoint-1.key"))
		_, err := Load(dir, nil)
		checkLoadErr(t, err, ErrNoKey, `"checkpoint"`, "RINGFENCE_KEY_CHECKPOINT", "")
	})
	t.Run("empty dir", func(t *testing.T) {
		_, err := Load(t.TempDir(), nil)
		checkLoadErr(t, err, ErrNoKey, `"number"`, "number-1.key", "")
	})
	t.Run("same key twice", func(t *testing.T) {
		_, dir := newKeyring(t)
		b, _ := os.ReadFile(filepath.Join(dir, "number-1.key"))
		path := writeKey(t, dir, "index-2.key", string(b), 0o600)
		_, err := Load(dir, nil)
		checkLoadErr(t, err, ErrKeyFile, path, "same key", string(b))
	})
	t.Run("directory named like a key", func(t *testing.T) {
		_, dir := newKeyring(t)
		path := filepath.Join(dir, "number-2.key")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir, nil)
		checkLoadErr(t, err, ErrKeyFile, path, "regular", "")
	})
}

// checkLoadErr checks that err is want, names name, says inMsg, and does
// not contain secret or its decoded bytes.
func checkLoadErr(t *testing.T, err, want error, name, inMsg, secret string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("Load err = %v, want %v", err, want)
	}
	msg := err.Error()
	if !strings.Contains(msg, name) || !strings.Contains(msg, inMsg) {
		t.Errorf("Load err = %q, want it to name %q and say %q", msg, name, inMsg)
	}
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return
	}
	leaks := []string{secret, secret[:len(secret)/2], secret[len(secret)/2:]}
	if raw, err := base64.StdEncoding.DecodeString(secret); err == nil && len(raw) >= 8 {
		leaks = append(leaks, string(raw), string(raw[:8]), fmt.Sprintf("%x", raw[:8]))
	}
	for _, leak := range leaks {
		if strings.Contains(msg, leak) {
			t.Errorf("Load err %q contains key material %q", msg, leak)
		}
	}
}

func TestLoadIgnoresOtherFiles(t *testing.T) {
	_, dir := newKeyring(t)
	writeKey(t, dir, "README", "not a key", 0o644)
	writeKey(t, dir, "number-2.key.bak", "not a key", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, nil); err != nil {
		t.Errorf("Load: %v", err)
	}
}

func TestEnvOverride(t *testing.T) {
	fileKeys, dir := newKeyring(t)
	getenv := env(map[string]string{
		"RINGFENCE_KEY_NUMBER": "5:" + fixedKey(1) + ",3:" + fixedKey(2),
		"RINGFENCE_KEY_INDEX":  " 2:" + fixedKey(3) + " ",
	})
	k, err := Load(dir, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Versions(PurposeNumber); !slices.Equal(got, []uint32{5, 3}) {
		t.Errorf("Versions(number) = %v, want [5 3]", got)
	}
	if got := k.Versions(PurposeIndex); !slices.Equal(got, []uint32{2}) {
		t.Errorf("Versions(index) = %v, want [2]", got)
	}
	if got := k.Versions(PurposePepper); !slices.Equal(got, []uint32{1}) {
		t.Errorf("Versions(pepper) = %v, want [1] from the file", got)
	}
	sealed := k.Seal([]byte("+14155550123"), nil)
	if _, err := fileKeys.Open(sealed, nil); err == nil {
		t.Error("value sealed under the environment key opens under the file key")
	}
	if !k.CheckCode(fileKeys.CodeMAC("ve_1", "1234"), "ve_1", "1234") {
		t.Error("pepper from the file was not kept")
	}

	// The environment alone is enough; the directory need not exist.
	all := map[string]string{}
	for i, p := range purposes {
		all[EnvVar(p)] = "1:" + fixedKey(byte(10+i))
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent"), env(all)); err != nil {
		t.Errorf("Load from environment only: %v", err)
	}
	// An overridden purpose's files are not read, so a bad one does not matter.
	writeKey(t, dir, "number-9.key", "garbage", 0o600)
	if _, err := Load(dir, getenv); err != nil {
		t.Errorf("Load with a bad but overridden file: %v", err)
	}
}

func TestEnvOverrideErrors(t *testing.T) {
	_, dir := newKeyring(t)
	for _, tt := range []struct {
		name, value, inMsg string
	}{
		{"no version", fixedKey(1), "<version>"},
		{"bad version", "x:" + fixedKey(1), "version"},
		{"zero version", "0:" + fixedKey(1), "version"},
		{"bad base64", "1:" + strings.Replace(fixedKey(1), "A", "*", 1), "base64"},
		{"short key", "1:" + base64.StdEncoding.EncodeToString([]byte("sixteen byte key")), "want 32"},
		{"duplicate version", "1:" + fixedKey(1) + ",1:" + fixedKey(2), "twice"},
		{"duplicate key", "1:" + fixedKey(1) + ",2:" + fixedKey(1), "same key"},
		{"trailing comma", "1:" + fixedKey(1) + ",", "entry 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(dir, env(map[string]string{"RINGFENCE_KEY_PEPPER": tt.value}))
			_, secret, _ := strings.Cut(tt.value, ":")
			secret, _, _ = strings.Cut(secret, ",")
			checkLoadErr(t, err, ErrKeyFile, "$RINGFENCE_KEY_PEPPER", tt.inMsg, secret)
		})
	}
}

func TestRedacted(t *testing.T) {
	k, dir := newKeyring(t)
	var secrets []string
	for _, p := range purposes {
		b, err := os.ReadFile(filepath.Join(dir, string(p)+"-1.key"))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		secrets = append(secrets, strings.TrimSpace(string(b)), string(raw[:8]),
			fmt.Sprintf("%x", raw[:8]), fmt.Sprint(raw[:4])[1:12])
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		out = append(out, fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k))
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "keys", k, "value", *k)
	out = append(out, logged.String())
	for _, s := range out {
		if !strings.Contains(s, "redacted") {
			t.Errorf("printed %q, want the placeholder", s)
		}
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("printed %q contains key material", s)
			}
		}
	}
}

func TestRandomDigits(t *testing.T) {
	for n := 4; n <= 10; n++ {
		s := RandomDigits(n)
		if len(s) != n || strings.Trim(s, "0123456789") != "" {
			t.Errorf("RandomDigits(%d) = %q", n, s)
		}
	}
	for _, n := range []int{-1, 0, 3, 11} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RandomDigits(%d) did not panic", n)
				}
			}()
			RandomDigits(n)
		}()
	}
}

// TestRandomDigitsUniform is a chi-square test over the digits of 100,000
// six-digit codes, per position (60 cells, 54 degrees of freedom). The
// bound of 150 is exceeded by chance with probability below 1e-10, but a
// plain byte%10 (modulo bias) scores about 270 and fails.
func TestRandomDigitsUniform(t *testing.T) {
	const draws, n = 100_000, 6
	var counts [n][10]int
	for range draws {
		for i, c := range RandomDigits(n) {
			counts[i][c-'0']++
		}
	}
	const expected = float64(draws) / 10
	chi2 := 0.0
	for i := range counts {
		for _, c := range counts[i] {
			d := float64(c) - expected
			chi2 += d * d / expected
		}
	}
	if chi2 > 150 {
		t.Errorf("chi-square = %.1f over 54 degrees of freedom, want <= 150; counts %v", chi2, counts)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID("ve")
		if !ValidID("ve", id) {
			t.Fatalf("ValidID(ve, %q) = false", id)
		}
		if len(id) != len("ve_")+26 {
			t.Fatalf("NewID = %q, want 29 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

// TestNewOrderedID: ordered ids have NewID's shape, never repeat within a
// millisecond, share their first characters when made close in time, and
// carry the time they were made.
func TestNewOrderedID(t *testing.T) {
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	first := NewOrderedID("ve", at)
	for range 1000 {
		id := NewOrderedID("ve", at)
		if !ValidID("ve", id) {
			t.Fatalf("ValidID(ve, %q) = false", id)
		}
		if seen[id] {
			t.Fatalf("NewOrderedID repeated %q", id)
		}
		seen[id] = true
		// 6 bytes of time are 48 bits: the first 9 characters (45 bits)
		// are the same for ids of one millisecond.
		if id[:3+9] != first[:3+9] {
			t.Fatalf("ids of one millisecond differ early: %q, %q", first, id)
		}
	}
	later := NewOrderedID("ve", at.Add(time.Second))
	if later[:3+6] != first[:3+6] || later == first {
		t.Errorf("ids a second apart: %q, %q; want the first 6 characters shared", first, later)
	}
	raw, err := idEncoding.DecodeString(first[3:])
	if err != nil {
		t.Fatal(err)
	}
	var ms int64
	for _, b := range raw[:6] {
		ms = ms<<8 | int64(b)
	}
	if ms != at.UnixMilli() {
		t.Errorf("the id carries %d ms, want %d", ms, at.UnixMilli())
	}
}

func TestValidID(t *testing.T) {
	const good = "ve_bdmjag4si3ude42574noj2jpry"
	if !ValidID("ve", good) {
		t.Fatalf("ValidID(%q) = false", good)
	}
	for _, id := range []string{
		"",
		"ve_",
		"bdmjag4si3ude42574noj2jpry",     // no prefix
		"sub_bdmjag4si3ude42574noj2jpry", // wrong prefix
		"vx_bdmjag4si3ude42574noj2jpry",
		"ve-bdmjag4si3ude42574noj2jpry",    // wrong separator
		"vebdmjag4si3ude42574noj2jpry",     // no separator
		"ve_bdmjag4si3ude42574noj2jpr",     // 25 characters
		"ve_bdmjag4si3ude42574noj2jprya",   // 27 characters
		"ve_BDMJAG4SI3UDE42574NOJ2JPRY",    // upper case
		"ve_bdmjag4si3uDe42574noj2jpry",    // one upper-case letter
		"ve_bdmjag4si3ude42574noj2jp0y",    // 0 is not base32
		"ve_bdmjag4si3ude42574noj2jp1y",    // 1 is not base32
		"ve_bdmjag4si3ude42574noj2jp8y",    // 8 is not base32
		"ve_bdmjag4si3ude42574noj2jp=y",    // padding
		"ve_bdmjag4si3ude42574noj2jp y",    // space
		"ve_bdmjag4si3ude42574noj2jprz",    // nonzero padding bits
		"ve_bdmjag4si3ude42574noj2jpr\n",   // newline
		"ve_bdmjag4si3ude42574noj2jpr\xc3", // not ASCII
		"VE_bdmjag4si3ude42574noj2jpry",    // prefix case
	} {
		if ValidID("ve", id) {
			t.Errorf("ValidID(ve, %q) = true", id)
		}
	}
}

// TestImports checks that vault uses the standard library only and so
// imports no other package of this module.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s; vault uses the standard library only", name, path)
			}
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	k, _ := newKeyring(b)
	pt, aad := []byte("+14155550123"), []byte("ve_bdmjag4si3ude42574noj2jpry")
	for b.Loop() {
		k.Seal(pt, aad)
	}
}

func BenchmarkOpen(b *testing.B) {
	k, _ := newKeyring(b)
	aad := []byte("ve_bdmjag4si3ude42574noj2jpry")
	sealed := k.Seal([]byte("+14155550123"), aad)
	for b.Loop() {
		if _, err := k.Open(sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	k, _ := newKeyring(b)
	for b.Loop() {
		k.BlindIndex("phone", "+14155550123")
	}
}

func BenchmarkCodeMAC(b *testing.B) {
	k, _ := newKeyring(b)
	for b.Loop() {
		k.CodeMAC("ve_bdmjag4si3ude42574noj2jpry", "123456")
	}
}

func TestMAC(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	k, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte{1, 0, 2, 0xff}
	m := k.MAC("audit-row", msg)
	if !k.CheckMAC(m, "audit-row", msg) {
		t.Fatal("a MAC does not check")
	}
	if k.CheckMAC(m, "other", msg) || k.CheckMAC(m, "audit-row", []byte{1, 0, 2}) || k.CheckMAC(m[:10], "audit-row", msg) || k.CheckMAC(nil, "audit-row", msg) {
		t.Error("a MAC checks for another domain, message or length")
	}
	bad := append([]byte(nil), m...)
	bad[len(bad)-1] ^= 1
	if k.CheckMAC(bad, "audit-row", msg) {
		t.Error("a changed MAC checks")
	}
}
