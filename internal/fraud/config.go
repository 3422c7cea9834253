package fraud

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/phone"
)

// Limit is one sliding-window velocity limit: at most Count sends to or
// from one key in any Window. A window is counted in twelve buckets, so a
// send may still count for up to Window/12 after it has left the window; the
// count never falls short of the true one.
type Limit struct {
	Count  int           // sends allowed in Window; the send that would be Count+1 is refused
	Window time.Duration // length of the sliding window

	// Soft, when above 0, is the number of sends in Window let through
	// without a solved proof-of-work challenge; each further send, up to
	// Count, needs one. Only the IP and prefix limits use it.
	Soft int
}

// VelocityConfig holds the velocity limits of each kind of key. An empty
// list sets no limit on that kind.
type VelocityConfig struct {
	IP      []Limit
	Subject []Limit
	Number  []Limit
	Prefix  []Limit
	Country []Limit
}

// BreakerConfig configures the conversion breaker of one kind of key
// (prefix or country). The breaker compares, over Window, the sends to the
// key that are older than Grace (matured sends) with the codes approved. Once
// there are MinSends matured sends and fewer than Floor × baseline of them
// were approved, it opens: every send to the key is refused for Block. Then
// it lets Probes sends through; the first approved probe closes it, and if
// none is approved within ProbeWait of the last probe it opens again for
// another Block.
type BreakerConfig struct {
	MinSends  int           // matured sends in Window before the breaker judges; 0 turns the breaker off
	Floor     float64       // opens below this share of the baseline conversion, in (0, 1]
	Window    time.Duration // the sliding window of sends and approvals
	Grace     time.Duration // a send this young is not judged yet: its code may still be approved
	Block     time.Duration // how long an open breaker refuses every send
	Probes    int           // sends let through after Block to test again; 0 closes the breaker after Block
	ProbeWait time.Duration // how long after the last probe an approval may come
}

// SpendConfig sets what a send costs and how much may be spent a day. Days
// are UTC calendar days. Amounts are in the currency of the price table.
type SpendConfig struct {
	// Prices maps an ISO country code, or a country and a channel as
	// "GB:call", to the price of one send; the channel's price wins.
	// Non-geographic numbers use the code "001".
	Prices        map[string]float64
	DefaultPrice  float64 // price of a send to a country not in Prices
	CountryPerDay float64 // cap on one country's spend a day; 0 sets no cap
	TotalPerDay   float64 // cap on the whole spend a day; 0 sets no cap
}

// PoWConfig configures the proof-of-work challenges the soft limits ask for.
type PoWConfig struct {
	// Key signs challenge tokens (HMAC-SHA-256). Instances that share
	// traffic must share it; empty gives each Guard a random key, so
	// tokens do not survive a restart.
	Key        []byte
	Difficulty int           // leading zero bits of SHA-256(token + ":" + nonce), 1 to 32
	TTL        time.Duration // how long a challenge may be solved and used
	MaxSpent   int           // spent tokens remembered until they expire; see Guard
}

