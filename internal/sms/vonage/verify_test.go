package vonage

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/sms"
)

func newVerifier(t *testing.T, srv *httptest.Server, mod func(*VerifyConfig)) *Verifier {
	t.Helper()
	cfg := VerifyConfig{APIKey: testKey, APISecret: testSecret, Brand: "Ringfence", BaseURL: srv.URL, HTTPClient: srv.Client()}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestStart(t *testing.T) {
	f, srv := newFake(t)
	v := newVerifier(t, srv, nil)
	id, err := v.Start(context.Background(), testTo, "es_ES")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if id != testUUID {
		t.Errorf("request id = %q", id)
	}
	path, body := f.last()
	if path != "/v2/verify" {
		t.Errorf("path = %s", path)
	}
	if body["brand"] != "Ringfence" || body["code_length"] != 6.0 || body["locale"] != "es-es" || len(body) != 4 {
		t.Errorf("body = %v", body)
	}
	wf, _ := body["workflow"].([]any)
	if len(wf) != 1 {
		t.Fatalf("workflow = %v", body["workflow"])
	}
	step, _ := wf[0].(map[string]any)
	if step["channel"] != "sms" || step["to"] != "447700900123" || len(step) != 2 {
		t.Errorf("workflow step = %v", step)
	}
}

func TestStartLocale(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"pt-BR", "pt-br"},
		{"pt", "pt-pt"},
		{"fr", "fr-fr"},
		{"fr_CA", "fr-ca"},
		{"de-AT", "de-de"},
		{"en-US-x-private", "en-us"},
		{"zh-Hant-TW", "zh-cn"},
		{"xx-yy", ""},
		{"e1-us", ""},
		{"../../x", ""},
	}
	for _, tt := range tests {
		f, srv := newFake(t)
		v := newVerifier(t, srv, func(c *VerifyConfig) { c.CodeLength = 8 })
		if _, err := v.Start(context.Background(), testTo, tt.in); err != nil {
			t.Fatalf("Start: %v", err)
		}
		_, body := f.last()
		got, _ := body["locale"].(string)
		if got != tt.want {
			t.Errorf("locale for %q = %q, want %q", tt.in, got, tt.want)
		}
		if body["code_length"] != 8.0 {
			t.Errorf("code_length = %v", body["code_length"])
		}
	}
}

func TestStartErrors(t *testing.T) {
	cases := errorCases(http.StatusAccepted, map[string]any{"request_id": testUUID})
	cases = append(cases, []struct {
		name      string
		reply     func(http.ResponseWriter, *http.Request, map[string]any)
		code      string
		status    int
		temporary bool
	}{
		{"concurrent", problem(409, "https://www.developer.vonage.com/api-errors/verify#concurrent"), "concurrent", 409, false},
		{"rate limit", problem(429, "https://www.developer.vonage.com/api-errors#rate-limit"), "rate-limit", 429, true},
		{"id not a uuid", func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			writeJSON(w, 202, map[string]any{"request_id": "../../" + testTo})
		}, sms.CodeBadResponse, 202, false},
	}...)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.reply = tt.reply
			v := newVerifier(t, srv, nil)
			id, err := v.Start(context.Background(), testTo, "")
			var e *sms.Error
			if !errors.As(err, &e) || id != "" {
				t.Fatalf("Start = %q, %v, want *sms.Error", id, err)
			}
			if e.Code != tt.code || e.Status != tt.status || e.Temporary != tt.temporary {
				t.Errorf("err = %+v, want code %s status %d temporary %v", e, tt.code, tt.status, tt.temporary)
			}
			assertSafe(t, err)
		})
	}
}

func TestStartRefused(t *testing.T) {
	f, srv := newFake(t)
	v := newVerifier(t, srv, nil)
	for _, to := range []string{"", "+", "447700900123x", "+0447700900"} {
		_, err := v.Start(context.Background(), to, "")
		var e *sms.Error
		if !errors.As(err, &e) || e.Code != sms.CodeInvalidMessage {
			t.Errorf("Start(%q) err = %v", to, err)
		}
	}
	if f.calls.Load() != 0 {
		t.Error("Vonage called")
	}
}

func TestCheck(t *testing.T) {
	f, srv := newFake(t)
	v := newVerifier(t, srv, nil)
	ok, err := v.Check(context.Background(), testUUID, testCode)
	if err != nil || !ok {
		t.Fatalf("Check = %v, %v, want true", ok, err)
	}
	path, body := f.last()
	if path != "/v2/verify/"+testUUID || body["code"] != testCode || len(body) != 1 {
		t.Errorf("request = %s %v", path, body)
	}
	ok, err = v.Check(context.Background(), testUUID, "000000")
	if err != nil || ok {
		t.Fatalf("wrong code: Check = %v, %v, want false, nil", ok, err)
	}
}

