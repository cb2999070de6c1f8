package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/redact"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/web"
)

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

// policyFrom adds the configuration's alert settings to p.
func policyFrom(p notify.Policy, cfg *config.Config) notify.Policy {
	global, _ := cfg.Setting(config.SettingAlertSeverity)
	p.Severity = cfg.AlertSeverity
	// No severity configured: alert labels follow the detector's family
	// and score; Calico's events keep the 0..100 severity.
	p.SeverityByFamily = global.Origin == "default"
	p.DetectorSeverity, p.DetectorMinScore, p.Texts = map[string]int{}, map[string]float64{}, map[string]notify.Text{}
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

// liveConfig serves the configuration in force (config.SafeConfig):
// reloads on SIGHUP and POST /-/reload, and /config.
type liveConfig struct {
	safe *config.SafeConfig
	// apply puts a reloaded configuration's alert settings in force.
	apply func(*config.Config)
	// running is what the exporter runs with, for /config; nil lists the
	// configuration alone (backtest, tests).
	running *runningSettings
	// page renders /config as HTML for browsers.
	page func(w http.ResponseWriter, settings []web.Setting, warnings []string)
}

func (l *liveConfig) current() *config.Config { return l.safe.Get() }

// reload reads the files again. An invalid configuration is refused and
// the one in force kept. Alert settings (severities, score thresholds,
// silences, texts) take effect at once; a change of the detectors or
// their settings is reported as needing a restart, because rebuilding a
// detector would throw its learned model away.
func (l *liveConfig) reload() error {
	next, err := l.safe.Reload()
	if err != nil {
		return err
	}
	l.apply(next)
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
