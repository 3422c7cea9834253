package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/config"
)

// The browser tests drive Debian's chromium, headless, through the whole
// binary on 127.0.0.1: the demo sign-up, the privacy centre and a staff
// approval by two approvers. They are skipped where chromium is missing;
// CI installs it. With RINGFENCE_SCREENSHOTS set to a folder, each page
// is saved there as a PNG (doc/screenshots holds the README's).

// browserCtx starts a headless chromium the size of a phone.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(412, 915))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// shot saves the page as name.png when RINGFENCE_SCREENSHOTS names a folder.
func shot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		dir := os.Getenv("RINGFENCE_SCREENSHOTS")
		if dir == "" {
			return nil
		}
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	})
}

// browse runs the steps in the tab, failing the test at the first error.
func browse(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// textOf returns the text of the element sel finds.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// TestBrowserSignupAndPrivacyCentre: a person signs up on the demo page,
// signs in to the privacy centre with the same number, allows and then
// withdraws a consent, and reads everything held about them.
func TestBrowserSignupAndPrivacyCentre(t *testing.T) {
	ctx := browserCtx(t)
	// No cooldown between codes to one number: the person signs up, then
	// signs in to the privacy centre at once.
	m, stop := startMainWith(t, t.TempDir(), &syncBuffer{}, func(c *config.Config) { c.Verify.ResendCooldown = 0 })
	defer stop()
	c := client{t: t, base: m.URL(), key: m.DevKey}
	const number = "+14155550123"

	var text string
	browse(t, ctx, chromedp.Navigate(m.URL()+"/"), chromedp.WaitVisible(chromedp.CSS("#phone")), shot("demo"),
		chromedp.SendKeys(chromedp.CSS("#phone"), number), chromedp.Submit(chromedp.CSS("#start")),
		chromedp.WaitVisible(chromedp.CSS("#code")))
	browse(t, ctx, chromedp.SendKeys(chromedp.CSS("#code"), c.devCode(number)), chromedp.Submit(chromedp.CSS("#check")),
		chromedp.WaitVisible(chromedp.CSS("#result")))
	text = textOf(t, ctx, "#result")
	if !strings.Contains(text, "is verified") {
		t.Fatalf("demo sign-up: %q", text)
	}

	browse(t, ctx, chromedp.Navigate(m.URL()+"/privacy"), chromedp.WaitVisible(chromedp.CSS("#phone")), shot("privacy-sign-in"),
		chromedp.SendKeys(chromedp.CSS("#phone"), number), chromedp.Submit(chromedp.CSS("#start")),
		chromedp.WaitVisible(chromedp.CSS("#code")))
	browse(t, ctx, chromedp.SendKeys(chromedp.CSS("#code"), nthCode(c, number, 2)), chromedp.Submit(chromedp.CSS("#check")),
		chromedp.WaitVisible(chromedp.CSS("#consents")), shot("privacy-centre"))
	allow := `button[aria-label="Allow assistant_calls by call"]`
	withdraw := `button[aria-label="Withdraw assistant_calls by call"]`
	browse(t, ctx, chromedp.Click(chromedp.CSS(allow)), chromedp.WaitVisible(chromedp.CSS(withdraw)),
		chromedp.Click(chromedp.CSS(withdraw)), chromedp.WaitVisible(chromedp.CSS(allow)))
	browse(t, ctx, chromedp.Click(chromedp.CSS("#data")), chromedp.WaitVisible(chromedp.CSS("#log")), shot("privacy-data"))
	text = textOf(t, ctx, "#log")
	for _, want := range []string{"consent.granted", "consent.withdrawn", "number.accessed (user_export)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the data page's log lacks %q", want)
		}
	}
	browse(t, ctx, chromedp.Navigate(m.URL()+"/transparency"), chromedp.WaitVisible(chromedp.CSS("#chart")), shot("transparency"))
}

// waitText waits until the element sel finds holds want, while the page
// may still be loading.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	text := ""
	for time.Now().Before(deadline) {
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err == nil && strings.Contains(got, want) {
			return
		}
		text = got
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s holds %q, want %q", sel, text, want)
}

