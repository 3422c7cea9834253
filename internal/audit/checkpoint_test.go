package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

const origin = "ringfence.example.com/audit"

// testKey returns a fixed Ed25519 key made from name.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func testSigner(t testing.TB, name string, key ed25519.PrivateKey) note.Signer {
	t.Helper()
	s, err := NewSigner(name, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testVerifier(t testing.TB, name string, key ed25519.PrivateKey) note.Verifier {
	t.Helper()
	v, err := NewVerifier(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sampleCheckpoint() Checkpoint {
	return Checkpoint{Origin: origin, Size: 20852163, Root: refLeaf([]byte("root"))}
}

func TestCheckpointMarshal(t *testing.T) {
	c := sampleCheckpoint()
	want := origin + "\n20852163\n" + base64.StdEncoding.EncodeToString(c.Root) + "\n"
	if got := string(c.Marshal()); got != want {
		t.Fatalf("Marshal = %q, want %q", got, want)
	}
	for _, c := range []Checkpoint{
		c,
		{Origin: origin, Size: 0, Root: EmptyRoot()},
		{Origin: "x", Size: 1<<64 - 1, Root: make([]byte, 32), Extensions: []string{"ext one", "— two"}},
	} {
		got, err := ParseCheckpoint(c.Marshal())
		if err != nil {
			t.Fatalf("ParseCheckpoint(%q): %v", c.Marshal(), err)
		}
		if got.Origin != c.Origin || got.Size != c.Size || !bytes.Equal(got.Root, c.Root) ||
			strings.Join(got.Extensions, "|") != strings.Join(c.Extensions, "|") {
			t.Errorf("round trip of %+v gave %+v", c, got)
		}
	}
}

func TestParseCheckpointBad(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	root31 := base64.StdEncoding.EncodeToString(make([]byte, 31))
	// "AAAB...=" with nonzero padding bits decodes leniently to zeros.
	lenient := root[:42] + "B="
	for _, text := range []string{
		"",
		"\n",
		"o\n1\n",
		"o\n1\n" + root,
		"\n1\n" + root + "\n",
		"o\n\n" + root + "\n",
		"o\n01\n" + root + "\n",
		"o\n+1\n" + root + "\n",
		"o\n-1\n" + root + "\n",
		"o\n 1\n" + root + "\n",
		"o\n1 \n" + root + "\n",
		"o\n0x1\n" + root + "\n",
		"o\n1_0\n" + root + "\n",
		"o\n18446744073709551616\n" + root + "\n",
		"o\n1\n" + root31 + "\n",
		"o\n1\n" + root + "AAAA\n",
		"o\n1\n" + root[:43] + "\n",
		"o\n1\n" + lenient + "\n",
		"o\n1\n!" + root[1:] + "\n",
		"o\n1\n" + root + "\n\n",
		"o\n1\n" + root + "\next\n\n",
		"o\r\n1\n" + root + "\n",
		"o\x00\n1\n" + root + "\n",
		"o\xff\n1\n" + root + "\n",
	} {
		if c, err := ParseCheckpoint([]byte(text)); !errors.Is(err, ErrMalformedCheckpoint) {
			t.Errorf("ParseCheckpoint(%q) = %+v, %v; want ErrMalformedCheckpoint", text, c, err)
		}
	}
}

// TestKeyID checks the key strings against the example key of the note
// package documentation.
func TestKeyID(t *testing.T) {
	const skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
	const vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(skey, "PRIVATE+KEY+PeterNeumann+c74f20a3+"))
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(raw[1:])
	s := testSigner(t, "PeterNeumann", key)
	if s.KeyHash() != 0xc74f20a3 || s.Name() != "PeterNeumann" {
		t.Errorf("signer %s %08x, want PeterNeumann c74f20a3", s.Name(), s.KeyHash())
	}
	got, err := VerifierKey("PeterNeumann", key.Public().(ed25519.PublicKey))
	if err != nil || got != vkey {
		t.Errorf("VerifierKey = %q, %v; want %q", got, err, vkey)
	}
	want, _ := note.NewEd25519VerifierKey(origin, testKey("a").Public().(ed25519.PublicKey))
	if got, _ := VerifierKey(origin, testKey("a").Public().(ed25519.PublicKey)); got != want {
		t.Errorf("VerifierKey = %q, note says %q", got, want)
	}
}

func TestSignOpenCheckpoint(t *testing.T) {
	key := testKey("log")
	s, v := testSigner(t, origin, key), testVerifier(t, origin, key)
	c := sampleCheckpoint()
	c.Extensions = []string{"ext"}
	msg, err := SignCheckpoint(c, s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(msg, append(c.Marshal(), "\n— "+origin+" "...)) {
		t.Errorf("signed note:\n%s", msg)
	}
	got, err := OpenCheckpoint(msg, v)
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != c.Origin || got.Size != c.Size || !bytes.Equal(got.Root, c.Root) || len(got.Extensions) != 1 {
		t.Errorf("OpenCheckpoint = %+v, want %+v", got, c)
	}

	// A cosignature by another key (a witness) does not matter.
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	witness := testSigner(t, "witness.example", testKey("witness"))
	cosigned, err := note.Sign(n, witness)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(cosigned, v); err != nil {
		t.Errorf("OpenCheckpoint of a cosigned note: %v", err)
	}
}

func TestOpenCheckpointRejects(t *testing.T) {
	key := testKey("log")
	s, v := testSigner(t, origin, key), testVerifier(t, origin, key)
	c := sampleCheckpoint()
	msg, err := SignCheckpoint(c, s)
	if err != nil {
		t.Fatal(err)
	}
	text, sigLine, _ := strings.Cut(string(msg), "\n\n")
	b64 := strings.TrimSuffix(sigLine[strings.LastIndex(sigLine, " ")+1:], "\n")
	sig, _ := base64.StdEncoding.DecodeString(b64)

	forged := append([]byte(nil), sig...)
	forged[10] ^= 1
	forgedMsg := text + "\n\n— " + origin + " " + base64.StdEncoding.EncodeToString(forged) + "\n"

	bigger := c
	bigger.Size++
	otherRoot := c
	otherRoot.Root = refLeaf([]byte("other"))

	other := testKey("other")
	sameName := sign(t, c.Marshal(), testSigner(t, origin, other))
	otherName := sign(t, Checkpoint{Origin: "other.example", Size: c.Size, Root: c.Root}.Marshal(), testSigner(t, "other.example", other))
	wrongOrigin := sign(t, Checkpoint{Origin: "evil.example/log", Size: c.Size, Root: c.Root}.Marshal(), s)
	notCheckpoint := sign(t, []byte("hello\n"), s)

	cases := []struct {
		name string
		msg  string
		want error
	}{
		{"forged signature", forgedMsg, ErrCheckpointSignature},
		{"size edited", strings.Replace(string(msg), "\n20852163\n", "\n20852164\n", 1), ErrCheckpointSignature},
		{"root edited", string(bytes.Replace(msg, []byte(base64.StdEncoding.EncodeToString(c.Root)), []byte(base64.StdEncoding.EncodeToString(otherRoot.Root)), 1)), ErrCheckpointSignature},
		{"signed by another key of the same name", string(sameName), ErrCheckpointKey},
		{"signed by another log", string(otherName), ErrCheckpointKey},
		{"signature removed", text + "\n\n", ErrMalformedCheckpoint},
		{"no signature block", text + "\n", ErrMalformedCheckpoint},
		{"wrong origin", string(wrongOrigin), ErrCheckpointOrigin},
		{"not a checkpoint", string(notCheckpoint), ErrMalformedCheckpoint},
		{"empty", "", ErrMalformedCheckpoint},
		{"control character", strings.Replace(string(msg), origin, origin+"\x01", 1), ErrMalformedCheckpoint},
	}
	for _, tc := range cases {
		_, err := OpenCheckpoint([]byte(tc.msg), v)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: OpenCheckpoint = %v, want %v", tc.name, err, tc.want)
		}
	}

	// Every truncation of the note fails.
	for i := range len(msg) {
		if _, err := OpenCheckpoint(msg[:i], v); err == nil {
			t.Fatalf("OpenCheckpoint of the first %d of %d bytes succeeded", i, len(msg))
		}
	}
	if _, err := OpenCheckpoint(msg, nil); err == nil {
		t.Error("OpenCheckpoint with a nil verifier succeeded")
	}
}

func sign(t *testing.T, text []byte, s note.Signer) []byte {
	t.Helper()
	msg, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestSignCheckpointRejects(t *testing.T) {
	s := testSigner(t, origin, testKey("log"))
	good := sampleCheckpoint()
	for name, edit := range map[string]func(*Checkpoint){
		"other origin":      func(c *Checkpoint) { c.Origin = "other.example" },
		"empty origin":      func(c *Checkpoint) { c.Origin = "" },
		"origin with space": func(c *Checkpoint) { c.Origin = "a b" },
		"origin with line":  func(c *Checkpoint) { c.Origin = origin + "\n1" },
		"short root":        func(c *Checkpoint) { c.Root = c.Root[:31] },
		"no root":           func(c *Checkpoint) { c.Root = nil },
		"empty extension":   func(c *Checkpoint) { c.Extensions = []string{""} },
		"two-line ext":      func(c *Checkpoint) { c.Extensions = []string{"a\nb"} },
	} {
		c := good
		edit(&c)
		if msg, err := SignCheckpoint(c, s); err == nil {
			t.Errorf("%s: SignCheckpoint signed\n%s", name, msg)
		}
	}
}

func TestNewSignerVerifierRejects(t *testing.T) {
	key := testKey("log")
	pub := key.Public().(ed25519.PublicKey)
	for _, name := range []string{"", "a b", "a+b", "a\tb", "a\nb", "\xff"} {
		if _, err := NewSigner(name, key); err == nil {
			t.Errorf("NewSigner(%q) succeeded", name)
		}
		if _, err := NewVerifier(name, pub); err == nil {
			t.Errorf("NewVerifier(%q) succeeded", name)
		}
	}
	if _, err := NewSigner(origin, key[:32]); err == nil {
		t.Error("NewSigner with a 32-byte key succeeded")
	}
	if _, err := NewVerifier(origin, pub[:31]); err == nil {
		t.Error("NewVerifier with a 31-byte key succeeded")
	}
	// A private key whose public half is wrong signs with the key its
	// seed gives, and says so in its key id.
	bad := append(ed25519.PrivateKey(nil), key...)
	bad[40] ^= 1
	if s, err := NewSigner(origin, bad); err != nil || s.KeyHash() != testSigner(t, origin, key).KeyHash() {
		t.Errorf("NewSigner with a wrong public half: %v", err)
	}
}

func BenchmarkSignCheckpoint(b *testing.B) {
	s := testSigner(b, origin, testKey("log"))
	c := sampleCheckpoint()
	for b.Loop() {
		if _, err := SignCheckpoint(c, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenCheckpoint(b *testing.B) {
	key := testKey("log")
	msg, _ := SignCheckpoint(sampleCheckpoint(), testSigner(b, origin, key))
	v := testVerifier(b, origin, key)
	for b.Loop() {
		if _, err := OpenCheckpoint(msg, v); err != nil {
			b.Fatal(err)
		}
	}
}
