package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ringfence/ringfence/internal/config"
)

// benchServe runs the whole service on 127.0.0.1:0 with its default durable
// SQLite store and the fraud guard off (benchmark loads are sequential ranges
// of numbers from one client, which it exists to stop).
func benchServe(b *testing.B) (*Main, *http.Client) {
	b.Helper()
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	off := false
	cfg.Fraud.Enabled = &off
	cfg.Verify.SendsPerHour, cfg.Verify.SendsPerDay = 1<<30, 1<<30
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	m := NewMain(cfg, func(string) string { return "" }, log, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
		m.Close()
	})
	return m, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
}

func benchPost(m *Main, c *http.Client, path, body string) (int, []byte, error) {
	req, _ := http.NewRequest("POST", m.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.DevKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// BenchmarkServeStart drives POST /v1/verifications over loopback HTTP, 32
// requests in flight per core. It is for profiles (-cpuprofile); bench/run.sh
// measures the rate against a reference server.
func BenchmarkServeStart(b *testing.B) {
	m, c := benchServe(b)
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := fmt.Sprintf(`{"phone":"+1415%07d","channel":"sms","purpose":"signup"}`, 2000000+n.Add(1))
			if st, out, err := benchPost(m, c, "/v1/verifications", body); err != nil || st != http.StatusCreated {
				b.Errorf("start: %d %s %v", st, out, err)
				return
			}
		}
	})
}

// BenchmarkServeCheck drives wrong-code checks over loopback HTTP: each is a
// durable write (the attempt and an audit event), at most 4 per verification.
func BenchmarkServeCheck(b *testing.B) {
	m, c := benchServe(b)
	ids := make([]string, b.N/4+1)
	for i := range ids {
		st, out, err := benchPost(m, c, "/v1/verifications", fmt.Sprintf(`{"phone":"+1646%07d"}`, 2000000+i))
		if err != nil || st != http.StatusCreated {
			b.Fatalf("start: %d %s %v", st, out, err)
		}
		var v struct{ ID string }
		if err := json.Unmarshal(out, &v); err != nil {
			b.Fatal(err)
		}
		ids[i] = v.ID
	}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[int(n.Add(1)-1)/4]
			// One in a million approves; the next check then answers 409.
			if st, out, err := benchPost(m, c, "/v1/verifications/"+id+"/check", `{"code":"000000"}`); err != nil || (st != http.StatusOK && st != http.StatusConflict) {
				b.Errorf("check: %d %s %v", st, out, err)
				return
			}
		}
	})
}
