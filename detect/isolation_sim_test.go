package detect

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// The isolation forest detectors and l7_bytes, judged on simulated days
// where the answer is known.
var learnedDetectors = []string{"dns_latency", "l7_latency", "multivariable_flow", "l7_bytes"}

// degradationDays is the scenario of the test: nine days of a cluster with
// daily patterns (the simulator's day curve, a nightly backup sent out at
// 02:00, a data load coming in at 07:00), then on the ninth day a DNS
// latency degradation, many small flows, a slowed service and a surge of
// bytes served.
func degradationDays(opts simulate.Options) (*simulate.Cluster, time.Time, time.Time) {
	const days = 9
	attackDay := weekStart.Add((days - 1) * 24 * time.Hour)
	var scs []simulate.Scenario
	scs = append(scs, simulate.DailyTransfer(weekStart, days, 2*time.Hour, simulate.BytesBurst{
		Duration: 20 * time.Minute, Namespace: "payments", Workload: "postgres", PeerIP: "198.51.100.7", Bytes: 600 << 20})...)
	scs = append(scs, simulate.DailyTransfer(weekStart, days, 7*time.Hour, simulate.BytesBurst{
		Duration: 10 * time.Minute, Namespace: "payments", Workload: "ledger", PeerIP: "198.51.100.9", Bytes: 300 << 20, Inbound: true})...)
	bucket := simulate.DefaultBucket
	scs = append(scs,
		simulate.Degradation{Kind: simulate.DNSLatency, At: attackDay.Add(9 * time.Hour), Duration: 3 * bucket,
			Namespace: "shop", Workload: "cart", Factor: 40},
		simulate.Degradation{Kind: simulate.FlowShape, At: attackDay.Add(10 * time.Hour), Duration: 3 * bucket,
			Namespace: "shop", Workload: "frontend", Factor: 1.6, BytesFactor: 0.25},
		simulate.Degradation{Kind: simulate.L7Latency, At: attackDay.Add(13 * time.Hour), Duration: 3 * bucket,
			Namespace: "shop", Workload: "cart", Factor: 25},
		simulate.Degradation{Kind: simulate.L7Bytes, At: attackDay.Add(14 * time.Hour), Duration: 2 * bucket,
			Namespace: "shop", Workload: "frontend", Factor: 30},
	)
	return simulate.New(opts, scs...), weekStart.Add(days * 24 * time.Hour), attackDay
}

