// Package fraud decides, before ringfence pays for a message, whether the
// send looks like fraud, and says why.
//
// A Guard is consulted before every paid send (Check) and told what became
// of it (Approved, Failed). It applies, in memory and without I/O:
//
//   - the number-type rule (premium-rate and the like are never sent to);
//   - allow and block lists by number, prefix, country, IP and subject, and
//     the country allow-list;
//   - sliding-window velocity limits per IP, subject, number, prefix and
//     country;
//   - a conversion breaker per prefix and per country, which blocks a key
//     whose sends stop being approved (SMS pumping) and later probes it;
//   - daily spend caps per country and overall, from a price table;
//   - proof-of-work challenges once an IP or prefix passes a soft limit.
//
// Numbers, prefixes, IPs and subjects are known only by the opaque keys the
// caller passes (keyed blind indexes); the Guard never sees a number, and
// nothing it returns, lists or snapshots holds one.
//
// The lifecycle of a send: Check before paying for it; if the Decision
// allows, send, and call Failed with the same request and decision if the
// provider refuses it; call Approved when its code is approved. A refusal
// is final for that request, except that a Challenge may be solved and the
// request made again with the solution.
//
// Counters live in memory and are lost on restart; Snapshot and Restore
// carry the lists and the open breakers across.
package fraud

import (
	"crypto/rand"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringfence/ringfence/internal/phone"
)

// Request describes one send the caller is about to pay for.
type Request struct {
	// Opaque keys, such as the hex of keyed blind indexes; "" if unknown,
	// which skips the checks of that kind. Prefix is the key of the number
	// without its last four digits (phone.Number.Prefix).
	Number, Prefix, IP, Subject string

	// Country is the number's ISO country code (phone.Number.Country);
	// "" and "001" mean a non-geographic number. A malformed code counts
	// as "ZZ".
	Country string
	// Type is the number's type; "" counts as phone.Unknown.
	Type phone.Type
	// Channel is the delivery channel ("sms", "call", "whatsapp"); it
	// selects channel prices.
	Channel string
	// PoWSolution is token + ":" + nonce, the answer to a Challenge of an
	// earlier Decision; "" if none.
	PoWSolution string
	// Now is the time of the request; zero means the Guard's clock.
	Now time.Time
}

// Decision is the Guard's answer to Check.
type Decision struct {
	Allow bool `json:"allow"`
	// Reasons are the machine words (the Reason constants) of a refusal,
	// in a fixed order; nil when Allow.
	Reasons []string `json:"reasons,omitempty"`
	// Challenge is set when the refusal can be overcome by solving it:
	// with ReasonChallengeRequired or ReasonChallengeInvalid alone.
	Challenge *Challenge `json:"challenge,omitempty"`
	// Cost is the price of this send from the price table.
	Cost float64 `json:"cost"`
	// Probe is true when the send is let through as a probe of a breaker
	// that was open; its outcome decides whether the breaker closes.
	Probe bool `json:"probe,omitempty"`
}

// Guard is the fraud guard. Its methods may be called concurrently.
//
// Memory is bounded: counters are kept for at most Config.MaxKeys keys,
// spread over shards. A key idle for longer than its longest window is
// dropped when its shard next takes a key. When a shard is full, the least
// recently used of a sample of its keys is dropped, losing its counts (see
// Stats.Evicted); countries and keys with an open or probing breaker are
// never dropped. Spent challenge tokens are remembered until they expire,
// at most PoWConfig.MaxSpent of them; while that set is full of unexpired
// tokens, further solutions are refused as ReasonChallengeInvalid.
type Guard struct {
	cfg      Config
	now      func() time.Time
	lay      [numKinds]layout
	seed     maphash.Seed
	perShard int
	shards   [nShards]shard

	listMu sync.Mutex
	lists  atomic.Pointer[listSet]

	allowed      map[string]bool // country allow-list; empty allows all
	refusedTypes map[phone.Type]bool
	prices       map[[2]string]int64 // {country, channel} -> millionths
	defaultPrice int64
	countryCap   int64
	totalCap     int64
	total        atomic.Uint64 // day<<moneyBits | millionths spent that day

	powKey []byte
	spent  *spentSet

	base      atomic.Uint64 // float64 bits of the baseline conversion
	baseNext  atomic.Int64  // when to measure it again, Unix ns
	cmu       sync.Mutex
	countries []countryRef

	brkMu sync.Mutex
	open  map[tkey]struct{} // keys whose breaker is open or probing

	refused    atomic.Uint64
	byReason   [numReasons]atomic.Uint64
	challenges atomic.Uint64
	evicted    atomic.Uint64
}

