// Package webhook sends messages to an HTTP gateway, signed per the Standard
// Webhooks specification (standardwebhooks.com).
package webhook

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
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

// name is the provider name in errors.
const name = "webhook"

// maxResponse bounds how much of an answer is read.
const maxResponse = 64 << 10

// EventType is the "type" of every event Sender posts.
const EventType = "message.send"

// Config is what a Sender needs to reach the gateway.
type Config struct {
	// URL is where events are posted.
	URL string
	// Secret is the signing secret, "whsec_" followed by base64 of 24 to 64 random
	// bytes (the prefix may be left out).
	Secret string
	// HTTPClient makes the requests; nil means a client with a 30 second timeout.
	// Redirects are never followed, whichever client is used.
	HTTPClient *http.Client
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Sender posts each message as a signed "message.send" event. The webhook-id
// header is the Message.ID, stable across retries, so the receiver can drop
// repeats: Sender is a sms.Deduplicator.
type Sender struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

var (
	_ sms.Sender       = (*Sender)(nil)
	_ sms.Deduplicator = (*Sender)(nil)
)

// New returns a Sender for cfg, or an error naming every bad field.
func New(cfg Config) (*Sender, error) {
	var errs []error
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("webhook: URL must be an http or https URL"))
	}
	secret, err := ParseSecret(cfg.Secret)
	if err != nil {
		errs = append(errs, err)
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
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Sender{url: cfg.URL, secret: secret, client: client, now: now}, nil
}

// Name returns "webhook".
func (s *Sender) Name() string { return name }

// Deduplicates returns true: receivers drop a repeated webhook-id.
func (s *Sender) Deduplicates() bool { return true }

// Event is the JSON document Sender posts.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is the message inside an Event.
type Data struct {
	ID      string      `json:"id"`
	To      string      `json:"to"`
	Channel sms.Channel `json:"channel"`
	Body    string      `json:"body"`
	Locale  string      `json:"locale,omitempty"`
}

// Send posts m to the gateway. A 2xx answer is success, with the ProviderID taken
// from the answer's "id" field, or m.ID if it has none. Other answers give a
// *sms.Error with code "http_<status>": 5xx, 408 and 429 are temporary, the rest
// (3xx included, as redirects are not followed) permanent. A failure to reach the gateway is a temporary *sms.Error; an
// ended ctx gives an error wrapping ctx.Err().
func (s *Sender) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	if m.ID == "" || m.To == "" || m.Body == "" {
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	channel := m.Channel
	if channel == "" {
		channel = sms.SMS
	}
	now := s.now().UTC().Truncate(time.Second)
	body, err := json.Marshal(Event{
		Type:      EventType,
		Timestamp: now,
		Data:      Data{ID: m.ID, To: m.To, Channel: channel, Body: m.Body, Locale: m.Locale},
	})
	if err != nil {
		return sms.Result{}, fmt.Errorf("webhook: encode event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return sms.Result{}, fmt.Errorf("webhook: new request: %w", err)
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(s.secret, m.ID, ts, body))

	resp, err := s.client.Do(req)
	if err != nil {
		return sms.Result{}, transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		// The answer is not read: a gateway may echo the message in it.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		return sms.Result{}, &sms.Error{
			Provider:  name,
			Code:      "http_" + strconv.Itoa(resp.StatusCode),
			Status:    resp.StatusCode,
			Temporary: temporary(resp.StatusCode),
		}
	}
	// The message was accepted: an unreadable answer only loses the gateway's id.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	var ok struct {
		ID string `json:"id"`
	}
	if len(answer) <= maxResponse && json.Unmarshal(answer, &ok) == nil && ok.ID != "" {
		return sms.Result{ProviderID: ok.ID}, nil
	}
	return sms.Result{ProviderID: m.ID}, nil
}

// temporary reports whether a request answered with status may succeed later.
// Redirects are not followed and a 3xx means the URL is wrong: it is permanent.
func temporary(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// transportError turns a failure to exchange a request into an error wrapping
// ctx.Err() if ctx ended, else a temporary *sms.Error. The URL in a *url.Error is
// dropped: only the transport's own text is kept.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("webhook: %w", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &sms.Error{Provider: name, Code: sms.CodeNetwork, Temporary: true, Err: err}
}