// playIsolationDays is playDays with the forest's story in the log:
// windows it isolated that a gate held back, and the verdicts on the
// entity of every label it missed.
func playIsolationDays(t *testing.T, c *simulate.Cluster, start, end time.Time, names []string, o Options) map[string]*weekResult {
	t.Helper()
	results, err := playDays(c, start, end, names, o, func(j judgedWindow) {
		name, w := j.detector.Name(), j.window
		for _, v := range j.verdicts {
			// Windows the forest isolated that a gate held back.
			if strings.Contains(v.Summary, "; not alerting: ") {
				reason := v.Summary[strings.Index(v.Summary, "; not alerting: ")+len("; not alerting: "):]
				if strings.HasPrefix(reason, "its last day") {
					t.Logf("%s %s held back as not new for %s: %.60s", name, w.Start.Format("Mon 15:04"), v.Entity.Workload, reason)
				} else {
					t.Logf("%s %s held back by the sensitivity for %s: %.60s", name, w.Start.Format("Mon 15:04"), v.Entity.Workload, reason)
				}
			}
		}
		for _, l := range j.missed {
			for _, v := range j.verdicts {
				if l.Namespace == v.Entity.Namespace && l.Workload == v.Entity.Workload && l.Type == v.Entity.Type {
					t.Logf("%s %s judged %.3f: %s", name, w, v.Score, v.Summary)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return results
}

// TestLearnedDetectorsOnSimulatedDays: each detector finds its scenario in
// every one of its windows, and the normal days with daily patterns, a
// nightly backup and a morning data load raise fewer than one verdict per
// 100 workloads per day across these detectors together, on two clusters.
func TestLearnedDetectorsOnSimulatedDays(t *testing.T) {
	if testing.Short() {
		t.Skip("plays nine simulated days")
	}
	clusters := []struct {
		name string
		opts simulate.Options
	}{
		{"16 workloads", simulate.Options{Seed: 11}},
		{"32 workloads", simulate.Options{Seed: 5, Namespaces: 8}},
	}
	for _, cl := range clusters {
		t.Run(cl.name, func(t *testing.T) {
			c, end, _ := degradationDays(cl.opts)
			// Calico's demo retrains every 20 minutes; hourly keeps the test short.
			results := playIsolationDays(t, c, weekStart, end, learnedDetectors, Options{Seed: 1, TrainInterval: time.Hour})
			checkIsolationDays(t, results, end)
		})
	}
}

func checkIsolationDays(t *testing.T, results map[string]*weekResult, end time.Time) {
	var all []*weekResult
	for _, name := range learnedDetectors {
		res := results[name]
		t.Run(name, func(t *testing.T) {
			t.Logf("%s: judged %d windows, %d entities; true positives %d, false positives %d, missed %d",
				name, res.JudgedWindows, len(res.Entities), res.TP, res.FP, res.FN)
			if res.JudgedWindows == 0 {
				t.Fatal("the detector never became ready")
			}
			if res.TP == 0 {
				t.Error("found none of its scenario's windows")
			}
			for _, l := range res.Missed {
				t.Errorf("missed %s on %s/%s/%s in %s", l.Scenario, l.Namespace, l.Workload, l.Type, l.Window)
			}
			for i, v := range res.False {
				if i < 10 {
					t.Logf("false positive %s %s: %s (score %.3f)", v.Window.Start.Format("Mon 15:04"), v.Entity.Key(), v.Summary, v.Score)
				}
			}
		})
		all = append(all, res)
	}
	rate := testkit.Combined(end, all...)
	perHundredPerDay := rate.Per100WorkloadsPerDay()
	t.Logf("learned detectors: %d false positives over %.1f judged days and %d entities: %.2f per 100 workloads per day",
		rate.FalseAlerts, rate.Days, rate.Workloads, perHundredPerDay)
	if perHundredPerDay >= 1 {
		t.Errorf("%.2f false verdicts per 100 workloads per day, want fewer than 1", perHundredPerDay)
	}
}

// TestManySmallFlowsStaysWithinEachFieldsDailyRange checks the premise of
// the multivariable scenario: in its windows each of the frontend's flow
// fields lies within the range the same field covers over the normal day
// before; only their combination is new.
func TestManySmallFlowsStaysWithinEachFieldsDailyRange(t *testing.T) {
	if testing.Short() {
		t.Skip("plays two simulated days")
	}
	c, _, attackDay := degradationDays(simulate.Options{Seed: 11})
	src := simulate.NewSourceWithRetention(c, time.Hour)
	fields := []string{"num_flows", "num_flows_started", "bytes_in", "bytes_out", "packets_in", "packets_out"}
	q := source.Query{Name: "range", Log: "flows", GroupBy: baselineFlowKey, Filters: srcReports}
	for _, f := range fields {
		q.Metrics = append(q.Metrics, source.Metric{Name: f, Kind: source.Sum, Field: f})
	}
	lo, hi := make([]float64, len(fields)), make([]float64, len(fields))
	for i := range lo {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
	}
	attacked := 0
	for ts := attackDay.Add(-24 * time.Hour); ts.Before(attackDay.Add(12 * time.Hour)); ts = ts.Add(c.Bucket()) {
		w := source.Window{Start: ts, End: ts.Add(c.Bucket())}
		labelled := false
		for _, l := range c.Truth(w) {
			labelled = labelled || l.Scenario == "many_small_flows"
		}
		rows, err := src.Aggregate(context.Background(), w, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Key[0] != "shop" || !strings.HasPrefix(r.Key[1], "frontend-") {
				continue
			}
			for i, v := range r.Values {
				switch {
				case !labelled && ts.Before(attackDay):
					lo[i], hi[i] = min(lo[i], v), max(hi[i], v)
				case labelled:
					if v < lo[i] || v > hi[i] {
						t.Errorf("%s: %s %.0f outside the previous day's range %.0f..%.0f", w, fields[i], v, lo[i], hi[i])
					}
				}
			}
			if labelled {
				attacked++
			}
		}
	}
	if attacked == 0 {
		t.Fatal("no window of the scenario")
	}
}
