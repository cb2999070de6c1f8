package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func verdict(det, ns, wl, typ string, score float64) detect.Verdict {
	return detect.Verdict{Detector: det, Entity: detect.Entity{Cluster: "c", Namespace: ns, Workload: wl, Type: typ}, Score: score, Threshold: 0.5}
}

// TestRecorderTalliesAgainstLabels: each kind of anomalous verdict lands
// in its column, and every label without a verdict is missed.
func TestRecorderTalliesAgainstLabels(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	w := source.Window{Start: t0, End: t0.Add(5 * time.Minute)}
	labels := []simulate.Label{
		{Scenario: "scan", Detectors: []string{"port_scan"}, Cluster: "c", Namespace: "shop", Workload: "cart-*", Type: "wep", Window: w},
		{Scenario: "sweep", Detectors: []string{"ip_sweep"}, Cluster: "c", Namespace: "shop", Workload: "web-*", Type: "wep", Window: w},
	}
	truth := func(got source.Window) []simulate.Label {
		if got == w {
			return labels
		}
		return nil
	}
	var lines bytes.Buffer
	r := NewRecorder([]string{"port_scan", "ip_sweep", "generic_flows", "time_series_flows"}, truth, &lines, false)
	r.Deliver(context.Background(), w, []detect.Verdict{
		verdict("port_scan", "shop", "cart-*", "wep", 0.9),           // true positive
		verdict("port_scan", "shop", "web-*", "wep", 0.1),            // below threshold: not written
		verdict("generic_flows", "shop", "cart-*", "wep", 0.8),       // related: the scanner's flows
		verdict("time_series_flows", "shop", "*", "namespace", 0.7),  // related: its namespace
		verdict("generic_flows", "payments", "ledger-*", "wep", 0.6), // false positive
		verdict("not_enabled", "payments", "ledger-*", "wep", 0.6),   // ignored
	})
	next := source.Window{Start: w.End, End: w.End.Add(5 * time.Minute)}
	r.Deliver(context.Background(), next, []detect.Verdict{verdict("port_scan", "shop", "cart-*", "wep", 0.2)})

	sum := r.Summary()
	got := map[string]Result{}
	for _, res := range sum.Results {
		got[res.Detector] = res
	}
	for _, tc := range []struct {
		det                     string
		tp, related, fp, fn, wn int
	}{
		{"port_scan", 1, 0, 0, 0, 2},
		{"ip_sweep", 0, 0, 0, 1, 0},
		{"generic_flows", 0, 1, 1, 0, 1},
		{"time_series_flows", 0, 1, 0, 0, 1},
	} {
		r := got[tc.det]
		if r.TP != tc.tp || r.Related != tc.related || r.FP != tc.fp || r.FN != tc.fn || r.Windows != tc.wn {
			t.Errorf("%s: tp %d related %d fp %d fn %d windows %d; want %d %d %d %d %d", tc.det, r.TP, r.Related, r.FP, r.FN, r.Windows,
				tc.tp, tc.related, tc.fp, tc.fn, tc.wn)
		}
	}
	if n := strings.Count(lines.String(), "\n"); n != 4 {
		t.Errorf("%d JSON lines, want the 4 anomalous verdicts of enabled detectors:\n%s", n, lines.String())
	}
	var first Line
	if err := json.Unmarshal([]byte(strings.SplitN(lines.String(), "\n", 2)[0]), &first); err != nil || first.Truth != "true_positive" {
		t.Errorf("first line %+v (%v), want the true positive", first, err)
	}
	if sum.Workloads != 4 {
		t.Errorf("%d workloads judged, want 4", sum.Workloads)
	}
	// One false positive over 10 minutes and 4 workloads.
	if got, want := sum.AlertsPerDayPer100(got["generic_flows"]), 1/(10.0/(24*60))/(4.0/100); got != want {
		t.Errorf("false alerts per day per 100 workloads %v, want %v", got, want)
	}
	var table bytes.Buffer
	if err := sum.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"precision", "recall", "port_scan", "all"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}
