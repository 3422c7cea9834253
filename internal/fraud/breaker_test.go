package fraud

import (
	"fmt"
	"testing"
	"time"
)

func breakerConfig(c *clock) Config {
	cfg := plainConfig(c)
	cfg.PrefixBreaker = BreakerConfig{MinSends: 5, Floor: 0.2, Window: time.Hour, Grace: time.Minute, Block: 12 * time.Hour, Probes: 3, ProbeWait: 15 * time.Minute}
	return cfg
}

// TestBreakerLifecycle drives a prefix breaker through open, block, probes,
// renewal, probes again and recovery.
func TestBreakerLifecycle(t *testing.T) {
	c := &clock{t: t0}
	g := New(breakerConfig(c))
	n := 0
	next := func(p string, at time.Time) Request { n++; return send(p, fmt.Sprint(n), fmt.Sprint("ip", n), at) }

	for range 6 {
		mustAllow(t, g, next("p1", t0))
	}
	// Within the grace period nothing is judged.
	mustAllow(t, g, next("p1", t0.Add(30*time.Second)))
	// Seven matured sends, none approved: open.
	at := t0.Add(2 * time.Minute)
	c.Set(at)
	mustRefuse(t, g, next("p1", at), ReasonBreakerPrefix)
	mustRefuse(t, g, next("p1", at.Add(11*time.Hour)), ReasonBreakerPrefix)
	// Other prefixes of the country go on.
	mustAllow(t, g, next("p2", at))
	bs := g.Breakers()
	if len(bs) != 1 {
		t.Fatalf("Breakers() = %+v", bs)
	}
	threshold := 0.2
	threshold *= 0.8
	want := BreakerState{Kind: KindPrefix, Key: "p1", State: "open", Opened: at, Until: at.Add(12 * time.Hour), Sent: 7, Approved: 0, Threshold: threshold, Refused: 2}
	if bs[0] != want {
		t.Errorf("Breakers()[0] = %+v, want %+v", bs[0], want)
	}
	if st := g.Stats(); st.OpenBreakers != 1 || st.Reasons[ReasonBreakerPrefix] != 2 {
		t.Errorf("Stats = %+v", st)
	}

	// After the block, three probes go through, then it waits.
	probe := at.Add(12 * time.Hour)
	var probes []Request
	for i := range 3 {
		r := next("p1", probe.Add(time.Duration(i)*time.Minute))
		if d := mustAllow(t, g, r); !d.Probe {
			t.Fatalf("probe %d: Probe = false", i)
		}
		probes = append(probes, r)
	}
	if d := mustAllow(t, g, next("p2", probe)); d.Probe {
		t.Error("a send to another prefix is marked a probe")
	}
	mustRefuse(t, g, next("p1", probe.Add(5*time.Minute)), ReasonBreakerPrefix)
	c.Set(probe.Add(5 * time.Minute))
	if bs := g.Breakers(); len(bs) != 1 || bs[0].State != "probing" || bs[0].ProbesSent != 3 {
		t.Errorf("Breakers() = %+v, want probing with 3 probes sent", bs)
	}
	// A failed probe is given back.
	d := Decision{Allow: true, Probe: true, Cost: 0.05}
	g.Failed(probes[2], d)
	mustAllow(t, g, next("p1", probe.Add(5*time.Minute)))

	// No approval within ProbeWait of the last probe: open again.
	renew := probe.Add(5*time.Minute + 15*time.Minute)
	mustRefuse(t, g, next("p1", renew), ReasonBreakerPrefix)
	c.Set(renew)
	bs = g.Breakers()
	if len(bs) != 1 || bs[0].State != "open" || bs[0].Renewals != 1 || !bs[0].Opened.Equal(renew) || !bs[0].Until.Equal(renew.Add(12*time.Hour)) {
		t.Fatalf("Breakers() = %+v, want renewed", bs)
	}

	// Probes again; an approved probe closes the breaker.
	probe = renew.Add(12 * time.Hour)
	r := next("p1", probe)
	if d := mustAllow(t, g, r); !d.Probe {
		t.Fatal("Probe = false")
	}
	g.Approved(r.Number, r.Prefix, r.Country, probe.Add(20*time.Second))
	c.Set(probe.Add(time.Minute))
	if bs := g.Breakers(); len(bs) != 0 {
		t.Fatalf("Breakers() = %+v after an approved probe", bs)
	}
	for i := range 10 {
		if d := mustAllow(t, g, next("p1", probe.Add(time.Minute+time.Duration(i)*time.Second))); d.Probe {
			t.Fatal("Probe after recovery")
		}
	}
	if st := g.Stats(); st.Probes != 5 || st.OpenBreakers != 0 {
		t.Errorf("Stats = %+v, want 5 probes and no breaker open", st)
	}
}

func TestBreakerWithoutProbes(t *testing.T) {
	cfg := breakerConfig(nil)
	cfg.PrefixBreaker.Probes = 0
	cfg.PrefixBreaker.Grace = 0
	g := New(cfg)
	for i := range 5 {
		mustAllow(t, g, send("p", fmt.Sprint(i), "ip", t0))
	}
	mustRefuse(t, g, send("p", "x", "ip", t0), ReasonBreakerPrefix)
	mustRefuse(t, g, send("p", "x", "ip", t0.Add(12*time.Hour-1)), ReasonBreakerPrefix)
	mustAllow(t, g, send("p", "x", "ip", t0.Add(12*time.Hour)))
	if bs := g.Breakers(); len(bs) != 0 {
		t.Errorf("Breakers() = %+v", bs)
	}
}

