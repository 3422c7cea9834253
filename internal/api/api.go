// Package api serves ringfence's REST API.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/apikey"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/privacy"
	"github.com/ringfence/ringfence/internal/sms/devinbox"
	"github.com/ringfence/ringfence/internal/verify"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 16 << 10

// Config is what a Server needs. Verify and Keys are required.
type Config struct {
	// Verify starts, checks, resends and cancels verifications.
	Verify *verify.Service
	// Keys holds the hashed API keys.
	Keys apikey.Store
	// Identity serves subjects, audiences, tokens and the JWKS; nil leaves
	// those routes out.
	Identity *identity.Service
	// SaveFraud, when set, is called after an operator changes the fraud
	// guard's lists or breakers, to keep them across restarts.
	SaveFraud func(context.Context) error
	// Audit, when set, publishes the audit log's checkpoints and proofs.
	Audit *Audit
	// Access serves staff logins and reveal requests; nil leaves those routes out.
	Access *access.Service
	// Privacy serves the consent ledger, STOP/START replies and the
	// transparency report; nil leaves those routes out.
	Privacy *privacy.Service
	// TwilioAuthToken, when set, turns on Twilio's inbound-message webhook
	// (POST /v1/webhooks/twilio/sms), whose X-Twilio-Signature it checks.
	TwilioAuthToken string
	// Callbacks, when set, turns on the providers' delivery receipt routes.
	Callbacks *Callbacks
	// PublicURL is the service's address as providers call it (for webhook
	// signatures); empty means the request's own scheme and host.
	PublicURL string
	// BootstrapKey, when non-empty, is accepted as an admin API key
	// (RINGFENCE_BOOTSTRAP_API_KEY); it is compared in constant time.
	BootstrapKey string
	// DevInbox, when set, serves GET /v1/dev/messages; when nil that route is 404.
	DevInbox *devinbox.Inbox
	// Registry receives the API's metrics and is served at /metrics; nil
	// means a fresh registry of the API's metrics alone.
	Registry *prometheus.Registry
	// Ready reports whether the service can take traffic (GET /readyz);
	// nil means always ready.
	Ready func(context.Context) error
	// MaxBodyBytes caps request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives the access log and the detail of internal errors; nil discards.
	Logger *slog.Logger
	// Now stamps the records the API writes itself (API keys); nil means time.Now.
	// Request durations always use the real clock.
	Now func() time.Time
}

// Server is the REST API. Build it with New and serve Handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux // the API routes, all registered by routes
	pages   *http.ServeMux // handlers added with Mount, or nil
	metrics *metrics
}

