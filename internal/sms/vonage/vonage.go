// Package vonage sends messages through the Vonage Messages API and checks codes
// through Vonage Verify v2.
//
// Request and answer shapes follow Vonage's API reference as published for
// Messages API v1 (POST /v1/messages) and Verify API v2 (POST /v2/verify), with
// errors in RFC 7807 problem form whose "type" URL ends in the error's code
// ("https://developer.nexmo.com/api-errors/messages-olympus#1120").
package vonage

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

// DefaultBaseURL is the Vonage API root.
const DefaultBaseURL = "https://api.nexmo.com"

// name is the provider name in errors.
const name = "vonage"

// maxResponse bounds how much of an answer is read.
const maxResponse = 64 << 10

// Config is what a Sender needs to reach the Messages API.
type Config struct {
	// APIKey and APISecret authenticate requests (HTTP Basic).
	APIKey    string
	APISecret string
	// From is the SMS sender: a number in E.164 form (the "+" is dropped, as
	// Vonage wants digits only) or an alphanumeric sender id.
	From string
	// WhatsAppFrom is the WhatsApp Business number, in E.164 form; empty means From.
	WhatsAppFrom string
	// BaseURL is the API root; empty means DefaultBaseURL.
	BaseURL string
	// HTTPClient makes the requests; nil means a client with a 30 second timeout.
	// Redirects are never followed, whichever client is used.
	HTTPClient *http.Client
}

// Sender sends messages through the Vonage Messages API. Vonage does not drop a
// repeated request, so Sender is not a sms.Deduplicator.
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
		errs = append(errs, errors.New("vonage: APIKey is required"))
	}
	if cfg.APISecret == "" {
		errs = append(errs, errors.New("vonage: APISecret is required"))
	}
	if cfg.From == "" {
		errs = append(errs, errors.New("vonage: From is required"))
	}
	if cfg.WhatsAppFrom != "" && digits(cfg.WhatsAppFrom) == "" {
		errs = append(errs, errors.New("vonage: WhatsAppFrom must be a number in E.164 form"))
	}
	base, err := baseURL(cfg.BaseURL)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Sender{cfg: cfg, endpoint: base + "/v1/messages", client: newClient(cfg.HTTPClient)}, nil
}

// Name returns "vonage".
func (s *Sender) Name() string { return name }

// message is the body of POST /v1/messages for a text message.
type message struct {
	MessageType string `json:"message_type"`
	Channel     string `json:"channel"`
	To          string `json:"to"`
	From        string `json:"from"`
	Text        string `json:"text"`
	ClientRef   string `json:"client_ref,omitempty"`
}

// Send creates a Vonage text message for m on the SMS or WhatsApp channel. m.ID is
// sent as client_ref, which Vonage echoes in status callbacks. It returns
// *sms.Error whose Code is Vonage's error code from the problem "type" (never its
// title or detail, which may echo the number), or an error wrapping ctx.Err().
func (s *Sender) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	msg := message{MessageType: "text", To: digits(m.To), Text: m.Body}
	switch m.Channel {
	case sms.SMS, "":
		msg.Channel = "sms"
		msg.From = strings.TrimPrefix(s.cfg.From, "+")
	case sms.WhatsApp:
		msg.Channel = "whatsapp"
		msg.From = digits(s.cfg.WhatsAppFrom)
		if msg.From == "" {
			msg.From = strings.TrimPrefix(s.cfg.From, "+")
		}
	default:
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeUnsupportedChannel}
	}
	if msg.To == "" || m.Body == "" {
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeInvalidMessage}
	}
	if len(m.ID) <= 100 { // Vonage's limit; a longer id is only not echoed
		msg.ClientRef = m.ID
	}
	var ok struct {
		MessageUUID string `json:"message_uuid"`
	}
	status, err := do(ctx, s.client, s.endpoint, s.cfg.APIKey, s.cfg.APISecret, msg, &ok)
	if err != nil {
		return sms.Result{}, err
	}
	if ok.MessageUUID == "" {
		// Vonage accepted something: sending again could deliver twice.
		return sms.Result{}, &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: status}
	}
	return sms.Result{ProviderID: ok.MessageUUID}, nil
}

