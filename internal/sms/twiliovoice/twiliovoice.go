// Package twiliovoice reads one-time codes aloud in a phone call placed through
// Twilio Programmable Voice.
//
// Requests follow Twilio's REST API 2010-04-01 reference for creating a Call with
// inline TwiML (the Twiml parameter) and the TwiML <Say> reference for its voices
// and languages.
package twiliovoice

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
	"github.com/ringfence/ringfence/internal/sms/twilio"
)

// DefaultBaseURL is the Twilio REST API root.
const DefaultBaseURL = "https://api.twilio.com"

// DefaultVoice is the <Say> voice used when Config.Voice is empty.
const DefaultVoice = "alice"

// name is the provider name in errors.
const name = "twiliovoice"

// repeats is how many times the code is read.
const repeats = 2

// Config is what a Sender needs to place calls through Twilio.
type Config struct {
	// AccountSID is the account ("AC..."); with AuthToken it authenticates requests.
	AccountSID string
	// AuthToken is the account's auth token.
	AuthToken string
	// From is the calling number in E.164 form.
	From string
	// Voice is the <Say> voice; empty means DefaultVoice. Languages are chosen
	// from those DefaultVoice speaks.
	Voice string
	// StatusCallbackURL, if set, is where Twilio posts the call's final status
	// (read it with ParseStatus).
	StatusCallbackURL string
	// BaseURL is the API root; empty means DefaultBaseURL.
	BaseURL string
	// HTTPClient makes the requests; nil means a client with a 30 second timeout.
	// Redirects are never followed, whichever client is used.
	HTTPClient *http.Client
}

// Sender places a call for each message that reads its code aloud. Twilio does
// not drop a repeated request, so Sender is not a sms.Deduplicator.
type Sender struct {
	cfg      Config
	endpoint string
	client   *http.Client
}

var _ sms.Sender = (*Sender)(nil)

