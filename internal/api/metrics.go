package api

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's Prometheus collectors. Labels hold routes, codes and
// fixed words only: never a number, a code or a key.
type metrics struct {
	requests *prometheus.CounterVec   // route, code (HTTP status)
	duration *prometheus.HistogramVec // route
	started  *prometheus.CounterVec   // channel, purpose
	checks   *prometheus.CounterVec   // result
	refusals *prometheus.CounterVec   // code (stable error code of a 4xx)
	messages *prometheus.CounterVec   // provider, outcome
	fraud    *prometheus.CounterVec   // reason
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringfence_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ringfence_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringfence_verifications_started_total",
			Help: "Verifications started (idempotent replays excluded), by channel and purpose.",
		}, []string{"channel", "purpose"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringfence_verification_checks_total",
			Help: "Code checks by result: approved, pending, failed, expired or closed.",
		}, []string{"result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringfence_refusals_total",
			Help: "Requests refused with a 4xx, by stable error code.",
		}, []string{"code"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringfence_messages_total",
			Help: "Code messages handed to a provider, by provider and outcome.",
		}, []string{"provider", "outcome"}),
		fraud: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringfence_fraud_refusals_total",
			Help: "Sends the fraud guard refused, by reason (a refusal may count under several).",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.started, m.checks, m.refusals, m.messages, m.fraud} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// ObserveSend counts one send outcome of the dispatcher; pass it as
// verify.Dispatcher.OnSend.
func (s *Server) ObserveSend(provider, outcome string) {
	s.metrics.messages.WithLabelValues(provider, outcome).Inc()
}

// ObserveFraudRefusal counts a reason the fraud guard refused a send for;
// wire it to verify.Service.OnRefusal.
func (s *Server) ObserveFraudRefusal(reason string) {
	s.metrics.fraud.WithLabelValues(reason).Inc()
}
