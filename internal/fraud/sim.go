package fraud

import (
	"container/heap"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/phone"
)

// Scenario is traffic for Simulate: real sign-ups, arriving at random over
// Duration, interleaved with SMS-pumping attacks, on a virtual clock.
type Scenario struct {
	Seed     uint64    // of the pseudo-random generator; the same seed gives the same run
	Start    time.Time // the virtual clock's start
	Duration time.Duration

	SignupsPerHour float64      // real sign-ups, arriving as a Poisson process
	Countries      []SimCountry // where real sign-ups' numbers are
	IPs            int          // client IPs of real sign-ups, one each
	SharedIPs      int          // carrier NAT addresses behind which a tenth of real sign-ups come
	ApproveRate    float64      // share of real sign-ups whose code is approved, most within a minute
	ResendRate     float64      // share of the others who ask for a resend a minute or two later
	FailRate       float64      // share of sends the provider fails (Failed is called); the client retries

	Attacks []SimAttack
}

// SimCountry is where a share of real sign-ups come from.
type SimCountry struct {
	Code     string
	Share    float64    // relative weight
	Prefixes int        // number ranges in use; a few are much busier than the rest
	Type     phone.Type // "" means phone.Mobile
}

// SimAttack is an SMS-pumping attack: sends to sequential numbers of a few
// ranges, from rotating IPs, none ever approved.
type SimAttack struct {
	Name            string
	Country         string
	Type            phone.Type    // "" means phone.Mobile
	Prefixes        int           // ranges attacked, in turn
	Start           time.Duration // after Scenario.Start
	Sends           int           // attempts
	Every           time.Duration // between attempts
	IPs             int           // rotating client IPs
	SolveChallenges bool          // the attacker pays the proof of work
}

// SimConfig is DefaultConfig with a price table for the countries of
// PumpingScenario, those countries allowed, and challenges cheap enough to
// solve by the thousand.
func SimConfig() Config {
	cfg := DefaultConfig()
	cfg.Countries = []string{"US", "GB", "DE", "FR", "IN", "BR", "UZ"}
	cfg.Spend.Prices = map[string]float64{"US": 0.01, "GB": 0.04, "DE": 0.08, "FR": 0.07, "IN": 0.03, "BR": 0.03, "UZ": 0.25}
	cfg.Spend.CountryPerDay = 200
	cfg.Spend.TotalPerDay = 1000
	cfg.PoW.Difficulty = 8
	return cfg
}

// PumpingScenario is a day of real sign-ups (400 an hour from six countries,
// 85% approved, 30% of the others resending, 1% failed by the provider) with
// four pumping attacks: a burst at one high-cost range, the same by an
// attacker who solves every challenge, a slower one spread over three ranges
// of a costly country, and one at premium-rate numbers.
func PumpingScenario(seed uint64) Scenario {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	return Scenario{
		Seed:           seed,
		Start:          start,
		Duration:       24 * time.Hour,
		SignupsPerHour: 400,
		Countries: []SimCountry{
			{Code: "US", Share: 40, Prefixes: 3000},
			{Code: "GB", Share: 15, Prefixes: 1500},
			{Code: "DE", Share: 15, Prefixes: 1500},
			{Code: "FR", Share: 10, Prefixes: 1000},
			{Code: "IN", Share: 10, Prefixes: 2000},
			{Code: "BR", Share: 10, Prefixes: 1000},
		},
		IPs:         50000,
		SharedIPs:   10,
		ApproveRate: 0.85,
		ResendRate:  0.3,
		FailRate:    0.01,
		Attacks: []SimAttack{
			{Name: "burst", Country: "GB", Prefixes: 1, Start: 2 * time.Hour, Sends: 3000, Every: 3 * time.Second, IPs: 2000},
			{Name: "burst-solving", Country: "FR", Prefixes: 1, Start: 3 * time.Hour, Sends: 3000, Every: 3 * time.Second, IPs: 2000, SolveChallenges: true},
			{Name: "spread", Country: "UZ", Prefixes: 3, Start: 5 * time.Hour, Sends: 3000, Every: 20 * time.Second, IPs: 500, SolveChallenges: true},
			{Name: "premium", Country: "DE", Type: phone.PremiumRate, Prefixes: 2, Start: 8 * time.Hour, Sends: 500, Every: 10 * time.Second, IPs: 100},
		},
	}
}

// Goals of the guard on simulated traffic.
const (
	GoalAttackRefusedPct = 99.0 // at least this share of pumping sends after each attack's first 50 refused
	GoalSignupRefusedPct = 0.5  // at most this share of real sign-ups refused
)

// GoalMet reports whether r meets the goals: every attack refused at least
// GoalAttackRefusedPct after its first 50 attempts, and at most
// GoalSignupRefusedPct of real sign-ups refused.
func (r SimReport) GoalMet() bool {
	for _, a := range r.Attacks {
		if a.RefusedPct50 < GoalAttackRefusedPct {
			return false
		}
	}
	return r.AttackRefusedPct50 >= GoalAttackRefusedPct && r.SignupRefusedPct <= GoalSignupRefusedPct
}

