// Package devinbox keeps sent messages in memory for development, in place of a
// real SMS provider.
package devinbox

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

// DefaultCapacity is the capacity New uses when given none.
const DefaultCapacity = 1000

// Message is a message held by an Inbox.
type Message struct {
	sms.Message
	// ProviderID is the id Send returned for it.
	ProviderID string
	// Sent is when Send stored it.
	Sent time.Time
}

// Inbox is a sms.Sender that keeps the last messages sent in memory, never on disk,
// and never logs them. It is safe for concurrent use.
type Inbox struct {
	now func() time.Time

	mu    sync.Mutex
	ring  []Message      // capacity slots, used as a circular buffer
	next  int            // slot of the next message
	n     int            // messages held
	seq   uint64         // messages ever stored
	byID  map[string]int // Message.ID of every held message -> slot
	limit int
}

var (
	_ sms.Sender       = (*Inbox)(nil)
	_ sms.Deduplicator = (*Inbox)(nil)
)

// New returns an empty Inbox that holds at most capacity messages, dropping the
// oldest first; a capacity below 1 means DefaultCapacity.
func New(capacity int) *Inbox {
	if capacity < 1 {
		capacity = DefaultCapacity
	}
	return &Inbox{
		now:   time.Now,
		ring:  make([]Message, capacity),
		byID:  make(map[string]int),
		limit: capacity,
	}
}

// Name returns "dev".
func (in *Inbox) Name() string { return "dev" }

// Deduplicates returns true: a repeated Message.ID still held is dropped.
func (in *Inbox) Deduplicates() bool { return true }

// Send stores m and returns its id: m.ID, or "dev-<n>" if m has no ID. A message
// whose ID is already held is not stored again, and the first one's id is returned.
// It fails only if ctx has ended.
func (in *Inbox) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	if err := ctx.Err(); err != nil {
		return sms.Result{}, fmt.Errorf("dev: %w", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if m.ID != "" {
		if slot, ok := in.byID[m.ID]; ok {
			return sms.Result{ProviderID: in.ring[slot].ProviderID}, nil
		}
	}
	in.seq++
	id := m.ID
	if id == "" {
		id = "dev-" + strconv.FormatUint(in.seq, 10)
	}
	if in.n == in.limit {
		if old := in.ring[in.next].ID; old != "" {
			delete(in.byID, old)
		}
	} else {
		in.n++
	}
	in.ring[in.next] = Message{Message: m, ProviderID: id, Sent: in.now()}
	if m.ID != "" {
		in.byID[m.ID] = in.next
	}
	in.next = (in.next + 1) % in.limit
	return sms.Result{ProviderID: id}, nil
}

// Messages returns copies of the held messages sent to to, newest first.
func (in *Inbox) Messages(to string) []Message {
	return in.collect(func(m *Message) bool { return m.To == to })
}

// All returns copies of every held message, newest first.
func (in *Inbox) All() []Message {
	return in.collect(func(*Message) bool { return true })
}

func (in *Inbox) collect(keep func(*Message) bool) []Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := []Message{}
	for i := 1; i <= in.n; i++ {
		m := &in.ring[(in.next-i+in.limit)%in.limit]
		if keep(m) {
			out = append(out, *m)
		}
	}
	return out
}
