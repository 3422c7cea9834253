package fraud

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSnapshotRestore(t *testing.T) {
	c := &clock{t: t0}
	g := New(breakerConfig(c))
	block(t, g, KindPrefix, "p-blocked")
	if err := g.Block(KindIP, "ip-temp", "abuse", t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := g.Allow(KindNumber, "n-vip", time.Time{}); err != nil {
		t.Fatal(err)
	}
	// An open breaker and a probing one.
	for _, p := range []string{"p-open", "p-probing"} {
		for i := range 5 {
			mustAllow(t, g, send(p, fmt.Sprint(i), "ip", t0.Add(-time.Hour+time.Minute)))
		}
	}
	mustRefuse(t, g, send("p-probing", "x", "ip", t0.Add(-50*time.Minute)), ReasonBreakerPrefix)
	mustRefuse(t, g, send("p-open", "x", "ip", t0), ReasonBreakerPrefix)
	probe := t0.Add(-50*time.Minute + 12*time.Hour)
	if d := mustAllow(t, g, send("p-probing", "y", "ip", probe)); !d.Probe {
		t.Fatal("not a probe")
	}
	c.Set(probe.Add(time.Minute))

	data, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"+44", "+1"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("snapshot holds %q", secret)
		}
	}
	h := New(breakerConfig(c))
	if err := h.Restore(data); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Lists(), g.Lists()) {
		t.Errorf("Lists after Restore = %+v, want %+v", h.Lists(), g.Lists())
	}
	if !slices.Equal(h.Breakers(), g.Breakers()) || len(h.Breakers()) != 2 {
		t.Errorf("Breakers after Restore = %+v, want %+v", h.Breakers(), g.Breakers())
	}
	again, err := h.Snapshot()
	if err != nil || string(again) != string(data) {
		t.Errorf("Snapshot of the restored Guard differs:\n%s\n%s", again, data)
	}
	// The restored state acts: blocked prefix, open breaker, probing
	// breaker with two probes left, which an approval closes.
	at := probe.Add(time.Minute)
	mustRefuse(t, h, send("p-blocked", "1", "ip", at), ReasonBlocklistPrefix)
	mustRefuse(t, h, send("p-open", "1", "ip", at), ReasonBreakerPrefix)
	for range 2 {
		if d := mustAllow(t, h, send("p-probing", "z", "ip", at)); !d.Probe {
			t.Fatal("not a probe")
		}
	}
	mustRefuse(t, h, send("p-probing", "z", "ip", at), ReasonBreakerPrefix)
	h.Approved("p-probing-z", "p-probing", "GB", at.Add(time.Second))
	mustAllow(t, h, send("p-probing", "w", "ip", at.Add(time.Minute)))

	// Restore replaces: an empty snapshot clears lists and breakers.
	if err := h.Restore([]byte(`{"version":1,"lists":[],"breakers":[]}`)); err != nil {
		t.Fatal(err)
	}
	if len(h.Lists()) != 0 || len(h.Breakers()) != 0 {
		t.Errorf("after empty Restore: %+v %+v", h.Lists(), h.Breakers())
	}
	mustAllow(t, h, send("p-open", "2", "ip", at))

	// Entries that expired since the snapshot are dropped.
	c.Set(t0.Add(25 * time.Hour))
	if err := h.Restore(data); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.Lists() {
		if e.Key == "ip-temp" {
			t.Error("expired entry restored")
		}
	}
}

func TestRestoreInvalid(t *testing.T) {
	g := New(breakerConfig(nil))
	block(t, g, KindIP, "keep")
	good := `{"kind":"prefix","key":"p","phase":"open","opened":"2026-03-02T12:00:00Z","until":"2026-03-03T00:00:00Z","renewals":0,"sent":5,"approved":0,"threshold":0.16,"refused":0,"probes_sent":0}`
	for name, data := range map[string]string{
		"not json":        `{`,
		"version":         `{"version":2,"lists":[],"breakers":[]}`,
		"unknown field":   `{"version":1,"lists":[],"breakers":[],"counters":{}}`,
		"bad kind":        `{"version":1,"lists":[{"kind":"imei","key":"x","action":"block","created":"2026-03-02T12:00:00Z"}],"breakers":[]}`,
		"bad action":      `{"version":1,"lists":[{"kind":"ip","key":"x","action":"maybe","created":"2026-03-02T12:00:00Z"}],"breakers":[]}`,
		"empty key":       `{"version":1,"lists":[{"kind":"ip","key":"","action":"block","created":"2026-03-02T12:00:00Z"}],"breakers":[]}`,
		"breaker kind":    `{"version":1,"lists":[],"breakers":[` + strings.Replace(good, `"prefix"`, `"ip"`, 1) + `]}`,
		"breaker phase":   `{"version":1,"lists":[],"breakers":[` + strings.Replace(good, `"open"`, `"ajar"`, 1) + `]}`,
		"breaker times":   `{"version":1,"lists":[],"breakers":[` + strings.Replace(good, `2026-03-03`, `2026-03-01`, 1) + `]}`,
		"breaker country": `{"version":1,"lists":[],"breakers":[` + strings.Replace(strings.Replace(good, `"prefix"`, `"country"`, 1), `"p"`, `"GBR"`, 1) + `]}`,
	} {
		err := g.Restore([]byte(data))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Restore = %v, want ErrInvalid", name, err)
		}
	}
	if l := g.Lists(); len(l) != 1 || l[0].Key != "keep" {
		t.Errorf("a refused Restore changed the lists: %+v", l)
	}
	if err := g.Restore([]byte(`{"version":1,"lists":[],"breakers":[` + good + `]}`)); err != nil {
		t.Errorf("good snapshot: %v", err)
	}
}

