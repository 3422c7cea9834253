package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDrains sends SIGTERM to the binary in the middle of a burst of
// starts: it stops taking connections, answers every request it had read,
// exits with status 0, and after a restart every verification that answered
// 201 is there. Nothing was committed without its answer reaching the
// client: the database holds exactly the verifications that answered 201.
func TestSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals the binary")
	}
	bin := filepath.Join(t.TempDir(), "ringfence")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir, addr := t.TempDir(), freeAddr(t)
	const key = "drain-test-admin-key-0123456789abcdef"
	env := append(os.Environ(),
		"RINGFENCE_DATA_DIR="+dir,
		"RINGFENCE_HTTP_ADDR="+addr,
		"RINGFENCE_BOOTSTRAP_API_KEY="+key,
		"RINGFENCE_VERIFY_IP_SENDS_PER_HOUR=0",
		"RINGFENCE_FRAUD_ENABLED=false", // sequential numbers in one prefix are what the guard stops
	)
	start := func(logs io.Writer) *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = io.Discard, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("service did not start")
			}
		}
	}
	logs := &syncBuffer{}
	cmd := start(logs)

	// A new connection per request: a request either reaches the server and
	// is answered in full, or finds the listener closed.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var (
		mu        sync.Mutex
		created   = map[string]string{}
		failures  []string
		next      atomic.Int64
		wg        sync.WaitGroup
		answered  atomic.Int64
		ctx, stop = context.WithCancel(context.Background())
	)
	defer stop()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				number := fmt.Sprintf("+1415%07d", 3000000+next.Add(1))
				b, _ := json.Marshal(map[string]string{"phone": number})
				req, _ := http.NewRequest("POST", "http://"+addr+"/v1/verifications", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					return // the listener is closed
				}
				var out struct{ ID string }
				derr := json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				answered.Add(1)
				mu.Lock()
				if resp.StatusCode == http.StatusCreated && derr == nil {
					created[number] = out.ID
				} else {
					failures = append(failures, fmt.Sprintf("%d %v", resp.StatusCode, derr))
				}
				mu.Unlock()
			}
		}()
	}
	for answered.Load() < 100 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("still running 60 s after SIGTERM")
	}
	stop()
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d requests answered with an error during the drain, first: %s", len(failures), failures[0])
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown in the logs")
	}
	out, err := exec.Command("sqlite3", filepath.Join(dir, "ringfence.db"), "SELECT count(*) FROM verifications").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != fmt.Sprint(len(created)) {
		t.Errorf("the database holds %s verifications, but %d answers reached the clients", got, len(created))
	}

	cmd = start(io.Discard)
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	c := client{t: t, base: "http://" + addr, key: key}
	for number, id := range created {
		if st, out := c.do("GET", "/v1/verifications/"+id, nil); st != http.StatusOK || out["status"] != "pending" {
			t.Errorf("%s (%s) after restart: %d %v", id, number[:5], st, out)
		}
	}
	t.Logf("%d starts answered 201 before and during the drain", len(created))
}
