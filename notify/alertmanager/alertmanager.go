// Package alertmanager owns pushing anomalies to Alertmanager (API v2): one
// alert per incident (or, without an incident tracker, per detector and
// workload) while it is anomalous, resent each
// resend interval with endsAt ahead and resolved when the anomaly ends,
// through a bounded queue per Alertmanager that retries with backoff while
// that Alertmanager is down.
package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	commoncfg "github.com/prometheus/common/config"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/backoff"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// AlertName is the alertname of every alert the notifier sends.
const AlertName = "CalicoAnomaly"

// Config says where alerts go and how.
type Config struct {
	// URLs are the Alertmanagers' base URLs (http://alertmanager:9093);
	// every alert goes to each of them (HA peers deduplicate).
	URLs []string
	// TLS, basic auth (password from a file) or a bearer token from a
	// file, for every Alertmanager.
	CAFile, CertFile, KeyFile string
	ServerName                string
	InsecureSkipVerify        bool
	Username, PasswordFile    string
	BearerTokenFile           string
	// Timeout bounds one POST (default 10s).
	Timeout time.Duration
	// ResendInterval is how often firing alerts are sent again (default
	// 1m); their endsAt is four resend intervals ahead, as Prometheus does.
	ResendInterval time.Duration
	// QueueCapacity is how many alerts may wait per Alertmanager (default
	// 10000).
	QueueCapacity int
	// BatchSize is the most alerts in one POST (default 64).
	BatchSize int
	// BackoffMin and BackoffMax bound the jittered, doubling wait before a
	// retry (defaults 500ms and 30s).
	BackoffMin, BackoffMax time.Duration
	// Policy picks which verdicts alert and their severity.
	Policy notify.Policy
	// Live, when set, holds the policy in force instead of Policy, so a
	// configuration reload changes it without a restart.
	Live *notify.LivePolicy
	// GrafanaURL is Grafana's base URL for dashboard links ("" for none).
	GrafanaURL string
	// GeneratorURL is the exporter's own base URL as users reach it; each
	// alert's generatorURL is the anomaly's status page under it ("" for
	// none).
	GeneratorURL string
	// MaxEvidenceBytes bounds the evidence annotation (default 8 KiB).
	MaxEvidenceBytes int
	// DryRun logs what would be sent and sends nothing.
	DryRun bool
	// Now is the wall clock of startsAt and endsAt (default time.Now).
	Now func() time.Time
	// Transport carries the requests when set (tests); by default one
	// built from the TLS settings.
	Transport http.RoundTripper
	// Incidents, when set, makes one alert per incident instead of one
	// per detector and workload: labelled with the incident's id, its
	// labels fixed when it opens, resolved when the incident ends. Place
	// the tracker before the notifier among the engine's sinks.
	Incidents *incident.Tracker
}

