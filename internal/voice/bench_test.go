package voice

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
