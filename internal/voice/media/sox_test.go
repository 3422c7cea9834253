package media

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// requireSox skips the test when sox is not installed; CI has it.
func requireSox(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("sox"); err != nil {
		t.Skip("sox is not on PATH: install the sox package to compare G.711 with it")
	}
}

// sox runs sox with args, failing the test on error.
func sox(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("sox", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("sox %v: %v\n%s", args, err, out)
	}
}

// raw16 is the sox format of raw 8 kHz signed 16-bit little-endian mono.
var raw16 = []string{"-t", "raw", "-r", "8000", "-e", "signed-integer", "-b", "16", "-c", "1", "-L"}

// rawLaw is the sox format of raw 8 kHz G.711 ("u-law" or "a-law").
func rawLaw(encoding string) []string {
	return []string{"-t", "raw", "-r", "8000", "-e", encoding, "-b", "8", "-c", "1"}
}

func args(parts ...[]string) []string {
	var a []string
	for _, p := range parts {
		a = append(a, p...)
	}
	return a
}

// readPCM reads a raw signed 16-bit little-endian file.
func readPCM(t testing.TB, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm
}

// writePCM writes pcm as a raw signed 16-bit little-endian file.
func writePCM(t testing.TB, path string, pcm []int16) {
	t.Helper()
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// soxToPCM converts any audio file sox reads to 8 kHz mono 16-bit samples.
func soxToPCM(t testing.TB, in string) []int16 {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pcm.raw")
	sox(t, args([]string{in}, raw16, []string{out})...)
	return readPCM(t, out)
}
