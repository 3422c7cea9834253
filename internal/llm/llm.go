// Package llm talks to OpenAI-compatible speech and language APIs.
//
// Request and answer shapes follow OpenAI's API reference for
// "Create transcription" (POST /v1/audio/transcriptions), "Create speech"
// (POST /v1/audio/speech) and "Create chat completion"
// (POST /v1/chat/completions, streamed as server-sent events), and its error
// object ({"error": {"message", "type", "code"}}). Servers that copy those
// shapes (vLLM, llama.cpp, whisper.cpp, LocalAI, Ollama) work as well.
package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxAnswer bounds how much of a JSON answer or error body is read.
const maxAnswer = 1 << 20

// maxErrorMessage bounds how much of an API's error message an Error keeps.
const maxErrorMessage = 200

// Client calls an OpenAI-compatible API. The zero value is not usable: set
// BaseURL. Its methods are safe for concurrent use.
type Client struct {
	// BaseURL is the API root without the /v1 suffix, such as
	// "https://api.openai.com" or "http://127.0.0.1:8000".
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none (local servers).
	APIKey string
	// HTTPClient makes the requests; nil means http.DefaultClient. Give it
	// no overall Timeout when streaming long answers: cancel the context
	// instead.
	HTTPClient *http.Client
}

// Error is an API's refusal: the HTTP status and the API's error type, code
// and message, the message cut to 200 bytes. It never holds the request:
// no prompt, transcript or audio.
type Error struct {
	// Op is the call that failed: "chat", "transcribe" or "speak".
	Op string
	// Status is the HTTP status of the answer, or 200 for an error sent in
	// the middle of a stream.
	Status int
	// Type and Code are the API's error type and code, if it gave them.
	Type, Code string
	// Message is the API's error message, truncated.
	Message string
}

// Error returns a text such as "llm: chat: 401: Incorrect API key provided".
func (e *Error) Error() string {
	s := fmt.Sprintf("llm: %s: %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Temporary reports whether the same request may succeed later: the server
// was busy, rate limited or failing.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout || e.Status >= 500
}

// errBadAnswer is wrapped by errors for answers that cannot be read.
var errBadAnswer = errors.New("unreadable answer")

// post sends body to path and returns the answer when its status is 2xx.
// The caller closes the answer's body.
func (c *Client) post(ctx context.Context, op, path, contentType string, body []byte) (*http.Response, error) {
	if c.BaseURL == "" {
		return nil, fmt.Errorf("llm: %s: no BaseURL", op)
	}
	endpoint := strings.TrimRight(c.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("llm: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", contentType)
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(ctx, op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		return nil, apiError(op, resp.StatusCode, b)
	}
	return resp, nil
}

// apiError reads an OpenAI error object from body; a body that is not one
// is left out, since it could be anything (a proxy's page, an echo).
func apiError(op string, status int, body []byte) *Error {
	var answer struct {
		Error *struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
	e := &Error{Op: op, Status: status}
	if json.Unmarshal(body, &answer) == nil && answer.Error != nil {
		e.Type = truncate(answer.Error.Type, 64)
		e.Message = truncate(answer.Error.Message, maxErrorMessage)
		var code string
		if json.Unmarshal(answer.Error.Code, &code) != nil {
			code = strings.Trim(string(answer.Error.Code), `"`)
			if code == "null" {
				code = ""
			}
		}
		e.Code = truncate(code, 64)
	}
	return e
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// transportError wraps ctx.Err() when ctx ended, else the transport's own
// failure without the URL of a *url.Error.
func transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("llm: %s: %w", op, ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("llm: %s: %w", op, err)
}
