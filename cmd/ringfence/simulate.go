package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ringfence/ringfence/internal/fraud"
)

// runSimulate replays simulated sign-ups and SMS-pumping attacks through the
// fraud guard on a virtual clock and prints what the attacks cost, how many
// real people were refused and how fast the guard reacted. It fails when the
// goals are not met.
func runSimulate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "seed of the traffic; the same seed gives the same run")
	hours := fs.Int("hours", 24, "hours of traffic (1 to 168)")
	perHour := fs.Float64("signups", 400, "real sign-ups an hour")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 || *hours < 1 || *hours > 168 || *perHour < 0 || *perHour > 100000 {
		fmt.Fprintln(stderr, "simulate: -hours must be 1 to 168 and -signups 0 to 100000, with no other arguments")
		return errUsage
	}
	sc := fraud.PumpingScenario(*seed)
	sc.Duration = time.Duration(*hours) * time.Hour
	sc.SignupsPerHour = *perHour
	started := time.Now()
	r := fraud.Simulate(fraud.New(fraud.SimConfig()), sc)
	printSimulation(stdout, sc, r, time.Since(started))
	if !r.GoalMet() {
		return errors.New("simulate: the guard missed its goals")
	}
	return nil
}

func printSimulation(w io.Writer, sc fraud.Scenario, r fraud.SimReport, took time.Duration) {
	fmt.Fprintf(w, "ringfence simulate: seed %d, %s of traffic (simulated in %s), fraud guard defaults with the simulated price table\n\n",
		sc.Seed, sc.Duration, took.Round(time.Millisecond))
	fmt.Fprintf(w, "real sign-ups: %d, refused %d (%.3f%%; goal at most %.1f%%)\n",
		r.Signups, r.SignupsRefused, r.SignupRefusedPct, fraud.GoalSignupRefusedPct)
	fmt.Fprintf(w, "real sends:    %d, refused %d, challenges solved %d, cost %.2f\n",
		r.RealSends, r.RealSendsRefused, r.RealChallenges, r.RealCost)
	if len(r.RealRefusals) > 0 {
		fmt.Fprintf(w, "               refusals of real sends by reason: %s\n", reasonList(r.RealRefusals))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "attack\tattempts\tpaid\tcost\tbreaker from attempt\tpaid before\tmost paid a range\tpaid after 50\trefused after 50\treasons")
	for _, a := range r.Attacks {
		cut := "never"
		if a.Cutoff >= 0 {
			cut = fmt.Sprint(a.Cutoff)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%s\t%d\t%d\t%d\t%.2f%%\t%s\n",
			a.Name, a.Sends, a.Paid, a.Cost, cut, a.PaidBeforeCutoff, a.RangeCutoff, a.PaidAfter50, a.RefusedPct50, reasonList(a.Reasons))
	}
	fmt.Fprintf(tw, "all attacks\t%d\t%d\t%.2f\t\t\t\t%d\t%.2f%%\t\n", r.AttackSends, r.AttackPaid, r.AttackCost, r.AttackPaidAfter50, r.AttackRefusedPct50)
	tw.Flush()
	fmt.Fprintf(w, "\nbreaker probes let through: %d; breakers open at the end: %d\n", r.Probes, r.BreakersOpenedAtEnd)
	verdict := "met"
	if !r.GoalMet() {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "goal (at least %.0f%% of pumping sends refused after each attack's first 50, at most %.1f%% of real sign-ups refused): %s\n",
		fraud.GoalAttackRefusedPct, fraud.GoalSignupRefusedPct, verdict)
}

// reasonList prints counts by reason, most frequent first.
func reasonList(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
