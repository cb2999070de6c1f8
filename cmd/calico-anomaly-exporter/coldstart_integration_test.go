//go:build integration

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
)

var anomalyLine = regexp.MustCompile(`msg=anomaly detector=(\S+) cluster=\S+ namespace=(\S+) workload=(\S+) type=\S+ score=\S+ threshold=\S+ window=(\S+)/`)

// TestColdStartLearnsHistoryAndRaisesNoFlood starts a new exporter against
// an Elasticsearch that already holds two days and more of normal history
// and then an exfiltration: with --train.lookback it learns the history
// first, flags nothing in the normal windows it scores, and flags the
// exfiltration with the learned baselines.
func TestColdStartLearnsHistoryAndRaisesNoFlood(t *testing.T) {
	esURL := testbed.ElasticsearchURL(t)
	cluster := fmt.Sprintf("cold%d", time.Now().UnixNano()%1e9)
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: cluster}
	es := newElasticsearch(t, esURL, naming)
	ctx := context.Background()
	if err := es.EnsureTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	end := newestWindowEnd(t)
	attack := end.Add(-30 * time.Minute)
	sim := simulate.New(simulate.Options{Seed: 9, Cluster: cluster},
		simulate.BytesBurst{At: attack, Namespace: "payments", Workload: "postgres", Bytes: 3 << 30})
	loaded := time.Now()
	st, err := simulate.WriteElasticsearch(ctx, es, naming, sim, end.Add(-52*time.Hour), end, bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range calicolog.LogTypes {
		if err := es.Refresh(ctx, naming.SearchIndex(lt)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("loaded 52 h of history (%d records) in %s", st.Records(), time.Since(loaded).Round(time.Second))

	// The flow detectors that learn, chosen as a Calico user would: with
	// GlobalAlerts (the others would only lengthen the history read).
	alerts := filepath.Join(t.TempDir(), "ad-alerts.yaml")
	var doc strings.Builder
	for _, d := range []string{"bytes_out", "generic_flows", "time_series_flows", "port_scan"} {
		fmt.Fprintf(&doc, "---\napiVersion: projectcalico.org/v3\nkind: GlobalAlert\nmetadata:\n  name: tigera.io.detector.%s\nspec:\n  type: AnomalyDetection\n  detector:\n    name: %s\n  period: 5m\n  severity: 100\n", strings.ReplaceAll(d, "_", "-"), d)
	}
	if err := os.WriteFile(alerts, []byte(doc.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--source=elasticsearch", "--es.url="+esURL, "--es.cluster="+cluster,
		fmt.Sprintf("--source.lag=%s", lag), "--source.catch-up=2h", "--train.lookback=50h", "--detectors.config="+alerts)
	e.waitForMetrics(t, 8*time.Minute, "the two hours after the history scored", func(mfs map[string]*dto.MetricFamily) bool {
		w := processedWindows(t, e.log.String())
		return len(w) > 0 && !w[len(w)-1].Before(end.Add(-bucket))
	})
	logs := e.log.String()
	if !strings.Contains(logs, `msg="learned from history"`) {
		t.Fatal("the exporter did not learn from history")
	}
	found := map[string]bool{}
	for _, m := range anomalyLine.FindAllStringSubmatch(logs, -1) {
		detector, namespace, workload := m[1], m[2], m[3]
		start, err := time.Parse(time.RFC3339, m[4])
		if err != nil {
			t.Fatal(err)
		}
		onTarget := namespace == "payments" && (strings.HasPrefix(workload, "postgres-") || workload == "*")
		switch {
		case start.Before(attack.Truncate(bucket)):
			t.Errorf("%s flagged %s/%s at %s, before the attack at %s", detector, namespace, workload, start.Format(time.RFC3339), attack.Format(time.RFC3339))
		case !onTarget:
			t.Errorf("%s flagged %s/%s at %s, a workload the attack did not touch", detector, namespace, workload, start.Format(time.RFC3339))
		default:
			found[detector] = true
		}
	}
	for _, want := range []string{"bytes_out", "generic_flows"} {
		if !found[want] {
			t.Errorf("%s did not flag the exfiltration; anomalies: %v", want, found)
		}
	}
	t.Logf("detectors that flagged the exfiltration: %v", found)
}
