package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/redact"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/web"
)

// configFlags name the configuration files.
type configFlags struct {
	alertFiles []string
	configFile string
}

func addConfigFlags(app *kingpin.Application) *configFlags {
	f := &configFlags{}
	app.Flag("detectors.config", "A YAML file of Calico GlobalAlert resources (one or many documents, as kubectl takes them, e.g. ad-alerts.yaml): each AnomalyDetection alert enables its detector with its severity, summary and description; repeatable.").StringsVar(&f.alertFiles)
	app.Flag("config.file", "Our own YAML configuration for what Calico had no knob for: per-detector settings and score thresholds, silences, series bounds, index layout and tenant (docs/configuration.md).").Default("").StringVar(&f.configFile)
	return f
}

// resolve reads the environment and the files, and merges them with the
// flags given on the command line (flagsSet) into the effective
// configuration.
func (f *configFlags) resolve(getenv func(string) string, flagsSet map[string]string) (*config.Config, error) {
	env, err := config.ReadEnv(getenv)
	if err != nil {
		return nil, err
	}
	var file *config.File
	if f.configFile != "" {
		if file, err = config.LoadFile(f.configFile); err != nil {
			return nil, err
		}
	}
	var alerts *config.GlobalAlerts
	if len(f.alertFiles) > 0 {
		if alerts, err = config.LoadGlobalAlerts(f.alertFiles...); err != nil {
			return nil, err
		}
	}
	return config.Resolve(config.Sources{Env: env, File: file, Alerts: alerts, Flags: flagsSet})
}

// fromConfig reports whether a setting came from somewhere other than its
// default or a flag given on the command line (which the flag variables
// already hold).
func fromConfig(cfg *config.Config, name string) bool {
	s, ok := cfg.Setting(name)
	return ok && s.Origin != "default" && !strings.HasPrefix(s.Origin, "flag ")
}

// apply moves the settings that came from the environment or the files
// into the flag variables the rest of the wiring reads.
func applyConfig(cfg *config.Config, src *sourceFlags, sched *scheduleFlags, logCfg *logLevel, maxSeries *int) {
	if fromConfig(cfg, config.SettingSearchInterval) {
		sched.interval = cfg.SearchInterval
	}
	if fromConfig(cfg, config.SettingBucket) {
		sched.bucket = cfg.Bucket
	}
	if fromConfig(cfg, config.SettingTrainInterval) {
		sched.train = cfg.TrainInterval
	}
	if fromConfig(cfg, config.SettingElasticURLs) && len(cfg.Elasticsearch.URLs) > 0 {
		src.esURLs = cfg.Elasticsearch.URLs
	}
	if fromConfig(cfg, config.SettingElasticUser) {
		src.esUser = cfg.Elasticsearch.Username
	}
	if fromConfig(cfg, config.SettingPasswordFile) {
		src.esPassFile = cfg.Elasticsearch.PasswordFile
	}
	if fromConfig(cfg, config.SettingAPIKeyFile) {
		src.esAPIKeyFile = cfg.Elasticsearch.APIKeyFile
	}
	if fromConfig(cfg, config.SettingCAFile) {
		src.esCAFile = cfg.Elasticsearch.CAFile
	}
	if fromConfig(cfg, config.SettingIndexLayout) {
		src.esLayout = string(cfg.Elasticsearch.IndexLayout)
	}
	if fromConfig(cfg, config.SettingTenant) {
		src.esTenant = cfg.Elasticsearch.Tenant
	}
	if fromConfig(cfg, config.SettingClusters) {
		if len(cfg.Clusters) > 0 {
			src.esClusters = cfg.Clusters
		} else if cfg.Cluster != "" {
			src.esClusters = []string{cfg.Cluster}
		}
	}
	if len(src.esClusters) > 0 {
		src.esCluster = src.esClusters[0]
	}
	if fromConfig(cfg, config.SettingMaxSeries) {
		*maxSeries = cfg.MaxSeriesPerDetector
	}
	if cfg.Debug && logCfg.fromDefault {
		*logCfg.level = "debug"
	}
}

// detectorPeriods are the enabled detectors' own periods (a GlobalAlert's
// spec.period, our file's period) that are longer than the search
// interval: the engine runs those detectors once a period.
func detectorPeriods(cfg *config.Config, interval time.Duration, logger log.Logger) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, name := range cfg.EnabledDetectors() {
		if d := cfg.Detectors[name]; d.OwnPeriod && d.Period > interval {
			out[name] = d.Period
			level.Info(logger).Log("msg", "detector runs once a period, judging every window of it", "detector", name, "period", d.Period, "search_interval", interval)
		}
	}
	return out
}

// periodGauge is calico_anomaly_detector_period_seconds: how often each
// enabled detector runs (its own period, or the search interval), so a
// rule can tell a detector that waits for its next run from one that
// stopped.
func periodGauge(enabled []string, periods map[string]time.Duration, interval time.Duration) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "calico_anomaly_detector_period_seconds",
		Help: "How often the detector runs: its own period (a GlobalAlert's spec.period) when longer than the search interval, else the search interval."},
		[]string{"detector"})
	for _, name := range enabled {
		p := interval
		if own, ok := periods[name]; ok {
			p = own
		}
		g.WithLabelValues(name).Set(p.Seconds())
	}
	return g
}

// logLevel is --log.level and whether it was left at its default.
type logLevel struct {
	level       *string
	fromDefault bool
}

