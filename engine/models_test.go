package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// learnedDetectors are learning detectors built as the exporter builds them,
// with a small training size so a few simulated hours make them ready.
func learnedDetectors(t *testing.T) []detect.Detector {
	t.Helper()
	small := map[string]string{"min_size_for_train": "300"}
	dets, err := BuildWith([]string{"generic_flows", "bytes_out", "port_scan"}, BuildOptions{
		Cluster: "cluster", Getenv: func(string) string { return "" }, Bucket: 5 * time.Minute, Seed: 1,
		Params: map[string]map[string]string{"generic_flows": small, "bytes_out": small},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dets
}

// scoreSink keeps every verdict's score by window and detector/entity.
type scoreSink struct {
	scores map[time.Time]map[string]float64
}

func (s *scoreSink) Deliver(ctx context.Context, w source.Window, verdicts []detect.Verdict) {
	if s.scores == nil {
		s.scores = map[time.Time]map[string]float64{}
	}
	m := map[string]float64{}
	for _, v := range verdicts {
		m[v.Detector+" "+v.Entity.Key()] = v.Score
	}
	s.scores[w.Start] = m
}

// runUntil runs an engine over the simulated cluster until it has
// completed every window before until, then stops it.
func runUntil(t *testing.T, cfg Config, c *simulate.Cluster, until time.Time) (*Engine, *scoreboard.Scoreboard, *scoreSink) {
	t.Helper()
	sink := &scoreSink{}
	cfg.Interval, cfg.BackoffMin = 5*time.Minute, time.Millisecond
	cfg.Sinks = append(cfg.Sinks, sink)
	board := scoreboard.New(0)
	e, err := New(cfg, simulate.NewSource(c), learnedDetectors(t), board, &fixedClock{now: until.Add(time.Minute)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	testkit.WaitFor(t, 2*time.Minute, "every window scored", func() bool { return !e.NextWindowStart().Before(until) })
	cancel()
	<-done
	return e, board, sink
}

// TestRestartLoadsModelsAndScoresAsIfNeverStopped: an engine stopped and
// restarted with the same model folder loads its models instead of
// learning again, and scores the following windows exactly as an engine
// that never stopped.
func TestRestartLoadsModelsAndScoresAsIfNeverStopped(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	// The seasonal baselines answer once two days cover the hour.
	stop := start.Add(50 * time.Hour)
	end := stop.Add(2 * time.Hour)
	c := simulate.New(simulate.Options{Seed: 5})

	_, _, never := runUntil(t, Config{Start: start}, c, end)

	dir := t.TempDir()
	runUntil(t, Config{Start: start, StateDir: dir}, c, stop)
	_, board, resumed := runUntil(t, Config{Start: start, StateDir: dir}, c, end)

	snap := board.Snapshot()
	for _, name := range []string{"generic_flows", "bytes_out"} {
		st := snap.Detectors[name]
		if st.TrainedWindows != 0 {
			t.Errorf("%s learned %d windows without judging after the restart; its model should have been loaded", name, st.TrainedWindows)
		}
		if st.ModelLoadErrors != 0 {
			t.Errorf("%s: %d model load errors", name, st.ModelLoadErrors)
		}
	}
	if _, ok := resumed.scores[start]; ok {
		t.Fatal("the restarted engine scored the first window again")
	}
	compared, learned := 0, 0
	for w := stop; w.Before(end); w = w.Add(5 * time.Minute) {
		got, want := resumed.scores[w], never.scores[w]
		if len(want) == 0 {
			t.Fatalf("window %s: the never-stopped engine gave no verdicts", w)
		}
		for k, s := range want {
			if g, ok := got[k]; !ok || g != s {
				t.Errorf("window %s %s: score %v after restart, %v never stopped", w.Format("15:04"), k, g, s)
			}
			compared++
			if k[:len("generic_flows")] == "generic_flows" || k[:len("bytes_out")] == "bytes_out" {
				learned++
			}
		}
		if len(got) != len(want) {
			t.Errorf("window %s: %d verdicts after restart, %d never stopped", w.Format("15:04"), len(got), len(want))
		}
	}
	if learned == 0 {
		t.Fatal("no learned detector judged after the restart: nothing was compared")
	}
	t.Logf("%d scores after the restart compared (%d of learned models), all equal", compared, learned)
}

// TestCorruptModelIsReportedAndLearnedAfresh: a damaged model file does not
// stop the engine; it is counted, logged, and the detector learns again.
func TestCorruptModelIsReportedAndLearnedAfresh(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	c := simulate.New(simulate.Options{Seed: 5})
	dir := t.TempDir()
	runUntil(t, Config{Start: start, StateDir: dir}, c, start.Add(3*time.Hour))
	st, ok, err := loadState(dir)
	if err != nil || !ok || st.Models == "" {
		t.Fatalf("state %+v %v %v: want one naming a model folder", st, ok, err)
	}
	path := modelFile(filepath.Join(dir, st.Models), "generic_flows")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("model file %d bytes", len(raw))
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	_, board, _ := runUntil(t, Config{Start: start, StateDir: dir}, c, start.Add(4*time.Hour))
	snap := board.Snapshot()
	if got := snap.Detectors["generic_flows"].ModelLoadErrors; got != 1 {
		t.Errorf("generic_flows model load errors %d, want 1", got)
	}
	if got := snap.Detectors["generic_flows"].TrainedWindows; got == 0 {
		t.Error("generic_flows did not learn afresh after its model was refused")
	}
	if got := snap.Detectors["bytes_out"].ModelLoadErrors; got != 0 {
		t.Errorf("bytes_out, whose model is intact, has %d load errors", got)
	}
	entries, _ := os.ReadDir(dir)
	gens := 0
	for _, en := range entries {
		if en.IsDir() {
			gens++
		}
	}
	if gens != 1 {
		t.Errorf("%d model generations kept, want 1", gens)
	}
}

// TestHistoryTrainsModelsBeforeTheFirstWindow: with a lookback, the models
// learn the past before judging, so the first window is already judged
// and nothing is flagged on normal traffic.
func TestHistoryTrainsModelsBeforeTheFirstWindow(t *testing.T) {
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	c := simulate.New(simulate.Options{Seed: 5})
	for _, tc := range []struct {
		lookback  time.Duration
		wantReady bool
	}{
		{0, false},
		{50 * time.Hour, true},
	} {
		t.Run(fmt.Sprint(tc.lookback), func(t *testing.T) {
			_, board, sink := runUntil(t, Config{Start: start, TrainLookback: tc.lookback}, c, start.Add(10*time.Minute))
			snap := board.Snapshot()
			judged := 0
			for k, s := range sink.scores[start] {
				if k[:len("generic_flows")] == "generic_flows" {
					judged++
					if s >= snap.Detectors["generic_flows"].Threshold {
						t.Errorf("first window flagged %s with score %.2f", k, s)
					}
				}
			}
			if ready := judged > 0; ready != tc.wantReady {
				t.Errorf("generic_flows judged %d entities of the first window; want judged=%t", judged, tc.wantReady)
			}
			trained := snap.Detectors["generic_flows"].TrainedWindows
			if tc.lookback > 0 && trained < uint64(tc.lookback/(5*time.Minute)) {
				t.Errorf("trained on %d windows, want the %d of the lookback", trained, tc.lookback/(5*time.Minute))
			}
			// port_scan judges from the first window (Calico's thresholds)
			// and learns what workloads usually reach from the history
			// there is, its model being empty.
			if got, want := snap.Detectors["port_scan"].TrainedWindows, uint64(tc.lookback/(5*time.Minute)); got != want {
				t.Errorf("port_scan learned %d windows of history, want %d", got, want)
			}
			scanJudged := 0
			for k := range sink.scores[start] {
				if k[:len("port_scan")] == "port_scan" {
					scanJudged++
				}
			}
			if scanJudged == 0 {
				t.Error("port_scan did not judge the first window")
			}
		})
	}
}
