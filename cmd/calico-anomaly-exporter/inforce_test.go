package main

import (
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// shownSetting is one line of /config as text.
type shownSetting struct{ value, origin string }

var configLine = regexp.MustCompile(`^(\S+)\s+("(?:[^"\\]|\\.)*"|\S+)\s+(.*)$`)

func configPage(t *testing.T, e *runningExporter) map[string]shownSetting {
	t.Helper()
	out := map[string]shownSetting{}
	for _, line := range strings.Split(strings.TrimSpace(get(t, e.URL+"/config")), "\n") {
		m := configLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("/config line %q is not name, value, origin", line)
		}
		out[m[1]] = shownSetting{strings.Trim(m[2], `"`), m[3]}
	}
	return out
}

// portScanLimit is the smallest count a port_scan verdict was judged
// against in the latest window: the detector's threshold as it runs
// (learned limits of probers and the slow-scan limit are only larger).
func portScanLimit(mfs map[string]*dto.MetricFamily) float64 {
	limit := math.Inf(1)
	for key, v := range series(mfs, "calico_anomaly_expected_value", "detector", "namespace", "workload") {
		if strings.HasPrefix(key, "port_scan/") {
			limit = min(limit, v)
		}
	}
	return limit
}

func hasPortScan(mfs map[string]*dto.MetricFamily) bool { return !math.IsInf(portScanLimit(mfs), 1) }

// TestConfigShowsWhatRuns starts the exporter as users do (flags, Calico's
// environment) and compares what /config shows with what runs: the search
// interval the engine was given (calico_anomaly_search_interval_seconds),
// the detectors built (calico_anomaly_model_ready) and the port scan
// threshold the detector judges by (calico_anomaly_expected_value).
func TestConfigShowsWhatRuns(t *testing.T) {
	for _, tc := range []struct {
		name          string
		env           map[string]string
		args          []string
		interval      string
		intervalFrom  string
		train         string
		threshold     float64
		thresholdFrom string
		tenant        string
		tenantFrom    string
	}{
		{"defaults", nil, nil, "5m0s", "default", "0s", 500, "default", "", "default"},
		{"Calico's environment with its 30-minute interval", map[string]string{
			"AD_search_interval_minutes": "30", "AD_train_interval_minutes": "20", "AD_port_scan_threshold": "200",
			"AD_DISABLED_JOBS": "generic_flows,dga", "TENANT_ID": "acme",
		}, nil, "30m0s", "env AD_search_interval_minutes", "20m0s", 200, "env AD_port_scan_threshold", "acme", "env TENANT_ID"},
		{"flags win over the environment", map[string]string{"AD_search_interval_minutes": "30", "TENANT_ID": "acme"},
			[]string{"--search.interval=10m", "--no-detector.dns-tunnel", "--es.tenant=beta"}, "10m0s", "flag --search.interval", "0s", 500, "default", "beta", "flag --es.tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			e := startExporter(t, append([]string{"--source=simulated", "--simulate.speed=600"}, tc.args...)...)
			mfs := e.waitForMetrics(t, 60*time.Second, "port_scan verdicts", hasPortScan)
			shown := configPage(t, e)

			if got := shown["--search.interval"]; got.value != tc.interval || got.origin != tc.intervalFrom {
				t.Errorf("/config --search.interval %q from %q, want %q from %q", got.value, got.origin, tc.interval, tc.intervalFrom)
			}
			want, _ := time.ParseDuration(tc.interval)
			if got := series(mfs, "calico_anomaly_search_interval_seconds")[""]; got != want.Seconds() {
				t.Errorf("the engines run every %vs, /config shows %s", got, tc.interval)
			}
			if got := shown["--es.tenant"]; got.value != tc.tenant || got.origin != tc.tenantFrom {
				t.Errorf("/config --es.tenant %q from %q, want %q from %q", got.value, got.origin, tc.tenant, tc.tenantFrom)
			}
			if got := shown["--train.interval"].value; got != tc.train {
				t.Errorf("/config --train.interval %q, want %q", got, tc.train)
			}
			var running, enabled []string
			for d := range series(mfs, "calico_anomaly_model_ready", "detector") {
				running = append(running, d)
			}
			for name, s := range shown {
				if d, ok := strings.CutSuffix(strings.TrimPrefix(name, "detector."), ".enabled"); ok && strings.HasPrefix(name, "detector.") && s.value == "true" {
					enabled = append(enabled, d)
				}
				if d, ok := strings.CutSuffix(strings.TrimPrefix(name, "detector."), ".period"); ok && strings.HasPrefix(name, "detector.") && s.value != tc.interval {
					t.Errorf("/config shows %s running every %s; every detector runs each %s", d, s.value, tc.interval)
				}
			}
			sort.Strings(running)
			sort.Strings(enabled)
			if !slices.Equal(running, enabled) {
				t.Errorf("detectors running %v, /config shows enabled %v", running, enabled)
			}
			if got := shown["detector.port_scan.threshold"]; got.value != formatCount(tc.threshold) || got.origin != tc.thresholdFrom {
				t.Errorf("/config port_scan threshold %q from %q, want %v from %q", got.value, got.origin, tc.threshold, tc.thresholdFrom)
			}
			if got := portScanLimit(mfs); got != tc.threshold {
				t.Errorf("port_scan judges against %v, /config shows %s", got, shown["detector.port_scan.threshold"].value)
			}
			// Events need Elasticsearch: the simulated source writes none.
			if got := shown["--events.enabled"].value; got != "false" {
				t.Errorf("/config --events.enabled %q with the simulated source", got)
			}
			if _, ok := mfs["calico_anomaly_events_queue_capacity"]; ok {
				t.Error("the events notifier runs with the simulated source")
			}
			for _, unused := range []string{"max_docs", "elasticsearch.query_size", "elasticsearch.scroll_time", "train_interval", "search_interval"} {
				if _, ok := shown[unused]; ok {
					t.Errorf("/config lists %s, which nothing reads (or which its flag shows)", unused)
				}
			}
		})
	}
}

