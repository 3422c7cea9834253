package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"
)

// The test vector published with the Standard Webhooks specification and its
// reference libraries.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = int64(1614265330)
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignSpecVector(t *testing.T) {
	key, err := ParseSecret(specSecret)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	if got := Sign(key, specID, specTS, []byte(specBody)); got != specSig {
		t.Errorf("Sign = %s, want %s", got, specSig)
	}
}

func TestSignIndependent(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("out_42.1700000000.{}"))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := Sign(key, "out_42", 1700000000, []byte("{}")); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func specHeader(sig string, ts string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", specID)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", sig)
	return h
}

func TestVerify(t *testing.T) {
	at := time.Unix(specTS, 0)
	other := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name      string
		secret    string
		header    http.Header
		body      string
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"spec vector", specSecret, specHeader(specSig, "1614265330"), specBody, at, 0, nil},
		{"secret without prefix", specSecret[len(SecretPrefix):], specHeader(specSig, "1614265330"), specBody, at, 0, nil},
		{"rotation: second entry valid", specSecret, specHeader(other+" "+specSig, "1614265330"), specBody, at, 0, nil},
		{"other versions ignored", specSecret, specHeader("v1a,abc v2,xyz "+specSig, "1614265330"), specBody, at, 0, nil},
		{"within tolerance late", specSecret, specHeader(specSig, "1614265330"), specBody, at.Add(4 * time.Minute), 0, nil},
		{"within tolerance early", specSecret, specHeader(specSig, "1614265330"), specBody, at.Add(-4 * time.Minute), 0, nil},
		{"stale", specSecret, specHeader(specSig, "1614265330"), specBody, at.Add(6 * time.Minute), 0, ErrTimestamp},
		{"future", specSecret, specHeader(specSig, "1614265330"), specBody, at.Add(-6 * time.Minute), 0, ErrTimestamp},
		{"custom tolerance", specSecret, specHeader(specSig, "1614265330"), specBody, at.Add(2 * time.Second), time.Second, ErrTimestamp},
		{"timestamp not a number", specSecret, specHeader(specSig, "2021-02-25"), specBody, at, 0, ErrTimestamp},
		{"timestamp overflow", specSecret, specHeader(specSig, "-9223372036854775808"), specBody, at, 0, ErrTimestamp},
		{"body changed", specSecret, specHeader(specSig, "1614265330"), `{"test": 2432232315}`, at, 0, ErrSignature},
		{"wrong secret", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 24)), specHeader(specSig, "1614265330"), specBody, at, 0, ErrSignature},
		{"only other signature", specSecret, specHeader(other, "1614265330"), specBody, at, 0, ErrSignature},
		{"signature without version", specSecret, specHeader(specSig[3:], "1614265330"), specBody, at, 0, ErrSignature},
		{"signature not base64", specSecret, specHeader("v1,%%%", "1614265330"), specBody, at, 0, ErrSignature},
		{"missing id", specSecret, func() http.Header { h := specHeader(specSig, "1614265330"); h.Del("webhook-id"); return h }(), specBody, at, 0, ErrMissingHeader},
		{"missing timestamp", specSecret, specHeader(specSig, ""), specBody, at, 0, ErrMissingHeader},
		{"missing signature", specSecret, specHeader("", "1614265330"), specBody, at, 0, ErrMissingHeader},
		{"bad secret", "whsec_***", specHeader(specSig, "1614265330"), specBody, at, 0, ErrSecret},
		{"short secret", "whsec_c2hvcnQ=", specHeader(specSig, "1614265330"), specBody, at, 0, ErrSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, []byte(tt.body), tt.now, tt.tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyIDBound(t *testing.T) {
	h := specHeader(specSig, "1614265330")
	h.Set("webhook-id", "msg_other")
	if err := Verify(specSecret, h, []byte(specBody), time.Unix(specTS, 0), 0); !errors.Is(err, ErrSignature) {
		t.Errorf("Verify with another id = %v, want ErrSignature", err)
	}
}
