package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ringfence/ringfence/internal/apikey"
)

func TestAuth(t *testing.T) {
	h := newHarness(t, options{})
	start := `{"phone":"+14155550123"}`
	staff, _ := h.createKey(bootstrapKey, "staff member", apikey.RoleStaff)
	before := h.rows()

	for _, auth := range []string{
		"",
		"Basic " + h.app,
		"Bearer",
		"Bearer ",
		"Bearer not-a-key",
		"Bearer rfk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // well formed, unknown
		"Bearer " + bootstrapKey + "x",
		"Bearer " + strings.ToUpper(h.app),
	} {
		var hdr map[string]string
		if auth != "" {
			hdr = map[string]string{"Authorization": auth}
		}
		r := h.do(req{method: "POST", path: "/v1/verifications", body: start, header: hdr}).wantError(http.StatusUnauthorized, "unauthorized")
		if r.header.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("401 without WWW-Authenticate: Bearer")
		}
		h.do(req{method: "GET", path: "/v1/api-keys", header: hdr}).wantError(http.StatusUnauthorized, "unauthorized")
	}
	if h.rows() != before {
		t.Errorf("unauthenticated requests stored something")
	}

	// Roles.
	h.post(staff, "/v1/verifications", start).wantError(http.StatusForbidden, "forbidden")
	h.get(staff, "/v1/verifications/ve_aaaaaaaaaaaaaaaaaaaaaaaaaa").wantError(http.StatusForbidden, "forbidden")
	h.get(staff, "/v1/dev/messages?to=%2B14155550123").wantError(http.StatusForbidden, "forbidden")
	h.get(staff, "/v1/api-keys").wantError(http.StatusForbidden, "forbidden")
	h.get(h.app, "/v1/api-keys").wantError(http.StatusForbidden, "forbidden")
	h.post(h.app, "/v1/api-keys", `{"name":"escalate","role":"admin"}`).wantError(http.StatusForbidden, "forbidden")
	h.do(req{method: "DELETE", path: "/v1/api-keys/" + h.appID, key: h.app}).wantError(http.StatusForbidden, "forbidden")
	if h.rows() != before {
		t.Errorf("forbidden requests stored something")
	}

	// An admin key, made by the bootstrap key, may do both.
	admin, _ := h.createKey(bootstrapKey, "second admin", apikey.RoleAdmin)
	h.get(admin, "/v1/api-keys").wantStatus(http.StatusOK)
	h.post(admin, "/v1/verifications", start).wantStatus(http.StatusCreated)
	h.post(bootstrapKey, "/v1/verifications", `{"phone":"+14155550124"}`).wantStatus(http.StatusCreated)
	h.post(h.app, "/v1/verifications", `{"phone":"+12025550143"}`).wantStatus(http.StatusCreated)
	h.waitMessages(numC, 1)

	// A revoked key stops working at once.
	app2, app2ID := h.createKey(admin, "short-lived", apikey.RoleApp)
	h.get(app2, "/v1/verifications/ve_aaaaaaaaaaaaaaaaaaaaaaaaaa").wantError(http.StatusNotFound, "not_found")
	h.do(req{method: "DELETE", path: "/v1/api-keys/" + app2ID, key: admin}).wantStatus(http.StatusNoContent)
	h.get(app2, "/v1/verifications/ve_aaaaaaaaaaaaaaaaaaaaaaaaaa").wantError(http.StatusUnauthorized, "unauthorized")

	// The access log names the key id, never the secret.
	if !strings.Contains(h.logs.String(), `"api_key":"`+h.appID+`"`) {
		t.Errorf("the access log does not name the key id")
	}
}

func TestAPIKeys(t *testing.T) {
	h := newHarness(t, options{})
	r := h.post(bootstrapKey, "/v1/api-keys", `{"name":"ci runner","role":"app"}`).wantStatus(http.StatusCreated)
	secret, id := r.str("key"), r.str("id")
	h.logSecrets = append(h.logSecrets, secret)
	if !apikey.LooksValid(secret) || !strings.HasPrefix(id, "key_") || r.str("name") != "ci runner" || r.str("role") != "app" {
		t.Fatalf("create: %s", r.body)
	}

	list := h.get(bootstrapKey, "/v1/api-keys").wantStatus(http.StatusOK)
	if bytes.Contains(list.body, []byte(secret)) || bytes.Contains(list.body, []byte(`"key"`)) {
		t.Fatalf("the list shows a secret")
	}
	var keys struct {
		APIKeys []struct {
			ID        string `json:"id"`
			RevokedAt string `json:"revoked_at"`
		} `json:"api_keys"`
	}
	json.Unmarshal(list.body, &keys)
	if len(keys.APIKeys) != 2 {
		t.Fatalf("%d keys listed, want 2 (the harness's and this one)", len(keys.APIKeys))
	}

	for _, body := range []string{
		`{"name":"x","role":"root"}`,
		`{"name":"","role":"app"}`,
		`{"name":"x"}`,
		`{"role":"app"}`,
		`{"name":"` + strings.Repeat("n", 101) + `","role":"app"}`,
		`{"name":"tab\there","role":"app"}`,
		`{"name":"x","role":"app","key":"rfk_chosen"}`,
	} {
		h.post(bootstrapKey, "/v1/api-keys", body).wantError(http.StatusBadRequest, "invalid_request")
	}

	h.do(req{method: "DELETE", path: "/v1/api-keys/" + id, key: bootstrapKey}).wantStatus(http.StatusNoContent)
	h.get(secret, "/v1/verifications/ve_aaaaaaaaaaaaaaaaaaaaaaaaaa").wantError(http.StatusUnauthorized, "unauthorized")
	json.Unmarshal(h.get(bootstrapKey, "/v1/api-keys").wantStatus(http.StatusOK).body, &keys)
	revoked := false
	for _, k := range keys.APIKeys {
		if k.ID == id {
			revoked = k.RevokedAt != ""
		}
	}
	if !revoked {
		t.Errorf("the revoked key is not listed as revoked")
	}

	for _, bad := range []string{"key_aaaaaaaaaaaaaaaaaaaaaaaaaa", "KEY", "..%2F..%2Fetc", strings.Repeat("k", 100)} {
		h.do(req{method: "DELETE", path: "/v1/api-keys/" + bad, key: bootstrapKey}).wantError(http.StatusNotFound, "not_found")
	}
}

