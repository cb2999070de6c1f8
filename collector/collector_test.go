package collector

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var (
	window = source.Window{Start: time.Unix(1764000000, 0).UTC(), End: time.Unix(1764000300, 0).UTC()}
	now    = time.Unix(1764000450, 0).UTC()
)

func verdict(ns, workload string, score, observed float64) detect.Verdict {
	return detect.Verdict{
		Detector: "port_scan",
		Entity:   detect.Entity{Cluster: "cluster", Namespace: ns, Workload: workload, Type: "wep"},
		Window:   window, Score: score, Threshold: 0.5, Observed: observed, Expected: 500,
	}
}

// boardWithOneWindow is a scoreboard after one window: a port scan from
// shop/attacker, quiet traffic elsewhere, 3 malformed flow records, all
// of cluster "cluster".
func boardWithOneWindow(maxSeries int) *scoreboard.Scoreboard {
	s := scoreboard.New(maxSeries)
	b := s.Cluster("cluster")
	b.AddDetector("port_scan", 0.5, true)
	b.AddDetector("ip_sweep", 0.5, true)
	b.SetSource("elasticsearch", true, 2)
	b.Publish("port_scan", window, []detect.Verdict{
		verdict("shop", "attacker-5d9f-*", 600.0/1100, 600),
		verdict("shop", "frontend-7c9d-*", 3.0/503, 3),
		verdict("-", "pub", 1.0/501, 1),
	}, true, 1500*time.Millisecond, now)
	b.Fail("ip_sweep", window, errors.New("boom"), 250*time.Millisecond, now)
	b.AddRecords("flows", 1200, 3)
	b.WindowDone(window)
	return s
}

// goldenDetectors are the detectors the golden file's
// calico_anomaly_detector_info describes, so the file does not change
// when a detector is registered (TestDetectorInfoIsTheRegistrys checks
// the registry's).
func goldenDetectors() []detect.Info {
	return []detect.Info{
		{Name: "generic_flows", Family: detect.Performance},
		{Name: "port_scan", Family: detect.Security, Mitre: &detect.Mitre{IDs: []string{"T1046"}}},
	}
}

func TestCollectorMatchesGolden(t *testing.T) {
	c := New(boardWithOneWindow(0), func() time.Time { return now })
	c.detectors = goldenDetectors
	golden := filepath.Join("testdata", "one_window.prom")
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		writeGolden(t, reg, golden)
	}
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(c, f); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorPassesPromlint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(boardWithOneWindow(0), func() time.Time { return now }))
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestSeriesBoundKeepsHighestScores(t *testing.T) {
	c := New(boardWithOneWindow(1), func() time.Time { return now })
	want := `
# HELP calico_anomaly_score Anomaly score of the latest window, 0..1, comparable across detectors.
# TYPE calico_anomaly_score gauge
calico_anomaly_score{cluster="cluster",detector="port_scan",namespace="shop",type="wep",workload="attacker-5d9f-*"} 0.5454545454545454
# HELP calico_anomaly_series_dropped_total Score series not exported because of the per-detector series bound.
# TYPE calico_anomaly_series_dropped_total counter
calico_anomaly_series_dropped_total{cluster="cluster",detector="ip_sweep"} 0
calico_anomaly_series_dropped_total{cluster="cluster",detector="port_scan"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "calico_anomaly_score", "calico_anomaly_series_dropped_total"); err != nil {
		t.Fatal(err)
	}
}

func TestEntityGoneAfterNextWindowIsNotExported(t *testing.T) {
	b := boardWithOneWindow(0)
	next := source.Window{Start: window.End, End: window.End.Add(5 * time.Minute)}
	b.Cluster("cluster").Publish("port_scan", next, []detect.Verdict{verdict("shop", "frontend-7c9d-*", 0.01, 5)}, true, time.Second, now)
	n := testutil.CollectAndCount(New(b, nil), "calico_anomaly_score")
	if n != 1 {
		t.Fatalf("got %d score series after the attacker left, want 1", n)
	}
}

func TestNoElasticsearchMetricsForOtherSources(t *testing.T) {
	b := boardWithOneWindow(0)
	b.Cluster("cluster").SetSource("simulated", true, 0)
	if n := testutil.CollectAndCount(New(b, nil), "calico_anomaly_elasticsearch_up"); n != 0 {
		t.Fatalf("elasticsearch_up exported for a simulated source")
	}
}