// policyFrom adds the configuration's per-detector alert settings to p.
func policyFrom(p notify.Policy, cfg *config.Config, severityFlagSet bool) notify.Policy {
	if !severityFlagSet && fromConfig(cfg, config.SettingAlertSeverity) {
		p.Severity = cfg.AlertSeverity
	}
	// No severity configured: alert labels follow the detector's family
	// and score; Calico's events keep the 0..100 severity.
	p.SeverityByFamily = !severityFlagSet && !fromConfig(cfg, config.SettingAlertSeverity)
	p.DetectorSeverity, p.DetectorMinScore, p.Texts = map[string]int{}, map[string]float64{}, map[string]notify.Text{}
	global, _ := cfg.Setting(config.SettingAlertSeverity)
	for name, d := range cfg.Detectors {
		// A detector's own severity (a GlobalAlert's, our file's), not the
		// global one it follows by default.
		if own, ok := cfg.Setting(config.DetectorSetting(name, "severity")); ok && d.Severity > 0 &&
			own.Origin != "default" && own.Origin != global.Origin {
			p.DetectorSeverity[name] = d.Severity
		}
		if d.ScoreThreshold > 0 {
			p.DetectorMinScore[name] = d.ScoreThreshold
		}
		if d.Summary != "" || d.Description != "" {
			p.Texts[name] = notify.Text{Summary: d.Summary, Description: d.Description}
		}
	}
	if silences := slices.Clone(cfg.Silences); len(silences) > 0 {
		p.Muted = func(detector, namespace, workload string, now time.Time) bool {
			for _, s := range silences {
				if s.Matches(detector, namespace, workload, now) {
					return true
				}
			}
			return false
		}
	}
	return p
}

// liveConfig is the configuration in force, which a reload replaces, with
// the reload metrics.
type liveConfig struct {
	mu       sync.RWMutex
	cfg      *config.Config
	resolve  func() (*config.Config, error)
	apply    func(*config.Config)
	logger   log.Logger
	ok       prometheus.Gauge
	okTime   prometheus.Gauge
	warnings prometheus.Gauge
	reloadMu sync.Mutex
	// running is what the exporter runs with, for /config; nil lists the
	// configuration alone (backtest, tests).
	running *runningSettings
	// page renders /config as HTML for browsers.
	page func(w http.ResponseWriter, settings []web.Setting, warnings []string)
}

func newLiveConfig(cfg *config.Config, resolve func() (*config.Config, error), apply func(*config.Config), logger log.Logger) *liveConfig {
	l := &liveConfig{cfg: cfg, resolve: resolve, apply: apply, logger: logger,
		ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: "calico_anomaly_config_last_reload_successful",
			Help: "1 when the last configuration reload succeeded; a failed reload keeps the configuration in force."}),
		okTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "calico_anomaly_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully, as a Unix timestamp."}),
	}
	l.warnings = prometheus.NewGauge(prometheus.GaugeOpts{Name: "calico_anomaly_config_warnings",
		Help: "Warnings of the configuration in force (a name in a disable list that matches no detector, a period taken to whole buckets, a Calico setting with no effect); listed on /config."})
	l.ok.Set(1)
	l.okTime.SetToCurrentTime()
	l.warnings.Set(float64(len(cfg.Warnings())))
	return l
}

func (l *liveConfig) current() *config.Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// reload reads the files again. An invalid configuration is refused and
// the one in force kept. Alert settings (severities, score thresholds,
// silences, texts) take effect at once; a change of the detectors or
// their settings is reported as needing a restart, because rebuilding a
// detector would throw its learned model away.
func (l *liveConfig) reload() error {
	l.reloadMu.Lock()
	defer l.reloadMu.Unlock()
	next, err := l.resolve()
	if err != nil {
		l.ok.Set(0)
		level.Error(l.logger).Log("msg", "configuration reload refused; the configuration in force is kept", "err", err)
		return err
	}
	prev := l.current()
	if !slices.Equal(prev.EnabledDetectors(), next.EnabledDetectors()) || fmt.Sprint(prev.Params()) != fmt.Sprint(next.Params()) {
		level.Warn(l.logger).Log("msg", "the enabled detectors or their settings changed: they take effect at the next restart (models are kept until then)",
			"enabled_now", fmt.Sprint(prev.EnabledDetectors()), "enabled_in_files", fmt.Sprint(next.EnabledDetectors()))
	}
	for _, w := range next.Warnings() {
		level.Warn(l.logger).Log("msg", "configuration accepted with a warning", "warning", w)
	}
	l.apply(next)
	l.mu.Lock()
	l.cfg = next
	l.mu.Unlock()
	l.warnings.Set(float64(len(next.Warnings())))
	l.ok.Set(1)
	l.okTime.SetToCurrentTime()
	level.Info(l.logger).Log("msg", "configuration reloaded")
	return nil
}

// watchSIGHUP reloads on every SIGHUP until ctx ends.
func (l *liveConfig) watchSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = l.reload()
			}
		}
	}()
}

// reloadHandler is POST /-/reload, as Prometheus serves it.
func (l *liveConfig) reloadHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "use POST to reload the configuration", http.StatusMethodNotAllowed)
		return
	}
	if err := l.reload(); err != nil {
		http.Error(w, "configuration refused, the one in force is kept: "+redact.Text(err.Error()), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "configuration reloaded")
}

// configHandler is /config: every setting in force and where it came
// from, secrets masked; HTML for a browser, text for curl (or
// ?format=text).
func (l *liveConfig) configHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if l.running == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, l.current().Text())
		return
	}
	cur := l.current()
	settings := l.running.list(cur)
	for i := range settings {
		settings[i].Value, settings[i].Origin = redact.Text(settings[i].Value), redact.Text(settings[i].Origin)
	}
	if l.page != nil && r.URL.Query().Get("format") != "text" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		rows := make([]web.Setting, len(settings))
		for i, s := range settings {
			rows[i] = web.Setting{Name: s.Name, Value: s.Value, Origin: s.Origin}
		}
		l.page(w, rows, cur.Warnings())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, inForceText(settings, cur.Warnings()))
}
