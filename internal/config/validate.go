package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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
	switch p.Tombstone {
	case "refuse", "flag", "off":
	default:
		v.add("identity.tombstone", `must be "refuse", "flag" or "off"`)
	}
	v.duration("identity.tombstone_retention", p.TombstoneRetention, 24*time.Hour, 10*365*24*time.Hour)
	if len(p.Issuer) > 200 {
		v.add("identity.issuer", "must be at most 200 characters")
	}
}

func (c Config) validateSMS(v *validator) {
	s := c.SMS
	used := map[string]string{} // provider -> the setting that uses it
	switch {
	case len(s.Chain) > 0 && c.VerifyProvider():
		v.add("sms.chain", "must be empty when sms.provider is %s: it sends and checks its own codes", s.Provider)
	case len(s.Chain) > 0:
		for i, step := range s.Chain {
			path := fmt.Sprintf("sms.chain[%d]", i)
			ch, p, ok := strings.Cut(step, ":")
			ch, p = strings.TrimSpace(ch), strings.TrimSpace(p)
			switch {
			case !ok || Channels(p) == nil:
				v.add(path, "must be channel:provider with provider one of %s (got %q)", strings.Join(providers, ", "), step)
			case !slices.Contains(Channels(p), ch):
				v.add(path, "%s cannot carry %q; it carries %s", p, ch, strings.Join(Channels(p), ", "))
			default:
				if _, seen := used[p]; !seen {
					used[p] = "sms.chain"
				}
			}
		}
	case s.Provider == ProviderTwilioVoice:
		v.add("sms.provider", "twiliovoice carries calls only: put it in sms.chain (e.g. call:twiliovoice)")
	case c.VerifyProvider():
		validateVerifyProvider(v, c)
	case Channels(s.Provider) == nil:
		v.add("sms.provider", "must be one of %s (got %q)", strings.Join(providers[:len(providers)-1], ", "), s.Provider)
	default:
		used[s.Provider] = "sms.provider"
	}
	for i, r := range s.Routes {
		if c.VerifyProvider() {
			break // refused as a whole above
		}
		path := fmt.Sprintf("sms.routes[%d]", i)
		p, ccs, ok := strings.Cut(r, "=")
		p = strings.TrimSpace(p)
		if !ok || Channels(p) == nil {
			v.add(path, "must be provider=CC,CC with a known provider (got %q)", r)
			continue
		}
		if _, in := used[p]; !in {
			v.add(path, "names %s, which is not in sms.chain or sms.provider", p)
		}
		for _, cc := range strings.Split(ccs, ",") {
			if !isCountryCode(strings.ToUpper(strings.TrimSpace(cc))) {
				v.add(path, "%q is not an ISO 3166-1 alpha-2 country code", strings.TrimSpace(cc))
			}
		}
	}
	for _, p := range providers {
		by, in := used[p]
		if !in {
			continue
		}
		why := "required when sms.provider is " + p
		if by == "sms.chain" {
			why = "required when sms.chain uses " + p
		}
		switch p {
		case ProviderTwilio:
			c.validateTwilio(v, why)
		case ProviderTwilioVoice:
			c.validateTwilioAccount(v, why)
			if !isE164(s.Twilio.VoiceFrom) {
				v.add("sms.twilio.voice_from", "%s: an E.164 number such as +14155550100", why)
			}
		case ProviderWebhook:
			validateWebhook(v, s.Webhook, why)
		case ProviderVonage:
			validateVonage(v, s.Vonage, why)
		case ProviderTelnyx:
			validateTelnyx(v, s.Telnyx, why)
		case ProviderSMPP:
			validateSMPP(v, s.SMPP, why)
		}
	}
	v.duration("sms.receipt_timeout", s.ReceiptTimeout, 10*time.Second, time.Hour)
	v.duration("sms.send_timeout", s.SendTimeout, time.Second, 2*time.Minute)
	between(v, "sms.workers", s.Workers, 1, 64)
}

// validateVerifyProvider checks the settings of a provider that checks its own codes.
func validateVerifyProvider(v *validator, c Config) {
	s := c.SMS
	why := "required when sms.provider is " + s.Provider
	if len(s.Routes) > 0 {
		v.add("sms.routes", "must be empty when sms.provider is %s (it has no chain)", s.Provider)
	}
	if s.Provider == ProviderVonageVerify {
		if s.Vonage.APIKey == "" {
			v.add("sms.vonage.api_key", "%s", why)
		}
		if s.Vonage.APISecret == "" {
			v.add("sms.vonage.api_secret", "%s", why)
		}
		if n := utf8.RuneCountInString(s.Vonage.VerifyBrand); n == 0 || n > 16 {
			v.add("sms.vonage.verify_brand", "%s: 1 to 16 characters", why)
		}
		if s.Vonage.BaseURL != "" {
			v.httpURL("sms.vonage.base_url", s.Vonage.BaseURL)
		}
		return
	}
	c.validateTwilioAccount(v, why)
	if sid := s.Twilio.VerifyServiceSID; !strings.HasPrefix(sid, "VA") || len(sid) != 34 {
		v.add("sms.twilio.verify_service_sid", "%s: the Verify service SID (VA and 32 characters)", why)
	}
	if s.Twilio.VerifyBaseURL != "" {
		v.httpURL("sms.twilio.verify_base_url", s.Twilio.VerifyBaseURL)
	}
}