func (c *Config) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.ResendInterval <= 0 {
		c.ResendInterval = time.Minute
	}
	if c.QueueCapacity <= 0 {
		c.QueueCapacity = 10000
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	c.BackoffMin, c.BackoffMax = backoff.Bounds(c.BackoffMin, c.BackoffMax, 500*time.Millisecond, 30*time.Second)
	if c.MaxEvidenceBytes <= 0 {
		c.MaxEvidenceBytes = 8 << 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Notifier is an engine sink that turns anomalous verdicts into
// Alertmanager alerts. Deliver only queues; Run sends. It is also a
// prometheus.Collector of its queue and send metrics.
type Notifier struct {
	cfg     Config
	logger  log.Logger
	targets []*target
	metrics *metrics

	mu     sync.Mutex
	active map[string]*firing // by alert key
	// clusters holds every cluster seen in a delivered window.
	clusters map[string]bool
}

// firing is an alert the notifier holds as firing.
type firing struct {
	cluster   string
	startsAt  time.Time
	labels    models.LabelSet
	annots    models.LabelSet
	generator string
}

// target is one Alertmanager.
type target struct {
	label  string // the URL without credentials, as metrics and logs show it
	post   string // the URL of POST /api/v2/alerts
	client *http.Client
	queue  *queue
}

// New checks cfg and returns a notifier; it sends nothing until Run.
func New(cfg Config, logger log.Logger) (*Notifier, error) {
	cfg.setDefaults()
	if logger == nil {
		logger = log.NewNopLogger()
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	if len(cfg.URLs) == 0 && !cfg.DryRun {
		return nil, errors.New("alertmanager: no URL")
	}
	if cfg.GeneratorURL != "" {
		u, err := url.Parse(cfg.GeneratorURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("external URL %q: want http:// or https:// and a host", cfg.GeneratorURL)
		}
	}
	httpCfg, err := cfg.httpConfig()
	if err != nil {
		return nil, err
	}
	n := &Notifier{cfg: cfg, logger: logger, metrics: newMetrics(), active: map[string]*firing{}, clusters: map[string]bool{}}
	seen := map[string]bool{}
	for _, raw := range cfg.URLs {
		t, err := newTarget(raw, httpCfg, cfg)
		if err != nil {
			return nil, err
		}
		if seen[t.label] {
			return nil, fmt.Errorf("alertmanager URL %s is given twice", t.label)
		}
		seen[t.label] = true
		n.metrics.init(t.label, cfg.QueueCapacity)
		n.targets = append(n.targets, t)
	}
	return n, nil
}

func (c Config) httpConfig() (commoncfg.HTTPClientConfig, error) {
	hc := commoncfg.HTTPClientConfig{
		TLSConfig: commoncfg.TLSConfig{
			CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile,
			ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify,
		},
		FollowRedirects: true,
		EnableHTTP2:     true,
	}
	if c.PasswordFile != "" && c.Username == "" {
		return hc, errors.New("alertmanager: a password file needs a username (--alertmanager.username)")
	}
	if c.Username != "" {
		if c.PasswordFile != "" {
			if _, err := readCredential(c.PasswordFile, "alertmanager password file"); err != nil {
				return hc, err
			}
		}
		hc.BasicAuth = &commoncfg.BasicAuth{Username: c.Username, PasswordFile: c.PasswordFile}
	}
	if c.BearerTokenFile != "" {
		if c.Username != "" {
			return hc, errors.New("alertmanager: give basic auth or a bearer token file, not both")
		}
		if _, err := readCredential(c.BearerTokenFile, "alertmanager bearer token file"); err != nil {
			return hc, err
		}
		hc.Authorization = &commoncfg.Authorization{Type: "Bearer", CredentialsFile: c.BearerTokenFile}
	}
	if err := hc.Validate(); err != nil {
		return hc, fmt.Errorf("alertmanager: %w", err)
	}
	return hc, nil
}

func newTarget(raw string, hc commoncfg.HTTPClientConfig, cfg Config) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("alertmanager URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alertmanager URL %q: want http:// or https:// and a host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("alertmanager URL %q: a base URL has no query or fragment", raw)
	}
	if u.User != nil {
		if hc.BasicAuth != nil || hc.Authorization != nil {
			return nil, fmt.Errorf("alertmanager URL %s: credentials in the URL and in flags", redact(u))
		}
		pass, _ := u.User.Password()
		hc.BasicAuth = &commoncfg.BasicAuth{Username: u.User.Username(), Password: commoncfg.Secret(pass)}
		u.User = nil
	}
	label := strings.TrimRight(u.String(), "/")
	var client *http.Client
	if cfg.Transport != nil {
		client = &http.Client{Transport: cfg.Transport}
	} else {
		client, err = commoncfg.NewClientFromConfig(hc, "alertmanager", commoncfg.WithUserAgent("calico-anomaly-exporter"))
		if err != nil {
			return nil, fmt.Errorf("alertmanager %s: %w", label, err)
		}
	}
	client.Timeout = cfg.Timeout
	return &target{label: label, post: label + "/api/v2/alerts", client: client, queue: newQueue(cfg.QueueCapacity)}, nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// key identifies an alert: one per (detector, cluster, namespace,
// workload), or one per incident when incidents are tracked.
func key(ls models.LabelSet) string {
	if id := ls[IncidentLabel]; id != "" {
		return "incident\x00" + id
	}
	return ls["detector"] + "\x00" + ls["cluster"] + "\x00" + ls["namespace"] + "\x00" + ls["workload"]
}

// IncidentLabel is the label carrying the incident id when incidents are
// tracked.
const IncidentLabel = "incident"

// alertLabels are the labels of v's alert: with incidents tracked, those
// of the entity's open incident (its first detector, its id).
func (n *Notifier) alertLabels(v detect.Verdict) models.LabelSet {
	ls := n.labels(v)
	if n.cfg.Incidents == nil {
		return ls
	}
	if in, ok := n.cfg.Incidents.OpenFor(v.Entity); ok {
		ls[IncidentLabel] = in.ID
	}
	return ls
}

// Deliver takes one window's verdicts: anomalies that alert become firing
// alerts (new ones start now), alerts held as firing whose workload is no
// longer anomalous are resolved. It queues and returns.
func (n *Notifier) Deliver(ctx context.Context, w source.Window, verdicts []detect.Verdict) {
	now := n.cfg.Now()
	// Only the clusters this window judged can resolve their alerts: one
	// exporter reading several clusters delivers each one's windows apart.
	judged := map[string]bool{}
	for _, v := range verdicts {
		judged[v.Entity.Cluster] = true
	}
	current := map[string]notify.Anomaly{}
	for _, a := range notify.Group(n.policy(), verdicts) {
		k := key(n.alertLabels(a.Verdict))
		if prev, ok := current[k]; !ok || a.Score > prev.Score {
			current[k] = a
		}
	}
	n.mu.Lock()
	for c := range judged {
		n.clusters[c] = true
	}
	// With one cluster, a window without any verdict ends its alerts too.
	single := len(n.clusters) <= 1
	var out []*models.PostableAlert
	for k, a := range current {
		f, ok := n.active[k]
		if !ok {
			f = &firing{startsAt: now, cluster: a.Entity.Cluster, labels: n.alertLabels(a.Verdict)}
			n.active[k] = f
		}
		if f.labels[IncidentLabel] == "" {
			f.labels = n.labels(a.Verdict)
		}
		// An incident's labels stay those it opened with: Alertmanager
		// tells alerts apart by their labels.
		f.annots = n.annotations(a)
		f.generator = notify.StatusURL(n.cfg.GeneratorURL, a.Verdict)
		if id := f.labels[IncidentLabel]; id != "" {
			f.generator = notify.IncidentURL(n.cfg.GeneratorURL, id)
		}
		out = append(out, n.postable(f, now.Add(4*n.cfg.ResendInterval)))
	}
	for k, f := range n.active {
		if _, ok := current[k]; ok || (!single && !judged[f.cluster]) {
			continue
		}
		delete(n.active, k)
		out = append(out, n.postable(f, now))
	}
	n.metrics.firing.Set(float64(len(n.active)))
	n.mu.Unlock()
	n.enqueue(out, "window", w.String())
}

// resend queues every firing alert again with endsAt pushed ahead.
func (n *Notifier) resend() {
	now := n.cfg.Now()
	n.mu.Lock()
	out := make([]*models.PostableAlert, 0, len(n.active))
	for _, f := range n.active {
		out = append(out, n.postable(f, now.Add(4*n.cfg.ResendInterval)))
	}
	n.mu.Unlock()
	n.enqueue(out, "resend", now.UTC().Format(time.RFC3339))
}

func (n *Notifier) postable(f *firing, endsAt time.Time) *models.PostableAlert {
	a := &models.PostableAlert{
		Alert:       models.Alert{Labels: f.labels, GeneratorURL: strfmt.URI(f.generator)},
		Annotations: f.annots,
		StartsAt:    strfmt.DateTime(f.startsAt.UTC()),
		EndsAt:      strfmt.DateTime(endsAt.UTC()),
	}
	if endsAt.Before(f.startsAt) {
		a.EndsAt = a.StartsAt
	}
	return a
}

func (n *Notifier) enqueue(alerts []*models.PostableAlert, why, when string) {
	sort.Slice(alerts, func(i, j int) bool { return key(alerts[i].Labels) < key(alerts[j].Labels) })
	for _, a := range alerts {
		if n.cfg.DryRun {
			state := "firing"
			if !time.Time(a.EndsAt).After(time.Time(a.StartsAt)) || !time.Time(a.EndsAt).After(n.cfg.Now()) {
				state = "resolved"
			}
			b, _ := json.Marshal(a)
			level.Info(n.logger).Log("msg", "dry run: alert not sent", "state", state, "why", why, "at", when, "alert", string(b))
			continue
		}
		for _, t := range n.targets {
			if dropped := t.queue.push(key(a.Labels), a); dropped > 0 {
				n.metrics.dropped.WithLabelValues(t.label, reasonQueueFull).Add(float64(dropped))
				level.Warn(n.logger).Log("msg", "alert queue full; oldest alerts dropped", "alertmanager", t.label, "dropped", dropped)
			}
			n.metrics.queueLength.WithLabelValues(t.label).Set(float64(t.queue.len()))
		}
	}
}

func (n *Notifier) labels(v detect.Verdict) models.LabelSet {
	return models.LabelSet{
		"alertname": AlertName,
		"detector":  v.Detector,
		// Names from logs are made valid label values: Alertmanager
		// refuses a whole batch over one invalid UTF-8 value.
		"cluster":   calicolog.LabelValue(v.Entity.Cluster),
		"namespace": calicolog.LabelValue(v.Entity.Namespace),
		"workload":  calicolog.LabelValue(v.Entity.Workload),
		"severity":  n.policy().SeverityLabelOf(v),
	}
}

func (n *Notifier) annotations(a notify.Anomaly) models.LabelSet {
	ls := models.LabelSet{
		"summary":      a.Title(),
		"description":  a.Description(),
		"score":        fmt.Sprintf("%.4f", a.Score),
		"threshold":    fmt.Sprintf("%.4f", a.Threshold),
		"observed":     fmt.Sprintf("%g", a.Observed),
		"expected":     fmt.Sprintf("%g", a.Expected),
		"window_start": a.Window.Start.UTC().Format(time.RFC3339),
		"window_end":   a.Window.End.UTC().Format(time.RFC3339),
		"type":         calicolog.LabelValue(a.Entity.Type),
		"detectors":    strings.Join(a.Detectors, ","),
		"evidence":     a.EvidenceJSON(n.cfg.MaxEvidenceBytes),
		"runbook_url":  notify.RunbookURL,
	}
	if m, ok := notify.MitreOf(a.Detector); ok {
		ls["mitre_ids"] = strings.Join(m.IDs, ",")
		ls["mitre_tactic"] = m.Tactic
	}
	if d := notify.DashboardURL(n.cfg.GrafanaURL, a.Verdict); d != "" {
		ls["dashboard_url"] = d
	}
	if p := notify.QuarantinePolicy(a.Entity); p != "" {
		ls["quarantine_policy"] = p
	}
	if n.cfg.Incidents != nil {
		if in, ok := n.cfg.Incidents.OpenFor(a.Entity); ok {
			ls["incident_id"] = in.ID
			ls["incident_start"] = in.Start.UTC().Format(time.RFC3339)
			ls["incident_peak_score"] = fmt.Sprintf("%.4f", in.Peak)
			ls["incident_peak_detector"] = in.PeakDetector
			ls["detectors"] = strings.Join(in.Detectors, ",")
			if n.cfg.GeneratorURL != "" {
				ls["incident_url"] = notify.IncidentURL(n.cfg.GeneratorURL, in.ID)
			}
		}
	}
	return ls
}

// Run sends queued alerts to every Alertmanager and resends firing alerts
// each resend interval, until ctx ends.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, t := range n.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.sendLoop(ctx, t)
		}()
	}
	tick := time.NewTicker(n.cfg.ResendInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-tick.C:
			n.resend()
		}
	}
}

