// Package twilioverify starts and checks verifications with Twilio Verify v2,
// where Twilio makes, sends and checks the code; ringfence still applies its own
// limits, audit and tokens around it.
//
// Request and answer shapes follow Twilio's Verify v2 API reference
// (Verification and VerificationCheck resources) and its error-code list
// (60200-60410, 20404).
package twilioverify

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
	"github.com/ringfence/ringfence/internal/sms/twilio"
)

// DefaultBaseURL is the Twilio Verify API root.
const DefaultBaseURL = "https://verify.twilio.com"

// name is the provider name in errors.
const name = "twilioverify"

// CodeClosed is the Code of the *sms.Error Check returns for a verification
// Twilio reports as no longer pending (canceled, expired, max_attempts_reached...)
// in a 200 answer. A verification Twilio no longer knows gives Code "20404".
const CodeClosed = "closed"

// Config is what a Verifier needs to reach Twilio Verify.
type Config struct {
	// AccountSID is the account ("AC..."); with AuthToken it authenticates requests.
	AccountSID string
	// AuthToken is the account's auth token.
	AuthToken string
	// ServiceSID is the Verify service ("VA...").
	ServiceSID string
	// BaseURL is the API root; empty means DefaultBaseURL.
	BaseURL string
	// HTTPClient makes the requests; nil means a client with a 30 second timeout.
	// Redirects are never followed, whichever client is used.
	HTTPClient *http.Client
}

// Verifier starts and checks Twilio verifications.
type Verifier struct {
	cfg     Config
	service string
	client  *http.Client
}

// New returns a Verifier for cfg, or an error naming every bad field.
func New(cfg Config) (*Verifier, error) {
	var errs []error
	if !strings.HasPrefix(cfg.AccountSID, "AC") {
		errs = append(errs, errors.New(`twilioverify: AccountSID must start with "AC"`))
	}
	if cfg.AuthToken == "" {
		errs = append(errs, errors.New("twilioverify: AuthToken is required"))
	}
	if !strings.HasPrefix(cfg.ServiceSID, "VA") || !safeSID(cfg.ServiceSID) {
		errs = append(errs, errors.New(`twilioverify: ServiceSID must start with "VA"`))
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("twilioverify: BaseURL must be an http or https URL"))
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
	return &Verifier{
		cfg:     cfg,
		service: strings.TrimRight(cfg.BaseURL, "/") + "/v2/Services/" + cfg.ServiceSID,
		client:  client,
	}, nil
}

// Name returns "twilioverify".
func (v *Verifier) Name() string { return name }

// Start asks Twilio to send a code to the E.164 number to on channel ("sms",
// "call" or "whatsapp", the values of sms.SMS, sms.Voice and sms.WhatsApp) in
// locale, and returns the verification's sid ("VE...") for Check. A locale Twilio
// has no template for is mapped to its language or left out, so Twilio picks one
// from the number's country. It returns *sms.Error with Twilio's numeric code
// ("60200" invalid parameter, "60203" too many sends, "60410" blocked as fraud...),
// or an error wrapping ctx.Err().
func (v *Verifier) Start(ctx context.Context, to, channel, locale string) (string, error) {
	switch sms.Channel(channel) {
	case sms.SMS, sms.Voice, sms.WhatsApp:
	default:
		return "", &sms.Error{Provider: name, Code: sms.CodeUnsupportedChannel}
	}
	if !e164(to) {
		return "", &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	form := url.Values{"To": {to}, "Channel": {channel}}
	if l := twilioLocale(locale); l != "" {
		form.Set("Locale", l)
	}
	var out struct {
		SID string `json:"sid"`
	}
	status, err := v.post(ctx, "/Verifications", form, &out)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(out.SID, "VE") || !safeSID(out.SID) {
		// Twilio accepted something: starting again could send a second code.
		return "", &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: status}
	}
	return out.SID, nil
}

// Check submits code for the verification sid and reports whether Twilio approved
// it. A wrong code gives false and no error. A verification Twilio no longer has
// (approved, expired, or out of attempts) gives *sms.Error Code "20404"; one that
// Twilio reports closed gives Code CodeClosed; too many checks gives "60202".
// Other failures give *sms.Error with Twilio's numeric code, or an error wrapping
// ctx.Err().
func (v *Verifier) Check(ctx context.Context, sid, code string) (bool, error) {
	st, status, err := v.check(ctx, sid, code)
	if err != nil {
		return false, err
	}
	switch st {
	case "approved":
		return true, nil
	case "pending":
		return false, nil
	case "canceled", "expired", "max_attempts_reached", "deleted", "failed":
		return false, &sms.Error{Provider: name, Code: CodeClosed, Status: status}
	}
	return false, &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: status}
}