// Config holds the rules of a Guard. DefaultConfig gives every field.
type Config struct {
	// Countries is the allow-list of ISO country codes ("001" for
	// non-geographic numbers); empty allows every country. Give it the
	// countries the service is configured for.
	Countries []string

	// RefusedTypes are the number types no code is sent to, whatever any
	// list says.
	RefusedTypes []phone.Type

	Velocity VelocityConfig

	PrefixBreaker  BreakerConfig
	CountryBreaker BreakerConfig

	// Baseline is the conversion the breakers compare with until enough
	// traffic has been seen to measure it: the share of matured sends whose
	// code was approved, over the country breaker's window, all countries
	// together, once there are BaselineMinSends of them.
	Baseline         float64
	BaselineMinSends int

	Spend SpendConfig
	PoW   PoWConfig

	// MaxKeys caps the keys (numbers, prefixes, countries, IPs, subjects)
	// whose counters are kept in memory; see Guard for what happens when
	// it is reached.
	MaxKeys int

	// Now is the clock for Lists, Breakers, Snapshot and requests whose
	// Now is zero; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the default rules:
//
//   - every country allowed (give Countries the configured ones);
//   - toll-free, premium-rate, shared-cost, UAN, pager and voicemail
//     numbers refused (add phone.VoIP to refuse VoIP);
//   - per IP 10 sends in 10 minutes and 30 in an hour, a challenge from
//     the 4th send in 10 minutes or the 11th in an hour; per subject 5 an
//     hour; per number 5 an hour; per prefix 20 in 10 minutes, a challenge
//     from the 11th; per country 500 an hour;
//   - prefix breaker: judged from 20 matured sends in an hour (sends older
//     than 2 minutes), opens below a fifth of the baseline conversion
//     (about 17% when 85% of codes are approved), blocks 12 hours, then 3
//     probes with 15 minutes for an approval; country breaker the same
//     from 100 matured sends; baseline 80% until 200 sends are measured;
//   - 0.05 a send, at most 100 a day per country and 500 a day in all;
//   - challenges of 16 bits (about 65,000 hashes; a second or so in a
//     browser), valid 5 minutes, up to 1,000,000 spent tokens remembered;
//   - up to 1,048,576 keys tracked (about 250 MB at most).
func DefaultConfig() Config {
	breaker := BreakerConfig{
		MinSends:  20,
		Floor:     0.2,
		Window:    time.Hour,
		Grace:     2 * time.Minute,
		Block:     12 * time.Hour,
		Probes:    3,
		ProbeWait: 15 * time.Minute,
	}
	country := breaker
	country.MinSends = 100
	return Config{
		RefusedTypes: []phone.Type{phone.TollFree, phone.PremiumRate, phone.SharedCost, phone.UAN, phone.Pager, phone.Voicemail},
		Velocity: VelocityConfig{
			IP:      []Limit{{Count: 10, Window: 10 * time.Minute, Soft: 3}, {Count: 30, Window: time.Hour, Soft: 10}},
			Subject: []Limit{{Count: 5, Window: time.Hour}},
			Number:  []Limit{{Count: 5, Window: time.Hour}},
			Prefix:  []Limit{{Count: 20, Window: 10 * time.Minute, Soft: 10}},
			Country: []Limit{{Count: 500, Window: time.Hour}},
		},
		PrefixBreaker:    breaker,
		CountryBreaker:   country,
		Baseline:         0.8,
		BaselineMinSends: 200,
		Spend: SpendConfig{
			DefaultPrice:  0.05,
			CountryPerDay: 100,
			TotalPerDay:   500,
		},
		PoW: PoWConfig{
			Difficulty: 16,
			TTL:        5 * time.Minute,
			MaxSpent:   1_000_000,
		},
		MaxKeys: 1 << 20,
	}
}

// maxMoney is the largest price or cap Validate accepts: spend is kept in
// millionths in 48 bits.
const maxMoney = 1 << 48 / 1e6

// Validate reports every field of c that New cannot use, in one error.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("fraud: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	for i, cc := range c.Countries {
		if !validCountry(strings.ToUpper(cc)) {
			bad(fmt.Sprintf("Countries[%d]", i), "not an ISO country code")
		}
	}
	limits := []struct {
		name   string
		limits []Limit
		soft   bool
	}{
		{"Velocity.IP", c.Velocity.IP, true},
		{"Velocity.Subject", c.Velocity.Subject, false},
		{"Velocity.Number", c.Velocity.Number, false},
		{"Velocity.Prefix", c.Velocity.Prefix, true},
		{"Velocity.Country", c.Velocity.Country, false},
	}
	for _, l := range limits {
		if len(l.limits) > maxLimits {
			bad(l.name, "more than %d limits", maxLimits)
		}
		for i, lim := range l.limits {
			name := fmt.Sprintf("%s[%d]", l.name, i)
			if lim.Count <= 0 {
				bad(name+".Count", "must be positive")
			}
			if lim.Window < slots {
				bad(name+".Window", "must be at least 12ns")
			}
			if lim.Soft < 0 || lim.Soft > 0 && (!l.soft || lim.Soft >= lim.Count) {
				bad(name+".Soft", "must be 0, or below Count on an IP or prefix limit")
			}
		}
	}
	for _, b := range []struct {
		name string
		cfg  BreakerConfig
	}{{"PrefixBreaker", c.PrefixBreaker}, {"CountryBreaker", c.CountryBreaker}} {
		if b.cfg.MinSends < 0 {
			bad(b.name+".MinSends", "must not be negative")
		}
		if b.cfg.MinSends == 0 {
			continue
		}
		if !(b.cfg.Floor > 0 && b.cfg.Floor <= 1) {
			bad(b.name+".Floor", "must be in (0, 1]")
		}
		if b.cfg.Window < slots {
			bad(b.name+".Window", "must be at least 12ns")
		}
		if b.cfg.Grace < 0 || b.cfg.Grace >= b.cfg.Window {
			bad(b.name+".Grace", "must be at least 0 and shorter than Window")
		}
		if b.cfg.Block <= 0 {
			bad(b.name+".Block", "must be positive")
		}
		if b.cfg.Probes < 0 {
			bad(b.name+".Probes", "must not be negative")
		}
		if b.cfg.Probes > 0 && b.cfg.ProbeWait <= 0 {
			bad(b.name+".ProbeWait", "must be positive when there are probes")
		}
	}
	if !(c.Baseline > 0 && c.Baseline <= 1) {
		bad("Baseline", "must be in (0, 1]")
	}
	if c.BaselineMinSends < 0 {
		bad("BaselineMinSends", "must not be negative")
	}
	money := func(field string, v float64) {
		if !(v >= 0 && v <= maxMoney) {
			bad(field, "must be between 0 and %.0f", maxMoney)
		}
	}
	for k, v := range c.Spend.Prices {
		country, channel, _ := strings.Cut(k, ":")
		if !validCountry(strings.ToUpper(country)) || strings.Contains(channel, ":") {
			bad("Spend.Prices", "key %q is not COUNTRY or COUNTRY:channel", k)
		}
		money("Spend.Prices["+k+"]", v)
	}
	money("Spend.DefaultPrice", c.Spend.DefaultPrice)
	money("Spend.CountryPerDay", c.Spend.CountryPerDay)
	money("Spend.TotalPerDay", c.Spend.TotalPerDay)
	if c.PoW.Difficulty < 1 || c.PoW.Difficulty > 32 {
		bad("PoW.Difficulty", "must be between 1 and 32")
	}
	if c.PoW.TTL <= 0 {
		bad("PoW.TTL", "must be positive")
	}
	if c.PoW.MaxSpent <= 0 {
		bad("PoW.MaxSpent", "must be positive")
	}
	if c.MaxKeys <= 0 {
		bad("MaxKeys", "must be positive")
	}
	return errors.Join(errs...)
}

// validCountry reports whether cc is an upper-case ISO 3166-1 alpha-2 code
// or "001", the group of non-geographic numbers.
func validCountry(cc string) bool {
	if cc == nonGeo {
		return true
	}
	return len(cc) == 2 && 'A' <= cc[0] && cc[0] <= 'Z' && 'A' <= cc[1] && cc[1] <= 'Z'
}

// micros converts an amount to millionths.
func micros(v float64) int64 { return int64(math.Round(v * 1e6)) }
