// Package events owns writing anomalies to the Calico events index, the one
// the Manager UI Alerts page reads: one document per anomaly (detector,
// workload, window) under a deterministic _id written with create, so
// retries and two exporter replicas never write the same event twice.
package events

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/backoff"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Config says where events go.
type Config struct {
	// Naming gives the events index (tigera_secure_ee_events.<cluster>.lma
	// or calico_alerts).
	Naming calicolog.IndexNaming
	// Policy picks which verdicts become events and their severity.
	Policy notify.Policy
	// Live, when set, holds the policy in force instead of Policy, so a
	// configuration reload changes it without a restart.
	Live *notify.LivePolicy
	// QueueCapacity is how many events may wait (default 10000); beyond it
	// the oldest are dropped and counted.
	QueueCapacity int
	// BatchSize is the most events in one _bulk request (default 100).
	BatchSize int
	// BackoffMin and BackoffMax bound the jittered, doubling wait before a
	// retry (defaults 1s and 1m).
	BackoffMin, BackoffMax time.Duration
	// DryRun logs what would be written and writes nothing.
	DryRun bool
	// Incidents, when set, makes one event per detector and incident
	// instead of one per anomalous window: written when the detector first
	// flags the incident, its id derived from the incident's, the
	// incident's id in record.incident_id. Place the tracker before the
	// notifier among the engine's sinks.
	Incidents *incident.Tracker
}

func (c *Config) setDefaults() {
	if c.QueueCapacity <= 0 {
		c.QueueCapacity = 10000
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	c.BackoffMin, c.BackoffMax = backoff.Bounds(c.BackoffMin, c.BackoffMax, time.Second, time.Minute)
}

// Notifier is an engine sink that writes one event per anomaly. Deliver
// only queues; Run writes. It is also a prometheus.Collector of its queue
// and write metrics.
type Notifier struct {
	cfg    Config
	w      elastic.BulkWriter
	logger log.Logger

	mu      sync.Mutex
	pending []elastic.BulkOp
	queued  map[string]bool // ids in pending
	wake    chan struct{}

	queueLength   prometheus.GaugeFunc
	queueCapacity prometheus.Gauge
	written       *prometheus.CounterVec
	failures      *prometheus.CounterVec
	retries       prometheus.Counter
	dropped       *prometheus.CounterVec
}

// New returns a notifier writing through w; it writes nothing until Run.
func New(cfg Config, w elastic.BulkWriter, logger log.Logger) (*Notifier, error) {
	cfg.setDefaults()
	if err := cfg.Naming.Validate(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if w == nil && !cfg.DryRun {
		return nil, errors.New("events: no Elasticsearch to write to")
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	n := &Notifier{cfg: cfg, w: w, logger: logger, queued: map[string]bool{}, wake: make(chan struct{}, 1)}
	n.queueLength = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "calico_anomaly_events_queue_length",
		Help: "Events waiting to be written to the Calico events index.",
	}, func() float64 { n.mu.Lock(); defer n.mu.Unlock(); return float64(len(n.pending)) })
	n.queueCapacity = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "calico_anomaly_events_queue_capacity",
		Help: "Most events that can wait; beyond it the oldest are dropped.",
	})
	n.queueCapacity.Set(float64(cfg.QueueCapacity))
	n.written = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "calico_anomaly_events_written_total",
		Help: "Events written to the Calico events index, by result: created, or existed (already written by a retry or another replica).",
	}, []string{"result"})
	n.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "calico_anomaly_events_write_failures_total",
		Help: "Bulk writes of events that failed, by reason: unreachable (retried) or rejected (the request or some documents refused).",
	}, []string{"reason"})
	n.retries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "calico_anomaly_events_retries_total",
		Help: "Bulk writes of events retried after a failure.",
	})
	n.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "calico_anomaly_events_dropped_total",
		Help: "Events given up on, by reason: queue_full or rejected (Elasticsearch refused the document).",
	}, []string{"reason"})
	for _, r := range []string{"created", "existed"} {
		n.written.WithLabelValues(r)
	}
	for _, r := range []string{"unreachable", "rejected"} {
		n.failures.WithLabelValues(r)
	}
	for _, r := range []string{"queue_full", "rejected"} {
		n.dropped.WithLabelValues(r)
	}
	return n, nil
}

func (n *Notifier) collectors() []prometheus.Collector {
	return []prometheus.Collector{n.queueLength, n.queueCapacity, n.written, n.failures, n.retries, n.dropped}
}

// Describe implements prometheus.Collector.
func (n *Notifier) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range n.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (n *Notifier) Collect(ch chan<- prometheus.Metric) {
	for _, c := range n.collectors() {
		c.Collect(ch)
	}
}

// ID is the event's document id: the same detector, entity and window give
// the same id, whoever writes it.
func ID(v detect.Verdict) string {
	h := sha256.New()
	for _, part := range []string{v.Detector, v.Entity.Cluster, v.Entity.Namespace, v.Entity.Workload, v.Entity.Type,
		fmt.Sprint(v.Window.Start.Unix()), fmt.Sprint(v.Window.End.Unix())} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%s-%x", v.Detector, h.Sum(nil)[:16])
}

// Deliver queues one event per anomaly of the window, and returns.
func (n *Notifier) Deliver(ctx context.Context, w source.Window, verdicts []detect.Verdict) {
	var ops []elastic.BulkOp
	for _, a := range notify.Group(n.policy(), verdicts) {
		naming := n.namingFor(a.Verdict)
		op := elastic.BulkOp{Index: naming.EventsIndex(), ID: ID(a.Verdict), Doc: Document(a, naming, n.policy().SeverityOf(a.Detector))}
		if n.cfg.Incidents != nil {
			if in, ok := n.cfg.Incidents.OpenFor(a.Entity); ok {
				op.ID = IncidentEventID(a.Detector, in.ID)
				withIncident(&op, in.ID)
			}
		}
		if n.cfg.DryRun {
			b, _ := json.Marshal(op.Doc)
			level.Info(n.logger).Log("msg", "dry run: event not written", "index", op.Index, "id", op.ID, "event", string(b))
			continue
		}
		ops = append(ops, op)
	}
	n.push(ops)
}