func TestOperations(t *testing.T) {
	h := newHarness(t, options{})

	if r := h.get("", "/healthz").wantStatus(http.StatusOK); r.str("status") != "ok" {
		t.Errorf("healthz: %s", r.body)
	}
	h.get("", "/readyz").wantStatus(http.StatusOK)
	h.setReady(errors.New("database is gone"))
	h.get("", "/readyz").wantError(http.StatusServiceUnavailable, "not_ready")
	if !strings.Contains(h.logs.String(), "database is gone") {
		t.Errorf("the log lacks the readiness failure")
	}
	h.setReady(nil)
	h.get("", "/readyz").wantStatus(http.StatusOK)

	doc := h.get("", "/openapi.json").wantStatus(http.StatusOK)
	file, err := os.ReadFile("openapi.json")
	if err != nil || !bytes.Equal(doc.body, file) {
		t.Errorf("/openapi.json is not the package's openapi.json")
	}

	h.startOK(numA)
	m := h.get("", "/metrics").wantStatus(http.StatusOK)
	for _, name := range []string{
		"ringfence_http_requests_total", "ringfence_http_request_duration_seconds_bucket",
		"ringfence_verifications_started_total", "ringfence_messages_total",
		`route="POST /v1/verifications"`, `route="GET /v1/dev/messages"`,
	} {
		if !bytes.Contains(m.body, []byte(name)) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if bytes.Contains(m.body, []byte("?to=")) {
		t.Errorf("/metrics holds a raw URL")
	}

	// Unknown routes and methods answer JSON.
	h.get(h.app, "/v1/nothing").wantError(http.StatusNotFound, "not_found")
	h.get("", "/nothing").wantError(http.StatusNotFound, "not_found")
	r := h.do(req{method: "DELETE", path: "/v1/verifications", key: h.app}).wantError(http.StatusMethodNotAllowed, "method_not_allowed")
	if r.header.Get("Allow") != "POST" {
		t.Errorf("405 Allow %q, want POST", r.header.Get("Allow"))
	}
	h.do(req{method: "PUT", path: "/v1/verifications/ve_aaaaaaaaaaaaaaaaaaaaaaaaaa/check", key: h.app}).wantError(http.StatusMethodNotAllowed, "method_not_allowed")
	h.do(req{method: "POST", path: "/healthz"}).wantError(http.StatusMethodNotAllowed, "method_not_allowed")

	// Request ids: the client's is echoed when plain, else replaced.
	r = h.do(req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "abc-123.X_y"}})
	if r.header.Get("X-Request-Id") != "abc-123.X_y" {
		t.Errorf("X-Request-Id %q not echoed", r.header.Get("X-Request-Id"))
	}
	r = h.do(req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "<script>"}})
	if id := r.header.Get("X-Request-Id"); id == "" || strings.Contains(id, "<") {
		t.Errorf("X-Request-Id %q", id)
	}
	if !strings.Contains(h.logs.String(), `"request_id":"abc-123.X_y"`) {
		t.Errorf("the access log lacks the request id")
	}

	// The access log names route patterns with their status and duration.
	logs := h.logs.String()
	for _, want := range []string{`"route":"GET /v1/dev/messages"`, `"route":"unmatched"`, `"status":405`, `"duration":"d"`, `"error_code":"not_ready"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the access log lacks %s", want)
		}
	}
	if strings.Contains(logs, "?to=") || strings.Contains(logs, "/v1/verifications/ve_") {
		t.Errorf("the access log holds a raw URL")
	}
}

func TestDevInboxOff(t *testing.T) {
	h := newHarness(t, options{noDevInbox: true})
	h.get(h.app, "/v1/dev/messages?to=%2B14155550123").wantError(http.StatusNotFound, "not_found")
}

func TestMountAndPanics(t *testing.T) {
	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<h1>console</h1>") })
	pages.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { panic("console bug") })
	h := newHarness(t, options{mount: map[string]http.Handler{"/": pages}})

	r := h.do(req{method: "GET", path: "/", page: true})
	if r.status != http.StatusOK || string(r.body) != "<h1>console</h1>" || r.header.Get("Cache-Control") != "" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("mounted page: %d %q %v", r.status, r.body, r.header)
	}
	h.do(req{method: "GET", path: "/boom", page: true}).wantError(http.StatusInternalServerError, "internal")
	if !strings.Contains(h.logs.String(), "console bug") {
		t.Errorf("the log lacks the panic")
	}
	if r := h.do(req{method: "GET", path: "/boom", page: true}); r.errorField("message") != "internal error" {
		t.Errorf("500 message %v", r.errorField("message"))
	}

	// The API keeps its own 404 and 405 under a page mounted at "/".
	h.get(h.app, "/v1/nothing").wantError(http.StatusNotFound, "not_found")
	h.do(req{method: "DELETE", path: "/v1/verifications", key: h.app}).wantError(http.StatusMethodNotAllowed, "method_not_allowed")
	h.get("", "/healthz").wantStatus(http.StatusOK)
}
