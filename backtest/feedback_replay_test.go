package backtest

import (
	"context"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/feedback"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestMarkingTheFirstFalseIncidentOfEachWorkload replays a backup job
// that alerts every night on one workload, and a port scan on another:
// marked expected the first night, the backup raises no incident after;
// the scan is never marked and is still alerted on.
func TestMarkingTheFirstFalseIncidentOfEachWorkload(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	backup := detect.Entity{Cluster: "c", Namespace: "ops", Workload: "backup-*", Type: "wep"}
	scanner := detect.Entity{Cluster: "c", Namespace: "shop", Workload: "frontend-*", Type: "wep"}
	scanAt := t0.Add(50 * time.Hour)
	truth := func(w source.Window) []simulate.Label {
		if w.Start.Equal(scanAt) {
			return []simulate.Label{{Scenario: "port_scan", Detectors: []string{"port_scan"}, Namespace: "shop", Workload: "frontend-*", Type: "wep", Window: w}}
		}
		return nil
	}
	run := func(mark bool) IncidentSummary {
		store, _ := feedback.New("", 0, func() time.Time { return t0 })
		policy := notify.Policy{}
		if mark {
			policy.Expected = store.Expected
		}
		tracker, _ := incident.New(incident.Config{Policy: func() notify.Policy { return policy }})
		tally := NewIncidentTally(truth, tracker, store, policy, mark)
		for i := 0; i < 3*24*12; i++ {
			w := source.Window{Start: t0.Add(time.Duration(i) * 5 * time.Minute)}
			w.End = w.Start.Add(5 * time.Minute)
			var vs []detect.Verdict
			if w.Start.Hour() == 2 && w.Start.Minute() < 15 {
				vs = append(vs, detect.Verdict{Detector: "bytes_out", Entity: backup, Window: w, Score: 0.8, Threshold: 0.5})
			}
			if w.Start.Equal(scanAt) {
				vs = append(vs, detect.Verdict{Detector: "port_scan", Entity: scanner, Window: w, Score: 0.9, Threshold: 0.5})
			}
			tracker.Deliver(context.Background(), w, vs)
			tally.Deliver(context.Background(), w, vs)
		}
		return tally.Summary()
	}
	without, with := run(false), run(true)
	if without.False != 3 || without.FalseAfterFirst != 2 || without.True != 1 || without.Found != 1 || without.Attacks != 1 {
		t.Errorf("without feedback: %+v, want 3 nightly false incidents (2 after the first) and the scan", without)
	}
	if with.False != 1 || with.FalseAfterFirst != 0 || with.Marked != 1 || with.Found != 1 {
		t.Errorf("with feedback: %+v, want only the first night's false incident, marked, and the scan still found", with)
	}
}
