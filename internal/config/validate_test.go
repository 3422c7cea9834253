package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func vonage(c *Config) {
	c.SMS.Provider = "vonage"
	c.SMS.Vonage = Vonage{APIKey: "k", APISecret: "s", From: "+14155550100"}
}

func telnyx(c *Config) {
	c.SMS.Provider = "telnyx"
	c.SMS.Telnyx = Telnyx{APIKey: "KEY1", From: "+14155550100", PublicKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
}

func smpp(c *Config) {
	c.SMS.Provider = "smpp"
	c.SMS.SMPP = SMPP{Addr: "smsc.example.com:2775", SystemID: "ringfence", Password: "pw", SourceAddr: "Ringfence", SourceTON: 5}
}

func twilioVerify(c *Config) {
	c.SMS.Provider = ProviderTwilioVerify
	c.SMS.Twilio = Twilio{AccountSID: "AC1", AuthToken: "tok", VerifyServiceSID: "VA0123456789abcdef0123456789abcdef"}
}

func vonageVerify(c *Config) {
	c.SMS.Provider = ProviderVonageVerify
	c.SMS.Vonage = Vonage{APIKey: "k", APISecret: "s", VerifyBrand: "Acme"}
}

// chain is SMS by Twilio, then Vonage, then a call.
func chain(c *Config) {
	c.SMS.Twilio = Twilio{AccountSID: "AC1", AuthToken: "tok", From: "+15005550006"}
	vonage(c)
	c.SMS.Provider = "dev"
	c.SMS.Twilio.VoiceFrom = "+14155550101"
	c.SMS.Chain = []string{"sms:twilio", "sms:vonage", "call:twiliovoice"}
}

func TestValidateOneProblem(t *testing.T) {
	twilio := func(c *Config) {
		c.SMS.Provider = ProviderTwilio
		c.SMS.Twilio = Twilio{AccountSID: "AC1", AuthToken: "tok", From: "+15005550006"}
	}
	webhook := func(c *Config) {
		c.SMS.Provider = ProviderWebhook
		c.SMS.Webhook = Webhook{URL: "https://gw.example.com/send", Secret: "whsec_abc"}
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		path   string // "" means valid
	}{
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"short bootstrap key", func(c *Config) { c.BootstrapAPIKey = "short" }, "bootstrap_api_key"},
		{"bootstrap key with space", func(c *Config) { c.BootstrapAPIKey = "0123456789 abcdef" }, "bootstrap_api_key"},
		{"good bootstrap key", func(c *Config) { c.BootstrapAPIKey = "0123456789abcdef" }, ""},
		{"addr without port", func(c *Config) { c.HTTP.Addr = "localhost" }, "http.addr"},
		{"addr with named port", func(c *Config) { c.HTTP.Addr = "localhost:http" }, "http.addr"},
		{"addr port too big", func(c *Config) { c.HTTP.Addr = ":70000" }, "http.addr"},
		{"addr any interface", func(c *Config) { c.HTTP.Addr = ":8080" }, ""},
		{"addr ephemeral port", func(c *Config) { c.HTTP.Addr = "127.0.0.1:0" }, ""},
		{"addr ipv6", func(c *Config) { c.SIP.Addr = "[::1]:5060" }, ""},
		{"sip addr empty", func(c *Config) { c.SIP.Addr = "" }, "sip.addr"},
		{"body too small", func(c *Config) { c.HTTP.MaxBodyBytes = 10 }, "http.max_body_bytes"},
		{"shutdown zero", func(c *Config) { c.HTTP.ShutdownTimeout = 0 }, "http.shutdown_timeout"},
		{"public url relative", func(c *Config) { c.HTTP.PublicURL = "verify.example.com" }, "http.public_url"},
		{"public url with query", func(c *Config) { c.HTTP.PublicURL = "https://v.example.com/?a=b" }, "http.public_url"},
		{"public url with path", func(c *Config) { c.HTTP.PublicURL = "https://example.com/verify" }, ""},
		{"db mysql", func(c *Config) { c.DB.URL = "mysql://db/rf" }, "db.url"},
		{"db sqlite without path", func(c *Config) { c.DB.URL = "sqlite://" }, "db.url"},
		{"db sqlite", func(c *Config) { c.DB.URL = "sqlite:///srv/rf.db" }, ""},
		{"db postgresql", func(c *Config) { c.DB.URL = "postgresql://rf:pw@db:5432/rf?sslmode=require" }, ""},
		{"db bad postgres url", func(c *Config) { c.DB.URL = "postgres://rf:p w@db:x/rf" }, "db.url"},
		{"db file path", func(c *Config) { c.DB.URL = "./rf.db" }, ""},
		{"db max batch zero", func(c *Config) { c.DB.MaxBatch = 0 }, "db.max_batch"},
		{"code too short", func(c *Config) { c.Verify.CodeLength = 3 }, "verify.code_length"},
		{"code longest", func(c *Config) { c.Verify.CodeLength = 10 }, ""},
		{"lifetime too long", func(c *Config) { c.Verify.Lifetime = 11 * time.Minute }, "verify.lifetime"},
		{"lifetime too short", func(c *Config) { c.Verify.Lifetime = 30 * time.Second }, "verify.lifetime"},
		{"max checks zero", func(c *Config) { c.Verify.MaxChecks = 0 }, "verify.max_checks"},
		{"max sends eleven", func(c *Config) { c.Verify.MaxSends = 11 }, "verify.max_sends"},
		{"negative cooldown", func(c *Config) { c.Verify.ResendCooldown = -time.Second }, "verify.resend_cooldown"},
		{"no cooldown", func(c *Config) { c.Verify.ResendCooldown = 0 }, ""},
		{"sends per hour zero", func(c *Config) { c.Verify.SendsPerHour = 0 }, "verify.sends_per_hour"},
		{"day below hour", func(c *Config) { c.Verify.SendsPerDay = 9 }, "verify.sends_per_day"},
		{"negative ip limit", func(c *Config) { c.Verify.IPSendsPerHour = -1 }, "verify.ip_sends_per_hour"},
		{"ip limit off", func(c *Config) { c.Verify.IPSendsPerHour = 0 }, ""},
		{"lower-case country", func(c *Config) { c.Verify.Countries = []string{"US", "gb"} }, "verify.countries"},
		{"three-letter country", func(c *Config) { c.Verify.Countries = []string{"USA"} }, "verify.countries"},
		{"repeated country", func(c *Config) { c.Verify.Countries = []string{"US", "US"} }, "verify.countries"},
		{"default country shape", func(c *Config) { c.Verify.DefaultCountry = "us" }, "verify.default_country"},
		{"default country outside list", func(c *Config) {
			c.Verify.Countries = []string{"US"}
			c.Verify.DefaultCountry = "GB"
		}, "verify.default_country"},
		{"empty app name", func(c *Config) { c.Verify.AppName = "" }, "verify.app_name"},
		{"long app name", func(c *Config) { c.Verify.AppName = strings.Repeat("a", 33) }, "verify.app_name"},
		{"app name newline", func(c *Config) { c.Verify.AppName = "a\nb" }, "verify.app_name"},
		{"webotp with scheme", func(c *Config) { c.Verify.WebOTPDomain = "https://example.com" }, "verify.webotp_domain"},
		{"webotp with port", func(c *Config) { c.Verify.WebOTPDomain = "example.com:443" }, "verify.webotp_domain"},
		{"webotp host", func(c *Config) { c.Verify.WebOTPDomain = "verify.example.com" }, ""},
		{"idempotency ttl zero", func(c *Config) { c.Verify.IdempotencyTTL = 0 }, "verify.idempotency_ttl"},
		{"unknown provider", func(c *Config) { c.SMS.Provider = "carrier-pigeon" }, "sms.provider"},
		{"voice as the only provider", func(c *Config) { c.SMS.Provider = "twiliovoice" }, "sms.provider"},
		{"vonage", vonage, ""},
		{"vonage no secret", func(c *Config) { vonage(c); c.SMS.Vonage.APISecret = "" }, "sms.vonage.api_secret"},
		{"vonage no key", func(c *Config) { vonage(c); c.SMS.Vonage.APIKey = "" }, "sms.vonage.api_key"},
		{"vonage no sender", func(c *Config) { vonage(c); c.SMS.Vonage.From = "" }, "sms.vonage.from"},
		{"vonage whatsapp sender", func(c *Config) { vonage(c); c.SMS.Vonage.WhatsAppFrom = "0044" }, "sms.vonage.whatsapp_from"},
		{"vonage base url", func(c *Config) { vonage(c); c.SMS.Vonage.BaseURL = "api.nexmo.com" }, "sms.vonage.base_url"},
		{"telnyx", telnyx, ""},
		{"telnyx no key", func(c *Config) { telnyx(c); c.SMS.Telnyx.APIKey = "" }, "sms.telnyx.api_key"},
		{"telnyx no sender", func(c *Config) { telnyx(c); c.SMS.Telnyx.From = "" }, "sms.telnyx.from"},
		{"telnyx profile only", func(c *Config) { telnyx(c); c.SMS.Telnyx.From = ""; c.SMS.Telnyx.MessagingProfileID = "p1" }, ""},
		{"telnyx public key", func(c *Config) { telnyx(c); c.SMS.Telnyx.PublicKey = "c2hvcnQ=" }, "sms.telnyx.public_key"},
		{"smpp", smpp, ""},
		{"smpp no addr", func(c *Config) { smpp(c); c.SMS.SMPP.Addr = "" }, "sms.smpp.addr"},
		{"smpp addr shape", func(c *Config) { smpp(c); c.SMS.SMPP.Addr = "smsc" }, "sms.smpp.addr"},
		{"smpp long system id", func(c *Config) { smpp(c); c.SMS.SMPP.SystemID = strings.Repeat("s", 16) }, "sms.smpp.system_id"},
		{"smpp long password", func(c *Config) { smpp(c); c.SMS.SMPP.Password = "123456789" }, "sms.smpp.password"},
		{"smpp no source", func(c *Config) { smpp(c); c.SMS.SMPP.SourceAddr = "" }, "sms.smpp.source_addr"},
		{"smpp ton", func(c *Config) { smpp(c); c.SMS.SMPP.SourceTON = 9 }, "sms.smpp.source_ton"},
		{"chain", chain, ""},
		{"chain unknown provider", func(c *Config) { chain(c); c.SMS.Chain[1] = "sms:pigeon" }, "sms.chain[1]"},
		{"chain no channel", func(c *Config) { chain(c); c.SMS.Chain[0] = "twilio" }, "sms.chain[0]"},
		{"chain channel the provider lacks", func(c *Config) { chain(c); c.SMS.Chain[1] = "call:vonage" }, "sms.chain[1]"},
		{"chain voice without number", func(c *Config) { chain(c); c.SMS.Twilio.VoiceFrom = "" }, "sms.twilio.voice_from"},
		{"chain needs vonage settings", func(c *Config) { chain(c); c.SMS.Vonage.APIKey = "" }, "sms.vonage.api_key"},
		{"chain ignores sms.provider", func(c *Config) { chain(c); c.SMS.Provider = "carrier-pigeon" }, ""},
		{"route", func(c *Config) { chain(c); c.SMS.Routes = []string{"vonage=GB,de"} }, ""},
		{"route bad country", func(c *Config) { chain(c); c.SMS.Routes = []string{"vonage=GB,XYZ"} }, "sms.routes[0]"},
		{"route unused provider", func(c *Config) { chain(c); c.SMS.Routes = []string{"telnyx=US"} }, "sms.routes[0]"},
		{"route shape", func(c *Config) { chain(c); c.SMS.Routes = []string{"US,CA"} }, "sms.routes[0]"},
		{"receipt timeout", func(c *Config) { c.SMS.ReceiptTimeout = time.Second }, "sms.receipt_timeout"},
		{"empty provider", func(c *Config) { c.SMS.Provider = "" }, "sms.provider"},
		{"twilio", twilio, ""},
		{"twilio messaging service only", func(c *Config) {
			twilio(c)
			c.SMS.Twilio.From = ""
			c.SMS.Twilio.MessagingServiceSID = "MG1"
		}, ""},
		{"twilio bad sid", func(c *Config) { twilio(c); c.SMS.Twilio.AccountSID = "SK1" }, "sms.twilio.account_sid"},
		{"twilio no token", func(c *Config) { twilio(c); c.SMS.Twilio.AuthToken = "" }, "sms.twilio.auth_token"},
		{"twilio no sender", func(c *Config) { twilio(c); c.SMS.Twilio.From = "" }, "sms.twilio.from"},
		{"twilio bad service sid", func(c *Config) { twilio(c); c.SMS.Twilio.MessagingServiceSID = "AC1" }, "sms.twilio.messaging_service_sid"},
		{"twilio bad base url", func(c *Config) { twilio(c); c.SMS.Twilio.BaseURL = "localhost:9000" }, "sms.twilio.base_url"},
		{"twilio test base url", func(c *Config) { twilio(c); c.SMS.Twilio.BaseURL = "http://127.0.0.1:9000" }, ""},
		{"webhook", webhook, ""},
		{"webhook no url", func(c *Config) { webhook(c); c.SMS.Webhook.URL = "" }, "sms.webhook.url"},
		{"webhook ftp url", func(c *Config) { webhook(c); c.SMS.Webhook.URL = "ftp://gw/send" }, "sms.webhook.url"},
		{"webhook no secret", func(c *Config) { webhook(c); c.SMS.Webhook.Secret = "" }, "sms.webhook.secret"},
		{"webhook bare prefix", func(c *Config) { webhook(c); c.SMS.Webhook.Secret = "whsec_" }, "sms.webhook.secret"},
		{"webhook secret without prefix", func(c *Config) { webhook(c); c.SMS.Webhook.Secret = "abc" }, "sms.webhook.secret"},
		{"dev ignores twilio", func(c *Config) { c.SMS.Twilio.AccountSID = "bad" }, ""},
		{"send timeout zero", func(c *Config) { c.SMS.SendTimeout = 0 }, "sms.send_timeout"},
		{"workers zero", func(c *Config) { c.SMS.Workers = 0 }, "sms.workers"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level"},
		{"log level upper case", func(c *Config) { c.Log.Level = "INFO" }, "log.level"},
		{"log format", func(c *Config) { c.Log.Format = "logfmt" }, "log.format"},
		{"log text", func(c *Config) { c.Log.Format = "text" }, ""},
		{"twilioverify", twilioVerify, ""},
		{"twilioverify without service", func(c *Config) { twilioVerify(c); c.SMS.Twilio.VerifyServiceSID = "" }, "sms.twilio.verify_service_sid"},
		{"twilioverify messaging service sid", func(c *Config) { twilioVerify(c); c.SMS.Twilio.VerifyServiceSID = "MG0123456789abcdef0123456789abcdef" }, "sms.twilio.verify_service_sid"},
		{"twilioverify short sid", func(c *Config) { twilioVerify(c); c.SMS.Twilio.VerifyServiceSID = "VA1" }, "sms.twilio.verify_service_sid"},
		{"twilioverify without token", func(c *Config) { twilioVerify(c); c.SMS.Twilio.AuthToken = "" }, "sms.twilio.auth_token"},
		{"twilioverify bad url", func(c *Config) { twilioVerify(c); c.SMS.Twilio.VerifyBaseURL = "ftp://x" }, "sms.twilio.verify_base_url"},
		{"twilioverify in a chain", func(c *Config) { twilioVerify(c); c.SMS.Chain = []string{"sms:dev"} }, "sms.chain"},
		{"twilioverify as a chain step", func(c *Config) { c.SMS.Chain = []string{"sms:twilioverify"} }, "sms.chain[0]"},
		{"twilioverify with routes", func(c *Config) { twilioVerify(c); c.SMS.Routes = []string{"twilioverify=US"} }, "sms.routes"},
		{"vonageverify", vonageVerify, ""},
		{"vonageverify without brand", func(c *Config) { vonageVerify(c); c.SMS.Vonage.VerifyBrand = "" }, "sms.vonage.verify_brand"},
		{"vonageverify long brand", func(c *Config) { vonageVerify(c); c.SMS.Vonage.VerifyBrand = "a brand far too long" }, "sms.vonage.verify_brand"},
		{"vonageverify without secret", func(c *Config) { vonageVerify(c); c.SMS.Vonage.APISecret = "" }, "sms.vonage.api_secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.change(&c)
			err := c.Validate()
			if tc.path == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want a problem with %s", tc.path)
			}
			if got := fieldPaths(t, err); !slices.Equal(got, []string{tc.path}) {
				t.Errorf("Validate() problems at %q, want only %s:\n%v", got, tc.path, err)
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := Default()
	c.Verify.CodeLength = 12
	c.HTTP.Addr = "nope"
	c.Verify.Lifetime = time.Hour
	c.SMS.Provider = ProviderTwilio
	c.Log.Format = "xml"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	want := []string{
		"http.addr", "verify.code_length", "verify.lifetime",
		"sms.twilio.account_sid", "sms.twilio.auth_token", "sms.twilio.from", "log.format",
	}
	got := fieldPaths(t, err)
	for _, p := range want {
		if !slices.Contains(got, p) {
			t.Errorf("Validate() does not name %s; it named %q", p, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Validate() named %q, want %q", got, want)
	}
	msg := err.Error()
	for _, line := range []string{
		"invalid configuration:\n",
		"\n  verify.code_length: must be between 4 and 10 (got 12)",
		"\n  verify.lifetime: must be between 1m and 10m (got 1h)",
		"\n  sms.twilio.auth_token: required when sms.provider is twilio",
	} {
		if !strings.Contains(msg, line) {
			t.Errorf("message lacks %q:\n%s", line, msg)
		}
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "http.addr" {
		t.Errorf("errors.As found %v, want the http.addr problem", fe)
	}
}

// Problems never show a secret or a URL that may hold credentials.
func TestValidateHidesSecrets(t *testing.T) {
	c := Default()
	c.BootstrapAPIKey = "short key"
	c.DB.URL = "postgres://rf:hunter2@db:bad/rf"
	c.SMS.Provider = ProviderWebhook
	c.SMS.Webhook = Webhook{URL: "gw.example.com/?token=hunter3", Secret: "hunter4"}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	for _, s := range []string{"short key", "hunter2", "hunter3", "hunter4"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("problem shows %q:\n%v", s, err)
		}
	}
	if got := fieldPaths(t, err); len(got) != 4 {
		t.Errorf("problems at %q, want 4", got)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", time.Minute: "1m", 10 * time.Minute: "10m", 24 * time.Hour: "24h",
		90 * time.Second: "1m30s", 15 * time.Second: "15s", 150 * time.Minute: "2h30m",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDeliveryChain(t *testing.T) {
	c := Default()
	if got := c.DeliveryChain(); len(got) != 1 || got[0].Provider != "dev" || got[0].Channel != "" || got[0].Countries != nil {
		t.Errorf("default chain %+v", got)
	}
	chain(&c)
	c.SMS.Routes = []string{"vonage=GB, de", "twilio=US"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := c.DeliveryChain()
	want := []Step{
		{Channel: "sms", Provider: "twilio", Countries: []string{"US"}},
		{Channel: "sms", Provider: "vonage", Countries: []string{"GB", "DE"}},
		{Channel: "call", Provider: "twiliovoice"},
	}
	if len(got) != len(want) {
		t.Fatalf("chain %+v", got)
	}
	for i := range want {
		if got[i].Channel != want[i].Channel || got[i].Provider != want[i].Provider || !slices.Equal(got[i].Countries, want[i].Countries) {
			t.Errorf("step %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// The new providers' secrets are redacted, their other settings kept.
func TestRedactedProviders(t *testing.T) {
	c := Default()
	c.SMS.Vonage = Vonage{APIKey: "vonage-key-1", APISecret: "vonage-secret-1", SignatureSecret: "vonage-sig-1", From: "+14155550100"}
	c.SMS.Telnyx = Telnyx{APIKey: "telnyx-key-1", From: "+14155550100"}
	c.SMS.SMPP = SMPP{Addr: "smsc:2775", SystemID: "rf", Password: "smpp-pw1"}
	for _, s := range []string{c.String(), c.SMS.Vonage.String(), c.SMS.Telnyx.String(), c.SMS.SMPP.String()} {
		for _, secret := range []string{"vonage-key-1", "vonage-secret-1", "vonage-sig-1", "telnyx-key-1", "smpp-pw1"} {
			if strings.Contains(s, secret) {
				t.Errorf("a secret is printed:\n%s", s)
			}
		}
	}
	r := c.Redacted()
	if r.SMS.Vonage.From != c.SMS.Vonage.From || r.SMS.SMPP.SystemID != "rf" || r.SMS.SMPP.Addr != "smsc:2775" {
		t.Error("Redacted changed settings that are not secret")
	}
}
