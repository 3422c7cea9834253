package main

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/sms/webhook"
)

// fakeSMSC binds one ESME, answers submit_sm with a message id and, for each,
// sends a delivery receipt (deliver_sm) saying UNDELIV, twice: the second is
// a replay.
type fakeSMSC struct {
	ln      net.Listener
	mu      sync.Mutex
	submits int
	wmu     sync.Mutex
}

func newFakeSMSC(t *testing.T) *fakeSMSC {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSMSC{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *fakeSMSC) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submits
}

func (s *fakeSMSC) write(conn net.Conn, id, status, seq uint32, body []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := binary.BigEndian.AppendUint32(nil, uint32(16+len(body)))
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, status)
	b = binary.BigEndian.AppendUint32(b, seq)
	_, _ = conn.Write(append(b, body...))
}

func (s *fakeSMSC) serve(conn net.Conn) {
	defer conn.Close()
	seq := uint32(1000)
	for {
		var h [16]byte
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			return
		}
		n, id, sq := binary.BigEndian.Uint32(h[0:]), binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[12:])
		body := make([]byte, n-16)
		if _, err := io.ReadFull(conn, body); err != nil {
			return
		}
		switch id {
		case 0x00000009: // bind_transceiver
			s.write(conn, 0x80000009, 0, sq, []byte("FakeSMSC\x00"))
		case 0x00000004: // submit_sm
			s.mu.Lock()
			s.submits++
			msgID := "msg-" + strconv.Itoa(s.submits)
			s.mu.Unlock()
			s.write(conn, 0x80000004, 0, sq, []byte(msgID+"\x00"))
			text := "id:" + msgID + " sub:001 dlvrd:000 submit date:2311142213 done date:2311142214 stat:UNDELIV err:001 text:"
			receipt := []byte("\x00\x01\x01447700900123\x00\x05\x00Ringfence\x00")
			receipt = append(receipt, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(text)))
			receipt = append(receipt, text...)
			for range 2 { // the receipt, then its replay
				seq++
				s.write(conn, 0x00000005, 0, seq, receipt)
			}
		case 0x00000015: // enquire_link
			s.write(conn, 0x80000015, 0, sq, nil)
		case 0x00000006: // unbind
			s.write(conn, 0x80000006, 0, sq, nil)
			return
		}
	}
}

// TestServeSMPPReceiptFailover binds to an SMSC over SMPP 3.4; its UNDELIV
// receipt, over the bind, moves the message to the next step (the webhook
// gateway) with the same code; the replayed receipt changes nothing.
func TestServeSMPPReceiptFailover(t *testing.T) {
	smsc := newFakeSMSC(t)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var (
		mu    sync.Mutex
		texts []string
	)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.Verify(secret, r.Header, body, time.Now(), 0) != nil {
			w.WriteHeader(401)
			return
		}
		var ev webhook.Event
		json.Unmarshal(body, &ev)
		mu.Lock()
		texts = append(texts, ev.Data.Body)
		mu.Unlock()
		io.WriteString(w, `{"id":"gw-1"}`)
	}))
	defer gw.Close()
	env := map[string]string{
		"RINGFENCE_DATA_DIR":             t.TempDir(),
		"RINGFENCE_HTTP_ADDR":            "127.0.0.1:0",
		"RINGFENCE_BOOTSTRAP_API_KEY":    "bootstrap-key-for-smpp-test",
		"RINGFENCE_SMS_CHAIN":            "sms:smpp,sms:webhook",
		"RINGFENCE_SMS_SMPP_ADDR":        smsc.ln.Addr().String(),
		"RINGFENCE_SMS_SMPP_SYSTEM_ID":   "ringfence",
		"RINGFENCE_SMS_SMPP_PASSWORD":    "pw",
		"RINGFENCE_SMS_SMPP_SOURCE_ADDR": "Ringfence",
		"RINGFENCE_SMS_SMPP_SOURCE_TON":  "5",
		"RINGFENCE_SMS_WEBHOOK_URL":      gw.URL,
		"RINGFENCE_SMS_WEBHOOK_SECRET":   secret,
	}
	m, stop, logs := serveEnv(t, func(k string) string { return env[k] })
	defer stop()
	c := client{t: t, base: m.URL(), key: "bootstrap-key-for-smpp-test"}
	st, body := c.do("POST", "/v1/verifications", map[string]any{"phone": "+14155550123", "channel": "sms"})
	if st != http.StatusCreated {
		t.Fatalf("start: %d %v", st, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	var code string
	for time.Now().Before(deadline) && code == "" {
		mu.Lock()
		if len(texts) > 0 {
			if m := codeRE.FindStringSubmatch(texts[0]); m != nil {
				code = m[1]
			}
		}
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	if code == "" {
		t.Fatalf("the UNDELIV receipt did not move the message to the gateway; logs:\n%s", logs.String())
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	n := len(texts)
	mu.Unlock()
	if n != 1 || smsc.count() != 1 {
		t.Errorf("%d gateway messages and %d SMSC submits, want 1 each: the replayed receipt moved it again", n, smsc.count())
	}
	if !strings.Contains(logs.String(), "smpp receipt not applied") {
		t.Error("the replayed receipt was not refused")
	}
	if strings.Contains(logs.String(), "4155550123") || strings.Contains(logs.String(), code) {
		t.Error("the log holds the number or the code")
	}
	if st, body := c.do("POST", "/v1/verifications/"+body["id"].(string)+"/check", map[string]any{"code": code}); st != 200 || body["status"] != "approved" {
		t.Fatalf("check: %d %v", st, body)
	}
}
