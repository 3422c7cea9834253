package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to a temporary YAML file and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ringfence.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fieldPaths returns the paths of the *FieldError values in err.
func fieldPaths(t *testing.T, err error) []string {
	t.Helper()
	list, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T has no Unwrap() []error: %v", err, err)
	}
	var paths []string
	for _, e := range list.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("listed error %T is not a *FieldError: %v", e, e)
		}
		paths = append(paths, fe.Path)
	}
	return paths
}

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDefaultValues(t *testing.T) {
	c := Default()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, "./ringfence-data"},
		{"http.addr", c.HTTP.Addr, "127.0.0.1:8080"},
		{"http.max_body_bytes", c.HTTP.MaxBodyBytes, int64(16384)},
		{"http.shutdown_timeout", c.HTTP.ShutdownTimeout, 15 * time.Second},
		{"sip.addr", c.SIP.Addr, "127.0.0.1:5060"},
		{"db.url", c.DB.URL, ""},
		{"db.max_batch", c.DB.MaxBatch, 256},
		{"verify.code_length", c.Verify.CodeLength, 6},
		{"verify.lifetime", c.Verify.Lifetime, 5 * time.Minute},
		{"verify.resend_cooldown", c.Verify.ResendCooldown, time.Minute},
		{"verify.sends_per_day", c.Verify.SendsPerDay, 50},
		{"verify.ip_sends_per_hour", c.Verify.IPSendsPerHour, 60},
		{"verify.app_name", c.Verify.AppName, "ringfence"},
		{"verify.idempotency_ttl", c.Verify.IdempotencyTTL, 24 * time.Hour},
		{"sms.provider", c.SMS.Provider, "dev"},
		{"sms.workers", c.SMS.Workers, 4},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "json"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if c.Demo.Enabled != nil {
		t.Errorf("demo.enabled = %v, want nil", *c.Demo.Enabled)
	}
}

func TestDerived(t *testing.T) {
	on, off := true, false
	c := Default()
	if !c.DemoEnabled() {
		t.Error("DemoEnabled() = false with provider dev and demo.enabled unset")
	}
	c.SMS.Provider = ProviderTwilio
	if c.DemoEnabled() {
		t.Error("DemoEnabled() = true with provider twilio and demo.enabled unset")
	}
	c.Demo.Enabled = &on
	if !c.DemoEnabled() {
		t.Error("DemoEnabled() = false with demo.enabled true")
	}
	c.SMS.Provider = ProviderDev
	c.Demo.Enabled = &off
	if c.DemoEnabled() {
		t.Error("DemoEnabled() = true with demo.enabled false")
	}

	c = Default()
	c.DataDir = "/var/lib/rf"
	if got, want := c.KeysDir(), filepath.Join("/var/lib/rf", "keys"); got != want {
		t.Errorf("KeysDir() = %q, want %q", got, want)
	}
	c.Keys.Dir = "/etc/rf/keys"
	if got := c.KeysDir(); got != "/etc/rf/keys" {
		t.Errorf("KeysDir() = %q, want keys.dir", got)
	}

	for _, tc := range []struct {
		url      string
		postgres bool
		sqlite   string
	}{
		{"", false, filepath.Join("/var/lib/rf", "ringfence.db")},
		{"postgres://u:p@db/rf", true, ""},
		{"postgresql://db/rf?sslmode=disable", true, ""},
		{"POSTGRES://db/rf", true, ""},
		{"sqlite:///srv/rf.db", false, "/srv/rf.db"},
		{"sqlite://rf.db", false, "rf.db"},
		{"/srv/other.db", false, "/srv/other.db"},
	} {
		c.DB.URL = tc.url
		if got := c.DBIsPostgres(); got != tc.postgres {
			t.Errorf("DBIsPostgres() with %q = %v, want %v", tc.url, got, tc.postgres)
		}
		if got := c.SQLitePath(); got != tc.sqlite {
			t.Errorf("SQLitePath() with %q = %q, want %q", tc.url, got, tc.sqlite)
		}
	}
}

