package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
)

// TestEnginesOfTwoClustersShareAScoreboard: one engine per cluster, each
// with its own source and detectors, publish on one scoreboard without
// overwriting each other.
func TestEnginesOfTwoClustersShareAScoreboard(t *testing.T) {
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	board := scoreboard.New(0)
	clusters := []string{"east", "west"}
	var engines []*Engine
	for i, name := range clusters {
		dets, err := BuildWith([]string{"port_scan", "ip_sweep"}, BuildOptions{Cluster: name, Getenv: func(string) string { return "" }, Bucket: 5 * time.Minute, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		src := simulate.NewSource(simulate.New(simulate.Options{Seed: uint64(10 + i), Cluster: name}))
		e, err := New(Config{Cluster: name, Start: start, Interval: 5 * time.Minute, BackoffMin: time.Millisecond}, src, dets, board, &fixedClock{now: end.Add(time.Minute)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		engines = append(engines, e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(engines))
	for _, e := range engines {
		go func() { done <- e.Run(ctx) }()
	}
	testkit.WaitFor(t, 2*time.Minute, "every cluster's windows scored", func() bool {
		for _, e := range engines {
			if e.NextWindowStart().Before(end) {
				return false
			}
		}
		return true
	})
	cancel()
	for range engines {
		<-done
	}

	snap := board.Snapshot()
	windows := uint64(end.Sub(start) / (5 * time.Minute))
	for _, det := range []string{"port_scan", "ip_sweep"} {
		var runs uint64
		for _, cluster := range clusters {
			k := scoreboard.DetectorKey{Cluster: cluster, Detector: det}
			st, ok := snap.ClusterDetectors[k]
			if !ok {
				t.Fatalf("no state of %s in cluster %s", det, cluster)
			}
			runs += st.Runs[scoreboard.ResultSuccess]
			if st.Runs[scoreboard.ResultSuccess] < windows {
				t.Errorf("%s in %s ran %d windows, want at least %d", det, cluster, st.Runs[scoreboard.ResultSuccess], windows)
			}
			vs := snap.ClusterVerdicts[k]
			if det == "port_scan" && len(vs) == 0 {
				t.Errorf("%s in %s: no verdicts", det, cluster)
			}
			for _, v := range vs {
				if v.Entity.Cluster != cluster {
					t.Errorf("%s verdicts of cluster %s hold one of cluster %s", det, cluster, v.Entity.Cluster)
				}
			}
		}
		if got := snap.Detectors[det].Runs[scoreboard.ResultSuccess]; got != runs {
			t.Errorf("%s: %d runs summed up, want %d", det, got, runs)
		}
		if got, want := len(snap.Verdicts[det]), len(snap.ClusterVerdicts[scoreboard.DetectorKey{Cluster: "east", Detector: det}])+len(snap.ClusterVerdicts[scoreboard.DetectorKey{Cluster: "west", Detector: det}]); got != want {
			t.Errorf("%s: %d verdicts over both clusters, want %d", det, got, want)
		}
	}
	if snap.NewestWindowEnd.Before(end) {
		t.Errorf("newest window end %v, want %v", snap.NewestWindowEnd, end)
	}
}

// TestStateOfAnotherClusterIsRefused: two clusters' engines given one
// storage folder would overwrite each other's models; the second is told.
func TestStateOfAnotherClusterIsRefused(t *testing.T) {
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	if err := saveState(dir, state{NextWindowStart: start, Interval: (5 * time.Minute).String(), Cluster: "east"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cluster string
		wantErr bool
	}{{"east", false}, {"", false}, {"west", true}} {
		dets, err := BuildWith([]string{"port_scan"}, BuildOptions{Cluster: tc.cluster, Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(Config{Cluster: tc.cluster, StateDir: dir, Interval: 5 * time.Minute}, simulate.NewSource(simulate.New(simulate.Options{Seed: 1})), dets, scoreboard.New(0), nil, nil)
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), `state of cluster "east", not "west"`) {
				t.Errorf("cluster %q: %v, want a refusal naming both clusters", tc.cluster, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("cluster %q: %v", tc.cluster, err)
		}
		if !e.NextWindowStart().Equal(start) {
			t.Errorf("cluster %q did not resume at %v", tc.cluster, start)
		}
	}
}
