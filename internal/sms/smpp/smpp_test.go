package smpp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

const (
	testTo   = "+447700900123"
	testBody = "Your ringfence code is 493817"
	testCode = "493817"
	testPass = "s3cr3t!"
)

// newSender starts a Sender bound to c; receipts go to the returned channel.
func newSender(t *testing.T, c *smsc, mod func(*Config)) (*Sender, chan Status) {
	t.Helper()
	receipts := make(chan Status, 10)
	cfg := Config{
		Addr: c.addr(), SystemID: "ringfence", Password: testPass, SystemType: "OTP",
		SourceAddr: "Ringfence", SourceTON: 5, SourceNPI: 0,
		EnquireLink: time.Hour, ResponseTimeout: 2 * time.Second, Backoff: 5 * time.Millisecond,
		OnReceipt: func(s Status) { receipts <- s },
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, receipts
}

func testMessage() sms.Message {
	return sms.Message{ID: "out_1", To: testTo, Channel: sms.SMS, Body: testBody}
}

func assertSafe(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{testTo, strings.TrimPrefix(testTo, "+"), testBody, testCode, testPass} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

// eventually fails the test if cond is not true within 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sendUntilBound retries a send while the bind is being re-established.
func sendUntilBound(t *testing.T, s *Sender, m sms.Message) sms.Result {
	t.Helper()
	var res sms.Result
	eventually(t, "a successful send", func() bool {
		var err error
		res, err = s.Send(context.Background(), m)
		var e *sms.Error
		if err != nil && (!errors.As(err, &e) || !e.Temporary) {
			t.Fatalf("Send: %v", err)
		}
		return err == nil
	})
	return res
}

func TestSendAndReceipt(t *testing.T) {
	c := newSMSC(t)
	s, receipts := newSender(t, c, nil)
	res, err := s.Send(context.Background(), testMessage())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderID != "msg-1" {
		t.Errorf("ProviderID = %q", res.ProviderID)
	}
	c.mu.Lock()
	bind, sub := c.bindFields, c.submits[0]
	c.mu.Unlock()
	if len(bind) != 3 || bind[0] != "ringfence" || bind[1] != testPass || bind[2] != "OTP" {
		t.Errorf("bind = %q", bind)
	}
	want := submitted{
		srcTON: 5, srcNPI: 0, src: "Ringfence", dstTON: 1, dstNPI: 1, dst: "447700900123",
		registered: 1, coding: 0, sm: []byte(testBody),
	}
	if fmt.Sprint(sub) != fmt.Sprint(want) {
		t.Errorf("submit_sm = %+v\nwant       %+v", sub, want)
	}
	select {
	case st := <-receipts:
		if st != (Status{ProviderID: "msg-1", State: StatusDelivered}) {
			t.Errorf("receipt = %+v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no receipt")
	}
	select {
	case p := <-c.received:
		if p.id != 0x80000005 || p.status != 0 {
			t.Errorf("deliver_sm answered with 0x%08x status 0x%08x", p.id, p.status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deliver_sm not acknowledged")
	}
	if s.Name() != "smpp" {
		t.Errorf("Name = %q", s.Name())
	}
	if _, ok := sms.Sender(s).(sms.Deduplicator); ok {
		t.Error("smpp claims to deduplicate")
	}
}

func TestSendCodings(t *testing.T) {
	ucs2 := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = binary.BigEndian.AppendUint16(b, uint16(r))
		}
		return b
	}
	long := strings.Repeat("a", 161)
	tests := []struct {
		name, body  string
		coding      byte
		sm, payload []byte
	}{
		{"gsm extension", "Code [493817] €5", 0, []byte("Code \x1b<493817\x1b> \x1be5"), nil},
		{"gsm specials", "Ça va? Código 1234 ¿ñ", 8, nil, nil}, // ó is not in GSM 03.38
		{"gsm latin", "Ça va? Còdigo 1234 ¿ñ", 0, []byte("\x09a va? C\x08digo 1234 \x60\x7d"), nil},
		{"ucs2", "Ваш код 493817", 8, ucs2("Ваш код 493817"), nil},
		{"long gsm", long, 0, nil, []byte(long)},
		{"long ucs2", strings.Repeat("к", 71), 8, nil, ucs2(strings.Repeat("к", 71))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newSMSC(t)
			s, _ := newSender(t, c, nil)
			m := testMessage()
			m.Body = tt.body
			if _, err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			c.mu.Lock()
			sub := c.submits[0]
			c.mu.Unlock()
			if sub.coding != tt.coding {
				t.Errorf("data_coding = %d, want %d", sub.coding, tt.coding)
			}
			if tt.payload != nil {
				if len(sub.sm) != 0 || !bytes.Equal(sub.payload, tt.payload) {
					t.Errorf("sm % x payload % x", sub.sm, sub.payload)
				}
			} else if tt.sm != nil && !bytes.Equal(sub.sm, tt.sm) {
				t.Errorf("short_message % x, want % x", sub.sm, tt.sm)
			}
		})
	}
}

func TestSendRefusedStatuses(t *testing.T) {
	tests := []struct {
		name      string
		status    uint32
		nack      bool
		code      string
		temporary bool
	}{
		{"throttled", 0x58, false, "smpp_0x00000058", true},
		{"queue full", 0x14, false, "smpp_0x00000014", true},
		{"system error", 0x08, false, "smpp_0x00000008", true},
		{"invalid destination", 0x0B, false, "smpp_0x0000000B", false},
		{"submit failed", 0x45, false, "smpp_0x00000045", false},
		{"generic nack", 0, true, "smpp_0x00000003", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newSMSC(t)
			c.set(func(c *smsc) { c.submitStatus, c.nack = tt.status, tt.nack })
			s, _ := newSender(t, c, nil)
			_, err := s.Send(context.Background(), testMessage())
			var e *sms.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v", err)
			}
			if e.Provider != "smpp" || e.Code != tt.code || e.Temporary != tt.temporary || e.Status != 0 {
				t.Errorf("err = %+v, want %s temporary %v", e, tt.code, tt.temporary)
			}
			assertSafe(t, err)
		})
	}
}

