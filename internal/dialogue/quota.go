package dialogue

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrNotOpaque is returned for a caller key that looks like a phone
// number: quotas and records are keyed by a blind index, never a number.
var ErrNotOpaque = errors.New("dialogue: caller key looks like a phone number, not a blind index")

// Quota keeps each caller's talk time per calendar month.
type Quota interface {
	// Used returns how long the caller of callerKey, an opaque key (a
	// blind index), has talked in the month starting at month (see Month).
	// A caller never seen has used nothing. It returns an error only when
	// the count cannot be read; a call must then not be served.
	Used(ctx context.Context, callerKey string, month time.Time) (time.Duration, error)
	// Add adds d to the caller's time in month.
	Add(ctx context.Context, callerKey string, month time.Time, d time.Duration) error
}

// Month returns the start of t's calendar month in UTC, the key of a
// Quota's month.
func Month(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// CheckOpaque returns ErrNotOpaque when key is empty or looks like a phone
// number: made of digits (5 to 15 of them), with at most +, spaces, dots,
// dashes and parentheses.
func CheckOpaque(key string) error {
	digits := 0
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' || c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return nil
		}
	}
	if key == "" || digits >= 5 && digits <= 15 {
		return ErrNotOpaque
	}
	return nil
}

// MemoryQuota is a Quota held in memory, for tests and demos. It is safe
// for concurrent use.
type MemoryQuota struct {
	mu   sync.Mutex
	used map[memoryKey]time.Duration
}

type memoryKey struct {
	caller string
	month  time.Time
}

var _ Quota = (*MemoryQuota)(nil)

// NewMemoryQuota returns an empty MemoryQuota.
func NewMemoryQuota() *MemoryQuota {
	return &MemoryQuota{used: make(map[memoryKey]time.Duration)}
}

// Used returns the caller's time in month.
func (q *MemoryQuota) Used(ctx context.Context, callerKey string, month time.Time) (time.Duration, error) {
	if err := CheckOpaque(callerKey); err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used[memoryKey{callerKey, Month(month)}], nil
}

// Add adds d, which must not be negative, to the caller's time in month.
func (q *MemoryQuota) Add(ctx context.Context, callerKey string, month time.Time, d time.Duration) error {
	if err := CheckOpaque(callerKey); err != nil {
		return err
	}
	if d < 0 {
		return errors.New("dialogue: negative talk time")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.used[memoryKey{callerKey, Month(month)}] += d
	return nil
}