// SimReport is what Simulate saw.
type SimReport struct {
	Signups          int     // real sign-ups
	SignupsRefused   int     // real sign-ups whose first send was refused, challenges solved
	SignupRefusedPct float64 // SignupsRefused as a percentage of Signups
	RealSends        int     // sends real clients asked for (first sends, resends, retries)
	RealSendsRefused int
	RealChallenges   int // challenges real clients solved
	RealCost         float64
	RealRefusals     map[string]int // refusals of real sends by reason

	Attacks             []SimAttackReport
	AttackSends         int // attempts of all attacks
	AttackPaid          int
	AttackPaidAfter50   int     // paid after each attack's first 50 attempts
	AttackRefusedPct50  float64 // refused share of the attempts after each attack's first 50, as a percentage
	AttackCost          float64
	Probes              int // breaker probes let through (all traffic)
	BreakersOpenedAtEnd int
	Stats               Stats
}

// SimAttackReport is what one attack achieved.
type SimAttackReport struct {
	Name             string
	Sends            int
	Paid             int
	Cost             float64
	Cutoff           int // attempts before the first one a breaker refused; -1 if none was
	PaidBeforeCutoff int // of them, paid
	RangeCutoff      int // most sends paid to one range before a breaker first refused a send to it
	PaidAfter50      int // paid after the first 50 attempts
	RefusedPct50     float64
	Challenges       int // challenges the attacker solved
	Reasons          map[string]int

	paidByRange []int  // paid sends per range
	cut         []bool // whether a breaker refused the range yet
}

