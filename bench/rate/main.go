// Command rate is an open-loop load generator for bench/run.sh: wrk has no
// rate control and wrk2 is not packaged, so this sends requests at a fixed
// arrival rate over at most -c keep-alive connections and reports the
// latency distribution (every latency kept, sorted, nearest-rank quantiles).
//
// Request i is due at start + i/rate. Each connection takes the next due
// request, waits for its time, writes it and reads the answer. When a request
// is already overdue as a connection takes it (every connection was busy: the
// server is behind), its latency counts from its due time, so the server is
// charged for the queueing it causes (no coordinated omission). When the
// connection had to wait for the due time, latency counts from the actual
// write, so the generator's own timer slop (about 1 ms on a loaded machine) is
// not charged to the server. Requests due in the first -warmup are sent but
// not recorded.
//
// HTTP/1.1 is spoken directly (request written from a template, status line,
// Content-Length and body read with a bufio.Reader) to keep the generator's
// CPU cost per request near wrk's: on 2 cores it shares the machine with the
// server. It prints wrk-like lines ("Requests/sec:", "Latency Distribution",
// "bench-errors:", "bench-overrun:") for bench/summary.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type generator struct {
	host     string
	key      string
	makeReq  func(i int) (path string, body []byte)
	total    int
	warmN    int
	begin    time.Time
	interval time.Duration

	next      atomic.Int64
	lat       []time.Duration // by request; -1: not recorded
	errs      atomic.Int64
	statusErr atomic.Int64
	firstErr  atomic.Value
	overdue   atomic.Int64
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "base URL (http only)")
	key := flag.String("key", os.Getenv("BENCH_KEY"), "API key (default $BENCH_KEY)")
	mode := flag.String("mode", "start", "start: POST /v1/verifications; check: POST /v1/verifications/{id}/check")
	rate := flag.Float64("rate", 1000, "requests per second")
	dur := flag.Duration("d", 10*time.Second, "duration, warm-up included")
	warmup := flag.Duration("warmup", time.Second, "leading part of the run not recorded")
	conns := flag.Int("c", 64, "connections")
	area := flag.String("area", "628", "start: US area code of the numbers")
	first := flag.Int("base", 2000000, "start: first subscriber number")
	idsFile := flag.String("ids", "ids.txt", "check: file of \"id wrongcode\" lines")
	maxChecks := flag.Int("maxchecks", 4, "check: checks per id at most")
	flag.Parse()
	if *rate <= 0 || *dur <= *warmup {
		log.Fatal("rate: need -rate > 0 and -d > -warmup")
	}
	u, err := url.Parse(*base)
	if err != nil || u.Scheme != "http" {
		log.Fatalf("rate: -url must be http://host:port")
	}

	g := &generator{
		host:     u.Host,
		key:      *key,
		total:    int(*rate * dur.Seconds()),
		warmN:    int(*rate * warmup.Seconds()),
		interval: time.Duration(float64(time.Second) / *rate),
	}
	overrun := 0
	switch *mode {
	case "start":
		if *first < 2000000 || *first+g.total > 10000000 {
			log.Fatal("rate: numbers must stay within 2000000..9999999: lower -rate, -d or -base")
		}
		g.makeReq = func(i int) (string, []byte) {
			return "/v1/verifications", fmt.Appendf(nil, `{"phone":"+1%s%07d","purpose":"signup"}`, *area, *first+i)
		}
	case "check":
		paths, bodies, err := readIDs(*idsFile)
		if err != nil {
			log.Fatal(err)
		}
		overrun = max(0, g.total-len(paths)**maxChecks)
		g.makeReq = func(i int) (string, []byte) {
			return paths[i%len(paths)], bodies[i%len(paths)]
		}
	default:
		log.Fatalf("rate: unknown mode %q", *mode)
	}
	g.lat = make([]time.Duration, g.total)
	for i := range g.lat {
		g.lat[i] = -1
	}

	// Open every connection before the clock starts.
	cs := make([]net.Conn, *conns)
	for k := range cs {
		if cs[k], err = net.Dial("tcp", g.host); err != nil {
			log.Fatal("rate: ", err)
		}
	}
	g.begin = time.Now().Add(20 * time.Millisecond)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { g.worker(c) })
	}
	wg.Wait()
	elapsed := time.Since(g.begin)

	var got []time.Duration
	for _, d := range g.lat[g.warmN:] {
		if d >= 0 {
			got = append(got, d)
		}
	}
	slices.Sort(got)
	fmt.Printf("open-loop %s at %.0f req/s for %s: %d requests (%d in warm-up), %d connections\n",
		*mode, *rate, *dur, g.total, g.warmN, *conns)
	fmt.Printf("Latency Distribution (%d recorded, %d taken overdue)\n", len(got), g.overdue.Load())
	for _, q := range []float64{50, 75, 90, 99, 99.9, 100} {
		fmt.Printf(" %5g%% %s\n", q, fmtDur(quantile(got, q)))
	}
	fmt.Printf("  %d requests in %.2fs\n", g.total, elapsed.Seconds())
	fmt.Printf("Requests/sec: %.2f\n", float64(g.total)/elapsed.Seconds())
	fmt.Printf("bench-errors: %d (status>=300 %d)\n", g.errs.Load(), g.statusErr.Load())
	if err, _ := g.firstErr.Load().(error); err != nil {
		fmt.Printf("first error: %v\n", err)
	}
	fmt.Printf("bench-overrun: %d\n", overrun)
}

