//go:build integration

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
)

// TestOneExporterReadsSeveralClusters: --es.cluster with a glob finds the
// clusters whose logs Elasticsearch holds, scores each with its own
// detectors, and labels every series with its cluster, detector health
// included: the scan in one cluster is flagged there and not in the other.
func TestOneExporterReadsSeveralClusters(t *testing.T) {
	esURL := testbed.ElasticsearchURL(t)
	base := fmt.Sprintf("multi%d", time.Now().UnixNano()%1e9)
	end := newestWindowEnd(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		scan bool
	}{{base + "-east", true}, {base + "-west", false}} {
		naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: c.name}
		es := newElasticsearch(t, esURL, naming)
		if err := es.EnsureTemplates(ctx); err != nil {
			t.Fatal(err)
		}
		var scenarios []simulate.Scenario
		if c.scan {
			scenarios = append(scenarios, simulate.PortScan{At: end.Add(-bucket / 2), Namespace: "shop", Workload: "frontend",
				TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600})
		}
		sim := simulate.New(simulate.Options{Seed: 5, Cluster: c.name}, scenarios...)
		if _, err := simulate.WriteElasticsearch(ctx, es, naming, sim, end.Add(-time.Hour), end, bucket); err != nil {
			t.Fatal(err)
		}
		for _, lt := range calicolog.LogTypes {
			if err := es.Refresh(ctx, naming.SearchIndex(lt)); err != nil {
				t.Fatal(err)
			}
		}
	}
	e := startExporter(t, "--source=elasticsearch", "--es.url="+esURL, "--es.cluster="+base+"-*",
		fmt.Sprintf("--source.lag=%s", lag), "--source.catch-up=1h", "--no-detector.generic-flows", "--no-detector.time-series-flows")
	mfs := e.waitForMetrics(t, 3*time.Minute, "the scan in the east cluster", func(mfs map[string]*dto.MetricFamily) bool {
		return series(mfs, "calico_anomaly_score", "cluster", "detector")[base+"-west/port_scan"] >= 0 &&
			len(series(mfs, "calico_anomaly_score", "cluster")) == 2 && anyAnomalous(mfs, base+"-east", "port_scan")
	})
	if anyAnomalous(mfs, base+"-west", "port_scan") {
		t.Error("the west cluster, which saw no scan, is flagged")
	}
	// Each cluster's detector health is its own series.
	runs := series(mfs, "calico_anomaly_detector_runs_total", "cluster", "detector", "result")
	ready := series(mfs, "calico_anomaly_model_ready", "cluster", "detector")
	for _, c := range []string{base + "-east", base + "-west"} {
		if runs[c+"/port_scan/success"] < 1 {
			t.Errorf("no successful port_scan run counted for cluster %s: %v", c, runs)
		}
		if _, ok := ready[c+"/port_scan"]; !ok {
			t.Errorf("no calico_anomaly_model_ready series of port_scan for cluster %s", c)
		}
	}
	if !strings.Contains(e.log.String(), `msg="clusters found"`) {
		t.Error("the cluster pattern was not resolved")
	}
}

// anyAnomalous reports whether a detector scores any workload of a cluster
// at or above its threshold.
func anyAnomalous(mfs map[string]*dto.MetricFamily, cluster, detector string) bool {
	thresholds := series(mfs, "calico_anomaly_score_threshold", "cluster", "detector")
	for key, v := range series(mfs, "calico_anomaly_score", "cluster", "detector", "workload") {
		parts := strings.SplitN(key, "/", 3)
		if parts[0] == cluster && parts[1] == detector && v >= thresholds[cluster+"/"+detector] {
			return true
		}
	}
	return false
}
