package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
)

// get returns the body of a page of e.
func (e *runningExporter) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(e.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPlantedSecretsAreShownNowhere plants a password in every URL the
// exporter takes (Elasticsearch, Alertmanager, Grafana, the external URL),
// lets Elasticsearch fail (nothing listens on its port) and greps every
// surface for it: /config, /metrics, the status page and the log.
func TestPlantedSecretsAreShownNowhere(t *testing.T) {
	const secret = "PLANTEDs3cret"
	esPort, amPort := testkit.FreePort(t), testkit.FreePort(t)
	e := startExporter(t,
		"--es.url=http://elastic:"+secret+"@127.0.0.1:"+strconv.Itoa(esPort),
		"--alertmanager.url=http://am:"+secret+"@127.0.0.1:"+strconv.Itoa(amPort),
		"--web.grafana-url=https://viewer:"+secret+"@grafana.example",
		"--web.external-url=https://ops:"+secret+"@exporter.example",
		"--es.timeout=1s",
	)
	deadline := time.Now().Add(40 * time.Second)
	for !strings.Contains(e.get(t, "/"), "127.0.0.1:"+strconv.Itoa(esPort)) {
		if time.Now().After(deadline) {
			t.Fatalf("the status page never showed the Elasticsearch error:\n%s", lastLines(e.log.String(), 20))
		}
		time.Sleep(500 * time.Millisecond)
	}
	surfaces := map[string]string{
		"/config":     e.get(t, "/config"),
		"/metrics":    e.get(t, "/metrics"),
		"status page": e.get(t, "/"),
		"log":         e.log.String(),
	}
	for name, text := range surfaces {
		if strings.Contains(text, secret) {
			i := strings.Index(text, secret)
			t.Errorf("%s shows the planted secret: …%s…", name, text[max(0, i-80):min(len(text), i+40)])
		}
	}
	if !strings.Contains(surfaces["/config"], "elastic:<secret>@127.0.0.1") {
		t.Errorf("/config does not show the masked Elasticsearch URL:\n%s", surfaces["/config"])
	}
	if !strings.Contains(surfaces["log"], "connection refused") {
		t.Errorf("no Elasticsearch error was logged, so the log surface was not exercised:\n%s", lastLines(surfaces["log"], 20))
	}
}

// recentFlow is a valid flow log record ending at end.
func recentFlow(end time.Time, workload string) string {
	return fmt.Sprintf(`{"start_time":%d,"end_time":%d,"host":"node-1","action":"allow","reporter":"src","proto":"tcp","source_ip":"10.0.0.1","source_name":"-","source_name_aggr":"%s-*","source_namespace":"shop","source_port":null,"source_type":"wep","dest_ip":"10.0.1.5","dest_name":"-","dest_name_aggr":"cart-*","dest_namespace":"shop","dest_port":7070,"dest_type":"wep","bytes_in":5000,"bytes_out":2000,"packets_in":10,"packets_out":8,"num_flows":1,"num_flows_started":1,"num_flows_completed":1}`,
		end.Unix()-300, end.Unix(), workload)
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestServeStartsWhereTheDataIs: a flow dated 1970 (end_time 1) and a DNS
// record dated year 1 beside recent flows are counted malformed; serve
// starts at the recent flows, replays no window of 1970 and loads them.
func TestServeStartsWhereTheDataIs(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC().Add(-40 * time.Minute)
	writeLines(t, filepath.Join(dir, "flows.ndjson"),
		strings.Replace(recentFlow(now, "old"), fmt.Sprintf(`"start_time":%d,"end_time":%d`, now.Unix()-300, now.Unix()), `"start_time":0,"end_time":1`, 1),
		recentFlow(now, "a"), recentFlow(now.Add(time.Minute), "b"), recentFlow(now.Add(2*time.Minute), "c"))
	writeLines(t, filepath.Join(dir, "dns.ndjson"),
		`{"start_time":"0001-01-01T00:00:00Z","end_time":"0001-01-01T00:05:00Z","count":1,"client_name":"-","client_name_aggr":"a-*","client_namespace":"n","client_ip":null,"qname":"x.example","qclass":"IN","qtype":"A","rcode":"NoError","rrsets":[],"servers":[],"latency_count":0,"latency_mean":0,"latency_max":0}`)
	e := startExporter(t, "--source=file", "--file.path="+dir)
	mfs := e.waitForMetrics(t, 60*time.Second, "the recent flows counted", func(mfs map[string]*dto.MetricFamily) bool {
		return series(mfs, "calico_anomaly_log_records_total", "log_type")["flows"] >= 3
	})
	malformed := series(mfs, "calico_anomaly_log_records_malformed_total", "log_type")
	if malformed["flows"] != 1 || malformed["dns"] != 1 {
		t.Errorf("malformed %v, want the 1970 flow and the year-1 DNS record", malformed)
	}
	if strings.Contains(e.log.String(), "1970-01-01") && !strings.Contains(e.log.String(), "end_time 1970-01-01T00:00:01Z is outside") {
		t.Errorf("a window of 1970 was processed:\n%s", lastLines(e.log.String(), 20))
	}
	if !strings.Contains(e.log.String(), "outside the plausible span") {
		t.Errorf("the log does not say why the records were skipped:\n%s", lastLines(e.log.String(), 20))
	}
}

// TestBacktestIgnoresARecordFromTheFarFuture: a record dated 5138 does not
// send backtest toward year 5138.
func TestBacktestIgnoresARecordFromTheFarFuture(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC().Add(-2 * time.Hour)
	writeLines(t, filepath.Join(dir, "flows.ndjson"),
		recentFlow(now, "a"), recentFlow(now.Add(10*time.Minute), "b"),
		strings.Replace(recentFlow(now, "z"), fmt.Sprintf(`"end_time":%d`, now.Unix()), `"end_time":99999999999`, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, exporterBinary(t), "backtest", "--source=file", "--file.path="+dir).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("backtest still running after 60s (toward year 5138?):\n%s", lastLines(string(out), 10))
	}
	if err != nil {
		t.Fatalf("backtest: %v\n%s", err, lastLines(string(out), 20))
	}
	if !strings.Contains(string(out), "5138") || !strings.Contains(string(out), "outside the plausible span") {
		t.Errorf("the output does not say the 5138 record was skipped:\n%s", lastLines(string(out), 20))
	}
}

// TestMalformedCountsAddUp: the malformed records the load log reports,
// those of no known log type included, are the sum of
// calico_anomaly_log_records_malformed_total.
func TestMalformedCountsAddUp(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC().Add(-40 * time.Minute)
	// export.ndjson names no log type: its two plain documents cannot be
	// placed. flows.ndjson has one record with a bad IP.
	writeLines(t, filepath.Join(dir, "export.ndjson"), recentFlow(now, "x"), recentFlow(now, "y"))
	writeLines(t, filepath.Join(dir, "flows.ndjson"), recentFlow(now, "a"), strings.Replace(recentFlow(now, "b"), `"10.0.1.5"`, `"not-an-ip"`, 1))
	e := startExporter(t, "--source=file", "--file.path="+dir)
	var total float64
	e.waitForMetrics(t, 60*time.Second, "3 malformed records counted", func(mfs map[string]*dto.MetricFamily) bool {
		total = 0
		for _, v := range series(mfs, "calico_anomaly_log_records_malformed_total", "log_type") {
			total += v
		}
		return total >= 3
	})
	if !strings.Contains(e.log.String(), "malformed=3") || total != 3 {
		t.Errorf("the metric sums to %v, want the load log's malformed=3:\n%s", total, lastLines(e.log.String(), 20))
	}
}

// TestEndlessInputIsRefusedOrStopped: /dev/zero, or a glob matching a
// symlink to it, is refused at once; an endless standard input stops
// loading on SIGTERM.
func TestEndlessInputIsRefusedOrStopped(t *testing.T) {
	globDir := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(globDir, "zero_flows.ndjson")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", filepath.Join(globDir, "*")} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, exporterBinary(t), "--source=file", "--file.path="+path, "--web.listen-address=127.0.0.1:0").CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut || err == nil || !strings.Contains(string(out), "not a regular file") {
			t.Errorf("--file.path=%s: %v, want a quick refusal naming it not a regular file:\n%s", path, err, lastLines(string(out), 10))
		}
	}
	cmd := exec.Command(exporterBinary(t), "--source=file", "--file.path=-", "--file.log-type=flows", "--web.listen-address=127.0.0.1:0")
	cmd.Stdin = zeros{}
	logs := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		if !strings.Contains(logs.String(), "loading log files") {
			t.Errorf("no log line said what was being loaded:\n%s", lastLines(logs.String(), 10))
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("SIGTERM did not stop loading an endless input:\n%s", lastLines(logs.String(), 10))
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestOutOfRangeSettingsAreRefusedAtStart: each numeric setting outside
// its range, and each broken flag of the issue, stops the exporter at
// start with a message naming it, instead of a panic, a bare parse error,
// a silent default or an out-of-memory crash.
func TestOutOfRangeSettingsAreRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	bigForest := filepath.Join(dir, "forest.yaml")
	writeLines(t, bigForest, "detectors:", "  l7_latency:", "    enabled: true", "    settings:", "      n_estimators: 100000000")
	brokenWeb := filepath.Join(dir, "web.yml")
	writeLines(t, brokenWeb, "tls_server_config:", "  cert_file: [broken")
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"n_estimators in the file", []string{"--config.file=" + bigForest}, "", "forest.yaml:5"},
		{"n_estimators in Calico's variable", []string{"--detector.l7-latency"}, "AD_L7Latency_IsolationForest_n_estimators=100000000", "AD_L7Latency_IsolationForest_n_estimators=1e+08 is outside 1..10000"},
		{"a queue of 0", []string{"--alertmanager.queue-capacity=0"}, "", "--alertmanager.queue-capacity=0"},
		{"a negative lag", []string{"--source.lag=-1h"}, "", "--source.lag=-1h0m0s"},
		{"a century of catch-up", []string{"--source.catch-up=876000h"}, "", "--source.catch-up=876000h0m0s"},
		{"a ratio of NaN", []string{"--auto-gomemlimit.ratio=NaN"}, "", "--auto-gomemlimit.ratio=NaN"},
		{"a minimum score of NaN", []string{"--alert.min-score=NaN"}, "", "--alert.min-score=NaN"},
		{"metrics at /config", []string{"--web.telemetry-path=/config"}, "", "--web.telemetry-path=\"/config\""},
		{"metrics at /", []string{"--web.telemetry-path=/"}, "", "--web.telemetry-path=\"/\""},
		{"metrics at no path", []string{"--web.telemetry-path="}, "", "--web.telemetry-path=\"\""},
		{"a broken web config", []string{"--web.config.file=" + brokenWeb}, "", "--web.config.file=" + brokenWeb},
		{"a severity that is no number", nil, "AD_ALERT_SEVERITY=abc", "AD_ALERT_SEVERITY=\"abc\": want a whole number severity"},
		{"a severity above 100", []string{"--alert.severity=101"}, "", "--alert.severity=101: want a whole number from 0 to 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, exporterBinary(t), append([]string{"--source=simulated", "--web.listen-address=127.0.0.1:0"}, tc.args...)...)
			cmd.Env = os.Environ()
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env)
			}
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil || err == nil {
				t.Fatalf("not refused at start (%v):\n%s", err, lastLines(string(out), 10))
			}
			if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "panic") || strings.Contains(string(out), "goroutine") {
				t.Errorf("output does not name %q (or panics):\n%s", tc.want, lastLines(string(out), 10))
			}
		})
	}
}