func (g *generator) worker(c net.Conn) {
	r := bufio.NewReaderSize(c, 8<<10)
	var buf []byte
	for {
		i := int(g.next.Add(1) - 1)
		if i >= g.total {
			c.Close()
			return
		}
		due := g.begin.Add(time.Duration(i) * g.interval)
		from := due
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
			from = time.Now()
		} else if i >= g.warmN {
			g.overdue.Add(1)
		}
		path, body := g.makeReq(i)
		buf = g.format(buf[:0], path, body)
		err := g.roundTrip(c, r, buf)
		if err != nil {
			g.errs.Add(1)
			if errors.Is(err, errStatus) {
				g.statusErr.Add(1)
			}
			g.firstErr.CompareAndSwap(nil, err)
			if !errors.Is(err, errStatus) {
				// The connection is in an unknown state: open a new one.
				c.Close()
				if c, err = net.Dial("tcp", g.host); err != nil {
					g.firstErr.CompareAndSwap(nil, err)
					return
				}
				r.Reset(c)
			}
			continue
		}
		g.lat[i] = time.Since(from)
	}
}

func (g *generator) format(b []byte, path string, body []byte) []byte {
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, g.host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, g.key...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

var errStatus = errors.New("status")

// roundTrip writes req and reads one response; a status outside 2xx is errStatus.
func (g *generator) roundTrip(c net.Conn, r *bufio.Reader, req []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	// "HTTP/1.1 201 Created\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && strings.EqualFold(string(k), "Content-Length") {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	if length < 0 {
		return fmt.Errorf("response without Content-Length (status %d)", status)
	}
	if _, err := r.Discard(length); err != nil {
		return err
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("%w %d", errStatus, status)
	}
	return nil
}

func readIDs(name string) (paths []string, bodies [][]byte, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		code := "000000"
		if len(fields) > 1 {
			code = fields[1]
		}
		paths = append(paths, "/v1/verifications/"+fields[0]+"/check")
		bodies = append(bodies, []byte(`{"code":"`+code+`"}`))
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("rate: no ids in %s", name)
	}
	return paths, bodies, nil
}

// quantile returns the q-th percentile of sorted, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(q/100*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

// fmtDur prints d as wrk does: 2 decimals in us, ms or s.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fus", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
