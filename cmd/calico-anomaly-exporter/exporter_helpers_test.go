package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// exporterBinary builds the real binary once per test run.
func exporterBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "calico-anomaly-exporter-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "calico-anomaly-exporter")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// runningExporter is the binary running in the background.
type runningExporter struct {
	URL string
	cmd *exec.Cmd
	log *testkit.SyncBuffer
}

// startExporter runs the binary with args on a free loopback port and waits
// until it serves /metrics. It is stopped when the test ends; its log is
// printed if the test failed.
func startExporter(t *testing.T, args ...string) *runningExporter {
	t.Helper()
	addr := testkit.FreeAddr(t)
	cmd := exec.Command(exporterBinary(t), append([]string{"--web.listen-address=" + addr}, args...)...)
	logs := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &runningExporter{URL: "http://" + addr, cmd: cmd, log: logs}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("exporter log:\n%s", lastLines(logs.String(), 60))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(e.URL + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter did not serve /metrics within 30s: %v\n%s", err, lastLines(logs.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// scrape fetches /metrics and returns its raw text and metric families.
func (e *runningExporter) scrape(t *testing.T) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return string(raw), mfs
}

// series returns the value of each series of a metric, keyed by the
// values of the given labels joined with "/".
func series(mfs map[string]*dto.MetricFamily, name string, labels ...string) map[string]float64 {
	out := map[string]float64{}
	mf, ok := mfs[name]
	if !ok {
		return out
	}
	for _, m := range mf.GetMetric() {
		var key []string
		for _, l := range labels {
			v := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == l {
					v = lp.GetValue()
				}
			}
			key = append(key, v)
		}
		var val float64
		switch {
		case m.Gauge != nil:
			val = m.GetGauge().GetValue()
		case m.Counter != nil:
			val = m.GetCounter().GetValue()
		case m.Untyped != nil:
			val = m.GetUntyped().GetValue()
		}
		out[strings.Join(key, "/")] = val
	}
	return out
}

// anomalous returns the detector/namespace/workload keys whose score is at
// or above their detector's threshold.
func anomalous(mfs map[string]*dto.MetricFamily) map[string]bool {
	thresholds := series(mfs, "calico_anomaly_score_threshold", "detector")
	out := map[string]bool{}
	for key, score := range series(mfs, "calico_anomaly_score", "detector", "namespace", "workload") {
		det := strings.SplitN(key, "/", 2)[0]
		if th, ok := thresholds[det]; ok && score >= th {
			out[key] = true
		}
	}
	return out
}

// waitForLog waits until the exporter's log holds want, failing the test
// with the log's last lines after timeout.
func (e *runningExporter) waitForLog(t *testing.T, timeout time.Duration, want string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(e.log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q logged within %v:\n%s", want, timeout, lastLines(e.log.String(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForMetrics scrapes until cond holds or the timeout passes.
func (e *runningExporter) waitForMetrics(t *testing.T, timeout time.Duration, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, mfs := e.scrape(t)
		if cond(mfs) {
			return mfs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
