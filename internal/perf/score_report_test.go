package perf

import (
	"strings"
	"testing"
)

func TestScoreDefaultFigures(t *testing.T) {
	out := `BenchmarkScoreWindowDefault/entities=1000-2 	1	 90000000 ns/op	 80000000 cpu-ns/op	 1000 entities	 12.5 allocs/entity	 18.00 detectors
BenchmarkScoreWindowDefault/entities=100000 	1	 7100000000 ns/op	 6200000000 cpu-ns/op	 100000 entities	 31.0 allocs/entity	 18.00 detectors
`
	bs, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	figs := BenchFigures(bs)
	for _, tc := range []struct {
		i      int
		name   string
		value  float64
		target float64 // 0: none
		met    bool
		id     string
	}{
		{0, "1000 workloads", 0.08, 0, true, ""},
		{1, "allocations per workload, 1000", 12.5, allocsTarget, true, "scoring.allocs_per_entity"},
		{2, "100000 workloads", 6.2, scoreCPUTarget100k, false, "scoring.cpu.100k"},
		{3, "allocations per workload, 100000", 31, allocsTarget, false, "scoring.allocs_per_entity"},
	} {
		if tc.i >= len(figs) {
			t.Fatalf("%d figures, want 4: %+v", len(figs), figs)
		}
		f := figs[tc.i]
		if !strings.Contains(f.Name, tc.name) || f.Value != tc.value || f.Target != tc.target || f.Met() != tc.met || f.ID != tc.id {
			t.Errorf("figure %d: %+v, want %q at %v, target %v, met %v", tc.i, f, tc.name, tc.value, tc.target, tc.met)
		}
	}
}
