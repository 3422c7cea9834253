// Package twilio sends messages through Twilio Programmable Messaging.
package twilio

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

// DefaultBaseURL is the Twilio REST API root.
const DefaultBaseURL = "https://api.twilio.com"

// name is the provider name in errors.
const name = "twilio"

// maxResponse bounds how much of an answer is read.
const maxResponse = 64 << 10

// Config is what a Sender needs to reach Twilio.
type Config struct {
	// AccountSID is the account ("AC..."); with AuthToken it authenticates requests.
	AccountSID string
	// AuthToken is the account's auth token (or an API key secret paired with the account).
	AuthToken string
	// From is the sending number in E.164 form (or an alphanumeric sender id).
	From string
	// MessagingServiceSID ("MG...") lets Twilio pick the sender from a service's pool.
	// When both From and MessagingServiceSID are set both are sent: From is the
	// sender and the service's settings apply.
	MessagingServiceSID string
	// StatusCallbackURL, if set, is where Twilio posts the message's status
	// (read it with package twiliostatus).
	StatusCallbackURL string
	// BaseURL is the API root; empty means DefaultBaseURL.
	BaseURL string
	// HTTPClient makes the requests; nil means a client with a 30 second timeout.
	// Redirects are never followed, whichever client is used.
	HTTPClient *http.Client
}

// Sender sends messages through Twilio. Twilio does not drop a repeated request,
// so Sender is not a sms.Deduplicator.
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
		errs = append(errs, errors.New(`twilio: AccountSID must start with "AC"`))
	}
	if cfg.AuthToken == "" {
		errs = append(errs, errors.New("twilio: AuthToken is required"))
	}
	if cfg.From == "" && cfg.MessagingServiceSID == "" {
		errs = append(errs, errors.New("twilio: From or MessagingServiceSID is required"))
	}
	if cfg.MessagingServiceSID != "" && !strings.HasPrefix(cfg.MessagingServiceSID, "MG") {
		errs = append(errs, errors.New(`twilio: MessagingServiceSID must start with "MG"`))
	}
	if u, err := url.Parse(cfg.StatusCallbackURL); cfg.StatusCallbackURL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		errs = append(errs, errors.New("twilio: StatusCallbackURL must be an http or https URL"))
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("twilio: BaseURL must be an http or https URL"))
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
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json",
		client:   client,
	}, nil
}

// Name returns "twilio".
func (s *Sender) Name() string { return name }

// Send creates a Twilio message for m on the SMS or WhatsApp channel. It returns
// *sms.Error with Twilio's numeric error code (never Twilio's message text, which
// echoes the number), or an error wrapping ctx.Err().
func (s *Sender) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	prefix := ""
	switch m.Channel {
	case sms.SMS, "":
	case sms.WhatsApp:
		prefix = "whatsapp:"
	default:
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeUnsupportedChannel}
	}
	if m.To == "" || m.Body == "" {
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	form := url.Values{}
	form.Set("To", prefix+m.To)
	form.Set("Body", m.Body)
	if s.cfg.From != "" {
		form.Set("From", prefix+s.cfg.From)
	}
	if s.cfg.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", s.cfg.MessagingServiceSID)
	}
	if s.cfg.StatusCallbackURL != "" {
		form.Set("StatusCallback", s.cfg.StatusCallbackURL)
	}
	var ok struct {
		SID string `json:"sid"`
	}
	status, err := Post(ctx, s.client, name, s.endpoint, s.cfg.AccountSID, s.cfg.AuthToken, form, &ok)
	if err != nil {
		return sms.Result{}, err
	}
	if ok.SID == "" {
		// Twilio accepted something: sending again could deliver twice.
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: status}
	}
	return sms.Result{ProviderID: ok.SID}, nil
}
