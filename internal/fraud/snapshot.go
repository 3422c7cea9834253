package fraud

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// snapshotVersion is the version of the snapshot format.
const snapshotVersion = 1

// snapshot is the JSON form of a Guard's durable state.
type snapshot struct {
	Version  int           `json:"version"`
	Lists    []Entry       `json:"lists"`
	Breakers []snapBreaker `json:"breakers"`
}

// snapBreaker is an open or probing breaker, in full.
type snapBreaker struct {
	Kind       Kind      `json:"kind"`
	Key        string    `json:"key"`
	Phase      string    `json:"phase"` // "open" or "probing"
	Opened     time.Time `json:"opened"`
	Until      time.Time `json:"until"`
	Renewals   int       `json:"renewals"`
	Sent       int       `json:"sent"`
	Approved   int       `json:"approved"`
	Threshold  float64   `json:"threshold"`
	Refused    uint64    `json:"refused"`
	ProbeStart time.Time `json:"probe_start,omitzero"`
	ProbesSent int       `json:"probes_sent"`
	LastProbe  time.Time `json:"last_probe,omitzero"`
}

// Snapshot returns the lists and the open and probing breakers as JSON, for
// the caller to store; Restore takes it back. Counters (velocity, breaker
// counts of closed breakers, spend, spent challenge tokens) are not in it:
// they start from zero after a restart. The snapshot holds keys and country
// codes, never a number.
func (g *Guard) Snapshot() ([]byte, error) {
	snap := snapshot{Version: snapshotVersion, Lists: g.Lists(), Breakers: []snapBreaker{}}
	if snap.Lists == nil {
		snap.Lists = []Entry{}
	}
	g.brkMu.Lock()
	keys := make([]tkey, 0, len(g.open))
	for k := range g.open {
		keys = append(keys, k)
	}
	g.brkMu.Unlock()
	for _, k := range keys {
		sh := &g.shards[g.shardOf(k)]
		sh.mu.Lock()
		if s := sh.m[k]; s != nil && s.brk != nil {
			b := s.brk
			sb := snapBreaker{
				Kind:       kindNames[k.k],
				Key:        k.s,
				Phase:      "open",
				Opened:     utc(b.opened),
				Until:      utc(b.until),
				Renewals:   b.renewals,
				Sent:       b.sent,
				Approved:   b.approved,
				Threshold:  b.threshold,
				Refused:    b.refused,
				ProbesSent: b.probesSent,
			}
			if b.phase == probing {
				sb.Phase = "probing"
				sb.ProbeStart = utc(b.probeStart)
				if b.probesSent > 0 {
					sb.LastProbe = utc(b.lastProbe)
				}
			}
			snap.Breakers = append(snap.Breakers, sb)
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(snap.Breakers, func(a, b snapBreaker) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
	data, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("fraud: snapshot: %w", err)
	}
	return data, nil
}

func utc(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Restore replaces the lists and the open breakers with those of a
// Snapshot. Entries that have expired since are dropped, and breakers of a
// kind whose breaker is now off. It returns an error wrapping ErrInvalid,
// and changes nothing, if data is not a valid snapshot.
func (g *Guard) Restore(data []byte) error {
	var snap snapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		return fmt.Errorf("%w: snapshot: %v", ErrInvalid, err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("%w: snapshot version %d, want %d", ErrInvalid, snap.Version, snapshotVersion)
	}
	now := g.now()
	lists := make(map[tkey]*item, len(snap.Lists))
	for i, e := range snap.Lists {
		if !e.Until.IsZero() && !e.Until.After(now) {
			continue
		}
		k, it, err := checkEntry(e, now)
		if err != nil {
			return fmt.Errorf("snapshot list entry %d: %w", i, err)
		}
		lists[k] = it
	}
	type restored struct {
		k tkey
		b *tripped
	}
	var brks []restored
	for i, sb := range snap.Breakers {
		k, err := listKey(sb.Kind, sb.Key)
		if err == nil && k.k != kPrefix && k.k != kCountry {
			err = fmt.Errorf("%w: kind %s has no breaker", ErrInvalid, sb.Kind)
		}
		b := &tripped{
			opened:     nanos(sb.Opened),
			until:      nanos(sb.Until),
			renewals:   sb.Renewals,
			sent:       sb.Sent,
			approved:   sb.Approved,
			threshold:  sb.Threshold,
			refused:    sb.Refused,
			probeStart: nanos(sb.ProbeStart),
			probesSent: sb.ProbesSent,
			lastProbe:  nanos(sb.LastProbe),
		}
		switch sb.Phase {
		case "open":
			b.phase, b.probeStart, b.probesSent, b.lastProbe = open, 0, 0, 0
		case "probing":
			b.phase = probing
		default:
			if err == nil {
				err = fmt.Errorf("%w: unknown phase", ErrInvalid)
			}
		}
		if err == nil && (b.opened == 0 || b.until < b.opened || sb.Renewals < 0 || sb.Sent < 0 || sb.Approved < 0 || sb.ProbesSent < 0) {
			err = fmt.Errorf("%w: inconsistent breaker", ErrInvalid)
		}
		if err != nil {
			return fmt.Errorf("snapshot breaker %d: %w", i, err)
		}
		if g.lay[k.k].brk >= 0 {
			brks = append(brks, restored{k, b})
		}
	}

	g.listMu.Lock()
	g.lists.Store(&listSet{m: lists})
	g.listMu.Unlock()

	g.brkMu.Lock()
	var old []tkey
	for k := range g.open {
		old = append(old, k)
	}
	g.brkMu.Unlock()
	for _, k := range old {
		sh := &g.shards[g.shardOf(k)]
		sh.mu.Lock()
		if s := sh.m[k]; s != nil && s.brk != nil {
			g.closeBreaker(k, s)
		}
		sh.mu.Unlock()
	}
	t := now.UnixNano()
	for _, r := range brks {
		sh := &g.shards[g.shardOf(r.k)]
		sh.mu.Lock()
		s := sh.m[r.k]
		if s == nil {
			s = g.create(sh, r.k, t, nil)
		}
		s.brk = r.b
		g.brkMu.Lock()
		g.open[r.k] = struct{}{}
		g.brkMu.Unlock()
		sh.mu.Unlock()
	}
	return nil
}
