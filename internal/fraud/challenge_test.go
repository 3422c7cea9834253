package fraud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// challengeConfig asks for a challenge from the second send of an IP and
// the third of a prefix.
func challengeConfig() Config {
	cfg := plainConfig(nil)
	cfg.Velocity.IP = []Limit{{Count: 100, Window: time.Hour, Soft: 1}}
	cfg.Velocity.Prefix = []Limit{{Count: 100, Window: time.Hour, Soft: 2}}
	cfg.PoW.Difficulty = 8
	return cfg
}

func TestChallenge(t *testing.T) {
	g := New(challengeConfig())
	mustAllow(t, g, send("p1", "1", "ip1", t0))
	// The second send from ip1 needs a challenge.
	r := send("p2", "2", "ip1", t0)
	d := mustRefuse(t, g, r, ReasonChallengeRequired)
	ch := d.Challenge
	if ch.Difficulty != 8 || !ch.Expires.Equal(t0.Add(5*time.Minute)) || len(ch.Token) != tokenChars {
		t.Fatalf("Challenge = %+v", ch)
	}
	sol := solve(t, d)

	// Bad solutions, each refused with a fresh challenge.
	nonce := sol[len(ch.Token)+1:]
	lazy := 0
	for zeroBits(sha256Sum(ch.Token+":"+strconv.Itoa(lazy))) >= 8 {
		lazy++
	}
	tampered := []byte(ch.Token)
	tampered[3] ^= 1
	for name, bad := range map[string]Request{
		"no work":      with(r, ch.Token+":"+strconv.Itoa(lazy)),
		"garbage":      with(r, "!!"),
		"no nonce":     with(r, ch.Token+":"),
		"long nonce":   with(r, ch.Token+":"+strings.Repeat("1", 65)),
		"tampered":     with(r, string(tampered)+":"+nonce),
		"other prefix": with(send("p3", "2", "ip1", t0), sol),
		"after expiry": with(send("p2", "2", "ip1", ch.Expires), sol),
	} {
		d := g.Check(bad)
		if d.Allow || len(d.Reasons) != 1 || d.Reasons[0] != ReasonChallengeInvalid || d.Challenge == nil || d.Challenge.Token == ch.Token {
			t.Errorf("%s: Check = %+v, want challenge_invalid with a new challenge", name, d)
		}
	}

	// The right solution passes once.
	mustAllow(t, g, with(r, sol))
	mustRefuse(t, g, with(send("p2", "3", "ip1", t0.Add(time.Second)), sol), ReasonChallengeInvalid)

	// A solution for ip1 does not pass for ip2 once ip2 needs one.
	mustAllow(t, g, send("p4", "1", "ip2", t0))
	d = mustRefuse(t, g, send("p5", "1", "ip1", t0), ReasonChallengeRequired)
	mustRefuse(t, g, with(send("p5", "1", "ip2", t0), solve(t, d)), ReasonChallengeInvalid)

	// The prefix's soft limit asks too, and an allowed IP does not.
	if err := g.Allow(KindIP, "ip9", time.Time{}); err != nil {
		t.Fatal(err)
	}
	mustAllow(t, g, send("p9", "1", "ip9", t0))
	mustAllow(t, g, send("p9", "2", "ip9", t0))
	d = mustRefuse(t, g, send("p9", "3", "ip9", t0), ReasonChallengeRequired)
	mustAllow(t, g, with(send("p9", "3", "ip9", t0), solve(t, d)))

	if st := g.Stats(); st.Challenges < 10 {
		t.Errorf("Stats.Challenges = %d", st.Challenges)
	}
}

func with(r Request, sol string) Request {
	r.PoWSolution = sol
	return r
}

// TestChallengeNotSpentOnRefusal: a solution given with a send refused for
// another reason may be used again.
func TestChallengeNotSpentOnRefusal(t *testing.T) {
	cfg := challengeConfig()
	cfg.Spend.TotalPerDay = 0.1
	g := New(cfg)
	mustAllow(t, g, send("p1", "1", "ip1", t0))
	d := mustRefuse(t, g, send("p2", "1", "ip1", t0), ReasonChallengeRequired)
	sol := solve(t, d)
	mustAllow(t, g, with(send("p2", "1", "ip1", t0), sol))
	d = mustRefuse(t, g, send("p2", "2", "ip1", t0), ReasonSpendCapTotal)
	if d.Challenge != nil {
		t.Error("challenge with a spend-cap refusal")
	}
}

func TestChallengeAcrossGuards(t *testing.T) {
	a := New(challengeConfig())
	b := New(challengeConfig()) // the same key
	cfg := challengeConfig()
	cfg.PoW.Key = nil
	c := New(cfg) // a random key
	for _, g := range []*Guard{a, b, c} {
		mustAllow(t, g, send("p1", "1", "ip1", t0))
	}
	d := mustRefuse(t, a, send("p2", "1", "ip1", t0), ReasonChallengeRequired)
	sol := solve(t, d)
	mustAllow(t, b, with(send("p2", "1", "ip1", t0), sol))
	mustRefuse(t, c, with(send("p2", "1", "ip1", t0), sol), ReasonChallengeInvalid)
}

func TestSpentSetBound(t *testing.T) {
	s := newSpentSet(16) // one per shard
	sol := func(b byte, exp int64) solution { return solution{id: [macLen]byte{b}, exp: exp} }
	if !s.spend(sol(1, 100), 0) || s.spend(sol(1, 100), 0) {
		t.Fatal("spend twice")
	}
	if s.spend(sol(17, 100), 50) { // same shard, full of an unexpired token
		t.Fatal("spend in a full shard")
	}
	if !s.spend(sol(17, 200), 100) { // the first expired
		t.Fatal("spend after expiry")
	}
	s.unspend(sol(17, 200))
	if !s.spend(sol(17, 200), 100) {
		t.Fatal("spend after unspend")
	}
}

func TestSolve(t *testing.T) {
	for _, d := range []int{1, 4, 10, 12} {
		n := Solve("token", d)
		if zeroBits(sha256Sum("token:"+n)) < d {
			t.Errorf("Solve(%d) = %s: not a solution", d, n)
		}
	}
}

// TestSolverJS runs solver.js with Node.js and checks that the Go verifier
// accepts its answer, and that it finds the same nonce as Solve.
func TestSolverJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "solver.js"), SolverJS, 0o600); err != nil {
		t.Fatal(err)
	}
	g := New(challengeConfig())
	mustAllow(t, g, send("p1", "1", "ip1", t0))
	r := send("p2", "1", "ip1", t0)
	d := mustRefuse(t, g, r, ReasonChallengeRequired)
	script := `const { ringfenceSolve } = require(process.argv[1]);
ringfenceSolve(process.argv[2], Number(process.argv[3])).then(n => process.stdout.write(n));`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-e", script, filepath.Join(dir, "solver.js"), d.Challenge.Token, "8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v: %s", err, stderr.String())
	}
	nonce := string(out)
	if want := Solve(d.Challenge.Token, 8); nonce != want {
		t.Errorf("solver.js nonce %q, Solve %q", nonce, want)
	}
	mustAllow(t, g, with(r, d.Challenge.Token+":"+nonce))

	// In a page it defines a global function.
	global := `require(process.argv[1]); process.stdout.write(typeof globalThis.ringfenceSolve)`
	out, err = exec.CommandContext(ctx, node, "-e", global, filepath.Join(dir, "solver.js")).Output()
	if err != nil || string(out) != "function" {
		t.Errorf("global ringfenceSolve: %q, %v", out, err)
	}
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }
