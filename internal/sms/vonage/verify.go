package vonage

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ringfence/ringfence/internal/sms"
)

// VerifyConfig is what a Verifier needs to reach Verify v2.
type VerifyConfig struct {
	// APIKey and APISecret authenticate requests (HTTP Basic).
	APIKey    string
	APISecret string
	// Brand names the service in the message Vonage writes, up to 16 characters.
	Brand string
	// CodeLength is the number of digits in a code, 4 to 10; 0 means 6.
	CodeLength int
	// BaseURL is the API root; empty means DefaultBaseURL.
	BaseURL string
	// HTTPClient makes the requests; nil means a client with a 30 second timeout.
	// Redirects are never followed, whichever client is used.
	HTTPClient *http.Client
}

// Verifier starts and checks verifications with Vonage Verify v2, where Vonage
// makes, sends and checks the code. ringfence still applies its own limits, audit
// and tokens around it.
type Verifier struct {
	cfg      VerifyConfig
	endpoint string
	client   *http.Client
}

// NewVerifier returns a Verifier for cfg, or an error naming every bad field.
func NewVerifier(cfg VerifyConfig) (*Verifier, error) {
	var errs []error
	if cfg.APIKey == "" {
		errs = append(errs, errors.New("vonage: APIKey is required"))
	}
	if cfg.APISecret == "" {
		errs = append(errs, errors.New("vonage: APISecret is required"))
	}
	if n := utf8.RuneCountInString(cfg.Brand); n == 0 || n > 16 {
		errs = append(errs, errors.New("vonage: Brand must be 1 to 16 characters"))
	}
	if cfg.CodeLength == 0 {
		cfg.CodeLength = 6
	}
	if cfg.CodeLength < 4 || cfg.CodeLength > 10 {
		errs = append(errs, errors.New("vonage: CodeLength must be 4 to 10"))
	}
	base, err := baseURL(cfg.BaseURL)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Verifier{cfg: cfg, endpoint: base + "/v2/verify", client: newClient(cfg.HTTPClient)}, nil
}

// Name returns "vonage".
func (v *Verifier) Name() string { return name }

// workflow is one step of a Verify v2 request.
type workflow struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
}

// verifyRequest is the body of POST /v2/verify.
type verifyRequest struct {
	Brand      string     `json:"brand"`
	Workflow   []workflow `json:"workflow"`
	CodeLength int        `json:"code_length"`
	Locale     string     `json:"locale,omitempty"`
}

// Start asks Vonage to send a code by SMS to the E.164 number to, in locale (a
// BCP 47 tag such as "es-es"; empty or malformed means Vonage's default, en-us),
// and returns Vonage's request id for Check. It returns *sms.Error with Vonage's
// problem code ("concurrent" for a verification already in flight to the number,
// "rate-limit", ...), or an error wrapping ctx.Err().
func (v *Verifier) Start(ctx context.Context, to, locale string) (string, error) {
	number := digits(to)
	if number == "" {
		return "", &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	in := verifyRequest{
		Brand:      v.cfg.Brand,
		Workflow:   []workflow{{Channel: "sms", To: number}},
		CodeLength: v.cfg.CodeLength,
		Locale:     vonageLocale(locale),
	}
	var out struct {
		RequestID string `json:"request_id"`
	}
	status, err := do(ctx, v.client, v.endpoint, v.cfg.APIKey, v.cfg.APISecret, in, &out)
	if err != nil {
		return "", err
	}
	if !validID(out.RequestID) {
		// Vonage accepted something: starting again could send a second code.
		return "", &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: status}
	}
	return out.RequestID, nil
}

