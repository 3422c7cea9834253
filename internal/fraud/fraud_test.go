package fraud

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/phone"
)

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// plainConfig is a configuration with no limit, breaker, cap or challenge,
// for tests to switch on what they test.
func plainConfig(c *clock) Config {
	cfg := DefaultConfig()
	cfg.Velocity = VelocityConfig{}
	cfg.PrefixBreaker.MinSends = 0
	cfg.CountryBreaker.MinSends = 0
	cfg.Spend = SpendConfig{DefaultPrice: 0.05}
	cfg.PoW.Key = []byte("test key")
	cfg.PoW.Difficulty = 4
	if c != nil {
		cfg.Now = c.Now
	}
	return cfg
}

// send is a request for number n of prefix p from ip, at t.
func send(p, n, ip string, t time.Time) Request {
	return Request{Number: p + "-" + n, Prefix: p, IP: ip, Subject: "sub-" + ip, Country: "GB", Type: phone.Mobile, Channel: "sms", Now: t}
}

func mustAllow(t *testing.T, g *Guard, r Request) Decision {
	t.Helper()
	d := g.Check(r)
	if !d.Allow {
		t.Fatalf("Check refused %+v: %v", r, d.Reasons)
	}
	return d
}

func mustRefuse(t *testing.T, g *Guard, r Request, want ...string) Decision {
	t.Helper()
	d := g.Check(r)
	if d.Allow || !slices.Equal(d.Reasons, want) {
		t.Fatalf("Check = allow %v reasons %v, want refused with %v", d.Allow, d.Reasons, want)
	}
	return d
}

// solve answers the challenge of d.
func solve(t *testing.T, d Decision) string {
	t.Helper()
	if d.Challenge == nil {
		t.Fatalf("no challenge in %+v", d)
	}
	return d.Challenge.Token + ":" + Solve(d.Challenge.Token, d.Challenge.Difficulty)
}

