package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
)

// TestGlobalAlertsChooseDetectorsAndSeverity: the exporter started with a
// workshop's ad-alerts.yaml runs exactly the detectors it names, shows
// each one's severity and origin on /config, and its alerts carry the
// GlobalAlert's severity and summary.
func TestGlobalAlertsChooseDetectorsAndSeverity(t *testing.T) {
	alerts, err := filepath.Abs("../../config/testdata/ad-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--source=simulated", "--simulate.speed=600", "--detectors.config="+alerts, "--alert.dry-run")
	mfs := e.waitForMetrics(t, 90*time.Second, "a port scan alert", func(mfs map[string]*dto.MetricFamily) bool {
		return strings.Contains(e.log.String(), `\"detector\":\"port_scan\"`)
	})
	var running []string
	for d := range series(mfs, "calico_anomaly_model_ready", "detector") {
		running = append(running, d)
	}
	sort.Strings(running)
	if got, want := strings.Join(running, ","), "bytes_out,ip_sweep,port_scan,process_bytes"; got != want {
		t.Errorf("detectors running: %s, want exactly those of the GlobalAlerts: %s", got, want)
	}
	page := get(t, e.URL+"/config")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`detector\.ip_sweep\.severity\s+80\s+globalalert .*ad-alerts\.yaml:\d+`),
		regexp.MustCompile(`detector\.port_scan\.enabled\s+true\s+globalalert`),
		regexp.MustCompile(`detector\.generic_flows\.enabled\s+false`),
	} {
		if !want.MatchString(page) {
			t.Errorf("/config lacks %s:\n%s", want, page)
		}
	}
	var sawSeverity bool
	for _, line := range strings.Split(e.log.String(), "\n") {
		if !strings.Contains(line, "dry run: alert not sent") || !strings.Contains(line, `\"detector\":\"port_scan\"`) {
			continue
		}
		if !strings.Contains(line, `Looks for pods in your cluster that are sending packets to one destination on multiple ports.`) {
			t.Errorf("the port scan alert does not carry the GlobalAlert's summary: %s", line)
		}
		sawSeverity = sawSeverity || strings.Contains(line, `\"severity\":\"critical\"`)
	}
	if !sawSeverity {
		t.Error("no port scan alert with severity critical (GlobalAlert severity 100)")
	}
	if !strings.Contains(e.log.String(), `msg="GlobalAlert ignored" name=sandbox-egress`) {
		t.Error("the RuleBased GlobalAlert was not reported as ignored")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestBrokenConfigurationIsRefusedAtStart names the file, line and column.
func TestBrokenConfigurationIsRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(bad, []byte("detectors:\n  port_scan:\n    severity: loud\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--config.file=" + bad}, "", bad + ":3:15"},
		{nil, "AD_port_scan_threshold=many", `AD_port_scan_threshold`},
		{nil, "AD_search_interval_minutes=-5", `AD_search_interval_minutes`},
	} {
		cmd := exec.Command(exporterBinary(t), append([]string{"--source=simulated", "--web.listen-address=127.0.0.1:0"}, tc.args...)...)
		if tc.env != "" {
			cmd.Env = append(os.Environ(), tc.env)
		}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v %s: err %v, output %q; want a refusal naming %q", tc.args, tc.env, err, out, tc.want)
		}
	}
}

// TestReloadKeepsTheRunningConfigurationWhenTheNewOneIsBroken: SIGHUP and
// POST /-/reload read the file again; a broken file is refused, counted in
// the reload metric, and the configuration in force stays.
func TestReloadKeepsTheRunningConfigurationWhenTheNewOneIsBroken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("detectors:\n  port_scan:\n    severity: 90\n")
	e := startExporter(t, "--source=simulated", "--config.file="+file)
	if page := get(t, e.URL+"/config"); !regexp.MustCompile(`detector\.port_scan\.severity\s+90\s+file`).MatchString(page) {
		t.Fatalf("/config before the reload:\n%s", page)
	}
	reloadMetric := func() float64 {
		_, mfs := e.scrape(t)
		return series(mfs, "calico_anomaly_config_last_reload_successful")[""]
	}

	write("detectors:\n  port_scan:\n    severity: 70\n")
	resp, err := http.Post(e.URL+"/-/reload", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /-/reload: %v %v", resp, err)
	}
	if page := get(t, e.URL+"/config"); !regexp.MustCompile(`detector\.port_scan\.severity\s+70\s+file`).MatchString(page) {
		t.Errorf("/config after a good reload:\n%s", page)
	}
	if got := reloadMetric(); got != 1 {
		t.Errorf("calico_anomaly_config_last_reload_successful %v after a good reload", got)
	}

	write("detectors:\n  port_scan:\n    severity: [\n")
	if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for reloadMetric() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP with a broken file did not set calico_anomaly_config_last_reload_successful to 0")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if page := get(t, e.URL+"/config"); !regexp.MustCompile(`detector\.port_scan\.severity\s+70\s+file`).MatchString(page) {
		t.Errorf("the configuration in force changed after a refused reload:\n%s", page)
	}
	resp, err = http.Post(e.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !bytes.Contains(body, []byte(file+":3")) {
		t.Errorf("POST /-/reload of a broken file: %d %q, want 500 naming %s:3", resp.StatusCode, body, file)
	}
	if resp, err := http.Get(e.URL + "/-/reload"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %v %v, want 405", resp, err)
	}
}

