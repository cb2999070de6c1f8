package config

import (
	"fmt"
	"slices"
	"sync"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// SafeConfig is the configuration in force. A reload loads a new one and
// swaps it in whole, never editing the one in force; a configuration
// that does not load is refused and the one in force kept, as
// blackbox_exporter's SafeConfig does. It is a prometheus.Collector of
// the reload metrics.
type SafeConfig struct {
	mu       sync.RWMutex
	c        *Config
	load     func() (*Config, error)
	logger   log.Logger
	reloadMu sync.Mutex

	ok, okTime, warnings prometheus.Gauge
}

// NewSafeConfig holds initial, the configuration loaded at start; load
// (usually Flags.Load) loads it afresh on each reload.
func NewSafeConfig(initial *Config, load func() (*Config, error), logger log.Logger) *SafeConfig {
	s := &SafeConfig{c: initial, load: load, logger: logger,
		ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: "calico_anomaly_config_last_reload_successful",
			Help: "1 when the last configuration reload succeeded; a failed reload keeps the configuration in force."}),
		okTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "calico_anomaly_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully, as a Unix timestamp."}),
		warnings: prometheus.NewGauge(prometheus.GaugeOpts{Name: "calico_anomaly_config_warnings",
			Help: "Warnings of the configuration in force (a name in a disable list that matches no detector, a period taken to whole buckets, a Calico setting with no effect); listed on /config."}),
	}
	s.ok.Set(1)
	s.okTime.SetToCurrentTime()
	s.warnings.Set(float64(len(initial.Warnings())))
	return s
}

// Get returns the configuration in force; the caller must not change it.
func (s *SafeConfig) Get() *Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.c
}

// Reload loads the configuration again and puts it in force, returning
// it. A configuration that does not load is refused with the error
// (naming the file:line or variable at fault), counted in
// calico_anomaly_config_last_reload_successful, and the one in force
// kept.
func (s *SafeConfig) Reload() (*Config, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	next, err := s.load()
	if err != nil {
		s.ok.Set(0)
		level.Error(s.logger).Log("msg", "configuration reload refused; the configuration in force is kept", "err", err)
		return nil, err
	}
	prev := s.Get()
	if !slices.Equal(prev.EnabledDetectors(), next.EnabledDetectors()) || fmt.Sprint(prev.Params()) != fmt.Sprint(next.Params()) {
		level.Warn(s.logger).Log("msg", "the enabled detectors or their settings changed: they take effect at the next restart (models are kept until then)",
			"enabled_now", fmt.Sprint(prev.EnabledDetectors()), "enabled_in_files", fmt.Sprint(next.EnabledDetectors()))
	}
	for _, w := range next.Warnings() {
		level.Warn(s.logger).Log("msg", "configuration accepted with a warning", "warning", w)
	}
	s.mu.Lock()
	s.c = next
	s.mu.Unlock()
	s.warnings.Set(float64(len(next.Warnings())))
	s.ok.Set(1)
	s.okTime.SetToCurrentTime()
	level.Info(s.logger).Log("msg", "configuration reloaded")
	return next, nil
}

// Describe sends the reload metrics' descriptions.
func (s *SafeConfig) Describe(ch chan<- *prometheus.Desc) {
	s.ok.Describe(ch)
	s.okTime.Describe(ch)
	s.warnings.Describe(ch)
}

// Collect sends the reload metrics.
func (s *SafeConfig) Collect(ch chan<- prometheus.Metric) {
	s.ok.Collect(ch)
	s.okTime.Collect(ch)
	s.warnings.Collect(ch)
}