// TestReasons triggers every reason, each alone, and checks that a refusal
// is counted.
func TestReasons(t *testing.T) {
	lim := func(n int) []Limit { return []Limit{{Count: n, Window: time.Hour}} }
	tests := []struct {
		reason string
		config func(*Config)
		setup  func(*testing.T, *Guard) // sends here must be allowed
		req    Request
	}{
		{ReasonBlocklistNumber, nil, func(t *testing.T, g *Guard) { block(t, g, KindNumber, "p1-0001") }, send("p1", "0001", "ip1", t0)},
		{ReasonBlocklistPrefix, nil, func(t *testing.T, g *Guard) { block(t, g, KindPrefix, "p1") }, send("p1", "0001", "ip1", t0)},
		{ReasonBlocklistCountry, nil, func(t *testing.T, g *Guard) { block(t, g, KindCountry, "gb") }, send("p1", "0001", "ip1", t0)},
		{ReasonBlocklistIP, nil, func(t *testing.T, g *Guard) { block(t, g, KindIP, "ip1") }, send("p1", "0001", "ip1", t0)},
		{ReasonBlocklistSubject, nil, func(t *testing.T, g *Guard) { block(t, g, KindSubject, "sub-ip1") }, send("p1", "0001", "ip1", t0)},
		{ReasonCountryNotAllowed, func(c *Config) { c.Countries = []string{"US", "DE"} }, nil, send("p1", "0001", "ip1", t0)},
		{ReasonNumberType, nil, nil, func() Request { r := send("p1", "0001", "ip1", t0); r.Type = phone.PremiumRate; return r }()},
		{ReasonVelocityIP, func(c *Config) { c.Velocity.IP = lim(2) },
			func(t *testing.T, g *Guard) {
				mustAllow(t, g, send("p1", "0001", "ip1", t0))
				mustAllow(t, g, send("p2", "0002", "ip1", t0))
			}, send("p3", "0003", "ip1", t0)},
		{ReasonVelocitySubject, func(c *Config) { c.Velocity.Subject = lim(1) },
			func(t *testing.T, g *Guard) { mustAllow(t, g, send("p1", "0001", "ip1", t0)) },
			func() Request { r := send("p2", "0002", "ip2", t0); r.Subject = "sub-ip1"; return r }()},
		{ReasonVelocityNumber, func(c *Config) { c.Velocity.Number = lim(2) },
			func(t *testing.T, g *Guard) {
				mustAllow(t, g, send("p1", "0001", "ip1", t0))
				mustAllow(t, g, send("p1", "0001", "ip2", t0))
			}, send("p1", "0001", "ip3", t0)},
		{ReasonVelocityPrefix, func(c *Config) { c.Velocity.Prefix = lim(2) },
			func(t *testing.T, g *Guard) {
				mustAllow(t, g, send("p1", "0001", "ip1", t0))
				mustAllow(t, g, send("p1", "0002", "ip2", t0))
			}, send("p1", "0003", "ip3", t0)},
		{ReasonVelocityCountry, func(c *Config) { c.Velocity.Country = lim(2) },
			func(t *testing.T, g *Guard) {
				mustAllow(t, g, send("p1", "0001", "ip1", t0))
				mustAllow(t, g, send("p2", "0002", "ip2", t0))
			}, send("p3", "0003", "ip3", t0)},
		{ReasonBreakerPrefix, func(c *Config) { c.PrefixBreaker = testBreaker(3) },
			func(t *testing.T, g *Guard) {
				for i := range 3 {
					mustAllow(t, g, send("p1", string(rune('a'+i)), "ip"+string(rune('a'+i)), t0))
				}
			}, send("p1", "0004", "ip4", t0.Add(time.Minute))},
		{ReasonBreakerCountry, func(c *Config) { c.CountryBreaker = testBreaker(3) },
			func(t *testing.T, g *Guard) {
				for i := range 3 {
					mustAllow(t, g, send("p"+string(rune('a'+i)), "1", "ip"+string(rune('a'+i)), t0))
				}
			}, send("p4", "0004", "ip4", t0.Add(time.Minute))},
		{ReasonSpendCapCountry, func(c *Config) { c.Spend.CountryPerDay = 0.1 },
			func(t *testing.T, g *Guard) {
				mustAllow(t, g, send("p1", "0001", "ip1", t0))
				mustAllow(t, g, send("p2", "0002", "ip2", t0))
			}, send("p3", "0003", "ip3", t0)},
		{ReasonSpendCapTotal, func(c *Config) { c.Spend.TotalPerDay = 0.1 },
			func(t *testing.T, g *Guard) {
				mustAllow(t, g, send("p1", "0001", "ip1", t0))
				r := send("p2", "0002", "ip2", t0)
				r.Country = "US"
				mustAllow(t, g, r)
			}, send("p3", "0003", "ip3", t0)},
		{ReasonChallengeRequired, func(c *Config) { c.Velocity.IP = []Limit{{Count: 5, Window: time.Hour, Soft: 1}} },
			func(t *testing.T, g *Guard) { mustAllow(t, g, send("p1", "0001", "ip1", t0)) },
			send("p2", "0002", "ip1", t0)},
		{ReasonChallengeInvalid, func(c *Config) { c.Velocity.Prefix = []Limit{{Count: 5, Window: time.Hour, Soft: 1}} },
			func(t *testing.T, g *Guard) { mustAllow(t, g, send("p1", "0001", "ip1", t0)) },
			func() Request { r := send("p1", "0002", "ip2", t0); r.PoWSolution = "bogus:1"; return r }()},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			seen[tt.reason] = true
			cfg := plainConfig(&clock{t: t0})
			if tt.config != nil {
				tt.config(&cfg)
			}
			g := New(cfg)
			if tt.setup != nil {
				tt.setup(t, g)
			}
			d := mustRefuse(t, g, tt.req, tt.reason)
			challenge := tt.reason == ReasonChallengeRequired || tt.reason == ReasonChallengeInvalid
			if (d.Challenge != nil) != challenge {
				t.Errorf("Challenge = %+v", d.Challenge)
			}
			if d.Cost != 0.05 {
				t.Errorf("Cost = %v, want 0.05", d.Cost)
			}
			st := g.Stats()
			if st.Refused != 1 || st.Reasons[tt.reason] != 1 {
				t.Errorf("Stats = %+v, want one refusal for %s", st, tt.reason)
			}
		})
	}
	for _, r := range Reasons() {
		if !seen[r] {
			t.Errorf("reason %s not tested", r)
		}
	}
	if len(Reasons()) != 18 {
		t.Errorf("Reasons() = %v", Reasons())
	}
}

