package model

import (
	"bytes"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// gaussian returns n rows of dims standard normal features.
func gaussian(seed uint64, n, dims int) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, n*dims)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	return x
}

func TestAveragePathLengthMatchesScikitLearn(t *testing.T) {
	// Values of sklearn.ensemble._iforest._average_path_length.
	tests := []struct {
		n, want float64
	}{
		{0, 0}, {1, 0}, {2, 1},
		{3, 2*(math.Log(2)+eulerGamma) - 4.0/3},
		{256, 10.244770920116851},
	}
	for _, tt := range tests {
		if got := AveragePathLength(tt.n); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("c(%v) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestForestScoresOutliersHigh(t *testing.T) {
	tests := []struct {
		name    string
		dims    int
		outlier []float64
		// aboveAll asks the outlier to outscore every inlier; axis-parallel
		// splits isolate a row that breaks a correlation only somewhat
		// (the reason multivariable_flow adds ratio features).
		aboveAll bool
	}{
		{"far on one axis of two", 2, []float64{8, 0}, true},
		{"far on both axes", 2, []float64{-6, 6}, true},
		{"far on every axis of five", 5, []float64{5, -5, 5, -5, 5}, true},
		{"off the diagonal of correlated features", 2, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := gaussian(7, 2000, tt.dims)
			if tt.outlier == nil {
				// Two features that move together, and a row that breaks
				// the relation while each value stays in its range.
				for i := 0; i < len(x); i += 2 {
					x[i+1] = x[i] + 0.05*x[i+1]
				}
				tt.outlier = []float64{1.5, -1.5}
			}
			f := NewForest(ForestConfig{Seed: 3, Extrapolate: true})
			if err := f.Fit(x, tt.dims); err != nil {
				t.Fatal(err)
			}
			out := f.Score(tt.outlier)
			var inliers []float64
			for i := 0; i < 200*tt.dims; i += tt.dims {
				inliers = append(inliers, f.Score(x[i:i+tt.dims]))
			}
			top := slices.Max(inliers)
			med := Median(inliers)
			if (tt.aboveAll && out <= top) || out <= 1.2*med {
				t.Errorf("outlier scores %.3f, median inlier %.3f, highest inlier %.3f", out, med, top)
			}
			if med < 0.3 || med > 0.55 {
				t.Errorf("median inlier scores %.3f, want about 0.4-0.5", med)
			}
			if centre := f.Score(make([]float64, tt.dims)); centre >= out || centre > 0.5 {
				t.Errorf("the centre scores %.3f, outlier %.3f", centre, out)
			}
		})
	}
}

func TestForestExtrapolatesBeyondTheTrainingRange(t *testing.T) {
	x := gaussian(11, 3000, 2)
	walk := NewForest(ForestConfig{Seed: 2})
	extra := NewForest(ForestConfig{Seed: 2, Extrapolate: true})
	for _, f := range []*Forest{walk, extra} {
		if err := f.Fit(x, 2); err != nil {
			t.Fatal(err)
		}
	}
	// Inside the training data the walks nearly agree (deep nodes' ranges
	// are narrower than the data's, so a central row may lie outside one).
	for _, row := range [][]float64{{0, 0}, {1, -1}, {0.5, 2}} {
		if a, b := walk.Score(row), extra.Score(row); b < a || b-a > 0.02 {
			t.Errorf("%v scores %v walked, %v extrapolated", row, a, b)
		}
	}
	// Extrapolation only ever shortens a path.
	for i := 0; i < 40; i += 2 {
		if a, b := walk.Score(x[i:i+2]), extra.Score(x[i:i+2]); a > b {
			t.Errorf("training row %d scores %v walked, %v extrapolated", i/2, a, b)
		}
	}
	// Beyond it, scikit-learn's walk saturates while extrapolation keeps
	// rising, past Calico's default alert at 0.836.
	prevWalk, prevExtra := 0.0, 0.0
	for i, d := range []float64{6, 20, 100} {
		row := []float64{d, d}
		w, e := walk.Score(row), extra.Score(row)
		if i > 0 && (w != prevWalk || e <= prevExtra) {
			t.Errorf("at %v: walked %.3f (before %.3f), extrapolated %.3f (before %.3f)", d, w, prevWalk, e, prevExtra)
		}
		prevWalk, prevExtra = w, e
	}
	if prevWalk >= 0.836 || prevExtra < 0.836 {
		t.Errorf("far outlier: walked %.3f, extrapolated %.3f; want below and above 0.836", prevWalk, prevExtra)
	}
}

func TestForestIsDeterministicForASeed(t *testing.T) {
	x := gaussian(1, 1000, 3)
	score := func(seed uint64) []float64 {
		f := NewForest(ForestConfig{Estimators: 50, MaxSamples: 128, Seed: seed})
		if err := f.Fit(x, 3); err != nil {
			t.Fatal(err)
		}
		var s []float64
		for i := 0; i < 300; i += 3 {
			s = append(s, f.Score(x[i:i+3]))
		}
		return s
	}
	a, b, c := score(9), score(9), score(10)
	same, differ := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differ = differ || a[i] != c[i]
	}
	if !same {
		t.Error("the same seed gave different scores")
	}
	if !differ {
		t.Error("different seeds gave identical scores")
	}
}

