package engine

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// windowSink keeps, for each delivery, the windows of the verdicts it held.
type windowSink struct{ deliveries [][]time.Time }

func (s *windowSink) Deliver(_ context.Context, _ source.Window, verdicts []detect.Verdict) {
	var ws []time.Time
	for _, v := range verdicts {
		if len(ws) == 0 || !ws[len(ws)-1].Equal(v.Window.Start) {
			ws = append(ws, v.Window.Start)
		}
	}
	s.deliveries = append(s.deliveries, ws)
}

// A detector whose period (a GlobalAlert's spec.period) spans three
// windows runs once a period, at the window that ends on a whole period
// of the wall clock, judging every window since its last run in order;
// until its next run, its last verdicts stand (alerts keep firing).
func TestDetectorRunsOnItsPeriod(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }
	detectors, err := Build([]string{"port_scan"}, "c1", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &windowSink{}
	board := scoreboard.New(0)
	e, err := New(Config{Interval: 5 * time.Minute, Start: start, Sinks: []Sink{sink},
		Periods: map[string]time.Duration{"port_scan": 15 * time.Minute}}, &fakeSource{}, detectors, board, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		w := source.Window{Start: at(5 * i), End: at(5 * (i + 1))}
		if err := e.ProcessWindow(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]time.Time{
		nil, nil, // 10:05 and 10:10 end no period: not run yet
		{at(0), at(5), at(10)},   // 10:15: the three windows of the period
		{at(0), at(5), at(10)},   // 10:20: those verdicts stand
		{at(0), at(5), at(10)},   // 10:25
		{at(15), at(20), at(25)}, // 10:30: the next period
	}
	if !reflect.DeepEqual(sink.deliveries, want) {
		t.Errorf("verdict windows per delivery\n%v\nwant\n%v", sink.deliveries, want)
	}
}

// A period no longer than the search interval runs every window.
func TestShortPeriodRunsEveryWindow(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	detectors, err := Build([]string{"port_scan"}, "c1", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &windowSink{}
	e, err := New(Config{Interval: 5 * time.Minute, Start: start, Sinks: []Sink{sink},
		Periods: map[string]time.Duration{"port_scan": 5 * time.Minute}}, &fakeSource{}, detectors, scoreboard.New(0), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		w := source.Window{Start: start.Add(time.Duration(5*i) * time.Minute), End: start.Add(time.Duration(5*(i+1)) * time.Minute)}
		if err := e.ProcessWindow(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	if want := [][]time.Time{{start}, {start.Add(5 * time.Minute)}}; !reflect.DeepEqual(sink.deliveries, want) {
		t.Errorf("deliveries %v, want %v", sink.deliveries, want)
	}
}
