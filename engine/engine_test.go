package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// fakeSource answers every window with one scanning entity, and fails while
// down is set. It records the windows it was asked about, in order.
type fakeSource struct {
	mu      sync.Mutex
	down    bool
	asked   []time.Time
	samples int
}

func (f *fakeSource) Kind() string { return "elasticsearch" }

func (f *fakeSource) Count(ctx context.Context, w source.Window, t calicolog.LogType) (source.Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return source.Counts{}, errors.New("connection refused")
	}
	f.asked = append(f.asked, w.Start)
	return source.Counts{Records: 10, Malformed: 1}, nil
}

func (f *fakeSource) Aggregate(ctx context.Context, w source.Window, q source.Query) ([]source.Row, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("connection refused")
	}
	return scanAnswer(q, map[string]int{"attacker-*": 900, "frontend-*": 2}), nil
}

// scanAnswer is the answer to the port_scan detector's queries for
// workloads of namespace shop reaching the given numbers of distinct ports:
// one row per workload and port for the per-port query, none for the query
// about sources outside the cluster.
func scanAnswer(q source.Query, ports map[string]int) []source.Row {
	if len(q.GroupBy) != 4 || q.GroupBy[3] != "dest_port" {
		return nil
	}
	var rows []source.Row
	for _, workload := range []string{"attacker-*", "b-*", "frontend-*"} {
		for port := range ports[workload] {
			rows = append(rows, source.Row{Key: []string{"shop", workload, "wep", fmt.Sprint(port + 1)}, Values: []float64{1}})
		}
	}
	return rows
}

func (f *fakeSource) Samples(ctx context.Context, w source.Window, t calicolog.LogType, filters []source.Term, n int) ([]json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples++
	return []json.RawMessage{json.RawMessage(`{"dest_port":22}`)}, nil
}

func (f *fakeSource) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeSource) windows() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.asked...)
}

// fixedClock reads a settable time and never really sleeps long.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fixedClock) Sleep(ctx context.Context, d time.Duration) error {
	return sleep(ctx, time.Millisecond)
}

