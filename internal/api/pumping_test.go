package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/fraud"
)

// startWithIP starts a verification of e164 from ip, solving a
// proof-of-work challenge when the guard asks for one, as the demo page's
// solver does; it returns the final response and whether it solved one.
func (h *harness) startWithIP(e164, ip string) (*resp, bool) {
	h.t.Helper()
	body := fmt.Sprintf(`{"phone":%q,"ip":%q}`, e164, ip)
	r := h.start(body)
	if r.status == http.StatusForbidden {
		if c, ok := r.errorField("challenge").(map[string]any); ok {
			tok, bits := c["token"].(string), int(c["difficulty"].(float64))
			return h.start(strings.TrimSuffix(body, "}") + fmt.Sprintf(`,"pow":%q}`, tok+":"+fraud.Solve(tok, bits))), true
		}
	}
	return r, false
}

// waitCode waits for the newest code sent to e164 by the dev inbox.
func (h *harness) waitCode(e164 string, n int) string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ms := h.inbox.Messages(e164); len(ms) >= n {
			code := codeRE.FindString(ms[len(ms)-1].Body)
			h.logSecrets = append(h.logSecrets, code)
			return code
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no code reached the dev inbox")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// An hour of traffic through the real API, the dev inbox recording every
// message: real sign-ups (one every 9 s on average, in many US ranges, from
// many IPs, 85% entering their code, a challenge solved when asked) beside an
// SMS-pumping attack (sequential numbers in one high-cost range, one every
// 3 s from rotating IPs, challenges solved, never converting). The goal of
// the simulator holds here too: at least 99% of the attack's sends after
// its first 50 refused, at most 0.5% of real sign-ups refused.
func TestPumpingThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("an hour of traffic")
	}
	h := newHarness(t, options{guard: func(c *fraud.Config) {
		c.Spend.Prices = map[string]float64{"UZ": 0.25, "US": 0.01}
		c.PoW.Difficulty = 8
	}})
	h.logSecrets = nil
	rnd := rand.New(rand.NewPCG(4, 2))
	areas := []string{"202", "212", "305", "312", "415", "512", "617", "646", "713", "206", "303", "404", "503", "602", "704"}
	var (
		signups, refused, challenges int
		attack, paid, paidAfter50    int
		realApproved                 int
		reasonsSeen                  = map[string]int{}
	)
	start := h.clock.Now()
	nextReal, nextAttack := start, start.Add(10*time.Minute)
	for end := start.Add(time.Hour); ; {
		now := h.clock.Now()
		if now.After(end) {
			break
		}
		switch {
		case !nextReal.After(now):
			signups++
			num := fmt.Sprintf("+1%s%03d%04d", areas[rnd.IntN(len(areas))], 200+rnd.IntN(800), rnd.IntN(10000))
			r, solved := h.startWithIP(num, fmt.Sprintf("198.51.%d.%d", rnd.IntN(256), 1+rnd.IntN(254)))
			if solved {
				challenges++
			}
			if r.status != http.StatusCreated {
				refused++
				t.Logf("real sign-up refused: %d %s", r.status, r.body)
			} else if rnd.Float64() < 0.85 {
				h.approveCode(r.str("id"), h.waitCode(num, 1))
				realApproved++
			}
			nextReal = now.Add(time.Duration(rnd.ExpFloat64() * float64(9*time.Second)))
		case !nextAttack.After(now):
			r, _ := h.startWithIP(fmt.Sprintf("+99890555%04d", attack), fmt.Sprintf("203.0.%d.%d", attack/250%256, 1+attack%250))
			switch r.status {
			case http.StatusCreated:
				paid++
				if attack >= 50 {
					paidAfter50++
				}
			case http.StatusForbidden:
				for _, why := range reasons(r) {
					reasonsSeen[why]++
				}
			default:
				t.Fatalf("attack start: %d %s", r.status, r.body)
			}
			attack++
			nextAttack = now.Add(3 * time.Second)
		}
		h.clock.Advance(time.Second)
	}
	refusedPct := 100 * float64(refused) / float64(signups)
	attackRefusedPct := 100 - 100*float64(paidAfter50)/float64(attack-50)
	t.Logf("real sign-ups %d, refused %d (%.2f%%), challenges solved %d, approved %d", signups, refused, refusedPct, challenges, realApproved)
	t.Logf("attack: %d attempts, %d paid, %d paid after the first 50, %.2f%% refused after 50; reasons %v", attack, paid, paidAfter50, attackRefusedPct, reasonsSeen)
	if signups < 300 || refusedPct > 0.5 {
		t.Errorf("%.2f%% of %d real sign-ups refused, want at most 0.5%%", refusedPct, signups)
	}
	if attack < 900 || attackRefusedPct < 99 {
		t.Errorf("%.2f%% of the attack's %d sends after the first 50 refused, want at least 99%%", attackRefusedPct, attack)
	}
	if reasonsSeen["breaker_prefix"] == 0 {
		t.Errorf("the breaker never cut the attack off: %v", reasonsSeen)
	}
}
