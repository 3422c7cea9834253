package devinbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

func msg(id, to, body string) sms.Message {
	return sms.Message{ID: id, To: to, Channel: sms.SMS, Body: body}
}

func send(t *testing.T, in *Inbox, m sms.Message) sms.Result {
	t.Helper()
	res, err := in.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return res
}

func bodies(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Body
	}
	return out
}

func TestSendAndRead(t *testing.T) {
	in := New(10)
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	in.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	a, b := "+14155550100", "+14155550101"
	if res := send(t, in, msg("1", a, "a1")); res.ProviderID != "1" {
		t.Errorf("ProviderID = %q, want the message id", res.ProviderID)
	}
	send(t, in, msg("2", b, "b1"))
	send(t, in, msg("3", a, "a2"))

	if got := bodies(in.Messages(a)); !slices.Equal(got, []string{"a2", "a1"}) {
		t.Errorf("Messages(a) = %v", got)
	}
	if got := bodies(in.Messages(b)); !slices.Equal(got, []string{"b1"}) {
		t.Errorf("Messages(b) = %v", got)
	}
	if got := in.Messages("+14155550199"); got == nil || len(got) != 0 {
		t.Errorf("Messages(unknown) = %#v, want empty", got)
	}
	all := in.All()
	if got := bodies(all); !slices.Equal(got, []string{"a2", "b1", "a1"}) {
		t.Errorf("All = %v", got)
	}
	if !all[0].Sent.After(all[1].Sent) || all[0].ProviderID != "3" {
		t.Errorf("newest = %+v", all[0])
	}
}

func TestDeduplicates(t *testing.T) {
	in := New(10)
	if !in.Deduplicates() || in.Name() != "dev" {
		t.Fatal("Deduplicates or Name wrong")
	}
	first := send(t, in, msg("out_1", "+14155550100", "code 111111"))
	again := send(t, in, msg("out_1", "+14155550100", "code 111111"))
	if first != again {
		t.Errorf("repeat returned %v, first %v", again, first)
	}
	if n := len(in.All()); n != 1 {
		t.Errorf("%d messages held after a repeat, want 1", n)
	}
}

func TestNoID(t *testing.T) {
	in := New(10)
	r1 := send(t, in, msg("", "+14155550100", "x"))
	r2 := send(t, in, msg("", "+14155550100", "x"))
	if r1.ProviderID == "" || r1 == r2 {
		t.Errorf("ids %q and %q, want distinct and non-empty", r1.ProviderID, r2.ProviderID)
	}
	if n := len(in.All()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

func TestCapacity(t *testing.T) {
	in := New(3)
	for i := 1; i <= 5; i++ {
		send(t, in, msg(fmt.Sprint(i), "+14155550100", fmt.Sprint("m", i)))
	}
	if got := bodies(in.All()); !slices.Equal(got, []string{"m5", "m4", "m3"}) {
		t.Errorf("All = %v, want the 3 newest", got)
	}
	// A dropped message's id is forgotten with it; a held one is still a repeat.
	send(t, in, msg("1", "+14155550100", "m1 again"))
	send(t, in, msg("4", "+14155550100", "m4 again"))
	if got := bodies(in.All()); !slices.Equal(got, []string{"m1 again", "m5", "m4"}) {
		t.Errorf("All = %v", got)
	}
}

func TestDefaultCapacity(t *testing.T) {
	for _, c := range []int{0, -1} {
		in := New(c)
		for i := range DefaultCapacity + 5 {
			send(t, in, msg(fmt.Sprint(i), "+1", "b"))
		}
		if n := len(in.All()); n != DefaultCapacity {
			t.Errorf("New(%d) holds %d, want %d", c, n, DefaultCapacity)
		}
	}
}

func TestCopies(t *testing.T) {
	in := New(3)
	send(t, in, msg("1", "+14155550100", "original"))
	got := in.Messages("+14155550100")
	got[0].Body = "changed"
	all := in.All()
	all[0].To = "changed"
	if m := in.All()[0]; m.Body != "original" || m.To != "+14155550100" {
		t.Errorf("inbox changed through a returned slice: %+v", m)
	}
}

func TestContext(t *testing.T) {
	in := New(3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := in.Send(ctx, msg("1", "+14155550100", "code 222222"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(in.All()) != 0 {
		t.Error("message stored with an ended context")
	}
}

func TestConcurrent(t *testing.T) {
	const workers, each = 8, 200
	in := New(workers * each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := fmt.Sprint("+1415555", 1000+w)
			for i := range each {
				// Every message twice: the repeat must be dropped.
				m := msg(fmt.Sprint(w, "-", i), to, "b")
				for range 2 {
					if _, err := in.Send(context.Background(), m); err != nil {
						t.Error(err)
					}
				}
				if i%20 == 0 {
					_ = in.Messages(to)
					_ = in.All()
				}
			}
		}()
	}
	wg.Wait()
	if n := len(in.All()); n != workers*each {
		t.Errorf("%d messages, want %d", n, workers*each)
	}
	for w := range workers {
		if n := len(in.Messages(fmt.Sprint("+1415555", 1000+w))); n != each {
			t.Errorf("worker %d: %d messages, want %d", w, n, each)
		}
	}

	// And at the capacity limit, evicting while others read.
	small := New(16)
	wg = sync.WaitGroup{}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, _ = small.Send(context.Background(), msg(fmt.Sprint(w, "-", i), "+1", "b"))
				if n := len(small.All()); n > 16 {
					t.Errorf("holds %d > capacity", n)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(small.All()); n != 16 {
		t.Errorf("%d messages, want 16", n)
	}
}
