package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// learningDetector wraps a detector and records what it is told to learn
// as expected.
type learningDetector struct {
	detect.Detector
	mu      sync.Mutex
	learned []string // entity workload @ window start
}

func (l *learningDetector) LearnExpected(w source.Window, rows [][]source.Row, e detect.Entity) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(rows) == 0 {
		return false
	}
	l.learned = append(l.learned, e.Workload+"@"+w.Start.Format("15:04"))
	return true
}

type fakeFeedback struct {
	expected detect.Entity
	pending  []detect.ExpectedWindows
}

func (f *fakeFeedback) Expected(detector string, e detect.Entity, _ time.Time) bool {
	return detector == "port_scan" && e == f.expected
}

func (f *fakeFeedback) TakeLearning(cluster string) []detect.ExpectedWindows {
	out := f.pending
	f.pending = nil
	return out
}

// TestExpectedIncidentsAreLearned: the windows of an incident marked
// expected are read again and learned by the detector, and so is the
// entity's next anomalous window; other entities are not.
func TestExpectedIncidentsAreLearned(t *testing.T) {
	detectors, err := Build([]string{"port_scan"}, "c1", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ld := &learningDetector{Detector: detectors[0]}
	attacker := detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "attacker-*", Type: "wep"}
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	win := func(i int) source.Window {
		return source.Window{Start: t0.Add(time.Duration(i) * 5 * time.Minute), End: t0.Add(time.Duration(i+1) * 5 * time.Minute)}
	}
	fb := &fakeFeedback{expected: attacker, pending: []detect.ExpectedWindows{
		{Detector: "port_scan", Entity: attacker, Windows: []source.Window{win(0), win(1)}},
		{Detector: "dga", Entity: attacker, Windows: []source.Window{win(1)}}, // no such detector here
	}}
	e, err := New(Config{Interval: 5 * time.Minute, Feedback: fb}, &fakeSource{}, []detect.Detector{ld}, scoreboard.New(0), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ProcessWindow(context.Background(), win(2)); err != nil {
		t.Fatal(err)
	}
	want := []string{"attacker-*@10:00", "attacker-*@10:05", "attacker-*@10:10"}
	if len(ld.learned) != len(want) {
		t.Fatalf("learned %v, want %v", ld.learned, want)
	}
	for i := range want {
		if ld.learned[i] != want[i] {
			t.Errorf("learned %v, want %v", ld.learned, want)
		}
	}
}
