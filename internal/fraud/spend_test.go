package fraud

import (
	"reflect"
	"sync"
	"testing"
	"time"
)

// TestSpend reads the day's spend per country and in all: allowed sends
// count at their price, refused ones not at all, a failed one is given
// back, and a new UTC day starts from zero.
func TestSpend(t *testing.T) {
	c := &clock{t: t0}
	cfg := plainConfig(c)
	cfg.Spend = SpendConfig{Prices: map[string]float64{"GB": 0.04, "DE": 0.1}, DefaultPrice: 0.01, CountryPerDay: 0.2, TotalPerDay: 1}
	g := New(cfg)
	midnight := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if got, want := g.Spend(), (Spend{Day: midnight, TotalCap: 1, CountryCap: 0.2}); !reflect.DeepEqual(got, want) {
		t.Fatalf("a new guard: %+v, want %+v", got, want)
	}
	req := func(n, cc string) Request { return Request{Number: n, Country: cc, Now: t0} }
	for _, n := range []string{"a", "b", "c"} {
		mustAllow(t, g, req("gb-"+n, "GB"))
	}
	mustAllow(t, g, req("de-a", "DE"))
	mustAllow(t, g, req("de-b", "DE"))
	mustRefuse(t, g, req("de-c", "DE"), ReasonSpendCapCountry)
	mustAllow(t, g, req("us-a", "us"))
	mustAllow(t, g, req("us-b", "US"))
	want := Spend{Day: midnight, Total: 0.34, TotalCap: 1, CountryCap: 0.2,
		Countries: []CountrySpend{{"DE", 0.2}, {"GB", 0.12}, {"US", 0.02}}}
	if got := g.Spend(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Spend = %+v, want %+v", got, want)
	}

	g.Failed(req("gb-a", "GB"), Decision{Allow: true, Cost: 0.04})
	want.Total, want.Countries[1].Spent = 0.3, 0.08
	if got := g.Spend(); !reflect.DeepEqual(got, want) {
		t.Errorf("after a failed send: %+v, want %+v", got, want)
	}

	c.Set(t0.Add(12 * time.Hour))
	if got := g.Spend(); got.Total != 0 || len(got.Countries) != 0 || !got.Day.Equal(midnight.Add(24*time.Hour)) {
		t.Errorf("the next day: %+v", got)
	}

	// Without a total cap the total is the countries' sum.
	cfg.Spend.TotalPerDay = 0
	c.Set(t0)
	g = New(cfg)
	mustAllow(t, g, req("gb-a", "GB"))
	mustAllow(t, g, req("x", ""))
	if got := g.Spend(); got.Total != 0.05 || got.TotalCap != 0 || len(got.Countries) != 2 || got.Countries[1].Country != "001" {
		t.Errorf("no total cap: %+v", got)
	}
}

// TestSpendConcurrent reads the spend while sends are checked (run it
// with -race).
func TestSpendConcurrent(t *testing.T) {
	c := &clock{t: t0}
	g := New(plainConfig(c))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				g.Check(Request{Number: string(rune('a'+w)) + string(rune(i)), Country: []string{"GB", "FR"}[i%2], Now: t0})
			}
		})
	}
	for range 50 {
		g.Spend()
	}
	wg.Wait()
	if got := g.Spend(); got.Total != 800*0.05 {
		t.Errorf("Total = %v, want %v", got.Total, 800*0.05)
	}
}
