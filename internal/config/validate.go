package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A FieldError is one problem with one setting, named by its YAML path.
type FieldError struct {
	Path    string // e.g. "verify.code_length"
	Problem string // e.g. "must be between 4 and 10 (got 12)"
}

// Error returns "path: problem".
func (e *FieldError) Error() string { return e.Path + ": " + e.Problem }

// Validate checks every setting and returns nil or one error, titled
// "invalid configuration", that lists every problem found, one *FieldError
// per line. The error has an Unwrap() []error method, so errors.As finds the
// first *FieldError and the method gives them all. No problem shows the value
// of a token, secret, key or URL.
func (c Config) Validate() error {
	var v validator

	if c.DataDir == "" {
		v.add("data_dir", "required")
	}
	if k := c.BootstrapAPIKey; k != "" {
		switch {
		case len(k) < 16:
			v.add("bootstrap_api_key", "must be at least 16 characters when set")
		case strings.IndexFunc(k, unicode.IsSpace) >= 0:
			v.add("bootstrap_api_key", "must not contain spaces")
		}
	}

	v.hostPort("http.addr", c.HTTP.Addr)
	between(&v, "http.max_body_bytes", c.HTTP.MaxBodyBytes, 1024, 1<<20)
	v.duration("http.shutdown_timeout", c.HTTP.ShutdownTimeout, time.Second, 10*time.Minute)
	if c.HTTP.PublicURL != "" {
		if v.httpURL("http.public_url", c.HTTP.PublicURL) {
			if u, _ := url.Parse(c.HTTP.PublicURL); u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				v.add("http.public_url", "must be a base URL without user, query or fragment, e.g. https://verify.example.com")
			}
		}
	}

	c.validateSIP(&v)

	v.dbURL("db.url", c.DB.URL)
	between(&v, "db.max_batch", c.DB.MaxBatch, 1, 10000)

	c.validateVerify(&v)
	c.validateIdentity(&v)
	c.validateFraud(&v)
	v.duration("audit.checkpoint_every", c.Audit.CheckpointEvery, time.Second, 24*time.Hour)
	if o := c.Audit.Origin; o != "" && (len(o) > 200 || strings.ContainsAny(o, " +\t\n")) {
		v.add("audit.origin", "must be a name without spaces or plus signs, like verify.example.com/audit")
	}
	c.validateSMS(&v)

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		v.add("log.level", "must be one of debug, info, warn, error (got %q)", c.Log.Level)
	}
	if !slices.Contains([]string{"json", "text"}, c.Log.Format) {
		v.add("log.format", "must be json or text (got %q)", c.Log.Format)
	}

	if len(v.errs) == 0 {
		return nil
	}
	return &errorList{header: "invalid configuration", errs: v.errs}
}

func (c Config) validateVerify(v *validator) {
	p := c.Verify
	between(v, "verify.code_length", p.CodeLength, 4, 10)
	v.duration("verify.lifetime", p.Lifetime, time.Minute, 10*time.Minute)
	between(v, "verify.max_checks", p.MaxChecks, 1, 10)
	between(v, "verify.max_sends", p.MaxSends, 1, 10)
	v.duration("verify.resend_cooldown", p.ResendCooldown, 0, 10*time.Minute)
	between(v, "verify.sends_per_hour", p.SendsPerHour, 1, 10000)
	if p.SendsPerDay < p.SendsPerHour {
		v.add("verify.sends_per_day", "must be at least verify.sends_per_hour, %d (got %d)", p.SendsPerHour, p.SendsPerDay)
	} else {
		between(v, "verify.sends_per_day", p.SendsPerDay, 1, 100000)
	}
	between(v, "verify.ip_sends_per_hour", p.IPSendsPerHour, 0, 1000000)

	var bad, twice []string
	for i, cc := range p.Countries {
		switch {
		case !isCountryCode(cc):
			bad = append(bad, strconv.Quote(cc))
		case slices.Contains(p.Countries[:i], cc) && !slices.Contains(twice, cc):
			twice = append(twice, cc)
		}
	}
	if len(bad) > 0 {
		v.add("verify.countries", "each must be an ISO 3166-1 alpha-2 code in upper case, like US or GB (got %s)", strings.Join(bad, ", "))
	}
	if len(twice) > 0 {
		v.add("verify.countries", "lists %s more than once", strings.Join(twice, ", "))
	}
	if d := p.DefaultCountry; d != "" {
		switch {
		case !isCountryCode(d):
			v.add("verify.default_country", "must be an ISO 3166-1 alpha-2 code in upper case, like US or GB (got %q)", d)
		case len(p.Countries) > 0 && !slices.Contains(p.Countries, d):
			v.add("verify.default_country", "must be one of verify.countries (got %q)", d)
		}
	}

	switch n := len([]rune(p.AppName)); {
	case n == 0:
		v.add("verify.app_name", "required")
	case n > 32:
		v.add("verify.app_name", "must be at most 32 characters (got %d)", n)
	case strings.IndexFunc(p.AppName, unicode.IsControl) >= 0:
		v.add("verify.app_name", "must not contain control characters")
	}
	if d := p.WebOTPDomain; d != "" && !isHostName(d) {
		v.add("verify.webotp_domain", "must be a bare host name like verify.example.com, without scheme, port or path (got %q)", d)
	}
	v.duration("verify.idempotency_ttl", p.IdempotencyTTL, time.Minute, 7*24*time.Hour)
	if n := p.InboundNumber; n != "" {
		if !isE164(n) {
			v.add("verify.inbound_number", "must be an E.164 number like +14155550100")
		} else if c.SMS.Twilio.AuthToken == "" {
			v.add("verify.inbound_number", "needs sms.twilio.auth_token, which signs the inbound-message webhook")
		}
	}
}

