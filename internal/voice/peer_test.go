package voice

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringfence/ringfence/internal/voice/media"
)

// wait bounds every wait of these tests: generous, for a loaded machine.
const wait = 30 * time.Second

var loopback = netip.MustParseAddr("127.0.0.1")

// uac is a bare SIP user agent client over UDP, written out by hand so that
// a test controls every header and can send what a real phone would not.
type uac struct {
	t      testing.TB
	conn   *net.UDPConn
	server netip.AddrPort
	callID string
	tag    string
	cseq   int
	from   string // the caller's number
	branch string // of the last INVITE

	msgs chan sip.Message // responses, and requests other than BYE
	byes chan *sip.Request
}

func newUAC(t testing.TB, server netip.AddrPort, from string) *uac {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	u := &uac{
		t: t, conn: conn, server: server, from: from,
		callID: randomHex(8) + "@test", tag: randomHex(4),
		msgs: make(chan sip.Message, 64), byes: make(chan *sip.Request, 4),
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	go func() {
		defer close(done)
		u.read()
	}()
	return u
}

func (u *uac) addr() netip.AddrPort { return u.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// read parses what comes in; it answers BYE and OPTIONS itself.
func (u *uac) read() {
	buf := make([]byte, 65536)
	p := sip.NewParser()
	for {
		n, _, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		msg, err := p.ParseSIP(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		if req, ok := msg.(*sip.Request); ok && req.Method == sip.BYE {
			res := sip.NewResponseFromRequest(req, 200, "OK", nil)
			u.conn.WriteToUDPAddrPort([]byte(res.String()), u.server)
			select {
			case u.byes <- req:
			default:
			}
			continue
		}
		select {
		case u.msgs <- msg:
		default:
		}
	}
}

// send writes a raw message.
func (u *uac) send(msg string) {
	u.t.Helper()
	if _, err := u.conn.WriteToUDPAddrPort([]byte(msg), u.server); err != nil {
		u.t.Fatal(err)
	}
}

// offer returns an SDP offer for an RTP port with the given payload types.
func offer(port uint16, formats string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n")
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %s\r\n", port, formats)
	for _, f := range strings.Fields(formats) {
		switch f {
		case "0":
			b.WriteString("a=rtpmap:0 PCMU/8000\r\n")
		case "8":
			b.WriteString("a=rtpmap:8 PCMA/8000\r\n")
		case "101":
			b.WriteString("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")
		case "18":
			b.WriteString("a=rtpmap:18 G729/8000\r\n")
		}
	}
	b.WriteString("a=sendrecv\r\n")
	return b.String()
}

// invite sends an INVITE with body (an SDP unless empty) and extra headers.
func (u *uac) invite(body string, extra ...string) {
	u.cseq++
	u.branch = "z9hG4bK" + randomHex(6)
	u.send(u.request("INVITE", u.branch, "", body, extra...))
}

// request builds a request of the call; toTag is "" before the answer.
func (u *uac) request(method, branch, toTag, body string, extra ...string) string {
	var b strings.Builder
	target := fmt.Sprintf("sip:assistant@%s", u.server)
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", u.addr(), branch)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=%s\r\n", u.from, u.tag)
	to := fmt.Sprintf("To: <%s>", target)
	if toTag != "" {
		to += ";tag=" + toTag
	}
	b.WriteString(to + "\r\n")
	fmt.Fprintf(&b, "Call-ID: %s\r\n", u.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", u.cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", u.from, u.addr())
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// final waits for the final response to the INVITE, skipping provisional
// ones, and acknowledges an error response as RFC 3261 17.1.1.3 says.
func (u *uac) final() *sip.Response {
	u.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m := <-u.msgs:
			res, ok := m.(*sip.Response)
			if !ok || res.CSeq().MethodName != sip.INVITE || res.IsProvisional() {
				continue
			}
			if !res.IsSuccess() {
				tag, _ := res.To().Params.Get("tag")
				u.send(u.request("ACK", u.branch, tag, ""))
			}
			return res
		case <-deadline:
			u.t.Fatal("no final response to the INVITE")
			return nil
		}
	}
}

// ack acknowledges a 2xx and returns the RTP address of its SDP answer.
func (u *uac) ack(ok *sip.Response) netip.AddrPort {
	u.t.Helper()
	tag, _ := ok.To().Params.Get("tag")
	u.send(u.request("ACK", "z9hG4bK"+randomHex(6), tag, ""))
	d, err := parseSDP(ok.Body())
	if err != nil {
		u.t.Fatalf("SDP answer: %v\n%s", err, ok.Body())
	}
	return d.addr
}

// bye hangs up.
func (u *uac) bye(ok *sip.Response) {
	u.t.Helper()
	u.cseq++
	tag, _ := ok.To().Params.Get("tag")
	u.send(u.request("BYE", "z9hG4bK"+randomHex(6), tag, ""))
}

// waitBye waits for the server to hang up.
func (u *uac) waitBye() {
	u.t.Helper()
	select {
	case <-u.byes:
	case <-time.After(wait):
		u.t.Fatal("the server did not hang up")
	}
}

// caller is the audio side of a test call: it sends silence between the
// tones it is told to say, and records everything it hears.
type caller struct {
	t    testing.TB
	sess *media.Session
	say  chan []int16

	mu    sync.Mutex
	heard []int16
}

// newCaller opens the caller's RTP session; start it with run.
func newCaller(t testing.TB) *caller {
	t.Helper()
	s, err := media.Config{MediaTimeout: -1}.Listen(loopback, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &caller{t: t, sess: s, say: make(chan []int16, 8)}
}

func (c *caller) port() uint16 { return c.sess.LocalAddr().Port() }

// run points the session at the server and runs it until the test ends.
func (c *caller) run(remote netip.AddrPort) {
	c.t.Helper()
	if err := c.sess.SetRemote(remote, media.PCMU, 101); err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c.t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	wg.Go(func() { c.sess.Run(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case f, ok := <-c.sess.Frames():
				if !ok {
					return
				}
				c.mu.Lock()
				c.heard = append(c.heard, f.PCM...)
				c.mu.Unlock()
			}
		}
	})
	wg.Go(func() {
		silence := make([]int16, media.FrameSamples*5)
		for ctx.Err() == nil {
			pcm := silence
			select {
			case pcm = <-c.say:
			default:
			}
			if err := c.sess.Play(ctx, pcm); err != nil && ctx.Err() == nil {
				c.t.Logf("caller play: %v", err)
				return
			}
		}
	})
}

// speak says a tone of freq for d.
func (c *caller) speak(freq float64, d time.Duration) {
	c.say <- media.Tone(freq, d, 0.3)
}

// recorded returns a copy of what the caller heard so far.
func (c *caller) recorded() []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int16(nil), c.heard...)
}

