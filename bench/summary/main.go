// Command summary reads the wrk and bench/rate outputs that bench/run.sh
// leaves in a results folder and prints, per scenario, the median req/s, p50
// and p99 over the valid rounds, the ratio to the hello-world reference, the
// open-loop p99 at half the maximum rate, and the verdict on the goal.
//
// Files: r<N>-<scenario>.txt (wrk, closed loop) and half-<scenario>-r<N>.txt
// (bench/rate, open loop). A run with errors or overruns (printed by the Lua
// scripts and by rate as "bench-errors:" and "bench-overrun:") is shown but
// left out of the medians.
//
//	summary -dir results            the table
//	summary -dir results -median start   the median req/s of one scenario, for run.sh
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Goal of the task: each scenario at this share of the hello-world rate, and
// p99 under goalP99 at half its maximum rate.
const (
	goalRatio = 0.25
	goalP99   = 10 * time.Millisecond
)

type run struct {
	file     string
	round    int
	rps      float64
	p50, p99 time.Duration
	errors   int
	overrun  int
	parsed   bool
	srvCPU   float64 // cores the server used during the run (run.sh), 0 if unknown
	wrkCPU   float64 // cores wrk used
}

func (r run) valid() bool { return r.parsed && r.errors == 0 && r.overrun == 0 }

func main() {
	dir := flag.String("dir", ".", "results folder")
	median := flag.String("median", "", "print only the median req/s of this closed-loop scenario")
	flag.Parse()

	closed := map[string][]run{}
	open := map[string][]run{}
	files, _ := filepath.Glob(filepath.Join(*dir, "*.txt"))
	reClosed := regexp.MustCompile(`^r(\d+)-(\w+)\.txt$`)
	reOpen := regexp.MustCompile(`^half-(\w+)-r(\d+)\.txt$`)
	for _, f := range files {
		base := filepath.Base(f)
		if m := reClosed.FindStringSubmatch(base); m != nil {
			r := parse(f)
			r.round, _ = strconv.Atoi(m[1])
			closed[m[2]] = append(closed[m[2]], r)
		} else if m := reOpen.FindStringSubmatch(base); m != nil {
			r := parse(f)
			r.round, _ = strconv.Atoi(m[2])
			open[m[1]] = append(open[m[1]], r)
		}
	}
	for _, m := range []map[string][]run{closed, open} {
		for _, rs := range m {
			slices.SortFunc(rs, func(a, b run) int { return a.round - b.round })
		}
	}

	if *median != "" {
		rps, _, _, n := medians(closed[*median])
		if n == 0 {
			log.Fatalf("summary: no valid %s run in %s", *median, *dir)
		}
		fmt.Printf("%.0f\n", rps)
		return
	}

	helloRPS, _, _, helloN := medians(closed["hello"])
	fmt.Printf("Closed loop (wrk), median of the valid alternating rounds:\n")
	fmt.Printf("  %-8s %5s %10s %9s %9s %8s %10s %8s %8s   %s\n", "scenario", "valid", "req/s", "p50", "p99", "ratio", "ratio/rnd", "srv cpu", "wrk cpu", "req/s of each round")
	verdicts := []string{}
	for _, sc := range order(closed, "hello", "start", "check") {
		rs := closed[sc]
		rps, p50, p99, n := medians(rs)
		ratio, perRound := "-", "-"
		if helloN > 0 && n > 0 {
			ratio = fmt.Sprintf("%.3f", rps/helloRPS)
			perRound = fmt.Sprintf("%.3f", roundRatio(rs, closed["hello"]))
		}
		var each []string
		for _, r := range rs {
			s := fmt.Sprintf("%.0f", r.rps)
			if !r.valid() {
				s += fmt.Sprintf("(invalid: %d errors, %d overrun)", r.errors, r.overrun)
			}
			each = append(each, s)
		}
		srv, wrk := cpus(rs)
		fmt.Printf("  %-8s %2d/%-2d %10.0f %9s %9s %8s %10s %8s %8s   %s\n", sc, n, len(rs), rps, fmtDur(p50), fmtDur(p99), ratio, perRound, srv, wrk, strings.Join(each, " "))
		if sc != "hello" && helloN > 0 && n > 0 {
			verdicts = append(verdicts, fmt.Sprintf("%s at >= %.0f%% of hello-world: %s (%.1f%%)", sc, goalRatio*100, pass(rps/helloRPS >= goalRatio), 100*rps/helloRPS))
		}
	}
	if len(open) > 0 {
		fmt.Printf("\nOpen loop (bench/rate) at half the median max rate, median of the valid rounds:\n")
		fmt.Printf("  %-8s %5s %10s %9s %9s %9s\n", "scenario", "valid", "req/s", "p50", "p99", "p99 max")
		for _, sc := range order(open, "start", "check", "hello") {
			rs := open[sc]
			rps, p50, p99, n := medians(rs)
			var worst time.Duration
			for _, r := range rs {
				if r.valid() {
					worst = max(worst, r.p99)
				}
			}
			fmt.Printf("  %-8s %2d/%-2d %10.0f %9s %9s %9s\n", sc, n, len(rs), rps, fmtDur(p50), fmtDur(p99), fmtDur(worst))
			if sc != "hello" && n > 0 {
				verdicts = append(verdicts, fmt.Sprintf("%s p99 < %s at half its max rate: %s (%s)", sc, goalP99, pass(p99 < goalP99), fmtDur(p99)))
			}
		}
		if _, ok := open["hello"]; ok {
			fmt.Printf("  (hello: the reference server at start's half rate: the floor that the generator and the machine set)\n")
		}
	}
	fmt.Printf("\nratio: median req/s over hello's median; ratio/rnd: median of each round's ratio to the same round's hello.\n")
	fmt.Printf("srv cpu, wrk cpu: median cores the server and wrk used during the runs.\n")
	fmt.Printf("\nGoal:\n")
	for _, v := range verdicts {
		fmt.Printf("  %s\n", v)
	}
}

