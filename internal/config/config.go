// Package config holds ringfence's settings: defaults, one YAML file and RINGFENCE_* environment overrides.
package config

import (
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// SMS provider names accepted in sms.provider and sms.chain.
const (
	ProviderDev         = "dev"         // messages go to the in-memory dev inbox
	ProviderTwilio      = "twilio"      // Twilio Programmable Messaging (SMS, WhatsApp)
	ProviderWebhook     = "webhook"     // a signed POST to an operator's URL (every channel)
	ProviderVonage      = "vonage"      // Vonage Messages API (SMS, WhatsApp)
	ProviderTelnyx      = "telnyx"      // Telnyx Messaging (SMS)
	ProviderSMPP        = "smpp"        // an SMSC over SMPP 3.4 (SMS)
	ProviderTwilioVoice = "twiliovoice" // Twilio Programmable Voice: the code spoken (call); only in sms.chain
	// Providers that make, send and check the code themselves; only in
	// sms.provider, never in sms.chain.
	ProviderTwilioVerify = "twilioverify" // Twilio Verify v2 (SMS, call, WhatsApp)
	ProviderVonageVerify = "vonageverify" // Vonage Verify v2 (SMS)
)

// Config is every setting of one ringfence process. Each leaf field has a YAML
// path (its yaml tags joined by ".") and an environment name derived from it;
// see EnvNames.
type Config struct {
	// DataDir holds the SQLite database (when db.url is empty) and the keyring (when keys.dir is empty).
	DataDir string `yaml:"data_dir"`
	// BootstrapAPIKey, when set, is accepted as an admin API key (for automation).
	BootstrapAPIKey string `yaml:"bootstrap_api_key"`

	HTTP     HTTP     `yaml:"http"`
	SIP      SIP      `yaml:"sip"`
	DB       DB       `yaml:"db"`
	Keys     Keys     `yaml:"keys"`
	Verify   Verify   `yaml:"verify"`
	Identity Identity `yaml:"identity"`
	Audit    Audit    `yaml:"audit"`
	Fraud    Fraud    `yaml:"fraud"`
	SMS      SMS      `yaml:"sms"`
	Log      Log      `yaml:"log"`
	Demo     Demo     `yaml:"demo"`
}

// HTTP configures the REST API and web listener.
type HTTP struct {
	Addr            string        `yaml:"addr"`             // host:port to listen on
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`   // request bodies larger than this are refused
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"` // how long in-flight requests get at shutdown
	PublicURL       string        `yaml:"public_url"`       // optional external base URL, e.g. https://verify.example.com
}

// DB selects the database.
type DB struct {
	// URL is "" for SQLite in the data dir, "postgres://..." or "postgresql://..."
	// for Postgres, "sqlite:///path/file.db" or a plain file path for SQLite there.
	URL      string `yaml:"url"`
	MaxBatch int    `yaml:"max_batch"` // group-commit batch cap
}

// Keys locates the keyring.
type Keys struct {
	Dir string `yaml:"dir"` // "" means <data_dir>/keys
}

// Verify holds the verification policy.
type Verify struct {
	CodeLength     int           `yaml:"code_length"`       // digits per code, 4..10
	Lifetime       time.Duration `yaml:"lifetime"`          // how long a code is valid, 1m..10m
	MaxChecks      int           `yaml:"max_checks"`        // wrong checks before a verification dies, 1..10
	MaxSends       int           `yaml:"max_sends"`         // sends per verification, 1..10
	ResendCooldown time.Duration `yaml:"resend_cooldown"`   // minimum gap between sends to one number, 0..10m
	SendsPerHour   int           `yaml:"sends_per_hour"`    // sends per number per hour
	SendsPerDay    int           `yaml:"sends_per_day"`     // sends per number per day, at least SendsPerHour
	IPSendsPerHour int           `yaml:"ip_sends_per_hour"` // sends per client IP per hour; 0 disables
	AllowVoIP      bool          `yaml:"allow_voip"`        // accept VoIP numbers
	Countries      []string      `yaml:"countries"`         // ISO 3166-1 alpha-2 codes allowed; empty allows all
	DefaultCountry string        `yaml:"default_country"`   // region for national input when a request gives none
	AppName        string        `yaml:"app_name"`          // name used in the message text
	WebOTPDomain   string        `yaml:"webotp_domain"`     // when set, messages end with "@domain #code"
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`   // how long Idempotency-Key results are kept
	InboundNumber  string        `yaml:"inbound_number"`    // E.164 number people text for inbound_sms; "" turns it off
}

// Fraud configures the fraud guard consulted before every paid send. Money
// is in hundredths of the provider's currency (cents).
type Fraud struct {
	Enabled         *bool    `yaml:"enabled"`           // consult the guard before every paid send; nil means on
	PriceCents      int      `yaml:"price_cents"`       // price of a send to a country not in prices
	Prices          []string `yaml:"prices"`            // per-country prices, "CC=cents", e.g. "GB=4"
	CountryDailyCap int      `yaml:"country_daily_cap"` // cents a country may cost a day; 0: no cap
	TotalDailyCap   int      `yaml:"total_daily_cap"`   // cents all sends may cost a day; 0: no cap
	CountryPerHour  int      `yaml:"country_per_hour"`  // sends to one country an hour
	PrefixPer10Min  int      `yaml:"prefix_per_10min"`  // sends to one prefix (number without its last 4 digits) in 10 minutes
	IPPerHour       int      `yaml:"ip_per_hour"`       // sends for one client IP an hour
	ChallengeBits   int      `yaml:"challenge_bits"`    // proof-of-work difficulty, in leading zero bits
}

// Audit configures the tamper-evident audit log.
type Audit struct {
	CheckpointEvery time.Duration `yaml:"checkpoint_every"` // how often a checkpoint is signed when the log grew
	Origin          string        `yaml:"origin"`           // the checkpoints' origin line; "" means <public_url host>/audit
}

// Identity holds the account rules and the tokens' settings.
type Identity struct {
	Dormancy   time.Duration `yaml:"dormancy"`    // a binding unverified this long goes to the next signup (>= 45 days)
	CoolingOff time.Duration `yaml:"cooling_off"` // after a number change, recovery by the new number waits this long
	TokenTTL   time.Duration `yaml:"token_ttl"`   // lifetime of "phone verified" tokens
	Issuer     string        `yaml:"issuer"`      // the tokens' iss; "" means http.public_url, else "ringfence"
	// Tombstone is what a sign-up with an erased subject's number gets:
	// "refuse", "flag" (allowed, noted in the audit log) or "off".
	Tombstone          string        `yaml:"tombstone"`
	TombstoneRetention time.Duration `yaml:"tombstone_retention"` // how long a tombstone is kept
}

// SMS selects and configures the providers codes go out through.
type SMS struct {
	Provider string `yaml:"provider"` // the one provider for every channel it carries, when chain is empty
	// Chain is the delivery chain, "channel:provider" in order (e.g.
	// "sms:twilio", "sms:vonage", "call:twiliovoice"): a message starts at the
	// first step for its channel and moves on when a send or its receipt fails.
	Chain []string `yaml:"chain"`
	// Routes limit providers to countries, "provider=CC,CC" (e.g. "telnyx=US,CA");
	// a provider not listed serves every country.
	Routes         []string      `yaml:"routes"`
	ReceiptTimeout time.Duration `yaml:"receipt_timeout"` // how long a sent message awaits its receipt before moving on
	Twilio         Twilio        `yaml:"twilio"`
	Webhook        Webhook       `yaml:"webhook"`
	Vonage         Vonage        `yaml:"vonage"`
	Telnyx         Telnyx        `yaml:"telnyx"`
	SMPP           SMPP          `yaml:"smpp"`
	SendTimeout    time.Duration `yaml:"send_timeout"` // per provider request
	Workers        int           `yaml:"workers"`      // outbox send concurrency
}

// Vonage configures the Vonage provider.
type Vonage struct {
	APIKey          string `yaml:"api_key"`          // account API key
	APISecret       string `yaml:"api_secret"`       // secret
	From            string `yaml:"from"`             // SMS sender number or ID
	WhatsAppFrom    string `yaml:"whatsapp_from"`    // WhatsApp Business number; "" means from
	SignatureSecret string `yaml:"signature_secret"` // secret of the signed status webhooks; "" means no receipts
	BaseURL         string `yaml:"base_url"`         // "" means Vonage's API; set for tests
	VerifyBrand     string `yaml:"verify_brand"`     // vonageverify: the name in Vonage's message, 1 to 16 characters
}

// Telnyx configures the Telnyx provider.
type Telnyx struct {
	APIKey             string `yaml:"api_key"`              // API v2 key, secret
	From               string `yaml:"from"`                 // sender number or ID; or set messaging_profile_id
	MessagingProfileID string `yaml:"messaging_profile_id"` // profile whose number pool sends
	PublicKey          string `yaml:"public_key"`           // base64 Ed25519 key webhooks are signed with; "" means no receipts
	BaseURL            string `yaml:"base_url"`             // "" means Telnyx's API; set for tests
}

// String describes v with its secrets redacted.
func (v Vonage) String() string { return marshal(Config{SMS: SMS{Vonage: v}}.Redacted().SMS.Vonage) }

// String describes t with its API key redacted.
func (t Telnyx) String() string { return marshal(Config{SMS: SMS{Telnyx: t}}.Redacted().SMS.Telnyx) }

// String describes s with its password redacted.
func (s SMPP) String() string { return marshal(Config{SMS: SMS{SMPP: s}}.Redacted().SMS.SMPP) }

// SMPP configures a direct bind to an SMSC.
type SMPP struct {
	Addr       string `yaml:"addr"`        // the SMSC's host:port
	SystemID   string `yaml:"system_id"`   // up to 15 characters
	Password   string `yaml:"password"`    // up to 8 characters
	SystemType string `yaml:"system_type"` // when the SMSC wants one
	SourceAddr string `yaml:"source_addr"` // the sender, up to 20 characters
	SourceTON  int    `yaml:"source_ton"`  // type of number: 1 international, 5 alphanumeric
	SourceNPI  int    `yaml:"source_npi"`  // numbering plan: 1 E.164, 0 unknown
}

// Twilio configures the Twilio provider.
type Twilio struct {
	AccountSID          string `yaml:"account_sid"`           // starts with "AC"
	AuthToken           string `yaml:"auth_token"`            // secret
	From                string `yaml:"from"`                  // sender number or ID; or set MessagingServiceSID
	MessagingServiceSID string `yaml:"messaging_service_sid"` // starts with "MG"
	VoiceFrom           string `yaml:"voice_from"`            // E.164 number voice-call codes come from (twiliovoice)
	Voice               string `yaml:"voice"`                 // <Say> voice of voice-call codes; "" means Twilio's default
	BaseURL             string `yaml:"base_url"`              // "" means Twilio's API; set for tests
	VerifyServiceSID    string `yaml:"verify_service_sid"`    // twilioverify: the Verify service, starts with "VA"
	VerifyBaseURL       string `yaml:"verify_base_url"`       // "" means Twilio Verify's API; set for tests
}

// String describes t with the auth token redacted.
func (t Twilio) String() string { return marshal(Config{SMS: SMS{Twilio: t}}.Redacted().SMS.Twilio) }

// Webhook configures the webhook provider.
type Webhook struct {
	URL    string `yaml:"url"`    // http(s) URL that receives each message
	Secret string `yaml:"secret"` // signing secret, starts with "whsec_"
}

// String describes w with the secret redacted.
func (w Webhook) String() string { return marshal(Config{SMS: SMS{Webhook: w}}.Redacted().SMS.Webhook) }

// Log configures the process log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // json or text
}

// Demo configures the demo sign-up pages.
type Demo struct {
	Enabled *bool `yaml:"enabled"` // nil means on exactly when sms.provider is dev
}

// Default returns the settings used when neither the file nor the environment says otherwise.
func Default() Config {
	return Config{
		DataDir: "./ringfence-data",
		HTTP: HTTP{
			Addr:            "127.0.0.1:8080",
			MaxBodyBytes:    16384,
			ShutdownTimeout: 15 * time.Second,
		},
		SIP: defaultSIP(),
		DB:  DB{MaxBatch: 256},
		Verify: Verify{
			CodeLength:     6,
			Lifetime:       5 * time.Minute,
			MaxChecks:      5,
			MaxSends:       5,
			ResendCooldown: 60 * time.Second,
			SendsPerHour:   10,
			SendsPerDay:    50,
			IPSendsPerHour: 60,
			AppName:        "ringfence",
			IdempotencyTTL: 24 * time.Hour,
		},
		Identity: Identity{
			Dormancy:   90 * 24 * time.Hour,
			CoolingOff: 7 * 24 * time.Hour,
			TokenTTL:   10 * time.Minute,

			Tombstone:          "refuse",
			TombstoneRetention: 365 * 24 * time.Hour,
		},
		Audit: Audit{CheckpointEvery: time.Minute},
		Fraud: Fraud{
			PriceCents:      5,
			Prices:          []string{},
			CountryDailyCap: 10000,
			TotalDailyCap:   50000,
			CountryPerHour:  500,
			PrefixPer10Min:  20,
			IPPerHour:       30,
			ChallengeBits:   16,
		},
		SMS: SMS{
			Provider:       ProviderDev,
			Chain:          []string{},
			Routes:         []string{},
			ReceiptTimeout: 2 * time.Minute,
			SendTimeout:    10 * time.Second,
			Workers:        4,
		},
		Log: Log{Level: "info", Format: "json"},
	}
}

// Step is one step of the delivery chain: a provider on a channel, for
// some countries or (Countries empty) for all.
type Step struct {
	Channel   string // sms, whatsapp or call; "" means every channel the provider carries
	Provider  string
	Countries []string
}

// Channels returns the channels a provider can carry.
func Channels(provider string) []string {
	switch provider {
	case ProviderTwilio, ProviderVonage:
		return []string{"sms", "whatsapp"}
	case ProviderTelnyx, ProviderSMPP:
		return []string{"sms"}
	case ProviderTwilioVoice:
		return []string{"call"}
	case ProviderDev, ProviderWebhook:
		return []string{"sms", "whatsapp", "call"}
	}
	return nil
}

// DeliveryChain returns the delivery chain: sms.chain, or sms.provider on
// every channel it carries, each step with the countries sms.routes gives its
// provider. Call it on a valid Config.
func (c Config) DeliveryChain() []Step {
	routes := map[string][]string{}
	for _, r := range c.SMS.Routes {
		p, ccs, _ := strings.Cut(r, "=")
		for _, cc := range strings.Split(ccs, ",") {
			routes[strings.TrimSpace(p)] = append(routes[strings.TrimSpace(p)], strings.ToUpper(strings.TrimSpace(cc)))
		}
	}
	if len(c.SMS.Chain) == 0 {
		return []Step{{Provider: c.SMS.Provider, Countries: routes[c.SMS.Provider]}}
	}
	var steps []Step
	for _, s := range c.SMS.Chain {
		ch, p, _ := strings.Cut(s, ":")
		p = strings.TrimSpace(p)
		steps = append(steps, Step{Channel: strings.TrimSpace(ch), Provider: p, Countries: routes[p]})
	}
	return steps
}

// VerifyProvider reports whether sms.provider makes, sends and checks the
// codes itself (twilioverify, vonageverify).
func (c Config) VerifyProvider() bool {
	return c.SMS.Provider == ProviderTwilioVerify || c.SMS.Provider == ProviderVonageVerify
}

// DemoEnabled reports whether the demo pages are on: demo.enabled when set,
// otherwise whether sms.provider is dev.
func (c Config) DemoEnabled() bool {
	if c.Demo.Enabled != nil {
		return *c.Demo.Enabled
	}
	return c.SMS.Provider == ProviderDev
}

// TokenIssuer returns the iss of minted tokens.
func (c Config) TokenIssuer() string {
	switch {
	case c.Identity.Issuer != "":
		return c.Identity.Issuer
	case c.HTTP.PublicURL != "":
		return c.HTTP.PublicURL
	}
	return "ringfence"
}

// FraudEnabled reports whether the fraud guard is on (fraud.enabled, default true).
func (c Config) FraudEnabled() bool { return c.Fraud.Enabled == nil || *c.Fraud.Enabled }

// AuditOrigin returns the name in the audit log's signed checkpoints.
func (c Config) AuditOrigin() string {
	if c.Audit.Origin != "" {
		return c.Audit.Origin
	}
	if u, err := url.Parse(c.HTTP.PublicURL); err == nil && u.Host != "" {
		return u.Host + "/audit"
	}
	return "ringfence.local/audit"
}

// KeysDir returns the keyring directory: keys.dir, or <data_dir>/keys when that is empty.
func (c Config) KeysDir() string {
	if c.Keys.Dir != "" {
		return c.Keys.Dir
	}
	return filepath.Join(c.DataDir, "keys")
}

// DBIsPostgres reports whether db.url selects Postgres.
func (c Config) DBIsPostgres() bool {
	u := strings.ToLower(c.DB.URL)
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// SQLitePath returns the SQLite database file: <data_dir>/ringfence.db when
// db.url is empty, the path after "sqlite://", or db.url itself when it is a
// plain path. It returns "" when db.url selects Postgres.
func (c Config) SQLitePath() string {
	u := c.DB.URL
	switch {
	case c.DBIsPostgres():
		return ""
	case u == "":
		return filepath.Join(c.DataDir, "ringfence.db")
	case hasPrefixFold(u, sqliteScheme):
		return u[len(sqliteScheme):]
	}
	return u
}

const sqliteScheme = "sqlite://"

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// String returns c as YAML with secrets redacted (see Redacted), so that
// printing or logging a Config never shows them.
func (c Config) String() string { return marshal(c.Redacted()) }

func marshal(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return "<config: " + err.Error() + ">"
	}
	return string(b)
}