// push queues a window's events at once, so they go out in one request.
func (n *Notifier) push(ops []elastic.BulkOp) {
	if len(ops) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, op := range ops {
		if n.queued[op.ID] {
			continue
		}
		if len(n.pending) >= n.cfg.QueueCapacity {
			delete(n.queued, n.pending[0].ID)
			n.pending = n.pending[1:]
			n.dropped.WithLabelValues("queue_full").Inc()
			level.Warn(n.logger).Log("msg", "event queue full; oldest event dropped")
		}
		n.pending = append(n.pending, op)
		n.queued[op.ID] = true
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Notifier) peek() []elastic.BulkOp {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]elastic.BulkOp(nil), n.pending[:min(len(n.pending), n.cfg.BatchSize)]...)
}

// done removes the written or given-up ops (by id) from the queue.
func (n *Notifier) done(ids map[string]bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	keep := n.pending[:0]
	for _, op := range n.pending {
		if ids[op.ID] {
			delete(n.queued, op.ID)
			continue
		}
		keep = append(keep, op)
	}
	clear(n.pending[len(keep):])
	n.pending = keep
}

// Len is how many events wait to be written.
func (n *Notifier) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pending)
}

// Run writes queued events until ctx ends. A write that failed as a whole
// (Elasticsearch unreachable) or for documents Elasticsearch may take later
// (429, 5xx) is retried after a jittered, doubling backoff; documents or
// requests it refused (a 4xx other than 408, 409 and 429) are logged and
// dropped. A document whose
// id exists already counts as written.
func (n *Notifier) Run(ctx context.Context) error {
	retryWait := backoff.New(n.cfg.BackoffMin, n.cfg.BackoffMax)
	for {
		batch := n.peek()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-n.wake:
				continue
			}
		}
		res, err := n.w.Bulk(ctx, batch)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n.written.WithLabelValues("created").Add(float64(res.Written))
		n.written.WithLabelValues("existed").Add(float64(res.Existed))
		finished := map[string]bool{}
		for _, op := range batch {
			finished[op.ID] = true
		}
		var bulkErr *elastic.BulkError
		var esErr *elastic.Error
		retry := false
		switch {
		case err == nil:
		case errors.As(err, &esErr) && esErr.Status/100 == 4 && esErr.Status != http.StatusRequestTimeout && esErr.Status != http.StatusTooManyRequests:
			// Elasticsearch refused the request as a whole (permissions, a
			// closed index): sending it again would be refused again.
			n.failures.WithLabelValues("rejected").Inc()
			n.dropped.WithLabelValues("rejected").Add(float64(len(batch)))
			level.Error(n.logger).Log("msg", "Elasticsearch refused the events; dropped, not retried", "events", len(batch), "err", err)
		case errors.As(err, &bulkErr):
			n.failures.WithLabelValues("rejected").Inc()
			for _, item := range bulkErr.Items {
				if item.Status == http.StatusTooManyRequests || item.Status >= 500 {
					finished[item.ID] = false
					retry = true
					continue
				}
				n.dropped.WithLabelValues("rejected").Inc()
				level.Error(n.logger).Log("msg", "Elasticsearch refused an event; dropped", "err", item)
			}
		default:
			n.failures.WithLabelValues("unreachable").Inc()
			retry = true
			clear(finished)
			level.Warn(n.logger).Log("msg", "events index unreachable; retrying", "events", len(batch), "err", err)
		}
		n.done(finished)
		if !retry {
			retryWait.Reset()
			continue
		}
		t := time.NewTimer(retryWait.Next())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		n.retries.Inc()
	}
}

// DocumentFor is the event document this notifier writes for v, as JSON.
func (n *Notifier) DocumentFor(v detect.Verdict) ([]byte, error) {
	a := notify.Anomaly{Verdict: v, Detectors: []string{v.Detector}, Evidence: v.Evidence}
	op := elastic.BulkOp{Doc: Document(a, n.namingFor(v), n.policy().SeverityOf(v.Detector))}
	if n.cfg.Incidents != nil {
		if in, ok := n.cfg.Incidents.LatestFor(v.Entity); ok {
			withIncident(&op, in.ID)
		}
	}
	return json.Marshal(op.Doc)
}

// IncidentEventID is the document id of detector's event of an incident:
// the same whoever writes it, so a detector flagging the incident again in
// later windows (or another replica) writes no second event.
func IncidentEventID(detector, incidentID string) string {
	return detector + "-incident-" + incidentID
}

// withIncident puts the incident's id into the event's record.
func withIncident(op *elastic.BulkOp, id string) {
	if e, ok := op.Doc.(calicolog.Event); ok {
		if e.Record == nil {
			e.Record = map[string]any{}
		}
		e.Record["incident_id"] = id
		op.Doc = e
	}
}

// policy is the policy in force.
func (n *Notifier) policy() notify.Policy {
	if n.cfg.Live != nil {
		return n.cfg.Live.Get()
	}
	return n.cfg.Policy
}

// namingFor is the index naming of the verdict's cluster: one exporter
// reading several clusters writes each one's events where Calico's
// Manager for that cluster reads them.
func (n *Notifier) namingFor(v detect.Verdict) calicolog.IndexNaming {
	naming := n.cfg.Naming
	if v.Entity.Cluster != "" {
		naming.Cluster = v.Entity.Cluster
	}
	return naming
}