func pass(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// order lists the keys of m, the given ones first.
func order(m map[string][]run, first ...string) []string {
	var out []string
	for _, k := range first {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	var rest []string
	for k := range m {
		if !slices.Contains(first, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// medians returns the median req/s, p50 and p99 of the valid runs and their number.
func medians(rs []run) (rps float64, p50, p99 time.Duration, n int) {
	var a []float64
	var b, c []time.Duration
	for _, r := range rs {
		if r.valid() {
			a = append(a, r.rps)
			b = append(b, r.p50)
			c = append(c, r.p99)
		}
	}
	if len(a) == 0 {
		return 0, 0, 0, 0
	}
	return med(a), med(b), med(c), len(a)
}

// cpus returns the median cores the server and wrk used over the valid runs, as text.
func cpus(rs []run) (srv, wrk string) {
	var a, b []float64
	for _, r := range rs {
		if r.valid() && r.srvCPU > 0 {
			a = append(a, r.srvCPU)
			b = append(b, r.wrkCPU)
		}
	}
	if len(a) == 0 {
		return "-", "-"
	}
	return fmt.Sprintf("%.2f", med(a)), fmt.Sprintf("%.2f", med(b))
}

// roundRatio is the median over rounds of the scenario's rate over the same round's hello rate.
func roundRatio(rs, hello []run) float64 {
	var ratios []float64
	for _, r := range rs {
		for _, h := range hello {
			if h.round == r.round && r.valid() && h.valid() && h.rps > 0 {
				ratios = append(ratios, r.rps/h.rps)
			}
		}
	}
	if len(ratios) == 0 {
		return 0
	}
	return med(ratios)
}

func med[T float64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var (
	reRPS     = regexp.MustCompile(`^Requests/sec:\s+([0-9.]+)`)
	reQuant   = regexp.MustCompile(`^\s*(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m|h)\s*$`)
	reErrors  = regexp.MustCompile(`^bench-errors:\s+(\d+)`)
	reOverrun = regexp.MustCompile(`^bench-overrun:\s+(\d+)`)
	reNon2xx  = regexp.MustCompile(`^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	reCPU     = regexp.MustCompile(`^bench-cpu: server ([0-9.]+) cores, wrk ([0-9.]+) cores`)
)

// parse reads one wrk or bench/rate output.
func parse(name string) run {
	r := run{file: name}
	f, err := os.Open(name)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	non2xx := 0
	sawErrors := false
	for sc.Scan() {
		line := sc.Text()
		if m := reRPS.FindStringSubmatch(line); m != nil {
			r.rps, _ = strconv.ParseFloat(m[1], 64)
			r.parsed = true
		} else if m := reQuant.FindStringSubmatch(line); m != nil {
			d := unit(m[2], m[3])
			if m[1] == "50" {
				r.p50 = d
			} else {
				r.p99 = d
			}
		} else if m := reErrors.FindStringSubmatch(line); m != nil {
			r.errors, _ = strconv.Atoi(m[1])
			sawErrors = true
		} else if m := reOverrun.FindStringSubmatch(line); m != nil {
			r.overrun, _ = strconv.Atoi(m[1])
		} else if m := reCPU.FindStringSubmatch(line); m != nil {
			r.srvCPU, _ = strconv.ParseFloat(m[1], 64)
			r.wrkCPU, _ = strconv.ParseFloat(m[2], 64)
		} else if m := reNon2xx.FindStringSubmatch(line); m != nil {
			non2xx, _ = strconv.Atoi(m[1])
		}
	}
	if non2xx > r.errors {
		r.errors = non2xx
	}
	if !sawErrors {
		// No done() output: the script did not run to the end.
		r.parsed = false
	}
	return r
}

func unit(v, u string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	scale := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[u]
	return time.Duration(f * scale)
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fus", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
