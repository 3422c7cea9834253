package fraud

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// phase is the phase of a breaker that is not closed.
type phase uint8

const (
	open    phase = iota // refusing every send until until
	probing              // letting Probes sends through, then waiting for an approval
)

// tripped is the state of an open or probing breaker.
type tripped struct {
	phase      phase
	opened     int64 // when it (last) opened, Unix ns
	until      int64 // end of the block, Unix ns
	renewals   int   // times it opened again after probes went unapproved
	sent       int   // matured sends in the window when it first opened
	approved   int   // and of them approved
	threshold  float64
	refused    uint64 // sends refused since it first opened
	probeStart int64  // when probing began, Unix ns
	probesSent int
	lastProbe  int64 // Unix ns
}

// BreakerState describes an open or probing breaker, for operators.
type BreakerState struct {
	Kind Kind   `json:"kind"` // KindPrefix or KindCountry
	Key  string `json:"key"`
	// State is "open" (refusing every send until Until) or "probing"
	// (letting ProbesSent of the configured probes through, waiting for
	// one to be approved).
	State    string    `json:"state"`
	Opened   time.Time `json:"opened"`   // when it last opened
	Until    time.Time `json:"until"`    // end of the block
	Renewals int       `json:"renewals"` // times it opened again because no probe was approved
	// Sent and Approved are the matured sends in the window when it
	// first opened and how many of them were approved; Threshold is the
	// conversion below which it opened.
	Sent       int     `json:"sent"`
	Approved   int     `json:"approved"`
	Threshold  float64 `json:"threshold"`
	Refused    uint64  `json:"refused"` // sends refused since it first opened
	ProbesSent int     `json:"probes_sent"`
}

// breaker applies the breaker of key k (state s) to a send at t: it
// reports whether the send must be refused, and whether it would go as a
// probe. A closed breaker is judged and may open here. The shard is locked.
func (g *Guard) breaker(k tkey, s *state, t int64) (refuse, probe bool) {
	l := &g.lay[k.k]
	b := s.brk
	if b == nil {
		return g.judge(k, s, t), false
	}
	if b.phase == open {
		if t < b.until {
			return true, false
		}
		if l.bcfg.Probes == 0 {
			g.closeBreaker(k, s)
			return false, false
		}
		b.phase = probing
		b.probeStart = t
		b.probesSent = 0
	}
	if b.probesSent < l.bcfg.Probes {
		return false, true
	}
	if t-b.lastProbe >= int64(l.bcfg.ProbeWait) {
		b.phase = open
		b.opened = t
		b.until = t + int64(l.bcfg.Block)
		b.renewals++
	}
	return true, false
}

// judge opens the closed breaker of k if its conversion collapsed, and
// reports whether it did. The shard is locked.
func (g *Guard) judge(k tkey, s *state, t int64) bool {
	l := &g.lay[k.k]
	matured, approved := l.conversion(s, t)
	if matured < l.bcfg.MinSends {
		return false
	}
	threshold := l.bcfg.Floor * g.baseline()
	if float64(approved) >= threshold*float64(matured) {
		return false
	}
	s.brk = &tripped{
		phase:     open,
		opened:    t,
		until:     t + int64(l.bcfg.Block),
		sent:      matured,
		approved:  approved,
		threshold: threshold,
	}
	g.brkMu.Lock()
	g.open[k] = struct{}{}
	g.brkMu.Unlock()
	return true
}

// closeBreaker closes the breaker of k and forgets its counts. The shard is
// locked.
func (g *Guard) closeBreaker(k tkey, s *state) {
	l := &g.lay[k.k]
	s.brk = nil
	if l.brk >= 0 {
		clear(s.rings[l.brk : l.brk+3])
	}
	g.brkMu.Lock()
	delete(g.open, k)
	g.brkMu.Unlock()
}

