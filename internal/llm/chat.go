package llm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// Roles of a chat message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one message of a chat.
type Message struct {
	Role    string `json:"role"` // RoleSystem, RoleUser or RoleAssistant
	Content string `json:"content"`
}

// ChatRequest is what Chat asks the model.
type ChatRequest struct {
	// Model names the model, such as "gpt-4o-mini".
	Model string
	// Messages is the conversation so far, oldest first.
	Messages []Message
	// Temperature, when not nil, is the sampling temperature (0 to 2).
	Temperature *float64
	// MaxTokens, when positive, caps the answer's length in tokens.
	MaxTokens int
}

// chatBody is the body of POST /v1/chat/completions.
type chatBody struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Stream      bool      `json:"stream"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
}

// maxEvent bounds one server-sent event of a stream.
const maxEvent = 1 << 20

// Chat asks for the next assistant message, streamed: onToken, when not
// nil, gets each piece of text as it arrives, and Chat returns the whole
// text once the stream says [DONE]. Cancelling ctx stops the stream at
// once (barge-in); Chat then returns the text received so far with an
// error wrapping ctx.Err(). An API error, before the stream or in it, is
// an *Error. A server that ignores "stream" and answers with one JSON
// completion is read as well.
func (c *Client) Chat(ctx context.Context, req ChatRequest, onToken func(string)) (string, error) {
	if onToken == nil {
		onToken = func(string) {}
	}
	body, err := json.Marshal(chatBody{
		Model:       req.Model,
		Messages:    req.Messages,
		Stream:      true,
		Temperature: req.Temperature,
		MaxTokens:   req.MaxTokens,
	})
	if err != nil {
		return "", fmt.Errorf("llm: chat: %w", err)
	}
	resp, err := c.post(ctx, "chat", "/v1/chat/completions", "application/json", body)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		return readCompletion(ctx, resp.Body, onToken)
	}
	var text strings.Builder
	finished := false
	err = readEvents(resp.Body, func(data []byte) (bool, error) {
		if bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) {
			return true, nil
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(data, &chunk); err != nil {
			return false, fmt.Errorf("%w: chunk: %v", errBadAnswer, err)
		}
		if len(chunk.Error) > 0 && string(chunk.Error) != "null" {
			return false, apiError("chat", 200, append(append([]byte(`{"error":`), chunk.Error...), '}'))
		}
		if len(chunk.Choices) == 0 {
			return false, nil // a usage chunk, or a keep-alive
		}
		ch := chunk.Choices[0]
		if ch.Delta.Content != nil && *ch.Delta.Content != "" {
			text.WriteString(*ch.Delta.Content)
			onToken(*ch.Delta.Content)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			finished = true
		}
		return false, nil
	})
	switch {
	case err == nil:
		return text.String(), nil
	case errors.Is(err, io.EOF) && finished:
		return text.String(), nil // a server that omits [DONE] after finishing
	case ctx.Err() != nil:
		return text.String(), fmt.Errorf("llm: chat: %w", ctx.Err())
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return text.String(), apiErr
	}
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: stream ended before [DONE]", errBadAnswer)
	}
	return text.String(), fmt.Errorf("llm: chat: %w", err)
}

// readCompletion reads a chat completion that was not streamed.
func readCompletion(ctx context.Context, r io.Reader, onToken func(string)) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxAnswer))
	if err != nil {
		return "", transportError(ctx, "chat", err)
	}
	var answer struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &answer); err != nil || len(answer.Choices) == 0 {
		return "", fmt.Errorf("llm: chat: %w", errBadAnswer)
	}
	text := answer.Choices[0].Message.Content
	if text != "" {
		onToken(text)
	}
	return text, nil
}

// readEvents reads server-sent events from r and hands the data of each
// (its data: lines joined by newlines) to fn, until fn says done (nil
// returned), fn fails, or r ends (io.EOF) or fails. Comments, and the
// event, id and retry fields, are skipped.
func readEvents(r io.Reader, fn func(data []byte) (done bool, err error)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var data []byte
	have := false
	for {
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) && have {
				if done, ferr := fn(data); ferr != nil || done {
					return ferr
				}
			}
			return err
		}
		if len(line) == 0 { // end of an event
			if have {
				if done, err := fn(data); err != nil || done {
					return err
				}
			}
			data, have = data[:0], false
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if string(field) != "data" {
			continue
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if have {
			data = append(data, '\n')
		}
		if len(data)+len(value) > maxEvent {
			return fmt.Errorf("%w: event over %d bytes", errBadAnswer, maxEvent)
		}
		data, have = append(data, value...), true
	}
}

// readLine returns the next line without its end (LF, CRLF or CR LF), or
// an error for one longer than maxEvent.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		line = append(line, part...)
		if len(line) > maxEvent+16 {
			return nil, fmt.Errorf("%w: line over %d bytes", errBadAnswer, maxEvent)
		}
		switch {
		case err == nil:
			return bytes.TrimRight(line, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return bytes.TrimRight(line, "\r\n"), nil
		default:
			return nil, err
		}
	}
}
