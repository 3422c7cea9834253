package dialogue

import (
	"context"
	"fmt"

	"github.com/ringfence/ringfence/internal/llm"
)

// ChatModel is a Model served by an OpenAI-compatible API.
type ChatModel struct {
	Client *llm.Client
	// Model names the model, such as "gpt-4o-mini".
	Model string
	// Temperature and MaxTokens are passed on when set.
	Temperature *float64
	MaxTokens   int
}

var _ Model = ChatModel{}

// Chat streams the model's answer to msgs.
func (m ChatModel) Chat(ctx context.Context, msgs []Message, onToken func(string)) (string, error) {
	req := llm.ChatRequest{Model: m.Model, Temperature: m.Temperature, MaxTokens: m.MaxTokens}
	for _, msg := range msgs {
		req.Messages = append(req.Messages, llm.Message{Role: string(msg.Role), Content: msg.Content})
	}
	return m.Client.Chat(ctx, req, onToken)
}

// Transcriber is an STT served by an OpenAI-compatible API.
type Transcriber struct {
	Client *llm.Client
	// Model names the model, such as "whisper-1".
	Model string
	// Language is an ISO 639-1 code such as "en", or "" to detect it.
	Language string
}

var _ STT = Transcriber{}

// Transcribe sends pcm as a WAV file and returns its text.
func (t Transcriber) Transcribe(ctx context.Context, pcm []int16) (string, error) {
	return t.Client.Transcribe(ctx, llm.EncodeWAV(pcm, llm.PhoneRate), t.Model, t.Language)
}

// Speech is a TTS from an llm.Speaker: an OpenAI-compatible API
// (*llm.Client) or the local llm.Espeak.
type Speech struct {
	Speaker llm.Speaker
	// Model and Voice are passed to the Speaker, such as "tts-1" and "alloy".
	Model, Voice string
}

var _ TTS = Speech{}

// Synthesize asks for a WAV file and returns its audio at 8 kHz.
func (s Speech) Synthesize(ctx context.Context, text string) ([]int16, error) {
	wav, err := s.Speaker.Speak(ctx, text, s.Model, s.Voice, llm.FormatWAV)
	if err != nil {
		return nil, err
	}
	pcm, rate, err := llm.DecodeWAV(wav)
	if err != nil {
		return nil, fmt.Errorf("dialogue: speech: %w", err)
	}
	return llm.Resample8k(pcm, rate)
}
