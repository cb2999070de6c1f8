package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
)

// Two clusters' engines on one scoreboard: both clusters' scores and both
// clusters' detector health are exported, told apart by their cluster
// label (east's model is ready, west's is not).
func TestSeveralClustersShareOneScrape(t *testing.T) {
	b := scoreboard.New(0)
	for i, cluster := range []string{"east", "west"} {
		cb := b.Cluster(cluster)
		cb.AddDetector("port_scan", 0.5, i == 0)
		v := verdict("shop", "attacker-5d9f-*", 0.9-float64(i)/10, 900)
		v.Entity.Cluster = cluster
		cb.Publish("port_scan", window, []detect.Verdict{v}, i == 0, time.Second, now.Add(time.Duration(i)*time.Second))
		cb.WindowDone(window)
	}
	want := `
# HELP calico_anomaly_score Anomaly score of the latest window, 0..1, comparable across detectors.
# TYPE calico_anomaly_score gauge
calico_anomaly_score{cluster="east",detector="port_scan",namespace="shop",type="wep",workload="attacker-5d9f-*"} 0.9
calico_anomaly_score{cluster="west",detector="port_scan",namespace="shop",type="wep",workload="attacker-5d9f-*"} 0.8
# HELP calico_anomaly_detector_runs_total Detector runs over a window, by result.
# TYPE calico_anomaly_detector_runs_total counter
calico_anomaly_detector_runs_total{cluster="east",detector="port_scan",result="error"} 0
calico_anomaly_detector_runs_total{cluster="east",detector="port_scan",result="success"} 1
calico_anomaly_detector_runs_total{cluster="west",detector="port_scan",result="error"} 0
calico_anomaly_detector_runs_total{cluster="west",detector="port_scan",result="success"} 1
# HELP calico_anomaly_model_ready 1 once the detector has learned enough to score.
# TYPE calico_anomaly_model_ready gauge
calico_anomaly_model_ready{cluster="east",detector="port_scan"} 1
calico_anomaly_model_ready{cluster="west",detector="port_scan"} 0
# HELP calico_anomaly_detector_last_run_timestamp_seconds When the detector last ran, as a Unix timestamp.
# TYPE calico_anomaly_detector_last_run_timestamp_seconds gauge
calico_anomaly_detector_last_run_timestamp_seconds{cluster="east",detector="port_scan"} 1.76400045e+09
calico_anomaly_detector_last_run_timestamp_seconds{cluster="west",detector="port_scan"} 1.764000451e+09
`
	if err := testutil.CollectAndCompare(New(b, func() time.Time { return now }), strings.NewReader(want),
		"calico_anomaly_score", "calico_anomaly_detector_runs_total", "calico_anomaly_model_ready", "calico_anomaly_detector_last_run_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
}