// TestOutOfRangeSettingIsRefusedOnReload: a reload whose file sets
// n_estimators out of range is refused naming it, and the configuration
// in force is kept.
func TestOutOfRangeSettingIsRefusedOnReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeLines(t, path, "detectors:", "  l7_latency:", "    enabled: true", "    settings:", "      n_estimators: 50")
	e := startExporter(t, "--source=simulated", "--config.file="+path)
	writeLines(t, path, "detectors:", "  l7_latency:", "    enabled: true", "    settings:", "      n_estimators: 100000000")
	resp, err := http.Post(e.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "n_estimators") || !strings.Contains(string(body), "outside 1..10000") {
		t.Fatalf("reload answered %d %q, want a refusal naming n_estimators and its range", resp.StatusCode, body)
	}
	if cfg := e.get(t, "/config"); !strings.Contains(cfg, "n_estimators") || strings.Contains(cfg, "100000000") {
		t.Errorf("/config does not keep the configuration in force:\n%s", cfg)
	}
}

// TestElasticsearchAnswersThatHideAHoleAreErrors: an Elasticsearch that
// answers every search 200 with {} (or with a body larger than the bound)
// is down for the exporter: elasticsearch_up 0, the window retried with
// the log saying what was missing, never a window of zero records.
func TestElasticsearchAnswersThatHideAHoleAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, logWant string
		body          []byte
		args          []string
	}{
		{"an empty object", "no _shards", []byte(`{}`), nil},
		{"a body beyond the bound", "more than the 1048576 bytes", append(append([]byte(`{"took":1,"pad":"`), bytes.Repeat([]byte("x"), 2<<20)...), `"}`...), []string{"--es.max-response-size=1MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Elastic-Product", "Elasticsearch")
				w.Header().Set("Content-Type", "application/json")
				w.Write(tc.body)
			}))
			defer es.Close()
			e := startExporter(t, append([]string{"--es.url=" + es.URL, "--source.catch-up=10m", "--source.lag=0s"}, tc.args...)...)
			mfs := e.waitForMetrics(t, 60*time.Second, "elasticsearch_up 0", func(mfs map[string]*dto.MetricFamily) bool {
				up, ok := series(mfs, "calico_anomaly_elasticsearch_up")[""]
				return ok && up == 0 && strings.Contains(e.log.String(), "window could not be read")
			})
			if ok := series(mfs, "calico_anomaly_detector_runs_total", "result")["success"]; ok != 0 {
				t.Errorf("%v runs counted as successes", ok)
			}
			if n := series(mfs, "calico_anomaly_log_records_total", "log_type")["flows"]; n != 0 {
				t.Errorf("%v flow records counted from an answer that held none", n)
			}
			if !strings.Contains(e.log.String(), tc.logWant) {
				t.Errorf("the log does not say %q:\n%s", tc.logWant, lastLines(e.log.String(), 10))
			}
		})
	}
}

// TestPlantedSecretsStayOutOfAlerts: the Grafana and external URLs with a
// planted password still give alerts their links (logged whole by a dry
// run), without the password.
func TestPlantedSecretsStayOutOfAlerts(t *testing.T) {
	const secret = "PLANTEDs3cret"
	e := startExporter(t, "--source=simulated", "--simulate.speed=600", "--alert.dry-run",
		"--web.grafana-url=https://viewer:"+secret+"@grafana.example",
		"--web.external-url=https://ops:"+secret+"@exporter.example")
	e.waitForLog(t, 60*time.Second, "dry run: alert not sent")
	logged := e.log.String()
	if !strings.Contains(logged, `https://grafana.example/d/`) || !strings.Contains(logged, `https://exporter.example/`) {
		t.Errorf("the alert lacks its dashboard or status page link:\n%s", lastLines(logged, 5))
	}
	if strings.Contains(logged, secret) {
		t.Errorf("an alert or log line shows the planted secret")
	}
	if strings.Contains(e.get(t, "/"), secret) {
		t.Errorf("the status page shows the planted secret")
	}
}