// TestEviction: the key table stays within MaxKeys, and what must stay
// does.
func TestEviction(t *testing.T) {
	cfg := breakerConfig(nil)
	cfg.PrefixBreaker.Grace = 0
	cfg.Velocity.Number = []Limit{{Count: 5, Window: time.Hour}}
	cfg.Velocity.IP = []Limit{{Count: 5, Window: time.Hour}}
	cfg.MaxKeys = 640
	g := New(cfg)
	for i := range 5 {
		mustAllow(t, g, send("pumped", fmt.Sprint(i), fmt.Sprint("pumper", i), t0))
	}
	mustRefuse(t, g, send("pumped", "x", "pumper", t0), ReasonBreakerPrefix)
	for i := range 20000 {
		mustAllow(t, g, send(fmt.Sprint("p", i), "1", fmt.Sprint("ip", i), t0.Add(time.Duration(i)*time.Millisecond)))
	}
	st := g.Stats()
	if st.Keys > 640+nShards || st.Evicted == 0 {
		t.Errorf("Stats = %+v, want at most about 640 keys", st)
	}
	mustRefuse(t, g, send("pumped", "y", "ip2", t0.Add(time.Minute)), ReasonBreakerPrefix)
	if len(g.Breakers()) != 1 {
		t.Error("open breaker evicted")
	}

	// Idle keys go without a full table.
	cfg.MaxKeys = 1 << 20
	g = New(cfg)
	for i := range 5000 {
		mustAllow(t, g, send(fmt.Sprint("p", i), "1", fmt.Sprint("ip", i), t0))
	}
	later := t0.Add(2 * time.Hour)
	for i := range 5000 {
		mustAllow(t, g, send(fmt.Sprint("q", i), "1", fmt.Sprint("iq", i), later))
	}
	// 20,000 keys a round (number, prefix, IP, subject) and a country.
	if st := g.Stats(); st.Keys > 25000 || st.Evicted != 0 {
		t.Errorf("Stats = %+v, want most of the first 20,000 keys gone, none evicted early", st)
	}
}

// TestConcurrent runs every method at once (run it with -race) and checks
// that limits and caps hold exactly under contention.
func TestConcurrent(t *testing.T) {
	c := &clock{t: t0}
	cfg := plainConfig(c)
	cfg.Velocity.Number = []Limit{{Count: 7, Window: time.Hour}}
	cfg.Velocity.Prefix = []Limit{{Count: 1000, Window: time.Hour, Soft: 900}}
	cfg.PrefixBreaker = BreakerConfig{MinSends: 50, Floor: 0.2, Window: time.Hour, Grace: time.Second, Block: time.Hour, Probes: 2, ProbeWait: time.Minute}
	cfg.Spend.TotalPerDay = 10 // 200 sends of 0.05
	cfg.PoW.Difficulty = 2
	g := New(cfg)
	var hot, all atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				at := t0.Add(time.Duration(i) * 10 * time.Millisecond)
				r := send(fmt.Sprint("p", i%13), fmt.Sprint(w, "-", i), fmt.Sprint("ip", i%17), at)
				if i%3 == 0 {
					r.Number, r.Prefix = "hot", "hot-prefix"
				}
				d := g.Check(r)
				if d.Challenge != nil {
					r.PoWSolution = d.Challenge.Token + ":" + Solve(d.Challenge.Token, d.Challenge.Difficulty)
					d = g.Check(r)
				}
				if d.Allow {
					all.Add(1)
					if r.Number == "hot" {
						hot.Add(1)
					}
					switch i % 10 {
					case 1:
						g.Approved(r.Number, r.Prefix, r.Country, at.Add(time.Second))
					case 2:
						g.Failed(r, d)
						all.Add(-1)
						if r.Number == "hot" {
							hot.Add(-1)
						}
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			key := fmt.Sprint("p", 100+i%5)
			_ = g.Block(KindPrefix, key, "x", time.Time{})
			_ = g.Lists()
			_ = g.Breakers()
			_ = g.Stats()
			if data, err := g.Snapshot(); err != nil {
				t.Error(err)
			} else if i%20 == 0 {
				if err := g.Restore(data); err != nil {
					t.Error(err)
				}
			}
			g.Unblock(KindPrefix, key)
			g.ResetBreaker(KindPrefix, "p1")
		}
	})
	wg.Wait()
	if hot.Load() != 7 {
		t.Errorf("%d sends to the hot number allowed, want exactly its limit 7", hot.Load())
	}
	if all.Load() != 200 {
		t.Errorf("%d sends allowed, want exactly the 200 the total cap pays for", all.Load())
	}
	if st := g.Stats(); st.Allowed-st.Refused == 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestDecisionJSON(t *testing.T) {
	g := New(challengeConfig())
	mustAllow(t, g, send("p", "1", "ip", t0))
	d := g.Check(send("p", "2", "ip", t0))
	b, err := json.Marshal(d)
	if err != nil || !strings.Contains(string(b), `"challenge_required"`) {
		t.Errorf("json: %s, %v", b, err)
	}
}

// BenchmarkCheck measures Check from parallel goroutines with the default
// rules (limits raised so that nothing is refused): "hot" sends go to a
// working set of known keys; "fresh" ones to a new number and subject each
// time, on a clock fast enough that idle keys are evicted and their memory
// reused, as in a long-running service.
func BenchmarkCheck(b *testing.B) {
	for _, mode := range []string{"hot", "fresh"} {
		b.Run(mode, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Countries = []string{"US", "GB", "DE", "FR"}
			cfg.Velocity.Number = []Limit{{Count: 1 << 30, Window: time.Hour}}
			cfg.Velocity.IP = []Limit{{Count: 1 << 30, Window: 10 * time.Minute}, {Count: 1 << 30, Window: time.Hour}}
			cfg.Velocity.Subject = []Limit{{Count: 1 << 30, Window: time.Hour}}
			cfg.Velocity.Prefix = []Limit{{Count: 1 << 30, Window: 10 * time.Minute}}
			cfg.Velocity.Country = []Limit{{Count: 1 << 30, Window: time.Hour}}
			cfg.Spend.CountryPerDay, cfg.Spend.TotalPerDay = 1e6, 1e6
			// Breakers judge every send but never open: nothing is approved.
			cfg.PrefixBreaker.MinSends, cfg.CountryBreaker.MinSends = 1<<30, 1<<30
			g := New(cfg)
			if err := g.Block(KindIP, "blocked", "", time.Time{}); err != nil {
				b.Fatal(err)
			}
			countries := []string{"US", "GB", "DE", "FR"}
			const keys = 1 << 16
			working := keys
			if mode == "hot" {
				working = 4096
			}
			var worker atomic.Int64
			var mu sync.Mutex
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := worker.Add(1)
				mu.Lock() // build the keys one worker at a time, off the other's clock
				reqs := make([]Request, working)
				for i := range reqs {
					reqs[i] = Request{
						Number:  simKey("n", fmt.Sprint(w, i)),
						Prefix:  simKey("p", fmt.Sprint(i%512)),
						IP:      simKey("ip", fmt.Sprint(w, i%1024)),
						Subject: simKey("s", fmt.Sprint(w, i)),
						Country: countries[i%len(countries)],
						Type:    "mobile",
						Channel: "sms",
					}
				}
				mu.Unlock()
				now := t0
				for i := 0; pb.Next(); i++ {
					r := &reqs[i%working]
					now = now.Add(100 * time.Millisecond) // a number comes back after 1.8 hours
					r.Now = now
					if d := g.Check(*r); !d.Allow {
						b.Fatalf("refused: %v", d.Reasons)
					}
				}
			})
		})
	}
}

// BenchmarkMemory reports the memory a tracked key costs.
func BenchmarkMemory(b *testing.B) {
	for range b.N {
		cfg := DefaultConfig()
		cfg.Spend.CountryPerDay, cfg.Spend.TotalPerDay = 0, 0
		cfg.Velocity.Prefix[0].Soft = 0
		cfg.Velocity.IP[0].Soft, cfg.Velocity.IP[1].Soft = 0, 0
		cfg.Velocity.Country[0].Count = 1 << 30
		cfg.CountryBreaker.MinSends = 1 << 30
		reqs := make([]Request, 100000)
		for i := range reqs {
			reqs[i] = Request{Number: simKey("n", fmt.Sprint(i)), Prefix: simKey("p", fmt.Sprint(i)), IP: simKey("ip", fmt.Sprint(i)), Subject: simKey("s", fmt.Sprint(i)), Country: "US", Now: t0}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g := New(cfg)
		for _, r := range reqs {
			if d := g.Check(r); !d.Allow {
				b.Fatal(d.Reasons)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		keys := g.Stats().Keys
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(keys), "bytes/key")
		runtime.KeepAlive(g)
	}
}