// providers are the names sms.chain accepts; all but the last, sms.provider.
var providers = []string{ProviderDev, ProviderTwilio, ProviderWebhook, ProviderVonage, ProviderTelnyx, ProviderSMPP, ProviderTwilioVoice}

func (c Config) validateTwilioAccount(v *validator, why string) {
	t := c.SMS.Twilio
	switch {
	case t.AccountSID == "":
		v.add("sms.twilio.account_sid", "%s", why)
	case !strings.HasPrefix(t.AccountSID, "AC"):
		v.add("sms.twilio.account_sid", "must start with AC")
	}
	if t.AuthToken == "" {
		v.add("sms.twilio.auth_token", "%s", why)
	}
	if t.BaseURL != "" {
		v.httpURL("sms.twilio.base_url", t.BaseURL)
	}
}

func (c Config) validateTwilio(v *validator, why string) {
	c.validateTwilioAccount(v, why)
	t := c.SMS.Twilio
	if t.From == "" && t.MessagingServiceSID == "" {
		v.add("sms.twilio.from", "%s, unless sms.twilio.messaging_service_sid is set", why)
	}
	if t.MessagingServiceSID != "" && !strings.HasPrefix(t.MessagingServiceSID, "MG") {
		v.add("sms.twilio.messaging_service_sid", "must start with MG")
	}
}

func validateWebhook(v *validator, w Webhook, why string) {
	if w.URL == "" {
		v.add("sms.webhook.url", "%s", why)
	} else {
		v.httpURL("sms.webhook.url", w.URL)
	}
	switch {
	case w.Secret == "":
		v.add("sms.webhook.secret", "%s", why)
	case !strings.HasPrefix(w.Secret, "whsec_") || len(w.Secret) == len("whsec_"):
		v.add("sms.webhook.secret", "must be whsec_ followed by the secret")
	}
}

func validateVonage(v *validator, vo Vonage, why string) {
	if vo.APIKey == "" {
		v.add("sms.vonage.api_key", "%s", why)
	}
	if vo.APISecret == "" {
		v.add("sms.vonage.api_secret", "%s", why)
	}
	if vo.From == "" {
		v.add("sms.vonage.from", "%s", why)
	}
	if vo.WhatsAppFrom != "" && !isE164(vo.WhatsAppFrom) {
		v.add("sms.vonage.whatsapp_from", "must be an E.164 number")
	}
	if vo.BaseURL != "" {
		v.httpURL("sms.vonage.base_url", vo.BaseURL)
	}
}

func validateTelnyx(v *validator, t Telnyx, why string) {
	if t.APIKey == "" {
		v.add("sms.telnyx.api_key", "%s", why)
	}
	if t.From == "" && t.MessagingProfileID == "" {
		v.add("sms.telnyx.from", "%s, unless sms.telnyx.messaging_profile_id is set", why)
	}
	if t.PublicKey != "" {
		if b, err := base64.StdEncoding.DecodeString(t.PublicKey); err != nil || len(b) != 32 {
			v.add("sms.telnyx.public_key", "must be the base64 of a 32-byte Ed25519 public key")
		}
	}
	if t.BaseURL != "" {
		v.httpURL("sms.telnyx.base_url", t.BaseURL)
	}
}

func validateSMPP(v *validator, s SMPP, why string) {
	if s.Addr == "" {
		v.add("sms.smpp.addr", "%s", why)
	} else {
		v.hostPort("sms.smpp.addr", s.Addr)
	}
	switch {
	case s.SystemID == "":
		v.add("sms.smpp.system_id", "%s", why)
	case len(s.SystemID) > 15:
		v.add("sms.smpp.system_id", "must be at most 15 characters")
	}
	if len(s.Password) > 8 {
		v.add("sms.smpp.password", "must be at most 8 characters")
	}
	if len(s.SystemType) > 12 {
		v.add("sms.smpp.system_type", "must be at most 12 characters")
	}
	switch {
	case s.SourceAddr == "":
		v.add("sms.smpp.source_addr", "%s", why)
	case len(s.SourceAddr) > 20:
		v.add("sms.smpp.source_addr", "must be at most 20 characters")
	}
	between(v, "sms.smpp.source_ton", s.SourceTON, 0, 6)
	between(v, "sms.smpp.source_npi", s.SourceNPI, 0, 18)
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
