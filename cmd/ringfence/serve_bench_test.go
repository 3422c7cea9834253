package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ringfence/ringfence/internal/config"
)

// BenchmarkServeStart drives POST /v1/verifications over loopback HTTP
// against the whole service on its default durable SQLite store, with the
// fraud guard off (the load is one sequential range, which it would stop).
// It is for profiles (-cpuprofile); bench/run.sh measures the rate.
func BenchmarkServeStart(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	off := false
	cfg.Fraud.Enabled = &off
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	m := NewMain(cfg, func(string) string { return "" }, log, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Open(ctx); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		m.Close()
	}()
	base := m.URL()
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	client := &http.Client{Transport: tr}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"phone":"+1415%07d","channel":"sms","purpose":"signup"}`, 2000000+i)
			req, _ := http.NewRequest("POST", base+"/v1/verifications", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+m.DevKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("start: %d", resp.StatusCode)
				return
			}
		}
	})
}
