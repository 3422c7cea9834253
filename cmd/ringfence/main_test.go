package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/config"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMain runs the whole service in-process on 127.0.0.1:0 with its defaults.
func startMain(t *testing.T, dir string, logs io.Writer, edits ...func(*config.Config)) (*Main, func()) {
	t.Helper()
	return startMainWith(t, dir, logs, func(c *config.Config) {
		for _, edit := range edits {
			edit(c)
		}
	})
}

// startMainWith is startMain with changes to the default configuration.
func startMainWith(t *testing.T, dir string, logs io.Writer, change func(*config.Config)) (*Main, func()) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Addr = "127.0.0.1:0"
	if change != nil {
		change(&cfg)
	}
	return runMain(t, cfg, func(string) string { return "" }, logs)
}

// runMain opens and runs a Main for cfg; the function it returns stops it.
func runMain(t *testing.T, cfg config.Config, getenv func(string) string, logs io.Writer) (*Main, func()) {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := NewMain(cfg, getenv, log, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return m, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
}

type client struct {
	t    *testing.T
	base string
	key  string
}

func (c client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// devCode reads the newest code sent to a number from the dev inbox.
func (c client) devCode(phone string) string {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, out := c.do("GET", "/v1/dev/messages?to="+strings.ReplaceAll(phone, "+", "%2B"), nil)
		if ms, _ := out["messages"].([]any); len(ms) > 0 {
			body, _ := ms[0].(map[string]any)["body"].(string)
			if m := codeRE.FindStringSubmatch(body); m != nil {
				return m[1]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no code reached the dev inbox")
	return ""
}

func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// TestServeEndToEnd walks the README's curl walk-through against the whole
// service on its embedded defaults, then searches the data folder and the logs
// for the digits of every number used.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	m, stop := startMain(t, dir, logs)
	c := client{t: t, base: m.URL(), key: m.DevKey}
	if !strings.HasPrefix(m.DevKey, "rfk_") {
		t.Fatalf("dev key %q", m.DevKey)
	}

	const number = "+14155550123"
	st, out := c.do("POST", "/v1/verifications", map[string]any{"phone": number, "channel": "sms", "purpose": "signup"})
	if st != 201 || out["status"] != "pending" || out["to"] != "+1 ••• ••• 0123" {
		t.Fatalf("start: %d %v", st, out)
	}
	id := out["id"].(string)
	code := c.devCode(number)

	if st, out = c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": wrongCode(code)}); st != 200 || out["status"] != "pending" {
		t.Fatalf("wrong code: %d %v", st, out)
	}
	if st, out = c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": code}); st != 200 || out["status"] != "approved" {
		t.Fatalf("right code: %d %v", st, out)
	}
	if st, out = c.do("POST", "/v1/verifications/"+id+"/check", map[string]any{"code": code}); st != 409 {
		t.Fatalf("reused code: %d %v", st, out)
	}

	// The sixth wrong check fails the verification, even with the right code.
	const second = "(415) 555-0199"
	st, out = c.do("POST", "/v1/verifications", map[string]any{"phone": second, "country": "US"})
	if st != 201 {
		t.Fatalf("start: %d %v", st, out)
	}
	id2 := out["id"].(string)
	code2 := c.devCode("+14155550199")
	for i := 1; i <= 5; i++ {
		if st, out = c.do("POST", "/v1/verifications/"+id2+"/check", map[string]any{"code": wrongCode(code2)}); out["status"] != "pending" {
			t.Fatalf("wrong check %d: %d %v", i, st, out)
		}
	}
	if st, out = c.do("POST", "/v1/verifications/"+id2+"/check", map[string]any{"code": code2}); out["status"] != "failed" {
		t.Fatalf("sixth check: %d %v", st, out)
	}

	// Malformed and unsupported numbers: 400, nothing stored, nothing sent.
	for _, bad := range []string{"abc", "+1", strings.Repeat("4", 40), "+１４１５５５５０１２３", "", "+1 900 555 0123"} {
		st, out = c.do("POST", "/v1/verifications", map[string]any{"phone": bad})
		e, _ := out["error"].(map[string]any)
		if st != 400 || (e["code"] != "invalid_phone" && e["code"] != "unsupported_number_type") {
			t.Errorf("phone %q: %d %v", bad, st, out)
		}
	}
	if n := len(m.DevInbox.All()); n != 2 {
		t.Errorf("dev inbox holds %d messages, want 2", n)
	}

	// The demo page and the dev inbox page render.
	for _, p := range []string{"/", "/dev/inbox"} {
		resp, err := http.Get(m.URL() + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	stop()

	assertNoDigits(t, dir, logs.String(), "4155550123", "4155550199")
}

// assertNoDigits fails if any file under dir, or the logs, hold any of the
// digit strings.
func assertNoDigits(t *testing.T, dir, logs string, digits ...string) {
	t.Helper()
	eachFile(t, dir, func(path string, b []byte) {
		for _, s := range digits {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the digits %s", path, s)
			}
		}
	})
	for _, s := range digits {
		if strings.Contains(logs, s) {
			t.Errorf("logs hold the digits %s", s)
		}
	}
	if !strings.Contains(logs, "ringfence") && len(logs) == 0 {
		t.Errorf("no logs were captured")
	}
}

// eachFile calls fn with the content of every file under dir, and fails the
// test if there are fewer than two (the data folder is not where it thinks).
func eachFile(t *testing.T, dir string, fn func(path string, b []byte)) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		fn(path, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Fatalf("searched only %d files: the data folder is not where the test thinks", files)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	env := map[string]string{
		"RINGFENCE_DATA_DIR":           t.TempDir(),
		"RINGFENCE_VERIFY_CODE_LENGTH": "12",
		"RINGFENCE_HTTP_ADDR":          "nonsense",
	}
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"serve"}, io.Discard, &stderr, func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("serve started with a bad configuration")
	}
	for _, field := range []string{"verify.code_length", "http.addr"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}

func TestUsage(t *testing.T) {
	var out, errw bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &errw, os.Getenv); err != nil || !strings.Contains(out.String(), "ringfence") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &errw, os.Getenv); exitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
	if err := run(context.Background(), nil, &out, &errw, os.Getenv); exitCode(err) != 2 {
		t.Fatalf("no command: %v", err)
	}
}
