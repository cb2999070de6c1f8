package life

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestAlertsMergeAndCountByDay feeds verdicts straight to the sink: one
// entity's anomalous windows less than 30 minutes apart are one alert,
// another entity's or another detector's are their own, and each alert
// counts on the day it began.
func TestAlertsMergeAndCountByDay(t *testing.T) {
	from := DefaultFrom
	s := &alertSink{from: from, days: 2, last: map[string]time.Time{}, results: map[string]*Result{
		"a": {Detector: "a", AlertsByDay: make([]int, 2)},
		"b": {Detector: "b", AlertsByDay: make([]int, 2)},
	}}
	deliver := func(at time.Duration, verdicts ...detect.Verdict) {
		w := source.Window{Start: from.Add(at), End: from.Add(at + 5*time.Minute)}
		s.Deliver(context.Background(), w, verdicts)
	}
	v := func(d, workload string, score float64) detect.Verdict {
		return detect.Verdict{Detector: d, Entity: detect.Entity{Namespace: "ns", Workload: workload, Type: "wep"}, Score: score, Threshold: 1}
	}
	deliver(0, v("a", "x", 2), v("a", "y", 0.5), v("b", "x", 1))
	deliver(5*time.Minute, v("a", "x", 2))
	deliver(30*time.Minute, v("a", "x", 2))              // 25 min after the last: the same alert
	deliver(60*time.Minute, v("a", "x", 2))              // 30 min after: a new one
	deliver(23*time.Hour+50*time.Minute, v("a", "y", 3)) // day 1
	deliver(24*time.Hour+10*time.Minute, v("a", "y", 3)) // day 2, 20 min later: the same alert
	deliver(26*time.Hour, v("b", "x", 1), v("c", "x", 9))
	a, b := s.results["a"], s.results["b"]
	if a.Anomalies != 6 || a.Alerts != 3 || a.AlertsByDay[0] != 3 || a.AlertsByDay[1] != 0 {
		t.Errorf("detector a: %d anomalies, %d alerts by day %v; want 6, 3, [3 0]", a.Anomalies, a.Alerts, a.AlertsByDay)
	}
	if b.Anomalies != 2 || b.Alerts != 2 || b.AlertsByDay[0] != 1 || b.AlertsByDay[1] != 1 {
		t.Errorf("detector b: %d anomalies, %d alerts by day %v; want 2, 2, [1 1]", b.Anomalies, b.Alerts, b.AlertsByDay)
	}
	a.rates(16, 2)
	if want := 3.0 / 2 / 0.16; a.PerDayPer100 != want || a.ByDayPer100[0] != 3/0.16 {
		t.Errorf("rates %.2f per day, by day %v; want %.2f and %.2f on day 1", a.PerDayPer100, a.ByDayPer100, want, 3/0.16)
	}
}

// TestRunOnSimulatedLife plays a judged day of the simulated cluster's
// normal life after two learned days, for two detectors.
func TestRunOnSimulatedLife(t *testing.T) {
	if testing.Short() {
		t.Skip("plays three simulated days")
	}
	r, err := Run(context.Background(), Config{Detectors: []string{"generic_flows", "generic_l7"}, Seed: 1, ModelSeed: 1, Days: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Workloads != 16 || len(r.Detectors) != 2 || r.To.Sub(r.From) != 24*time.Hour {
		t.Fatalf("%d workloads, %d detectors, %s judged; want 16, 2, 24h", r.Workloads, len(r.Detectors), r.To.Sub(r.From))
	}
	sum := 0
	for _, d := range r.Detectors {
		sum += d.Alerts
		if d.Alerts > d.Anomalies {
			t.Errorf("%s: %d alerts from %d anomalous verdicts", d.Detector, d.Alerts, d.Anomalies)
		}
	}
	if r.Total.Alerts != sum || r.Total.AlertsByDay[0] != sum {
		t.Errorf("total %d alerts (%v by day), the detectors' sum is %d", r.Total.Alerts, r.Total.AlertsByDay, sum)
	}
	var out bytes.Buffer
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"16 workloads", "generic_l7", "day 1 (Wed)", "all days"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := Run(context.Background(), Config{Detectors: []string{"no_such_detector"}}); err == nil {
		t.Error("an unknown detector: no error")
	}
}
