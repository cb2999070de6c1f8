package main

import (
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/perf"
)

// TestMemoryFiguresTargets checks which memory and scoring figures carry
// issue 23's targets: those of the default detectors at the counts the
// issue names, and none of a run of every detector.
func TestMemoryFiguresTargets(t *testing.T) {
	run := func(n int) perf.MemoryResult {
		r := perf.MemoryResult{Entities: n, Windows: 48, Detectors: 18, HeapAlloc: 300 << 20, PeakRSS: 700 << 20,
			Scored: true, ScoreCPU: 6 * time.Second, AllocsPerEntity: 25}
		r.Within.CPU, r.Within.AllocsPerEntity = 4*time.Second, 12
		return r
	}
	for _, tc := range []struct {
		name        string
		r           perf.MemoryResult
		defaultOnly bool
		want        map[string]bool // ID: met
	}{
		{"10k default", run(10000), true, map[string]bool{"memory.peak_rss.10k": false, "memory.live_heap.10k": false, "scoring.allocs_per_entity": true,
			"scoring: allocations per workload, the window that closes the hour, 10000 workloads (18 detectors)": false}},
		{"100k default", run(100000), true, map[string]bool{"memory.peak_rss.100k": true, "scoring.allocs_per_entity": true, "scoring.cpu.100k": true,
			"scoring: 1 window that closes the hour, 100000 workloads, CPU on one core (18 detectors)":            false,
			"scoring: allocations per workload, the window that closes the hour, 100000 workloads (18 detectors)": false}},
		{"1k default", run(1000), true, map[string]bool{"scoring.allocs_per_entity": true,
			"scoring: allocations per workload, the window that closes the hour, 1000 workloads (18 detectors)": false}},
		{"10k every detector", run(10000), false, map[string]bool{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]bool{}
			for _, f := range memoryFigures(tc.r, tc.defaultOnly) {
				if f.ID != "" && f.Op == "" {
					t.Errorf("%s: ID %q without a target", f.Name, f.ID)
				}
				switch {
				case f.ID != "":
					got[f.ID] = f.Met()
				case f.Op != "":
					got[f.Name] = f.Met()
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("figures with targets %v, want %v", got, tc.want)
			}
			for id, met := range tc.want {
				if m, ok := got[id]; !ok || m != met {
					t.Errorf("%s: met %v (present %v), want %v", id, m, ok, met)
				}
			}
		})
	}
}
