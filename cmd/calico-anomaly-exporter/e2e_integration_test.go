//go:build integration

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

const bucket = 5 * time.Minute

// The exporter reads windows that ended at least this long ago; the test
// writes its attacks into the newest such window.
const lag = 10 * time.Minute

// newestWindowEnd returns the end of the newest window the exporter will
// read, waiting for the next bucket when the current one is about to roll
// over (then the exporter would move on to an empty window mid-test).
func newestWindowEnd(t *testing.T) time.Time {
	for {
		now := time.Now().UTC()
		end := now.Add(-lag).Truncate(bucket)
		rollover := end.Add(bucket + lag)
		if rollover.Sub(now) > 2*time.Minute {
			return end
		}
		t.Logf("waiting %s for the next bucket", rollover.Sub(now).Round(time.Second))
		time.Sleep(rollover.Sub(now) + time.Second)
	}
}

// loadDay writes a day of simulated traffic ending at end into the real
// Elasticsearch, with the given attacks, under a cluster name of its own.
func loadDay(t *testing.T, es *source.Elasticsearch, naming calicolog.IndexNaming, end time.Time, attacks ...simulate.Scenario) simulate.Stats {
	t.Helper()
	ctx := context.Background()
	if err := es.EnsureTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	cluster := simulate.New(simulate.Options{Seed: 7, Cluster: naming.Cluster}, attacks...)
	stats, err := simulate.WriteElasticsearch(ctx, es, naming, cluster, end.Add(-24*time.Hour), end, bucket)
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

func newElasticsearch(t *testing.T, url string, naming calicolog.IndexNaming) *source.Elasticsearch {
	t.Helper()
	es, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{url}, Naming: naming}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestScanAndSweepFromElasticsearchToMetrics is the walking skeleton end to
// end: the simulator writes a day of normal traffic with a port scan and an
// IP sweep into the real Elasticsearch, the real exporter binary reads the
// day back through aggregations, and /metrics flags exactly the two
// attackers.
func TestScanAndSweepFromElasticsearchToMetrics(t *testing.T) {
	esURL := testbed.ElasticsearchURL(t)
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: fmt.Sprintf("e2e%d", time.Now().UnixNano()%1e9)}
	es := newElasticsearch(t, esURL, naming)
	end := newestWindowEnd(t)
	attackAt := end.Add(-bucket / 2)
	stats := loadDay(t, es, naming, end,
		simulate.PortScan{At: attackAt, Namespace: "shop", Workload: "frontend", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600},
		simulate.IPSweep{At: attackAt, Namespace: "shop", Workload: "cart", CIDR: "10.244.1.0/24", Port: 6379},
	)
	// Two malformed flow records in the newest window: a port that is not a
	// number, and a record without its source's aggregated name.
	malformed := []elastic.BulkOp{
		{Index: naming.WriteIndex(calicolog.Flows, attackAt), ID: "bad-port", Doc: map[string]any{
			"start_time": attackAt.Unix() - 300, "end_time": attackAt.Unix(), "source_namespace": "shop", "source_name_aggr": "cart-*",
			"source_type": "wep", "dest_namespace": "shop", "dest_name_aggr": "db-*", "dest_type": "wep", "dest_port": "abc",
			"reporter": "src", "action": "allow"}},
		{Index: naming.WriteIndex(calicolog.Flows, attackAt), ID: "no-source-name", Doc: map[string]any{
			"start_time": attackAt.Unix() - 300, "end_time": attackAt.Unix(), "source_namespace": "shop",
			"source_type": "wep", "dest_namespace": "shop", "dest_name_aggr": "db-*", "dest_type": "wep", "dest_port": 80,
			"reporter": "src", "action": "allow"}},
	}
	if _, err := es.Bulk(context.Background(), malformed); err != nil {
		t.Fatal(err)
	}
	if err := es.Refresh(context.Background(), naming.SearchIndex(calicolog.Flows)); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d windows, %d flow, %d DNS, %d L7 records", stats.Windows, stats.Flows, stats.DNS, stats.L7)

	started := time.Now()
	e := startExporter(t, "--source=elasticsearch", "--es.url="+esURL, "--es.cluster="+naming.Cluster,
		fmt.Sprintf("--source.lag=%s", lag), "--source.catch-up=24h", "--log.level=debug")
	windows := float64(24 * time.Hour / bucket)
	mfs := e.waitForMetrics(t, 3*time.Minute, "the day processed", func(mfs map[string]*dto.MetricFamily) bool {
		return series(mfs, "calico_anomaly_detector_runs_total", "detector", "result")["port_scan/success"] >= windows
	})
	t.Logf("exporter scored %v windows in %s", windows, time.Since(started).Round(time.Millisecond))

	scanner := "port_scan/shop/" + workloadOf(mfs, "port_scan", "shop", "frontend")
	sweeper := "ip_sweep/shop/" + workloadOf(mfs, "ip_sweep", "shop", "cart")
	got := anomalous(mfs)
	if len(got) != 2 || !got[scanner] || !got[sweeper] {
		t.Errorf("anomalous workloads = %v, want exactly %s and %s", keys(got), scanner, sweeper)
	}
	if n := len(series(mfs, "calico_anomaly_score", "detector", "namespace", "workload")); n < 10 {
		t.Errorf("only %d score series: the normal workloads around the attack are missing", n)
	}
	detections := series(mfs, "calico_anomaly_detections_total", "detector", "namespace")
	want := map[string]float64{"port_scan/shop": 1, "ip_sweep/shop": 1}
	for k, v := range detections {
		if v != want[k] {
			t.Errorf("detections_total{%s} = %v over the day, want %v", k, v, want[k])
		}
	}
	if v := series(mfs, "calico_anomaly_log_records_malformed_total", "log_type")["flows"]; v != 2 {
		t.Errorf("malformed flow records = %v, want 2", v)
	}
	if v := series(mfs, "calico_anomaly_log_records_total", "log_type")["flows"]; v != float64(stats.Flows+2) {
		t.Errorf("flow records read = %v, want %d", v, stats.Flows+2)
	}
	if v := series(mfs, "calico_anomaly_elasticsearch_up")[""]; v != 1 {
		t.Errorf("elasticsearch_up = %v, want 1", v)
	}

	raw, _ := e.scrape(t)
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(raw)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestElasticsearchDownAtStartThenBack starts the exporter while
// Elasticsearch cannot be reached: it reports elasticsearch_up 0, retries,
// and once Elasticsearch is back scores every missed window.
func TestElasticsearchDownAtStartThenBack(t *testing.T) {
	esURL := testbed.ElasticsearchURL(t)
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: fmt.Sprintf("down%d", time.Now().UnixNano()%1e9)}
	es := newElasticsearch(t, esURL, naming)
	end := newestWindowEnd(t)
	loadDay(t, es, naming, end)
	if err := es.Refresh(context.Background(), naming.SearchIndex(calicolog.Flows)); err != nil {
		t.Fatal(err)
	}

	proxyPort := testkit.FreePort(t)
	e := startExporter(t, "--source=elasticsearch", fmt.Sprintf("--es.url=http://127.0.0.1:%d", proxyPort), "--es.cluster="+naming.Cluster,
		fmt.Sprintf("--source.lag=%s", lag), "--source.catch-up=1h")
	e.waitForMetrics(t, time.Minute, "elasticsearch_up 0 with retries", func(mfs map[string]*dto.MetricFamily) bool {
		return series(mfs, "calico_anomaly_elasticsearch_up")[""] == 0 &&
			series(mfs, "calico_anomaly_elasticsearch_retries_total")[""] >= 2
	})
	_, mfs := e.scrape(t)
	if n := series(mfs, "calico_anomaly_detector_runs_total", "detector", "result")["port_scan/success"]; n != 0 {
		t.Fatalf("%v windows scored while Elasticsearch was unreachable", n)
	}

	stop := forward(t, proxyPort, strings.TrimPrefix(esURL, "http://"))
	defer stop()
	mfs = e.waitForMetrics(t, 2*time.Minute, "every missed window scored", func(mfs map[string]*dto.MetricFamily) bool {
		return series(mfs, "calico_anomaly_detector_runs_total", "detector", "result")["port_scan/success"] >= 12
	})
	if v := series(mfs, "calico_anomaly_elasticsearch_up")[""]; v != 1 {
		t.Errorf("elasticsearch_up = %v after recovery, want 1", v)
	}
	if lagSeconds := series(mfs, "calico_anomaly_window_lag_seconds")[""]; lagSeconds > (lag + 2*bucket).Seconds() {
		t.Errorf("window lag %vs after catch-up", lagSeconds)
	}
}

// forward listens on port and relays every connection to target, until the
// returned function is called.
func forward(t *testing.T, port int, target string) func() {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c) }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return func() { l.Close() }
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