// New returns a Sender for cfg, or an error naming every bad field.
func New(cfg Config) (*Sender, error) {
	var errs []error
	if !strings.HasPrefix(cfg.AccountSID, "AC") {
		errs = append(errs, errors.New(`twiliovoice: AccountSID must start with "AC"`))
	}
	if cfg.AuthToken == "" {
		errs = append(errs, errors.New("twiliovoice: AuthToken is required"))
	}
	if cfg.From == "" {
		errs = append(errs, errors.New("twiliovoice: From is required"))
	}
	if cfg.Voice == "" {
		cfg.Voice = DefaultVoice
	}
	if cfg.StatusCallbackURL != "" && !httpURL(cfg.StatusCallbackURL) {
		errs = append(errs, errors.New("twiliovoice: StatusCallbackURL must be an http or https URL"))
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if !httpURL(cfg.BaseURL) {
		errs = append(errs, errors.New("twiliovoice: BaseURL must be an http or https URL"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Sender{
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Calls.json",
		client:   client,
	}, nil
}

// httpURL reports whether s is an absolute http or https URL.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Name returns "twiliovoice".
func (s *Sender) Name() string { return name }

// Send calls m.To and reads the code in m.Body (its last run of 4 to 10 digits)
// digit by digit, twice, in m.Locale's language where Twilio speaks it (else
// en-US). m.Channel must be sms.Voice. It returns *sms.Error with Twilio's
// numeric error code, or an error wrapping ctx.Err().
func (s *Sender) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	if m.Channel != sms.Voice {
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeUnsupportedChannel}
	}
	code := findCode(m.Body)
	if !strings.HasPrefix(m.To, "+") || code == "" {
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	form := url.Values{}
	form.Set("To", m.To)
	form.Set("From", s.cfg.From)
	form.Set("Twiml", twiml(s.cfg.Voice, m.Locale, code))
	if s.cfg.StatusCallbackURL != "" {
		form.Set("StatusCallback", s.cfg.StatusCallbackURL)
	}
	var ok struct {
		SID string `json:"sid"`
	}
	status, err := twilio.Post(ctx, s.client, name, s.endpoint, s.cfg.AccountSID, s.cfg.AuthToken, form, &ok)
	if err != nil {
		return sms.Result{}, err
	}
	if ok.SID == "" {
		// Twilio accepted something: calling again could read the code twice.
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: status}
	}
	return sms.Result{ProviderID: ok.SID}, nil
}

// findCode returns the last run of 4 to 10 ASCII digits in body, or "".
func findCode(body string) string {
	code := ""
	for i := 0; i < len(body); {
		j := i
		for j < len(body) && body[j] >= '0' && body[j] <= '9' {
			j++
		}
		if j == i {
			i++
			continue
		}
		if n := j - i; n >= 4 && n <= 10 {
			code = body[i:j]
		}
		i = j
	}
	return code
}

// twiml returns the TwiML that reads code digit by digit, repeats times, with a
// pause after each reading. Everything in it is XML-escaped.
func twiml(voice, locale, code string) string {
	lang := sayLanguage(locale)
	var spoken strings.Builder
	spoken.WriteString(phrases[lang])
	spoken.WriteByte(' ')
	for i := 0; i < len(code); i++ {
		if i > 0 {
			spoken.WriteString(", ")
		}
		spoken.WriteByte(code[i])
	}
	spoken.WriteByte('.')

	var b strings.Builder
	b.WriteString("<Response>")
	for range repeats {
		b.WriteString(`<Say voice="`)
		escape(&b, voice)
		b.WriteString(`" language="`)
		escape(&b, lang)
		b.WriteString(`">`)
		escape(&b, spoken.String())
		b.WriteString(`</Say><Pause length="1"/>`)
	}
	b.WriteString("</Response>")
	return b.String()
}

// escape writes s to b with XML's special characters escaped.
func escape(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

// phrases introduce the code in each <Say> language DefaultVoice speaks.
var phrases = map[string]string{
	"ca-ES": "El vostre codi és",
	"da-DK": "Din kode er",
	"de-DE": "Ihr Code lautet",
	"en-AU": "Your code is",
	"en-CA": "Your code is",
	"en-GB": "Your code is",
	"en-IN": "Your code is",
	"en-US": "Your code is",
	"es-ES": "Su código es",
	"es-MX": "Su código es",
	"fi-FI": "Koodisi on",
	"fr-CA": "Votre code est",
	"fr-FR": "Votre code est",
	"it-IT": "Il tuo codice è",
	"ja-JP": "認証コードは",
	"ko-KR": "인증 코드는",
	"nb-NO": "Koden din er",
	"nl-NL": "Uw code is",
	"pl-PL": "Twój kod to",
	"pt-BR": "Seu código é",
	"pt-PT": "O seu código é",
	"ru-RU": "Ваш код",
	"sv-SE": "Din kod är",
	"zh-CN": "您的验证码是",
	"zh-HK": "您的驗證碼是",
	"zh-TW": "您的驗證碼是",
}

// languageDefaults give the <Say> language for a tag naming only a language or a
// region without its own voice.
var languageDefaults = map[string]string{
	"ca": "ca-ES", "da": "da-DK", "de": "de-DE", "en": "en-US", "es": "es-ES",
	"fi": "fi-FI", "fr": "fr-FR", "it": "it-IT", "ja": "ja-JP", "ko": "ko-KR",
	"nb": "nb-NO", "no": "nb-NO", "nn": "nb-NO", "nl": "nl-NL", "pl": "pl-PL",
	"pt": "pt-BR", "ru": "ru-RU", "sv": "sv-SE", "zh": "zh-CN",
}

// sayLanguage returns the <Say> language for a BCP 47 tag: an exact
// language-REGION match, else the language's default, else en-US.
func sayLanguage(tag string) string {
	tag = strings.ReplaceAll(tag, "_", "-")
	lang, rest, _ := strings.Cut(tag, "-")
	region, _, _ := strings.Cut(rest, "-")
	lang, region = strings.ToLower(lang), strings.ToUpper(region)
	if _, ok := phrases[lang+"-"+region]; ok {
		return lang + "-" + region
	}
	if l, ok := languageDefaults[lang]; ok {
		return l
	}
	return "en-US"
}
