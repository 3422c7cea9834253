package vonage

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ringfence/ringfence/internal/sms"
)

// answering is a Verifier whose requests one handler answers; it records
// each request's method and path.
func answering(t *testing.T, h http.HandlerFunc) (*Verifier, func() []string) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r.Method+" "+r.URL.Path)
		mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return newVerifier(t, srv, nil), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), reqs...) }
}

func TestCheckCode(t *testing.T) {
	wrap := func(f func(http.ResponseWriter, *http.Request, map[string]any)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { f(w, r, nil) }
	}
	tests := []struct {
		name  string
		reply http.HandlerFunc
		want  string
		code  string
	}{
		{"approved", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"request_id": testUUID, "status": "completed"})
		}, sms.CheckApproved, ""},
		{"wrong", wrap(problem(400, "https://www.developer.vonage.com/api-errors/verify#invalid-code")), sms.CheckWrong, ""},
		{"expired", wrap(problem(410, "https://www.developer.vonage.com/api-errors/verify#expired")), sms.CheckExpired, ""},
		{"not found", wrap(problem(404, "https://www.developer.vonage.com/api-errors#not-found")), sms.CheckExpired, ""},
		{"no code", wrap(problem(409, "https://www.developer.vonage.com/api-errors/verify#no-code")), sms.CheckFailed, ""},
		{"rate limited", wrap(problem(429, "https://www.developer.vonage.com/api-errors#rate-limit")), "", "rate-limit"},
		{"server error", wrap(problem(500, "https://www.developer.vonage.com/api-errors#internal-error")), "", "internal-error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := answering(t, tt.reply)
			got, err := v.CheckCode(context.Background(), testUUID, testCode)
			var e *sms.Error
			switch {
			case tt.code == "" && (err != nil || got != tt.want):
				t.Errorf("CheckCode = %q, %v, want %q", got, err, tt.want)
			case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code || got != ""):
				t.Errorf("CheckCode = %q, %v, want *sms.Error %s", got, err, tt.code)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	v, reqs := answering(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	if err := v.Cancel(context.Background(), testUUID); err != nil {
		t.Fatal(err)
	}
	if got := reqs(); len(got) != 1 || got[0] != "DELETE /v2/verify/"+testUUID {
		t.Errorf("requests %v", got)
	}
	if err := v.Cancel(context.Background(), "../x"); err == nil || len(reqs()) != 1 {
		t.Error("a malformed id was canceled")
	}
}

func TestSendCode(t *testing.T) {
	const newID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	t.Run("next workflow", func(t *testing.T) {
		v, reqs := answering(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{}) })
		got, err := v.SendCode(context.Background(), "+14155550123", "sms", testUUID)
		if err != nil || got != testUUID {
			t.Fatalf("SendCode = %q, %v", got, err)
		}
		if r := reqs(); len(r) != 1 || r[0] != "POST /v2/verify/"+testUUID+"/next_workflow" {
			t.Errorf("requests %v", r)
		}
	})
	t.Run("no next workflow", func(t *testing.T) {
		v, reqs := answering(t, func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodDelete:
				w.WriteHeader(http.StatusNoContent)
			case r.URL.Path == "/v2/verify":
				writeJSON(w, 202, map[string]any{"request_id": newID})
			default:
				problem(409, "https://www.developer.vonage.com/api-errors#conflict")(w, r, nil)
			}
		})
		got, err := v.SendCode(context.Background(), "+14155550123", "sms", testUUID)
		if err != nil || got != newID {
			t.Fatalf("SendCode = %q, %v, want the new request", got, err)
		}
		want := []string{"POST /v2/verify/" + testUUID + "/next_workflow", "DELETE /v2/verify/" + testUUID, "POST /v2/verify"}
		if r := reqs(); len(r) != 3 || r[0] != want[0] || r[1] != want[1] || r[2] != want[2] {
			t.Errorf("requests %v, want %v", r, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		v, reqs := answering(t, func(w http.ResponseWriter, r *http.Request) { t.Error("a refused send was made") })
		if _, err := v.SendCode(context.Background(), "+14155550123", "call", ""); err == nil {
			t.Error("SendCode on call = nil error")
		}
		if _, err := v.SendCode(context.Background(), "+14155550123", "sms", "../x"); err == nil {
			t.Error("SendCode with a malformed ref = nil error")
		}
		if len(reqs()) != 0 {
			t.Error("requests were made")
		}
	})
}