// sendLoop posts t's queue oldest first. A failure that may pass (the
// Alertmanager down, a 5xx, a 429) keeps the batch and retries it after a
// jittered, doubling backoff; a refusal (another 4xx) is logged with the
// Alertmanager's reason and the batch dropped. With nothing queued for a
// resend interval it posts an empty list, so calico_anomaly_alertmanager_up
// stays current.
func (n *Notifier) sendLoop(ctx context.Context, t *target) {
	retry := backoff.New(n.cfg.BackoffMin, n.cfg.BackoffMax)
	idle := time.NewTimer(0)
	defer idle.Stop()
	var retryAfter <-chan time.Time
	for {
		batch := t.queue.peek(n.cfg.BatchSize)
		if len(batch) == 0 && retryAfter == nil {
			select {
			case <-ctx.Done():
				return
			case <-t.queue.wake:
				continue
			case <-idle.C:
				// heartbeat below
			}
		} else if retryAfter != nil {
			select {
			case <-ctx.Done():
				return
			case <-retryAfter:
				retryAfter = nil
				n.metrics.retries.WithLabelValues(t.label).Inc()
				continue
			}
		}
		idle.Reset(n.cfg.ResendInterval)
		err := n.post(ctx, t, batch)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			retry.Reset()
			t.queue.ack(batch)
			n.metrics.sent.WithLabelValues(t.label).Add(float64(len(batch)))
			n.metrics.up.WithLabelValues(t.label).Set(1)
			if len(batch) > 0 {
				level.Debug(n.logger).Log("msg", "alerts sent", "alertmanager", t.label, "alerts", len(batch))
			}
		case retryable(err):
			n.metrics.up.WithLabelValues(t.label).Set(0)
			reason := reasonUnreachable
			var se *SendError
			if errors.As(err, &se) {
				reason = reasonServerError
			}
			n.metrics.failures.WithLabelValues(t.label, reason).Inc()
			wait := retry.Next()
			level.Warn(n.logger).Log("msg", "alertmanager unreachable; retrying", "alertmanager", t.label, "alerts", len(batch), "retry_in", wait, "err", err)
			retryAfter = time.After(wait)
		default:
			// The Alertmanager (or what answers at its URL) refused these
			// alerts: a wrong path, credentials or alerts; not up for us.
			retry.Reset()
			n.metrics.up.WithLabelValues(t.label).Set(0)
			n.metrics.failures.WithLabelValues(t.label, reasonRejected).Inc()
			n.metrics.dropped.WithLabelValues(t.label, reasonRejected).Add(float64(len(batch)))
			t.queue.ack(batch)
			level.Error(n.logger).Log("msg", "alertmanager refused alerts; dropped, not retried", "alertmanager", t.label, "alerts", len(batch), "err", err)
		}
		n.metrics.queueLength.WithLabelValues(t.label).Set(float64(t.queue.len()))
	}
}