func block(t *testing.T, g *Guard, k Kind, key string) {
	t.Helper()
	if err := g.Block(k, key, "test", time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func testBreaker(minSends int) BreakerConfig {
	return BreakerConfig{MinSends: minSends, Floor: 0.2, Window: time.Hour, Grace: 0, Block: 12 * time.Hour, Probes: 3, ProbeWait: 15 * time.Minute}
}

func TestSeveralReasons(t *testing.T) {
	cfg := plainConfig(nil)
	cfg.Countries = []string{"US"}
	g := New(cfg)
	block(t, g, KindIP, "ip1")
	block(t, g, KindSubject, "sub-ip1")
	r := send("p1", "1", "ip1", t0)
	r.Type = phone.TollFree
	mustRefuse(t, g, r, ReasonBlocklistIP, ReasonBlocklistSubject, ReasonCountryNotAllowed, ReasonNumberType)

	// Counters give all their reasons together, and no challenge.
	cfg = plainConfig(nil)
	cfg.Velocity.IP = []Limit{{Count: 1, Window: time.Hour}}
	cfg.Velocity.Number = []Limit{{Count: 1, Window: time.Hour}}
	cfg.Velocity.Prefix = []Limit{{Count: 3, Window: time.Hour, Soft: 1}}
	cfg.Spend.TotalPerDay = 0.05
	g = New(cfg)
	mustAllow(t, g, send("p1", "1", "ip1", t0))
	d := mustRefuse(t, g, send("p1", "1", "ip1", t0), ReasonVelocityNumber, ReasonVelocityIP, ReasonSpendCapTotal)
	if d.Challenge != nil {
		t.Errorf("challenge offered with hard refusals")
	}
}

func TestNumberTypes(t *testing.T) {
	g := New(plainConfig(nil))
	for _, typ := range []phone.Type{phone.Mobile, phone.FixedLine, phone.FixedLineOrMobile, phone.VoIP, phone.PersonalNumber, phone.Unknown, ""} {
		mustAllow(t, g, Request{Number: "n" + string(typ), Country: "US", Type: typ, Now: t0})
	}
	for _, typ := range []phone.Type{phone.TollFree, phone.PremiumRate, phone.SharedCost, phone.UAN, phone.Pager, phone.Voicemail} {
		mustRefuse(t, g, Request{Number: "n" + string(typ), Country: "US", Type: typ, Now: t0}, ReasonNumberType)
	}
	cfg := plainConfig(nil)
	cfg.RefusedTypes = append(cfg.RefusedTypes, phone.VoIP)
	g = New(cfg)
	mustRefuse(t, New(cfg), Request{Number: "n", Country: "US", Type: phone.VoIP, Now: t0}, ReasonNumberType)
	// An allow entry never lifts the type rule.
	if err := g.Allow(KindNumber, "n", time.Time{}); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, g, Request{Number: "n", Country: "US", Type: phone.PremiumRate, Now: t0}, ReasonNumberType)
}

func TestCountryAllowList(t *testing.T) {
	cfg := plainConfig(nil)
	cfg.Countries = []string{"gb", "001"}
	g := New(cfg)
	mustAllow(t, g, Request{Number: "a", Country: "GB", Now: t0})
	mustAllow(t, g, Request{Number: "b", Country: "gb", Now: t0})
	mustAllow(t, g, Request{Number: "c", Country: "", Now: t0}) // non-geographic
	mustRefuse(t, g, Request{Number: "d", Country: "US", Now: t0}, ReasonCountryNotAllowed)
	mustRefuse(t, g, Request{Number: "e", Country: "g1", Now: t0}, ReasonCountryNotAllowed) // counts as ZZ
	if err := g.Allow(KindCountry, "us", time.Time{}); err != nil {
		t.Fatal(err)
	}
	mustAllow(t, g, Request{Number: "d", Country: "US", Now: t0})

	g = New(plainConfig(nil)) // empty allow-list: every country
	mustAllow(t, g, Request{Number: "d", Country: "ZW", Now: t0})
}

// TestAllowPrecedence checks what an allow entry lifts and what it does not.
func TestAllowPrecedence(t *testing.T) {
	c := &clock{t: t0}
	cfg := plainConfig(c)
	cfg.Countries = []string{"US"}
	cfg.Velocity.Number = []Limit{{Count: 1, Window: time.Hour}}
	cfg.Velocity.Prefix = []Limit{{Count: 1, Window: time.Hour}}
	cfg.Velocity.IP = []Limit{{Count: 1, Window: time.Hour}}
	cfg.Spend.CountryPerDay = 0.2
	g := New(cfg)
	block(t, g, KindPrefix, "p1")
	block(t, g, KindCountry, "GB")

	// An allowed number passes a blocked prefix, a blocked country, the
	// country allow-list and the number and prefix limits...
	if err := g.Allow(KindNumber, "p1-1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		mustAllow(t, g, send("p1", "1", "ip"+string(rune('a'+i)), t0))
	}
	// ...but not the other numbers of the prefix,
	mustRefuse(t, g, send("p1", "2", "ipz", t0), ReasonBlocklistPrefix, ReasonBlocklistCountry, ReasonCountryNotAllowed)
	// nor a blocked IP or a limit on its IP,
	block(t, g, KindIP, "blocked")
	mustRefuse(t, g, send("p1", "1", "blocked", t0), ReasonBlocklistIP)
	mustRefuse(t, g, send("p1", "1", "ipa", t0), ReasonVelocityIP)
	// nor the spend cap (two sends of 0.05 were counted, 0.2 allowed).
	mustAllow(t, g, send("p1", "1", "ipc", t0))
	mustAllow(t, g, send("p1", "1", "ipd", t0))
	mustRefuse(t, g, send("p1", "1", "ipe", t0), ReasonSpendCapCountry)

	// An allowed prefix passes a blocked country, not a blocked number.
	if err := g.Allow(KindPrefix, "p1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(25 * time.Hour)) // a new spend day
	later := t0.Add(25 * time.Hour)
	mustAllow(t, g, send("p1", "2", "ipf", later))
	mustAllow(t, g, send("p1", "3", "ipg", later)) // the prefix limit is lifted
	block(t, g, KindNumber, "p1-4")
	mustRefuse(t, g, send("p1", "4", "iph", later), ReasonBlocklistNumber)
	mustRefuse(t, g, send("p1", "5", "ipf", later), ReasonVelocityIP)

	// An allowed IP lifts the IP limit only.
	if err := g.Allow(KindIP, "ipf", time.Time{}); err != nil {
		t.Fatal(err)
	}
	mustAllow(t, g, send("p1", "5", "ipf", later))
	mustRefuse(t, g, send("p1", "5", "ipf", later), ReasonVelocityNumber)

	// Block replaces Allow, and the reverse; Unblock removes either.
	block(t, g, KindIP, "ipf")
	mustRefuse(t, g, send("p1", "6", "ipf", later), ReasonBlocklistIP)
	if !g.Unblock(KindIP, "ipf") || g.Unblock(KindIP, "ipf") {
		t.Error("Unblock did not remove exactly once")
	}
	mustRefuse(t, g, send("p1", "6", "ipf", later), ReasonVelocityIP)
}

func TestListEntries(t *testing.T) {
	c := &clock{t: t0}
	g := New(plainConfig(c))
	if err := g.Block(KindPrefix, "p1", "pumping, ticket 42", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := g.Allow(KindCountry, "us", time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Kind: KindCountry, Key: "US", Action: ActionAllow, Created: t0},
		{Kind: KindPrefix, Key: "p1", Action: ActionBlock, Reason: "pumping, ticket 42", Created: t0, Until: t0.Add(time.Hour)},
	}
	if got := g.Lists(); !slices.Equal(got, want) {
		t.Errorf("Lists() = %+v, want %+v", got, want)
	}
	mustRefuse(t, g, send("p1", "1", "ip", t0.Add(59*time.Minute)), ReasonBlocklistPrefix)
	mustAllow(t, g, send("p1", "1", "ip", t0.Add(time.Hour)))
	c.Set(t0.Add(time.Hour))
	if got := g.Lists(); len(got) != 1 || got[0].Kind != KindCountry {
		t.Errorf("expired entry listed: %+v", got)
	}

	bad := []struct {
		name string
		err  error
	}{
		{"unknown kind", g.Block("imei", "x", "", time.Time{})},
		{"empty key", g.Block(KindIP, "", "", time.Time{})},
		{"long key", g.Block(KindIP, strings.Repeat("x", 257), "", time.Time{})},
		{"bad country", g.Block(KindCountry, "GBR", "", time.Time{})},
		{"long reason", g.Block(KindIP, "x", strings.Repeat("r", 501), time.Time{})},
		{"past until", g.Allow(KindIP, "x", t0)},
	}
	for _, b := range bad {
		if !errors.Is(b.err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", b.name, b.err)
		}
	}
	if len(g.Lists()) != 1 {
		t.Errorf("a refused entry changed the lists: %+v", g.Lists())
	}
}

func TestVelocityWindow(t *testing.T) {
	cfg := plainConfig(nil)
	cfg.Velocity.Number = []Limit{{Count: 3, Window: 10 * time.Minute}, {Count: 5, Window: time.Hour}}
	g := New(cfg)
	at := func(d time.Duration) Request { return Request{Number: "n", Country: "US", Now: t0.Add(d)} }
	for i := range 3 {
		mustAllow(t, g, at(time.Duration(i)*time.Minute))
	}
	mustRefuse(t, g, at(5*time.Minute), ReasonVelocityNumber)
	// The first send leaves the 10-minute window at 10m, counted to the
	// end of its bucket (50s wide).
	mustRefuse(t, g, at(10*time.Minute+49*time.Second), ReasonVelocityNumber)
	mustAllow(t, g, at(10*time.Minute+50*time.Second))
	mustAllow(t, g, at(12*time.Minute)) // 5 in the hour
	mustRefuse(t, g, at(40*time.Minute), ReasonVelocityNumber)
	mustAllow(t, g, at(65*time.Minute)) // 10m50s, 12m and 65m in the hour
	// Requests a little out of order count too.
	mustAllow(t, g, at(64*time.Minute))
	mustAllow(t, g, at(63*time.Minute))
	mustRefuse(t, g, at(66*time.Minute), ReasonVelocityNumber)
}

func TestRing(t *testing.T) {
	const w = int64(time.Second)
	var r ring
	base := t0.UnixNano()
	for i := range 12 {
		r.add(base+int64(i)*w, w, false)
	}
	if n := r.sum(base+11*w, w); n != 12 {
		t.Fatalf("sum = %d, want 12", n)
	}
	r.add(base+5*w, w, false) // late, within the ring
	r.add(base-2*w, w, false) // older than the ring: ignored
	if n := r.sum(base+12*w, w); n != 13 {
		t.Fatalf("sum = %d, want 13", n)
	}
	if n := r.sum(base+13*w, w); n != 12 { // the first bucket left
		t.Fatalf("sum = %d, want 12", n)
	}
	r.add(base+5*w, w, true)
	r.add(base+5*w, w, true)
	r.add(base+5*w, w, true) // never below zero
	if n := r.sum(base+13*w, w); n != 10 {
		t.Fatalf("sum = %d, want 10", n)
	}
	if n := r.sum(base+100*w, w); n != 0 {
		t.Fatalf("sum = %d, want 0", n)
	}
}

func TestSpendCaps(t *testing.T) {
	cfg := plainConfig(nil)
	cfg.Spend = SpendConfig{
		Prices:        map[string]float64{"GB": 0.04, "GB:call": 0.1, "001": 0.5},
		DefaultPrice:  0.01,
		CountryPerDay: 0.2,
		TotalPerDay:   0.3,
	}
	g := New(cfg)
	gb := func(n string, at time.Time) Request { return Request{Number: n, Country: "GB", Now: at} }
	for i := range 5 {
		if d := mustAllow(t, g, gb(string(rune('a'+i)), t0)); d.Cost != 0.04 {
			t.Fatalf("Cost = %v, want 0.04", d.Cost)
		}
	}
	d := mustRefuse(t, g, gb("f", t0), ReasonSpendCapCountry)
	if d.Cost != 0.04 {
		t.Errorf("Cost = %v", d.Cost)
	}
	call := Request{Number: "g", Country: "GB", Channel: "call", Now: t0}
	mustRefuse(t, g, call, ReasonSpendCapCountry)
	if d := g.Check(Request{Country: "GB", Channel: "whatsapp", Now: t0}); d.Cost != 0.04 {
		t.Errorf("whatsapp Cost = %v, want the country's 0.04", d.Cost)
	}
	if d := g.Check(Request{Country: "", Now: t0}); d.Cost != 0.5 {
		t.Errorf("non-geographic Cost = %v, want 0.5", d.Cost)
	}
	// The total cap: 0.2 spent, 0.1 left.
	for i := range 10 {
		mustAllow(t, g, Request{Number: "us" + string(rune('a'+i)), Country: "US", Now: t0})
	}
	mustRefuse(t, g, Request{Number: "usz", Country: "US", Now: t0}, ReasonSpendCapTotal)

	// Failed gives the money back, to the country and the total.
	first := gb("a", t0)
	g.Failed(first, Decision{Allow: true, Cost: 0.04})
	mustAllow(t, g, gb("f", t0))
	mustRefuse(t, g, gb("h", t0), ReasonSpendCapCountry, ReasonSpendCapTotal)
	// Failed of a refusal is ignored.
	g.Failed(first, Decision{Cost: 0.04})
	mustRefuse(t, g, gb("h", t0), ReasonSpendCapCountry, ReasonSpendCapTotal)

	// A new UTC day starts from zero.
	next := t0.Add(12 * time.Hour)
	mustAllow(t, g, gb("h", next))
	// and a late refund of yesterday does not touch today.
	g.Failed(gb("a", t0), Decision{Allow: true, Cost: 0.04})
	for i := range 4 {
		mustAllow(t, g, gb("i"+string(rune('a'+i)), next))
	}
	mustRefuse(t, g, gb("j", next), ReasonSpendCapCountry)
}

func TestFailedRefundsVelocity(t *testing.T) {
	cfg := plainConfig(nil)
	cfg.Velocity.Number = []Limit{{Count: 1, Window: time.Hour}}
	cfg.Velocity.IP = []Limit{{Count: 1, Window: time.Hour}}
	g := New(cfg)
	r := send("p", "1", "ip", t0)
	d := mustAllow(t, g, r)
	mustRefuse(t, g, r, ReasonVelocityNumber, ReasonVelocityIP)
	g.Failed(r, d)
	mustAllow(t, g, r)
	g.Failed(r, d)
	g.Failed(r, d) // more refunds than sends leave the count at zero
	mustAllow(t, g, r)
	mustRefuse(t, g, r, ReasonVelocityNumber, ReasonVelocityIP)
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	cfg := DefaultConfig()
	cfg.Countries = []string{"GBR"}
	cfg.Velocity.IP = []Limit{{Count: 0, Window: time.Hour}, {Count: 5, Window: 0, Soft: 5}}
	cfg.Velocity.Number = []Limit{{Count: 5, Window: time.Hour, Soft: 1}}
	cfg.PrefixBreaker.Floor = 0
	cfg.PrefixBreaker.Grace = 2 * time.Hour
	cfg.CountryBreaker.Probes = 2
	cfg.CountryBreaker.ProbeWait = 0
	cfg.Baseline = 1.5
	cfg.Spend.Prices = map[string]float64{"Britain": 1, "US": -1}
	cfg.Spend.TotalPerDay = 1e12
	cfg.PoW.Difficulty = 40
	cfg.PoW.TTL = 0
	cfg.MaxKeys = 0
	err := cfg.Validate()
	for _, field := range []string{"Countries[0]", "Velocity.IP[0].Count", "Velocity.IP[1].Window", "Velocity.IP[1].Soft",
		"Velocity.Number[0].Soft", "PrefixBreaker.Floor", "PrefixBreaker.Grace", "CountryBreaker.ProbeWait", "Baseline",
		"Spend.Prices", "Spend.Prices[US]", "Spend.TotalPerDay", "PoW.Difficulty", "PoW.TTL", "MaxKeys"} {
		if err == nil || !strings.Contains(err.Error(), field+":") {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New accepted an invalid Config")
		}
	}()
	New(cfg)
}
