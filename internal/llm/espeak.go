package llm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Defaults of Espeak.
const (
	// DefaultEspeakBinary is the program Espeak runs.
	DefaultEspeakBinary = "espeak-ng"
	// DefaultEspeakVoice is the voice Espeak speaks with.
	DefaultEspeakVoice = "en-us"
	// maxEspeakText bounds the text of one call, some thirty seconds of speech.
	maxEspeakText = 4096
	// maxEspeakOutput bounds the audio read from espeak-ng: ten minutes at 22.05 kHz.
	maxEspeakOutput = 10 * 60 * 22050 * 2
)

// Espeak is a local Speaker: it runs espeak-ng (Debian package espeak-ng)
// at 160 words a minute, giving it the text on standard input, never on
// its command line, and resamples its 22.05 kHz output to PhoneRate.
type Espeak struct {
	// Binary is the program to run; empty means DefaultEspeakBinary.
	Binary string
	// Voice is the espeak-ng voice (see espeak-ng --voices), such as
	// "en-us" or "fr"; empty means DefaultEspeakVoice.
	Voice string
}

var _ Speaker = Espeak{}

// Speak returns text spoken with voice, or e.Voice when voice is empty, as
// 8 kHz audio: a WAV file for FormatWAV (or ""), raw 16-bit little-endian
// samples at 8 kHz (not 24 kHz as from OpenAI) for FormatPCM. The model is
// ignored.
func (e Espeak) Speak(ctx context.Context, text, model, voice, format string) ([]byte, error) {
	pcm, err := e.speak(ctx, text, voice)
	if err != nil {
		return nil, err
	}
	switch format {
	case FormatWAV, "":
		return EncodeWAV(pcm, PhoneRate), nil
	case FormatPCM:
		b := make([]byte, 2*len(pcm))
		for i, s := range pcm {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
		}
		return b, nil
	}
	return nil, fmt.Errorf("llm: espeak: format %q is not %q or %q", format, FormatWAV, FormatPCM)
}

// speak runs espeak-ng and returns its speech at PhoneRate.
func (e Espeak) speak(ctx context.Context, text, voice string) ([]int16, error) {
	bin := e.Binary
	if bin == "" {
		bin = DefaultEspeakBinary
	}
	if voice == "" {
		voice = e.Voice
	}
	if voice == "" {
		voice = DefaultEspeakVoice
	}
	if !validVoice(voice) {
		return nil, errors.New("llm: espeak: voice name must be letters, digits and - + _ . /")
	}
	if len(text) > maxEspeakText {
		return nil, fmt.Errorf("llm: espeak: text over %d bytes", maxEspeakText)
	}
	cmd := exec.CommandContext(ctx, bin, "--stdout", "-b", "1", "-v", voice, "-s", "160")
	cmd.Stdin = strings.NewReader(text)
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxEspeakOutput, 512
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("llm: espeak: %w", ctx.Err())
		}
		// espeak-ng's messages name the voice or the problem, never the text.
		return nil, fmt.Errorf("llm: espeak: %w: %s", err, truncate(stderr.String(), maxErrorMessage))
	}
	if stdout.over {
		return nil, fmt.Errorf("llm: espeak: over %d bytes of audio", maxEspeakOutput)
	}
	pcm, rate, err := DecodeWAV(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("llm: espeak: %w", err)
	}
	return Resample8k(pcm, rate)
}

// validVoice reports whether v is a plausible espeak-ng voice name, so
// that it cannot be read as an option.
func validVoice(v string) bool {
	if v == "" || len(v) > 64 || v[0] == '-' {
		return false
	}
	for _, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-+_./", r)
		if !ok {
			return false
		}
	}
	return true
}

// limitedBuffer keeps the first max bytes written to it and notes the rest.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		p = p[:max(room, 0)]
	}
	b.Buffer.Write(p)
	return n, nil
}
