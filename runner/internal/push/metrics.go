package push

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's Prometheus metrics, on a registry of their own (no global state).
type Metrics struct {
	reg        *prometheus.Registry
	Received   *prometheus.CounterVec // by event
	Refused    *prometheus.CounterVec // by reason
	Duplicate  *prometheus.CounterVec // by event
	Deleted    prometheus.Counter
	Items      *prometheus.CounterVec // by outcome
	Runs       *prometheus.CounterVec // by kind and status
	EventToRow prometheus.Histogram
}

// NewMetrics registers the metrics; depth reports the inbox's queue depth when scraped.
func NewMetrics(depth func() float64) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meetpipe_push_events_received_total",
			Help: "Webhook events accepted (stored durably), by event name."}, []string{"event"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meetpipe_push_events_refused_total",
			Help: "Webhook requests refused, by reason (signature, size, body, decrypt, store, method)."}, []string{"reason"}),
		Duplicate: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meetpipe_push_events_duplicate_total",
			Help: "Webhook events acknowledged but not stored again (trace_id or record_file_id seen), by event name."}, []string{"event"}),
		Deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "meetpipe_push_recordings_deleted_total",
			Help: "recording.deleted events noted."}),
		Items: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meetpipe_items_total",
			Help: "Items finished by the service's runs, by outcome (done, skipped, failed, pending)."}, []string{"outcome"}),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meetpipe_runs_total",
			Help: "Pipeline runs of the service, by kind (push, catchup) and status."}, []string{"kind", "status"}),
		EventToRow: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "meetpipe_push_event_to_row_seconds",
			Help:    "From an event's arrival to the end of the run that stored its recording.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}}),
	}
	m.reg.MustRegister(m.Received, m.Refused, m.Duplicate, m.Deleted, m.Items, m.Runs, m.EventToRow,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meetpipe_push_queue_depth",
			Help: "Accepted events not yet processed."}, depth),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
