package smpp

import (
	"encoding/binary"
	"unicode/utf16"
)

// Data codings (SMPP 3.4 §5.2.19) used here.
const (
	codingDefault byte = 0x00 // SMSC default alphabet: GSM 03.38
	codingUCS2    byte = 0x08
)

// gsmBasic is the GSM 03.38 default alphabet: the rune at each septet value.
// 0x1B is the escape to the extension table and is never a character here.
var gsmBasic = []rune("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")

// gsmExtension maps the runes of the GSM 03.38 extension table to the septet
// that follows the escape.
var gsmExtension = map[rune]byte{
	'\f': 0x0A, '^': 0x14, '{': 0x28, '}': 0x29, '\\': 0x2F,
	'[': 0x3C, '~': 0x3D, ']': 0x3E, '|': 0x40, '€': 0x65,
}

// gsmIndex maps each rune of the default alphabet to its septet.
var gsmIndex = func() map[rune]byte {
	m := make(map[rune]byte, len(gsmBasic))
	for i, r := range gsmBasic {
		if i != 0x1B {
			m[r] = byte(i)
		}
	}
	return m
}()

// encodeGSM returns text in the GSM 03.38 default alphabet, one septet per
// octet (unpacked, as SMPP carries it), or false if a rune is not in it.
func encodeGSM(text string) ([]byte, bool) {
	out := make([]byte, 0, len(text))
	for _, r := range text {
		if c, ok := gsmIndex[r]; ok {
			out = append(out, c)
		} else if c, ok := gsmExtension[r]; ok {
			out = append(out, 0x1B, c)
		} else {
			return nil, false
		}
	}
	return out, true
}

// encodeUCS2 returns text in UTF-16BE (UCS-2 with surrogate pairs for runes
// beyond the Basic Multilingual Plane, as handsets read it).
func encodeUCS2(text string) []byte {
	units := utf16.Encode([]rune(text))
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		out = binary.BigEndian.AppendUint16(out, u)
	}
	return out
}

// encodeText returns text as submit_sm carries it: the GSM default alphabet when
// every rune is in it, else UCS-2, with the data_coding and whether it fits one
// SMS (160 septets, or 70 UCS-2 units).
func encodeText(text string) (data []byte, coding byte, single bool) {
	if b, ok := encodeGSM(text); ok {
		return b, codingDefault, len(b) <= 160
	}
	b := encodeUCS2(text)
	return b, codingUCS2, len(b) <= 140
}
