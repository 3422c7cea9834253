package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/fraud"
	"github.com/ringfence/ringfence/internal/verify"
)

// BenchmarkStartFraudGuard times verification starts through the real API
// handler and store with the fraud guard on and off, interleaved in random
// order so both see the same machine, and reports each median and their
// ratio: the guard's decisions must add under 5%.
//
// Every start is to a new number in its own range, from its own IP, so the
// guard does its whole work (lists, number type, velocity windows per IP,
// number, prefix and country, breakers, spend) and allows the send; its
// country velocity and spend caps are lifted so that a long run is not
// refused.
//
//	go test -run '^$' -bench StartFraudGuard -benchtime 3000x -count 5 ./internal/api/
func BenchmarkStartFraudGuard(b *testing.B) {
	relax := func(c *verify.Config) { c.IPSendsPerHour = 0 }
	with := newHarness(b, options{verify: relax, guard: func(c *fraud.Config) {
		c.Velocity.Country = nil
		c.Spend.CountryPerDay, c.Spend.TotalPerDay = 0, 0
	}})
	without := newHarness(b, options{verify: relax})
	for _, h := range []*harness{with, without} {
		h.logSecrets = nil
	}
	areas := []string{"202", "212", "305", "312", "415", "512", "617", "646", "713", "206", "303", "404", "503", "602", "704"}
	body := func(i int) string {
		// Area, exchange and line vary together: a range (number minus its
		// last four digits) per start.
		return fmt.Sprintf(`{"phone":"+1%s%03d%04d","ip":"10.%d.%d.%d"}`,
			areas[i%len(areas)], 200+(i/len(areas))%800, i%10000, i>>16&255, i>>8&255, i&255)
	}
	var tWith, tWithout []time.Duration
	b.ResetTimer()
	first := false
	for i := range b.N {
		if i%2 == 0 {
			first = rand.IntN(2) == 0
		}
		h, dst := with, &tWith
		if (i%2 == 0) != first {
			h, dst = without, &tWithout
		}
		req := req{method: "POST", path: "/v1/verifications", key: h.app, body: body(i / 2)}
		t0 := time.Now()
		r := h.do(req)
		*dst = append(*dst, time.Since(t0))
		if r.status != http.StatusCreated {
			b.Fatalf("start %d: %d %s", i, r.status, r.body)
		}
	}
	b.StopTimer()
	for _, h := range []*harness{with, without} {
		h.transcript.Reset()
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	if len(tWith) == 0 || len(tWithout) == 0 {
		return
	}
	mw, mo := median(tWith), median(tWithout)
	b.ReportMetric(float64(mw.Nanoseconds())/1e3, "guard-p50-µs")
	b.ReportMetric(float64(mo.Nanoseconds())/1e3, "noguard-p50-µs")
	b.ReportMetric(float64(mw)/float64(mo), "ratio")
	b.Logf("guard    n=%d %s", len(tWith), histogram(tWith))
	b.Logf("no guard n=%d %s", len(tWithout), histogram(tWithout))
}
