package smpp

import (
	"testing"
)

func TestParseReceipt(t *testing.T) {
	std := "id:0123456789 sub:001 dlvrd:001 submit date:2311142213 done date:2311142214 stat:DELIVRD err:000 text:Your code 49381"
	tests := []struct {
		name string
		d    deliverSM
		want Status
		ok   bool
	}{
		{"delivered", deliverSM{esmClass: 0x04, shortMessage: []byte(std)}, Status{"0123456789", StatusDelivered, ""}, true},
		{"undeliverable", deliverSM{esmClass: 0x04, shortMessage: []byte("id:AB12 sub:001 dlvrd:000 submit date:2311142213 done date:2311142214 stat:UNDELIV err:034 text:")},
			Status{"AB12", StatusFailed, "034"}, true},
		{"lower case", deliverSM{esmClass: 0x04, shortMessage: []byte("ID:x1 Stat:expired Err:0 Text:stat:DELIVRD")}, Status{"x1", StatusFailed, ""}, true},
		{"enroute", deliverSM{esmClass: 0x04, shortMessage: []byte("id:1 stat:ENROUTE")}, Status{"1", StatusSubmitted, ""}, true},
		{"accepted", deliverSM{esmClass: 0x04, shortMessage: []byte("id:1 stat:ACCEPTD")}, Status{"1", StatusSent, ""}, true},
		{"rejected", deliverSM{esmClass: 0x04, shortMessage: []byte("id:1 stat:REJECTD err:0x45")}, Status{"1", StatusFailed, "0x45"}, true},
		{"unknown", deliverSM{esmClass: 0x04, shortMessage: []byte("id:1 stat:WHATEVR")}, Status{"1", StatusUnknown, ""}, true},
		{"err echoes number", deliverSM{esmClass: 0x04, shortMessage: []byte("id:1 stat:UNDELIV err:447700900123")}, Status{"1", StatusFailed, ""}, true},
		{"tlvs win", deliverSM{esmClass: 0x04, shortMessage: []byte("id:old stat:ENROUTE"), tlvs: map[uint16][]byte{
			tagReceiptedMessageID: []byte("new\x00"), tagMessageState: {5}, tagNetworkErrorCode: {3, 0x01, 0x02},
		}}, Status{"new", StatusFailed, "258"}, true},
		{"payload text", deliverSM{esmClass: 0x04, tlvs: map[uint16][]byte{tagMessagePayload: []byte(std)}}, Status{"0123456789", StatusDelivered, ""}, true},
		{"intermediate notification", deliverSM{esmClass: 0x20, shortMessage: []byte(std)}, Status{}, false},
		{"mobile originated", deliverSM{esmClass: 0x00, shortMessage: []byte(std)}, Status{}, false},
		{"no id", deliverSM{esmClass: 0x04, shortMessage: []byte("stat:DELIVRD")}, Status{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseReceipt(tt.d)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseReceipt = %+v, %v, want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseDeliverSM(t *testing.T) {
	body := receiptBody(0x04, "id:7 stat:DELIVRD", map[uint16][]byte{tagMessageState: {2}})
	d, err := parseDeliverSM(body)
	if err != nil {
		t.Fatal(err)
	}
	if d.esmClass != 0x04 || string(d.shortMessage) != "id:7 stat:DELIVRD" || len(d.tlvs[tagMessageState]) != 1 {
		t.Errorf("deliver_sm = %+v", d)
	}
	// Every truncation fails, except the one that drops the whole optional parameter.
	for n := range len(body) {
		_, err := parseDeliverSM(body[:n])
		if wantErr := n != len(body)-5; (err != nil) != wantErr {
			t.Errorf("truncated to %d of %d bytes: err = %v", n, len(body), err)
		}
	}
}
