package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTranscribe(t *testing.T) {
	wav := EncodeWAV([]int16{1, 2, 3, -4}, PhoneRate)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/transcriptions" {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer sk-test" {
			t.Errorf("Authorization = %q", got)
		}
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			t.Fatal(err)
		}
		f, h, err := r.FormFile("file")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		if !bytes.Equal(got, wav) || h.Filename != "audio.wav" || h.Header.Get("Content-Type") != "audio/wav" {
			t.Errorf("file %q (%d bytes, %v)", h.Filename, len(got), h.Header)
		}
		for k, want := range map[string]string{"model": "whisper-1", "response_format": "json", "language": "en"} {
			if v := r.FormValue(k); v != want {
				t.Errorf("%s = %q, want %q", k, v, want)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"text":" Hello, is anyone there? "}`))
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, APIKey: "sk-test"}
	text, err := c.Transcribe(context.Background(), wav, "whisper-1", "en")
	if err != nil || text != "Hello, is anyone there?" {
		t.Errorf("got %q, %v", text, err)
	}
}

func TestTranscribeErrors(t *testing.T) {
	for _, tc := range apiErrors {
		t.Run(tc.name, func(t *testing.T) {
			_, err := errorServer(t, tc.status, tc.body).Transcribe(context.Background(), EncodeWAV(nil, PhoneRate), "whisper-1", "")
			var e *Error
			if !errors.As(err, &e) || e.Op != "transcribe" || e.Status != tc.status || e.Code != tc.code {
				t.Errorf("got %v", err)
			}
		})
	}
	for _, body := range []string{`{"txt":"x"}`, `not json`, ``} {
		if _, err := errorServer(t, 200, body).Transcribe(context.Background(), nil, "m", ""); err == nil {
			t.Errorf("answer %q: no error", body)
		}
	}
	// An empty transcript is an answer, not an error: the caller said nothing.
	if text, err := errorServer(t, 200, `{"text":""}`).Transcribe(context.Background(), nil, "m", ""); err != nil || text != "" {
		t.Errorf("empty transcript: %q, %v", text, err)
	}
}

func TestSpeak(t *testing.T) {
	audio := EncodeWAV([]int16{5, 6, 7}, 24000)
	for _, format := range []string{"", FormatWAV, FormatPCM} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/speech" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("got %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			}
			var req map[string]any
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"model": "tts-1", "input": "Hello.", "voice": "alloy", "response_format": format}
			if format == "" {
				want["response_format"] = FormatWAV
			}
			for k, v := range want {
				if req[k] != v {
					t.Errorf("%s = %v, want %v", k, req[k], v)
				}
			}
			w.Header().Set("Content-Type", "audio/wav")
			w.Write(audio)
		}))
		got, err := (&Client{BaseURL: srv.URL}).Speak(context.Background(), "Hello.", "tts-1", "alloy", format)
		srv.Close()
		if err != nil || !bytes.Equal(got, audio) {
			t.Errorf("format %q: %d bytes, %v", format, len(got), err)
		}
	}
}

func TestSpeakErrors(t *testing.T) {
	if _, err := (&Client{BaseURL: "http://127.0.0.1:1"}).Speak(context.Background(), "x", "tts-1", "alloy", "mp3"); err == nil {
		t.Error("mp3: no error")
	}
	for _, tc := range apiErrors {
		t.Run(tc.name, func(t *testing.T) {
			_, err := errorServer(t, tc.status, tc.body).Speak(context.Background(), "my secret prompt", "tts-1", "alloy", "wav")
			var e *Error
			if !errors.As(err, &e) || e.Op != "speak" || e.Status != tc.status {
				t.Errorf("got %v", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q holds the request", err)
			}
		})
	}
	if _, err := errorServer(t, 200, "").Speak(context.Background(), "x", "tts-1", "alloy", "wav"); err == nil {
		t.Error("no audio: no error")
	}
}