// Breakers returns the breakers that are open or probing, most recently
// opened first.
func (g *Guard) Breakers() []BreakerState {
	t := g.now().UnixNano()
	g.brkMu.Lock()
	keys := make([]tkey, 0, len(g.open))
	for k := range g.open {
		keys = append(keys, k)
	}
	g.brkMu.Unlock()
	out := make([]BreakerState, 0, len(keys))
	for _, k := range keys {
		sh := &g.shards[g.shardOf(k)]
		sh.mu.Lock()
		if s := sh.m[k]; s != nil && s.brk != nil {
			out = append(out, breakerState(k, s.brk, t))
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b BreakerState) int {
		return cmp.Or(b.Opened.Compare(a.Opened), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
	return out
}

func breakerState(k tkey, b *tripped, t int64) BreakerState {
	st := "open"
	if b.phase == probing || t >= b.until {
		st = "probing"
	}
	probes := b.probesSent
	if b.phase == open {
		probes = 0
	}
	return BreakerState{
		Kind:       kindNames[k.k],
		Key:        k.s,
		State:      st,
		Opened:     time.Unix(0, b.opened).UTC(),
		Until:      time.Unix(0, b.until).UTC(),
		Renewals:   b.renewals,
		Sent:       b.sent,
		Approved:   b.approved,
		Threshold:  b.threshold,
		Refused:    b.refused,
		ProbesSent: probes,
	}
}

// ResetBreaker closes the breaker of a prefix or country and forgets its
// counts, and reports whether it was open or probing.
func (g *Guard) ResetBreaker(kind Kind, key string) bool {
	k, err := listKey(kind, key)
	if err != nil || g.lay[k.k].brk < 0 {
		return false
	}
	sh := &g.shards[g.shardOf(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.m[k]
	if s == nil || s.brk == nil {
		return false
	}
	g.closeBreaker(k, s)
	return true
}

// conversion returns the matured sends (older than Grace) in the breaker's
// window of s at t, and the approvals. The shard is locked.
func (l *layout) conversion(s *state, t int64) (matured, approved int) {
	matured = s.rings[l.brk].sum(t, l.widths[l.brk])
	if l.bcfg.Grace > 0 {
		matured = max(matured-s.rings[l.brk+2].sum(t, l.widths[l.brk+2]), 0)
	}
	return matured, s.rings[l.brk+1].sum(t, l.widths[l.brk+1])
}

// countSend counts a send at t to the breaker of s, or takes it back. The
// shard is locked.
func (l *layout) countSend(s *state, t int64, undo bool) {
	s.rings[l.brk].add(t, l.widths[l.brk], undo)
	if l.bcfg.Grace > 0 {
		s.rings[l.brk+2].add(t, l.widths[l.brk+2], undo)
	}
}

// baselineEvery is how often the baseline conversion is measured again.
const baselineEvery = int64(time.Minute)

// minBaseline keeps a collapsed baseline from switching the breakers off.
const minBaseline = 0.05

func (g *Guard) baseline() float64 { return math.Float64frombits(g.base.Load()) }

// measureBaseline measures the baseline conversion from the countries'
// breaker counts, if no other call is doing it. No shard may be locked.
func (g *Guard) measureBaseline(t int64) {
	next := g.baseNext.Load()
	if t < next || !g.baseNext.CompareAndSwap(next, t+baselineEvery) {
		return
	}
	g.cmu.Lock()
	refs := slices.Clone(g.countries)
	g.cmu.Unlock()
	l := &g.lay[kCountry]
	matured, approved := 0, 0
	for _, r := range refs {
		r.sh.mu.Lock()
		m, a := l.conversion(r.s, t)
		r.sh.mu.Unlock()
		matured += m
		approved += a
	}
	base := g.cfg.Baseline
	if matured > 0 && matured >= g.cfg.BaselineMinSends {
		base = min(max(float64(approved)/float64(matured), minBaseline), 1)
	}
	g.base.Store(math.Float64bits(base))
}
