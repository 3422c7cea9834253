package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringfence/ringfence/internal/api"
	"github.com/ringfence/ringfence/internal/apikey"
	"github.com/ringfence/ringfence/internal/audit"
	"github.com/ringfence/ringfence/internal/fraud"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/sms/devinbox"
	"github.com/ringfence/ringfence/internal/store"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Test numbers and the national significant numbers no response or log line may hold.
const (
	numA    = "+14155550123"
	nsnA    = "4155550123"
	numB    = "+14155550124"
	nsnB    = "4155550124"
	numC    = "+12025550143"
	nsnC    = "2025550143"
	numDE   = "+4915123456789"
	nsnDE   = "15123456789"
	numPrem = "+19005550123" // premium rate
	nsnPrem = "9005550123"
)

// auditOrigin names the test log's checkpoints.
const auditOrigin = "verify.example.com/audit"

// bootstrapKey is the admin key every harness accepts.
const bootstrapKey = "bootstrap-test-key-0f3c9a"

// clock is a settable clock for the verify service.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// options change the harness's setup.
type options struct {
	verify     func(*verify.Config)
	noDevInbox bool
	mount      map[string]http.Handler
	identity   bool // connect accounts: subjects, audiences, tokens
	identCfg   func(*identity.Config)
	twilio     string              // the Twilio auth token that turns on the inbound webhook
	audit      bool                // publish the audit log
	guard      func(*fraud.Config) // turn the fraud guard on, with these changes to its defaults
	provider   verify.Provider     // makes, sends and checks the codes (Twilio Verify, Vonage Verify)

	// chain, when set, is the dispatcher's delivery chain (default: the dev inbox).
	chain          func(h *harness) []verify.Step
	receiptTimeout time.Duration
	callbacks      *api.Callbacks // receipt routes; Receipts is set to the dispatcher

	// configure makes last changes to the API's config.
	configure func(h *harness, cfg *api.Config)
}

// harness is a real API over a real SQLite store, real keys, a dev inbox and
// a dispatcher sending in the background.
type harness struct {
	t       testing.TB
	srv     *api.Server
	handler http.Handler
	clock   *clock
	inbox   *devinbox.Inbox
	db      *store.DB
	dbPath  string
	reg     *prometheus.Registry
	logs    *syncBuffer
	app     string // secret of an app key
	appID   string
	ident   *identity.Service
	keys    *vault.Keyring

	dispatcher *verify.Dispatcher

	readyErr   error
	readyMu    sync.Mutex
	stop       func() // stops the dispatcher; idempotent
	transcript bytes.Buffer
	logSecrets []string // never in a log line
	secrets    []string // never in a response or a log line
}

