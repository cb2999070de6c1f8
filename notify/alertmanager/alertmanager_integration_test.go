//go:build integration

package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// scanAt is when the simulated port scan runs; its window is
// [09:10, 09:15), the next one is quiet.
var scanAt = time.Date(2026, 3, 2, 9, 12, 0, 0, time.UTC)

var (
	scanWindow  = source.Window{Start: time.Date(2026, 3, 2, 9, 10, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)}
	quietWindow = source.Window{Start: scanWindow.End, End: scanWindow.End.Add(5 * time.Minute)}
)

// uniqueCluster is a cluster name no other test run uses, so alerts in the
// shared Alertmanager are told apart.
func uniqueCluster(t *testing.T) string {
	return fmt.Sprintf("notify-am-%d", time.Now().UnixNano())
}

// scanEngine is the engine over a simulated cluster where shop/frontend
// scans ports 1-600 of payments/postgres at scanAt, with the port_scan and
// ip_sweep detectors and the given sinks. It returns the scanner's
// workload (its Calico name_aggr).
func scanEngine(t *testing.T, cluster string, sinks ...engine.Sink) (*engine.Engine, string) {
	t.Helper()
	eng, c := attackEngine(t, cluster, []simulate.Scenario{simulate.PortScan{
		At: scanAt, Namespace: "shop", Workload: "frontend",
		TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600,
	}}, sinks...)
	return eng, c.Workload("shop", "frontend").NameAggr()
}

// attackEngine is the engine over a simulated cluster playing attacks.
func attackEngine(t *testing.T, cluster string, attacks []simulate.Scenario, sinks ...engine.Sink) (*engine.Engine, *simulate.Cluster) {
	t.Helper()
	c := simulate.New(simulate.Options{Seed: 3, Cluster: cluster}, attacks...)
	dets, err := engine.Build([]string{"port_scan", "ip_sweep"}, cluster, func(string) string { return "" }, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Interval: 5 * time.Minute, Bucket: 5 * time.Minute, Sinks: sinks},
		simulate.NewSource(c), dets, scoreboard.New(100), nil, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return eng, c
}

// gettableAlert is what GET /api/v2/alerts lists of an alert.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

// activeAlerts lists the alerts of cluster the Alertmanager at base holds
// as active.
func activeAlerts(t *testing.T, base, cluster string) ([]gettableAlert, error) {
	t.Helper()
	q := url.Values{"filter": {`alertname="CalicoAnomaly"`, fmt.Sprintf("cluster=%q", cluster)}}
	res, err := http.Get(base + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v2/alerts: %d %s", res.StatusCode, body)
	}
	var out []gettableAlert
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("GET /api/v2/alerts: %w", err)
	}
	return out, nil
}

