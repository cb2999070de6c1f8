package config_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// workshopEnv is the env block of a published Calico workshop's
// ad-jobs-deployment, as its users have it today.
var workshopEnv = map[string]string{
	"AD_max_docs":                                   "100000",
	"AD_train_interval_minutes":                     "20",
	"AD_search_interval_minutes":                    "5",
	"AD_DnsLatency_IsolationForest_score_threshold": "-0.886",
	"AD_ProcessRestarts_threshold":                  "5",
	"AD_port_scan_threshold":                        "200",
	"AD_ip_sweep_threshold":                         "32",
	"AD_BytesInModel_min_size_for_train":            "1000",
	"AD_SeasonalAD_c":                               "500",
	"AD_BytesOutModel_min_size_for_train":           "1000",
	"AD_debug":                                      "True",
}

func workshopConfig(t *testing.T) *config.Config {
	t.Helper()
	env, err := config.ReadEnv(func(k string) string { return workshopEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Resolve(config.Sources{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWorkshopEnvGlobals(t *testing.T) {
	c := workshopConfig(t)
	checks := []struct {
		name      string
		got, want any
		setting   string
		origin    string
	}{
		{"AD_max_docs", c.MaxDocs, 100000, config.SettingMaxDocs, "env AD_max_docs"},
		{"AD_train_interval_minutes", c.TrainInterval, 20 * time.Minute, config.SettingTrainInterval, "env AD_train_interval_minutes"},
		{"AD_search_interval_minutes", c.SearchInterval, 5 * time.Minute, config.SettingSearchInterval, "env AD_search_interval_minutes"},
		{"AD_debug", c.Debug, true, config.SettingDebug, "env AD_debug"},
		{"unset bucket keeps Calico's default", c.Bucket, 5 * time.Minute, config.SettingBucket, "default"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
		if s, _ := c.Setting(ch.setting); s.Origin != ch.origin {
			t.Errorf("%s: origin %q, want %q", ch.name, s.Origin, ch.origin)
		}
	}
}

// workshopDetectorVars are the workshop's detector variables and the
// detector that must read each.
var workshopDetectorVars = []struct {
	env, detector string
}{
	{"AD_port_scan_threshold", "port_scan"},
	{"AD_ip_sweep_threshold", "ip_sweep"},
	{"AD_BytesInModel_min_size_for_train", "bytes_in"},
	{"AD_SeasonalAD_c", "bytes_in"},
	{"AD_BytesOutModel_min_size_for_train", "bytes_out"},
	{"AD_SeasonalAD_c", "bytes_out"},
	{"AD_DnsLatency_IsolationForest_score_threshold", "dns_latency"},
	{"AD_ProcessRestarts_threshold", "process_restarts"},
}

func TestWorkshopEnvDetectorParams(t *testing.T) {
	c := workshopConfig(t)
	params := c.Params()
	for _, v := range workshopDetectorVars {
		t.Run(v.env+"/"+v.detector, func(t *testing.T) {
			info, ok := detect.Lookup(v.detector)
			if !ok {
				t.Fatalf("detector %s is not registered", v.detector)
			}
			var key string
			for _, p := range info.Params {
				if p.Env == v.env {
					key = p.Key
				}
			}
			if key == "" {
				t.Fatalf("detector %s declares no setting read from %s", v.detector, v.env)
			}
			if got := params[v.detector][key]; got != workshopEnv[v.env] {
				t.Errorf("params[%s][%s] = %q, want %q", v.detector, key, got, workshopEnv[v.env])
			}
			if s, _ := c.Setting(config.DetectorSetting(v.detector, key)); s.Origin != "env "+v.env {
				t.Errorf("origin %q, want env %s", s.Origin, v.env)
			}
		})
	}
}

// build constructs one detector from the workshop's configuration the way
// the exporter does: engine.BuildWith with the resolved params, and an
// environment that is empty so only the params can carry the values.
func build(t *testing.T, c *config.Config, name string) detect.Detector {
	t.Helper()
	ds, err := engine.BuildWith([]string{name}, engine.BuildOptions{
		Cluster: c.Cluster, Getenv: func(string) string { return "" }, Params: c.Params(),
		Bucket: c.Bucket, TrainInterval: c.TrainInterval, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ds[0]
}

func TestWorkshopThresholdsReachTheDetectors(t *testing.T) {
	c := workshopConfig(t)
	w := source.Window{Start: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	w.End = w.Start.Add(c.SearchInterval)
	tests := []struct {
		detector string
		distinct float64
		want     bool
	}{
		// AD_port_scan_threshold=200, not Calico's default 500.
		{"port_scan", 200, true},
		{"port_scan", 199, false},
		{"ip_sweep", 32, true},
		{"ip_sweep", 31, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s at %v", tt.detector, tt.distinct), func(t *testing.T) {
			d := build(t, c, tt.detector)
			vs := d.Judge(w, scanRows(int(tt.distinct)))
			if len(vs) != 1 {
				t.Fatalf("%d verdicts", len(vs))
			}
			if got := vs[0].Anomalous(); got != tt.want {
				t.Errorf("anomalous = %v (score %v, threshold %v), want %v", got, vs[0].Score, d.Threshold(), tt.want)
			}
		})
	}
}

func TestWorkshopMinSizeForTrainReachesTheBytesDetectors(t *testing.T) {
	c := workshopConfig(t)
	w := source.Window{Start: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	w.End = w.Start.Add(c.Bucket)
	// pods returns one window's rows: n pods of one replica set.
	pods := func(n int) [][]source.Row {
		rows := make([]source.Row, n)
		for i := range rows {
			rows[i] = source.Row{Key: []string{"shop", "web-7d4f8b-*", "wep", fmt.Sprintf("web-7d4f8b-%04d", i)}, Values: []float64{1000}}
		}
		return [][]source.Row{rows}
	}
	for _, name := range []string{"bytes_in", "bytes_out"} {
		t.Run(name, func(t *testing.T) {
			d, ok := build(t, c, name).(detect.Learner)
			if !ok {
				t.Fatalf("%s does not learn", name)
			}
			// AD_*Model_min_size_for_train=1000 pod windows.
			d.Learn(w, pods(999))
			if d.Ready() {
				t.Fatal("ready after 999 pod windows")
			}
			d.Learn(w, pods(1))
			if !d.Ready() {
				t.Fatal("not ready after 1000 pod windows")
			}
		})
	}
}

// scanRows is one window's rows of the scan detectors' queries for one
// source workload that reached n distinct values (ports or addresses): one
// row per value, as the detectors read them.
func scanRows(n int) [][]source.Row {
	rows := make([]source.Row, n)
	for i := range rows {
		rows[i] = source.Row{Key: []string{"shop", "scanner-5d9f-*", "wep", strconv.Itoa(i)}, Values: []float64{1}}
	}
	return [][]source.Row{rows, nil}
}

// TestEveryDetectorBuildsFromResolvedSettings builds every registered
// detector from the defaults and from the workshop's environment.
func TestEveryDetectorBuildsFromResolvedSettings(t *testing.T) {
	defaults, err := config.Resolve(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*config.Config{"defaults": defaults, "workshop": workshopConfig(t)} {
		for _, info := range detect.Registered() {
			t.Run(name+"/"+info.Name, func(t *testing.T) { build(t, c, info.Name) })
		}
	}
}

// TestConfiguredParamsWinInTheDetector checks that a value changed in the
// resolved params (not only the environment) is what the detector uses.
func TestConfiguredParamsWinInTheDetector(t *testing.T) {
	f, err := config.ParseFile("exporter.yaml", []byte("detectors:\n  port_scan: {settings: {threshold: 50}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := config.ReadEnv(func(k string) string { return workshopEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Resolve(config.Sources{Env: env, File: f})
	if err != nil {
		t.Fatal(err)
	}
	d := build(t, c, "port_scan")
	w := source.Window{Start: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	w.End = w.Start.Add(c.Bucket)
	vs := d.Judge(w, scanRows(50))
	if len(vs) != 1 || !vs[0].Anomalous() {
		t.Errorf("50 ports with the file's threshold 50: %+v", vs)
	}
}
