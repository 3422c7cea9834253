package smpp

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestPDUBytes(t *testing.T) {
	// An enquire_link with sequence 1, per SMPP 3.4 §4.11.1: 16 octets of header.
	got := pdu{id: cmdEnquireLink, seq: 1}.bytes()
	want, _ := hex.DecodeString("00000010" + "00000015" + "00000000" + "00000001")
	if !bytes.Equal(got, want) {
		t.Errorf("enquire_link = % x, want % x", got, want)
	}
	p, err := readPDU(bytes.NewReader(pdu{id: cmdSubmitSMResp, status: 0x58, seq: 7, body: []byte("id\x00")}.bytes()))
	if err != nil || p.id != cmdSubmitSMResp || p.status != 0x58 || p.seq != 7 || string(p.body) != "id\x00" {
		t.Errorf("round trip = %+v, %v", p, err)
	}
}

func TestBindBody(t *testing.T) {
	got := bindBody("sys", "pw", "OTP")
	want := []byte("sys\x00pw\x00OTP\x00\x34\x00\x00\x00")
	if !bytes.Equal(got, want) {
		t.Errorf("bind body = % x, want % x", got, want)
	}
}

func TestSubmitBody(t *testing.T) {
	got := submitBody(address{5, 0, "RF"}, address{1, 1, "4477"}, codingDefault, []byte("hi"), true)
	want := []byte("\x00" + "\x05\x00RF\x00" + "\x01\x014477\x00" + "\x00\x00\x00" + "\x00\x00" + "\x01\x00\x00\x00" + "\x02hi")
	if !bytes.Equal(got, want) {
		t.Errorf("submit body = % x\nwant          % x", got, want)
	}
	long := []byte(strings.Repeat("a", 300))
	got = submitBody(address{5, 0, "RF"}, address{1, 1, "4477"}, codingDefault, long, false)
	tail := append([]byte("\x00\x04\x24\x01\x2c"), long...) // sm_length 0, message_payload of 300
	if !bytes.HasSuffix(got, tail) {
		t.Errorf("long submit body does not end with message_payload: % x", got[len(got)-len(tail):][:8])
	}
}

func TestReadPDURejects(t *testing.T) {
	for _, raw := range []string{
		"0000000f000000150000000000000001", // shorter than a header
		"7fffffff000000050000000000000001", // far too long
	} {
		b, _ := hex.DecodeString(raw)
		if _, err := readPDU(bytes.NewReader(b)); err != errFraming {
			t.Errorf("readPDU(%s) err = %v", raw, err)
		}
	}
	if _, err := readPDU(bytes.NewReader([]byte{0, 0, 0, 20, 0, 0, 0, 4})); err == nil {
		t.Error("short header accepted")
	}
}

func TestSequenceWraps(t *testing.T) {
	var s session
	s.seq.Store(0x7FFFFFFE)
	if a, b := s.nextSeq(), s.nextSeq(); a != 0x7FFFFFFF || b != 1 {
		t.Errorf("sequence after 0x7FFFFFFE = %#x, %#x", a, b)
	}
}
