package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/fraud"
)

// startSolving starts a verification of e164, solving a proof-of-work
// challenge when the guard asks for one; it returns the final response.
func (h *harness) startSolving(e164 string) *resp {
	h.t.Helper()
	r := h.start(`{"phone":"` + e164 + `"}`)
	if r.status == http.StatusForbidden {
		if c, ok := r.errorField("challenge").(map[string]any); ok {
			tok, bits := c["token"].(string), int(c["difficulty"].(float64))
			r = h.start(fmt.Sprintf(`{"phone":%q,"pow":%q}`, e164, tok+":"+fraud.Solve(tok, bits)))
		}
	}
	return r
}

func reasons(r *resp) []string {
	var out []string
	rs, _ := r.errorField("reasons").([]any)
	for _, x := range rs {
		out = append(out, x.(string))
	}
	return out
}

// A pumping burst of sequential numbers in one prefix, solving every
// challenge and never entering a code, is cut off within its first 50
// sends with reasons an operator can read, and a real sign-up elsewhere
// keeps working.
func TestFraudGuardCutsOffPumping(t *testing.T) {
	h := newHarness(t, options{guard: func(c *fraud.Config) {}})
	paid, refused := 0, 0
	var why []string
	for i := range 200 {
		r := h.startSolving(fmt.Sprintf("+1415200%04d", i))
		switch r.status {
		case http.StatusCreated:
			paid++
		case http.StatusForbidden:
			refused++
			why = reasons(r)
		default:
			t.Fatalf("start %d: %d %s", i, r.status, r.body)
		}
		h.clock.Advance(20 * time.Second) // one every 20 s: below the per-prefix soft limit at first
	}
	t.Logf("pumping: %d paid, %d refused; last reasons %v", paid, refused, why)
	if paid > 50 {
		t.Errorf("the burst paid for %d sends, want at most 50", paid)
	}
	if !slices.ContainsFunc(why, func(r string) bool { return strings.HasPrefix(r, "breaker_") || strings.HasPrefix(r, "velocity_") }) {
		t.Errorf("reasons %v do not explain the cut-off", why)
	}
	// The operator sees the open breaker, labelled with its prefix.
	b := h.get(bootstrapKey, "/v1/fraud/breakers").wantStatus(http.StatusOK).json()["breakers"].([]any)
	if len(b) == 0 || b[0].(map[string]any)["label"] != "+1415200" {
		t.Fatalf("breakers: %v", b)
	}
	h.get(h.app, "/v1/fraud/breakers").wantError(http.StatusForbidden, "forbidden")
	if got := h.metric(`ringfence_fraud_refusals_total{reason="breaker_prefix"}`); got == "" {
		t.Errorf("no breaker refusals in the metrics")
	}
	// A real person in another prefix signs up.
	h.clock.Advance(time.Minute)
	if r := h.startSolving(numC); r.status != http.StatusCreated {
		t.Fatalf("a real sign-up was refused: %d %s", r.status, r.body)
	}
	// Resetting the breaker lets the prefix through again.
	key := b[0].(map[string]any)["key"].(string)
	h.do(req{method: "DELETE", path: "/v1/fraud/breakers/prefix/" + key, key: bootstrapKey}).wantStatus(http.StatusNoContent)
	h.do(req{method: "DELETE", path: "/v1/fraud/breakers/prefix/" + key, key: bootstrapKey}).wantError(http.StatusNotFound, "not_found")
}

func TestFraudListsAndNumberTypes(t *testing.T) {
	h := newHarness(t, options{guard: func(c *fraud.Config) {}})
	r := h.post(bootstrapKey, "/v1/fraud/lists", `{"kind":"country","value":"de","action":"block","reason":"abuse wave"}`).wantStatus(http.StatusCreated).json()
	if r["key"] != "DE" || r["label"] != "DE" || r["reason"] != "abuse wave" {
		t.Errorf("entry: %v", r)
	}
	if got := reasons(h.start(`{"phone":"`+numDE+`"}`).wantError(http.StatusForbidden, "blocked")); !slices.Contains(got, "blocklist_country") {
		t.Errorf("reasons %v", got)
	}
	// Numbers are listed by their keyed index; the response shows them masked.
	n := h.post(bootstrapKey, "/v1/fraud/lists", `{"kind":"number","value":"`+numA+`","action":"block"}`).wantStatus(http.StatusCreated).json()
	if n["label"] != "+1 ••• ••• 0123" || strings.Contains(n["key"].(string), nsnA) {
		t.Errorf("number entry: %v", n)
	}
	h.start(`{"phone":"`+numA+`"}`).wantError(http.StatusForbidden, "blocked")
	lists := h.get(bootstrapKey, "/v1/fraud/lists").wantStatus(http.StatusOK).json()["entries"].([]any)
	if len(lists) != 2 {
		t.Errorf("lists: %v", lists)
	}
	h.do(req{method: "DELETE", path: "/v1/fraud/lists/country/DE", key: bootstrapKey}).wantStatus(http.StatusNoContent)
	h.start(`{"phone":"` + numDE + `"}`).wantStatus(http.StatusCreated)
	for _, bad := range []string{`{"kind":"planet","value":"x","action":"block"}`, `{"kind":"number","value":"abc","action":"block"}`,
		`{"kind":"country","value":"DE","action":"maybe"}`, `{"kind":"prefix","value":"1415","action":"block"}`} {
		h.post(bootstrapKey, "/v1/fraud/lists", bad).wantStatus(http.StatusBadRequest)
	}
	stats := h.get(bootstrapKey, "/v1/fraud/stats").wantStatus(http.StatusOK).json()
	if stats["Refused"].(float64) < 2 {
		t.Errorf("stats: %v", stats)
	}
}

