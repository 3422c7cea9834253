package smpp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// submitted is a submit_sm as the fake SMSC decoded it, field by field.
type submitted struct {
	serviceType          string
	srcTON, srcNPI       byte
	src                  string
	dstTON, dstNPI       byte
	dst                  string
	esmClass, registered byte
	coding               byte
	sm                   []byte
	payload              []byte
}

// smsc is an in-test SMSC: it accepts binds, answers submit_sm with message ids,
// sends a delivery receipt for each, answers enquire_link and unbind, and can be
// told to refuse binds, refuse or hold submits, ignore enquire_link or drop a
// connection.
type smsc struct {
	t  *testing.T
	ln net.Listener

	binds    atomic.Int32
	links    atomic.Int32
	unbinds  atomic.Int32
	received chan pdu // responses the ESME sent (deliver_sm_resp, generic_nack...)

	mu           sync.Mutex
	bindStatus   uint32
	submitStatus uint32
	nack         bool          // answer submit_sm with generic_nack
	hold         chan struct{} // when set, submit_sm are answered once it is closed
	silentLinks  bool          // do not answer enquire_link
	dropNext     bool          // drop the connection at the next submit_sm, unanswered
	receipts     bool
	bindFields   []string
	submits      []submitted
	conns        []net.Conn
	wmu          map[net.Conn]*sync.Mutex
	inflight     int
	maxInflight  int
	seq          uint32
}

func newSMSC(t *testing.T) *smsc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &smsc{t: t, ln: ln, received: make(chan pdu, 100), receipts: true, wmu: map[net.Conn]*sync.Mutex{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns = append(c.conns, conn)
			c.wmu[conn] = &sync.Mutex{}
			c.mu.Unlock()
			go c.serve(conn)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		c.mu.Lock()
		for _, conn := range c.conns {
			conn.Close()
		}
		c.mu.Unlock()
	})
	return c
}

func (c *smsc) addr() string { return c.ln.Addr().String() }

func (c *smsc) set(f func(c *smsc)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// write sends a PDU on conn, framing it by hand.
func (c *smsc) write(conn net.Conn, id, status, seq uint32, body []byte) {
	c.mu.Lock()
	m := c.wmu[conn]
	c.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	b := binary.BigEndian.AppendUint32(nil, uint32(16+len(body)))
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, status)
	b = binary.BigEndian.AppendUint32(b, seq)
	_, _ = conn.Write(append(b, body...))
}

// current returns the last connection accepted.
func (c *smsc) current() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.conns) == 0 {
		return nil
	}
	return c.conns[len(c.conns)-1]
}

func (c *smsc) nextSeq() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	return c.seq
}

