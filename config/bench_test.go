package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSilenceMatches is the check each verdict goes through against
// each silence.
func BenchmarkSilenceMatches(b *testing.B) {
	s := Silence{Detector: "generic_*", Namespace: "kube-*", Workload: "coredns-[0-9a-f]*", Until: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		s.Matches("generic_dns", "kube-system", "coredns-7d4f8b-*", now)
	}
}

// BenchmarkResolve is a configuration load: environment, file, alerts.
func BenchmarkResolve(b *testing.B) {
	file, err := os.ReadFile(filepath.Join("testdata", "exporter.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	alerts, err := os.ReadFile(filepath.Join("testdata", "ad-alerts.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	env := envOf(map[string]string{"AD_search_interval_minutes": "5", "AD_port_scan_threshold": "200", "ELASTIC_PASSWORD": "p"})
	b.ReportAllocs()
	for b.Loop() {
		e, err := ReadEnv(env)
		if err != nil {
			b.Fatal(err)
		}
		f, err := ParseFile("exporter.yaml", file)
		if err != nil {
			b.Fatal(err)
		}
		g, err := ParseGlobalAlerts("ad-alerts.yaml", alerts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Resolve(Sources{Env: e, File: f, Alerts: g}); err != nil {
			b.Fatal(err)
		}
	}
}
