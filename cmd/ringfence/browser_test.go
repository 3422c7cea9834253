package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium (Debian's chromium package) for a test,
// or skips the test when it is not installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("RINGFENCE_TEST_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Skip("no Chromium on PATH: install the chromium package (or set RINGFENCE_TEST_CHROMIUM) to run the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(390, 844), // a phone-sized screen
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// TestDemoSignUpInBrowser walks the demo page at / in a real browser: a
// national number with a country picked, the code from the dev inbox, a
// wrong code first, then the right one.
func TestDemoSignUpInBrowser(t *testing.T) {
	ctx := browser(t)
	m, stop := startMain(t, t.TempDir(), &syncBuffer{})
	defer stop()
	c := client{t: t, base: m.URL(), key: m.DevKey}

	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	err := chromedp.Do(ctx,
		chromedp.Navigate(m.URL()+"/"),
		chromedp.WaitVisible(id("phone")),
		chromedp.SetValue(id("country"), "GB"),
		chromedp.SendKeys(id("phone"), "07400 123456"),
		chromedp.Submit(id("start")),
		chromedp.WaitVisible(id("code")),
	)
	if err != nil {
		t.Fatalf("start in the browser: %v", err)
	}
	to, err := chromedp.Run(ctx, chromedp.Text(id("to")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(to, "3456") || strings.Contains(to, "7400") {
		t.Errorf("the code page shows %q, want the masked number", to)
	}
	code := c.devCode("+447400123456")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(id("code"), wrongCode(code)),
		chromedp.Submit(id("check")),
		chromedp.WaitVisible(id("error")),
	)
	if err != nil {
		t.Fatalf("wrong code in the browser: %v", err)
	}
	errText, err := chromedp.Run(ctx, chromedp.Text(id("error")))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(id("code"), code),
		chromedp.Submit(id("check")),
		chromedp.WaitVisible(id("result")),
	)
	if err != nil {
		t.Fatalf("right code in the browser: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.AttributeValue(id("result"), "data-status"))
	if err != nil {
		t.Fatal(err)
	}
	result, err := chromedp.Run(ctx, chromedp.Text(id("result")))
	if err != nil {
		t.Fatal(err)
	}
	if errText == "" {
		t.Error("a wrong code showed no error")
	}
	if status.Value != "approved" {
		t.Errorf("result %q (%s), want approved", status.Value, result)
	}
	if strings.Contains(result, "123456") {
		t.Errorf("the result page shows the number: %q", result)
	}
}
