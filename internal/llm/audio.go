package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"
)

// maxAudio bounds the audio Speak reads: ten minutes of 24 kHz 16-bit PCM.
const maxAudio = 10 * 60 * 24000 * 2

// Speech formats Speak asks for.
const (
	// FormatWAV is a RIFF WAVE file of 16-bit PCM; DecodeWAV reads it.
	FormatWAV = "wav"
	// FormatPCM is raw 16-bit little-endian mono samples, at 24 kHz from
	// OpenAI; DecodePCM reads it.
	FormatPCM = "pcm"
)

// Speaker turns text into speech; Client and Espeak are Speakers.
type Speaker interface {
	// Speak returns text spoken by voice of model as audio in format
	// (FormatWAV or FormatPCM). It returns an *Error when an API refused,
	// and an error wrapping ctx.Err() when ctx ended first.
	Speak(ctx context.Context, text, model, voice, format string) ([]byte, error)
}

var _ Speaker = (*Client)(nil)

// Transcribe returns the text spoken in wav, a WAV file, with model (such
// as "whisper-1" or "gpt-4o-transcribe"); language, an ISO 639-1 code such
// as "en", may be empty to let the model detect it.
func (c *Client) Transcribe(ctx context.Context, wav []byte, model, language string) (string, error) {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; filename="audio.wav"`)
	h.Set("Content-Type", "audio/wav")
	part, err := w.CreatePart(h)
	if err != nil {
		return "", fmt.Errorf("llm: transcribe: %w", err)
	}
	part.Write(wav)
	fields := [][2]string{{"model", model}, {"response_format", "json"}}
	if language != "" {
		fields = append(fields, [2]string{"language", language})
	}
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return "", fmt.Errorf("llm: transcribe: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("llm: transcribe: %w", err)
	}
	resp, err := c.post(ctx, "transcribe", "/v1/audio/transcriptions", w.FormDataContentType(), body.Bytes())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", transportError(ctx, "transcribe", err)
	}
	var answer struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(b, &answer); err != nil || answer.Text == nil {
		return "", fmt.Errorf("llm: transcribe: %w", errBadAnswer)
	}
	return strings.TrimSpace(*answer.Text), nil
}

// speechBody is the body of POST /v1/audio/speech.
type speechBody struct {
	Model          string `json:"model"`
	Input          string `json:"input"`
	Voice          string `json:"voice"`
	ResponseFormat string `json:"response_format"`
}

// Speak returns text spoken by voice (such as "alloy") of model (such as
// "tts-1" or "gpt-4o-mini-tts") in format, FormatWAV or FormatPCM; empty
// means FormatWAV.
func (c *Client) Speak(ctx context.Context, text, model, voice, format string) ([]byte, error) {
	if format == "" {
		format = FormatWAV
	}
	if format != FormatWAV && format != FormatPCM {
		return nil, fmt.Errorf("llm: speak: format %q is not %q or %q", format, FormatWAV, FormatPCM)
	}
	body, err := json.Marshal(speechBody{Model: model, Input: text, Voice: voice, ResponseFormat: format})
	if err != nil {
		return nil, fmt.Errorf("llm: speak: %w", err)
	}
	resp, err := c.post(ctx, "speak", "/v1/audio/speech", "application/json", body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	audio, err := io.ReadAll(io.LimitReader(resp.Body, maxAudio+1))
	if err != nil {
		return nil, transportError(ctx, "speak", err)
	}
	if len(audio) > maxAudio {
		return nil, fmt.Errorf("llm: speak: %w: over %d bytes of audio", errBadAnswer, maxAudio)
	}
	if len(audio) == 0 {
		return nil, fmt.Errorf("llm: speak: %w: no audio", errBadAnswer)
	}
	return audio, nil
}
