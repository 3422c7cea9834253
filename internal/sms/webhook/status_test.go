package webhook

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const statusSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func statusRequest(t *testing.T, secret, id string, ts time.Time, body string) *http.Request {
	t.Helper()
	key, err := ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/v1/callbacks/webhook", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("webhook-id", id)
	r.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set("webhook-signature", Sign(key, id, ts.Unix(), []byte(body)))
	return r
}

func TestParseStatus(t *testing.T) {
	now := time.Unix(1_760_000_000, 0)
	good := `{"type":"message.status","data":{"id":"gw-1","status":"failed","error_code":"absent_subscriber"}}`
	st, err := ParseStatus(statusRequest(t, statusSecret, "evt_1", now, good), statusSecret, now)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Status{ProviderID: "gw-1", State: StatusFailed, ErrorCode: "absent_subscriber"}) {
		t.Fatalf("status %+v", st)
	}
	// A code that could be a phone number is dropped.
	st, err = ParseStatus(statusRequest(t, statusSecret, "evt_2", now,
		`{"type":"message.status","data":{"id":"gw-1","status":"failed","error_code":"4155550123"}}`), statusSecret, now)
	if err != nil || st.ErrorCode != "" {
		t.Fatalf("status %+v, %v: a 10-digit code kept", st, err)
	}

	other := "whsec_" + strings.Repeat("QUJD", 8)
	bad := map[string]struct {
		r    *http.Request
		want error
	}{
		"wrong secret":   {statusRequest(t, other, "evt_1", now, good), ErrSignature},
		"stale":          {statusRequest(t, statusSecret, "evt_1", now.Add(-10*time.Minute), good), ErrTimestamp},
		"not a status":   {statusRequest(t, statusSecret, "evt_1", now, `{"type":"message.send","data":{"id":"gw-1","status":"failed"}}`), ErrPayload},
		"unknown state":  {statusRequest(t, statusSecret, "evt_1", now, `{"type":"message.status","data":{"id":"gw-1","status":"lost"}}`), ErrPayload},
		"no id":          {statusRequest(t, statusSecret, "evt_1", now, `{"type":"message.status","data":{"status":"failed"}}`), ErrPayload},
		"not json":       {statusRequest(t, statusSecret, "evt_1", now, `status=failed`), ErrPayload},
		"missing header": {httptest.NewRequest("POST", "/", strings.NewReader(good)), ErrMissingHeader},
	}
	for name, c := range bad {
		if _, err := ParseStatus(c.r, statusSecret, now); err != c.want {
			t.Errorf("%s: err %v, want %v", name, err, c.want)
		}
	}
	// A body altered after signing does not verify.
	r2 := statusRequest(t, statusSecret, "evt_1", now, good)
	r2.Body = httptest.NewRequest("POST", "/", strings.NewReader(strings.Replace(good, "failed", "delivered", 1))).Body
	if _, err := ParseStatus(r2, statusSecret, now); err != ErrSignature {
		t.Errorf("altered body: err %v, want ErrSignature", err)
	}
}
