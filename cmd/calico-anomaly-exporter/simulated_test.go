package main

import (
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestSimulatedClusterShowsAttacks is `make run` at ten times its speed:
// the port scan and the IP sweep of the first attack round must show on
// /metrics and in the log, and no normal workload may score at or above its
// threshold.
func TestSimulatedClusterShowsAttacks(t *testing.T) {
	e := startExporter(t, "--source=simulated", "--simulate.speed=600")
	var sawScan, sawSweep bool
	e.waitForMetrics(t, 90*time.Second, "port scan and IP sweep scores at or above threshold", func(mfs map[string]*dto.MetricFamily) bool {
		for key := range anomalous(mfs) {
			switch {
			case key == "port_scan/shop/"+workloadOf(mfs, "port_scan", "shop", "frontend"):
				sawScan = true
			case key == "ip_sweep/shop/"+workloadOf(mfs, "ip_sweep", "shop", "cart"):
				sawSweep = true
			default:
				t.Errorf("a workload that is not attacking is anomalous: %s", key)
			}
		}
		return sawScan && sawSweep
	})
	logs := e.log.String()
	for _, want := range []string{"msg=anomaly detector=port_scan", "msg=anomaly detector=ip_sweep"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// workloadOf finds the name_aggr of a deployment (e.g. frontend-7d4f-*) among
// a detector's score series.
func workloadOf(mfs map[string]*dto.MetricFamily, detector, namespace, deployment string) string {
	for key := range series(mfs, "calico_anomaly_score", "detector", "namespace", "workload") {
		parts := strings.SplitN(key, "/", 3)
		if parts[0] == detector && parts[1] == namespace && strings.HasPrefix(parts[2], deployment+"-") {
			return parts[2]
		}
	}
	return "\x00none"
}
