// Package telnyx sends messages through Telnyx Messaging (API v2) and reads its
// signed delivery webhooks.
//
// Request and answer shapes follow Telnyx's API v2 reference for "Send a message"
// (POST /v2/messages) and its error object ({"errors":[{"code","title","detail"}]}).
package telnyx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

// DefaultBaseURL is the Telnyx API root.
const DefaultBaseURL = "https://api.telnyx.com"

// name is the provider name in errors.
const name = "telnyx"

// maxResponse bounds how much of an answer is read.
const maxResponse = 64 << 10

// Config is what a Sender needs to reach Telnyx.
type Config struct {
	// APIKey is the Telnyx API v2 key, sent as a bearer token.
	APIKey string
	// From is the sending number in E.164 form (or an alphanumeric sender id).
	From string
	// MessagingProfileID lets Telnyx pick the sender from a profile's number pool.
	// When both are set both are sent: From is the sender and the profile's
	// settings apply.
	MessagingProfileID string
	// BaseURL is the API root; empty means DefaultBaseURL.
	BaseURL string
	// HTTPClient makes the requests; nil means a client with a 30 second timeout.
	// Redirects are never followed, whichever client is used.
	HTTPClient *http.Client
}

// Sender sends messages through Telnyx. Telnyx does not drop a repeated request,
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
	if cfg.APIKey == "" {
		errs = append(errs, errors.New("telnyx: APIKey is required"))
	}
	if cfg.From == "" && cfg.MessagingProfileID == "" {
		errs = append(errs, errors.New("telnyx: From or MessagingProfileID is required"))
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("telnyx: BaseURL must be an http or https URL"))
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
	return &Sender{cfg: cfg, endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/v2/messages", client: client}, nil
}

// Name returns "telnyx".
func (s *Sender) Name() string { return name }

// message is the body of POST /v2/messages.
type message struct {
	From               string `json:"from,omitempty"`
	MessagingProfileID string `json:"messaging_profile_id,omitempty"`
	To                 string `json:"to"`
	Text               string `json:"text"`
}

// Send creates a Telnyx SMS for m (Telnyx Messaging has no WhatsApp or voice
// channel). It returns *sms.Error with the code of Telnyx's first error ("40300"),
// never its title or detail, which may echo the number; or an error wrapping
// ctx.Err().
func (s *Sender) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	if m.Channel != sms.SMS && m.Channel != "" {
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeUnsupportedChannel}
	}
	if !strings.HasPrefix(m.To, "+") || m.Body == "" {
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	body, err := json.Marshal(message{From: s.cfg.From, MessagingProfileID: s.cfg.MessagingProfileID, To: m.To, Text: m.Body})
	if err != nil {
		return sms.Result{}, fmt.Errorf("telnyx: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return sms.Result{}, fmt.Errorf("telnyx: new request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := s.client.Do(req)
	if err != nil {
		return sms.Result{}, transportError(ctx, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return sms.Result{}, transportError(ctx, err)
	}
	if len(answer) > maxResponse {
		answer = nil // a truncated document cannot be decoded
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		var ok struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if json.Unmarshal(answer, &ok) != nil || ok.Data.ID == "" {
			// Telnyx accepted something: sending again could deliver twice.
			return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: resp.StatusCode}
		}
		return sms.Result{ProviderID: ok.Data.ID}, nil
	}
	var fail struct {
		Errors []struct {
			Code json.RawMessage `json:"code"`
		} `json:"errors"`
	}
	code := "http_" + strconv.Itoa(resp.StatusCode)
	if json.Unmarshal(answer, &fail) == nil && len(fail.Errors) > 0 {
		if c := errorCode(fail.Errors[0].Code); c != "" {
			code = c
		}
	}
	return sms.Result{}, &sms.Error{
		Provider:  name,
		Code:      code,
		Status:    resp.StatusCode,
		Temporary: temporary(resp.StatusCode),
	}
}

// errorCode returns a Telnyx error code, a JSON string or number of 1 to 6
// digits ("40300"), or "" if raw is not one: a longer run could be a number.
func errorCode(raw json.RawMessage) string {
	s := strings.Trim(string(raw), `"`)
	if len(s) == 0 || len(s) > 6 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
	}
	return s
}

// temporary reports whether a request answered with status may succeed later.
func temporary(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// transportError turns a failure to exchange a request into an error wrapping
// ctx.Err() if ctx ended, else a temporary *sms.Error. The URL in a *url.Error is
// dropped: only the transport's own text is kept.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("telnyx: %w", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &sms.Error{Provider: name, Code: sms.CodeNetwork, Temporary: true, Err: err}
}
