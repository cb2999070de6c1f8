package dashboards

import (
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// healthSeries are the per-cluster detector health series (and the
// recording rule over one of them).
var healthSeries = map[string]bool{
	"calico_anomaly_model_ready":                            true,
	"calico_anomaly_detector_runs_total":                    true,
	"calico_anomaly_detector_run_duration_seconds":          true,
	"calico_anomaly_detector_last_run_timestamp_seconds":    true,
	"detector:calico_anomaly_detector_last_run:age_seconds": true,
	"calico_anomaly_score_threshold":                        true,
	"calico_anomaly_series_dropped_total":                   true,
	"calico_anomaly_model_trained_windows_total":            true,
	"calico_anomaly_model_load_errors_total":                true,
}

// TestHealthPanelsArePerCluster: every panel over a detector health series
// follows the $cluster variable and keeps the cluster apart in each of its
// aggregations, so a multi-cluster exporter's health reads per cluster.
func TestHealthPanelsArePerCluster(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	panels := 0
	for _, q := range qs {
		if len(q.Where) < 6 || q.Where[:6] != "panel " {
			continue
		}
		e, err := parser.NewParser(parser.Options{}).ParseExpr(Expand(q.Expr, "1h", "1m"))
		if err != nil {
			t.Fatalf("%s %s: %v", q.Dashboard, q.Where, err)
		}
		health := false
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok || !healthSeries[vs.Name] {
				return nil
			}
			health = true
			if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool { return m.Name == "cluster" }) {
				t.Errorf("%s %s: %s does not follow $cluster: %s", q.Dashboard, q.Where, vs.Name, q.Expr)
			}
			return nil
		})
		if !health {
			continue
		}
		panels++
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if a, ok := n.(*parser.AggregateExpr); ok && !a.Without && !slices.Contains(a.Grouping, "cluster") {
				t.Errorf("%s %s: %s sums the clusters up: %s", q.Dashboard, q.Where, a.Op, q.Expr)
			}
			return nil
		})
	}
	if panels < 8 {
		t.Errorf("%d health panels found, want those of the four dashboards", panels)
	}
}
