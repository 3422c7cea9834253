package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/verify"
)

// BenchmarkLoginEnumeration times login starts for a registered and an
// unregistered number, interleaved so both see the same machine, and
// reports both distributions: they must be the same within noise, or the
// timing would tell an attacker which numbers have accounts.
//
//	go test -run '^$' -bench LoginEnumeration -benchtime 4000x -v ./internal/api/
func BenchmarkLoginEnumeration(b *testing.B) {
	h := newHarness(b, options{identity: true, verify: func(c *verify.Config) {
		c.ResendCooldown, c.SendsPerHour, c.SendsPerDay = 0, 1<<30, 1<<30
	}})
	id, code := h.startOK(numA)
	h.post(h.app, "/v1/verifications/"+id+"/check", checkBody(code)).wantStatus(http.StatusOK)
	h.logSecrets = nil // the inbox fills with codes; the leak check would rescan them all
	reg := `{"phone":"` + numA + `","purpose":"login"}`
	unreg := `{"phone":"` + numB + `","purpose":"login"}`
	var tReg, tUnreg []time.Duration
	b.ResetTimer()
	// Each pair runs both, in a random order, so neither gains from its place.
	first := false
	for i := range b.N {
		if i%2 == 0 {
			first = rand.IntN(2) == 0
		}
		body, dst := reg, &tReg
		if (i%2 == 0) != first {
			body, dst = unreg, &tUnreg
		}
		t0 := time.Now()
		r := h.do(req{method: "POST", path: "/v1/verifications", key: h.app, body: body})
		*dst = append(*dst, time.Since(t0))
		if r.status != http.StatusCreated {
			b.Fatalf("start: %d %s", r.status, r.body)
		}
	}
	b.StopTimer()
	h.transcript.Reset()
	q := func(ds []time.Duration, p float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[int(p*float64(len(s)-1))]
	}
	for _, d := range []struct {
		name string
		ds   []time.Duration
	}{{"registered", tReg}, {"unregistered", tUnreg}} {
		b.ReportMetric(float64(q(d.ds, 0.5).Microseconds()), d.name+"-p50-µs")
		b.ReportMetric(float64(q(d.ds, 0.99).Microseconds()), d.name+"-p99-µs")
		b.Logf("%-12s n=%d %s", d.name, len(d.ds), histogram(d.ds))
	}
}

// histogram renders deciles of ds on one line.
func histogram(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	var parts []string
	for _, p := range []float64{0.1, 0.25, 0.5, 0.75, 0.9, 0.99} {
		if len(s) == 0 {
			break
		}
		parts = append(parts, fmt.Sprintf("p%g=%s", p*100, s[int(p*float64(len(s)-1))].Round(time.Microsecond)))
	}
	return strings.Join(parts, " ")
}