func TestRedacted(t *testing.T) {
	const (
		key    = "admin-key-0123456789abcdef"
		token  = "twilio-token-abcdef"
		secret = "whsec_webhooksecret"
		dbPass = "db-pass-42"
	)
	on := true
	c := Default()
	c.BootstrapAPIKey = key
	c.SMS.Twilio.AccountSID = "AC123"
	c.SMS.Twilio.AuthToken = token
	c.SMS.Webhook.URL = "https://gw.example.com/send"
	c.SMS.Webhook.Secret = secret
	c.DB.URL = "postgres://rf:" + dbPass + "@db.example.com/rf?sslmode=disable"
	c.Verify.Countries = []string{"US"}
	c.Demo.Enabled = &on
	orig := fmt.Sprintf("%#v", c)

	r := c.Redacted()
	for name, got := range map[string]string{
		"bootstrap_api_key":     r.BootstrapAPIKey,
		"sms.twilio.auth_token": r.SMS.Twilio.AuthToken,
		"sms.webhook.secret":    r.SMS.Webhook.Secret,
	} {
		if got != redactedMark {
			t.Errorf("Redacted().%s = %q, want %q", name, got, redactedMark)
		}
	}
	if want := "postgres://rf:xxxxx@db.example.com/rf?sslmode=disable"; r.DB.URL != want {
		t.Errorf("Redacted().DB.URL = %q, want %q", r.DB.URL, want)
	}
	if r.SMS.Twilio.AccountSID != "AC123" || r.SMS.Webhook.URL != c.SMS.Webhook.URL || r.HTTP.Addr != c.HTTP.Addr {
		t.Error("Redacted changed settings that are not secret")
	}
	if r.SMS.Twilio.From != "" {
		t.Errorf("Redacted filled an unset field: from = %q", r.SMS.Twilio.From)
	}
	if got := fmt.Sprintf("%#v", c); got != orig {
		t.Error("Redacted modified its receiver")
	}
	r.Verify.Countries[0] = "GB"
	*r.Demo.Enabled = false
	if c.Verify.Countries[0] != "US" || !*c.Demo.Enabled {
		t.Error("Redacted copy shares memory with the original")
	}

	// Printing a Config or its provider parts in any way shows no secret.
	printed := []string{
		c.String(), fmt.Sprint(c), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c),
		fmt.Sprint(c.SMS.Twilio), fmt.Sprint(c.SMS.Webhook),
	}
	for _, s := range printed {
		for _, secret := range []string{key, token, secret, dbPass} {
			if strings.Contains(s, secret) {
				t.Errorf("printed config shows secret %q:\n%s", secret, s)
			}
		}
	}
	if !strings.Contains(c.String(), "addr: 127.0.0.1:8080") {
		t.Errorf("String() lacks http.addr:\n%s", c.String())
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://rf:pw@db/rf", "postgres://rf:xxxxx@db/rf"},
		{"postgres://rf@db/rf?password=pw", "postgres://rf@db/rf?password=xxxxx"},
		{"postgres://rf:p%2Fw@db/rf", "postgres://rf:xxxxx@db/rf"},
		{"postgres://rf:pa ss#x@db:bad/rf", "postgres://[redacted]"},
		{"postgres://rf:12#34@db/rf", "postgres://[redacted]"},
		{"postgres://db/rf", "postgres://db/rf"},
		{"/srv/rf.db", "/srv/rf.db"},
	} {
		if got, _ := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFieldsCoverConfig(t *testing.T) {
	// Every leaf has a unique path and environment name.
	seen := map[string]bool{}
	for _, f := range fields() {
		if seen[f.env] {
			t.Errorf("two settings share the environment name %s", f.env)
		}
		seen[f.env] = true
	}
	if !slices.IsSorted(EnvNames()) {
		t.Error("EnvNames() is not sorted")
	}
}
