package fraud

import (
	"hash/maphash"
	"strings"
	"sync"
)

// slots is the number of buckets a window is counted in. A ring keeps one
// bucket more, the one the window's start falls in, so that a count is never
// short: a send counts for between Window and Window + Window/slots.
const slots = 12

// maxLimits is the most velocity limits one kind of key may have.
const maxLimits = 4

// ring counts events in a sliding window of slots buckets of a fixed width
// (the width is kept by the layout, not by every ring).
type ring struct {
	head int64 // index (time / width) of the newest bucket
	c    [slots + 1]uint32
}

// advance moves the newest bucket to idx, emptying the buckets it passes.
func (r *ring) advance(idx int64) {
	d := idx - r.head
	if d <= 0 {
		return
	}
	if d > slots {
		r.c = [slots + 1]uint32{}
	} else {
		for i := r.head + 1; i <= idx; i++ {
			r.c[i%(slots+1)] = 0
		}
	}
	r.head = idx
}

// add counts one event at time t (Unix ns), or takes one back when undo is
// true. Events older than the ring are ignored.
func (r *ring) add(t, width int64, undo bool) {
	idx := t / width
	r.advance(idx)
	if r.head-idx > slots {
		return
	}
	c := &r.c[idx%(slots+1)]
	switch {
	case !undo:
		*c++
	case *c > 0:
		*c--
	}
}

// sum returns the events in the window ending at t.
func (r *ring) sum(t, width int64) int {
	r.advance(t / width)
	n := 0
	for _, c := range r.c {
		n += int(c)
	}
	return n
}

// kind is the internal index of a Kind.
type kind uint8

const (
	kNumber kind = iota
	kPrefix
	kCountry
	kIP
	kSubject
	numKinds
)

// tkey names one tracked key.
type tkey struct {
	k kind
	s string
}

// layout is how the state of one kind of key is laid out: one ring per
// velocity limit and, for kinds with a breaker, three more (sends, approvals,
// recent sends).
type layout struct {
	limits []Limit
	widths []int64 // bucket width of each ring, ns
	brk    int     // index of the breaker's sends ring; -1 if the kind has no breaker
	bcfg   BreakerConfig
	idle   int64 // a key untouched this long has only empty buckets
}

func newLayout(limits []Limit, b *BreakerConfig) layout {
	l := layout{limits: limits, brk: -1}
	for _, lim := range limits {
		l.widths = append(l.widths, int64(lim.Window)/slots)
	}
	if b != nil && b.MinSends > 0 {
		l.brk = len(l.widths)
		l.bcfg = *b
		w := int64(b.Window) / slots
		l.widths = append(l.widths, w, w, max(int64(b.Grace)/slots, 1))
	}
	for _, w := range l.widths {
		l.idle = max(l.idle, w*(slots+1))
	}
	return l
}

// state is what the Guard knows of one key. It is guarded by its shard's
// mutex.
type state struct {
	last     int64 // time of the last send or approval counted, Unix ns
	rings    []ring
	brk      *tripped // the breaker, while open or probing
	spendDay int64    // countries: the UTC day spent is for
	spent    int64    // countries: millionths spent on spendDay
}

// nShards is the number of shards of the key table (a power of two).
const nShards = 64

// maxFree is how many evicted states a shard keeps per kind for reuse.
const maxFree = 64

type shard struct {
	mu      sync.Mutex
	m       map[tkey]*state
	free    [numKinds][]*state
	allowed uint64 // statistics, guarded by mu
	probes  uint64
	_       [64]byte // keeps hot mutexes on separate cache lines
}

// shardOf returns the index of k's shard.
func (g *Guard) shardOf(k tkey) int {
	h := maphash.String(g.seed, k.s) ^ (uint64(k.k)+1)*0x9e3779b97f4a7c15
	h ^= h >> 29
	return int(h & (nShards - 1))
}

// create adds a state for k to sh, first evicting idle keys and, if the
// shard is full, the least recently used of a sample. Keys in keep, the
// other keys of the request, are never evicted. sh.mu is held.
func (g *Guard) create(sh *shard, k tkey, t int64, keep *[numKinds]tkey) *state {
	g.evict(sh, t, keep)
	var s *state
	if f := sh.free[k.k]; len(f) > 0 {
		s = f[len(f)-1]
		sh.free[k.k] = f[:len(f)-1]
		rings := s.rings
		clear(rings)
		*s = state{rings: rings}
	} else {
		s = &state{rings: make([]ring, len(g.lay[k.k].widths))}
	}
	s.last = t
	name := strings.Clone(k.s)
	sh.m[tkey{k.k, name}] = s
	if k.k == kCountry {
		g.cmu.Lock()
		g.countries = append(g.countries, countryRef{sh, s, name})
		g.cmu.Unlock()
	}
	return s
}

// evict looks at a few keys of sh and drops the idle ones; when sh is full
// it looks at more and, if none was idle, drops the least recently used.
// Countries and keys with an open or probing breaker are never dropped, so
// a shard may hold more than its share when full of them. sh.mu is held.
func (g *Guard) evict(sh *shard, t int64, keep *[numKinds]tkey) {
	n := 2
	if len(sh.m) >= g.perShard {
		n = 16
	}
	var lru tkey
	var lruS *state
	i := 0
	for k, s := range sh.m {
		if i == n {
			break
		}
		i++
		if k.k == kCountry || s.brk != nil || keep != nil && keep[k.k] == k {
			continue
		}
		if t-s.last > g.lay[k.k].idle {
			g.drop(sh, k, s)
			continue
		}
		if lruS == nil || s.last < lruS.last {
			lru, lruS = k, s
		}
	}
	if len(sh.m) >= g.perShard && lruS != nil {
		g.drop(sh, lru, lruS)
		g.evicted.Add(1)
	}
}

func (g *Guard) drop(sh *shard, k tkey, s *state) {
	delete(sh.m, k)
	if len(sh.free[k.k]) < maxFree {
		sh.free[k.k] = append(sh.free[k.k], s)
	}
}

// countryRef points at a country's state; countries are never evicted.
type countryRef struct {
	sh   *shard
	s    *state
	code string // the ISO country code
}