// tones cuts audio into 100 ms pieces and names the tone of each among
// freqs, 0 for silence or none.
func tones(pcm []int16, freqs []float64) []float64 {
	const piece = 800
	var out []float64
	for len(pcm) >= piece {
		f, ok := media.DetectTone(pcm[:piece], freqs...)
		if !ok {
			f = 0
		}
		out = append(out, f)
		pcm = pcm[piece:]
	}
	return out
}

// sequence returns the tones heard in order, each run of one tone once.
func sequence(pcm []int16, freqs []float64) []float64 {
	var out []float64
	for _, f := range tones(pcm, freqs) {
		if f != 0 && (len(out) == 0 || out[len(out)-1] != f) {
			out = append(out, f)
		}
	}
	return out
}

// heardFor returns how long the caller heard freq in all.
func heardFor(pcm []int16, freq float64, freqs []float64) time.Duration {
	n := 0
	for _, f := range tones(pcm, freqs) {
		if f == freq {
			n++
		}
	}
	return time.Duration(n) * 100 * time.Millisecond
}

// waitFor waits until the caller has heard the tone sequence want (as a
// subsequence of what it heard from start on) and returns the recording.
func (c *caller) waitFor(freqs []float64, want ...float64) []int16 {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		rec := c.recorded()
		if isSubsequence(sequence(rec, freqs), want) {
			return rec
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("heard %v, want %v in that order", sequence(rec, freqs), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitQuiet waits until the caller has heard 300 ms of silence.
func (c *caller) waitQuiet() {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		rec := c.recorded()
		if n := len(rec); n >= 2400 && media.Level(rec[n-2400:]) < -60 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("the line never went quiet")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isSubsequence(have, want []float64) bool {
	i := 0
	for _, f := range have {
		if i < len(want) && f == want[i] {
			i++
		}
	}
	return i == len(want)
}

// testLog returns a logger writing to the test's log.
func testLog(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