func newHarness(t testing.TB, opts options) *harness {
	t.Helper()
	ctx := context.Background()
	keyDir := filepath.Join(t.TempDir(), "keys")
	if _, err := vault.Generate(keyDir); err != nil {
		t.Fatal(err)
	}
	keys, err := vault.Load(keyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t:       t,
		clock:   &clock{now: time.Now().UTC().Truncate(time.Second)},
		logs:    &syncBuffer{},
		reg:     prometheus.NewRegistry(),
		secrets: []string{nsnA, nsnB, nsnC, nsnDE, nsnPrem},
	}
	h.logSecrets = []string{bootstrapKey}
	h.dbPath = filepath.Join(t.TempDir(), "ringfence.db")
	db, err := store.Open(ctx, store.Config{URL: h.dbPath, AuditMAC: func(m []byte) []byte { return keys.MAC("audit-row", m) }})
	if err != nil {
		t.Fatal(err)
	}
	h.db = db
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			// Drop the digits of times and durations, so that a search
			// for a code in the log cannot match them by chance.
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case "duration":
				return slog.String(a.Key, "d")
			}
			return a
		},
	}))

	vcfg := verify.DefaultConfig()
	if opts.verify != nil {
		opts.verify(&vcfg)
	}
	svc := verify.NewService(vcfg, db, keys, h.clock.Now, log)
	if opts.provider != nil {
		svc.SetProvider(opts.provider)
	}
	h.keys = keys
	cfg := api.Config{
		Verify:          svc,
		Keys:            db,
		BootstrapKey:    bootstrapKey,
		Registry:        h.reg,
		Ready:           h.ready,
		Logger:          log,
		Now:             h.clock.Now,
		TwilioAuthToken: opts.twilio,
		PublicURL:       "https://verify.example.com",
	}
	if opts.guard != nil {
		fc := fraud.DefaultConfig()
		fc.PoW.Key = []byte("test proof-of-work key")
		opts.guard(&fc)
		svc.SetGuard(fraud.New(fc))
	}
	if opts.audit {
		priv, _, err := keys.Signer(vault.PurposeCheckpoint)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := audit.NewSigner(auditOrigin, priv)
		if err != nil {
			t.Fatal(err)
		}
		vkey, err := audit.VerifierKey(auditOrigin, priv.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Audit = &api.Audit{Log: audit.NewLog(db, auditOrigin, signer, h.clock.Now), Store: db, VerifierKey: vkey}
	}
	if opts.identity {
		icfg := identity.DefaultConfig()
		if opts.identCfg != nil {
			opts.identCfg(&icfg)
		}
		h.ident = identity.NewService(icfg, db, keys, h.clock.Now)
		svc.SetAccounts(h.ident)
		cfg.Identity = h.ident
	}
	if !opts.noDevInbox {
		h.inbox = devinbox.New(0)
		cfg.DevInbox = h.inbox
	}
	var sender = h.inbox
	if sender == nil {
		sender = devinbox.New(0)
	}
	dc := verify.DispatchConfig{Poll: 5 * time.Millisecond, ReceiptTimeout: opts.receiptTimeout}
	if opts.chain != nil {
		dc.Chain = opts.chain(h)
	}
	d := verify.NewDispatcher(svc, sender, dc)
	h.dispatcher = d
	if opts.callbacks != nil {
		cb := *opts.callbacks
		cb.Receipts = d
		cfg.Callbacks = &cb
	}
	if opts.configure != nil {
		opts.configure(h, &cfg)
	}
	h.srv, err = api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for p, ph := range opts.mount {
		h.srv.Mount(p, ph)
	}
	h.handler = h.srv.Handler()

	d.OnSend = h.srv.ObserveSend
	svc.OnRefusal = h.srv.ObserveFraudRefusal
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(dctx)
	}()
	h.stop = sync.OnceFunc(func() { cancel(); <-done })

	t.Cleanup(func() {
		h.stop()
		db.Close()
		h.checkLeaks()
	})

	h.app, h.appID = h.createKey(bootstrapKey, "test app", apikey.RoleApp)
	return h
}

func (h *harness) ready(context.Context) error {
	h.readyMu.Lock()
	defer h.readyMu.Unlock()
	return h.readyErr
}

func (h *harness) setReady(err error) {
	h.readyMu.Lock()
	defer h.readyMu.Unlock()
	h.readyErr = err
}

// createKey makes a key through the API and returns its secret and id.
func (h *harness) createKey(admin, name string, role apikey.Role) (secret, id string) {
	h.t.Helper()
	r := h.do(req{method: "POST", path: "/v1/api-keys", key: admin, body: fmt.Sprintf(`{"name":%q,"role":%q}`, name, role)})
	r.wantStatus(http.StatusCreated)
	secret, id = r.str("key"), r.str("id")
	h.logSecrets = append(h.logSecrets, secret)
	return secret, id
}

// checkLeaks fails the test if a number's digits are in any response or log
// line, or a key or code is in any log line.
func (h *harness) checkLeaks() {
	h.t.Helper()
	logs := h.logs.String()
	for _, s := range h.secrets {
		if strings.Contains(h.transcript.String(), s) {
			h.t.Errorf("a response holds the digits of a test number")
		}
		if strings.Contains(logs, s) {
			h.t.Errorf("the log holds the digits of a test number")
		}
	}
	for _, s := range h.logSecrets {
		if strings.Contains(logs, s) {
			h.t.Errorf("the log holds a secret (key or code)")
		}
	}
}

