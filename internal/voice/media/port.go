package media

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNoPorts is returned by Listen when every port of its PortRange is taken.
var ErrNoPorts = errors.New("media: no free RTP port")

// PortRange hands out even UDP ports for RTP from a configured range, as
// RFC 3550 recommends (the odd port above is left for RTCP, which the
// package does not use). A port is taken by Listen and given back by
// Session.Close. A PortRange is safe for concurrent use.
type PortRange struct {
	min, max int // even bounds, inclusive

	mu   sync.Mutex
	next int // where the search for a free port starts
	used map[int]bool
}

// NewPortRange returns the even ports from min to max inclusive. It fails
// unless 1 <= min <= max <= 65535 and the range holds an even port.
func NewPortRange(min, max int) (*PortRange, error) {
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("media: bad RTP port range %d-%d", min, max)
	}
	lo, hi := min+min%2, max-max%2
	if lo > hi {
		return nil, fmt.Errorf("media: RTP port range %d-%d holds no even port", min, max)
	}
	return &PortRange{min: lo, max: hi, next: lo, used: make(map[int]bool)}, nil
}

// Len returns how many ports the range holds.
func (r *PortRange) Len() int { return (r.max-r.min)/2 + 1 }

// InUse returns how many ports are taken.
func (r *PortRange) InUse() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.used)
}

// take marks a free port as used and returns it. It rotates through the
// range so that a port just given back is the last to be handed out again,
// keeping a late packet of an ended call from reaching the next one.
func (r *PortRange) take() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range r.Len() {
		p := r.next
		r.next += 2
		if r.next > r.max {
			r.next = r.min
		}
		if !r.used[p] {
			r.used[p] = true
			return p, true
		}
	}
	return 0, false
}

// release gives a port back.
func (r *PortRange) release(port int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.used, port)
}
