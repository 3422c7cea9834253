package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/ringfence/ringfence/internal/vault"
)

// Attribute keys of the API's log lines.
const (
	attrRequestID = "request_id"
	attrMethod    = "method"
	attrRoute     = "route"
	attrStatus    = "status"
	attrDuration  = "duration"
	attrAPIKey    = "api_key"
	attrErrCode   = "error_code"
	attrErr       = "err"
	attrPanic     = "panic"
	attrStack     = "stack"
)

// routeUnmatched is the route label of requests no route matched.
const routeUnmatched = "unmatched"

// requestState is what the layers of one request tell each other; it travels
// in the request's context.
type requestState struct {
	id      string
	route   string // the matched pattern, never the raw URL
	keyID   string // the API key that authenticated the request
	errCode string // the stable code of the error response, if any
}

func (st *requestState) requestID() string {
	if st == nil {
		return ""
	}
	return st.id
}

func (st *requestState) routeName() string {
	if st == nil {
		return ""
	}
	return st.route
}

type stateKey struct{}

func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// serveHTTP is the one middleware: it picks the route, then adds the request
// id, security headers, panic recovery, the access log and the metrics.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	api := isAPIPath(r.URL.Path)
	h, pattern := s.mux.Handler(r)
	switch {
	case pattern != "":
		h = s.mux
	case s.pages != nil && !api:
		h, pattern = s.pages.Handler(r)
		if pattern != "" {
			h = s.pages
		}
	}
	if pattern == "" {
		// No route: h is ServeMux's own 404, 405 or redirect answer.
		h = s.handle(unmatched(h))
		pattern = routeUnmatched
	}

	st := &requestState{id: requestID(r.Header.Get("X-Request-Id")), route: pattern}
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	rec := &statusRecorder{ResponseWriter: w}
	hdr := w.Header()
	hdr.Set("X-Request-Id", st.id)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if api {
		hdr.Set("Cache-Control", "no-store")
	}

	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic serving request", attrRequestID, st.id, attrRoute, st.route,
				attrPanic, fmt.Sprint(v), attrStack, string(debug.Stack()))
			if rec.status == 0 {
				s.serveError(rec, r, errors.New("panic"))
			}
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observeRequest(st.route, status, d)
		attrs := []slog.Attr{
			slog.String(attrMethod, r.Method),
			slog.String(attrRoute, st.route),
			slog.Int(attrStatus, status),
			slog.Duration(attrDuration, d),
			slog.String(attrRequestID, st.id),
		}
		if st.keyID != "" {
			attrs = append(attrs, slog.String(attrAPIKey, st.keyID))
		}
		if st.errCode != "" {
			attrs = append(attrs, slog.String(attrErrCode, st.errCode))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
	}()
	h.ServeHTTP(rec, r)
}

// unmatched turns ServeMux's answer for a request no route matches into the
// API's JSON 404 or 405; a redirect (to a cleaned path) is passed on.
func unmatched(mux http.Handler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec := &headerRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			return errMethodNotAllowed
		case http.StatusNotFound:
			return errNotFound
		}
		if loc := rec.header.Get("Location"); loc != "" {
			w.Header().Set("Location", loc)
		}
		w.WriteHeader(rec.status)
		return nil
	}
}

// requestID returns the client's X-Request-Id when it is short and plain, or a new one.
func requestID(given string) string {
	if len(given) == 0 || len(given) > 64 {
		return vault.NewID("req")
	}
	for i := 0; i < len(given); i++ {
		c := given[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return vault.NewID("req")
		}
	}
	return given
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headerRecorder keeps the status and headers of a response and drops its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (w *headerRecorder) Header() http.Header { return w.header }

func (w *headerRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *headerRecorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}
