package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ringfence/ringfence/internal/config"
)

// TestDemoSolvesChallengeInBrowser signs up twice from one IP with a guard
// that asks for a proof of work from the second send on: the demo page
// shows that it is checking, solves the challenge in the browser with the
// embedded solver, sends the form again with the solution and reaches the
// code page; the code goes out once. A made-up solution posted by hand is
// refused with a new challenge and sends nothing.
func TestDemoSolvesChallengeInBrowser(t *testing.T) {
	ctx := browserCtx(t)
	m, stop := startMainWith(t, t.TempDir(), &syncBuffer{}, func(c *config.Config) {
		c.Fraud.IPPerHour = 3 // soft limit 1: every send after the first needs a proof of work
		c.Fraud.ChallengeBits = 14
	})
	defer stop()
	c := client{t: t, base: m.URL(), key: m.DevKey}
	id := func(s string) chromedp.ID { return chromedp.ID(s) }

	signUp := func(national string) error {
		return chromedp.Do(ctx,
			chromedp.Navigate(m.URL()+"/"),
			chromedp.WaitVisible(id("phone")),
			chromedp.SetValue(id("country"), "GB"),
			chromedp.SendKeys(id("phone"), national),
			chromedp.Submit(id("start")),
			chromedp.WaitVisible(id("code")),
		)
	}
	if err := signUp("07400 123456"); err != nil {
		t.Fatalf("first sign-up: %v", err)
	}
	c.devCode("+447400123456")

	// A solution that solves nothing: refused, with a fresh challenge, and
	// nothing is sent.
	before := len(m.DevInbox.All())
	resp, err := http.PostForm(m.URL()+"/demo/start", url.Values{
		"country": {"GB"}, "phone": {"07400 123458"}, "pow": {"forged-token:12345"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var page strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		page.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page.String(), `id="challenge"`) || !strings.Contains(page.String(), "data-pow-token=") {
		t.Errorf("a forged solution: status %d, want 403 with a new challenge", resp.StatusCode)
	}
	if len(m.DevInbox.All()) != before {
		t.Error("a forged solution sent a code")
	}

	// The browser meets the challenge, solves it and goes on by itself.
	challenges := m.Guard.Stats().Challenges
	if err := signUp("07400 123457"); err != nil {
		t.Fatalf("sign-up that needs a proof of work: %v", err)
	}
	if got := m.Guard.Stats().Challenges; got <= challenges {
		t.Fatalf("the guard issued no challenge (%d before, %d after): the test proves nothing", challenges, got)
	}
	if code := c.devCode("+447400123457"); code == "" {
		t.Fatal("no code after the solved challenge")
	}
	n := 0
	for _, msg := range m.DevInbox.All() {
		if msg.To == "+447400123457" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d codes sent to the second number, want 1", n)
	}
}
