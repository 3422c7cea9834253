package llm

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func needEspeak(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(DefaultEspeakBinary); err != nil {
		t.Skip("espeak-ng is not installed")
	}
}

func TestEspeak(t *testing.T) {
	needEspeak(t)
	ctx := context.Background()
	wav, err := Espeak{}.Speak(ctx, "Hello, you are talking with an AI assistant.", "", "", FormatWAV)
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, err := DecodeWAV(wav)
	if err != nil || rate != PhoneRate {
		t.Fatalf("rate %d, %v", rate, err)
	}
	if d := time.Duration(len(pcm)) * time.Second / PhoneRate; d < time.Second || d > 6*time.Second {
		t.Errorf("%v of speech", d)
	}
	var peak int16
	for _, s := range pcm {
		peak = max(peak, s)
	}
	if peak < 1000 {
		t.Errorf("peak %d: silence", peak)
	}
	raw, err := Espeak{Voice: "en"}.Speak(ctx, "Hello.", "", "", FormatPCM)
	if err != nil || len(raw) == 0 || len(raw)%2 != 0 {
		t.Errorf("pcm: %d bytes, %v", len(raw), err)
	}
}

// The text is never read as options: it goes on standard input.
func TestEspeakTextIsNotAnOption(t *testing.T) {
	needEspeak(t)
	wav, err := Espeak{}.Speak(context.Background(), "--help -w /tmp/espeak-test.wav", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if pcm, _, err := DecodeWAV(wav); err != nil || len(pcm) < PhoneRate/2 {
		t.Errorf("%d samples, %v", len(pcm), err)
	}
}

func TestEspeakErrors(t *testing.T) {
	needEspeak(t)
	ctx := context.Background()
	for _, voice := range []string{"-w", "en us", "en;rm", strings.Repeat("x", 65)} {
		if _, err := (Espeak{}).Speak(ctx, "hi", "", voice, ""); err == nil {
			t.Errorf("voice %q: no error", voice)
		}
	}
	_, err := Espeak{Voice: "qqq"}.Speak(ctx, "my secret words", "", "", "")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("unknown voice: %v", err)
	}
	if _, err := (Espeak{}).Speak(ctx, strings.Repeat("a ", 3000), "", "", ""); err == nil {
		t.Error("long text: no error")
	}
	if _, err := (Espeak{}).Speak(ctx, "hi", "", "", "mp3"); err == nil {
		t.Error("mp3: no error")
	}
	if _, err := (Espeak{Binary: "/nonexistent/espeak"}).Speak(ctx, "hi", "", "", ""); err == nil {
		t.Error("missing binary: no error")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (Espeak{}).Speak(cancelled, "hi", "", "", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