func TestForestShape(t *testing.T) {
	tests := []struct {
		name             string
		rows, maxSamples int
		wantSamples      int
	}{
		{"more rows than max_samples", 1000, 256, 256},
		{"fewer rows than max_samples", 100, 256, 100},
		{"two rows", 2, 256, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewForest(ForestConfig{Estimators: 10, MaxSamples: tt.maxSamples, Seed: 1})
			if err := f.Fit(gaussian(2, tt.rows, 2), 2); err != nil {
				t.Fatal(err)
			}
			if f.samples != tt.wantSamples {
				t.Errorf("samples per tree %d, want %d", f.samples, tt.wantSamples)
			}
			limit := int(math.Ceil(math.Log2(float64(max(tt.wantSamples, 2)))))
			for tr, r := range f.roots {
				if d := treeDepth(f.nodes, int(r)); d > limit {
					t.Errorf("tree %d is %d deep, limit %d", tr, d, limit)
				}
			}
		})
	}
}

func treeDepth(nodes []forestNode, i int) int {
	if nodes[i].feature < 0 {
		return 0
	}
	return 1 + max(treeDepth(nodes, i+1), treeDepth(nodes, int(nodes[i].right)))
}

func TestForestFitRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		x    []float64
		dims int
	}{
		{"no features", []float64{1, 2}, 0},
		{"ragged rows", []float64{1, 2, 3}, 2},
		{"one row", []float64{1, 2}, 2},
		{"NaN", []float64{1, 2, math.NaN(), 4}, 2},
		{"infinity", []float64{1, 2, 3, math.Inf(1)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := NewForest(ForestConfig{}).Fit(tt.x, tt.dims); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestForestConstantDataIsOneLeafPerTree(t *testing.T) {
	x := make([]float64, 200)
	f := NewForest(ForestConfig{Estimators: 5})
	if err := f.Fit(x, 2); err != nil {
		t.Fatal(err)
	}
	if f.Nodes() != 5 {
		t.Errorf("%d nodes, want one leaf per tree", f.Nodes())
	}
	if s := f.Score([]float64{0, 0}); math.Abs(s-0.5) > 1e-12 {
		t.Errorf("a row like all others scores %v, want 0.5", s)
	}
}

func fittedForest(t testing.TB) *Forest {
	f := NewForest(ForestConfig{Estimators: 20, MaxSamples: 64, Seed: 5, Extrapolate: true})
	if err := f.Fit(gaussian(4, 500, 3), 3); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestForestBinaryRoundTrip(t *testing.T) {
	f := fittedForest(t)
	data, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	g := NewForest(ForestConfig{})
	if err := g.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if g.Config() != f.Config() {
		t.Errorf("config %+v, want %+v", g.Config(), f.Config())
	}
	x := gaussian(8, 100, 3)
	for i := 0; i < len(x); i += 3 {
		if a, b := f.Score(x[i:i+3]), g.Score(x[i:i+3]); a != b {
			t.Fatalf("row %d scores %v after the round trip, %v before", i/3, b, a)
		}
	}
	again, _ := g.MarshalBinary()
	if !bytes.Equal(again, data) {
		t.Error("re-encoding differs")
	}
	// An unfitted forest round-trips too.
	empty, _ := NewForest(ForestConfig{}).MarshalBinary()
	if err := g.UnmarshalBinary(empty); err != nil || g.Fitted() {
		t.Errorf("unfitted forest: err %v, fitted %v", err, g.Fitted())
	}
}

func TestForestRefusesCorruptOrOldEncodings(t *testing.T) {
	good, _ := fittedForest(t).MarshalBinary()
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"another format", []byte("CAESEAS\x01 and more bytes")},
		{"truncated", good[:len(good)/2]},
		{"one bit flipped", mutate(func(b []byte) []byte { b[len(b)/2] ^= 1; return b })},
		{"old version", mutate(func(b []byte) []byte { b[len(forestMagic)] = 0; return reseal(b) })},
		{"future version", mutate(func(b []byte) []byte { b[len(forestMagic)] = 9; return reseal(b) })},
		{"split on a feature it lacks, checksum fixed", mutate(func(b []byte) []byte {
			off := len(forestMagic) + 1 + 36 + 4*20 + 24 // first node's feature
			b[off] = 200
			return reseal(b)
		})},
		{"a child pointing backwards, checksum fixed", mutate(func(b []byte) []byte {
			off := len(forestMagic) + 1 + 36 + 4*20 + 28 // first node's right child
			b[off], b[off+1], b[off+2], b[off+3] = 0, 0, 0, 0
			return reseal(b)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fittedForest(t)
			before := f.Score([]float64{1, 2, 3})
			err := f.UnmarshalBinary(tt.data)
			if !errors.Is(err, ErrCorruptModel) {
				t.Fatalf("err = %v, want ErrCorruptModel", err)
			}
			if f.Score([]float64{1, 2, 3}) != before {
				t.Error("a refused encoding changed the forest")
			}
		})
	}
}

// reseal recomputes the trailing checksum, as a well-formed file of another
// version or a deliberately crafted one would carry.
func reseal(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	body := b[:len(b)-4]
	sum := crc32.ChecksumIEEE(body)
	b[len(b)-4], b[len(b)-3], b[len(b)-2], b[len(b)-1] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
	return b
}

func FuzzForestUnmarshalBinary(f *testing.F) {
	good, _ := fittedForest(f).MarshalBinary()
	empty, _ := NewForest(ForestConfig{}).MarshalBinary()
	f.Add(good)
	f.Add(empty)
	f.Add([]byte("CAEIFOR\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range [][]byte{data, reseal(append([]byte(nil), data...))} {
			if len(d) < 4 {
				continue
			}
			g := NewForest(ForestConfig{})
			if err := g.UnmarshalBinary(d); err != nil {
				continue
			}
			// Whatever was accepted must score without panicking.
			if g.Fitted() {
				row := make([]float64, g.Dims())
				if s := g.Score(row); !(s > 0 && s <= 1) {
					t.Fatalf("accepted forest scores %v", s)
				}
			}
		}
	})
}

func TestReservoirIsUniformAndBounded(t *testing.T) {
	const capacity, n = 100, 10000
	r := NewReservoir(1, capacity, 3)
	for i := range n {
		r.Add([]float64{float64(i)})
	}
	if r.Len() != capacity || r.Seen() != n {
		t.Fatalf("len %d seen %d", r.Len(), r.Seen())
	}
	// A uniform sample of 0..9999 has its mean near 5000 (standard error
	// about 290); one that kept the first or last rows would not.
	var sum float64
	for _, v := range r.Rows() {
		sum += v
	}
	if mean := sum / capacity; math.Abs(mean-5000) > 1200 {
		t.Errorf("sample mean %.0f, want about 5000", mean)
	}
}

func TestReservoirRoundTripContinuesTheSameStream(t *testing.T) {
	a := NewReservoir(2, 16, 9)
	for i := range 100 {
		a.Add([]float64{float64(i), -float64(i)})
	}
	data, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := NewReservoir(1, 1, 0)
	if err := b.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	for i := 100; i < 300; i++ {
		a.Add([]float64{float64(i), -float64(i)})
		b.Add([]float64{float64(i), -float64(i)})
	}
	if !slicesEqual(a.Rows(), b.Rows()) || a.Seen() != b.Seen() {
		t.Error("the reservoir read back diverged from the original")
	}
	data[len(data)/2] ^= 0x10
	if err := b.UnmarshalBinary(data); !errors.Is(err, ErrCorruptModel) {
		t.Errorf("corrupt reservoir: err = %v", err)
	}
}

func FuzzReservoirUnmarshalBinary(f *testing.F) {
	a := NewReservoir(2, 4, 1)
	for i := range 10 {
		a.Add([]float64{float64(i), 1})
	}
	good, _ := a.MarshalBinary()
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range [][]byte{data, reseal(append([]byte(nil), data...))} {
			if len(d) < 4 {
				continue
			}
			r := NewReservoir(1, 1, 0)
			if err := r.UnmarshalBinary(d); err != nil {
				continue
			}
			r.Add(make([]float64, r.Dims())) // must not panic
		}
	})
}

func slicesEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkForestFit(b *testing.B) {
	x := gaussian(1, 4096, 4)
	f := NewForest(ForestConfig{Seed: 1})
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Fit(x, 4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForestScore(b *testing.B) {
	x := gaussian(1, 4096, 4)
	f := NewForest(ForestConfig{Seed: 1})
	if err := f.Fit(x, 4); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Score(x[i*4 : i*4+4])
		i = (i + 1) % 4096
	}
}

func TestForestScoreRowsMatchesScore(t *testing.T) {
	x := gaussian(3, 600, 3)
	for _, extrapolate := range []bool{false, true} {
		f := NewForest(ForestConfig{Estimators: 30, Seed: 2, Extrapolate: extrapolate})
		if err := f.Fit(x[:900], 3); err != nil {
			t.Fatal(err)
		}
		x[5] = 40 // a row beyond the training range
		got := f.ScoreRows(x, nil)
		if len(got) != 600 {
			t.Fatalf("%d scores for 600 rows", len(got))
		}
		for i := range got {
			if want := f.Score(x[3*i : 3*i+3]); math.Abs(got[i]-want) > 1e-12 {
				t.Fatalf("extrapolate %v, row %d: ScoreRows %v, Score %v", extrapolate, i, got[i], want)
			}
		}
	}
	if got := NewForest(ForestConfig{}).ScoreRows(x, nil); len(got) != 0 {
		t.Errorf("an unfitted forest scored %d rows", len(got))
	}
}

func BenchmarkForestScoreExtrapolated(b *testing.B) {
	x := gaussian(1, 4096, 4)
	f := NewForest(ForestConfig{Seed: 1, Extrapolate: true})
	if err := f.Fit(x, 4); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Score(x[i*4 : i*4+4])
		i = (i + 1) % 4096
	}
}

// BenchmarkForestScoreRows scores 1,000 rows per op, tree by tree.
func BenchmarkForestScoreRows(b *testing.B) {
	x := gaussian(1, 4096, 4)
	f := NewForest(ForestConfig{Seed: 1, Extrapolate: true})
	if err := f.Fit(x, 4); err != nil {
		b.Fatal(err)
	}
	out := make([]float64, 1000)
	b.ReportAllocs()
	for b.Loop() {
		out = f.ScoreRows(x[:4000], out)
	}
}