// nonGeo is the country code of non-geographic numbers.
const nonGeo = "001"

// New returns a Guard applying cfg. It panics if cfg.Validate fails: check
// the configuration first.
func New(cfg Config) *Guard {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	g := &Guard{
		cfg:          cfg,
		now:          cfg.Now,
		seed:         maphash.MakeSeed(),
		perShard:     max((cfg.MaxKeys+nShards-1)/nShards, 1),
		allowed:      map[string]bool{},
		refusedTypes: map[phone.Type]bool{},
		prices:       map[[2]string]int64{},
		defaultPrice: micros(cfg.Spend.DefaultPrice),
		countryCap:   micros(cfg.Spend.CountryPerDay),
		totalCap:     micros(cfg.Spend.TotalPerDay),
		powKey:       cfg.PoW.Key,
		spent:        newSpentSet(cfg.PoW.MaxSpent),
		open:         map[tkey]struct{}{},
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.lay[kNumber] = newLayout(cfg.Velocity.Number, nil)
	g.lay[kPrefix] = newLayout(cfg.Velocity.Prefix, &cfg.PrefixBreaker)
	g.lay[kCountry] = newLayout(cfg.Velocity.Country, &cfg.CountryBreaker)
	g.lay[kIP] = newLayout(cfg.Velocity.IP, nil)
	g.lay[kSubject] = newLayout(cfg.Velocity.Subject, nil)
	for i := range g.shards {
		g.shards[i].m = make(map[tkey]*state)
	}
	g.lists.Store(&listSet{})
	for _, cc := range cfg.Countries {
		g.allowed[strings.ToUpper(cc)] = true
	}
	for _, t := range cfg.RefusedTypes {
		g.refusedTypes[t] = true
	}
	for k, v := range cfg.Spend.Prices {
		country, channel, _ := strings.Cut(k, ":")
		g.prices[[2]string{strings.ToUpper(country), channel}] = micros(v)
	}
	if len(g.powKey) == 0 {
		g.powKey = make([]byte, 32)
		rand.Read(g.powKey)
	}
	g.base.Store(math.Float64bits(cfg.Baseline))
	return g
}

// dayNs is the length of a spend day.
const dayNs = int64(24 * time.Hour)

// Check decides whether the send req describes may go ahead. When it
// allows, it counts the send against every limit, breaker and spend cap at
// once, as if it were paid; call Failed if it turns out not to be. A refused
// send counts nowhere (but against an open breaker's refusals).
//
// Check does no I/O and allocates nothing when it allows a send to known
// keys; it takes a few microseconds at most.
func (g *Guard) Check(req Request) Decision {
	now := req.Now
	if now.IsZero() {
		now = g.now()
	}
	t := now.UnixNano()
	if g.lay[kCountry].brk >= 0 && t >= g.baseNext.Load() {
		g.measureBaseline(t)
	}
	keys := requestKeys(&req)
	cost := g.price(keys[kCountry].s, req.Channel)

	var rs reasons
	typ := req.Type
	if typ == "" {
		typ = phone.Unknown
	}
	if g.refusedTypes[typ] {
		rs.add(rNumberType)
	}
	exempt := g.lists.Load().judge(&keys, t, &rs)
	if len(g.allowed) > 0 && exempt&(1<<kCountry) == 0 && !g.allowed[keys[kCountry].s] {
		rs.add(rCountryNotAllowed)
	}
	if rs != 0 {
		return g.refuse(rs, cost, nil)
	}

	var sol solution
	solOK := false
	if req.PoWSolution != "" {
		sol, solOK = g.verify(req.PoWSolution, req.IP, req.Prefix, t)
	}
	rs, probe := g.decide(&keys, exempt, t, cost, sol, solOK, req.PoWSolution != "")
	if rs != 0 {
		var ch *Challenge
		if rs.has(rChallengeRequired) || rs.has(rChallengeInvalid) {
			ch = g.issue(req.IP, req.Prefix, now)
		}
		return g.refuse(rs, cost, ch)
	}
	return Decision{Allow: true, Cost: float64(cost) / 1e6, Probe: probe}
}

// decide applies the counters to a request the static rules let through
// and, if it allows, counts it.
func (g *Guard) decide(keys *[numKinds]tkey, exempt uint8, t, cost int64, sol solution, solOK, solGiven bool) (rs reasons, probe bool) {
	var sh [numKinds]*shard
	defer g.unlock(g.lock(keys, &sh))

	var st [numKinds]*state
	for k := range numKinds {
		if sh[k] != nil {
			st[k] = sh[k].m[keys[k]]
		}
	}
	challenge := false
	for k := range numKinds {
		s := st[k]
		if s == nil || exempt&(1<<k) != 0 {
			continue
		}
		l := &g.lay[k]
		for i, lim := range l.limits {
			switch c := s.rings[i].sum(t, l.widths[i]); {
			case c >= lim.Count:
				rs.add(rVelocity + reason(k))
			case lim.Soft > 0 && c >= lim.Soft:
				challenge = true
			}
		}
	}
	var probes [numKinds]bool
	for _, k := range [...]kind{kPrefix, kCountry} {
		if st[k] == nil || exempt&(1<<k) != 0 || g.lay[k].brk < 0 {
			continue
		}
		refuse, p := g.breaker(keys[k], st[k], t)
		if refuse {
			rs.add(breakerReason(k))
		}
		probes[k] = p
	}
	day := t / dayNs
	if g.countryCap > 0 {
		spent := int64(0)
		if s := st[kCountry]; s != nil && s.spendDay == day {
			spent = s.spent
		}
		if spent+cost > g.countryCap {
			rs.add(rSpendCapCountry)
		}
	}
	if g.totalCap > 0 && g.totalSpent(day)+cost > g.totalCap {
		rs.add(rSpendCapTotal)
	}
	if rs != 0 {
		for _, k := range [...]kind{kPrefix, kCountry} {
			if rs.has(breakerReason(k)) {
				st[k].brk.refused++
			}
		}
		return rs, false
	}
	if challenge {
		switch {
		case !solGiven:
			rs.add(rChallengeRequired)
		case !solOK || !g.spent.spend(sol, t):
			rs.add(rChallengeInvalid)
		}
		if rs != 0 {
			return rs, false
		}
	}
	if g.totalCap > 0 && !g.reserveTotal(day, cost) {
		if challenge {
			g.spent.unspend(sol)
		}
		rs.add(rSpendCapTotal)
		return rs, false
	}

	// Allowed: count it everywhere.
	for k := range numKinds {
		if sh[k] != nil && st[k] == nil && (exempt&(1<<k) == 0 || k == kCountry) {
			st[k] = g.create(sh[k], keys[k], t, keys)
		}
	}
	for k := range numKinds {
		s := st[k]
		if s == nil || exempt&(1<<k) != 0 {
			continue
		}
		l := &g.lay[k]
		for i := range l.limits {
			s.rings[i].add(t, l.widths[i], false)
		}
		if l.brk >= 0 {
			l.countSend(s, t, false)
			if probes[k] {
				s.brk.probesSent++
				s.brk.lastProbe = t
				probe = true
			}
		}
		s.last = max(s.last, t)
	}
	if s := st[kCountry]; day >= s.spendDay {
		if day > s.spendDay {
			s.spendDay, s.spent = day, 0
		}
		s.spent += cost
	}
	cs := sh[kCountry]
	cs.allowed++
	if probe {
		cs.probes++
	}
	return 0, probe
}

// locked is the set of shards a request holds, in lock order.
type locked struct {
	idx [numKinds]int
	n   int
}

// lock locks the shards of the non-empty keys, in shard order, and sets sh
// to them.
func (g *Guard) lock(keys *[numKinds]tkey, sh *[numKinds]*shard) locked {
	var l locked
	for k := range numKinds {
		if keys[k].s == "" {
			continue
		}
		i := g.shardOf(keys[k])
		sh[k] = &g.shards[i]
		// Insert i into the sorted l.idx[:l.n] unless it is there.
		j := 0
		for j < l.n && l.idx[j] < i {
			j++
		}
		if j < l.n && l.idx[j] == i {
			continue
		}
		copy(l.idx[j+1:l.n+1], l.idx[j:l.n])
		l.idx[j] = i
		l.n++
	}
	for _, i := range l.idx[:l.n] {
		g.shards[i].mu.Lock()
	}
	return l
}

func (g *Guard) unlock(l locked) {
	for _, i := range l.idx[:l.n] {
		g.shards[i].mu.Unlock()
	}
}

// refuse builds a refusal and counts it.
func (g *Guard) refuse(rs reasons, cost int64, ch *Challenge) Decision {
	g.refused.Add(1)
	for r := range reason(numReasons) {
		if rs.has(r) {
			g.byReason[r].Add(1)
		}
	}
	return Decision{Reasons: rs.strings(), Challenge: ch, Cost: float64(cost) / 1e6}
}

func breakerReason(k kind) reason {
	if k == kPrefix {
		return rBreakerPrefix
	}
	return rBreakerCountry
}

// requestKeys returns the keys of req, with its country normalised.
func requestKeys(req *Request) [numKinds]tkey {
	cc := req.Country
	switch {
	case cc == "":
		cc = nonGeo
	case !validCountry(cc):
		if cc = strings.ToUpper(cc); !validCountry(cc) {
			cc = "ZZ"
		}
	}
	return [numKinds]tkey{
		kNumber:  {kNumber, req.Number},
		kPrefix:  {kPrefix, req.Prefix},
		kCountry: {kCountry, cc},
		kIP:      {kIP, req.IP},
		kSubject: {kSubject, req.Subject},
	}
}

// Approved tells the Guard that a code sent to the number (by its keys) was
// approved at the given time (zero: now); it feeds the conversion breakers,
// and an approved probe closes its breaker.
func (g *Guard) Approved(number, prefix, country string, at time.Time) {
	if at.IsZero() {
		at = g.now()
	}
	t := at.UnixNano()
	keys := requestKeys(&Request{Number: number, Prefix: prefix, Country: country})
	var rs reasons
	exempt := g.lists.Load().judge(&keys, t, &rs)
	for _, k := range [...]kind{kPrefix, kCountry} {
		l := &g.lay[k]
		if keys[k].s == "" || exempt&(1<<k) != 0 || l.brk < 0 {
			continue
		}
		sh := &g.shards[g.shardOf(keys[k])]
		sh.mu.Lock()
		if s := sh.m[keys[k]]; s != nil {
			s.rings[l.brk+1].add(t, l.widths[l.brk+1], false)
			s.last = max(s.last, t)
			if b := s.brk; b != nil && b.phase == probing && b.probesSent > 0 && t >= b.probeStart {
				g.closeBreaker(keys[k], s)
			}
		}
		sh.mu.Unlock()
	}
}

// Failed tells the Guard that a send Check allowed was not made or not
// charged (the provider refused it): it takes the send back from every
// counter and spend cap, and gives a probe back to its breaker. req and d
// are the request and the decision of that Check; Failed does nothing for
// a refusal.
func (g *Guard) Failed(req Request, d Decision) {
	if !d.Allow {
		return
	}
	now := req.Now
	if now.IsZero() {
		now = g.now()
	}
	t := now.UnixNano()
	day := t / dayNs
	cost := micros(d.Cost)
	keys := requestKeys(&req)
	var rs reasons
	exempt := g.lists.Load().judge(&keys, t, &rs)
	var sh [numKinds]*shard
	held := g.lock(&keys, &sh)
	for k := range numKinds {
		if sh[k] == nil {
			continue
		}
		s := sh[k].m[keys[k]]
		if s == nil {
			continue
		}
		if k == kCountry && s.spendDay == day {
			s.spent = max(s.spent-cost, 0)
		}
		if exempt&(1<<k) != 0 {
			continue
		}
		l := &g.lay[k]
		for i := range l.limits {
			s.rings[i].add(t, l.widths[i], true)
		}
		if l.brk >= 0 {
			l.countSend(s, t, true)
			if b := s.brk; d.Probe && b != nil && b.phase == probing && b.probesSent > 0 {
				b.probesSent--
			}
		}
	}
	g.unlock(held)
	if g.totalCap > 0 {
		g.refundTotal(day, cost)
	}
}

// Stats are the Guard's counters since New, for metrics.
type Stats struct {
	Allowed      uint64            // sends allowed
	Probes       uint64            // sends allowed as breaker probes
	Refused      uint64            // sends refused
	Reasons      map[string]uint64 // refusals by reason (a refusal may give several)
	Challenges   uint64            // challenges issued
	Evicted      uint64            // keys dropped from a full table before they were idle
	Keys         int               // keys tracked now
	OpenBreakers int               // breakers open or probing now
}

// Stats returns the Guard's counters.
func (g *Guard) Stats() Stats {
	s := Stats{
		Refused:    g.refused.Load(),
		Reasons:    make(map[string]uint64, numReasons),
		Challenges: g.challenges.Load(),
		Evicted:    g.evicted.Load(),
	}
	for r := range reason(numReasons) {
		s.Reasons[reasonNames[r]] = g.byReason[r].Load()
	}
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		s.Allowed += sh.allowed
		s.Probes += sh.probes
		s.Keys += len(sh.m)
		sh.mu.Unlock()
	}
	g.brkMu.Lock()
	s.OpenBreakers = len(g.open)
	g.brkMu.Unlock()
	return s
}