// post sends batch to t in one POST /api/v2/alerts.
func (n *Notifier) post(ctx context.Context, t *target, batch []entry) error {
	alerts := make(models.PostableAlerts, 0, len(batch))
	for _, e := range batch {
		alerts = append(alerts, e.alert)
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.post, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	n.metrics.requests.WithLabelValues(t.label).Inc()
	res, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("alertmanager %s: %w", t.label, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 == 2 {
		return nil
	}
	return &SendError{URL: t.label, Status: res.StatusCode, Reason: ParseErrorBody(answer)}
}

// AlertFor is the alert this notifier sends for v, as JSON: the one it
// holds as firing for v's workload when there is one (as last sent), else
// the alert v alone would raise.
func (n *Notifier) AlertFor(v detect.Verdict) ([]byte, error) {
	n.mu.Lock()
	f, ok := n.active[key(n.alertLabels(v))]
	var a *models.PostableAlert
	if ok {
		a = n.postable(f, n.cfg.Now().Add(4*n.cfg.ResendInterval))
	}
	n.mu.Unlock()
	if !ok {
		an := notify.Anomaly{Verdict: v, Detectors: []string{v.Detector}, Evidence: v.Evidence}
		a = n.postable(&firing{startsAt: n.cfg.Now(), labels: n.alertLabels(v), annots: n.annotations(an),
			generator: notify.StatusURL(n.cfg.GeneratorURL, v)}, n.cfg.Now().Add(4*n.cfg.ResendInterval))
	}
	return json.Marshal(a)
}

// policy is the policy in force.
func (n *Notifier) policy() notify.Policy {
	if n.cfg.Live != nil {
		return n.cfg.Live.Get()
	}
	return n.cfg.Policy
}
