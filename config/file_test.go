package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFileExample(t *testing.T) {
	f, err := LoadFile(filepath.Join("testdata", "exporter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	until := time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)
	checks := []struct {
		name      string
		got, want any
	}{
		{"clusters", f.Globals[SettingClusters], "prod-eu,prod-us"},
		{"index layout", f.Globals[SettingIndexLayout], "legacy"},
		{"tenant", f.Globals[SettingTenant], "acme"},
		{"max series", f.Globals[SettingMaxSeries], "5000"},
		{"port_scan severity", f.Detectors["port_scan"].Severity, 90},
		{"port_scan score threshold", f.Detectors["port_scan"].ScoreThreshold, 0.6},
		{"port_scan enabled not given", f.Detectors["port_scan"].Enabled == nil, true},
		{"port_scan settings", f.Detectors["port_scan"].Settings, map[string]string{"threshold": "200"}},
		{"dash spelling of ip_sweep", *f.Detectors["ip_sweep"].Enabled, true},
		{"ip_sweep period", f.Detectors["ip_sweep"].Period, 10 * time.Minute},
		{"bytes_out settings", f.Detectors["bytes_out"].Settings, map[string]string{"c": "300", "min_size_for_train": "500"}},
		{"generic_flows off", *f.Detectors["generic_flows"].Enabled, false},
		{"fields list joined", f.Detectors["generic_flows"].Settings["fields"], "bytes_in,bytes_out,num_flows"},
		{"silences", len(f.Silences), 2},
		{"first silence", [4]any{f.Silences[0].Detector, f.Silences[0].Namespace, f.Silences[0].Until, f.Silences[0].Comment}, [4]any{"generic_*", "kube-system", until, "noisy during the upgrade"}},
		{"threshold position", f.Pos[DetectorSetting("port_scan", "threshold")].Line, 13},
		{"clusters position", f.Pos[SettingClusters], Position{File: filepath.Join("testdata", "exporter.yaml"), Line: 2, Column: 11}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseFileForms(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"empty file", "", ""},
		{"only a comment", "# nothing yet\n", ""},
		{"empty detector section", "detectors:\n  port_scan: {}\n", ""},
		{"score threshold of 1", "detectors:\n  ip_sweep: {score_threshold: 1}\n", ""},
		{"no bound on series", "metrics: {max_series_per_detector: 0}\n", ""},
		{"empty tenant", "elasticsearch: {tenant: \"\"}\n", ""},
		{"score threshold of 0", "detectors:\n  ip_sweep: {score_threshold: 0}\n", "x.yaml:2:31: detectors.ip_sweep.score_threshold: 0 would alert"},
		{"a list at the top", "- clusters: [a]\n", "x.yaml:1:1: configuration: want a mapping, got a list"},
		{"a null detector section", "detectors:\n  port_scan:\n", "detectors.port_scan: want a mapping, got nothing"},
		{"an empty clusters list", "clusters: []\n", "clusters: the list is empty"},
		{"a field list naming an unknown field", "detectors:\n  generic_flows:\n    settings: {fields: [bytes_in, bytez]}\n", `x.yaml:3:24: detectors.generic_flows.settings.fields: detector generic_flows: AD_GENERIC_FLOWS_FIELDS names unknown field "bytez"`},
		{"a list item that is a mapping", "detectors:\n  generic_flows:\n    settings: {fields: [{a: 1}]}\n", "detectors.generic_flows.settings.fields[0]: want a value, got a mapping"},
		{"a merge key", "base: &b {enabled: true}\ndetectors:\n  port_scan: *b\n", `unknown key "base"`},
		{"an alias", "detectors:\n  port_scan: &b {enabled: true}\n  ip_sweep: *b\n", "x.yaml:3:13: detectors.ip_sweep: aliases (*b) are not supported"},
		{"a number for a detector name", "detectors:\n  1: {}\n", `unknown detector "1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile("x.yaml", []byte(tt.yaml))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSilenceMatches(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name                          string
		silence                       Silence
		detector, namespace, workload string
		want                          bool
	}{
		{"detector glob", Silence{Detector: "generic_*"}, "generic_flows", "shop", "web-*", true},
		{"detector glob not matching", Silence{Detector: "generic_*"}, "port_scan", "shop", "web-*", false},
		{"namespace and workload", Silence{Namespace: "kube-system", Workload: "coredns-*"}, "dns_latency", "kube-system", "coredns-7d4f8b-*", true},
		{"workload in another namespace", Silence{Namespace: "kube-system", Workload: "coredns-*"}, "dns_latency", "default", "coredns-7d4f8b-*", false},
		{"before its end", Silence{Detector: "*", Until: now.Add(time.Minute)}, "port_scan", "a", "b", true},
		{"at its end", Silence{Detector: "*", Until: now}, "port_scan", "a", "b", false},
		{"a character class", Silence{Workload: "batch-[0-9]*"}, "bytes_out", "jobs", "batch-7-*", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.silence.Matches(tt.detector, tt.namespace, tt.workload, now); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzConfigFile(f *testing.F) {
	seedFiles(f, "testdata/exporter.yaml", "testdata/bad/file-*.yaml")
	f.Add([]byte("detectors:\n  generic_dns:\n    settings: {fields: [count], sensitivity: 1e400}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseFile("fuzz.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Error("a result with an error")
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error without the file's name: %v", err)
			}
			return
		}
		for name, d := range cfg.Detectors {
			if !isRegistered(name) {
				t.Errorf("section for unregistered detector %q", name)
			}
			if d.Severity < 0 || d.Severity > 100 || d.Period < 0 || d.ScoreThreshold < 0 || d.ScoreThreshold > 1 {
				t.Errorf("out of range: %+v", d)
			}
		}
		for _, g := range globals {
			text, ok := cfg.Globals[g.name]
			if !ok {
				continue
			}
			if err := g.field(&Config{}).Set(text); err != nil {
				t.Errorf("accepted %s %q, which its flag refuses: %v", g.file, text, err)
			}
		}
	})
}
