package detect

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// burstyFlowRows are one window's flow rows of eight workloads sending
// about 1e5 bytes each, flows and packets in proportion; workload
// "bursty-*" sends bytes times as much (every field in proportion), and
// flows times its usual flows.
func burstyFlowRows(r *rand.Rand, ms []source.Metric, bytes, flows float64) [][]source.Row {
	var out []source.Row
	for n := range 8 {
		name, b, f := "steady-"+string(rune('a'+n))+"-*", 1e5*math.Exp(0.1*r.NormFloat64()), 1.0
		if n == 0 {
			name, b, f = "bursty-*", b*bytes, flows
		}
		vals := make([]float64, len(ms))
		for j, m := range ms {
			switch m.Name {
			case "bytes_out":
				vals[j] = b
			case "bytes_in":
				vals[j] = b / 8
			case "num_flows", "num_flows_started", "num_flows_completed":
				vals[j] = math.Round(f * max(1, b/1e4))
			case "packets_out":
				vals[j] = math.Ceil(b / 1000)
			case "packets_in":
				vals[j] = math.Ceil(b / 8000)
			case "num_process_names", "num_process_ids":
				vals[j] = 1
			}
		}
		out = append(out, source.Row{Key: []string{"ns", name, "wep"}, Values: vals})
	}
	return [][]source.Row{out}
}

// TestMultivariableFlowKnowsAnEntitysBursts: a workload that bursts to
// twenty times its level once a day, each day at another hour, is not
// alerted by multivariable_flow when it bursts about as high at a new hour two
// days after the last burst (its fields showed as large a deviation in
// the last 48 hours, as generic_flows holds too); a burst far higher than
// any before, or a window of many flows of few bytes each, still alerts.
func TestMultivariableFlowKnowsAnEntitysBursts(t *testing.T) {
	for _, tc := range []struct {
		name          string
		bytes, flows  float64
		anomalous     bool
		summaryHolds  string
		summaryLacks  string
		forestIsolate bool
	}{
		{"a little below the bursts before", 16, 1, false, "showed as large a deviation", "", true},
		{"five hundred times higher than any burst", 1e4, 1, true, "", "showed as large", true},
		{"many flows of few bytes", 1, 20, true, "", "showed as large", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owner := newIsolationTestDetector(t, "generic_flows", nil)
			d := newIsolationTestDetector(t, "multivariable_flow", nil)
			ds := []Detector{owner, d}
			ShareBaselines(ds)
			r := rand.New(rand.NewPCG(5, 6))
			start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			// Bursts on the first three days; none on the fourth, so the
			// last lies 44 hours before the window judged, beyond the
			// day of windows the forest's novelty compares with.
			burstHour := []int{1, 9, 17, -1, -1}
			judged := start.Add(4*24*time.Hour + 13*time.Hour)
			var got *Verdict
			for w := (source.Window{Start: start}); !w.Start.After(judged); w.Start = w.Start.Add(5 * time.Minute) {
				w.End = w.Start.Add(5 * time.Minute)
				bytes, flows := 1.0, 1.0
				day, hour := int(w.Start.Sub(start).Hours()/24), w.Start.Hour()
				if hour == burstHour[day] && w.Start.Minute() < 10 {
					bytes = 20
				}
				if w.Start.Equal(judged) {
					bytes, flows = tc.bytes, tc.flows
				}
				for _, det := range ds {
					rows := burstyFlowRows(r, det.Queries()[0].Metrics, bytes, flows)
					if !det.Ready() {
						det.(Learner).Learn(w, rows)
						continue
					}
					for _, v := range det.Judge(w, rows) {
						if det == d && w.Start.Equal(judged) && v.Entity.Workload == "bursty-*" {
							got = &v
						}
					}
				}
			}
			if !d.Ready() || got == nil {
				t.Fatalf("multivariable_flow ready %v, judged the bursty workload %v", d.Ready(), got != nil)
			}
			if got.Anomalous() != tc.anomalous {
				t.Errorf("anomalous %v, want %v: %s", got.Anomalous(), tc.anomalous, got.Summary)
			}
			if tc.summaryHolds != "" && !strings.Contains(got.Summary, tc.summaryHolds) {
				t.Errorf("summary %q does not say %q", got.Summary, tc.summaryHolds)
			}
			if tc.summaryLacks != "" && strings.Contains(got.Summary, tc.summaryLacks) {
				t.Errorf("summary %q says %q", got.Summary, tc.summaryLacks)
			}
			// The forest itself isolates the window: the score stays
			// just below the threshold when the gate holds it back.
			if got.Score < math.Nextafter(got.Threshold, 0) {
				t.Errorf("score %.3f, below the threshold %.3f: the forest did not isolate the window", got.Score, got.Threshold)
			}
		})
	}
}