// TestDetectorPeriodsGoToTheEngine: a GlobalAlert's period longer than the
// search interval reaches the engine; a detector that follows the search
// interval, or whose period is no longer, runs every window.
func TestDetectorPeriodsGoToTheEngine(t *testing.T) {
	g, err := config.ParseGlobalAlerts("a.yaml", []byte(`apiVersion: projectcalico.org/v3
kind: GlobalAlert
metadata: {name: tigera.io.detector.port-scan}
spec: {type: AnomalyDetection, detector: {name: port_scan}, period: 15m}
---
apiVersion: projectcalico.org/v3
kind: GlobalAlert
metadata: {name: tigera.io.detector.dga}
spec: {type: AnomalyDetection, detector: {name: dga}, period: 5m}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Resolve(config.Sources{Alerts: g})
	if err != nil {
		t.Fatal(err)
	}
	got := detectorPeriods(cfg, 5*time.Minute, log.NewNopLogger())
	if want := map[string]time.Duration{"port_scan": 15 * time.Minute}; !reflect.DeepEqual(got, want) {
		t.Errorf("periods %v, want %v", got, want)
	}
	gauge := periodGauge([]string{"dga", "port_scan"}, got, 5*time.Minute)
	if p, d := testutil.ToFloat64(gauge.WithLabelValues("port_scan")), testutil.ToFloat64(gauge.WithLabelValues("dga")); p != 900 || d != 300 {
		t.Errorf("calico_anomaly_detector_period_seconds: port_scan %v, dga %v; want 900 and 300", p, d)
	}
	plain, err := config.Resolve(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if got := detectorPeriods(plain, 5*time.Minute, log.NewNopLogger()); len(got) != 0 {
		t.Errorf("without GlobalAlerts, periods %v: every detector follows the search interval", got)
	}
}

// TestWorkshopDisableListTypoStartsWithAWarning: the exporter started with
// a published workshop's AD_DISABLED_JOBS, which misspells
// process_restarts, starts, runs every detector not listed (as Calico's
// jobs did), and shows the warning in its log, on /config and in
// calico_anomaly_config_warnings.
func TestWorkshopDisableListTypoStartsWithAWarning(t *testing.T) {
	t.Setenv("AD_DISABLED_JOBS", "bytes_in,bytes_out,process_bytes,process_restart")
	e := startExporter(t, "--source=simulated", "--alert.dry-run")
	text, mfs := e.scrape(t)
	if got := mfs["calico_anomaly_config_warnings"]; got == nil || got.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("calico_anomaly_config_warnings: %v\n%s", got, text)
	}
	resp, err := http.Get(e.URL + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	for _, want := range []string{"warnings:", `"process_restart" matches no detector`,
		"detector.process_restarts.enabled", "detector.bytes_in.enabled"} {
		if !strings.Contains(page, want) {
			t.Errorf("/config lacks %q:\n%s", want, page)
		}
	}
	for _, line := range strings.Split(page, "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && (fields[0] == "detector.process_restarts.enabled" && fields[1] != "true" ||
			fields[0] == "detector.bytes_in.enabled" && fields[1] != "false") {
			t.Errorf("want process_restarts on and bytes_in off: %s", line)
		}
	}
	if !strings.Contains(e.log.String(), "configuration accepted with a warning") {
		t.Errorf("no warning in the log:\n%s", lastLines(e.log.String(), 20))
	}
}

// TestConfigCheck: --config.check validates the flags, Calico's
// environment and the files, and exits without serving: 0 with every
// setting and its origin printed, non-zero naming the line, variable or
// flag at fault.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	for path, body := range map[string]string{
		good: "elasticsearch:\n  tenant: acme\n",
		bad:  "elasticsearch:\n  tenant: acme\ndetectors:\n  port_scan:\n    severity: loud\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		env    string
		ok     bool
		output *regexp.Regexp
	}{
		{"a valid file", []string{"--config.file=" + good}, "AD_search_interval_minutes=30", true,
			regexp.MustCompile(`(?s)configuration valid.*search_interval\s+30m0s\s+env AD_search_interval_minutes.*elasticsearch\.tenant\s+acme\s+file ` + regexp.QuoteMeta(good) + `:2`)},
		{"a broken file", []string{"--config.file=" + bad}, "", false, regexp.MustCompile(regexp.QuoteMeta(bad) + `:5:15`)},
		{"a broken variable", nil, "AD_port_scan_threshold=many", false, regexp.MustCompile(`AD_port_scan_threshold="many"`)},
		{"a flag out of range", []string{"--search.interval=30s"}, "", false, regexp.MustCompile(`--search.interval=30s: want a duration from 1m0s`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No listen address is free to take: a check serves nothing.
			cmd := exec.Command(exporterBinary(t), append([]string{"--config.check", "--web.listen-address=256.0.0.1:1"}, tc.args...)...)
			cmd.Env = os.Environ()
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env)
			}
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.ok || !tc.output.Match(out) {
				t.Errorf("exit %v, output:\n%s\nwant success %v and output matching %s", err, out, tc.ok, tc.output)
			}
		})
	}
}
