package perf

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
BenchmarkScoreWindow10kEntities 	       3	 812345678 ns/op	       171.4 allocs/entity	        15.00 detectors	 237641237 B/op	 1714388 allocs/op
BenchmarkMetrics20kSeries-2   	      10	  45000000 ns/op	 44000000 cpu-ns/op
PASS
`
	got, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []BenchResult{
		{Name: "BenchmarkScoreWindow10kEntities", N: 3, Metrics: map[string]float64{"ns/op": 812345678, "allocs/entity": 171.4, "detectors": 15, "B/op": 237641237, "allocs/op": 1714388}},
		{Name: "BenchmarkMetrics20kSeries", N: 10, Metrics: map[string]float64{"ns/op": 45000000, "cpu-ns/op": 44000000}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := ParseGoBench(strings.NewReader("BenchmarkX 1 fast ns/op\n")); err == nil {
		t.Error("a value that is no number gave no error")
	}
	figs := BenchFigures(got)
	if len(figs) != 7 || !figs[0].Met() || figs[0].Value != 0.812345678 || !figs[4].Met() {
		t.Errorf("figures: %+v", figs)
	}
}

func TestFigureTargets(t *testing.T) {
	for _, tc := range []struct {
		f     Figure
		met   bool
		ratio float64
	}{
		{Figure{Value: 0.5, Op: "<", Target: 1}, true, 0.5},
		{Figure{Value: 1, Op: "<", Target: 1}, false, 1},
		{Figure{Value: 1.3, Op: "<=", Target: 1.3}, true, 1},
		{Figure{Value: 10, Op: ">=", Target: 20}, false, 0.5},
		{Figure{Value: 25, Op: ">=", Target: 20}, true, 1.25},
		{Figure{Value: 7}, true, 0},
	} {
		if tc.f.Met() != tc.met || tc.f.Ratio() != tc.ratio {
			t.Errorf("%+v: met %v ratio %v, want %v %v", tc.f, tc.f.Met(), tc.f.Ratio(), tc.met, tc.ratio)
		}
	}
}

func TestFiguresRoundTripAndTable(t *testing.T) {
	figs := []Figure{{Name: "a", Value: 1.5, Unit: "s", Op: "<", Target: 1, Note: "n"}, {Name: "b", Value: 3, Unit: "x"}}
	var b bytes.Buffer
	if err := WriteFigures(&b, figs); err != nil {
		t.Fatal(err)
	}
	b.WriteString("progress lines are skipped\n")
	got, err := ReadFigures(&b)
	if err != nil || !reflect.DeepEqual(got, figs) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	var tb bytes.Buffer
	if err := WriteTable(&tb, "header", figs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"header", "a (n)", "1.50 s", "< 1 s", "NO", "b", "3 x"} {
		if !strings.Contains(tb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}
}

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
