package fraud

import (
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/phone"
)

// simConfig is DefaultConfig with a price table, the simulated countries
// allowed and challenges cheap enough to solve by the thousand.
func simConfig() Config {
	cfg := DefaultConfig()
	cfg.Countries = []string{"US", "GB", "DE", "FR", "IN", "BR", "UZ"}
	cfg.Spend.Prices = map[string]float64{"US": 0.01, "GB": 0.04, "DE": 0.08, "FR": 0.07, "IN": 0.03, "BR": 0.03, "UZ": 0.25}
	cfg.Spend.CountryPerDay = 200
	cfg.Spend.TotalPerDay = 1000
	cfg.PoW.Difficulty = 8
	return cfg
}

// pumping is a day of real sign-ups with three pumping attacks: a burst at
// one high-cost range, a slower one spread over three ranges of another
// country by an attacker who solves challenges, and one at premium-rate
// numbers.
func pumping(seed uint64) Scenario {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	return Scenario{
		Seed:           seed,
		Start:          start,
		Duration:       24 * time.Hour,
		SignupsPerHour: 400,
		Countries: []SimCountry{
			{Code: "US", Share: 40, Prefixes: 3000},
			{Code: "GB", Share: 15, Prefixes: 1500},
			{Code: "DE", Share: 15, Prefixes: 1500},
			{Code: "FR", Share: 10, Prefixes: 1000},
			{Code: "IN", Share: 10, Prefixes: 2000},
			{Code: "BR", Share: 10, Prefixes: 1000},
		},
		IPs:         50000,
		SharedIPs:   10,
		ApproveRate: 0.85,
		ResendRate:  0.3,
		FailRate:    0.01,
		Attacks: []SimAttack{
			{Name: "burst", Country: "GB", Prefixes: 1, Start: 2 * time.Hour, Sends: 3000, Every: 3 * time.Second, IPs: 2000},
			{Name: "burst-solving", Country: "FR", Prefixes: 1, Start: 3 * time.Hour, Sends: 3000, Every: 3 * time.Second, IPs: 2000, SolveChallenges: true},
			{Name: "spread", Country: "UZ", Prefixes: 3, Start: 5 * time.Hour, Sends: 3000, Every: 20 * time.Second, IPs: 500, SolveChallenges: true},
			{Name: "premium", Country: "DE", Type: phone.PremiumRate, Prefixes: 2, Start: 8 * time.Hour, Sends: 500, Every: 10 * time.Second, IPs: 100},
		},
	}
}

// TestSimulatePumping checks the goals of the fraud guard on simulated
// traffic: a pumping burst at one range is cut off by the breaker within
// its first 50 sends; at least 99% of pumping sends after an attack's first
// 50 are refused; at most 0.5% of real sign-ups are refused.
func TestSimulatePumping(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		g := New(simConfig())
		r := Simulate(g, pumping(seed))
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
	sc := pumping(7)
	sc.Duration = 3 * time.Hour
	a := Simulate(New(simConfig()), sc)
	b := Simulate(New(simConfig()), sc)
	if a.Signups != b.Signups || a.RealSendsRefused != b.RealSendsRefused || a.AttackPaid != b.AttackPaid || a.RealCost != b.RealCost {
		t.Errorf("runs differ:\n%+v\n%+v", a, b)
	}
}
