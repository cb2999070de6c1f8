package testkit

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// verdict is a minimal verdict for the harness's own tests.
type verdict struct {
	ns, wl    string
	anomalous bool
}

func readVerdict(v verdict) Judgement {
	return Judgement{Entity: v.ns + "/" + v.wl, Namespace: v.ns, Workload: v.wl, Type: "wep", Anomalous: v.anomalous}
}

func label(detector, ns, wl string) simulate.Label {
	return simulate.Label{Scenario: "attack", Detectors: []string{detector}, Namespace: ns, Workload: wl, Type: "wep"}
}

// TestQualityTalliesAKnownReplay: three windows with known labels and
// verdicts give known counts and figures.
func TestQualityTalliesAKnownReplay(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	win := func(i int) source.Window {
		return source.Window{Start: start.Add(time.Duration(i) * time.Hour), End: start.Add(time.Duration(i+1) * time.Hour)}
	}
	q := NewQuality("port_scan", readVerdict)
	// Learning: a label there is missed.
	q.Learned([]simulate.Label{label("port_scan", "shop", "cart"), label("ip_sweep", "shop", "cart")})
	// Judged: one attack found, one missed, one false alarm, one quiet verdict.
	labels := []simulate.Label{label("port_scan", "shop", "cart"), label("port_scan", "shop", "db"), label("ip_sweep", "shop", "web")}
	m := q.Judged(win(1), labels, []verdict{
		{"shop", "cart", true}, {"shop", "web", true}, {"shop", "db", false}, {"shop", "api", false},
	})
	if want := []int{0, -1, 1, -1}; !slices.Equal(m, want) {
		t.Errorf("matches %v, want %v", m, want)
	}
	// A window with no verdict and no label.
	q.Judged(win(2), nil, nil)

	if q.JudgedWindows != 2 || q.TP != 1 || q.FP != 1 || q.FN != 2 || len(q.Entities) != 4 {
		t.Errorf("windows %d TP %d FP %d FN %d entities %d, want 2 1 1 2 4", q.JudgedWindows, q.TP, q.FP, q.FN, len(q.Entities))
	}
	if len(q.False) != 1 || q.False[0].wl != "web" {
		t.Errorf("false positives %v, want the verdict on web", q.False)
	}
	if len(q.Missed) != 2 || q.Missed[0].Workload != "cart" || q.Missed[1].Workload != "db" {
		t.Errorf("missed %v, want cart while learning and db", q.Missed)
	}
	if !q.FirstVerdict.Equal(win(1).Start) {
		t.Errorf("first verdict %v, want %v", q.FirstVerdict, win(1).Start)
	}
	if p, r := q.Precision(), q.Recall(); p != 0.5 || math.Abs(r-1.0/3) > 1e-12 {
		t.Errorf("precision %v recall %v, want 0.5 and 1/3", p, r)
	}
	// One false alert on 4 workloads over 2 days: 12.5 per 100 per day.
	end := win(1).Start.Add(48 * time.Hour)
	if got := q.FalseAlertsPer100WorkloadsPerDay(end); got != 12.5 {
		t.Errorf("false alerts per 100 workloads per day %v, want 12.5", got)
	}

	other := NewQuality("ip_sweep", readVerdict)
	other.Judged(win(1), labels, []verdict{{"shop", "web", true}, {"team", "x", true}})
	c := Combined(end, q, other)
	if c.FalseAlerts != 2 || c.Workloads != 5 || c.Days != 2 || c.Per100WorkloadsPerDay() != 20 {
		t.Errorf("combined %+v (%v per 100 per day), want 2 false alerts on 5 workloads over 2 days: 20", c, c.Per100WorkloadsPerDay())
	}
}

func TestQualityWithNothingJudged(t *testing.T) {
	q := NewQuality("dga", readVerdict)
	if q.Precision() != 1 || q.Recall() != 1 || q.JudgedDays(time.Now()) != 0 || q.FalseAlertsPer100WorkloadsPerDay(time.Now()) != 0 {
		t.Errorf("an empty tally: precision %v recall %v days %v rate %v, want 1 1 0 0",
			q.Precision(), q.Recall(), q.JudgedDays(time.Now()), q.FalseAlertsPer100WorkloadsPerDay(time.Now()))
	}
}