// Check submits code for the verification requestID and reports whether it was
// right. A wrong code gives false and no error. A verification that is gone gives
// *sms.Error: Code "not-found" (404), "expired" (410, after too many wrong codes
// or its time ran out) or "no-code" (409, the workflow step takes no code).
// Other failures give *sms.Error with Vonage's problem code, or an error wrapping
// ctx.Err().
func (v *Verifier) Check(ctx context.Context, requestID, code string) (bool, error) {
	if !validID(requestID) || !validCode(code) {
		return false, &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	var out struct {
		Status string `json:"status"`
	}
	status, err := do(ctx, v.client, v.endpoint+"/"+url.PathEscape(requestID), v.cfg.APIKey, v.cfg.APISecret,
		struct {
			Code string `json:"code"`
		}{code}, &out)
	var e *sms.Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest && e.Code == "invalid-code" {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if out.Status != "completed" {
		return false, &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: status}
	}
	return true, nil
}

// SendCode asks Vonage to send a code by SMS to to; a resend (ref set) moves
// the request ref to its next workflow step. When it has none (Vonage answers
// 409 or 404), the request is canceled and a new one started, whose id is
// returned; the person then gets a new code, and the old one can no longer
// approve.
func (v *Verifier) SendCode(ctx context.Context, to, channel, ref string) (string, error) {
	if channel != string(sms.SMS) {
		return "", &sms.Error{Provider: name, Code: sms.CodeUnsupportedChannel}
	}
	if ref == "" {
		return v.Start(ctx, to, "")
	}
	if !validID(ref) {
		return "", &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	_, err := request(ctx, v.client, http.MethodPost, v.endpoint+"/"+url.PathEscape(ref)+"/next_workflow",
		v.cfg.APIKey, v.cfg.APISecret, struct{}{}, nil)
	var e *sms.Error
	if errors.As(err, &e) && (e.Status == http.StatusConflict || e.Status == http.StatusNotFound) {
		if err := v.Cancel(ctx, ref); err != nil && !gone(err) {
			return "", err
		}
		return v.Start(ctx, to, "")
	}
	if err != nil {
		return "", err
	}
	return ref, nil
}

// CheckCode checks code for the request requestID and returns
// sms.CheckApproved, sms.CheckWrong, sms.CheckExpired (Vonage answers 410: its
// time ran out or too many wrong codes were tried, or 404: it no longer has
// it) or sms.CheckFailed (409: the request takes no code). Other failures
// give *sms.Error.
func (v *Verifier) CheckCode(ctx context.Context, requestID, code string) (string, error) {
	ok, err := v.Check(ctx, requestID, code)
	var e *sms.Error
	switch {
	case err == nil && ok:
		return sms.CheckApproved, nil
	case err == nil:
		return sms.CheckWrong, nil
	case errors.As(err, &e) && e.Status == http.StatusGone, errors.As(err, &e) && e.Status == http.StatusNotFound:
		return sms.CheckExpired, nil
	case errors.As(err, &e) && e.Status == http.StatusConflict:
		return sms.CheckFailed, nil
	}
	return "", err
}

// Cancel cancels the request requestID (DELETE /v2/verify/{id}). A request
// Vonage no longer has gives *sms.Error with Status 404.
func (v *Verifier) Cancel(ctx context.Context, requestID string) error {
	if !validID(requestID) {
		return &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	_, err := request(ctx, v.client, http.MethodDelete, v.endpoint+"/"+url.PathEscape(requestID), v.cfg.APIKey, v.cfg.APISecret, nil, nil)
	return err
}

// gone reports whether err says Vonage no longer has the request.
func gone(err error) bool {
	var e *sms.Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusGone)
}

// validID reports whether id looks like a Vonage request id (a UUID), so it can
// be put in a path.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return false
		}
	}
	return true
}

// validCode reports whether code could be a Verify code: 4 to 10 letters or digits.
func validCode(code string) bool {
	if len(code) < 4 || len(code) > 10 {
		return false
	}
	for _, c := range code {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// vonageLocales are the locales of Verify v2's default templates, per Vonage's
// "Verify Languages" guide, and for each language the one used when a tag names
// only the language or a region Vonage has no template for.
var vonageLocales = map[string]bool{
	"ar-xa": true, "cs-cz": true, "cy-gb": true, "da-dk": true, "de-de": true, "el-gr": true,
	"en-au": true, "en-gb": true, "en-in": true, "en-us": true, "es-es": true, "es-mx": true,
	"es-us": true, "fi-fi": true, "fil-ph": true, "fr-ca": true, "fr-fr": true, "hi-in": true,
	"hu-hu": true, "id-id": true, "is-is": true, "it-it": true, "ja-jp": true, "ko-kr": true,
	"nb-no": true, "nl-nl": true, "pl-pl": true, "pt-br": true, "pt-pt": true, "ro-ro": true,
	"ru-ru": true, "sv-se": true, "th-th": true, "tr-tr": true, "vi-vn": true, "yue-cn": true,
	"zh-cn": true, "zh-hk": true, "zh-tw": true,
}

var vonageDefaults = map[string]string{
	"ar": "ar-xa", "cs": "cs-cz", "cy": "cy-gb", "da": "da-dk", "de": "de-de", "el": "el-gr",
	"en": "en-us", "es": "es-es", "fi": "fi-fi", "fil": "fil-ph", "fr": "fr-fr", "hi": "hi-in",
	"hu": "hu-hu", "id": "id-id", "is": "is-is", "it": "it-it", "ja": "ja-jp", "ko": "ko-kr",
	"nb": "nb-no", "no": "nb-no", "nl": "nl-nl", "pl": "pl-pl", "pt": "pt-pt", "ro": "ro-ro",
	"ru": "ru-ru", "sv": "sv-se", "th": "th-th", "tr": "tr-tr", "vi": "vi-vn", "yue": "yue-cn",
	"zh": "zh-cn",
}

// vonageLocale returns the Verify v2 locale for a BCP 47 tag ("pt-BR" gives
// "pt-br", "de-AT" and "de" give "de-de"), or "" when Vonage has none for its
// language: Vonage then picks one from the number's country.
func vonageLocale(tag string) string {
	tag = strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	lang, rest, _ := strings.Cut(tag, "-")
	region, _, _ := strings.Cut(rest, "-")
	if l := lang + "-" + region; vonageLocales[l] {
		return l
	}
	return vonageDefaults[lang]
}