// check posts a VerificationCheck and returns the status Twilio answered with.
func (v *Verifier) check(ctx context.Context, sid, code string) (string, int, error) {
	if !strings.HasPrefix(sid, "VE") || !safeSID(sid) || len(code) < 4 || len(code) > 10 || !alnum(code) {
		return "", 0, &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	var out struct {
		Status string `json:"status"`
	}
	status, err := v.post(ctx, "/VerificationCheck", url.Values{"VerificationSid": {sid}, "Code": {code}}, &out)
	return out.Status, status, err
}

// SendCode asks Twilio to send a code to to on channel. Twilio sends the same
// code again when a verification to the same number and channel is pending, so
// a resend (ref set) is the same request; it returns the verification's sid.
func (v *Verifier) SendCode(ctx context.Context, to, channel, ref string) (string, error) {
	return v.Start(ctx, to, channel, "")
}

// CheckCode checks code for the verification sid and returns sms.CheckApproved,
// sms.CheckWrong, sms.CheckExpired (Twilio reports it expired, or no longer
// has it: it forgets a verification once it expired or ran out of attempts) or
// sms.CheckFailed (out of attempts, canceled). Other failures give *sms.Error.
func (v *Verifier) CheckCode(ctx context.Context, sid, code string) (string, error) {
	st, status, err := v.check(ctx, sid, code)
	var e *sms.Error
	switch {
	case errors.As(err, &e) && e.Code == "20404":
		return sms.CheckExpired, nil
	case errors.As(err, &e) && e.Code == "60202":
		return sms.CheckFailed, nil
	case err != nil:
		return "", err
	}
	switch st {
	case "approved":
		return sms.CheckApproved, nil
	case "pending":
		return sms.CheckWrong, nil
	case "expired":
		return sms.CheckExpired, nil
	case "canceled", "max_attempts_reached", "deleted", "failed":
		return sms.CheckFailed, nil
	}
	return "", &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: status}
}

// Cancel cancels the pending verification sid (POST to the Verification with
// Status=canceled). A verification Twilio no longer has gives *sms.Error Code "20404".
func (v *Verifier) Cancel(ctx context.Context, sid string) error {
	if !strings.HasPrefix(sid, "VE") || !safeSID(sid) {
		return &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	var out struct {
		Status string `json:"status"`
	}
	_, err := v.post(ctx, "/Verifications/"+sid, url.Values{"Status": {"canceled"}}, &out)
	return err
}

// post sends form to the service's resource path and decodes a 2xx answer into out.
func (v *Verifier) post(ctx context.Context, path string, form url.Values, out any) (int, error) {
	status, err := twilio.Post(ctx, v.client, name, v.service+path, v.cfg.AccountSID, v.cfg.AuthToken, form, out)
	var e *sms.Error
	if errors.As(err, &e) && permanent[e.Code] {
		e.Temporary = false
	}
	return status, err
}

// permanent are codes Twilio answers with 429 that waiting a little does not cure:
// the verification or the number has used its attempts.
var permanent = map[string]bool{
	"60202": true, // max check attempts reached
	"60203": true, // max send attempts reached
}

// safeSID reports whether sid is 34 letters and digits, as Twilio sids are.
func safeSID(sid string) bool {
	return len(sid) == 34 && alnum(sid)
}

// alnum reports whether s is only ASCII letters and digits.
func alnum(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// e164 reports whether s is "+" and 2 to 15 digits, the first not 0.
func e164(s string) bool {
	d, ok := strings.CutPrefix(s, "+")
	if !ok || len(d) < 2 || len(d) > 15 || d[0] == '0' {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// twilioLocales are the locales Twilio Verify documents ("Verify supported
// languages"), in lower case, mapped to Twilio's spelling.
var twilioLocales = func() map[string]string {
	m := map[string]string{}
	for _, l := range []string{
		"af", "ar", "ca", "zh", "zh-CN", "zh-HK", "hr", "cs", "da", "nl", "en", "en-GB",
		"et", "fi", "fr", "de", "el", "he", "hi", "hu", "id", "it", "ja", "kn", "ko",
		"lt", "ms", "mr", "nb", "pl", "pt-BR", "pt", "ro", "ru", "sk", "es", "sv", "tl",
		"te", "th", "tr", "uk", "vi",
	} {
		m[strings.ToLower(l)] = l
	}
	return m
}()

// twilioLocale returns Twilio's locale for a BCP 47 tag ("pt_br" gives "pt-BR",
// "de-AT" gives "de", "no" gives "nb"), or "" if Twilio has none for its language.
func twilioLocale(tag string) string {
	tag = strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	lang, rest, _ := strings.Cut(tag, "-")
	region, _, _ := strings.Cut(rest, "-")
	if lang == "no" || lang == "nn" {
		lang = "nb"
	}
	if l, ok := twilioLocales[lang+"-"+region]; ok {
		return l
	}
	return twilioLocales[lang]
}
