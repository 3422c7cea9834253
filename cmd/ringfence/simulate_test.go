package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/ringfence/ringfence/internal/fraud"
)

// ringfence simulate replays the pumping scenario and prints the goal's verdict.
func TestSimulate(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"simulate", "-hours", "12", "-seed", "2"}, &out, io.Discard, func(string) string { return "" }); err != nil {
		t.Fatalf("simulate: %v\n%s", err, out.String())
	}
	for _, want := range []string{"real sign-ups:", "burst", "premium", "breaker_prefix", "number_type=500", "all attacks", "): met"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, args := range [][]string{{"-hours", "0"}, {"-hours", "200"}, {"-signups", "-1"}, {"extra"}, {"-nope"}} {
		err := run(context.Background(), append([]string{"simulate"}, args...), io.Discard, io.Discard, func(string) string { return "" })
		if exitCode(err) != 2 {
			t.Errorf("simulate %v: %v, want a usage error", args, err)
		}
	}
}

// A report that misses either goal prints NOT met.
func TestSimulateVerdict(t *testing.T) {
	for name, r := range map[string]fraud.SimReport{
		"attack through": {AttackRefusedPct50: 99.5, Attacks: []fraud.SimAttackReport{{Name: "a", RefusedPct50: 98.9, Reasons: map[string]int{}}}},
		"people refused": {AttackRefusedPct50: 100, SignupRefusedPct: 0.6},
	} {
		var out bytes.Buffer
		printSimulation(&out, fraud.Scenario{}, r, 0)
		if r.GoalMet() || !strings.Contains(out.String(), "NOT met") {
			t.Errorf("%s: goal met %v\n%s", name, r.GoalMet(), out.String())
		}
	}
}