// TestBreakerHealthyTraffic: converting traffic never opens the breaker,
// even in a burst whose approvals are still on their way.
func TestBreakerHealthyTraffic(t *testing.T) {
	g := New(breakerConfig(nil))
	var sent []Request
	// A burst: 20 sends in 20 seconds, approvals 40 seconds later.
	for i := range 20 {
		r := send("p", fmt.Sprint(i), fmt.Sprint("ip", i), t0.Add(time.Duration(i)*time.Second))
		mustAllow(t, g, r)
		sent = append(sent, r)
	}
	for i, r := range sent {
		if i%6 != 5 { // 17 of 20 approved
			g.Approved(r.Number, r.Prefix, r.Country, r.Now.Add(40*time.Second))
		}
	}
	// Steady traffic with 80% approved for two hours.
	for i := range 240 {
		at := t0.Add(time.Minute + time.Duration(i)*30*time.Second)
		r := send("p", fmt.Sprint("s", i), fmt.Sprint("ip-s", i), at)
		mustAllow(t, g, r)
		if i%5 != 0 {
			g.Approved(r.Number, r.Prefix, r.Country, at.Add(30*time.Second))
		}
	}
	if bs := g.Breakers(); len(bs) != 0 {
		t.Errorf("Breakers() = %+v", bs)
	}
}

func TestBreakerCountryAndReset(t *testing.T) {
	cfg := breakerConfig(nil)
	cfg.CountryBreaker = cfg.PrefixBreaker
	cfg.CountryBreaker.MinSends = 8
	cfg.CountryBreaker.Grace = 0
	g := New(cfg)
	for i := range 8 { // spread over prefixes: no prefix breaker judges
		mustAllow(t, g, send(fmt.Sprint("p", i), "1", fmt.Sprint("ip", i), t0))
	}
	mustRefuse(t, g, send("p9", "1", "ip9", t0), ReasonBreakerCountry)
	r := send("p9", "1", "ip9", t0)
	r.Country = "US"
	mustAllow(t, g, r)
	if !g.ResetBreaker(KindCountry, "gb") {
		t.Fatal("ResetBreaker = false")
	}
	if g.ResetBreaker(KindCountry, "GB") || g.ResetBreaker(KindIP, "x") || g.ResetBreaker(KindPrefix, "none") {
		t.Error("ResetBreaker = true for a closed or unknown breaker")
	}
	// Its counts are forgotten with it.
	for i := range 7 {
		mustAllow(t, g, send(fmt.Sprint("q", i), "1", fmt.Sprint("ip", i), t0))
	}
	// An allowed country is not judged.
	if err := g.Allow(KindCountry, "GB", time.Time{}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		mustAllow(t, g, send(fmt.Sprint("r", i), "1", fmt.Sprint("ip", i), t0))
	}
}

// TestBaseline: the floor follows the measured conversion.
func TestBaseline(t *testing.T) {
	cfg := breakerConfig(nil)
	cfg.CountryBreaker = BreakerConfig{MinSends: 10000, Floor: 1, Window: time.Hour, Grace: time.Minute, Block: time.Hour}
	cfg.BaselineMinSends = 100
	cfg.PrefixBreaker.Floor = 0.5
	g := New(cfg)
	// 200 sends in other prefixes, 40% approved: baseline 0.4, the prefix
	// breaker opens below 20%.
	for i := range 200 {
		r := send(fmt.Sprint("x", i), "1", fmt.Sprint("ip", i), t0)
		mustAllow(t, g, r)
		if i%5 < 2 {
			g.Approved(r.Number, r.Prefix, r.Country, t0.Add(30*time.Second))
		}
	}
	at := t0.Add(2 * time.Minute)
	mustAllow(t, g, send("y", "0", "ip", at)) // measures the baseline
	if b := g.baseline(); b != 0.4 {
		t.Fatalf("baseline = %v, want 0.4", b)
	}
	// A prefix at 25% conversion stays closed; one at 0% opens.
	for i := range 8 {
		r := send("p", fmt.Sprint(i), fmt.Sprint("ip", i), at)
		mustAllow(t, g, r)
		if i%4 == 0 {
			g.Approved(r.Number, r.Prefix, r.Country, at)
		}
		mustAllow(t, g, send("q", fmt.Sprint(i), fmt.Sprint("ip", i), at))
	}
	later := at.Add(90 * time.Second)
	mustAllow(t, g, send("p", "x", "ip", later))
	mustRefuse(t, g, send("q", "x", "ip", later), ReasonBreakerPrefix)
	// (The baseline was measured again, with p and q: 82 of 217.)
	if bs := g.Breakers(); len(bs) != 1 || bs[0].Key != "q" || bs[0].Threshold != 0.5*g.baseline() || g.baseline() >= 0.4 {
		t.Errorf("Breakers() = %+v, want q at threshold half of %v", bs, g.baseline())
	}
}
