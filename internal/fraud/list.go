package fraud

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ErrInvalid is returned, wrapped, for a list entry or a snapshot the Guard
// refuses. Its messages never hold a key.
var ErrInvalid = errors.New("fraud: invalid input")

// Kind is the kind of key a list entry or a breaker is about.
type Kind string

// The kinds of key. Numbers, prefixes, IPs and subjects are named by the
// opaque keys the caller passes in Request; countries by their ISO code, or
// "001" for non-geographic numbers.
const (
	KindNumber  Kind = "number"
	KindPrefix  Kind = "prefix"
	KindCountry Kind = "country"
	KindIP      Kind = "ip"
	KindSubject Kind = "subject"
)

var kindNames = [numKinds]Kind{kNumber: KindNumber, kPrefix: KindPrefix, kCountry: KindCountry, kIP: KindIP, kSubject: KindSubject}

// Action is what a list entry does.
type Action string

// The actions of list entries.
const (
	ActionAllow Action = "allow"
	ActionBlock Action = "block"
)

// Entry is one allow or block list entry.
//
// A block entry refuses every send it matches. An allow entry vouches for
// its key: the automatic defences (velocity, breakers, challenges) skip that
// key, and along the chain number → prefix → country an entry also covers
// the broader keys, so an allowed number is let through a blocked prefix or
// country and a country outside the allow-list. An allow entry never skips
// the number-type rule, the spend caps, or a block entry of an IP or
// subject. A key has at most one entry: Allow replaces a block and Block an
// allow.
type Entry struct {
	Kind    Kind      `json:"kind"`
	Key     string    `json:"key"`
	Action  Action    `json:"action"`
	Reason  string    `json:"reason,omitempty"` // the operator's note, for block entries
	Created time.Time `json:"created"`
	Until   time.Time `json:"until,omitzero"` // zero: until removed
}

// maxKeyLen and maxReasonLen bound what a list entry may hold.
const (
	maxKeyLen    = 256
	maxReasonLen = 500
)

type item struct {
	Entry
	block bool
	until int64 // Unix ns; 0 for none
}

func (it *item) live(t int64) bool { return it.until == 0 || t < it.until }

// listSet is an immutable set of entries; writers replace it whole.
type listSet struct {
	m map[tkey]*item
}

// Allow adds an allow entry for key, until the given time (zero: until
// removed), replacing any entry the key had. It returns an error wrapping
// ErrInvalid for an unknown kind, an empty or overlong key, a malformed
// country code or an until in the past.
func (g *Guard) Allow(kind Kind, key string, until time.Time) error {
	return g.setEntry(Entry{Kind: kind, Key: key, Action: ActionAllow, Until: until})
}

// Block adds a block entry for key with the operator's reason, until the
// given time (zero: until removed), replacing any entry the key had. reason
// is shown by Lists; it must not hold a phone number. Errors are those of
// Allow, and a reason longer than 500 bytes.
func (g *Guard) Block(kind Kind, key, reason string, until time.Time) error {
	return g.setEntry(Entry{Kind: kind, Key: key, Action: ActionBlock, Reason: reason, Until: until})
}

// Unblock removes the entry, allow or block, of key and reports whether
// there was one in force.
func (g *Guard) Unblock(kind Kind, key string) bool {
	k, err := listKey(kind, key)
	if err != nil {
		return false
	}
	g.listMu.Lock()
	defer g.listMu.Unlock()
	old := g.lists.Load()
	it, ok := old.m[k]
	if !ok {
		return false
	}
	m := maps.Clone(old.m)
	delete(m, k)
	g.lists.Store(&listSet{m: m})
	return it.live(g.now().UnixNano())
}

// Lists returns the live entries, sorted by kind and key.
func (g *Guard) Lists() []Entry {
	t := g.now().UnixNano()
	var out []Entry
	for _, it := range g.lists.Load().m {
		if it.live(t) {
			out = append(out, it.Entry)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// listKey checks and normalises a kind and key.
func listKey(kd Kind, key string) (tkey, error) {
	k := slices.Index(kindNames[:], kd)
	if k < 0 {
		return tkey{}, fmt.Errorf("%w: unknown kind", ErrInvalid)
	}
	if key == "" || len(key) > maxKeyLen {
		return tkey{}, fmt.Errorf("%w: key empty or longer than %d bytes", ErrInvalid, maxKeyLen)
	}
	if kd == KindCountry {
		key = strings.ToUpper(key)
		if !validCountry(key) {
			return tkey{}, fmt.Errorf("%w: country is not an ISO code", ErrInvalid)
		}
	}
	return tkey{kind(k), key}, nil
}

// checkEntry validates e and returns its item.
func checkEntry(e Entry, now time.Time) (tkey, *item, error) {
	k, err := listKey(e.Kind, e.Key)
	if err != nil {
		return tkey{}, nil, err
	}
	if e.Action != ActionAllow && e.Action != ActionBlock {
		return tkey{}, nil, fmt.Errorf("%w: unknown action", ErrInvalid)
	}
	if len(e.Reason) > maxReasonLen {
		return tkey{}, nil, fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, maxReasonLen)
	}
	if !e.Until.IsZero() && !e.Until.After(now) {
		return tkey{}, nil, fmt.Errorf("%w: until is not in the future", ErrInvalid)
	}
	e.Key = strings.Clone(k.s)
	k.s = e.Key
	if e.Created.IsZero() {
		e.Created = now
	}
	it := &item{Entry: e, block: e.Action == ActionBlock}
	if !e.Until.IsZero() {
		it.until = e.Until.UnixNano()
	}
	return k, it, nil
}

func (g *Guard) setEntry(e Entry) error {
	now := g.now()
	k, it, err := checkEntry(e, now)
	if err != nil {
		return err
	}
	g.listMu.Lock()
	defer g.listMu.Unlock()
	t := now.UnixNano()
	m := make(map[tkey]*item, len(g.lists.Load().m)+1)
	for k, v := range g.lists.Load().m {
		if v.live(t) {
			m[k] = v
		}
	}
	m[k] = it
	g.lists.Store(&listSet{m: m})
	return nil
}

// judge applies the lists to the keys of a request: it adds the block
// reasons to rs and returns the set of kinds exempt from the automatic
// defences.
func (ls *listSet) judge(keys *[numKinds]tkey, t int64, rs *reasons) (exempt uint8) {
	if len(ls.m) == 0 {
		return 0
	}
	var allow, block uint8
	for k := range numKinds {
		if keys[k].s == "" {
			continue
		}
		if it, ok := ls.m[keys[k]]; ok && it.live(t) {
			if it.block {
				block |= 1 << k
			} else {
				allow |= 1 << k
			}
		}
	}
	if allow == 0 && block == 0 {
		return 0
	}
	exempt = allow
	if allow&(1<<kNumber) != 0 {
		exempt |= 1<<kPrefix | 1<<kCountry
	}
	if allow&(1<<kPrefix) != 0 {
		exempt |= 1 << kCountry
	}
	for k := range numKinds {
		if block&(1<<k) != 0 && exempt&(1<<k) == 0 {
			rs.add(rBlocklist + reason(k))
		}
	}
	return exempt
}
