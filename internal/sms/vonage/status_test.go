package vonage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testSigSecret = "sig-secret-0123456789abcdef0123456789"

var testNow = time.Unix(1_700_000_000, 0)

// statusBody is an SMS status callback as Vonage documents it.
const statusBody = `{"message_uuid":"aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab","to":"447700900123","from":"447700900001",` +
	`"timestamp":"2023-11-14T22:13:20.000Z","status":"delivered","usage":{"currency":"EUR","price":"0.0333"},` +
	`"client_ref":"out_1","channel":"sms","destination":{"network_code":"23410"},"sms":{"count_total":"1"}}`

// signJWT makes a JWT as Vonage signs callbacks, with header and claims as given.
func signJWT(secret string, header, claims map[string]any) string {
	seg := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := seg(header) + "." + seg(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func goodClaims(body string, iat time.Time) map[string]any {
	sum := sha256.Sum256([]byte(body))
	return map[string]any{
		"iat":            iat.Unix(),
		"jti":            "c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5",
		"iss":            "Vonage",
		"payload_hash":   hex.EncodeToString(sum[:]),
		"api_key":        testKey,
		"application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
	}
}

var hs256 = map[string]any{"alg": "HS256", "typ": "JWT"}

func callback(body, auth string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/vonage/status", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func TestParseStatus(t *testing.T) {
	tok := signJWT(testSigSecret, hs256, goodClaims(statusBody, testNow.Add(-time.Minute)))
	st, err := ParseStatus(callback(statusBody, "Bearer "+tok), testSigSecret, testNow)
	if err != nil {
		t.Fatalf("ParseStatus: %v", err)
	}
	if st != (Status{ProviderID: testUUID, State: StatusDelivered}) {
		t.Errorf("status = %+v", st)
	}
}

func TestParseStatusStates(t *testing.T) {
	tests := []struct {
		status, errJSON string
		want            Status
	}{
		{"submitted", "", Status{ProviderID: testUUID, State: StatusSubmitted}},
		{"read", "", Status{ProviderID: testUUID, State: StatusDelivered}},
		{"rejected", `{"type":"https://developer.nexmo.com/api-errors/messages-olympus#1120","title":"Illegal Sender Address","detail":"to +447700900123"}`,
			Status{ProviderID: testUUID, State: StatusFailed, ErrorCode: "1120"}},
		{"undeliverable", `{"type":"https://developer.nexmo.com/api-errors/messages-olympus","title":"1300","detail":"x"}`,
			Status{ProviderID: testUUID, State: StatusFailed, ErrorCode: "1300"}},
		{"rejected", `{"type":"","title":1000}`, Status{ProviderID: testUUID, State: StatusFailed, ErrorCode: "1000"}},
		{"rejected", `{"type":"","title":"447700900123"}`, Status{ProviderID: testUUID, State: StatusFailed}},
		{"deleted", "", Status{ProviderID: testUUID, State: StatusUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			body := `{"message_uuid":"` + testUUID + `","to":"447700900123","status":"` + tt.status + `"`
			if tt.errJSON != "" {
				body += `,"error":` + tt.errJSON
			}
			body += "}"
			tok := signJWT(testSigSecret, hs256, goodClaims(body, testNow))
			st, err := ParseStatus(callback(body, "Bearer "+tok), testSigSecret, testNow)
			if err != nil {
				t.Fatalf("ParseStatus: %v", err)
			}
			if st != tt.want {
				t.Errorf("status = %+v, want %+v", st, tt.want)
			}
		})
	}
}

func TestParseStatusRejects(t *testing.T) {
	good := goodClaims(statusBody, testNow)
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for key, val := range good {
			c[key] = val
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tok := signJWT(testSigSecret, hs256, good)
	parts := strings.Split(tok, ".")
	noneTok := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		return h + "." + parts[1] + "."
	}()
	changed := strings.Replace(statusBody, `"delivered"`, `"rejected"`, 1)
	sum := sha256.Sum256([]byte(statusBody))
	tests := []struct {
		name, body, auth, secret string
		want                     error
	}{
		{"wrong secret", statusBody, "Bearer " + tok, "another-secret", ErrSignature},
		{"empty secret", statusBody, "Bearer " + tok, "", ErrSignature},
		{"no header", statusBody, "", testSigSecret, ErrSignature},
		{"basic auth", statusBody, "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), testSigSecret, ErrSignature},
		{"body changed", changed, "Bearer " + tok, testSigSecret, ErrSignature},
		{"hash missing", statusBody, "Bearer " + signJWT(testSigSecret, hs256, with("payload_hash", nil)), testSigSecret, ErrSignature},
		{"hash base64", statusBody, "Bearer " + signJWT(testSigSecret, hs256, with("payload_hash", base64.StdEncoding.EncodeToString(sum[:]))), testSigSecret, ErrSignature},
		{"alg none", statusBody, "Bearer " + noneTok, testSigSecret, ErrSignature},
		{"alg HS512 header", statusBody, "Bearer " + signJWT(testSigSecret, map[string]any{"alg": "HS512"}, good), testSigSecret, ErrSignature},
		{"signature cut", statusBody, "Bearer " + tok[:len(tok)-4], testSigSecret, ErrSignature},
		{"two parts", statusBody, "Bearer " + parts[0] + "." + parts[1], testSigSecret, ErrSignature},
		{"claims changed", statusBody, "Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iat":1}`)) + "." + parts[2], testSigSecret, ErrSignature},
		{"stale", statusBody, "Bearer " + signJWT(testSigSecret, hs256, with("iat", testNow.Add(-6*time.Minute).Unix())), testSigSecret, ErrStale},
		{"future", statusBody, "Bearer " + signJWT(testSigSecret, hs256, with("iat", testNow.Add(6*time.Minute).Unix())), testSigSecret, ErrStale},
		{"no iat", statusBody, "Bearer " + signJWT(testSigSecret, hs256, with("iat", nil)), testSigSecret, ErrStale},
		{"expired", statusBody, "Bearer " + signJWT(testSigSecret, hs256, with("exp", testNow.Unix())), testSigSecret, ErrStale},
		{"not a status", `{"hello":"world"}`, "Bearer " + signJWT(testSigSecret, hs256, goodClaims(`{"hello":"world"}`, testNow)), testSigSecret, ErrPayload},
		{"not json", "x", "Bearer " + signJWT(testSigSecret, hs256, goodClaims("x", testNow)), testSigSecret, ErrPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseStatus(callback(tt.body, tt.auth), tt.secret, testNow)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseStatus = %+v, %v, want %v", st, err, tt.want)
			}
			if strings.Contains(err.Error(), "447700900123") || strings.Contains(err.Error(), testSigSecret) {
				t.Errorf("error %q leaks", err)
			}
		})
	}
}

func TestParseStatusHugeBody(t *testing.T) {
	body := `{"message_uuid":"` + testUUID + `","status":"delivered","pad":"` + strings.Repeat("x", 300<<10) + `"}`
	tok := signJWT(testSigSecret, hs256, goodClaims(body, testNow))
	if _, err := ParseStatus(callback(body, "Bearer "+tok), testSigSecret, testNow); !errors.Is(err, ErrPayload) {
		t.Errorf("err = %v, want ErrPayload", err)
	}
}

func TestParseStatusUpperHexHash(t *testing.T) {
	c := goodClaims(statusBody, testNow)
	c["payload_hash"] = strings.ToUpper(c["payload_hash"].(string))
	tok := signJWT(testSigSecret, hs256, c)
	if _, err := ParseStatus(callback(statusBody, "Bearer "+tok), testSigSecret, testNow); err != nil {
		t.Errorf("err = %v", err)
	}
}
