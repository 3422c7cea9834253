package smpp

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// session is one connection to the SMSC.
type session struct {
	conn      net.Conn
	timeout   time.Duration
	onReceipt func(Status)
	log       *slog.Logger
	seq       atomic.Uint32
	wg        sync.WaitGroup // the reader and the keep-alive

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	pending map[uint32]chan pdu

	once sync.Once
	err  error         // why the session ended, set before dead is closed
	dead chan struct{} // closed when the session ends
}

// newSession starts reading conn.
func newSession(conn net.Conn, timeout time.Duration, onReceipt func(Status), log *slog.Logger) *session {
	s := &session{
		conn:      conn,
		timeout:   timeout,
		onReceipt: onReceipt,
		log:       log,
		pending:   map[uint32]chan pdu{},
		dead:      make(chan struct{}),
	}
	s.wg.Add(1)
	go s.read()
	return s
}

// end closes the session for err, if it is not closed yet, and waits for its
// goroutines. It must not be called from them.
func (s *session) end(err error) {
	s.kill(err)
	s.wg.Wait()
}

// kill closes the session for err, if it is not closed yet.
func (s *session) kill(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.dead)
		s.conn.Close()
	})
}

// nextSeq returns the next sequence number, 1 to 0x7FFFFFFF.
func (s *session) nextSeq() uint32 {
	return (s.seq.Add(1)-1)%0x7FFFFFFF + 1
}

// write sends p; a failure ends the session.
func (s *session) write(p pdu) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		s.kill(err)
		return err
	}
	if _, err := s.conn.Write(p.bytes()); err != nil {
		s.kill(err)
		return err
	}
	return nil
}

// request sends a PDU and waits for the response with its sequence number (or a
// generic_nack) until the session's timeout, the end of the session or of ctx.
func (s *session) request(ctx context.Context, id uint32, body []byte) (pdu, error) {
	seq := s.nextSeq()
	ch := make(chan pdu, 1)
	s.mu.Lock()
	s.pending[seq] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, seq)
		s.mu.Unlock()
	}()
	if err := s.write(pdu{id: id, seq: seq, body: body}); err != nil {
		return pdu{}, errLost
	}
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case p := <-ch:
		return p, nil
	case <-s.dead:
		return pdu{}, errLost
	case <-timer.C:
		return pdu{}, errTimeout
	case <-ctx.Done():
		return pdu{}, ctx.Err()
	}
}

// read reads PDUs until the connection fails, hands responses to their
// requests and answers the SMSC's requests.
func (s *session) read() {
	defer s.wg.Done()
	r := bufio.NewReader(s.conn)
	for {
		p, err := readPDU(r)
		if err != nil {
			s.kill(err)
			return
		}
		if p.id&respBit != 0 { // a response, or a generic_nack
			s.mu.Lock()
			ch := s.pending[p.seq]
			delete(s.pending, p.seq)
			s.mu.Unlock()
			if ch != nil {
				ch <- p
			}
			continue
		}
		switch p.id {
		case cmdEnquireLink:
			_ = s.write(pdu{id: cmdEnquireLinkResp, seq: p.seq})
		case cmdDeliverSM:
			s.deliver(p)
		case cmdUnbind:
			_ = s.write(pdu{id: cmdUnbindResp, seq: p.seq})
			s.kill(errUnbound)
			return
		case cmdAlertNotification: // takes no response
		default:
			_ = s.write(pdu{id: cmdGenericNack, status: statusInvCmdID, seq: p.seq})
		}
	}
}

// deliver hands a delivery receipt to onReceipt and acknowledges the deliver_sm.
// Other deliver_sm (mobile-originated messages) and malformed ones are
// acknowledged and dropped, so the SMSC does not offer them again and again.
func (s *session) deliver(p pdu) {
	d, err := parseDeliverSM(p.body)
	if err != nil {
		s.log.Warn("smpp deliver_sm malformed", keyErr, err)
	} else if st, ok := parseReceipt(d); ok && s.onReceipt != nil {
		s.onReceipt(st)
	}
	_ = s.write(pdu{id: cmdDeliverSMResp, seq: p.seq, body: []byte{0}}) // message_id: unused
}

// keepAlive sends an enquire_link every interval and ends the session when one
// is not answered in time.
func (s *session) keepAlive(interval time.Duration) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.dead:
				return
			case <-t.C:
				if _, err := s.request(context.Background(), cmdEnquireLink, nil); err != nil {
					s.kill(fmt.Errorf("smpp: enquire_link: %w", err))
					return
				}
			}
		}
	}()
}

// unbind asks the SMSC to end the session and waits for its answer, up to the
// session's timeout.
func (s *session) unbind() {
	_, _ = s.request(context.Background(), cmdUnbind, nil)
}
