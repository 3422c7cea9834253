package smpp

import (
	"bytes"
	"strings"
	"testing"
)

func TestGSMAlphabet(t *testing.T) {
	if len(gsmBasic) != 128 {
		t.Fatalf("default alphabet has %d runes", len(gsmBasic))
	}
	// Spot checks against the GSM 03.38 table.
	for r, want := range map[rune]byte{'@': 0x00, '£': 0x01, 'è': 0x04, '\n': 0x0A, 'Δ': 0x10, ' ': 0x20, '¤': 0x24, '0': 0x30, '¡': 0x40, 'A': 0x41, 'Ä': 0x5B, '§': 0x5F, '¿': 0x60, 'a': 0x61, 'à': 0x7F} {
		if got, ok := gsmIndex[r]; !ok || got != want {
			t.Errorf("%q = %#x, %v, want %#x", r, got, ok, want)
		}
	}
	if _, ok := gsmIndex['\x1b']; ok {
		t.Error("escape is a character")
	}
}

func TestEncodeText(t *testing.T) {
	tests := []struct {
		in     string
		coding byte
		out    []byte
		single bool
	}{
		{"Code 1234", codingDefault, []byte("Code 1234"), true},
		{"{€}", codingDefault, []byte{0x1b, 0x28, 0x1b, 0x65, 0x1b, 0x29}, true},
		{"Ñandù", codingDefault, []byte{0x5d, 'a', 'n', 'd', 0x06}, true},
		{"Ñandú", codingUCS2, []byte{0x00, 0xd1, 0x00, 'a', 0x00, 'n', 0x00, 'd', 0x00, 0xfa}, true}, // ú is not in it
		{"ç", codingUCS2, []byte{0x00, 0xe7}, true},                                                  // only Ç is in the alphabet
		{"код", codingUCS2, []byte{0x04, 0x3a, 0x04, 0x3e, 0x04, 0x34}, true},
		{"😀", codingUCS2, []byte{0xd8, 0x3d, 0xde, 0x00}, true},
		{strings.Repeat("a", 160), codingDefault, []byte(strings.Repeat("a", 160)), true},
		{strings.Repeat("a", 161), codingDefault, []byte(strings.Repeat("a", 161)), false},
		{strings.Repeat("[", 81), codingDefault, bytes.Repeat([]byte{0x1b, 0x3c}, 81), false},
		{strings.Repeat("к", 70), codingUCS2, bytes.Repeat([]byte{0x04, 0x3a}, 70), true},
		{strings.Repeat("к", 71), codingUCS2, bytes.Repeat([]byte{0x04, 0x3a}, 71), false},
	}
	for _, tt := range tests {
		out, coding, single := encodeText(tt.in)
		if coding != tt.coding || !bytes.Equal(out, tt.out) || single != tt.single {
			t.Errorf("encodeText(%.20q) = % x, %d, %v, want % x, %d, %v", tt.in, out, coding, single, tt.out, tt.coding, tt.single)
		}
	}
}