func TestBindRefused(t *testing.T) {
	c := newSMSC(t)
	c.set(func(c *smsc) { c.bindStatus = 0x0E }) // ESME_RINVPASWD
	s, _ := newSender(t, c, nil)
	_, err := s.Send(context.Background(), testMessage())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != "smpp_0x0000000E" || !e.Temporary {
		t.Fatalf("err = %v, want temporary smpp_0x0000000E", err)
	}
	assertSafe(t, err)
	// The Sender keeps trying: once the SMSC accepts, sends go through.
	c.set(func(c *smsc) { c.bindStatus = 0 })
	if res := sendUntilBound(t, s, testMessage()); res.ProviderID != "msg-1" {
		t.Errorf("ProviderID = %q", res.ProviderID)
	}
	if n := c.binds.Load(); n < 2 {
		t.Errorf("binds = %d", n)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := New(Config{Addr: addr, SystemID: "x", SourceAddr: "Ringfence", Backoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Send(context.Background(), testMessage())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary || e.Err == nil {
		t.Fatalf("err = %v", err)
	}
	assertSafe(t, err)
}

func TestReconnect(t *testing.T) {
	c := newSMSC(t)
	s, _ := newSender(t, c, nil)
	if _, err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	c.set(func(c *smsc) { c.dropNext = true })
	_, err := s.Send(context.Background(), testMessage())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary {
		t.Fatalf("send on a dropped connection: err = %v", err)
	}
	assertSafe(t, err)
	if res := sendUntilBound(t, s, testMessage()); res.ProviderID != "msg-2" {
		t.Errorf("ProviderID after reconnect = %q", res.ProviderID)
	}
	if n := c.binds.Load(); n != 2 {
		t.Errorf("binds = %d, want 2", n)
	}
}

func TestEnquireLink(t *testing.T) {
	c := newSMSC(t)
	s, _ := newSender(t, c, func(cfg *Config) {
		cfg.EnquireLink = 10 * time.Millisecond
		cfg.ResponseTimeout = 200 * time.Millisecond
	})
	if _, err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "enquire_link", func() bool { return c.links.Load() >= 3 })
	if c.binds.Load() != 1 {
		t.Errorf("binds = %d while the link answered", c.binds.Load())
	}
	// The SMSC stops answering: the Sender gives up on the session and binds again.
	c.set(func(c *smsc) { c.silentLinks = true })
	eventually(t, "a new bind", func() bool { return c.binds.Load() >= 2 })
}

func TestAnswersSMSCRequests(t *testing.T) {
	c := newSMSC(t)
	s, _ := newSender(t, c, nil)
	if _, err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	<-c.received // the receipt's deliver_sm_resp
	conn := c.current()
	c.write(conn, 0x00000015, 0, 900, nil) // enquire_link
	c.write(conn, 0x00000103, 0, 901, nil) // data_sm: not supported
	c.write(conn, 0x00000102, 0, 902, nil) // alert_notification: no response
	c.write(conn, 0x80000004, 0, 999, []byte("stray\x00"))
	for _, want := range []struct{ id, status, seq uint32 }{{0x80000015, 0, 900}, {0x80000000, 0x03, 901}} {
		select {
		case p := <-c.received:
			if p.id != want.id || p.status != want.status || p.seq != want.seq {
				t.Errorf("answer = 0x%08x 0x%08x %d, want 0x%08x 0x%08x %d", p.id, p.status, p.seq, want.id, want.status, want.seq)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no answer to 0x%08x", want.id)
		}
	}
	if _, err := s.Send(context.Background(), testMessage()); err != nil {
		t.Errorf("session broken after SMSC requests: %v", err)
	}
}

func TestSMSCUnbinds(t *testing.T) {
	c := newSMSC(t)
	s, _ := newSender(t, c, nil)
	if _, err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	<-c.received
	c.write(c.current(), 0x00000006, 0, 77, nil)
	select {
	case p := <-c.received:
		if p.id != 0x80000006 || p.seq != 77 {
			t.Errorf("answer = 0x%08x seq %d", p.id, p.seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("unbind not answered")
	}
	sendUntilBound(t, s, testMessage())
	if c.binds.Load() != 2 {
		t.Errorf("binds = %d", c.binds.Load())
	}
}

func TestGarbageFromSMSC(t *testing.T) {
	for _, tt := range []struct {
		name string
		raw  []byte
	}{
		{"short length", []byte{0, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"huge length", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newSMSC(t)
			s, _ := newSender(t, c, nil)
			if _, err := s.Send(context.Background(), testMessage()); err != nil {
				t.Fatal(err)
			}
			conn := c.current()
			c.mu.Lock()
			m := c.wmu[conn]
			c.mu.Unlock()
			m.Lock()
			_, _ = conn.Write(tt.raw)
			m.Unlock()
			eventually(t, "a new bind", func() bool { return c.binds.Load() >= 2 })
			sendUntilBound(t, s, testMessage())
		})
	}
}

func TestMalformedDeliverSM(t *testing.T) {
	c := newSMSC(t)
	s, receipts := newSender(t, c, nil)
	c.set(func(c *smsc) { c.receipts = false })
	if _, err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	conn := c.current()
	c.write(conn, 0x00000005, 0, 500, []byte{0, 1, 1}) // cut short
	c.write(conn, 0x00000005, 0, 501, receiptBody(0x00, "Hello from a handset", nil))
	for _, seq := range []uint32{500, 501} {
		select {
		case p := <-c.received:
			if p.id != 0x80000005 || p.seq != seq || p.status != 0 {
				t.Errorf("answer = 0x%08x seq %d status %d", p.id, p.seq, p.status)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("deliver_sm not answered")
		}
	}
	select {
	case st := <-receipts:
		t.Errorf("receipt from a non-receipt: %+v", st)
	default:
	}
}

func TestSendContext(t *testing.T) {
	c := newSMSC(t)
	hold := make(chan struct{})
	defer close(hold)
	c.set(func(c *smsc) { c.hold = hold })
	s, _ := newSender(t, c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := s.Send(ctx, testMessage())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	assertSafe(t, err)
	if _, err := s.Send(ctx, testMessage()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestResponseTimeout(t *testing.T) {
	c := newSMSC(t)
	hold := make(chan struct{})
	defer close(hold)
	c.set(func(c *smsc) { c.hold = hold })
	s, _ := newSender(t, c, func(cfg *Config) { cfg.ResponseTimeout = 100 * time.Millisecond })
	_, err := s.Send(context.Background(), testMessage())
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary || !errors.Is(err, errTimeout) {
		t.Fatalf("err = %v", err)
	}
	assertSafe(t, err)
}

func TestWindow(t *testing.T) {
	c := newSMSC(t)
	hold := make(chan struct{})
	c.set(func(c *smsc) { c.hold = hold; c.receipts = false })
	s, _ := newSender(t, c, func(cfg *Config) { cfg.Window = 2 })
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Send(context.Background(), testMessage())
			errs <- err
		}()
	}
	eventually(t, "two submits in flight", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.inflight == 2
	})
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxInflight != 2 || len(c.submits) != 5 {
		t.Errorf("max in flight = %d, submits = %d", c.maxInflight, len(c.submits))
	}
}

func TestClose(t *testing.T) {
	c := newSMSC(t)
	s, _ := newSender(t, c, nil)
	if _, err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if c.unbinds.Load() != 1 {
		t.Errorf("unbinds = %d", c.unbinds.Load())
	}
	s.Close() // idempotent
	_, err := s.Send(context.Background(), testMessage())
	var e *sms.Error
	if !errors.As(err, &e) || !errors.Is(err, ErrClosed) {
		t.Fatalf("err after Close = %v", err)
	}
}

func TestCloseWhileBinding(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Config{Addr: ln.Addr().String(), SystemID: "x", SourceAddr: "R", ResponseTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_, err := s.Send(context.Background(), testMessage())
		if !errors.Is(err, ErrClosed) {
			t.Errorf("err = %v", err)
		}
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	<-done
}

func TestSendRefused(t *testing.T) {
	c := newSMSC(t)
	s, _ := newSender(t, c, nil)
	for _, tt := range []struct {
		name string
		mod  func(*sms.Message)
		code string
	}{
		{"whatsapp", func(m *sms.Message) { m.Channel = sms.WhatsApp }, sms.CodeUnsupportedChannel},
		{"voice", func(m *sms.Message) { m.Channel = sms.Voice }, sms.CodeUnsupportedChannel},
		{"no plus", func(m *sms.Message) { m.To = "447700900123" }, sms.CodeInvalidMessage},
		{"letters", func(m *sms.Message) { m.To = "+4477009001x3" }, sms.CodeInvalidMessage},
		{"no body", func(m *sms.Message) { m.Body = "" }, sms.CodeInvalidMessage},
		{"huge body", func(m *sms.Message) { m.Body = strings.Repeat("a", 70000) }, sms.CodeInvalidMessage},
	} {
		m := testMessage()
		tt.mod(&m)
		_, err := s.Send(context.Background(), m)
		var e *sms.Error
		if !errors.As(err, &e) || e.Code != tt.code || e.Temporary {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.submits) != 0 {
		t.Errorf("%d submits", len(c.submits))
	}
}

func TestNew(t *testing.T) {
	good := Config{Addr: "127.0.0.1:2775", SystemID: "ringfence", Password: testPass, SourceAddr: "Ringfence"}
	tests := []struct {
		name  string
		mod   func(*Config)
		wants []string
	}{
		{"valid", func(*Config) {}, nil},
		{"addr", func(c *Config) { c.Addr = "smsc.example" }, []string{"Addr"}},
		{"system id", func(c *Config) { c.SystemID = "" }, []string{"SystemID"}},
		{"long system id", func(c *Config) { c.SystemID = strings.Repeat("s", 16) }, []string{"SystemID"}},
		{"password", func(c *Config) { c.Password = "123456789" }, []string{"Password"}},
		{"system type", func(c *Config) { c.SystemType = strings.Repeat("t", 13) }, []string{"SystemType"}},
		{"source", func(c *Config) { c.SourceAddr = "" }, []string{"SourceAddr"}},
		{"nul", func(c *Config) { c.Password = "a\x00b" }, []string{"NUL"}},
		{"negative", func(c *Config) { c.Window = -1 }, []string{"Window"}},
		{"all", func(c *Config) { *c = Config{Password: "longer than 8", EnquireLink: -1} },
			[]string{"Addr", "SystemID", "Password", "SourceAddr", "EnquireLink"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			s, err := New(cfg)
			if len(tt.wants) == 0 {
				if err != nil || s == nil {
					t.Fatalf("New = %v, %v", s, err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if strings.Contains(err.Error(), "longer than 8") || strings.Contains(err.Error(), testPass) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}
