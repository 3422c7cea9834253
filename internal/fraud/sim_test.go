package fraud

import (
	"testing"
	"time"
)

// TestSimulatePumping checks the goals of the fraud guard on simulated
// traffic: a pumping burst at one range is cut off by the breaker within
// its first 50 sends; at least 99% of pumping sends after an attack's first
// 50 are refused; at most 0.5% of real sign-ups are refused.
func TestSimulatePumping(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		g := New(SimConfig())
		r := Simulate(g, PumpingScenario(seed))
		t.Logf("seed %d: sign-ups %d, refused %d (%.3f%%); real sends %d, refused %d %v; challenges solved %d; cost %.2f",
			seed, r.Signups, r.SignupsRefused, r.SignupRefusedPct, r.RealSends, r.RealSendsRefused, r.RealRefusals, r.RealChallenges, r.RealCost)
		for _, a := range r.Attacks {
			t.Logf("  %s: sends %d, paid %d (%.2f), cut off after %d attempts / %d paid (at most %d a range), paid after 50: %d, refused after 50: %.2f%%, challenges solved %d, %v",
				a.Name, a.Sends, a.Paid, a.Cost, a.Cutoff, a.PaidBeforeCutoff, a.RangeCutoff, a.PaidAfter50, a.RefusedPct50, a.Challenges, a.Reasons)
		}
		t.Logf("  all attacks: sends %d, paid %d (%.2f), refused after 50: %.2f%%; probes %d; breakers open at the end %d",
			r.AttackSends, r.AttackPaid, r.AttackCost, r.AttackRefusedPct50, r.Probes, r.BreakersOpenedAtEnd)

		if r.Signups < 9000 || r.SignupRefusedPct > 0.5 {
			t.Errorf("seed %d: %.3f%% of %d real sign-ups refused, want at most 0.5%%", seed, r.SignupRefusedPct, r.Signups)
		}
		for _, a := range r.Attacks {
			if a.RefusedPct50 < 99 {
				t.Errorf("seed %d: %s: %.2f%% refused after the first 50, want at least 99%%", seed, a.Name, a.RefusedPct50)
			}
			if a.Name == "premium" {
				if a.Paid != 0 || a.Reasons[ReasonNumberType] != a.Sends {
					t.Errorf("seed %d: premium-rate attack paid %d, reasons %v", seed, a.Paid, a.Reasons)
				}
				continue
			}
			if a.Cutoff < 0 {
				t.Errorf("seed %d: %s never cut off by a breaker", seed, a.Name)
			}
			if a.RangeCutoff > 50 {
				t.Errorf("seed %d: %s paid %d sends to a range before the breaker cut it off, want at most 50", seed, a.Name, a.RangeCutoff)
			}
		}
		if r.AttackRefusedPct50 < 99 {
			t.Errorf("seed %d: %.2f%% of attack sends refused after the first 50", seed, r.AttackRefusedPct50)
		}
	}
}

// TestSimulateDeterministic: the same seed gives the same report.
func TestSimulateDeterministic(t *testing.T) {
	sc := PumpingScenario(7)
	sc.Duration = 3 * time.Hour
	a := Simulate(New(SimConfig()), sc)
	b := Simulate(New(SimConfig()), sc)
	if a.Signups != b.Signups || a.RealSendsRefused != b.RealSendsRefused || a.AttackPaid != b.AttackPaid || a.RealCost != b.RealCost {
		t.Errorf("runs differ:\n%+v\n%+v", a, b)
	}
}
