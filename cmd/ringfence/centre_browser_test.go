package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"golang.org/x/mod/sumdb/note"

	"github.com/ringfence/ringfence/internal/config"
	"github.com/ringfence/ringfence/internal/privacy"
)

// getPublic reads a public JSON document of the API into out.
func getPublic(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// download clicks the link sel and returns the file the browser saved.
func download(t *testing.T, ctx context.Context, sel string) []byte {
	t.Helper()
	dir := t.TempDir()
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	yes := true
	browse(t, ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &yes})
		return err
	}), chromedp.Click(chromedp.CSS(sel)))
	for ev, err := range progress {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCanceled:
			t.Fatalf("the download of %s was canceled", sel)
		case browser.DownloadProgressStateCompleted:
			b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("the download of %s never completed", sel)
	return nil
}

// TestBrowserPrivacyCentreErasure: a person signs in to the privacy centre
// with a code from the dev inbox, withdraws a consent, downloads the export
// and checks it offline against the published receipt keys and audit
// checkpoints (signature, checkpoint, each entry's inclusion proof), then
// erases the account: a wrong confirmation is refused and erases nothing,
// the right one erases it, and the centre answers 410 Gone. Afterwards no
// file of the data folder and no log line holds the number's digits, and
// `ringfence audit verify` passes.
func TestBrowserPrivacyCentreErasure(t *testing.T) {
	ctx := browserCtx(t)
	dir := t.TempDir()
	logs := &syncBuffer{}
	m, stop := startMainWith(t, dir, logs, func(c *config.Config) { c.Verify.ResendCooldown = 0 })
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	c := client{t: t, base: m.URL(), key: m.DevKey}
	const number = "+14155550177"
	sub := signupOK(t, c, number)

	browse(t, ctx, chromedp.Navigate(m.URL()+"/privacy"), chromedp.WaitVisible(chromedp.CSS("#phone")),
		chromedp.SendKeys(chromedp.CSS("#phone"), number), chromedp.Submit(chromedp.CSS("#start")),
		chromedp.WaitVisible(chromedp.CSS("#code")))
	browse(t, ctx, chromedp.SendKeys(chromedp.CSS("#code"), nthCode(c, number, 2)), chromedp.Submit(chromedp.CSS("#check")),
		chromedp.WaitVisible(chromedp.CSS("#consents")))
	allow := `button[aria-label="Allow assistant_sms by sms"]`
	withdraw := `button[aria-label="Withdraw assistant_sms by sms"]`
	browse(t, ctx, chromedp.Click(chromedp.CSS(allow)), chromedp.WaitVisible(chromedp.CSS(withdraw)),
		chromedp.Click(chromedp.CSS(withdraw)), chromedp.WaitVisible(chromedp.CSS(allow)))

	// The export, as the browser saved it, checked offline with what the
	// service publishes.
	data := download(t, ctx, "#export")
	var keys struct {
		Keys []struct {
			KeyID     string `json:"key_id"`
			PublicKey string `json:"public_key"`
		} `json:"keys"`
	}
	getPublic(t, m.URL()+"/v1/transparency/keys", &keys)
	if len(keys.Keys) == 0 {
		t.Fatal("no receipt key is published")
	}
	trusted, err := privacy.TrustedKey(keys.Keys[0].KeyID, keys.Keys[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var cps struct {
		VerifierKey string `json:"verifier_key"`
		Checkpoints []struct {
			Note string `json:"note"`
		} `json:"checkpoints"`
	}
	getPublic(t, m.URL()+"/v1/audit/checkpoints", &cps)
	v, err := note.NewVerifier(cps.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	x, err := privacy.VerifyExport(data, trusted, v)
	if err != nil {
		t.Fatalf("the downloaded export does not verify: %v", err)
	}
	published := false
	for _, cp := range cps.Checkpoints {
		published = published || cp.Note == x.Audit.Checkpoint.Checkpoint
	}
	if !published {
		t.Error("the export's checkpoint is not among the published ones")
	}
	if x.Subject.ID != sub || len(x.Numbers) != 1 || x.Numbers[0].E164 != number || len(x.Consents) != 2 {
		t.Errorf("the export: subject %s, %d numbers, %d consents", x.Subject.ID, len(x.Numbers), len(x.Consents))
	}
	types := map[string]bool{}
	for _, e := range x.Audit.Entries {
		types[e.Type] = true
	}
	for _, want := range []string{"binding.created", "consent.granted", "consent.withdrawn", "number.accessed"} {
		if !types[want] {
			t.Errorf("the export's log lacks %s", want)
		}
	}
	// A byte changed anywhere breaks it.
	bad := bytes.Replace(data, []byte(`"consent.withdrawn"`), []byte(`"consent.granted"`), 1)
	if _, err := privacy.VerifyExport(bad, trusted, v); err == nil {
		t.Error("an altered export verifies")
	}

	// Erasure: a wrong confirmation first, then the right one.
	browse(t, ctx, chromedp.Click(chromedp.CSS("#erase-link")), chromedp.WaitVisible(chromedp.CSS("#erase-form")), shot("privacy-erase"))
	what := textOf(t, ctx, "#what")
	for _, want := range []string{"key is destroyed", "abuse_prevention", "audit log stays", "cannot be undone"} {
		if !strings.Contains(what, want) {
			t.Errorf("the erasure page does not say %q", want)
		}
	}
	browse(t, ctx, chromedp.SendKeys(chromedp.CSS("#word"), "DELETE"), chromedp.SendKeys(chromedp.CSS("#confirm"), "sub_notmine"),
		chromedp.Submit(chromedp.CSS("#erase-form")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if text := textOf(t, ctx, "#error"); !strings.Contains(text, "Nothing was erased") {
		t.Errorf("a wrong confirmation: %q", text)
	}
	if st, _ := c.do("GET", "/v1/subjects/"+sub, nil); st != http.StatusOK {
		t.Fatalf("a wrong confirmation erased the subject: %d", st)
	}
	browse(t, ctx, chromedp.SendKeys(chromedp.CSS("#word"), "DELETE"), chromedp.SendKeys(chromedp.CSS("#confirm"), sub),
		chromedp.Submit(chromedp.CSS("#erase-form")), chromedp.WaitVisible(chromedp.CSS("#erased")), shot("privacy-erased"))
	if st, _ := c.do("GET", "/v1/subjects/"+sub, nil); st != http.StatusNotFound {
		t.Errorf("the erased subject: %d, want 404", st)
	}
	for _, path := range []string{"/privacy/me", "/privacy/data", "/privacy/erase"} {
		resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(m.URL()+path))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusGone {
			t.Errorf("%s after erasure: %d, want 410", path, resp.Status)
		}
		browse(t, ctx, chromedp.WaitVisible(chromedp.CSS("#gone")))
	}

	stop()
	stopped = true
	assertNoDigits(t, dir, logs.String(), strings.TrimPrefix(number, "+1"))
	env := map[string]string{"RINGFENCE_DATA_DIR": dir}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify"}, &out, io.Discard, func(k string) string { return env[k] }); err != nil ||
		!strings.Contains(out.String(), "audit log OK") {
		t.Fatalf("audit verify after erasure: %q %v", out.String(), err)
	}
}
