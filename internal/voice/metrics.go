package voice

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stages of a turn, the label of Metrics' latency histogram.
const (
	StageEndOfTurn  = "end_of_turn" // from the caller's last loud frame to the end of their turn (the VAD's hangover)
	StageSTT        = "stt"         // speech-to-text
	StageFirstToken = "first_token" // from asking the model to its first token
	StageFirstAudio = "first_audio" // from the end of the turn to the first audio of the answer synthesized
	StagePlayout    = "playout"     // from the end of the turn to the first packet of the answer sent
	StageAdded      = "added"       // playout minus the time spent in the engines: what ringfence itself adds
)

// Metrics counts the phone line for Prometheus: SIP events, how calls
// ended and the latency of each stage of a turn. No label carries a
// number. A nil *Metrics counts nothing.
type Metrics struct {
	events *prometheus.CounterVec
	ends   *prometheus.CounterVec
	stages *prometheus.HistogramVec
	// onStage, if set, sees every latency observed (benchmarks).
	onStage func(stage string, d time.Duration)
}

// NewMetrics registers the phone line's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringfence_sip_events_total",
			Help: "SIP INVITEs and their outcomes, by event.",
		}, []string{"event"}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringfence_calls_ended_total",
			Help: "Calls handled by the phone line, by how they ended.",
		}, []string{"ended"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ringfence_turn_stage_seconds",
			Help:    "Latency of each stage of a caller's turn.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .04, .08, .16, .32, .64, 1.28, 2.56, 5.12},
		}, []string{"stage"}),
	}
	reg.MustRegister(m.events, m.ends, m.stages)
	return m
}

// Event counts a SIP event; it fits Config.OnCall.
func (m *Metrics) Event(event string) {
	if m != nil {
		m.events.WithLabelValues(event).Inc()
	}
}

func (m *Metrics) ended(how string) {
	if m != nil {
		m.ends.WithLabelValues(how).Inc()
	}
}

func (m *Metrics) observe(stage string, d time.Duration) {
	if m != nil {
		m.stages.WithLabelValues(stage).Observe(d.Seconds())
		if m.onStage != nil {
			m.onStage(stage, d)
		}
	}
}