// req is one request to the API.
type req struct {
	method, path string
	key          string // bearer key, if any
	body         string
	contentType  string // default application/json when body is set; "-" for none
	header       map[string]string
	page         bool // served by a mounted handler, not the API: only its errors are checked
}

// resp is a recorded response.
type resp struct {
	t      testing.TB
	status int
	header http.Header
	body   []byte
}

// do sends r through the handler, checks the response against the OpenAPI
// document and records it for the leak check.
func (h *harness) do(r req) *resp {
	h.t.Helper()
	var body *strings.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	} else {
		body = strings.NewReader("")
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	switch {
	case r.contentType == "-":
	case r.contentType != "":
		hr.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, hr)
	out := &resp{t: h.t, status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}

	for k, vs := range out.header {
		fmt.Fprintf(&h.transcript, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	h.transcript.Write(out.body)
	h.transcript.WriteString("\n")

	validateResponse(h.t, hr, out, r.page)
	return out
}

func (h *harness) get(key, path string) *resp {
	h.t.Helper()
	return h.do(req{method: "GET", path: path, key: key})
}

func (h *harness) post(key, path, body string) *resp {
	h.t.Helper()
	return h.do(req{method: "POST", path: path, key: key, body: body})
}

func (r *resp) wantStatus(want int) *resp {
	r.t.Helper()
	if r.status != want {
		r.t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	return r
}

// wantError checks the status and the stable error code.
func (r *resp) wantError(status int, code string) *resp {
	r.t.Helper()
	r.wantStatus(status)
	if got := r.errorField("code"); got != code {
		r.t.Fatalf("error code %q, want %q; body %s", got, code, r.body)
	}
	return r
}

func (r *resp) json() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("response is not a JSON object: %v; body %s", err, r.body)
	}
	return m
}

// str returns a top-level string field.
func (r *resp) str(field string) string {
	r.t.Helper()
	s, _ := r.json()[field].(string)
	return s
}

func (r *resp) errorField(field string) any {
	r.t.Helper()
	e, _ := r.json()["error"].(map[string]any)
	return e[field]
}

// spec is the package's OpenAPI document, loaded and validated once.
var spec = sync.OnceValues(func() (*openapi3.T, error) {
	data, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid document: %w", err)
	}
	return doc, nil
})

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := spec()
	if err != nil {
		return nil, err
	}
	return legacy.NewRouter(doc)
})

// validateResponse checks a response against the OpenAPI document: against
// its operation, or, for a path or method the document does not have,
// against the NotFound or MethodNotAllowed response.
func validateResponse(t testing.TB, hr *http.Request, r *resp, page bool) {
	t.Helper()
	doc, err := spec()
	if err != nil {
		t.Fatal(err)
	}
	router, err := specRouter()
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := router.FindRoute(hr)
	if err != nil {
		name := ""
		var routeErr *routers.RouteError
		switch {
		case !errors.As(err, &routeErr):
			t.Fatalf("%s %s: find route: %v", hr.Method, hr.URL.Path, err)
		case r.status == http.StatusNotFound:
			name = "NotFound"
		case r.status == http.StatusMethodNotAllowed:
			name = "MethodNotAllowed"
		case page && r.status == http.StatusInternalServerError:
			name = "Internal"
		case page && r.status < 400:
			return
		default:
			t.Fatalf("%s %s: not in openapi.json (%v) and answered %d", hr.Method, hr.URL.Path, err, r.status)
		}
		ref := doc.Components.Responses[name]
		schema := ref.Value.Content.Get("application/json").Schema.Value
		var v any
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatalf("%s %s: %d body is not JSON: %v", hr.Method, hr.URL.Path, r.status, err)
		}
		if err := schema.VisitJSON(v); err != nil {
			t.Fatalf("%s %s: %d does not match openapi.json: %v", hr.Method, hr.URL.Path, r.status, err)
		}
		return
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	input.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Fatalf("%s %s: %d does not match openapi.json: %v\nbody: %s", hr.Method, hr.URL.Path, r.status, err, r.body)
	}
}