// cstrings splits b into n C-Octet Strings and the rest.
func cstrings(b []byte, n int) ([]string, []byte, bool) {
	var out []string
	for range n {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return nil, nil, false
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out, b, true
}

// parseSubmit decodes a submit_sm body per SMPP 3.4 §4.4.1, independently of the
// package's encoder.
func parseSubmit(b []byte) (submitted, bool) {
	var s submitted
	f, b, ok := cstrings(b, 1)
	if !ok || len(b) < 3 {
		return s, false
	}
	s.serviceType, s.srcTON, s.srcNPI = f[0], b[0], b[1]
	f, b, ok = cstrings(b[2:], 1)
	if !ok || len(b) < 3 {
		return s, false
	}
	s.src, s.dstTON, s.dstNPI = f[0], b[0], b[1]
	f, b, ok = cstrings(b[2:], 1)
	if !ok || len(b) < 3 {
		return s, false
	}
	s.dst, s.esmClass = f[0], b[0]
	_, b, ok = cstrings(b[3:], 2) // after protocol_id and priority_flag
	if !ok || len(b) < 5 {
		return s, false
	}
	s.registered, s.coding = b[0], b[2]
	n := int(b[4])
	b = b[5:]
	if len(b) < n {
		return s, false
	}
	s.sm, b = b[:n], b[n:]
	for len(b) >= 4 {
		tag, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+l {
			return s, false
		}
		if tag == 0x0424 {
			s.payload = b[4 : 4+l]
		}
		b = b[4+l:]
	}
	return s, len(b) == 0
}

func (c *smsc) serve(conn net.Conn) {
	defer conn.Close()
	for {
		var h [16]byte
		if _, err := readFull(conn, h[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(h[0:])
		id, seq := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[12:])
		if n < 16 || n > 1<<20 {
			c.t.Errorf("SMSC read command_length %d", n)
			return
		}
		body := make([]byte, n-16)
		if _, err := readFull(conn, body); err != nil {
			return
		}
		switch id {
		case 0x00000009: // bind_transceiver
			c.binds.Add(1)
			f, rest, ok := cstrings(body, 3)
			if !ok || len(rest) != 4 || rest[0] != 0x34 || rest[3] != 0 {
				c.t.Errorf("bind_transceiver body % x", body)
			}
			c.mu.Lock()
			c.bindFields = f
			status := c.bindStatus
			c.mu.Unlock()
			resp := []byte("FakeSMSC\x00")
			if status != 0 {
				resp = nil
			}
			c.write(conn, 0x80000009, status, seq, resp)
		case 0x00000004: // submit_sm
			s, ok := parseSubmit(body)
			if !ok {
				c.t.Errorf("submit_sm body % x", body)
			}
			c.mu.Lock()
			if c.dropNext {
				c.dropNext = false
				c.mu.Unlock()
				return
			}
			c.submits = append(c.submits, s)
			msgID := fmt.Sprintf("msg-%d", len(c.submits))
			status, nack, hold, receipts := c.submitStatus, c.nack, c.hold, c.receipts
			c.inflight++
			c.maxInflight = max(c.maxInflight, c.inflight)
			c.mu.Unlock()
			go func() {
				if hold != nil {
					<-hold
				}
				c.mu.Lock()
				c.inflight--
				c.mu.Unlock()
				switch {
				case nack:
					c.write(conn, 0x80000000, 0x00000003, seq, nil)
				case status != 0:
					c.write(conn, 0x80000004, status, seq, nil)
				default:
					c.write(conn, 0x80000004, 0, seq, []byte(msgID+"\x00"))
					if receipts {
						c.write(conn, 0x00000005, 0, c.nextSeq(), receiptBody(0x04,
							"id:"+msgID+" sub:001 dlvrd:001 submit date:2311142213 done date:2311142214 stat:DELIVRD err:000 text:Your ringfence cod", nil))
					}
				}
			}()
		case 0x00000015: // enquire_link
			c.links.Add(1)
			c.mu.Lock()
			silent := c.silentLinks
			c.mu.Unlock()
			if !silent {
				c.write(conn, 0x80000015, 0, seq, nil)
			}
		case 0x00000006: // unbind
			c.unbinds.Add(1)
			c.write(conn, 0x80000006, 0, seq, nil)
			return
		default:
			if id&0x80000000 == 0 {
				c.t.Errorf("SMSC got command 0x%08x", id)
			}
			select {
			case c.received <- pdu{id: id, status: binary.BigEndian.Uint32(h[8:]), seq: seq, body: body}:
			default:
			}
		}
	}
}

func readFull(conn net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := conn.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// receiptBody builds a deliver_sm body by hand (SMPP 3.4 §4.6.1) with the given
// esm_class, short_message and optional parameters.
func receiptBody(esm byte, text string, tlvs map[uint16][]byte) []byte {
	b := []byte("\x00")              // service_type
	b = append(b, 1, 1)              // source ton, npi
	b = append(b, "447700900123"...) // source: the recipient of the original
	b = append(b, 0, 5, 0)           // NUL, dest ton, npi
	b = append(b, "Ringfence\x00"...)
	b = append(b, esm, 0, 0, 0, 0, 0, 0) // esm_class, protocol, priority, 2 empty times, registered, replace
	b = append(b, 0, 0, byte(len(text))) // data_coding, sm_default_msg_id, sm_length
	b = append(b, text...)
	for tag, v := range tlvs {
		b = binary.BigEndian.AppendUint16(b, tag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	return b
}