func startNotifier(t *testing.T, cfg Config) (*Notifier, *testkit.SyncBuffer) {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	n, err := New(cfg, log.NewLogfmtLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n, logs
}

func TestPortScanFiresThenResolvesInAlertmanager(t *testing.T) {
	amURL := testbed.AlertmanagerURL(t)
	cluster := uniqueCluster(t)
	n, _ := startNotifier(t, Config{URLs: []string{amURL}, ResendInterval: time.Minute,
		Policy: notify.Policy{Severity: 100}, GrafanaURL: "http://grafana.example:3000"})
	eng, scanner := scanEngine(t, cluster, n)
	ctx := context.Background()

	if err := eng.ProcessWindow(ctx, scanWindow); err != nil {
		t.Fatal(err)
	}
	var got []gettableAlert
	testkit.WaitForState(t, 20*time.Second, "the port scan alert in Alertmanager", func() (bool, string) {
		var err error
		got, err = activeAlerts(t, amURL, cluster)
		if err != nil {
			return false, err.Error()
		}
		return len(got) > 0, fmt.Sprintf("%d alerts", len(got))
	})
	if len(got) != 1 {
		t.Fatalf("Alertmanager holds %d alerts of cluster %s, want the port scan's only: %+v", len(got), cluster, got)
	}
	a := got[0]
	wantLabels := map[string]string{
		"alertname": "CalicoAnomaly", "detector": "port_scan", "cluster": cluster,
		"namespace": "shop", "workload": scanner, "severity": "critical",
	}
	for k, v := range wantLabels {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	if len(a.Labels) != len(wantLabels) {
		t.Errorf("labels %v, want exactly %v", a.Labels, wantLabels)
	}
	var evidence map[string][]json.RawMessage
	if err := json.Unmarshal([]byte(a.Annotations["evidence"]), &evidence); err != nil || len(evidence["flows"]) == 0 {
		t.Errorf("evidence annotation %q: want flow records (err %v)", a.Annotations["evidence"], err)
	}
	for _, k := range []string{"summary", "description", "dashboard_url", "quarantine_policy"} {
		if a.Annotations[k] == "" {
			t.Errorf("annotation %s missing: %v", k, a.Annotations)
		}
	}
	if !strings.Contains(a.Annotations["quarantine_policy"], "kind: NetworkPolicy") {
		t.Errorf("quarantine_policy is not a NetworkPolicy: %q", a.Annotations["quarantine_policy"])
	}
	if ahead := time.Until(a.EndsAt); ahead < 3*time.Minute || ahead > 5*time.Minute {
		t.Errorf("endsAt is %s ahead, want 4 resend intervals (4m)", ahead)
	}

	// The scan stops: the next window resolves the alert.
	if err := eng.ProcessWindow(ctx, quietWindow); err != nil {
		t.Fatal(err)
	}
	testkit.WaitForState(t, 20*time.Second, "the alert resolved", func() (bool, string) {
		got, err := activeAlerts(t, amURL, cluster)
		if err != nil {
			return false, err.Error()
		}
		return len(got) == 0, fmt.Sprintf("%d active alerts", len(got))
	})
	// The notifier counts a batch once its POST has returned, which can be
	// just after Alertmanager shows the alert resolved.
	testkit.WaitForState(t, 20*time.Second, "calico_anomaly_alertmanager_alerts_sent_total to count the firing and the resolved alert", func() (bool, string) {
		v := testutil.ToFloat64(n.metrics.sent.WithLabelValues(amURL))
		return v >= 2, fmt.Sprintf("%v sent", v)
	})
}

// ownAlertmanager is an Alertmanager of this test: its own port, config and
// storage, stopped and started at will.
type ownAlertmanager struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
	log  *testkit.SyncBuffer
}

func newOwnAlertmanager(t *testing.T) *ownAlertmanager {
	t.Helper()
	addr := testkit.FreeAddr(t)
	dir := t.TempDir()
	cfg := "route:\n  receiver: sink\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: sink\n"
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	am := &ownAlertmanager{t: t, addr: addr, dir: dir, log: &testkit.SyncBuffer{}}
	t.Cleanup(am.stop)
	return am
}

func (am *ownAlertmanager) url() string { return "http://" + am.addr }

func (am *ownAlertmanager) start() {
	am.t.Helper()
	const bin = "/usr/bin/prometheus-alertmanager"
	if _, err := os.Stat(bin); err != nil {
		am.t.Fatalf("Alertmanager from Debian (package prometheus-alertmanager) is needed: %v", err)
	}
	am.cmd = exec.Command(bin, "--config.file="+filepath.Join(am.dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(am.dir, "data"), "--web.listen-address="+am.addr, "--cluster.listen-address=")
	am.cmd.Stdout, am.cmd.Stderr = am.log, am.log
	if err := am.cmd.Start(); err != nil {
		am.t.Fatal(err)
	}
	testkit.WaitForState(am.t, 30*time.Second, "Alertmanager ready", func() (bool, string) {
		res, err := http.Get(am.url() + "/-/ready")
		if err != nil {
			return false, err.Error() + "; log: " + am.log.String()
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK, res.Status
	})
}

func (am *ownAlertmanager) stop() {
	if am.cmd == nil || am.cmd.Process == nil {
		return
	}
	_ = am.cmd.Process.Kill()
	_ = am.cmd.Wait()
	am.cmd = nil
}

func TestAlertArrivesAfterAlertmanagerComesBack(t *testing.T) {
	am := newOwnAlertmanager(t)
	am.start()
	cluster := uniqueCluster(t)
	n, logs := startNotifier(t, Config{URLs: []string{am.url()}, ResendInterval: time.Minute,
		BackoffMin: 200 * time.Millisecond, BackoffMax: time.Second, Policy: notify.Policy{Severity: 100}})
	eng, scanner := scanEngine(t, cluster, n)

	am.stop() // down during the scan
	start := time.Now()
	if err := eng.ProcessWindow(context.Background(), scanWindow); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("processing the window took %s with Alertmanager down: delivery must not block the engine", took)
	}
	testkit.WaitForState(t, 20*time.Second, "retries while Alertmanager is down", func() (bool, string) {
		r := testutil.ToFloat64(n.metrics.retries.WithLabelValues(am.url()))
		return r >= 2, fmt.Sprintf("%v retries", r)
	})
	if q := n.targets[0].queue.len(); q != 1 {
		t.Errorf("queue holds %d alerts while Alertmanager is down, want the port scan's", q)
	}
	if up := testutil.ToFloat64(n.metrics.up.WithLabelValues(am.url())); up != 0 {
		t.Errorf("calico_anomaly_alertmanager_up = %v while it is down", up)
	}

	am.start()
	testkit.WaitForState(t, 30*time.Second, "the alert after Alertmanager is back", func() (bool, string) {
		got, err := activeAlerts(t, am.url(), cluster)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range got {
			if a.Labels["detector"] == "port_scan" && a.Labels["workload"] == scanner {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d alerts", len(got))
	})
	testkit.WaitForState(t, 10*time.Second, "the queue drained", func() (bool, string) {
		q := testutil.ToFloat64(n.metrics.queueLength.WithLabelValues(am.url()))
		return q == 0, fmt.Sprintf("queue length %v", q)
	})
	for name, v := range map[string]float64{
		"calico_anomaly_alertmanager_retries_total":                                testutil.ToFloat64(n.metrics.retries.WithLabelValues(am.url())),
		`calico_anomaly_alertmanager_request_failures_total{reason="unreachable"}`: testutil.ToFloat64(n.metrics.failures.WithLabelValues(am.url(), reasonUnreachable)),
	} {
		if v < 1 {
			t.Errorf("%s = %v, want the retries counted", name, v)
		}
	}
	if up := testutil.ToFloat64(n.metrics.up.WithLabelValues(am.url())); up != 1 {
		t.Errorf("calico_anomaly_alertmanager_up = %v once it is back", up)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("no retry logged: %s", logs.String())
	}
}

func TestOneAlertmanagerDownTheOtherGetsEveryAlert(t *testing.T) {
	amURL := testbed.AlertmanagerURL(t)
	down := newOwnAlertmanager(t) // never started: nothing listens there
	cluster := uniqueCluster(t)
	n, _ := startNotifier(t, Config{URLs: []string{down.url(), amURL}, ResendInterval: time.Minute,
		BackoffMin: 200 * time.Millisecond, BackoffMax: time.Second, Policy: notify.Policy{Severity: 50}})
	// A port scan and an IP sweep in the same window: two alerts.
	eng, c := attackEngine(t, cluster, []simulate.Scenario{
		simulate.PortScan{At: scanAt, Namespace: "shop", Workload: "frontend", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600},
		simulate.IPSweep{At: scanAt, Namespace: "shop", Workload: "cart", CIDR: "10.244.1.0/24", Port: 6379},
	}, n)
	workloads := []string{c.Workload("shop", "frontend").NameAggr(), c.Workload("shop", "cart").NameAggr()}
	if err := eng.ProcessWindow(context.Background(), scanWindow); err != nil {
		t.Fatal(err)
	}
	testkit.WaitForState(t, 20*time.Second, "every alert at the Alertmanager that is up", func() (bool, string) {
		got, err := activeAlerts(t, amURL, cluster)
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]bool{}
		for _, a := range got {
			seen[a.Labels["workload"]] = a.Labels["severity"] == "warning"
		}
		for _, w := range workloads {
			if !seen[w] {
				return false, fmt.Sprintf("%v", got)
			}
		}
		return true, ""
	})
	testkit.WaitForState(t, 10*time.Second, "the down one counted as down", func() (bool, string) {
		up := testutil.ToFloat64(n.metrics.up.WithLabelValues(down.url()))
		f := testutil.ToFloat64(n.metrics.failures.WithLabelValues(down.url(), reasonUnreachable))
		return up == 0 && f >= 1, fmt.Sprintf("up %v, failures %v", up, f)
	})
	if q := n.targets[0].queue.len(); q != len(workloads) {
		t.Errorf("the down Alertmanager's queue holds %d alerts, want %d kept for when it is back", q, len(workloads))
	}
	if up := testutil.ToFloat64(n.metrics.up.WithLabelValues(amURL)); up != 1 {
		t.Errorf("calico_anomaly_alertmanager_up of the one that is up = %v", up)
	}
}

// futureStart makes every alert start after it ends, which Alertmanager
// refuses with 400 and a reason.
type futureStart struct{}

func (futureStart) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var alerts []map[string]any
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, err
	}
	for _, a := range alerts {
		a["startsAt"] = time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	}
	body, _ = json.Marshal(alerts)
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	return http.DefaultTransport.RoundTrip(r2)
}

func TestAlertmanagerRefusalIsReportedAndNotRetried(t *testing.T) {
	amURL := testbed.AlertmanagerURL(t)
	tests := []struct {
		name       string
		url        string
		transport  http.RoundTripper
		wantStatus string
		wantReason string
	}{
		{"alerts Alertmanager finds invalid", amURL, futureStart{}, "400 Bad Request", "start time must be before end time"},
		{"a URL whose path Alertmanager does not serve", amURL + "/not-alertmanager", nil, "404 Not Found", "404 page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := uniqueCluster(t)
			n, logs := startNotifier(t, Config{URLs: []string{tt.url}, ResendInterval: time.Hour, Transport: tt.transport,
				BackoffMin: 100 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Policy: notify.Policy{Severity: 100}})
			eng, _ := scanEngine(t, cluster, n)
			if err := eng.ProcessWindow(context.Background(), scanWindow); err != nil {
				t.Fatal(err)
			}
			// The refusal is counted, then logged: wait for both.
			testkit.WaitForState(t, 10*time.Second, "the refusal counted and logged", func() (bool, string) {
				d := testutil.ToFloat64(n.metrics.dropped.WithLabelValues(n.targets[0].label, reasonRejected))
				return d >= 1 && strings.Contains(logs.String(), "not retried"), logs.String()
			})
			out := logs.String()
			for _, want := range []string{tt.wantStatus, tt.wantReason, "not retried"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q: %s", want, out)
				}
			}
			before := testutil.ToFloat64(n.metrics.requests.WithLabelValues(n.targets[0].label))
			time.Sleep(time.Second) // five backoffs' worth
			after := testutil.ToFloat64(n.metrics.requests.WithLabelValues(n.targets[0].label))
			if after != before {
				t.Errorf("refused alerts were sent again: %v requests, then %v", before, after)
			}
			if d := testutil.ToFloat64(n.metrics.dropped.WithLabelValues(n.targets[0].label, reasonRejected)); d != 1 {
				t.Errorf(`calico_anomaly_alertmanager_alerts_dropped_total{reason="rejected"} = %v, want 1`, d)
			}
			if q := n.targets[0].queue.len(); q != 0 {
				t.Errorf("queue holds %d refused alerts, want none", q)
			}
			if got, err := activeAlerts(t, amURL, cluster); err != nil || len(got) != 0 {
				t.Errorf("Alertmanager holds %v (err %v), want nothing", got, err)
			}
		})
	}
}

