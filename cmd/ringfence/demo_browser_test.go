package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDemoSignUpInBrowser walks the demo page at / in a real browser: a
// national number with a country picked, the code from the dev inbox, a
// wrong code first, then the right one.
func TestDemoSignUpInBrowser(t *testing.T) {
	ctx := browserCtx(t)
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