func formatCount(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// TestConfigAfterReloadShowsWhatRuns: a reload puts alert settings in
// force at once and detector settings only at the next restart; /config
// shows each as it runs, the pending value beside it.
func TestConfigAfterReloadShowsWhatRuns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yml")
	write := func(severity, threshold string) {
		t.Helper()
		body := "detectors:\n  port_scan:\n    severity: " + severity + "\n    settings:\n      threshold: " + threshold + "\n"
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("60", "300")
	e := startExporter(t, "--source=simulated", "--simulate.speed=600", "--config.file="+file)
	e.waitForMetrics(t, 60*time.Second, "port_scan verdicts", hasPortScan)
	shown := configPage(t, e)
	if got := shown["detector.port_scan.severity"]; got.value != "60" || !strings.HasPrefix(got.origin, "file "+file+":3") {
		t.Errorf("before the reload: severity %q from %q", got.value, got.origin)
	}
	write("30", "100")
	resp, err := http.Post(e.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %s", resp.Status)
	}
	// A window scored after the reload still judges by the old threshold.
	_, before := e.scrape(t)
	mfs := e.waitForMetrics(t, 60*time.Second, "a window after the reload", func(mfs map[string]*dto.MetricFamily) bool {
		return series(mfs, "calico_anomaly_detector_last_run_timestamp_seconds", "detector")["port_scan"] >
			series(before, "calico_anomaly_detector_last_run_timestamp_seconds", "detector")["port_scan"]
	})
	shown = configPage(t, e)
	if got := shown["detector.port_scan.severity"]; got.value != "30" {
		t.Errorf("after the reload: severity %q, want 30 (alert settings take effect at once)", got.value)
	}
	got := shown["detector.port_scan.threshold"]
	if got.value != "300" || !strings.Contains(got.origin, "reloaded files give 100") || !strings.Contains(got.origin, "next restart") {
		t.Errorf("after the reload: threshold %q from %q, want 300 in force with 100 pending", got.value, got.origin)
	}
	if limit := portScanLimit(mfs); limit != 300 {
		t.Errorf("port_scan judges against %v after the reload, /config shows %s", limit, got.value)
	}
}

// TestConfigShowsAGlobalAlertPeriodInForce: Calico's GlobalAlerts carry a
// period (15m from the operator's templates), which the engine applies to
// their detector; /config shows it with the GlobalAlert as its origin,
// while the search interval stays 5m.
func TestConfigShowsAGlobalAlertPeriodInForce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "alerts.yaml")
	alert := `apiVersion: projectcalico.org/v3
kind: GlobalAlert
metadata:
  name: tigera.io.detector.port-scan
spec:
  type: AnomalyDetection
  description: Port Scan detection
  detector:
    name: port_scan
  period: 15m
  severity: 55
`
	if err := os.WriteFile(file, []byte(alert), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--source=simulated", "--simulate.speed=600", "--detectors.config="+file)
	mfs := e.waitForMetrics(t, 60*time.Second, "port_scan verdicts", hasPortScan)
	shown := configPage(t, e)
	period := shown["detector.port_scan.period"]
	if period.value != "15m0s" || !strings.HasPrefix(period.origin, "globalalert ") {
		t.Errorf("port_scan period %q from %q, want the GlobalAlert's 15m0s", period.value, period.origin)
	}
	if got := series(mfs, "calico_anomaly_detector_period_seconds", "detector")["port_scan"]; got != 900 {
		t.Errorf("the engine runs port_scan every %vs, want 900", got)
	}
	if got := series(mfs, "calico_anomaly_search_interval_seconds")[""]; got != 300 {
		t.Errorf("the engine runs every %vs", got)
	}
	if got := shown["detector.port_scan.severity"]; got.value != "55" || !strings.HasPrefix(got.origin, "globalalert ") {
		t.Errorf("port_scan severity %q from %q, want the GlobalAlert's 55", got.value, got.origin)
	}
	var running []string
	for d := range series(mfs, "calico_anomaly_model_ready", "detector") {
		running = append(running, d)
	}
	if !slices.Equal(running, []string{"port_scan"}) || shown["detector.ip_sweep.enabled"].value != "false" {
		t.Errorf("running %v; /config ip_sweep enabled %q: one GlobalAlert runs its detector alone", running, shown["detector.ip_sweep.enabled"].value)
	}
}

func TestConfigPageIsHTMLForBrowsersAndLinkedFromStatus(t *testing.T) {
	e := startExporter(t, "--source=simulated", "--simulate.speed=600")
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/config", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("/config for a browser is %s", ct)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	for _, want := range []string{`<table id="settings">`, `<code>--search.interval</code>`, `<a href="/config">Configuration</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("/config page lacks %s", want)
		}
	}
	if status := get(t, e.URL+"/"); !strings.Contains(status, `<a href="/config">Configuration</a>`) {
		t.Error("the status page does not link to /config")
	}
	if resp, err := http.Get(e.URL + "/-/healthy"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/-/healthy: %v %v", resp, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(e.URL + "/-/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/-/ready still %s after 60s", resp.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