// codeRE finds the code in a message body.
var codeRE = regexp.MustCompile(`\b[0-9]{6}\b`)

// waitMessages waits until the dev inbox holds n messages to e164, then
// reads them through the API and returns their codes, newest first.
func (h *harness) waitMessages(e164 string, n int) []string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.inbox.Messages(e164)) < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("the dev inbox has %d messages, want %d", len(h.inbox.Messages(e164)), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.settle()
	r := h.get(h.app, "/v1/dev/messages?to="+urlQuery(e164)).wantStatus(http.StatusOK)
	var out struct {
		Messages []struct {
			ID, To, Channel, Body string
		}
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		h.t.Fatal(err)
	}
	if len(out.Messages) != n {
		h.t.Fatalf("GET /v1/dev/messages: %d messages, want %d", len(out.Messages), n)
	}
	var codes []string
	for _, m := range out.Messages {
		code := codeRE.FindString(m.Body)
		if code == "" {
			h.t.Fatalf("no code in a dev message")
		}
		codes = append(codes, code)
		h.logSecrets = append(h.logSecrets, code)
	}
	return codes
}

// settle waits until the dispatcher has recorded every message the dev
// inbox holds (it counts a send after writing its outcome), so that a test
// counting rows sees no write still to come.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs, err := h.reg.Gather()
		if err != nil {
			h.t.Fatal(err)
		}
		sent := 0.0
		for _, mf := range mfs {
			if mf.GetName() == "ringfence_messages_total" {
				for _, m := range mf.GetMetric() {
					sent += m.GetCounter().GetValue()
				}
			}
		}
		if int(sent) >= len(h.inbox.All()) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the dispatcher recorded %v sends of %d", sent, len(h.inbox.All()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func urlQuery(s string) string { return strings.ReplaceAll(s, "+", "%2B") }

// rows counts the rows of every table, so a test can tell that a refused
// request stored nothing.
func (h *harness) rows() int {
	h.t.Helper()
	db, err := sql.Open("sqlite", "file:"+h.dbPath+"?mode=ro")
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		h.t.Fatal(err)
	}
	var tables []string
	for rs.Next() {
		var name string
		if err := rs.Scan(&name); err != nil {
			h.t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rs.Err(); err != nil {
		h.t.Fatal(err)
	}
	rs.Close()
	if len(tables) == 0 {
		h.t.Fatal("the store has no tables")
	}
	total := 0
	for _, name := range tables {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM "` + name + `"`).Scan(&n); err != nil {
			h.t.Fatal(err)
		}
		total += n
	}
	return total
}

// start starts a verification of number and returns the response.
func (h *harness) start(body string) *resp {
	h.t.Helper()
	return h.post(h.app, "/v1/verifications", body)
}

// startOK starts an SMS signup verification of e164 and returns its id and code.
func (h *harness) startOK(e164 string) (id, code string) {
	h.t.Helper()
	before := len(h.inbox.Messages(e164))
	r := h.start(fmt.Sprintf(`{"phone":%q,"channel":"sms","purpose":"signup"}`, e164)).wantStatus(http.StatusCreated)
	codes := h.waitMessages(e164, before+1)
	return r.str("id"), codes[0]
}

// metric returns the value of the series of the /metrics text whose line starts with prefix.
func (h *harness) metric(prefix string) string {
	h.t.Helper()
	r := h.get("", "/metrics").wantStatus(http.StatusOK)
	for line := range strings.SplitSeq(string(r.body), "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			return strings.TrimPrefix(line, prefix+" ")
		}
	}
	return ""
}