func TestCheckErrors(t *testing.T) {
	cases := errorCases(http.StatusOK, map[string]any{"status": "completed"})
	cases = append(cases, []struct {
		name      string
		reply     func(http.ResponseWriter, *http.Request, map[string]any)
		code      string
		status    int
		temporary bool
	}{
		{"not found", problem(404, "https://www.developer.vonage.com/api-errors#not-found"), "not-found", 404, false},
		{"no code step", problem(409, "https://www.developer.vonage.com/api-errors/verify#no-code"), "no-code", 409, false},
		{"expired", problem(410, "https://www.developer.vonage.com/api-errors/verify#expired"), "expired", 410, false},
		{"other bad request", problem(400, "https://www.developer.vonage.com/api-errors#invalid-params"), "invalid-params", 400, false},
		{"invalid code with other status", problem(422, "https://www.developer.vonage.com/api-errors/verify#invalid-code"), "invalid-code", 422, false},
		{"other status", func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			writeJSON(w, 200, map[string]any{"request_id": testUUID, "status": "pending"})
		}, sms.CodeBadResponse, 200, false},
	}...)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.reply = tt.reply
			v := newVerifier(t, srv, nil)
			ok, err := v.Check(context.Background(), testUUID, testCode)
			var e *sms.Error
			if !errors.As(err, &e) || ok {
				t.Fatalf("Check = %v, %v, want *sms.Error", ok, err)
			}
			if e.Code != tt.code || e.Status != tt.status || e.Temporary != tt.temporary {
				t.Errorf("err = %+v, want code %s status %d temporary %v", e, tt.code, tt.status, tt.temporary)
			}
			assertSafe(t, err)
		})
	}
}

func TestCheckRefused(t *testing.T) {
	f, srv := newFake(t)
	v := newVerifier(t, srv, nil)
	tests := []struct{ id, code string }{
		{"", testCode},
		{"../" + testUUID, testCode},
		{testUUID + "?x=1", testCode},
		{testUUID, ""},
		{testUUID, "123"},
		{testUUID, "12345678901"},
		{testUUID, "12 345"},
	}
	for _, tt := range tests {
		ok, err := v.Check(context.Background(), tt.id, tt.code)
		var e *sms.Error
		if !errors.As(err, &e) || e.Code != sms.CodeInvalidMessage || ok {
			t.Errorf("Check(%q, %q) = %v, %v", tt.id, tt.code, ok, err)
		}
	}
	if f.calls.Load() != 0 {
		t.Error("Vonage called")
	}
}

func TestVerifierContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f, srv := newFake(t)
	f.reply = hang(release)
	v := newVerifier(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := v.Start(ctx, testTo, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start err = %v", err)
	}
	if _, err := v.Check(ctx, testUUID, testCode); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Check err = %v", err)
	}
}

func TestVerifierNetworkError(t *testing.T) {
	_, srv := newFake(t)
	v := newVerifier(t, srv, nil)
	srv.Close()
	_, err := v.Check(context.Background(), testUUID, testCode)
	var e *sms.Error
	if !errors.As(err, &e) || e.Code != sms.CodeNetwork || !e.Temporary {
		t.Fatalf("err = %v", err)
	}
	assertSafe(t, err)
	if strings.Contains(err.Error(), testUUID) {
		t.Errorf("error %q carries the request URL", err)
	}
}

func TestNewVerifier(t *testing.T) {
	good := VerifyConfig{APIKey: testKey, APISecret: testSecret, Brand: "Ringfence"}
	tests := []struct {
		name  string
		mod   func(*VerifyConfig)
		wants []string
	}{
		{"valid", func(*VerifyConfig) {}, nil},
		{"code length", func(c *VerifyConfig) { c.CodeLength = 10 }, nil},
		{"brand 16", func(c *VerifyConfig) { c.Brand = strings.Repeat("é", 16) }, nil},
		{"key", func(c *VerifyConfig) { c.APIKey = "" }, []string{"APIKey"}},
		{"secret", func(c *VerifyConfig) { c.APISecret = "" }, []string{"APISecret"}},
		{"no brand", func(c *VerifyConfig) { c.Brand = "" }, []string{"Brand"}},
		{"long brand", func(c *VerifyConfig) { c.Brand = strings.Repeat("b", 17) }, []string{"Brand"}},
		{"short code", func(c *VerifyConfig) { c.CodeLength = 3 }, []string{"CodeLength"}},
		{"long code", func(c *VerifyConfig) { c.CodeLength = 11 }, []string{"CodeLength"}},
		{"base url", func(c *VerifyConfig) { c.BaseURL = "nexmo" }, []string{"BaseURL"}},
		{"all", func(c *VerifyConfig) { *c = VerifyConfig{CodeLength: -1, BaseURL: "x"} },
			[]string{"APIKey", "APISecret", "Brand", "CodeLength", "BaseURL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			v, err := NewVerifier(cfg)
			checkConfigError(t, v != nil, err, tt.wants)
		})
	}
}
