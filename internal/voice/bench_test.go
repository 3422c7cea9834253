package voice

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringfence/ringfence/internal/voice/media"
)

// BenchmarkTurn measures what ringfence itself adds to a turn with
// engines that answer at once: from the end of the caller's turn (the
// VAD's hangover past) to the first packet of the answer, less the time
// in the engines. Each iteration is one turn over real SIP and RTP on
// loopback; run it with -benchtime=50x or so.
func BenchmarkTurn(b *testing.B) {
	var mu sync.Mutex
	var added, playout []time.Duration
	m := NewMetrics(prometheus.NewRegistry())
	m.onStage = func(stage string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		switch stage {
		case StageAdded:
			added = append(added, d)
		case StagePlayout:
			playout = append(playout, d)
		}
	}
	p := startLine(b, lineOptions{metrics: m, realClock: true})
	_, c, _ := p.call(b, "+14155550123")
	c.waitFor(allTones, toneDisclosure)
	c.waitQuiet()
	answers := func() int {
		n := 0
		for _, f := range sequence(c.recorded(), allTones) {
			if f == toneAnswer2 {
				n++
			}
		}
		return n
	}
	b.ResetTimer()
	for range b.N {
		before := answers()
		c.speak(toneHello, 400*time.Millisecond)
		deadline := time.Now().Add(wait)
		for answers() <= before {
			if time.Now().After(deadline) {
				b.Fatal("no answer")
			}
			time.Sleep(10 * time.Millisecond)
		}
		c.waitQuiet()
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	report := func(name string, ds []time.Duration) {
		if len(ds) == 0 {
			b.Fatalf("no %s latency observed", name)
		}
		slices.Sort(ds)
		q := func(f float64) float64 { return float64(ds[int(f*float64(len(ds)-1))].Microseconds()) / 1000 }
		b.ReportMetric(q(0.5), name+"-p50-ms")
		b.ReportMetric(q(0.99), name+"-p99-ms")
	}
	report("added", added)
	report("playout", playout)
}

// BenchmarkSIPpCalls holds many concurrent calls placed by SIPp, each
// sending G.711 audio for 8 s while the line plays its disclosure and
// listens, and reports the packets lost or late at ringfence and the CPU
// it used. RINGFENCE_BENCH_CALLS sets the number of calls (default 100).
func BenchmarkSIPpCalls(b *testing.B) {
	calls := 100
	if s := os.Getenv("RINGFENCE_BENCH_CALLS"); s != "" {
		calls, _ = strconv.Atoi(s)
	}
	tally := &rtpTally{}
	p := startLine(b, lineOptions{realClock: true, maxCalls: calls + 10, logger: slog.New(tally)})
	for range b.N {
		var before, after syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		start := time.Now()
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "hold.pcap"), holdPcap(8*time.Second), 0o600); err != nil {
			b.Fatal(err)
		}
		code, log := sippIn(b, dir, "hold", p.addr, "-m", strconv.Itoa(calls), "-l", strconv.Itoa(calls), "-r", strconv.Itoa(max(50, calls/4)), "-rp", "1s")
		if code != 0 {
			b.Fatalf("sipp exited %d:\n%s", code, tail(log, 2000))
		}
		waitIdle(b, p.srv)
		wall := time.Since(start)
		syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
		cores := float64(cpu) / float64(wall)
		b.ReportMetric(cores, "cores")
		// Calls held on average over the run (each is up 8 s), per core used.
		b.ReportMetric(float64(calls)*8/wall.Seconds()/cores, "calls/core")
	}
	tally.mu.Lock()
	defer tally.mu.Unlock()
	if tally.calls == 0 || tally.received == 0 {
		b.Fatalf("no RTP counted: %+v", tally)
	}
	b.ReportMetric(float64(tally.calls)/float64(b.N), "calls")
	b.ReportMetric(float64(tally.received)/float64(tally.calls), "rtp-in/call")
	b.ReportMetric(100*float64(tally.lost+tally.late)/float64(tally.received+tally.lost), "lost+late-%")
}

// rtpTally is a slog.Handler that sums the RTP counters of "call ended".
type rtpTally struct {
	mu                   sync.Mutex
	calls                int
	received, lost, late int64
}

func (t *rtpTally) Enabled(context.Context, slog.Level) bool { return true }
func (t *rtpTally) WithAttrs([]slog.Attr) slog.Handler       { return t }
func (t *rtpTally) WithGroup(string) slog.Handler            { return t }
func (t *rtpTally) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "call ended" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls++
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "rtp_received":
			t.received += int64(a.Value.Uint64())
		case "rtp_lost":
			t.lost += a.Value.Int64()
		case "rtp_late":
			t.late += int64(a.Value.Uint64())
		}
		return true
	})
	return nil
}

// holdPcap returns a pcap file of d of G.711 A-law speech-like audio in
// 20 ms RTP packets, for SIPp's play_pcap_audio (SIPp's own sample uses
// 30 ms packets, which the line does not take).
func holdPcap(d time.Duration) []byte {
	var out []byte
	le := binary.LittleEndian
	out = le.AppendUint32(out, 0xa1b2c3d4)
	out = le.AppendUint16(out, 2)
	out = le.AppendUint16(out, 4)
	out = le.AppendUint32(out, 0)
	out = le.AppendUint32(out, 0)
	out = le.AppendUint32(out, 65535)
	out = le.AppendUint32(out, 1) // Ethernet
	pcm := make([]int16, media.FrameSamples)
	payload := make([]byte, media.FrameSamples)
	n := int(d / media.FrameDuration)
	for i := range n {
		// 1 s of a 300 Hz tone, then 1 s of silence: turns for the VAD.
		for j := range pcm {
			pcm[j] = 0
			if (i/50)%2 == 0 {
				pcm[j] = int16(8000 * math.Sin(2*math.Pi*300*float64(i*media.FrameSamples+j)/media.SampleRate))
			}
		}
		media.AlawEncode(payload, pcm)
		rtp := []byte{0x80, 8, byte(i >> 8), byte(i)}
		rtp = binary.BigEndian.AppendUint32(rtp, uint32(i*media.FrameSamples))
		rtp = binary.BigEndian.AppendUint32(rtp, 0x1234abcd)
		rtp = append(rtp, payload...)
		udp := binary.BigEndian.AppendUint16(nil, 5000)
		udp = binary.BigEndian.AppendUint16(udp, 6000)
		udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(rtp)))
		udp = binary.BigEndian.AppendUint16(udp, 0)
		udp = append(udp, rtp...)
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		var sum uint32
		for k := 0; k < 20; k += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[k:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		frame := append(make([]byte, 12), 0x08, 0x00)
		frame = append(append(frame, ip...), udp...)
		t := time.Duration(i) * media.FrameDuration
		out = le.AppendUint32(out, uint32(t/time.Second))
		out = le.AppendUint32(out, uint32(t%time.Second/time.Microsecond))
		out = le.AppendUint32(out, uint32(len(frame)))
		out = le.AppendUint32(out, uint32(len(frame)))
		out = append(out, frame...)
	}
	return out
}