// Simulate runs scenario through g, calling Check before every send,
// Approved for every approved code and Failed for every failed send. It is
// deterministic for a given Seed and a fresh g. Proof-of-work challenges are
// solved with Solve, so keep PoWConfig.Difficulty low in simulations.
func Simulate(g *Guard, sc Scenario) SimReport {
	s := &sim{
		g:   g,
		sc:  sc,
		rnd: rand.New(rand.NewPCG(sc.Seed, sc.Seed^0x5eed)),
		rep: SimReport{RealRefusals: map[string]int{}},
	}
	s.rep.Attacks = make([]SimAttackReport, len(sc.Attacks))
	for i, a := range sc.Attacks {
		ranges := max(a.Prefixes, 1)
		s.rep.Attacks[i] = SimAttackReport{Name: a.Name, Cutoff: -1, Reasons: map[string]int{}, paidByRange: make([]int, ranges), cut: make([]bool, ranges)}
		for n := range a.Sends {
			jitter := time.Duration(s.rnd.Int64N(int64(a.Every)/2 + 1))
			at := sc.Start.Add(a.Start + time.Duration(n)*a.Every + jitter)
			s.at(at, func() { s.attack(i, n, at) })
		}
	}
	var total float64
	for _, c := range sc.Countries {
		total += c.Share
	}
	if sc.SignupsPerHour > 0 && total > 0 {
		mean := float64(time.Hour) / sc.SignupsPerHour
		for at, i := sc.Start, 0; ; i++ {
			at = at.Add(time.Duration(s.rnd.ExpFloat64() * mean))
			if at.Sub(sc.Start) >= sc.Duration {
				break
			}
			su := s.newSignup(i, total)
			s.at(at, func() { s.real(su, at, true) })
		}
	}
	for s.q.Len() > 0 {
		ev := heap.Pop(&s.q).(*event)
		ev.fn()
	}
	r := &s.rep
	r.SignupRefusedPct = pct(r.SignupsRefused, r.Signups)
	after := 0
	for i := range r.Attacks {
		a := &r.Attacks[i]
		for p, paid := range a.paidByRange {
			if !a.cut[p] || paid > a.RangeCutoff {
				a.RangeCutoff = max(a.RangeCutoff, paid)
			}
		}
		n := max(a.Sends-50, 0)
		a.RefusedPct50 = 100 - pct(a.PaidAfter50, n)
		r.AttackSends += a.Sends
		r.AttackPaid += a.Paid
		r.AttackPaidAfter50 += a.PaidAfter50
		r.AttackCost += a.Cost
		after += n
	}
	r.AttackRefusedPct50 = 100 - pct(r.AttackPaidAfter50, after)
	r.Stats = g.Stats()
	r.Probes = int(r.Stats.Probes)
	r.BreakersOpenedAtEnd = r.Stats.OpenBreakers
	return *r
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

type sim struct {
	g   *Guard
	sc  Scenario
	rnd *rand.Rand
	q   eventQueue
	seq int
	rep SimReport
}

// signup is one real person signing up.
type signup struct {
	req      Request
	approves bool
	resends  bool
}

func (s *sim) newSignup(i int, total float64) *signup {
	x := s.rnd.Float64() * total
	c := s.sc.Countries[len(s.sc.Countries)-1]
	for _, cc := range s.sc.Countries {
		if x < cc.Share {
			c = cc
			break
		}
		x -= cc.Share
	}
	// Square a uniform variable: the first ranges are much busier.
	u := s.rnd.Float64()
	p := int(u * u * float64(max(c.Prefixes, 1)))
	prefix := fmt.Sprintf("real/%s/%d", c.Code, p)
	ip := fmt.Sprintf("ip/%d", s.rnd.IntN(max(s.sc.IPs, 1)))
	if s.sc.SharedIPs > 0 && s.rnd.Float64() < 0.1 {
		ip = fmt.Sprintf("nat/%d", s.rnd.IntN(s.sc.SharedIPs))
	}
	typ := c.Type
	if typ == "" {
		typ = phone.Mobile
	}
	su := &signup{req: Request{
		Number:  simKey(prefix, fmt.Sprintf("%04d", s.rnd.IntN(10000))),
		Prefix:  simKey(prefix),
		IP:      simKey(ip),
		Subject: simKey("subject", fmt.Sprint(i)),
		Country: c.Code,
		Type:    typ,
		Channel: "sms",
	}}
	su.approves = s.rnd.Float64() < s.sc.ApproveRate
	su.resends = !su.approves && s.rnd.Float64() < s.sc.ResendRate
	return su
}

// real makes one send of a real sign-up at t.
func (s *sim) real(su *signup, t time.Time, first bool) {
	r := &s.rep
	if first {
		r.Signups++
	}
	r.RealSends++
	req := su.req
	req.Now = t
	d := s.g.Check(req)
	if d.Challenge != nil {
		r.RealChallenges++
		req.PoWSolution = d.Challenge.Token + ":" + Solve(d.Challenge.Token, d.Challenge.Difficulty)
		d = s.g.Check(req)
	}
	if !d.Allow {
		r.RealSendsRefused++
		if first {
			r.SignupsRefused++
		}
		for _, why := range d.Reasons {
			r.RealRefusals[why]++
		}
		return
	}
	if s.rnd.Float64() < s.sc.FailRate {
		s.g.Failed(req, d)
		s.at(t.Add(30*time.Second), func() { s.real(su, t.Add(30*time.Second), false) })
		return
	}
	r.RealCost += d.Cost
	switch {
	case su.approves:
		// Most people type the code within a minute; a few take longer.
		delay := 10*time.Second + time.Duration(s.rnd.ExpFloat64()*float64(20*time.Second))
		delay = min(delay, 5*time.Minute)
		at := t.Add(delay)
		s.at(at, func() { s.g.Approved(req.Number, req.Prefix, req.Country, at) })
	case su.resends:
		su.resends = false
		at := t.Add(time.Minute + time.Duration(s.rnd.IntN(60))*time.Second)
		s.at(at, func() { s.real(su, at, false) })
	}
}

// attack makes the n-th send of attack i at t.
func (s *sim) attack(i, n int, t time.Time) {
	a := s.sc.Attacks[i]
	rep := &s.rep.Attacks[i]
	p := n % max(a.Prefixes, 1)
	prefix := fmt.Sprintf("attack/%s/%d", a.Name, p)
	typ := a.Type
	if typ == "" {
		typ = phone.Mobile
	}
	req := Request{
		Number:  simKey(prefix, fmt.Sprintf("%04d", (n/max(a.Prefixes, 1))%10000)),
		Prefix:  simKey(prefix),
		IP:      simKey("attack-ip", a.Name, fmt.Sprint(s.rnd.IntN(max(a.IPs, 1)))),
		Country: a.Country,
		Type:    typ,
		Channel: "sms",
		Now:     t,
	}
	rep.Sends++
	d := s.g.Check(req)
	if d.Challenge != nil && a.SolveChallenges {
		rep.Challenges++
		req.PoWSolution = d.Challenge.Token + ":" + Solve(d.Challenge.Token, d.Challenge.Difficulty)
		d = s.g.Check(req)
	}
	if !d.Allow {
		for _, why := range d.Reasons {
			rep.Reasons[why]++
		}
		if slices.Contains(d.Reasons, ReasonBreakerPrefix) || slices.Contains(d.Reasons, ReasonBreakerCountry) {
			if rep.Cutoff < 0 {
				rep.Cutoff = n
				rep.PaidBeforeCutoff = rep.Paid
			}
			rep.cut[p] = true
		}
		return
	}
	if !rep.cut[p] {
		rep.paidByRange[p]++
	}
	rep.Paid++
	rep.Cost += d.Cost
	if n >= 50 {
		rep.PaidAfter50++
	}
}

// simKey returns an opaque key for a simulated label, shaped like the hex
// of a blind index.
func simKey(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}

func (s *sim) at(t time.Time, fn func()) {
	s.seq++
	heap.Push(&s.q, &event{t: t, seq: s.seq, fn: fn})
}

type event struct {
	t   time.Time
	seq int
	fn  func()
}

// eventQueue is a heap of events by time, then by order of scheduling.
type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if c := q[i].t.Compare(q[j].t); c != 0 {
		return c < 0
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	*q = old[:len(old)-1]
	return ev
}