// TestHostileNamesDoNotLoseTheBatch sends, in one batch, an alert for a
// workload whose name is invalid UTF-8 with control characters and one for
// a normal workload: the real Alertmanager takes both.
func TestHostileNamesDoNotLoseTheBatch(t *testing.T) {
	base := testbed.AlertmanagerURL(t)
	cluster := uniqueCluster(t)
	n, logs := startNotifier(t, Config{URLs: []string{base}, Policy: notify.Policy{Severity: 100}, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	hostile := detect.Verdict{Detector: "port_scan", Entity: detect.Entity{Cluster: cluster, Namespace: "shop", Workload: "evil-\xff\xfe\n<script>-*", Type: "wep"},
		Window: scanWindow, Score: 0.9, Threshold: 0.5, Observed: 900, Expected: 500}
	normal := hostile
	normal.Entity.Workload = "frontend-7d9c8f6b5-*"
	n.Deliver(context.Background(), scanWindow, []detect.Verdict{hostile, normal})
	testkit.WaitForState(t, 20*time.Second, "both alerts in Alertmanager", func() (bool, string) {
		alerts, err := activeAlerts(t, base, cluster)
		if err != nil {
			return false, err.Error()
		}
		var names []string
		for _, a := range alerts {
			names = append(names, a.Labels["workload"])
		}
		return len(alerts) == 2, fmt.Sprintf("%q; log: %s", names, logs.String())
	})
	alerts, _ := activeAlerts(t, base, cluster)
	for _, a := range alerts {
		if w := a.Labels["workload"]; !utf8.ValidString(w) || strings.ContainsAny(w, "\n\x00") {
			t.Errorf("workload label %q reached Alertmanager unsafe", w)
		}
	}
}