// nthCode waits for the nth message to a number in the dev inbox and
// returns its code (devCode reads the newest message already there).
func nthCode(c client, number string, n int) string {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, out := c.do("GET", "/v1/dev/messages?to="+strings.ReplaceAll(number, "+", "%2B"), nil)
		if ms, _ := out["messages"].([]any); len(ms) >= n {
			return c.devCode(number)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("the dev inbox never held %d messages", n)
	return ""
}

// authenticator plays the staff member's authenticator app (RFC 6238).
func authenticator(t *testing.T, secret string) string {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha1.New, key)
	binary.Write(mac, binary.BigEndian, uint64(time.Now().Unix()/30))
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7fffffff)%1_000_000)
}

// TestBrowserStaffApproval: two approvers approve a reveal on the staff
// console; a viewer sees the queue but is refused the approval page.
func TestBrowserStaffApproval(t *testing.T) {
	ctx := browserCtx(t)
	m, stop := startMain(t, t.TempDir(), &syncBuffer{})
	defer stop()
	c := client{t: t, base: m.URL(), key: m.DevKey}
	_, out := c.do("POST", "/v1/verifications", map[string]any{"phone": "+14155550123"})
	_, out = c.do("POST", "/v1/verifications/"+out["id"].(string)+"/check", map[string]any{"code": c.devCode("+14155550123")})
	sub := out["subject_id"].(string)

	const password = "correct horse battery staple"
	staff := map[string]string{}
	for email, role := range map[string]access.Role{"req@example.com": access.RoleReviewer, "a1@example.com": access.RoleApprover,
		"a2@example.com": access.RoleApprover, "viewer@example.com": access.RoleViewer} {
		_, enr, err := m.Access.CreateStaff(t.Context(), "test", email, role, password)
		if err != nil {
			t.Fatal(err)
		}
		staff[email] = enr.Secret
	}
	_, login := c.do("POST", "/v1/staff/login", map[string]any{"email": "req@example.com", "password": password, "totp": authenticator(t, staff["req@example.com"])})
	rc := client{t: t, base: m.URL(), key: login["token"].(string)}
	st, rev := rc.do("POST", "/v1/reveals", map[string]any{"subject_id": sub, "purpose": "tos_review",
		"justification": "abuse report names this account", "ticket": "TS-1001"})
	if st != 201 {
		t.Fatalf("reveal request: %d %v", st, rev)
	}
	id := rev["id"].(string)

	signIn := func(email string) {
		t.Helper()
		browse(t, ctx, chromedp.Navigate(m.URL()+"/staff"), chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password),
			chromedp.SendKeys(chromedp.CSS("#totp"), authenticator(t, staff[email])), chromedp.Submit(chromedp.CSS("#login")),
			chromedp.WaitReady(chromedp.CSS("body")))
	}
	signOut := func() {
		t.Helper()
		browse(t, ctx, chromedp.Submit(chromedp.CSS(`form[action="/staff/logout"]`)), chromedp.WaitVisible(chromedp.CSS("#login")))
	}

	signIn("viewer@example.com")
	browse(t, ctx, chromedp.WaitVisible(chromedp.CSS("#queue")))
	text := textOf(t, ctx, "#queue")
	if !strings.Contains(text, id) {
		t.Fatalf("the viewer's queue: %q", text)
	}
	browse(t, ctx, chromedp.Navigate(m.URL()+"/staff/reveals/"+id), chromedp.WaitVisible(chromedp.CSS("#error")))
	text = textOf(t, ctx, "#error")
	if !strings.Contains(text, "role may not") {
		t.Errorf("the viewer on the approval page: %q", text)
	}
	signOut()

	for i, email := range []string{"a1@example.com", "a2@example.com"} {
		signIn(email)
		browse(t, ctx, chromedp.WaitVisible(chromedp.CSS("#queue")), shot("staff-queue"),
			chromedp.Click(chromedp.CSS(`a[href="/staff/reveals/`+id+`"]`)), chromedp.WaitVisible(chromedp.CSS("#approve")),
			shot("staff-approval"), chromedp.Click(chromedp.CSS("#approve")))
		// The page before the click has a #state too: wait for the new one.
		waitText(t, ctx, "#state", fmt.Sprintf("%d of 2 approvals", i+1))
		signOut()
	}
	if st, r := rc.do("GET", "/v1/reveals/"+id, nil); st != 200 || r["status"] != "approved" {
		t.Errorf("after two approvals: %d %v", st, r)
	}
}
