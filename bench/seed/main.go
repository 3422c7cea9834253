// Command seed pre-creates verifications for the check scenario of
// bench/run.sh: it POSTs n starts concurrently, each to a distinct number,
// and writes "id wrongcode" lines to a file.
//
// With -codes (the default, which needs the dev sender) it works in batches
// smaller than the dev inbox, waits for each batch's codes to be delivered
// and writes for each id a code that is certainly wrong, so a benchmark check
// can never approve a verification by chance. Waiting for delivery also means
// the outbox is drained when seed returns: the dispatcher's writes do not
// overlap the measurement that follows.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"
)

type config struct {
	url, key, area string
	base           int
	timeout        time.Duration
}

var client = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256},
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "http://127.0.0.1:8080", "ringfence base URL")
	flag.StringVar(&cfg.key, "key", os.Getenv("BENCH_KEY"), "API key (default $BENCH_KEY)")
	flag.StringVar(&cfg.area, "area", "646", "US area code of the numbers")
	flag.IntVar(&cfg.base, "base", 2000000, "first subscriber number (7 digits, 2000000 or more)")
	n := flag.Int("n", 1000, "verifications to create")
	conc := flag.Int("c", 64, "concurrent requests")
	batch := flag.Int("batch", 800, "verifications per batch (below the dev inbox's 1000)")
	codes := flag.Bool("codes", true, "read each code from the dev inbox and write a wrong one")
	out := flag.String("o", "ids.txt", "output file")
	flag.DurationVar(&cfg.timeout, "wait", 30*time.Second, "how long to wait for a batch's codes")
	flag.Parse()
	if cfg.key == "" {
		log.Fatal("seed: no API key (-key or BENCH_KEY)")
	}
	if cfg.base < 2000000 || cfg.base+*n > 10000000 {
		log.Fatal("seed: numbers must stay within 2000000..9999999")
	}

	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(f)
	began := time.Now()
	guessed := 0
	if !*codes {
		*batch = *n
	}
	for lo := 0; lo < *n; lo += *batch {
		hi := min(lo+*batch, *n)
		ids := make([]string, hi-lo)
		wrong := make([]string, hi-lo)
		parallel(hi-lo, *conc, func(i int) error {
			id, err := cfg.start(cfg.number(lo + i))
			ids[i] = id
			return err
		})
		if *codes {
			deadline := time.Now().Add(cfg.timeout)
			parallel(hi-lo, *conc, func(i int) error {
				c, err := cfg.wrongCode(cfg.number(lo+i), deadline)
				wrong[i] = c
				return err
			})
		}
		for i := range ids {
			if wrong[i] == "" {
				wrong[i] = "000000"
				guessed++
			}
			fmt.Fprintf(w, "%s %s\n", ids[i], wrong[i])
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "seed: %d verifications in %.1fs (%d codes not looked up) -> %s\n",
		*n, time.Since(began).Seconds(), guessed, *out)
}

func (c *config) number(i int) string {
	return fmt.Sprintf("+1%s%07d", c.area, c.base+i)
}

// parallel runs fn(0..n-1) on conc goroutines and stops the program on the first error.
func parallel(n, conc int, fn func(i int) error) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range conc {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					log.Fatal("seed: ", err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func (c *config) do(method, path string, body []byte, want int, dst any) error {
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, dst)
}

func (c *config) start(number string) (string, error) {
	body, _ := json.Marshal(map[string]string{"phone": number, "purpose": "signup"})
	var v struct {
		ID string `json:"id"`
	}
	if err := c.do("POST", "/v1/verifications", body, http.StatusCreated, &v); err != nil {
		return "", err
	}
	if v.ID == "" {
		return "", fmt.Errorf("start: no id in the response")
	}
	return v.ID, nil
}

var codeRE = regexp.MustCompile(`code is (\d{4,10})`)

// wrongCode waits for the number's message in the dev inbox and returns a code
// of the same length that differs from it.
func (c *config) wrongCode(number string, deadline time.Time) (string, error) {
	for {
		var inbox struct {
			Messages []struct {
				Body string `json:"body"`
			} `json:"messages"`
		}
		if err := c.do("GET", "/v1/dev/messages?to="+url.QueryEscape(number), nil, http.StatusOK, &inbox); err != nil {
			return "", err
		}
		for _, m := range inbox.Messages {
			if g := codeRE.FindStringSubmatch(m.Body); g != nil {
				return other(g[1]), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no message to %s... in the dev inbox", number[:5])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// other returns a code of the same length as code that is not code.
func other(code string) string {
	v, _ := strconv.ParseUint(code, 10, 64)
	mod := uint64(1)
	for range code {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", len(code), (v+1)%mod)
}
