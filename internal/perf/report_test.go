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