func newTestEngine(t *testing.T, src source.Source, clock Clock, start time.Time) (*Engine, *scoreboard.Scoreboard) {
	t.Helper()
	detectors, err := Build([]string{"port_scan"}, "c1", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	board := scoreboard.New(0)
	e, err := New(Config{Interval: 5 * time.Minute, Lag: 2 * time.Minute, Start: start,
		BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond}, src, detectors, board, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, board
}

func TestOutageLeavesNoHoleAndWindowsRunInOrder(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	src := &fakeSource{down: true}
	clock := &fixedClock{now: start.Add(32 * time.Minute)} // six windows closed and past the lag
	e, board := newTestEngine(t, src, clock, start)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	testkit.WaitFor(t, 5*time.Second, "three source retries", func() bool { return board.Snapshot().SourceRetries >= 3 })
	if board.Snapshot().SourceUp {
		t.Fatal("source reported up while it is down")
	}
	if got := len(src.windows()); got != 0 {
		t.Fatalf("%d windows read while the source was down", got)
	}
	src.setDown(false)
	testkit.WaitFor(t, 5*time.Second, "every closed window read", func() bool { return e.NextWindowStart().Equal(start.Add(30 * time.Minute)) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}

	got := src.windows()
	if len(got) != 6 {
		t.Fatalf("read %d windows, want 6: %v", len(got), got)
	}
	for i, w := range got {
		if want := start.Add(time.Duration(i) * 5 * time.Minute); !w.Equal(want) {
			t.Errorf("window %d started at %s, want %s", i, w, want)
		}
	}
	snap := board.Snapshot()
	if !snap.SourceUp {
		t.Error("source still reported down after recovery")
	}
	if snap.Records["flows"] != 60 || snap.Malformed["flows"] != 6 {
		t.Errorf("records = %d, malformed = %d; want 60 and 6", snap.Records["flows"], snap.Malformed["flows"])
	}
	if n := snap.Detections[scoreboard.DetectionKey{Cluster: "c1", Detector: "port_scan", Namespace: "shop"}]; n != 6 {
		t.Errorf("detections = %d, want one per window (6)", n)
	}
}

func TestWindowWaitsForIngestLag(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	src := &fakeSource{}
	// The first window closed at 10:05 but its logs are complete only at 10:07.
	clock := &fixedClock{now: start.Add(6 * time.Minute)}
	e, _ := newTestEngine(t, src, clock, start)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = e.Run(ctx)
	if n := len(src.windows()); n != 0 {
		t.Fatalf("processed %d windows before the ingest lag passed", n)
	}
}

func TestAnomalousVerdictsCarryEvidence(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	src := &fakeSource{}
	e, board := newTestEngine(t, src, &fixedClock{now: start.Add(time.Hour)}, start)
	if err := e.ProcessWindow(context.Background(), source.Window{Start: start, End: start.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	vs := board.Snapshot().Verdicts["port_scan"]
	if len(vs) != 2 {
		t.Fatalf("got %d verdicts, want 2", len(vs))
	}
	for _, v := range vs {
		has := len(v.Evidence["flows"]) > 0
		if has != v.Anomalous() {
			t.Errorf("%s: anomalous=%v but evidence present=%v", v.Entity.Workload, v.Anomalous(), has)
		}
	}
	if src.samples != 1 {
		t.Errorf("fetched evidence %d times, want once (only the anomaly)", src.samples)
	}
}

func TestBadScheduleIsRefused(t *testing.T) {
	detectors, _ := Build([]string{"port_scan"}, "c1", nil, nil)
	_, err := New(Config{Interval: 7 * time.Minute, Bucket: 5 * time.Minute}, &fakeSource{}, detectors, scoreboard.New(0), nil, nil)
	if err == nil {
		t.Fatal("a 7m interval over 5m buckets was accepted")
	}
	if _, err := Build([]string{"no_such"}, "c1", nil, nil); err == nil {
		t.Fatal("an unknown detector was accepted")
	}
}

func TestCalicoEnvironmentSetsThreshold(t *testing.T) {
	env := map[string]string{"AD_port_scan_threshold": "2000"}
	detectors, err := Build([]string{"port_scan"}, "c1", func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]source.Row
	for _, q := range detectors[0].Queries() {
		rows = append(rows, scanAnswer(q, map[string]int{"b-*": 900}))
	}
	vs := detectors[0].Judge(source.Window{}, rows)
	if len(vs) != 1 || vs[0].Anomalous() || vs[0].Expected != 2000 {
		t.Fatalf("with AD_port_scan_threshold=2000, 900 ports gave %+v", vs)
	}
}

// recordingSink keeps what the engine delivered.
type recordingSink struct {
	windows  []time.Time
	verdicts [][]string // per window, "workload anomalous?"
}

func (r *recordingSink) Deliver(ctx context.Context, w source.Window, verdicts []detect.Verdict) {
	r.windows = append(r.windows, w.Start)
	var got []string
	for _, v := range verdicts {
		got = append(got, fmt.Sprintf("%s %t", v.Entity.Workload, v.Anomalous()))
	}
	r.verdicts = append(r.verdicts, got)
}

func TestSinksGetEveryVerdictOfEachWindowInOrder(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	detectors, err := Build([]string{"port_scan"}, "c1", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	e, err := New(Config{Interval: 5 * time.Minute, Start: start, Sinks: []Sink{sink}}, &fakeSource{}, detectors, scoreboard.New(0), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		w := source.Window{Start: start.Add(time.Duration(i) * 5 * time.Minute), End: start.Add(time.Duration(i+1) * 5 * time.Minute)}
		if err := e.ProcessWindow(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	if want := []time.Time{start, start.Add(5 * time.Minute)}; !reflect.DeepEqual(sink.windows, want) {
		t.Errorf("windows delivered %v, want %v", sink.windows, want)
	}
	for i, got := range sink.verdicts {
		if want := []string{"attacker-* true", "frontend-* false"}; !reflect.DeepEqual(got, want) {
			t.Errorf("window %d: verdicts %v, want %v", i, got, want)
		}
	}
}

func TestRestartResumesAfterTheLastCompletedWindow(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	run := func(now time.Time, until time.Time) []time.Time {
		src := &fakeSource{}
		detectors, err := Build([]string{"port_scan"}, "c1", func(string) string { return "" }, nil)
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(Config{Interval: 5 * time.Minute, Start: start, StateDir: dir, BackoffMin: time.Millisecond}, src, detectors, scoreboard.New(0), &fixedClock{now: now}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		testkit.WaitFor(t, 5*time.Second, "every window read", func() bool { return !e.NextWindowStart().Before(until) })
		cancel()
		<-done
		return src.windows()
	}
	first := run(start.Add(17*time.Minute), start.Add(15*time.Minute))
	second := run(start.Add(32*time.Minute), start.Add(30*time.Minute))
	all := append(first, second...)
	if len(all) != 6 {
		t.Fatalf("windows read over two runs: %v, want 6, each once", all)
	}
	for i, w := range all {
		if want := start.Add(time.Duration(i) * 5 * time.Minute); !w.Equal(want) {
			t.Errorf("window %d: %s, want %s", i, w, want)
		}
	}
}

func TestBrokenStateIsRefusedNamingTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	detectors, _ := Build([]string{"port_scan"}, "c1", func(string) string { return "" }, nil)
	_, err := New(Config{StateDir: dir}, &fakeSource{}, detectors, scoreboard.New(0), nil, nil)
	if err == nil || !strings.Contains(err.Error(), stateFile) {
		t.Errorf("error %v does not name the state file", err)
	}
}