// digits returns an E.164 number ("+447700900000") as Vonage wants it
// ("447700900000"), or "" if it is not one.
func digits(e164 string) string {
	d := strings.TrimPrefix(e164, "+")
	if len(d) < 2 || len(d) > 15 || d[0] == '0' {
		return ""
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return ""
		}
	}
	return d
}

// do posts in as JSON to endpoint and decodes a 2xx answer into out. A 2xx
// answer that is not a readable JSON document gives a CodeBadResponse *sms.Error;
// any other answer gives the problem's code as an *sms.Error.
func do(ctx context.Context, client *http.Client, endpoint, key, secret string, in, out any) (int, error) {
	return request(ctx, client, http.MethodPost, endpoint, key, secret, in, out)
}

// request is do with any method; a nil in sends no body, a nil out reads no answer.
func request(ctx context.Context, client *http.Client, method, endpoint, key, secret string, in, out any) (int, error) {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("vonage: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, body)
	if err != nil {
		return 0, fmt.Errorf("vonage: new request: %w", err)
	}
	req.SetBasicAuth(key, secret)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")

	resp, err := client.Do(req)
	if err != nil {
		return 0, transportError(ctx, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, transportError(ctx, err)
	}
	if len(answer) > maxResponse {
		answer = nil // a truncated document cannot be decoded
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out != nil && json.Unmarshal(answer, out) != nil {
			return resp.StatusCode, &sms.Error{Provider: name, Code: sms.CodeBadResponse, Status: resp.StatusCode}
		}
		return resp.StatusCode, nil
	}
	return resp.StatusCode, &sms.Error{
		Provider:  name,
		Code:      problemCode(answer, resp.StatusCode),
		Status:    resp.StatusCode,
		Temporary: temporary(resp.StatusCode),
	}
}

// problemCode returns the code of an RFC 7807 problem document: the fragment of
// its "type" URL or, without one, the URL's last path segment. Title, detail and
// instance are never read: they may echo the number. A document without a usable
// code gives "http_<status>".
func problemCode(doc []byte, status int) string {
	fallback := "http_" + strconv.Itoa(status)
	var p struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(doc, &p) != nil || p.Type == "" {
		return fallback
	}
	if code := typeCode(p.Type); code != "" {
		return code
	}
	return fallback
}

// typeCode returns the code a problem type URL names, or "" if it names none that
// is safe to keep: 1 to 64 letters, digits, '-' or '_', and if only digits, at
// most 6 of them (Vonage's numeric codes have 4; a longer run could be a number).
func typeCode(typ string) string {
	u, err := url.Parse(typ)
	if err != nil {
		return ""
	}
	code := u.Fragment
	if code == "" {
		p := strings.TrimRight(u.Path, "/")
		code = p[strings.LastIndex(p, "/")+1:]
	}
	if len(code) == 0 || len(code) > 64 || allDigits(code) && len(code) > 6 {
		return ""
	}
	for _, c := range code {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return code
}

// allDigits reports whether s is only ASCII digits.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// baseURL checks and normalises a configured API root.
func baseURL(raw string) (string, error) {
	if raw == "" {
		raw = DefaultBaseURL
	}
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("vonage: BaseURL must be an http or https URL")
	}
	return strings.TrimRight(raw, "/"), nil
}

// newClient returns a copy of c (or a client with a 30 second timeout) that never
// follows redirects.
func newClient(c *http.Client) *http.Client {
	client := &http.Client{Timeout: 30 * time.Second}
	if c != nil {
		cc := *c
		client = &cc
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return client
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
		return fmt.Errorf("vonage: %w", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &sms.Error{Provider: name, Code: sms.CodeNetwork, Temporary: true, Err: err}
}