// isE164 reports whether s looks like +<8 to 15 digits>.
func isE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (c Config) validateFraud(v *validator) {
	f := c.Fraud
	between(v, "fraud.price_cents", f.PriceCents, 0, 100000)
	for _, p := range f.Prices {
		cc, cents, ok := strings.Cut(p, "=")
		n, err := strconv.Atoi(cents)
		if !ok || len(cc) != 2 || strings.ToUpper(cc) != cc || err != nil || n < 0 || n > 100000 {
			v.add("fraud.prices", "each entry must be CC=cents, like GB=4 (got %q)", p)
		}
	}
	between(v, "fraud.country_daily_cap", f.CountryDailyCap, 0, 1<<40)
	between(v, "fraud.total_daily_cap", f.TotalDailyCap, 0, 1<<40)
	between(v, "fraud.country_per_hour", f.CountryPerHour, 1, 100_000_000)
	between(v, "fraud.prefix_per_10min", f.PrefixPer10Min, 1, 100_000_000)
	between(v, "fraud.ip_per_hour", f.IPPerHour, 1, 100_000_000)
	between(v, "fraud.challenge_bits", f.ChallengeBits, 8, 28)
}

func (c Config) validateIdentity(v *validator) {
	p := c.Identity
	v.duration("identity.dormancy", p.Dormancy, 45*24*time.Hour, 5*365*24*time.Hour)
	v.duration("identity.cooling_off", p.CoolingOff, 0, 90*24*time.Hour)
	v.duration("identity.token_ttl", p.TokenTTL, time.Minute, 24*time.Hour)
	if len(p.Issuer) > 200 {
		v.add("identity.issuer", "must be at most 200 characters")
	}
}

func (c Config) validateSMS(v *validator) {
	s := c.SMS
	switch s.Provider {
	case ProviderDev:
	case ProviderTwilio:
		const why = "required when sms.provider is twilio"
		t := s.Twilio
		switch {
		case t.AccountSID == "":
			v.add("sms.twilio.account_sid", why)
		case !strings.HasPrefix(t.AccountSID, "AC"):
			v.add("sms.twilio.account_sid", "must start with AC")
		}
		if t.AuthToken == "" {
			v.add("sms.twilio.auth_token", why)
		}
		if t.From == "" && t.MessagingServiceSID == "" {
			v.add("sms.twilio.from", "required when sms.provider is twilio, unless sms.twilio.messaging_service_sid is set")
		}
		if t.MessagingServiceSID != "" && !strings.HasPrefix(t.MessagingServiceSID, "MG") {
			v.add("sms.twilio.messaging_service_sid", "must start with MG")
		}
		if t.BaseURL != "" {
			v.httpURL("sms.twilio.base_url", t.BaseURL)
		}
	case ProviderWebhook:
		const why = "required when sms.provider is webhook"
		w := s.Webhook
		if w.URL == "" {
			v.add("sms.webhook.url", why)
		} else {
			v.httpURL("sms.webhook.url", w.URL)
		}
		switch {
		case w.Secret == "":
			v.add("sms.webhook.secret", why)
		case !strings.HasPrefix(w.Secret, "whsec_") || len(w.Secret) == len("whsec_"):
			v.add("sms.webhook.secret", "must be whsec_ followed by the secret")
		}
	default:
		v.add("sms.provider", "must be one of %s, %s, %s (got %q)", ProviderDev, ProviderTwilio, ProviderWebhook, s.Provider)
	}
	v.duration("sms.send_timeout", s.SendTimeout, time.Second, 2*time.Minute)
	between(v, "sms.workers", s.Workers, 1, 64)
}

// A validator collects *FieldError values.
type validator struct{ errs []error }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
}

// between checks lo <= n <= hi.
func between[T ~int | ~int64](v *validator, path string, n, lo, hi T) {
	if n < lo || n > hi {
		v.add(path, "must be between %d and %d (got %d)", lo, hi, n)
	}
}

// duration checks lo <= d <= hi.
func (v *validator) duration(path string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add(path, "must be between %s and %s (got %s)", shortDuration(lo), shortDuration(hi), shortDuration(d))
	}
}

// shortDuration formats d as written in a config: 10m rather than 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// hostPort checks that s is host:port with a numeric port; the host may be empty.
func (v *validator) hostPort(path, s string) {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		v.add(path, "must be host:port, e.g. 127.0.0.1:8080 (got %q)", s)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(path, "port must be a number from 0 to 65535 (got %q)", port)
	}
}

// httpURL checks that s is an absolute http or https URL and reports whether it is.
// It never shows s, which may carry credentials.
func (v *validator) httpURL(path, s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(path, "must be an absolute http:// or https:// URL")
		return false
	}
	return true
}

// dbURL checks db.url without showing it, as it may hold a password.
func (v *validator) dbURL(path, s string) {
	lower := strings.ToLower(s)
	switch {
	case s == "":
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			v.add(path, "is not a valid postgres:// URL (percent-encode special characters in the password)")
		}
	case strings.HasPrefix(lower, sqliteScheme):
		if len(s) == len(sqliteScheme) {
			v.add(path, "sqlite:// needs a file path, e.g. sqlite:///var/lib/ringfence/ringfence.db")
		}
	case strings.Contains(s, "://"):
		scheme, _, _ := strings.Cut(s, "://")
		v.add(path, "must be postgres://..., postgresql://..., sqlite:///path or a file path (scheme %q is not supported)", scheme)
	}
}

func isCountryCode(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// isHostName reports whether s is a DNS host name such as verify.example.com.
func isHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range []byte(label) {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}
