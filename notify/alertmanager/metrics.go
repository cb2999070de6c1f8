package alertmanager

import "github.com/prometheus/client_golang/prometheus"

// metrics are the notifier's own metrics, one series per Alertmanager.
type metrics struct {
	up            *prometheus.GaugeVec
	queueLength   *prometheus.GaugeVec
	queueCapacity *prometheus.GaugeVec
	requests      *prometheus.CounterVec
	failures      *prometheus.CounterVec
	retries       *prometheus.CounterVec
	sent          *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	firing        prometheus.Gauge
}

func newMetrics() *metrics {
	am := []string{"alertmanager"}
	return &metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "calico_anomaly_alertmanager_up",
			Help: "1 when the last POST to the Alertmanager succeeded.",
		}, am),
		queueLength: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "calico_anomaly_alertmanager_queue_length",
			Help: "Alerts waiting to be sent to the Alertmanager.",
		}, am),
		queueCapacity: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "calico_anomaly_alertmanager_queue_capacity",
			Help: "Most alerts that can wait for the Alertmanager; beyond it the oldest are dropped.",
		}, am),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calico_anomaly_alertmanager_requests_total",
			Help: "POSTs of alerts to the Alertmanager, failed ones included.",
		}, am),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calico_anomaly_alertmanager_request_failures_total",
			Help: "POSTs to the Alertmanager that failed, by reason: unreachable, server_error (retried) or rejected (not retried).",
		}, []string{"alertmanager", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calico_anomaly_alertmanager_retries_total",
			Help: "POSTs to the Alertmanager retried after a failure.",
		}, am),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calico_anomaly_alertmanager_alerts_sent_total",
			Help: "Alerts the Alertmanager accepted, resends and resolves included.",
		}, am),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calico_anomaly_alertmanager_alerts_dropped_total",
			Help: "Alerts given up on, by reason: queue_full (the oldest waiting alert made room) or rejected (the Alertmanager refused them).",
		}, []string{"alertmanager", "reason"}),
		firing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "calico_anomaly_alerts_firing",
			Help: "Alerts the exporter holds as firing.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.up, m.queueLength, m.queueCapacity, m.requests, m.failures, m.retries, m.sent, m.dropped, m.firing}
}

// init creates every series of one Alertmanager, so they read 0 before
// anything happened.
func (m *metrics) init(url string, capacity int) {
	m.up.WithLabelValues(url)
	m.queueLength.WithLabelValues(url)
	m.queueCapacity.WithLabelValues(url).Set(float64(capacity))
	m.requests.WithLabelValues(url)
	m.retries.WithLabelValues(url)
	m.sent.WithLabelValues(url)
	for _, r := range []string{reasonUnreachable, reasonServerError, reasonRejected} {
		m.failures.WithLabelValues(url, r)
	}
	for _, r := range []string{reasonQueueFull, reasonRejected} {
		m.dropped.WithLabelValues(url, r)
	}
}

const (
	reasonUnreachable = "unreachable"
	reasonServerError = "server_error"
	reasonRejected    = "rejected"
	reasonQueueFull   = "queue_full"
)

// Describe implements prometheus.Collector.
func (n *Notifier) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range n.metrics.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (n *Notifier) Collect(ch chan<- prometheus.Metric) {
	for _, t := range n.targets {
		n.metrics.queueLength.WithLabelValues(t.label).Set(float64(t.queue.len()))
	}
	for _, c := range n.metrics.collectors() {
		c.Collect(ch)
	}
}