// New returns a Server for cfg, registering its metrics on cfg.Registry.
func New(cfg Config) (*Server, error) {
	if cfg.Verify == nil {
		return nil, errors.New("api: Config.Verify is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("api: Config.Keys is required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now, mux: http.NewServeMux(), metrics: m}
	s.routes()
	return s, nil
}

// Handler returns the HTTP handler of the API and of whatever was mounted.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Mount serves h for pattern (an http.ServeMux pattern), for the web pages of
// the console. Mounted handlers see only requests no API route matches and
// whose path is outside the API (/v1/, /healthz, /readyz, /metrics,
// /openapi.json), so mounting "/" never hides an API route or its JSON 404
// and 405 answers. Mounted handlers get the request id, panic recovery,
// access log and metrics but set their own caching headers. Call Mount
// before serving; it panics on a conflicting pattern, as ServeMux does.
func (s *Server) Mount(pattern string, h http.Handler) {
	if s.pages == nil {
		s.pages = http.NewServeMux()
	}
	s.pages.Handle(pattern, h)
}

// Roles allowed on each group of routes.
var (
	appRoles   = []apikey.Role{apikey.RoleApp, apikey.RoleAdmin}
	adminRoles = []apikey.Role{apikey.RoleAdmin}
	// operatorRoles run the service: staff and admin keys.
	operatorRoles = []apikey.Role{apikey.RoleStaff, apikey.RoleAdmin}
)

// routes registers every API route.
func (s *Server) routes() {
	s.route("GET /healthz", s.healthz)
	s.route("GET /readyz", s.readyz)
	s.route("GET /openapi.json", s.openAPI)
	s.mux.Handle("GET /metrics", s.metricsHandler())

	s.route("POST /v1/verifications", s.startVerification, appRoles...)
	s.route("GET /v1/verifications/{id}", s.getVerification, appRoles...)
	s.route("POST /v1/verifications/{id}/check", s.checkVerification, appRoles...)
	s.route("POST /v1/verifications/{id}/resend", s.resendVerification, appRoles...)
	s.route("POST /v1/verifications/{id}/cancel", s.cancelVerification, appRoles...)
	if s.cfg.DevInbox != nil {
		s.route("GET /v1/dev/messages", s.devMessages, appRoles...)
	}

	if s.cfg.Identity != nil {
		s.route("GET /.well-known/jwks.json", s.jwks)
		s.route("GET /v1/subjects/{id}", s.getSubject, appRoles...)
		s.route("DELETE /v1/subjects/{id}", s.eraseSubject, appRoles...)
		s.route("POST /v1/subjects/{id}/factors", s.recordFactor, appRoles...)
		s.route("PUT /v1/subjects/{id}/guardian", s.requireGuardian, appRoles...)
		s.route("POST /v1/audiences", s.createAudience, adminRoles...)
		s.route("GET /v1/audiences", s.listAudiences, appRoles...)
	}
	s.route("GET /v1/fraud/lists", s.listFraudLists, operatorRoles...)
	s.route("POST /v1/fraud/lists", s.addFraudListEntry, operatorRoles...)
	s.route("DELETE /v1/fraud/lists/{kind}/{key}", s.removeFraudListEntry, operatorRoles...)
	s.route("GET /v1/fraud/breakers", s.listBreakers, operatorRoles...)
	s.route("DELETE /v1/fraud/breakers/{kind}/{key}", s.resetBreaker, operatorRoles...)
	s.route("GET /v1/fraud/stats", s.fraudStats, operatorRoles...)
	if s.cfg.Audit != nil {
		s.route("GET /v1/audit/checkpoints", s.listCheckpoints)
		s.route("POST /v1/audit/checkpoints", s.createCheckpoint, adminRoles...)
		s.route("GET /v1/audit/proofs/inclusion/{seq}", s.inclusionProof)
		s.route("GET /v1/audit/proofs/consistency", s.consistency)
		s.route("GET /v1/audit/entries/{seq}", s.auditEntry, adminRoles...)
	}
	if s.cfg.Access != nil {
		s.route("POST /v1/staff/login", s.staffLogin)
		s.staffRoute("POST /v1/staff/logout", s.staffLogout, false)
		s.staffRoute("POST /v1/staff", s.createStaff, true)
		s.staffRoute("GET /v1/staff", s.listStaff, true)
		s.staffRoute("POST /v1/staff/{id}/disable", s.disableStaff, true)
		s.staffRoute("POST /v1/reveals", s.createReveal, false)
		s.staffRoute("GET /v1/reveals", s.listReveals, false)
		s.staffRoute("GET /v1/reveals/{id}", s.getReveal, false)
		s.staffRoute("POST /v1/reveals/{id}/approve", s.approveReveal, false)
		s.staffRoute("POST /v1/reveals/{id}/deny", s.denyReveal, false)
		s.staffRoute("POST /v1/reveals/{id}/use", s.useReveal, false)
	}
	if s.cfg.Privacy != nil {
		s.route("POST /v1/subjects/{id}/consents", s.changeConsent, appRoles...)
		s.route("GET /v1/subjects/{id}/consents", s.listConsents, appRoles...)
		s.route("GET /v1/subjects/{id}/export", s.exportSubject, appRoles...)
		s.route("GET /v1/transparency/report", s.transparencyReport)
		s.route("GET /v1/transparency/keys", s.transparencyKeys)
	}
	if s.cfg.TwilioAuthToken != "" {
		s.route("POST /v1/webhooks/twilio/sms", s.twilioInbound)
	}
	s.callbackRoutes()

	s.route("POST /v1/api-keys", s.createAPIKey, adminRoles...)
	s.route("GET /v1/api-keys", s.listAPIKeys, adminRoles...)
	s.route("DELETE /v1/api-keys/{id}", s.revokeAPIKey, adminRoles...)
}

// route registers h for pattern; with roles, only a bearer key of one of
// those roles reaches h.
func (s *Server) route(pattern string, h handlerFunc, roles ...apikey.Role) {
	if len(roles) > 0 {
		h = s.authorize(h, roles)
	}
	s.mux.Handle(pattern, s.handle(h))
}

// isAPIPath reports whether path belongs to the API rather than to a mounted handler.
func isAPIPath(path string) bool {
	switch path {
	case "/v1", "/healthz", "/readyz", "/metrics", "/openapi.json", "/.well-known/jwks.json":
		return true
	}
	return strings.HasPrefix(path, "/v1/")
}