// A pumping burst at a high-cost range (sequential Uzbek mobiles, rotating
// IPs, challenges solved, no code ever entered) is cut off by the breaker
// within its first 50 sends, with reasons an operator can read, while real
// sign-ups in other ranges, interleaved with it, keep getting and approving
// codes; premium-rate numbers are never paid for at all.
func TestFraudGuardHighCostBurstSparesRealSignups(t *testing.T) {
	h := newHarness(t, options{guard: func(c *fraud.Config) {
		c.Spend.Prices = map[string]float64{"UZ": 0.25, "US": 0.01}
	}})
	paid, firstRefusal, firstBreaker, paidBeforeBreaker := 0, -1, -1, 0
	var why []string
	for i := range 300 {
		body := fmt.Sprintf(`{"phone":"+99890123%04d","ip":"203.0.113.%d"}`, i, i%250+1)
		r := h.start(body)
		if r.status == http.StatusForbidden {
			if c, ok := r.errorField("challenge").(map[string]any); ok {
				tok, bits := c["token"].(string), int(c["difficulty"].(float64))
				r = h.start(strings.TrimSuffix(body, "}") + fmt.Sprintf(`,"pow":%q}`, tok+":"+fraud.Solve(tok, bits)))
			}
		}
		switch r.status {
		case http.StatusCreated:
			paid++
		case http.StatusForbidden:
			if firstRefusal < 0 {
				firstRefusal = i
			}
			why = reasons(r)
			if firstBreaker < 0 && slices.Contains(why, "breaker_prefix") {
				firstBreaker, paidBeforeBreaker = i, paid
			}
		default:
			t.Fatalf("pumping start %d: %d %s", i, r.status, r.body)
		}
		if i%10 == 9 {
			// A real person in another range signs up and enters the code.
			areas := []string{"202", "212", "305", "312", "415", "512", "617", "646", "713", "206"}
			id, code := h.startOK(fmt.Sprintf("+1%s%03d%04d", areas[i/10%len(areas)], 200+i, 1000+i))
			h.approveCode(id, code)
		}
		h.clock.Advance(3 * time.Second)
	}
	t.Logf("high-cost burst: %d of 300 paid, first refused at attempt %d (velocity), breaker open from attempt %d after %d paid sends, last reasons %v",
		paid, firstRefusal, firstBreaker, paidBeforeBreaker, why)
	// Cut off within the first 50 paid sends, and nothing paid once the breaker is open.
	if firstBreaker < 0 || paidBeforeBreaker > 50 || paid != paidBeforeBreaker {
		t.Errorf("the burst paid %d sends (%d before the breaker opened at attempt %d): want the breaker within 50 paid sends", paid, paidBeforeBreaker, firstBreaker)
	}
	if !slices.Contains(why, "breaker_prefix") {
		t.Errorf("reasons %v do not name the breaker", why)
	}
	b := h.get(bootstrapKey, "/v1/fraud/breakers").wantStatus(http.StatusOK).json()["breakers"].([]any)
	if len(b) == 0 || b[0].(map[string]any)["label"] != "+99890123" {
		t.Fatalf("breakers: %v", b)
	}
	// Premium rate: refused outright, for a reason an operator can read.
	r := h.start(`{"phone":"` + numPrem + `"}`)
	if r.status != http.StatusBadRequest || r.errorField("code") != "unsupported_number_type" {
		t.Fatalf("premium-rate start: %d %s", r.status, r.body)
	}
}
