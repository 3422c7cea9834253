package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// chunk returns one chat.completion.chunk event as OpenAI streams it.
func chunk(delta, finish string) string {
	fin := "null"
	if finish != "" {
		fin = `"` + finish + `"`
	}
	d := "{}"
	if delta != "" {
		b, _ := json.Marshal(map[string]string{"content": delta})
		d = string(b)
	}
	return `data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,` +
		`"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":` + d +
		`,"logprobs":null,"finish_reason":` + fin + `}]}` + "\n\n"
}

// first is the role-only chunk OpenAI sends first.
const first = `data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n"

// streamServer answers chat requests with body, after checking the request.
func streamServer(t *testing.T, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer sk-test" {
			t.Errorf("Authorization = %q", got)
		}
		var req struct {
			Model    string    `json:"model"`
			Messages []Message `json:"messages"`
			Stream   bool      `json:"stream"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Error(err)
		}
		if !req.Stream || req.Model != "gpt-4o-mini" || len(req.Messages) != 2 || req.Messages[1].Role != RoleUser {
			t.Errorf("request = %+v", req)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for part := range strings.SplitSeq(body, "|") {
			fmt.Fprint(w, part)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return &Client{BaseURL: srv.URL + "/", APIKey: "sk-test"}
}

var chatReq = ChatRequest{Model: "gpt-4o-mini", Messages: []Message{
	{Role: RoleSystem, Content: "Be brief."},
	{Role: RoleUser, Content: "my secret prompt"},
}}

func TestChatStream(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string
		tokens     int
	}{
		{"openai", first + chunk("Hello", "") + "|" + chunk(" there.", "") + chunk("", "stop") + "data: [DONE]\n\n", "Hello there.", 2},
		{"crlf and comments", ": keep-alive\r\n\r\n" + strings.ReplaceAll(chunk("Hi", "")+"event: message\nid: 7\n"+chunk("!", "stop"), "\n", "\r\n") + "data: [DONE]\r\n\r\n", "Hi!", 2},
		{"no space after colon", "data:" + strings.TrimPrefix(chunk("x", "stop"), "data: ") + "data:[DONE]\n\n", "x", 1},
		{"usage chunk", chunk("a", "stop") + `data: {"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}` + "\n\ndata: [DONE]\n\n", "a", 1},
		{"finished without DONE", chunk("b", "") + chunk("", "stop"), "b", 1},
		{"unicode split across chunks", chunk("caf", "") + chunk("é ☕", "stop") + "data: [DONE]\n\n", "café ☕", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := streamServer(t, tc.body)
			var tokens []string
			got, err := c.Chat(context.Background(), chatReq, func(s string) { tokens = append(tokens, s) })
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || strings.Join(tokens, "") != tc.want || len(tokens) != tc.tokens {
				t.Errorf("got %q, tokens %q, want %q in %d", got, tokens, tc.want, tc.tokens)
			}
		})
	}
}

func TestChatStreamFailures(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		partial    string
		apiErr     bool
	}{
		{"ends early", chunk("half", ""), "half", false},
		{"bad json", chunk("ok", "") + "data: {not json\n\n", "ok", false},
		{"error in stream", chunk("ok", "") + `data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","code":null}}` + "\n\n", "ok", true},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := streamServer(t, tc.body)
			got, err := c.Chat(context.Background(), chatReq, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if got != tc.partial {
				t.Errorf("partial text %q, want %q", got, tc.partial)
			}
			var e *Error
			if errors.As(err, &e) != tc.apiErr {
				t.Errorf("error %v: *Error %v, want %v", err, !tc.apiErr, tc.apiErr)
			}
			if tc.apiErr && (e.Type != "server_error" || !strings.Contains(err.Error(), "server had an error")) {
				t.Errorf("error %#v", e)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q holds the request", err)
			}
		})
	}
}

// errorServer answers every request with status and body.
func errorServer(t *testing.T, status int, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return &Client{BaseURL: srv.URL}
}

// apiErrors are error answers as OpenAI documents them.
var apiErrors = []struct {
	name      string
	status    int
	body      string
	code      string
	message   string
	temporary bool
}{
	{"bad key", 401, `{"error":{"message":"Incorrect API key provided: sk-abc***. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, "invalid_api_key", "Incorrect API key provided", false},
	{"rate limited", 429, `{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`, "rate_limit_exceeded", "Rate limit reached", true},
	{"overloaded", 503, `{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":null}}`, "", "overloaded", true},
	{"long message", 400, `{"error":{"message":"` + strings.Repeat("x", 5000) + `","type":"invalid_request_error","code":"context_length_exceeded"}}`, "context_length_exceeded", strings.Repeat("x", 200) + "…", false},
	{"not json", 502, `<html><body>Bad gateway: my secret prompt</body></html>`, "", "", true},
	{"numeric code", 400, `{"error":{"message":"bad","code":400}}`, "400", "bad", false},
}

func TestChatErrors(t *testing.T) {
	for _, tc := range apiErrors {
		t.Run(tc.name, func(t *testing.T) {
			c := errorServer(t, tc.status, tc.body)
			_, err := c.Chat(context.Background(), chatReq, nil)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not *Error", err)
			}
			if e.Op != "chat" || e.Status != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.message) || e.Temporary() != tc.temporary {
				t.Errorf("got %#v", e)
			}
			if len(e.Message) > 210 {
				t.Errorf("message of %d bytes", len(e.Message))
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q holds the request", err)
			}
		})
	}
}

// Cancelling the context stops a stream at once: barge-in.
func TestChatCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, chunk("Once upon", ""))
		w.(http.Flusher).Flush()
		select { // a model that goes on thinking
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := &Client{BaseURL: srv.URL}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	got, err := c.Chat(ctx, chatReq, func(string) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if got != "Once upon" {
		t.Errorf("partial text %q", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
}

// A server that ignores "stream" and sends one completion is read too.
func TestChatNotStreamed(t *testing.T) {
	c := errorServer(t, 200, `{"id":"chatcmpl-123","object":"chat.completion","created":1677652288,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}`)
	var tokens []string
	got, err := c.Chat(context.Background(), chatReq, func(s string) { tokens = append(tokens, s) })
	if err != nil || got != "Hello there." || len(tokens) != 1 {
		t.Errorf("got %q, %q, %v", got, tokens, err)
	}
}

func TestChatTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	_, err := (&Client{BaseURL: srv.URL}).Chat(context.Background(), chatReq, nil)
	if err == nil || strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %v", err)
	}
	if _, err := (&Client{}).Chat(context.Background(), chatReq, nil); err == nil {
		t.Error("no error without BaseURL")
	}
}
